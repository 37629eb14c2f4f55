#!/usr/bin/env bash
# Cluster mode across hosts, on one machine: two `run --kafka` processes in network namespaces of
# their own (each its own address on a private bridge, `ip netns` + veth), the broker in a third.
# The 4 partitions are spread over the two processes (-n 2). Checks, against a single-process run
# of the same records:
#   1. the cluster writes the same capsules and the same live `sli_minutes`;
#   2. after `kill -9` of one process mid-run (its peer then stops too: a timely cluster is one
#      dataflow) and a restart of the whole cluster, the capsules and `sli_minutes` are still
#      the same, and so are the event tables' row counts.
# Needs root (network namespaces), iproute2 and tansu; everything it creates is removed on exit.
#   scripts/cluster-netns.sh [RUNNER]      RUNNER defaults to $SLO_RUNNER, else target/debug/slo-runner
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNNER="$(realpath "${1:-${SLO_RUNNER:-target/debug/slo-runner}}")"
[ -x "$RUNNER" ] || { echo "cluster-netns: no runner binary at $RUNNER" >&2; exit 1; }
command -v ip >/dev/null || { echo "cluster-netns: iproute2 (ip) is missing" >&2; exit 1; }
command -v tansu >/dev/null || { echo "cluster-netns: tansu is missing (scripts/setup-kafka.sh)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "cluster-netns: needs root for network namespaces" >&2; exit 1; }

TAG="slo$$"
HUB="$TAG-hub"; A="$TAG-a"; B="$TAG-b"
NET=10.231.$(( $$ % 200 + 20 ))
WORK="$(mktemp -d)"
cleanup() {
  for pidfile in "$WORK"/p*.pid; do
    [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ -f "$WORK/broker.pid" ]; then
    PID="$(cat "$WORK/broker.pid")"; kill "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  fi
  for ns in "$A" "$B" "$HUB"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "cluster-netns: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
fail() {
  echo "cluster-netns: FAILED: $*" >&2
  for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
  exit 1
}

# The hub namespace holds the bridge and the broker; A and B hang off the bridge by veth pairs.
ip netns add "$HUB"; ip netns add "$A"; ip netns add "$B"
ip -n "$HUB" link set lo up
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" addr add "$NET.1/24" dev br0
ip -n "$HUB" link set br0 up
n=2
for ns in "$A" "$B"; do
  ip -n "$HUB" link add "v$n" type veth peer name eth0 netns "$ns"
  ip -n "$HUB" link set "v$n" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$NET.$n/24" dev eth0
  ip -n "$ns" link set eth0 up
  n=$((n + 1))
done
ip netns exec "$A" ip route get "$NET.3" >/dev/null || fail "A has no route to B"

BROKER="$NET.1:9092"
mkdir -p "$WORK/broker"
(cd "$WORK/broker" && exec ip netns exec "$HUB" env -u CLUSTER_ID -u LISTENER_URL -u ADVERTISED_LISTENER_URL \
  -u STORAGE_ENGINE tansu broker --listener-url "tcp://$BROKER" --advertised-listener-url "tcp://$BROKER" \
  --storage-engine "sqlite://tansu.db" --silent >"$WORK/broker.log" 2>&1) &
echo $! > "$WORK/broker.pid"
for i in $(seq 1 100); do
  ip netns exec "$A" bash -c "exec 3<>/dev/tcp/$NET.1/9092" 2>/dev/null && break
  [ "$i" = 100 ] && fail "the broker did not open $BROKER"
  sleep 0.1
done
in_ns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }
in_ns "$HUB" "$RUNNER" kafka-topics --create --brokers "$BROKER" --partitions 4 >/dev/null

# The records: the bundled sample generator, 12,000 requests.
"$RUNNER" sample --requests 12000 --out "$WORK/data" >/dev/null
EVENTS="$WORK/data/events.jsonl"
in_ns "$HUB" "$RUNNER" produce --brokers "$BROKER" --input "$EVENTS" >"$WORK/produce.log"

run_args=(run --kafka --brokers "$BROKER" --window 1m --embedder hashing --idle-exit 3 --commit-interval 200ms)
# Reference: one process, one worker.
in_ns "$HUB" "$RUNNER" "${run_args[@]}" --group single --store "$WORK/single" >"$WORK/single.log" 2>&1 \
  || fail "single-process run"

printf '%s\n' "$NET.2:7101" "$NET.3:7101" > "$WORK/hosts"
start() { # start PROCESS NS: one cluster process in its namespace, in the background
  # `ip netns exec` execs the runner, so $! is the runner's own PID (what kill -9 must hit).
  ip netns exec "$2" "$RUNNER" "${run_args[@]}" --group cluster --store "$WORK/cluster" \
    -w 2 -n 2 -p "$1" -h "$WORK/hosts" >>"$WORK/p$1.log" 2>&1 &
  echo $! > "$WORK/p$1.pid"
}
wait_for() { # wait_for PROCESS SECONDS: exit status of the process, 124 on timeout
  local pid; pid="$(cat "$WORK/p$1.pid")"
  for _ in $(seq 1 $(( $2 * 10 ))); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; return $?; fi
    sleep 0.1
  done
  return 124
}
checkpoint_sum() { # offsets recorded in the event tables, all workers' checkpoints
  cat "$WORK"/cluster/_index/kafka-checkpoint-cluster-* 2>/dev/null \
    | grep -o '"events_upto":{[^}]*}' | grep -o ':[0-9]*' | tr -d ':' | awk '{ s += $1 } END { print s + 0 }'
}

# Run 1: kill -9 process 1 once both processes have recorded progress.
start 0 "$A"; start 1 "$B"
for i in $(seq 1 600); do
  [ "$(checkpoint_sum)" -gt 0 ] && break
  kill -0 "$(cat "$WORK/p1.pid")" 2>/dev/null || fail "process 1 ended before it could be killed"
  sleep 0.1
done
sleep 1
grep -q '^events:' "$WORK/p1.log" && fail "process 1 finished before it could be killed"
kill -9 "$(cat "$WORK/p1.pid")" || fail "process 1 had already exited"
wait "$(cat "$WORK/p1.pid")" 2>/dev/null || true
status=0; wait_for 0 60 || status=$?
[ "$status" = 124 ] && fail "process 0 kept running after its peer died"
[ "$status" = 0 ] && fail "process 0 finished its run although its peer died mid-run"
grep -q "connection to a peer process was lost" "$WORK/p0.log" || fail "process 0 did not say why it stopped"
echo "cluster-netns: killed process 1 (kill -9); process 0 then stopped (status $status) saying why"

# Run 2: the operator's procedure: restart every process of the cluster with the same layout.
start 0 "$A"; start 1 "$B"
for p in 0 1; do
  s=0; wait_for "$p" 300 || s=$?
  [ "$s" = 0 ] || fail "process $p of the restarted cluster exited with $s"
done

q() { "$RUNNER" query --store "$1" --format csv "$2"; }
CAPSULES="SELECT capsule_id, template, count, error_count, severity_counts, first_seen, last_seen, samples FROM capsules ORDER BY capsule_id"
SLI="SELECT * FROM sli_minutes ORDER BY journey, minute"
COUNTS="SELECT (SELECT COUNT(*) FROM spans) AS spans, (SELECT COUNT(*) FROM metric_points) AS metrics"
for what in CAPSULES SLI COUNTS; do
  q "$WORK/single" "${!what}" > "$WORK/single.$what"
  q "$WORK/cluster" "${!what}" > "$WORK/cluster.$what"
  [ "$(wc -l < "$WORK/single.$what")" -gt 2 ] || [ "$what" = COUNTS ] || fail "single-process $what is empty"
  diff -q "$WORK/single.$what" "$WORK/cluster.$what" >/dev/null \
    || { diff "$WORK/single.$what" "$WORK/cluster.$what" | head -20 >&2; fail "$what differ between one process and the cluster"; }
done
echo "cluster-netns: ok: two processes in namespaces $A ($NET.2) and $B ($NET.3), one killed with -9 and the"
echo "  cluster restarted: $(($(wc -l < "$WORK/single.CAPSULES") - 1)) capsules, $(($(wc -l < "$WORK/single.SLI") - 1)) sli_minutes rows and $(tail -1 "$WORK/single.COUNTS") span/metric rows equal a single-process run"
