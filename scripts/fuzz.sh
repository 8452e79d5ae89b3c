#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed time and reports executions and crashes per target.
#
#   scripts/fuzz.sh                 every target, ${FUZZ_SECONDS:-60} s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh tx_decode enclave_decode
#
# Needs the nightly toolchain (libFuzzer instrumentation); installs cargo-fuzz when it is missing.
# Each target reads its seeds from fuzz/seeds/<target>/ and grows its corpus in fuzz/corpus/<target>/
# (kept between runs, git-ignored). A crash stops that target; its input lands in
# fuzz/artifacts/<target>/ and the script exits 1 after the others have run. Reproduce one with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...      (from fuzz/)
# and turn it into a regression test in contracts/tests/it/decoders.rs.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FUZZ_DIR="$ROOT/fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$FUZZ_DIR/target}"
cd "$FUZZ_DIR"

rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || die "the nightly toolchain is missing: rustup toolchain install nightly"
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets found in $FUZZ_DIR"

say "building ${#targets[@]} targets (nightly, release + sanitizer)"
for t in "${targets[@]}"; do
  cargo +nightly fuzz build "$t"
done

LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT
declare -A EXECS SECS CRASHES ARTIFACT
failed=0

for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  seeds=()
  [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
  before="$(find "artifacts/$t" -type f | sort)"
  say "$t: ${SECONDS_PER_TARGET}s"
  log="$LOG_DIR/$t.log"
  rc=0
  cargo +nightly fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  # Executions: libFuzzer's "Done N runs in S second(s)", or the last status line after a crash.
  if line="$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1)" && [[ -n $line ]]; then
    EXECS[$t]="$(awk '{print $2}' <<<"$line")"
    SECS[$t]="$(awk '{print $5}' <<<"$line")"
  else
    EXECS[$t]="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')"
    SECS[$t]="$(grep -oE 'stat::total_duration: *[0-9]+|time: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)"
  fi
  new="$(comm -13 <(echo "$before") <(find "artifacts/$t" -type f | sort) | grep -v '^$' || true)"
  CRASHES[$t]="$(grep -c . <<<"$new" || true)"
  ARTIFACT[$t]="$(head -1 <<<"$new")"
  if [[ $rc -ne 0 || ${CRASHES[$t]} -ne 0 ]]; then
    failed=1
    warn "$t: exit $rc; log tail:"
    tail -30 "$log" >&2
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
