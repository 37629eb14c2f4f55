#!/usr/bin/env bash
# Starts moto's S3 server on 127.0.0.1 (never another interface) on a free port, creates the test
# bucket, and prints the environment for the S3 tests. The server's PID is in $DIR/moto.pid;
# stop it with `kill $(cat $DIR/moto.pid)`.
#   eval "$(scripts/s3-server.sh DIR)"
set -euo pipefail
DIR="$1"; mkdir -p "$DIR"
: "${SLO_SCOUT_MOTO_PATH:?run scripts/setup-s3.sh first}"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$DIR" && PYTHONPATH="$SLO_SCOUT_MOTO_PATH" exec python3 -m moto.server -H 127.0.0.1 -p "$PORT" >"$DIR/moto.log" 2>&1) &
echo $! > "$DIR/moto.pid"
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then break; fi
  kill -0 "$(cat "$DIR/moto.pid")" 2>/dev/null || { cat "$DIR/moto.log" >&2; echo "moto failed to start" >&2; exit 1; }
  sleep 0.1
done
curl -s -f -X PUT "http://127.0.0.1:$PORT/slo-scout-test" -o /dev/null
cat <<ENV
export SLO_SCOUT_S3_ENDPOINT=http://127.0.0.1:$PORT
export SLO_SCOUT_S3_BUCKET=slo-scout-test
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
ENV
