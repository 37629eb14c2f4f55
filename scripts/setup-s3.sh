#!/usr/bin/env bash
# Installs moto (an S3-compatible server, from PyPI) for the S3 store tests, into
# ${SLO_SCOUT_HOME:-$HOME/.cache/slo-scout}/moto; skipped when already there. Prints the
# PYTHONPATH export on stdout.
set -euo pipefail
ROOT="${SLO_SCOUT_HOME:-$HOME/.cache/slo-scout}"
DEST="$ROOT/moto"
if ! PYTHONPATH="$DEST" python3 -c "import moto.server" 2>/dev/null; then
  echo "setup-s3: installing moto[server] into $DEST" >&2
  python3 -m pip install --disable-pip-version-check -q --target "$DEST" "moto[server]==5.1.*" 1>&2
fi
echo "export SLO_SCOUT_MOTO_PATH=$DEST"
