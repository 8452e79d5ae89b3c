#!/usr/bin/env bash
# The long fault-injection profile: the kill -9 scenario with many cycles, then the partition,
# Byzantine and disk-fault scenarios, on the dev binaries. CI runs the short profile (10 cycles) as
# part of scripts/test.sh.
#
#   scripts/faults.sh                 100 kill -9 cycles (FAULT_CYCLES), a random seed
#   FAULT_SEED=123 scripts/faults.sh  replay the victims and moments of a failed run (its seed is in
#                                     the failure message)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

export FAULT_CYCLES="${FAULT_CYCLES:-100}"
say "building the binaries"
build_bins
say "kill -9 under load: $FAULT_CYCLES cycles${FAULT_SEED:+, seed $FAULT_SEED}"
t0=$SECONDS
cargo test -p paychain-tests --test it -- --test-threads=1 --nocapture faults::
ok "kill -9 cycles passed in $((SECONDS - t0)) s"
say "partitions, Byzantine proposer, disk write failure"
cargo test -p paychain-tests --test it -- --test-threads=1 partition:: byzantine:: disk::
ok "fault suite passed"
