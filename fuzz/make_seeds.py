#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into fuzz/corpus/<target>/ (small, made here).

Run from anywhere: `python3 fuzz/make_seeds.py`. Rewrites the seeds it names and leaves any
other file in the corpus directories alone. The Avro seeds are encoded by hand (single-object
encoding: C3 01, the schema's CRC-64-AVRO fingerprint, the datum) from schemas/*.avsc, so this
needs no Avro library.
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- jsonl: first byte even → 256-byte line limit, odd ('{') → default limit ----
EVENT = '{"event_id":"e1","service":"checkout","environment":"prod","kind":"span","timestamp_ms":1700000000123,"severity":"WARN","body":"charge card","attributes":{"k":"v"},"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","operation":"POST /charge","duration_us":12345,"status":"error","http_method":"POST","http_route":"/charge","http_status":502}'
write("jsonl", "event", EVENT + "\n")
write("jsonl", "lenient", '{"service":"s","timestamp":"2025-01-01T00:00:00Z","body":"derived id"}\n{"ts":1735689600,"body":"epoch seconds"}\r\n')
write("jsonl", "mixed", '{"event_id":"a","service":"s","timestamp_ms":1000,"body":"ok"}\n{not json\n\n[1,2]\n{"service":"s","body":"no time"}\n'.encode() + b'{"body":"\xff\xfe"}\n')
write("jsonl", "small-limit", " \n" + EVENT + "\n" + '{"body":"' + "x" * 300 + '","timestamp_ms":5}\n' + " " * 300 + "\n")
write("jsonl", "metric", '{"kind":"metric","timestamp_ms":1,"metric_name":"http_requests_total","metric_value":1.5,"metric_labels":{"code":"200"}}\n')

# ---- otlp ----
LOGS = {"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}, {"key": "deployment.environment.name", "value": {"stringValue": "staging"}}]}, "scopeLogs": [{"logRecords": [
    {"timeUnixNano": "1700000000000000000", "severityNumber": 17, "body": {"stringValue": "payment failed"}, "attributes": [{"key": "user", "value": {"intValue": "42"}}, {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": True}]}}}], "traceId": "0AF7651916CD43DD8448EB211C80319C", "spanId": "B7AD6B7169203331"},
    {"observedTimeUnixNano": 1700000000000000000, "severityText": "info", "body": {"kvlistValue": {"values": [{"key": "k", "value": {"doubleValue": 1.5}}]}}},
    {"body": {"stringValue": "no time"}}]}]}]}
SPANS = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "api"}}]}, "scopeSpans": [{"spans": [
    {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "parentSpanId": "", "name": "GET /orders/{id}", "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000250000000", "status": {"code": 2}, "attributes": [{"key": "http.response.status_code", "value": {"intValue": 503}}, {"key": "http.route", "value": {"stringValue": "/orders/{id}"}}, {"key": "http.request.method", "value": {"stringValue": "GET"}}]},
    {"name": "no start", "status": {"code": "STATUS_CODE_OK"}}]}]}]}
