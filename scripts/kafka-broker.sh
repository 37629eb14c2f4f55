#!/usr/bin/env bash
# Starts tansu (a Kafka-compatible broker, SQLite storage) on 127.0.0.1 only, on a free port,
# from an empty folder, creates the runner's topics (raw-telemetry with 4 partitions,
# capsule-events, capsule-embeddings, dead-letter) and prints the environment for the Kafka tests.
# The broker's PID is in $DIR/tansu.pid, its log in $DIR/broker.log, its data in $DIR/data/tansu.db; stop it with
# `kill $(cat $DIR/tansu.pid)` and wait for it to exit before reusing the port or database.
#   eval "$(scripts/kafka-broker.sh DIR)"
# Topics are created with `slo-runner kafka-topics --create` ($SLO_RUNNER, default `cargo run`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR="$1"; mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd)"
if ! command -v tansu >/dev/null 2>&1; then
  echo "kafka-broker: tansu is not installed: run scripts/setup-kafka.sh" >&2; exit 1
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# tansu reads .env from its working directory, so it runs in $DIR/data: empty on first start, later
# holding only its database (the sqlite:// path is relative to the working directory).
RUNDIR="$DIR/data"; mkdir -p "$RUNDIR"
if [ -e "$RUNDIR/.env" ]; then echo "kafka-broker: $RUNDIR/.env exists; refusing to start" >&2; exit 1; fi
(cd "$RUNDIR" && exec env -u CLUSTER_ID -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
  tansu broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
  --storage-engine "sqlite://tansu.db" --silent >"$DIR/broker.log" 2>&1) &
echo $! > "$DIR/tansu.pid"
for i in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  kill -0 "$(cat "$DIR/tansu.pid")" 2>/dev/null || { cat "$DIR/broker.log" >&2; echo "kafka-broker: tansu exited" >&2; exit 1; }
  if [ "$i" = 100 ]; then cat "$DIR/broker.log" >&2; echo "kafka-broker: port $PORT did not open in 10 s" >&2; exit 1; fi
  sleep 0.1
done
read -r -a RUNNER <<< "${SLO_RUNNER:-cargo run -q -p slo-runner --}"
"${RUNNER[@]}" kafka-topics --create --brokers "127.0.0.1:$PORT" --partitions 4 1>&2 \
  || { cat "$DIR/broker.log" >&2; echo "kafka-broker: creating topics failed" >&2; exit 1; }
echo "export SLO_SCOUT_KAFKA_BROKERS=127.0.0.1:$PORT"
