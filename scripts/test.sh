#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (idempotently), starts
# the local servers the tests talk to (loopback only, stopped on exit), and runs every unit,
# property, integration, CLI and doc test of the workspace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
eval "$(scripts/setup.sh)"
WORK="$(mktemp -d)"
cleanup() {
  if [ -f "$WORK/s3/moto.pid" ]; then kill "$(cat "$WORK/s3/moto.pid")" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
eval "$(scripts/s3-server.sh "$WORK/s3")"
# With everything installed, tests that need the model or S3 must run: missing ones fail.
export SLO_SCOUT_REQUIRE_MODEL=1 SLO_SCOUT_REQUIRE_S3=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
cargo test --workspace --all-targets
cargo test --workspace --doc
