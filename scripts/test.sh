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
  if [ -f "$WORK/kafka/tansu.pid" ]; then
    PID="$(cat "$WORK/kafka/tansu.pid")"; kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
eval "$(scripts/s3-server.sh "$WORK/s3")"
# Kafka: tansu on 127.0.0.1 (installed by scripts/setup-kafka.sh), topics created explicitly.
eval "$(scripts/setup-kafka.sh)"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Style gates first: they need no install and fail fast.
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# Build the tests first and create the topics with the runner binary they built: a separate
# `cargo run` would build the whole dependency tree a second time (the tests' dev-dependencies
# turn on more features of shared crates such as tokio).
cargo test --workspace --all-targets --no-run
export SLO_RUNNER="$PWD/target/debug/slo-runner"
eval "$(scripts/kafka-broker.sh "$WORK/kafka")"
# With everything installed, tests that need the model, S3, Kafka or promtool must run: missing
# ones fail.
export SLO_SCOUT_REQUIRE_MODEL=1 SLO_SCOUT_REQUIRE_S3=1 SLO_SCOUT_REQUIRE_KAFKA=1 SLO_SCOUT_REQUIRE_PROMTOOL=1
cargo test --workspace --all-targets
cargo test --workspace --doc
# Cluster mode across network namespaces (root, iproute2): kill -9 one process, restart the
# cluster, capsules and live sli_minutes still equal a single-process run.
scripts/cluster-netns.sh "$SLO_RUNNER"
# Fuzz every decoder of outside bytes for a bounded time (fuzz/, ROBUSTNESS.md); a crash, a
# timeout or an out-of-memory input fails the suite. The seeds and past findings are in git.
FUZZ_SECONDS="${FUZZ_SECONDS:-30}" scripts/fuzz.sh
