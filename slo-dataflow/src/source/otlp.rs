//! OTLP/JSON (the protobuf JSON mapping of `ExportLogsServiceRequest`,
//! `ExportTraceServiceRequest` and `ExportMetricsServiceRequest`), as written by the
//! OpenTelemetry Collector's file exporter: either one request per file (pretty-printed) or one
//! request per line.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufRead;

use serde_json::Value;

use super::{DeadLetter, SourceItem};
use crate::event::{EventKind, Severity, SpanStatus, TelemetryEvent};

/// Reads OTLP/JSON requests and flattens them into events.
pub struct OtlpJsonReader<R> {
    reader: Option<R>,
    origin: String,
    pending: VecDeque<SourceItem>,
}

impl<R: BufRead> OtlpJsonReader<R> {
    /// A reader over `reader`; `origin` names the input in dead letters.
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        OtlpJsonReader { reader: Some(reader), origin: origin.into(), pending: VecDeque::new() }
    }

    fn load(&mut self, mut reader: R) {
        let mut text = Vec::new();
        if let Err(e) = reader.read_to_end(&mut text) {
            self.pending.push_back(Err(self.dead(0, 0, format!("read error: {e}"), Vec::new())));
            return;
        }
        // Whole input as one request first (pretty-printed files), else one request per line.
        if let Ok(value) = serde_json::from_slice::<Value>(&text) {
            self.push_flattened(&value, 1, 0);
            return;
        }
        let mut offset = 0u64;
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            let line_no = i as u64 + 1;
            let this_offset = offset;
            offset += line.len() as u64 + 1;
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            match serde_json::from_slice::<Value>(line) {
                Ok(value) if value.is_object() => self.push_flattened(&value, line_no, this_offset),
                Ok(_) => self.pending.push_back(Err(self.dead(
                    line_no,
                    this_offset,
                    "not a JSON object".into(),
                    line.to_vec(),
                ))),
                Err(e) => self.pending.push_back(Err(self.dead(
                    line_no,
                    this_offset,
                    format!("invalid JSON: {e}"),
                    line.to_vec(),
                ))),
            }
        }
    }

    /// The events of one request, and a dead letter for each record that cannot be one.
    fn push_flattened(&mut self, request: &Value, line: u64, offset: u64) {
        for item in flatten_request(request, &self.origin, line) {
            let item = item.map_err(|r| self.dead(line, offset, r.reason, r.record));
            self.pending.push_back(item);
        }
    }

    fn dead(&self, line: u64, offset: u64, reason: String, payload: Vec<u8>) -> DeadLetter {
        DeadLetter { origin: self.origin.clone(), line, offset, reason, payload }
    }
}

impl<R: BufRead + Send> Iterator for OtlpJsonReader<R> {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if let Some(reader) = self.reader.take() {
            self.load(reader);
        }
        self.pending.pop_front()
    }
}

