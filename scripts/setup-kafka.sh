#!/usr/bin/env bash
# Installs tansu 0.6.0 (a Kafka-compatible broker, from crates.io, with SQLite storage) for the
# Kafka tests; skipped when `tansu --version` already answers. Takes ~11 min on 2 cores.
# Progress goes to stderr; stdout carries only `export` lines (none needed today), so:
#   eval "$(scripts/setup-kafka.sh)"
set -euo pipefail
if command -v tansu >/dev/null 2>&1 && tansu --version >/dev/null 2>&1; then
  echo "setup-kafka: $(tansu --version 2>&1 | head -n1) already installed" >&2
  exit 0
fi
echo "setup-kafka: installing tansu 0.6.0 (libsql storage) with cargo install; ~11 min" >&2
cargo install tansu --version 0.6.0 --locked --features libsql 1>&2
command -v tansu >/dev/null 2>&1 || echo "export PATH=\"$HOME/.cargo/bin:\$PATH\""
