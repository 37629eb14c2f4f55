#!/usr/bin/env bash
# Kafka throughput measured honestly: the runner beside the physical limit of this broker on this
# machine. For each client setting it starts a fresh tansu (SQLite storage, loopback), and on the
# same records runs, one after the other:
#   produce      `slo-runner produce` (reads JSON lines, encodes Avro, idempotent producer)
#   bare-prod    a bare producer sending the same encoded records (examples/kafka_bare.rs)
#   bare-cons    a bare consumer reading the topic, decoding nothing
#   runner       `slo-runner run --kafka --store` (decode, redact, mine, window, embed, store)
# and prints records/s and runner ÷ bare consumer. `pipeline` is `run --input` on the same file
# (no Kafka). Release build; nothing else should run meanwhile.
#   scripts/kafka-bench.sh [REQUESTS]      default 60000 requests (~425k events)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REQUESTS="${1:-60000}"
cargo build --release -q -p slo-runner --bin slo-runner --example kafka_bare
T="$(realpath "${CARGO_TARGET_DIR:-target}")"
R="$T/release/slo-runner"; BARE="$T/release/examples/kafka_bare"
WORK="$(mktemp -d)"
BROKER_DIR=""
stop_broker() {
  if [ -n "$BROKER_DIR" ] && [ -f "$BROKER_DIR/tansu.pid" ]; then
    PID="$(cat "$BROKER_DIR/tansu.pid")"; kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  fi
  BROKER_DIR=""
}
trap 'stop_broker; rm -rf "$WORK"' EXIT

"$R" sample --requests "$REQUESTS" --mean-gap-ms 50 --out "$WORK/data" >/dev/null
EVENTS="$WORK/data/events.jsonl"
TOTAL=$(wc -l < "$EVENTS")

secs() { # the runner's `elapsed:` (Debug of a Duration: 12.3s, 850.1ms)
  awk '/^elapsed:/ { v = $2; if (v ~ /ms$/) { sub(/ms$/, "", v); print v / 1000 } else { sub(/s$/, "", v); print v } }'
}
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

OUT="$WORK/p.out"
"$R" run --input "$EVENTS" --store "$WORK/pipeline" --window 1m --embedder hashing --out "$WORK/pipeline.out" >"$OUT" 2>/dev/null
PIPE_S=$(secs < "$OUT")
echo "records: $TOTAL events ($REQUESTS requests); pipeline only (run --input, 1 worker): $(rate "$TOTAL" "$PIPE_S")/s"
echo
printf '%-44s %10s %10s %10s %10s %8s\n' "client setting" produce bare-prod bare-cons runner "run÷cons"

IDLE=1
bench() { # bench NAME COMPRESSION [--kafka-option K=V ...]; $RUN_EXTRA: more runner flags
  local name="$1" compression="$2"; shift 2
  local opts=("$@") bare_opts=()
  for ((i = 0; i < ${#opts[@]}; i += 2)); do bare_opts+=(--option "${opts[i+1]}"); done
  BROKER_DIR="$WORK/kafka-$RANDOM"
  eval "$(SLO_RUNNER="$R" scripts/kafka-broker.sh "$BROKER_DIR" 2>/dev/null)"
  "$R" kafka-topics --create --topic raw-copy --partitions 4 >/dev/null 2>&1
  local p0 p1 produce_rate
  p0=$(date +%s.%N)
  "$R" produce --input "$EVENTS" --compression "$compression" "${opts[@]}" >/dev/null 2>&1
  p1=$(date +%s.%N)
  produce_rate=$(rate "$TOTAL" "$(awk -v a="$p0" -v b="$p1" 'BEGIN { print b - a }')")
  local bare_prod bare_cons
  bare_prod=$("$BARE" produce --topic raw-telemetry --to raw-copy --compression "$compression" "${bare_opts[@]}" | field rate)
  bare_cons=$("$BARE" consume --topic raw-telemetry "${bare_opts[@]}" | field rate)
  "$R" run --kafka --group bench --store "$WORK/store-$RANDOM" --window 1m --embedder hashing --idle-exit "$IDLE" \
    --compression "$compression" "${opts[@]}" ${RUN_EXTRA:-} >"$OUT" 2>/dev/null
  local events s runner_rate
  events=$(awk '/^events:/ { print $2 }' "$OUT")
  s=$(awk -v e="$(secs < "$OUT")" -v i="$IDLE" 'BEGIN { print e - i }')
  runner_rate=$(rate "$events" "$s")
  printf '%-44s %10s %10s %10s %10s %8s\n' "$name" "$produce_rate" "$bare_prod" "$bare_cons" "$runner_rate" \
    "$(awk -v a="$runner_rate" -v b="$bare_cons" 'BEGIN { printf "%.2f", a / b }')"
  [ "$events" = "$TOTAL" ] || echo "  (the runner counted $events of $TOTAL events)"
  stop_broker
}

bench "lz4 (default)" lz4
bench "no compression" none
bench "lz4, fetch 50 MB / 10 MB per partition" lz4 \
  --kafka-option fetch.max.bytes=52428800 --kafka-option max.partition.fetch.bytes=10485760
bench "lz4, fetch.wait.max.ms=10, min.bytes=1MB" lz4 \
  --kafka-option fetch.wait.max.ms=10 --kafka-option fetch.min.bytes=1048576
bench "lz4, linger.ms=50, batch 1 MB" lz4 \
  --kafka-option linger.ms=50 --kafka-option batch.size=1048576
RUN_EXTRA="-w 2" bench "lz4, linger.ms=50, batch 1 MB; runner -w 2" lz4 \
  --kafka-option linger.ms=50 --kafka-option batch.size=1048576
