#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ and reports executions and crashes per target.
#
#   scripts/fuzz.sh                        every target, ${FUZZ_SECONDS:-60} s each, corpus kept in fuzz/corpus/
#   FUZZ_SECONDS=600 scripts/fuzz.sh tx_decode enclave_decode
#   scripts/fuzz.sh --smoke [targets...]   CI: ${FUZZ_SMOKE_RUNS:-20000} runs (at most
#                                          ${FUZZ_SMOKE_SECONDS:-20} s) of each target from its seeds only,
#                                          in a throw-away corpus
#
# No target depends on paychain-client (the EMVCo target compiles the client's decoder module in), so the
# fuzz build needs no HTTP, TLS or image crates. `--contracts-only` is still accepted and means the same.
#
# Toolchain: nightly when it is installed (or FUZZ_TOOLCHAIN=<name>), otherwise the default (stable)
# toolchain with RUSTC_BOOTSTRAP=1, which lets it take the -Z flags cargo-fuzz passes (sanitizer,
# coverage instrumentation). Sanitizer: FUZZ_SANITIZER (default address; `none` builds faster).
# Installs cargo-fuzz when it is missing. Build dir: FUZZ_TARGET_DIR, else $CARGO_TARGET_DIR/fuzz
# when CARGO_TARGET_DIR is set, else fuzz/target.
#
# Each target reads its seeds from fuzz/seeds/<target>/ (written by
# `cargo test -p paychain-contracts --test it decoders::write_fuzz_seeds -- --ignored`). A crash stops
# that target; its input lands in fuzz/artifacts/<target>/ (and is printed in hex when small) and the
# script exits 1 after the other targets have run. Reproduce one from fuzz/ with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> artifacts/<target>/crash-...
# and turn it into a regression test in contracts/tests/it/decoders.rs.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FUZZ_DIR="$ROOT/fuzz"

smoke=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --contracts-only) ;; # every target is contracts-only now (see the header)
    -*) die "unknown option $1 (usage: scripts/fuzz.sh [--smoke] [targets...])" ;;
    *) break ;;
  esac
  shift
done
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
SMOKE_RUNS="${FUZZ_SMOKE_RUNS:-20000}"
SMOKE_SECONDS="${FUZZ_SMOKE_SECONDS:-20}"
SANITIZER="${FUZZ_SANITIZER:-address}"

if [[ -n "${FUZZ_TARGET_DIR:-}" ]]; then
  export CARGO_TARGET_DIR="$FUZZ_TARGET_DIR"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
else
  export CARGO_TARGET_DIR="$FUZZ_DIR/target"
fi
cd "$FUZZ_DIR"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain from https://rustup.rs"
toolchain=()
if [[ -n "${FUZZ_TOOLCHAIN:-}" ]]; then
  toolchain=("+$FUZZ_TOOLCHAIN")
elif command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
fi
if [[ ${#toolchain[@]} -eq 0 || ${toolchain[0]} != +nightly* ]]; then
  # Stable rustc and cargo accept the unstable flags cargo-fuzz passes only with this.
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo "${toolchain[@]}" fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
fuzz() {
  cargo "${toolchain[@]}" fuzz "$@"
}

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(fuzz list)
fi
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets found in $FUZZ_DIR"

say "building ${#targets[@]} targets ($(cargo "${toolchain[@]}" --version | awk '{print $2}')${RUSTC_BOOTSTRAP:+ with RUSTC_BOOTSTRAP=1}, release + debug assertions, sanitizer $SANITIZER) in $CARGO_TARGET_DIR"
build_start=$SECONDS
# Without named targets, one cargo invocation builds them all (in parallel).
if [[ $# -gt 0 ]]; then
  for t in "${targets[@]}"; do
    fuzz build --sanitizer "$SANITIZER" "$t"
  done
else
  fuzz build --sanitizer "$SANITIZER"
fi
ok "built in $((SECONDS - build_start)) s"

LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT
declare -A EXECS SECS CRASHES ARTIFACT
failed=0

for t in "${targets[@]}"; do
  mkdir -p "artifacts/$t"
  seeds=()
  [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
  if [[ $smoke -eq 1 ]]; then
    corpus="$LOG_DIR/corpus-$t"
    limits=(-runs="$SMOKE_RUNS" -max_total_time="$SMOKE_SECONDS")
    say "$t: smoke, $SMOKE_RUNS runs (at most ${SMOKE_SECONDS}s) from ${seeds[*]:-no seeds}"
  else
    corpus="corpus/$t"
    limits=(-max_total_time="$SECONDS_PER_TARGET")
    say "$t: ${SECONDS_PER_TARGET}s"
  fi
  mkdir -p "$corpus"
  before="$(find "artifacts/$t" -type f | sort)"
  log="$LOG_DIR/$t.log"
  rc=0
  fuzz run --sanitizer "$SANITIZER" "$t" "$corpus" "${seeds[@]}" -- \
    "${limits[@]}" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  # Executions: libFuzzer's "Done N runs in S second(s)", or the last status line after a crash.
  if line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)" && [[ -n $line ]]; then
    EXECS[$t]="$(awk '{print $2}' <<<"$line")"
    SECS[$t]="$(awk '{print $5}' <<<"$line")"
  else
    EXECS[$t]="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)"
    SECS[$t]="$(grep -oE 'stat::total_duration: *[0-9]+|time: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)"
  fi
  new="$(comm -13 <(echo "$before") <(find "artifacts/$t" -type f | sort) | grep -v '^$' || true)"
  CRASHES[$t]="$(grep -c . <<<"$new" || true)"
  ARTIFACT[$t]="$(head -1 <<<"$new")"
  if [[ $rc -ne 0 || ${CRASHES[$t]} -ne 0 ]]; then
    failed=1
    warn "$t: exit $rc; log tail:"
    tail -40 "$log" >&2
    if [[ -n ${ARTIFACT[$t]} && $(stat -c %s "${ARTIFACT[$t]}") -le 4096 ]]; then
      warn "$t: crashing input (hex): $(od -An -v -tx1 "${ARTIFACT[$t]}" | tr -d ' \n')"
    fi
    [[ ${CRASHES[$t]} -ne 0 ]] || CRASHES[$t]="? (exit $rc)"
  else
    ok "$t: ${EXECS[$t]:-?} executions in ${SECS[$t]:-?}s, no crash"
  fi
done

printf '\n%-18s %14s %8s %10s  %s\n' target executions seconds crashes artifact
for t in "${targets[@]}"; do
  printf '%-18s %14s %8s %10s  %s\n' "$t" "${EXECS[$t]:-?}" "${SECS[$t]:-?}" "${CRASHES[$t]}" "${ARTIFACT[$t]:-}"
done
exit "$failed"
