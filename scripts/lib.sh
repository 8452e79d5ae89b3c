# shellcheck shell=bash
# Shared helpers of the scripts in this folder: sourced, never executed.
#
# Sets ROOT (the workspace), BIN_DIR (where cargo puts the dev binaries), NODE_BIN and CLI_BIN.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
NODE_BIN="$BIN_DIR/paychain-node"
CLI_BIN="$BIN_DIR/paychain"

if [[ -t 1 ]]; then
  _B=$'\033[1m' _R=$'\033[31m' _G=$'\033[32m' _Y=$'\033[33m' _N=$'\033[0m'
else
  _B='' _R='' _G='' _Y='' _N=''
fi

say()  { printf '%s==>%s %s\n' "$_B" "$_N" "$*"; }
ok()   { printf '%s ok%s %s\n' "$_G" "$_N" "$*"; }
warn() { printf '%swarning:%s %s\n' "$_Y" "$_N" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_R" "$_N" "$*" >&2; exit 1; }

# Runs "$@" as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (install sudo or run it as root)"
  fi
}

# Installs the Debian packages among "$@" that are not installed yet.
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null 2>&1 ||
    die "missing packages ${missing[*]} and no apt-get here: install them with your package manager"
  say "installing ${missing[*]} (apt-get)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# True when libclang (needed by the rocksdb build: bindgen) can be found.
have_libclang() {
  [[ -n "${LIBCLANG_PATH:-}" ]] && return 0
  compgen -G '/usr/lib/llvm-*/lib/libclang*.so*' >/dev/null && return 0
  compgen -G '/usr/lib/*/libclang*.so*' >/dev/null && return 0
  ldconfig -p 2>/dev/null | grep -q 'libclang'
}

# Checks what a build needs: a Rust toolchain, a C/C++ compiler and libclang (installs the last two on Debian).
ensure_build_prereqs() {
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install the Rust toolchain from https://rustup.rs, then re-run"
  if ! have_libclang || ! command -v c++ >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      apt_install_missing libclang-dev clang build-essential
    else
      die "the RocksDB build needs libclang and a C++ compiler: install them (e.g. libclang-dev, clang), then re-run"
    fi
  fi
}

# Builds the binaries (dev profile; cargo only rebuilds what changed).
build_bins() {
  ensure_build_prereqs
  say "building the binaries (cargo build --bins; a cold build takes ~25 min on 2 cores)"
  (cd "$ROOT" && cargo build --bins)
  [[ -x "$NODE_BIN" ]] || die "$NODE_BIN missing after the build"
  [[ -x "$CLI_BIN" ]] || die "$CLI_BIN missing after the build"
}

# Builds the binaries unless both are present.
ensure_bins() {
  if [[ ! -x "$NODE_BIN" || ! -x "$CLI_BIN" ]]; then
    build_bins
  fi
}

# json_get FIELD: prints field FIELD (a jq path such as .height) of the JSON object on stdin.
json_get() {
  if command -v jq >/dev/null 2>&1; then
    jq -er "$1 // empty"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].lstrip(".").split("."):
    v = v.get(k) if isinstance(v, dict) else None
if v is None:
    sys.exit(1)
print(str(v).lower() if isinstance(v, bool) else v)' "$1"
  else
    die "need jq or python3 to read JSON (apt-get install jq)"
  fi
}
