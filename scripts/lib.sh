# shellcheck shell=bash
# Shared helpers of the scripts in this folder: sourced, never executed.
#
# Sets ROOT (the workspace), BIN_DIR (where cargo puts the dev binaries), NODE_BIN, ENCLAVE_BIN and CLI_BIN.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
NODE_BIN="$BIN_DIR/paychain-node"
# The enclave sidecar the node starts (found next to the node's executable).
ENCLAVE_BIN="$BIN_DIR/paychain-enclave"
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

# True when the build can load libclang (bindgen, in the RocksDB build, dlopens it through clang-sys): a regular
# file named libclang.so, libclang-<N>.so or a versioned libclang.so.<N> / libclang-<N>.so.<N> in LIBCLANG_PATH
# or the usual library folders. libclang-cpp.so (the C++ interface, a different library that clang-sys never
# loads) does not count, nor does a name that exists but is not a regular file.
have_libclang() {
  local d f name
  local dirs=(${LIBCLANG_PATH:+"$LIBCLANG_PATH"} /usr/lib/llvm-*/lib /usr/lib /usr/lib64 /usr/local/lib
    /usr/lib/*-linux-gnu /usr/local/opt/llvm/lib /opt/homebrew/opt/llvm/lib)
  for d in "${dirs[@]}"; do
    [[ -d "$d" ]] || continue
    for f in "$d"/libclang.so "$d"/libclang.so.* "$d"/libclang-*.so "$d"/libclang-*.so.* "$d"/libclang.dylib; do
      name="${f##*/}"
      [[ "$name" =~ ^libclang(-[0-9][0-9.]*)?\.(so(\.[0-9][0-9.]*)?|dylib)$ ]] || continue
      [[ -f "$f" && -s "$f" ]] && return 0
    done
  done
  return 1
}

# True when jq runs (not merely when a file of that name exists).
have_jq() {
  jq --version >/dev/null 2>&1
}

# Checks what a build and the scripts need, by what they actually run or load: a Rust toolchain, a C++
# compiler and libclang for the RocksDB build (bindgen), and jq for reading the node's JSON. On Debian and
# Ubuntu it installs the missing ones with apt-get (through sudo when not root); elsewhere it stops and names
# the packages to install.
ensure_build_prereqs() {
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install the Rust toolchain from https://rustup.rs, then re-run"
  local missing=() pkgs=()
  have_libclang || { missing+=("libclang (libclang.so)"); pkgs+=(libclang-dev); }
  command -v c++ >/dev/null 2>&1 || { missing+=("a C++ compiler (c++)"); pkgs+=(build-essential); }
  have_jq || { missing+=("jq"); pkgs+=(jq); }
  ((${#pkgs[@]} == 0)) && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    die "missing: ${missing[*]}. Install them, then re-run: on Fedora 'dnf install clang-devel gcc-c++ jq'," \
      "on Arch 'pacman -S clang jq', on macOS 'brew install llvm jq' (and export LIBCLANG_PATH=\$(brew --prefix llvm)/lib)"
  fi
  say "missing: ${missing[*]}; installing ${pkgs[*]} with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    die "apt-get update failed: install ${pkgs[*]} by hand, then re-run"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
    die "apt-get install ${pkgs[*]} failed: install them by hand, then re-run"
  have_libclang || die "libclang.so still not found after installing libclang-dev: set LIBCLANG_PATH to the folder that holds it"
  command -v c++ >/dev/null 2>&1 || die "no C++ compiler (c++) after installing build-essential"
  have_jq || die "jq still does not run after installing it"
  ok "installed ${pkgs[*]}"
}

# Builds the binaries (dev profile; cargo only rebuilds what changed).
build_bins() {
  ensure_build_prereqs
  say "building the binaries (cargo build --bins; a cold build takes ~25 min on 2 cores)"
  (cd "$ROOT" && cargo build --bins)
  [[ -x "$NODE_BIN" ]] || die "$NODE_BIN missing after the build"
  [[ -x "$ENCLAVE_BIN" ]] || die "$ENCLAVE_BIN missing after the build"
  [[ -x "$CLI_BIN" ]] || die "$CLI_BIN missing after the build"
}

# Builds the binaries unless all are present.
ensure_bins() {
  if [[ ! -x "$NODE_BIN" || ! -x "$ENCLAVE_BIN" || ! -x "$CLI_BIN" ]]; then
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

# Creates (or reuses) the Python venv of the other-language client test in ${CARGO_TARGET_DIR:-target}/pyenv with
# the pinned packages of tests/other-lang/requirements.txt, and exports PAYCHAIN_PYTHON (its interpreter). The
# install is redone only when the requirements file differs from the one the venv was made from. Needs python3
# with the venv module (on Debian: python3-venv, installed here with apt-get when missing).
ensure_pyenv() {
  local target="${CARGO_TARGET_DIR:-$ROOT/target}"
  [[ "$target" = /* ]] || target="$ROOT/$target"
  local env="$target/pyenv" req="$ROOT/tests/other-lang/requirements.txt"
  if [[ -x "$env/bin/python" ]] && cmp -s "$req" "$env/requirements.installed"; then
    export PAYCHAIN_PYTHON="$env/bin/python"
    return 0
  fi
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 ||
      die "the other-language client test needs python3 (3.8+) with its venv module: install them (Debian: python3 python3-venv)"
    say "python3 or its venv module is missing; installing python3 python3-venv with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
      die "apt-get update failed: install python3 and python3-venv by hand, then re-run"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null ||
      die "apt-get install python3 python3-venv failed: install them by hand, then re-run"
  fi
  say "python venv for the other-language client test: $env"
  rm -rf "$env"
  python3 -m venv "$env" || die "python3 -m venv $env failed"
  "$env/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" ||
    die "pip install -r $req failed (PyPI must be reachable)"
  cp "$req" "$env/requirements.installed"
  export PAYCHAIN_PYTHON="$env/bin/python"
}