METRICS = {"resourceMetrics": [{"resource": {}, "scopeMetrics": [{"metrics": [
    {"name": "queue_depth", "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asInt": "7", "attributes": [{"key": "queue", "value": {"stringValue": "q1"}}]}]}},
    {"name": "latency", "histogram": {"dataPoints": [{"timeUnixNano": 1700000000000000000, "sum": 12.5, "count": "3"}, {"sum": 1}]}},
    {"name": "requests", "sum": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": 3.5}]}}]}]}]}
write("otlp", "logs", json.dumps(LOGS, indent=2))
write("otlp", "spans", json.dumps(SPANS))
write("otlp", "metrics", json.dumps(METRICS))
write("otlp", "per-line", json.dumps(SPANS) + "\n" + '{"resourceLogs": [ {"scopeLogs": [' + "\n" + json.dumps(METRICS) + "\n" + '{"other": 1, "keys": [2]}\n[1]\n')

# ---- plain: first line = Loghub log_format, the rest = the log ----
write("plain", "spark", "<Date> <Time> <Level> <Component>: <Content>\n"
      "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers for [TERM, HUP, INT]\n"
      "17/06/09 20:10:41 WARN spark.SecurityManager: Changing view acls to: yarn,curi\n"
      "  at org.apache.Foo.bar(Foo.java:12)\n"
      "not a header line\n\n")
write("plain", "hdfs", "<Date> <Time> <Pid> <Level> <Component>: <Content>\n"
      "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating\n"
      "081109 203807 222 ERROR dfs.DataNode$DataXceiver: writeBlock blk_-1608999687919862906 received exception\n")
write("plain", "syslog-optional-pid", r"<Month>  <Date> <Time> <User> <Component>(\[<PID>\])?: <Content>" + "\n"
      "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0\n"
      "Jun 14 15:16:02 combo su: session opened for user news by (uid=0)\n")
write("plain", "no-format", "\n"
      "2024-03-01T12:00:00Z ERROR payment failed for order 42\n"
      "continuation without time\n"
      "Mar  1 12:00:01 host app: WARN slow response 2300ms\n")
write("plain", "timestamp-field", ("<Timestamp> [<Level>] <Content>\n"
      "2024-03-01 12:00:00,123 [error] disk full\n" + "x" * 300 + "\n").encode() + b"\xff\n")

# ---- avro: single-object encoding of TelemetryEvent and CapsuleEvent ----
EMPTY = 0xC15D213AA4D7A795
TABLE = []
for i in range(256):
    fp = i
    for _ in range(8):
        fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
    TABLE.append(fp)


def rabin(data):
    fp = EMPTY
    for b in data:
        fp = (fp >> 8) ^ TABLE[(fp ^ b) & 0xFF]
    return fp


def canonical(schema, namespace, seen):
    """Avro Parsing Canonical Form."""
    if isinstance(schema, str):
        if schema in ("null", "boolean", "int", "long", "float", "double", "bytes", "string"):
            return json.dumps(schema)
        full = schema if "." in schema else f"{namespace}.{schema}"
        return json.dumps(full)
    if isinstance(schema, list):
        return "[" + ",".join(canonical(s, namespace, seen) for s in schema) + "]"
    t = schema["type"]
    if t in ("record", "enum", "fixed"):
        ns = schema.get("namespace", namespace)
        name = schema["name"] if "." in schema["name"] else f"{ns}.{schema['name']}"
        if name in seen:
            return json.dumps(name)
        seen.add(name)
        ns = name.rsplit(".", 1)[0]
        if t == "record":
            fields = ",".join('{"name":%s,"type":%s}' % (json.dumps(f["name"]), canonical(f["type"], ns, seen)) for f in schema["fields"])
            return '{"name":%s,"type":"record","fields":[%s]}' % (json.dumps(name), fields)
        if t == "enum":
            return '{"name":%s,"type":"enum","symbols":%s}' % (json.dumps(name), json.dumps(schema["symbols"], separators=(",", ":")))
        return '{"name":%s,"type":"fixed","size":%d}' % (json.dumps(name), schema["size"])
    if t == "array":
        return '{"type":"array","items":%s}' % canonical(schema["items"], namespace, seen)
    if t == "map":
        return '{"type":"map","values":%s}' % canonical(schema["values"], namespace, seen)
    return canonical(t, namespace, seen)


def header(schema_file):
    with open(os.path.join(ROOT, "schemas", schema_file)) as f:
        schema = json.load(f)
    return b"\xc3\x01" + struct.pack("<Q", rabin(canonical(schema, "", set()).encode()))


def long_(n):
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def string(s):
    b = s.encode()
    return long_(len(b)) + b


def opt(value, enc):
    return long_(0) if value is None else long_(1) + enc(value)


def map_(d, enc):
    if not d:
        return long_(0)
    return long_(len(d)) + b"".join(string(k) + enc(v) for k, v in d.items()) + long_(0)


def double(x):
    return struct.pack("<d", x)


def float_(x):
    return struct.pack("<f", x)


def event(kind, ts, severity, body, attrs, trace=None, span=None, parent=None, op=None, dur=None, status=None,
          method=None, route=None, http=None, metric=None, value=None, labels=None):
    return (string("e-1") + string("checkout") + string("prod") + long_(kind) + long_(ts)
            + opt(severity, long_) + string(body) + map_(attrs, string) + opt(trace, string) + opt(span, string)
            + opt(parent, string) + opt(op, string) + opt(dur, long_) + opt(status, long_) + opt(method, string)
            + opt(route, string) + opt(http, long_) + opt(metric, string) + opt(value, double)
            + map_(labels or {}, string))


TE = header("TelemetryEvent.avsc")
write("avro", "event-log", TE + event(0, 1700000000123, 2, "user logged in", {"k": "v"}))
write("avro", "event-span", TE + event(1, 1700000000123, 3, "charge card", {}, "0af7651916cd43dd8448eb211c80319c",
                                       "b7ad6b7169203331", None, "POST /charge", 12345, 2, "POST", "/charge", 502))
write("avro", "event-metric", TE + event(2, 5, None, "", {}, metric="queue_depth", value=7.5, labels={"q": "q1"}))
CE = header("CapsuleEvent.avsc")
sample = string("a") + long_(1) + string("user <USER> logged in") + opt(None, string) + opt(2, long_)
capsule = (string("f" * 64) + string("user <*> logged in") + string("auth") + string("prod") + long_(0)
           + long_(3600000) + long_(42) + map_({"INFO": 42}, long_) + long_(1) + long_(99)
           + long_(1) + sample + long_(0) + b"\x01" + map_({"USERNAME": 42}, long_)
           + opt([0.25, -0.5], lambda v: long_(len(v)) + b"".join(float_(x) for x in v) + long_(0)))
write("avro", "capsule", CE + capsule)
write("avro", "capsule-no-embedding", CE + capsule[: -len(opt([0.25, -0.5], lambda v: long_(len(v)) + b"".join(float_(x) for x in v) + long_(0)))] + long_(0))

# ---- slo_spec: Sloth, Kubernetes PrometheusServiceLevel, OpenSLO ----
write("slo_spec", "sloth", """version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      labels:
        category: "availability"
      annotations:
        summary: "High error rate on 'myservice' requests responses"
      page_alert:
        labels:
          severity: pageteam
      ticket_alert:
        labels:
          severity: "slack"
  - name: "raw"
    objective: 99
    sli:
      raw:
        error_ratio_query: 1 - (sum(rate(ok[{{.window}}])) / sum(rate(all[{{.window}}])))
    alerting:
      page_alert:
        disable: true
      ticket_alert:
        disable: true
""")
write("slo_spec", "k8s", """apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata:
  name: awesome-service
  namespace: monitoring
spec:
  service: "k8s-awesome-service"
  labels:
    cluster: "valencia"
  slos:
    - name: "requests-availability"
      objective: 99.95
      sli:
        events:
          errorQuery: sum(rate(http_request_duration_seconds_count{job="k8s-awesome-service",code=~"(5..|429)"}[{{.window}}]))
          totalQuery: sum(rate(http_request_duration_seconds_count{job="k8s-awesome-service"}[{{.window}}]))
      alerting:
        name: K8sAwesomeServiceAvailability
        pageAlert:
          labels:
            severity: critical
        ticketAlert:
          disable: true
""")
write("slo_spec", "openslo-v1", """apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
  labels:
    team: payments
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-errors
spec:
  ratioMetric:
    counter: true
    bad:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{service="checkout",code=~"5.."}[{{.window}}]))
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{service="checkout"}[{{.window}}]))
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
spec:
  service: checkout
  indicatorRef: checkout-errors
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.999
""")
write("slo_spec", "openslo-v1alpha", """apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: latency
  displayName: Latency
spec:
  service: api
  timeWindows:
    - count: 30
      unit: Day
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - ratioMetrics:
        counter: true
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(http_request_duration_seconds_bucket{le="0.3"}[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(http_request_duration_seconds_count[{{.window}}]))
      target: 0.99
""")
write("slo_spec", "not-a-spec", "a: [1, {b: [2]}]\n---\n- 1\n- two\n")

# ---- vector_index: first byte % 4 picks what is damaged (see fuzz_targets/vector_index.rs) ----
write("vector_index", "intact-index", b"\x00")
write("vector_index", "flip-byte", b"\x00" + bytes([0, 0x40, 0x00, 0x01]))
write("vector_index", "truncate", b"\x04" + bytes([2, 0x00, 0x02, 0x00]))
write("vector_index", "insert", b"\x00" + bytes([3, 0x10, 0x00, 0x7f, 0, 0x10, 0x00, 0x00]))
write("vector_index", "manifest-vectors", b"\x01" + b'{"vectors": 31}')
write("vector_index", "manifest-embedder", b"\x01" + b'{"embedder": {"name": "other", "dim": 8, "model_sha256": null}}')
write("vector_index", "manifest-dim", b"\x01" + b'{"embedder": {"name": "fuzz", "dim": 16, "model_sha256": "ab"}}')
write("vector_index", "manifest-raw", b"\x01" + b'{"embedder": null, "vectors": 0, "index_bytes": 0, "index_sha256": "", "keys_sha256": ""}')
write("vector_index", "keys", b"\x02" + json.dumps(list(range(1, 33))).encode())
write("vector_index", "keys-short", b"\x02" + b"[1,2,3]")
write("vector_index", "missing-blobs", b"\x03\x05")
write("vector_index", "calibration", b"\x03\x00" + b'{"vectors": 32, "queries": 8, "expansion_search": 1000000, "recall": 0.5, "reached": false}')

# ---- regressions: inputs of findings (fuzz/regressions/<target>/; not seeds) ----
REGRESSIONS = os.path.join(ROOT, "fuzz", "regressions")


def regression(target, name, data):
    d = os.path.join(REGRESSIONS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# Finding 1: a metric value of +infinity decoded, then `encode` wrote it as null (back as None).
regression("avro", "event-metric-value-infinity",
           TE + event(2, 5, None, "", {}, metric="m", value=float("inf")))
# Finding 1: an embedding element NaN decoded, then `encode` failed. Both are refused on decode now.
regression("avro", "capsule-embedding-nan",
           CE + capsule[: -len(opt([0.25, -0.5], lambda v: long_(len(v)) + b"".join(float_(x) for x in v) + long_(0)))]
           + opt([float("nan")], lambda v: long_(len(v)) + b"".join(float_(x) for x in v) + long_(0)))
