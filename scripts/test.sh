#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (idempotently) and runs
# every unit, property, integration, CLI and doc test of the workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/setup.sh)"
# With the model installed, the MiniLM tests must run: a missing model fails instead of skipping.
export SLO_SCOUT_REQUIRE_MODEL=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --workspace --all-targets
cargo test --workspace --doc
