#!/usr/bin/env bash
# THE test command: builds every binary (dev profile), then runs every test of the workspace.
#
#   scripts/test.sh [cargo test args...]     e.g. scripts/test.sh -p paychain-tests -- --nocapture
#
# The multi-node tests in tests/ run the real binaries from ${CARGO_TARGET_DIR:-target}/debug/, hence the build
# first. Installs what the build needs when it is missing (libclang, a C++ compiler, jq; see lib.sh). The
# other-language client test (tests/it/other_lang.rs) runs a Python script with PyNaCl: this creates a venv in
# ${CARGO_TARGET_DIR:-target}/pyenv with the pinned packages of tests/other-lang/requirements.txt (once; again
# when that file changes) and passes its interpreter to the tests as PAYCHAIN_PYTHON.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

ensure_build_prereqs
ensure_pyenv
start=$SECONDS
say "cargo build --workspace --bins"
cargo build --workspace --bins
say "built in $((SECONDS - start))s; cargo test --workspace $*"
start=$SECONDS
cargo test --workspace "$@"
ok "all tests passed in $((SECONDS - start))s"