/// Renders an OTLP `AnyValue` as a string.
fn any_value(v: &Value) -> String {
    let Some(obj) = v.as_object() else { return v.to_string() };
    if let Some(s) = obj.get("stringValue").and_then(Value::as_str) {
        return s.to_string();
    }
    for key in ["intValue", "doubleValue", "boolValue"] {
        if let Some(x) = obj.get(key) {
            return match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
    }
    if let Some(arr) = obj.get("arrayValue").and_then(|a| a.get("values")).and_then(Value::as_array) {
        return format!("[{}]", arr.iter().map(any_value).collect::<Vec<_>>().join(","));
    }
    if let Some(kv) = obj.get("kvlistValue").and_then(|a| a.get("values")) {
        return serde_json::to_string(&attributes(Some(kv))).unwrap_or_default();
    }
    if let Some(b) = obj.get("bytesValue").and_then(Value::as_str) {
        return b.to_string();
    }
    String::new()
}

fn attributes(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(arr) = v.and_then(Value::as_array) {
        for kv in arr {
            if let (Some(k), Some(val)) = (kv.get("key").and_then(Value::as_str), kv.get("value")) {
                out.insert(k.to_string(), any_value(val));
            }
        }
    }
    out
}

fn nanos(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn hex_id(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?;
    (!s.is_empty()).then(|| s.to_ascii_lowercase())
}

fn resource_identity(resource: Option<&Value>) -> (String, String, BTreeMap<String, String>) {
    let attrs = attributes(resource.and_then(|r| r.get("attributes")));
    let service = attrs.get("service.name").cloned().unwrap_or_else(|| "unknown".into());
    let env = attrs
        .get("deployment.environment.name")
        .or_else(|| attrs.get("deployment.environment"))
        .cloned()
        .unwrap_or_else(|| "prod".into());
    (service, env, attrs)
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A record of an export request that cannot become an event: why, and the record as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedRecord {
    /// Why (e.g. `span without startTimeUnixNano`); never the record's content.
    pub reason: String,
    /// The record (or the whole request when it is not an export request), as JSON.
    pub record: Vec<u8>,
}

fn rejected(reason: &str, record: &Value) -> RejectedRecord {
    RejectedRecord { reason: reason.to_owned(), record: serde_json::to_vec(record).unwrap_or_default() }
}

/// Flattens one export request (logs, traces or metrics) into events, in order. A record
/// without a usable time is rejected (it would otherwise become an event of 1970), and so is a
/// JSON object that holds no export request at all, so nothing vanishes uncounted.
pub fn flatten_request(request: &Value, origin: &str, line: u64) -> Vec<Result<TelemetryEvent, RejectedRecord>> {
    let mut out = Vec::new();
    if !["resourceLogs", "resourceSpans", "resourceMetrics"].iter().any(|k| request.get(k).is_some()) {
        out.push(Err(rejected(
            "not an OTLP export request (no resourceLogs, resourceSpans or resourceMetrics)",
            request,
        )));
        return out;
    }
    let mut seq = 0usize;
    let mut next_id = |prefix: &str| {
        seq += 1;
        format!("{origin}:{line}:{prefix}{seq}")
    };
    for rl in array(request, "resourceLogs") {
        let (service, env, _) = resource_identity(rl.get("resource"));
        for sl in array(rl, "scopeLogs") {
            for rec in array(sl, "logRecords") {
                let Some(ts) = nanos(rec.get("timeUnixNano"))
                    .filter(|t| *t > 0)
                    .or_else(|| nanos(rec.get("observedTimeUnixNano")).filter(|t| *t > 0))
                    .map(|t| t / 1_000_000)
                else {
                    out.push(Err(rejected("log record without timeUnixNano or observedTimeUnixNano", rec)));
                    continue;
                };
                let severity = rec
                    .get("severityNumber")
                    .and_then(Value::as_i64)
                    .and_then(Severity::from_otlp_number)
                    .or_else(|| rec.get("severityText").and_then(Value::as_str).and_then(Severity::parse));
                out.push(Ok(TelemetryEvent {
                    event_id: next_id("log"),
                    service: service.clone(),
                    environment: env.clone(),
                    kind: EventKind::Log,
                    timestamp_ms: ts,
                    severity,
                    body: rec.get("body").map(any_value).unwrap_or_default(),
                    attributes: attributes(rec.get("attributes")),
                    trace_id: hex_id(rec.get("traceId")),
                    span_id: hex_id(rec.get("spanId")),
                    ..Default::default()
                }));
            }
        }
    }
    for rs in array(request, "resourceSpans") {
        let (service, env, _) = resource_identity(rs.get("resource"));
        for ss in array(rs, "scopeSpans") {
            for span in array(ss, "spans") {
                let Some(start) = nanos(span.get("startTimeUnixNano")).filter(|t| *t > 0) else {
                    out.push(Err(rejected("span without startTimeUnixNano", span)));
                    continue;
                };
                let end = nanos(span.get("endTimeUnixNano")).unwrap_or(start);
                let attrs = attributes(span.get("attributes"));
                let status = match span.get("status").and_then(|s| s.get("code")) {
                    Some(Value::Number(n)) if n.as_i64() == Some(2) => SpanStatus::Error,
                    Some(Value::Number(n)) if n.as_i64() == Some(1) => SpanStatus::Ok,
                    Some(Value::String(s)) if s.ends_with("ERROR") => SpanStatus::Error,
                    Some(Value::String(s)) if s.ends_with("OK") => SpanStatus::Ok,
                    _ => SpanStatus::Unset,
                };
                let trace_id = hex_id(span.get("traceId"));
                let span_id = hex_id(span.get("spanId"));
                let http_status = attrs
                    .get("http.response.status_code")
                    .or_else(|| attrs.get("http.status_code"))
                    .and_then(|s| s.parse().ok());
                out.push(Ok(TelemetryEvent {
                    event_id: match (&trace_id, &span_id) {
                        (Some(t), Some(s)) => format!("{t}-{s}"),
                        _ => next_id("span"),
                    },
                    service: service.clone(),
                    environment: env.clone(),
                    kind: EventKind::Span,
                    timestamp_ms: start / 1_000_000,
                    body: String::new(),
                    trace_id,
                    span_id,
                    parent_span_id: hex_id(span.get("parentSpanId")),
                    operation: span.get("name").and_then(Value::as_str).map(str::to_string),
                    duration_us: Some(end.saturating_sub(start) / 1000),
                    status: Some(status),
                    http_method: attrs.get("http.request.method").or_else(|| attrs.get("http.method")).cloned(),
                    http_route: attrs.get("http.route").cloned(),
                    http_status,
                    attributes: attrs,
                    ..Default::default()
                }));
            }
        }
    }
    for rm in array(request, "resourceMetrics") {
        let (service, env, _) = resource_identity(rm.get("resource"));
        for sm in array(rm, "scopeMetrics") {
            for metric in array(sm, "metrics") {
                let name = metric.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                for (kind, value_of) in [
                    ("sum", None),
                    ("gauge", None),
                    ("histogram", Some("sum")),
                    ("exponentialHistogram", Some("sum")),
                    ("summary", Some("sum")),
                ] {
                    let Some(body) = metric.get(kind) else { continue };
                    for dp in array(body, "dataPoints") {
                        let Some(t) = nanos(dp.get("timeUnixNano")).filter(|t| *t > 0) else {
                            out.push(Err(rejected("metric data point without timeUnixNano", dp)));
                            continue;
                        };
                        let value = match value_of {
                            None => dp.get("asDouble").and_then(Value::as_f64).or_else(|| match dp.get("asInt")? {
                                Value::String(s) => s.parse().ok(),
                                Value::Number(n) => n.as_f64(),
                                _ => None,
                            }),
                            Some(field) => dp.get(field).and_then(Value::as_f64),
                        };
                        let mut labels = attributes(dp.get("attributes"));
                        if value_of.is_some() {
                            if let Some(c) = dp.get("count") {
                                labels.insert("otlp.count".into(), any_value(&serde_json::json!({"intValue": c})));
                            }
                        }
                        out.push(Ok(TelemetryEvent {
                            event_id: next_id("metric"),
                            service: service.clone(),
                            environment: env.clone(),
                            kind: EventKind::Metric,
                            timestamp_ms: t / 1_000_000,
                            metric_name: Some(name.clone()),
                            metric_value: value,
                            metric_labels: labels,
                            attributes: BTreeMap::from([("otlp.metric_type".to_string(), kind.to_string())]),
                            ..Default::default()
                        }));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGS: &str = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},
      "scopeLogs":[{"logRecords":[{"timeUnixNano":"1544712660300000000","severityNumber":17,
      "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","body":{"stringValue":"payment failed"},
      "attributes":[{"key":"n","value":{"intValue":"3"}}]}]}]}]}"#;

    #[test]
    fn flattens_logs_spans_and_metrics() {
        let spans = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},"scopeSpans":[{"spans":[{"traceId":"AB","spanId":"CD","parentSpanId":"","name":"GET /","startTimeUnixNano":"2000000000","endTimeUnixNano":"2500000000","status":{"code":2},"attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}}]}]}]}]}"#;
        let input = format!("{}\n{}\n{{broken\n", LOGS.replace('\n', " "), spans);
        let items: Vec<_> = OtlpJsonReader::new(input.as_bytes(), "mem").collect();
        assert_eq!(items.len(), 3);
        let log = items[0].as_ref().unwrap();
        assert_eq!((log.service.as_str(), log.timestamp_ms), ("cart", 1_544_712_660_300));
        assert_eq!(log.severity, Some(Severity::Error));
        assert_eq!(log.trace_id.as_deref(), Some("5b8efff798038103d269b633813fc60c"));
        assert_eq!(log.attributes["n"], "3");
        let span = items[1].as_ref().unwrap();
        assert_eq!(span.kind, EventKind::Span);
        assert_eq!(span.duration_us, Some(500_000));
        assert_eq!(span.parent_span_id, None);
        assert_eq!(span.status, Some(SpanStatus::Error));
        assert_eq!(span.http_status, Some(503));
        assert_eq!(items[2].as_ref().unwrap_err().line, 3);
    }

    /// Regression: records without a time became events of 1970, and JSON lines that are no
    /// export request vanished uncounted. Both are dead letters now, with the line and a reason.
    #[test]
    fn records_without_time_and_foreign_objects_are_dead_letters() {
        let log_no_time = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"a"}},{"timeUnixNano":"0","body":{"stringValue":"b"}},{"observedTimeUnixNano":"2000000000","body":{"stringValue":"c"}}]}]}]}"#;
        let span_no_start =
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"AB","spanId":"CD","name":"x"}]}]}]}"#;
        let metric_no_time = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asDouble":1.0},{"asDouble":2.0,"timeUnixNano":"3000000000"}]}}]}]}]}"#;
        let foreign = r#"{"message":"hello"}"#;
        let input = [log_no_time, span_no_start, metric_no_time, foreign].join("\n");
        let items: Vec<_> = OtlpJsonReader::new(input.as_bytes(), "mem").collect();
        let events: Vec<_> = items.iter().filter_map(|i| i.as_ref().ok()).collect();
        let dead: Vec<_> = items.iter().filter_map(|i| i.as_ref().err()).collect();
        assert_eq!(events.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>(), vec![2_000, 3_000]);
        let reasons: Vec<(u64, &str)> = dead.iter().map(|d| (d.line, d.reason.as_str())).collect();
        assert_eq!(
            reasons,
            vec![
                (1, "log record without timeUnixNano or observedTimeUnixNano"),
                (1, "log record without timeUnixNano or observedTimeUnixNano"),
                (2, "span without startTimeUnixNano"),
                (3, "metric data point without timeUnixNano"),
                (4, "not an OTLP export request (no resourceLogs, resourceSpans or resourceMetrics)"),
            ]
        );
        assert!(dead.iter().all(|d| !d.payload.is_empty()));
    }

    #[test]
    fn reads_the_shared_otlp_examples_when_present() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/otlp-examples/examples");
        if !dir.exists() {
            eprintln!("skipping: {} not present", dir.display());
            return;
        }
        for (file, kind, min) in [
            ("logs.json", EventKind::Log, 1),
            ("trace.json", EventKind::Span, 1),
            ("metrics.json", EventKind::Metric, 4),
        ] {
            let f = std::fs::File::open(dir.join(file)).unwrap();
            let items: Vec<_> = OtlpJsonReader::new(std::io::BufReader::new(f), file).collect();
            assert!(items.len() >= min, "{file}: {} events", items.len());
            for item in items {
                let e = item.unwrap();
                assert_eq!(e.kind, kind);
                assert_eq!(e.service, "my.service");
                assert!(e.timestamp_ms > 1_500_000_000_000);
            }
        }
    }
}
