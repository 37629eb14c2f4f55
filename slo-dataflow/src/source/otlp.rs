//! OTLP/JSON (the protobuf JSON mapping of `ExportLogsServiceRequest`,
//! `ExportTraceServiceRequest` and `ExportMetricsServiceRequest`), as written by the
//! OpenTelemetry Collector's file exporter: either one request per file (pretty-printed) or one
//! request per line — in general, a sequence of JSON documents separated by whitespace.
//!
//! **Streamed, in bounded memory.** The input is parsed as it is read, on a thread of its own
//! that hands events over a bounded channel ([`CHANNEL_ITEMS`]): of a request, one element of
//! `resourceLogs` / `resourceSpans` / `resourceMetrics` (a resource and its records) is held at
//! a time, never the file. Nesting is capped by serde_json's recursion limit (128).
//!
//! **Nothing is lost silently.** A record without a usable time, a JSON value that holds no
//! export request, and a document that does not parse are dead letters with their line, byte
//! offset and reason; after a syntax error reading resumes at the next line, so one broken
//! line of a request-per-line file costs that line only.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::rc::Rc;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{DeadLetter, SourceItem};
use crate::event::{EventKind, Severity, SpanStatus, TelemetryEvent};

/// Items the parsing thread may run ahead of the consumer.
pub const CHANNEL_ITEMS: usize = 1024;

/// Bytes of input kept for the payload of a document that does not parse.
const RECENT_BYTES: usize = 4096;

/// Reads OTLP/JSON requests and flattens them into events.
pub struct OtlpJsonReader<R> {
    reader: Option<R>,
    origin: String,
    items: Option<Receiver<SourceItem>>,
}

impl<R: BufRead> OtlpJsonReader<R> {
    /// A reader over `reader`; `origin` names the input in dead letters.
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        OtlpJsonReader { reader: Some(reader), origin: origin.into(), items: None }
    }
}

impl<R: BufRead + Send + 'static> Iterator for OtlpJsonReader<R> {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if let Some(reader) = self.reader.take() {
            let (tx, rx) = sync_channel(CHANNEL_ITEMS);
            let origin = self.origin.clone();
            let spawned = std::thread::Builder::new()
                .name("otlp-json-reader".into())
                .spawn(move || parse_stream(reader, &origin, &tx));
            if let Err(e) = spawned {
                let reason = format!("cannot start the OTLP reader thread: {e}");
                return Some(Err(DeadLetter {
                    origin: self.origin.clone(),
                    line: 0,
                    offset: 0,
                    reason,
                    payload: Vec::new(),
                }));
            }
            self.items = Some(rx);
        }
        // A closed channel is the end: the thread has sent everything.
        self.items.as_ref()?.recv().ok()
    }
}

/// Position and recent bytes of the input, shared between the counting reader and the parser.
#[derive(Default)]
struct Position {
    bytes: Cell<u64>,
    newlines: Cell<u64>,
    recent: std::cell::RefCell<VecDeque<u8>>,
}

impl Position {
    fn saw(&self, data: &[u8]) {
        self.bytes.set(self.bytes.get() + data.len() as u64);
        self.newlines.set(self.newlines.get() + data.iter().filter(|b| **b == b'\n').count() as u64);
        let mut recent = self.recent.borrow_mut();
        recent.extend(data.iter().copied());
        let excess = recent.len().saturating_sub(RECENT_BYTES);
        recent.drain(..excess);
    }
}

/// The input, counting what the parser has consumed.
struct Counting<R> {
    inner: R,
    pos: Rc<Position>,
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos.saw(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> Counting<R> {
    /// Consumes the rest of the current line (into the recent bytes, for a dead letter).
    fn skip_line(&mut self) -> std::io::Result<()> {
        loop {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                return Ok(());
            }
            let (take, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            self.pos.saw(&available[..take]);
            self.inner.consume(take);
            if done {
                return Ok(());
            }
        }
    }
}

/// What the parsing thread shares with the visitors.
struct Ctx<'a> {
    origin: &'a str,
    tx: &'a SyncSender<SourceItem>,
    pos: Rc<Position>,
    /// Line and byte offset where the current document started, once it has.
    start: Cell<Option<(u64, u64)>>,
    seq: Cell<usize>,
    /// The consumer hung up: stop.
    closed: Cell<bool>,
}

impl Ctx<'_> {
    fn send(&self, item: SourceItem) {
        if !self.closed.get() && self.tx.send(item).is_err() {
            self.closed.set(true);
        }
    }

    fn dead(&self, line: u64, offset: u64, reason: String, payload: Vec<u8>) -> DeadLetter {
        DeadLetter { origin: self.origin.to_owned(), line, offset, reason, payload }
    }
}

/// Parses documents from `reader` until its end (or the consumer hangs up).
fn parse_stream<R: BufRead>(reader: R, origin: &str, tx: &SyncSender<SourceItem>) {
    let pos = Rc::new(Position::default());
    let mut input = Counting { inner: reader, pos: Rc::clone(&pos) };
    let ctx = Ctx { origin, tx, pos, start: Cell::new(None), seq: Cell::new(0), closed: Cell::new(false) };
    while !ctx.closed.get() {
        ctx.start.set(None);
        ctx.seq.set(0);
        ctx.pos.recent.borrow_mut().clear();
        let mut de = serde_json::Deserializer::from_reader(&mut input);
        let result = DocumentSeed(&ctx).deserialize(&mut de);
        drop(de);
        let err = match result {
            Ok(()) => continue,
            Err(e) if e.is_eof() && ctx.start.get().is_none() => return, // only whitespace was left
            Err(e) => e,
        };
        if ctx.closed.get() {
            return;
        }
        let line = ctx.pos.newlines.get() + 1;
        let (doc_line, offset) = ctx.start.get().unwrap_or((line, ctx.pos.bytes.get()));
        let reason = if err.is_eof() { format!("truncated JSON: {err}") } else { format!("invalid JSON: {err}") };
        let mut failed_io = err.is_io();
        if !failed_io && input.skip_line().is_err() {
            failed_io = true;
        }
        let payload: Vec<u8> = ctx.pos.recent.borrow().iter().copied().collect();
        ctx.send(Err(ctx.dead(doc_line, offset, reason, payload)));
        if failed_io || err.is_eof() {
            return;
        }
    }
}

/// One top-level document: an export request object.
struct DocumentSeed<'c, 'a>(&'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an OTLP export request (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.0;
        // The `{` is consumed: the document starts on the current line, one byte back.
        let (line, offset) = (ctx.pos.newlines.get() + 1, ctx.pos.bytes.get().saturating_sub(1));
        ctx.start.set(Some((line, offset)));
        let mut known = false;
        let mut other_keys = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resourceLogs" | "resourceSpans" | "resourceMetrics" => {
                    known = true;
                    map.next_value_seed(ResourcesSeed { ctx, key: &key, line, offset })?;
                    if ctx.closed.get() {
                        return Err(A::Error::custom("reader closed"));
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    other_keys.push(key);
                }
            }
        }
        if !known {
            // The keys, not their values, stand for the object (values could be any size).
            let payload = serde_json::to_vec(&serde_json::json!({ "keys": other_keys })).unwrap_or_default();
            let reason = "not an OTLP export request (no resourceLogs, resourceSpans or resourceMetrics)".to_owned();
            ctx.send(Err(ctx.dead(line, offset, reason, payload)));
        }
        Ok(())
    }
}

/// The `resource*` array of a request, one element at a time.
struct ResourcesSeed<'c, 'a, 'k> {
    ctx: &'c Ctx<'a>,
    key: &'k str,
    line: u64,
    offset: u64,
}

impl<'de> DeserializeSeed<'de> for ResourcesSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResourcesSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an array of {}", self.key)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        while let Some(element) = seq.next_element::<Value>()? {
            let request =
                Value::Object(serde_json::Map::from_iter([(self.key.to_owned(), Value::Array(vec![element]))]));
            let mut n = ctx.seq.get();
            for item in flatten_request_from(&request, ctx.origin, self.line, &mut n) {
                ctx.send(item.map_err(|r| ctx.dead(self.line, self.offset, r.reason, r.record)));
            }
            ctx.seq.set(n);
            if ctx.closed.get() {
                return Err(A::Error::custom("reader closed"));
            }
        }
        Ok(())
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
    // An empty name is no name: `unknown`, as the JSON-lines reader does.
    let service =
        attrs.get("service.name").filter(|s| !s.trim().is_empty()).cloned().unwrap_or_else(|| "unknown".into());
    let env = attrs
        .get("deployment.environment.name")
        .or_else(|| attrs.get("deployment.environment"))
        .cloned()
        .unwrap_or_else(|| "prod".into());
    (service, env, attrs)
}

/// A time under one millisecond since the epoch is no usable time: it would be an event of
/// 1970 at `timestamp_ms` 0, which the other readers refuse as missing.
const NANOS_PER_MS: u64 = 1_000_000;

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
    flatten_request_from(request, origin, line, &mut 0)
}

/// [`flatten_request`] numbering event ids on from `seq` (a request streamed in parts keeps one
/// sequence).
fn flatten_request_from(
    request: &Value,
    origin: &str,
    line: u64,
    seq: &mut usize,
) -> Vec<Result<TelemetryEvent, RejectedRecord>> {
    let mut out = Vec::new();
    if !["resourceLogs", "resourceSpans", "resourceMetrics"].iter().any(|k| request.get(k).is_some()) {
        out.push(Err(rejected(
            "not an OTLP export request (no resourceLogs, resourceSpans or resourceMetrics)",
            request,
        )));
        return out;
    }
    let mut next_id = |prefix: &str| {
        *seq += 1;
        format!("{origin}:{line}:{prefix}{seq}")
    };
    for rl in array(request, "resourceLogs") {
        let (service, env, _) = resource_identity(rl.get("resource"));
        for sl in array(rl, "scopeLogs") {
            for rec in array(sl, "logRecords") {
                let Some(ts) = nanos(rec.get("timeUnixNano"))
                    .filter(|t| *t >= NANOS_PER_MS)
                    .or_else(|| nanos(rec.get("observedTimeUnixNano")).filter(|t| *t >= NANOS_PER_MS))
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
                let Some(start) = nanos(span.get("startTimeUnixNano")).filter(|t| *t >= NANOS_PER_MS) else {
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
                        let Some(t) = nanos(dp.get("timeUnixNano")).filter(|t| *t >= NANOS_PER_MS) else {
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
        let items: Vec<_> = OtlpJsonReader::new(std::io::Cursor::new(input.into_bytes()), "mem").collect();
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
        let items: Vec<_> = OtlpJsonReader::new(std::io::Cursor::new(input.into_bytes()), "mem").collect();
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

    /// Counts the bytes read from it.
    struct Metered(std::io::Cursor<Vec<u8>>, std::sync::Arc<std::sync::atomic::AtomicU64>);

    impl Read for Metered {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let cap = buf.len().min(512);
            let n = self.0.read(&mut buf[..cap])?;
            self.1.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst);
            Ok(n)
        }
    }

    /// Regression (issue 17, defect 8): the reader loaded the whole file before yielding (60 MB
    /// of OTLP took 856 MB). A pretty-printed request is now streamed a resource at a time: the
    /// first events come while most of the file is still unread.
    #[test]
    fn a_large_request_is_streamed_not_loaded() {
        let resource = |i: usize| {
            format!(
                r#"{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"s{i}"}}}}]}},
  "scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{}","body":{{"stringValue":"line {i}"}}}}]}}]}}"#,
                1_700_000_000_000_000_000u64 + i as u64
            )
        };
        let n = 20_000;
        let body: Vec<String> = (0..n).map(resource).collect();
        let text = format!("{{\n \"resourceLogs\": [\n{}\n ]\n}}\n", body.join(",\n"));
        let total = text.len() as u64;
        let read = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reader =
            std::io::BufReader::with_capacity(4096, Metered(std::io::Cursor::new(text.into_bytes()), read.clone()));
        let mut items = OtlpJsonReader::new(reader, "big.json");
        let first = items.next().unwrap().unwrap();
        assert_eq!((first.service.as_str(), first.event_id.as_str()), ("s0", "big.json:1:log1"));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let so_far = read.load(std::sync::atomic::Ordering::SeqCst);
        assert!(so_far < total / 4, "{so_far} of {total} bytes read before the consumer took more than one event");
        let rest: Vec<_> = items.collect();
        assert_eq!(rest.len(), n - 1);
        let last = rest.last().unwrap().as_ref().unwrap();
        assert_eq!((last.service.as_str(), last.event_id.as_str()), ("s19999", "big.json:1:log20000"));
    }

    #[test]
    fn a_truncated_request_is_a_dead_letter_after_its_complete_resources() {
        let one_line = LOGS.replace('\n', " ");
        let element = &one_line["{\"resourceLogs\":[".len()..one_line.len() - 2];
        let text = format!("{{\"resourceLogs\":[{element}, {{\"resource\":");
        let items: Vec<_> = OtlpJsonReader::new(std::io::Cursor::new(text.into_bytes()), "cut.json").collect();
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().service, "cart");
        let dead = items[1].as_ref().unwrap_err();
        assert!(dead.reason.starts_with("truncated JSON"), "{}", dead.reason);
        assert_eq!((dead.line, dead.offset), (1, 0));
        // Dropping a reader part-way stops its thread (the test would hang otherwise).
        let many = format!("{}\n", LOGS.replace('\n', " ")).repeat(5000);
        let mut r = OtlpJsonReader::new(std::io::Cursor::new(many.into_bytes()), "m");
        assert!(r.next().unwrap().is_ok());
        drop(r);
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

    /// Found by fuzzing: a time under 1 ms became an event at `timestamp_ms` 0 (a 1970 window),
    /// and an empty `service.name` an empty service; the JSON-lines reader refuses the first and
    /// names the second `unknown`.
    #[test]
    fn sub_millisecond_times_are_dead_letters_and_empty_services_unknown() {
        let log = |t: &str, service: &str| {
            format!(
                r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{t}","body":{{"stringValue":"x"}}}}]}}]}}]}}"#
            )
        };
        let input = format!("{}\n{}\n", log("5", "cart"), log("2000000", ""));
        let items: Vec<_> = OtlpJsonReader::new(std::io::Cursor::new(input.into_bytes()), "m").collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_err(), "{:?}", items[0]);
        let e = items[1].as_ref().unwrap();
        assert_eq!((e.timestamp_ms, e.service.as_str()), (2, "unknown"));
    }
}
