//! Error signal for spans that carry none (no span status, no HTTP status — e.g. Nezha traces,
//! or instrumentation that never sets a status).
//!
//! Two fallbacks, tried in this order for every span whose [`ErrorSource`] is
//! [`ErrorSource::None`]:
//!
//! 1. A **configured rule** ([`ErrorRule`], e.g. `duration_ms > 5000 || operation ~= Error`):
//!    the span failed when the rule matches it; source [`ErrorSource::Rule`]. A rule is explicit,
//!    so it wins over the logs.
//! 2. **Error logs linked by trace id** ([`ErrorLogs`]): a log event with severity ERROR or
//!    FATAL carrying the span's trace id marks the request failed. The trace's root span (no
//!    parent in the trace) fails when any error log carries the trace id; another span fails
//!    when an error log carries its span id. Source [`ErrorSource::LogTraceIds`] when the logs
//!    are complete (the same event files, or the store's `raw_events` archive), or
//!    [`ErrorSource::CapsuleTraceIds`] when they come from capsule samples — those keep at most
//!    [`slo_dataflow::event::MAX_CAPSULE_SAMPLES`] events per template and window, so the error
//!    count is a lower bound.
//!
//! Logs are used only when they can speak: when no log in the input carries a trace id, spans
//! keep [`ErrorSource::None`] (availability then says nothing, and says so).
//!
//! # Rule syntax
//!
//! `CONDITION [&& CONDITION ...] [|| CONDITION [&& ...] ...]` — `&&` binds tighter than `||`.
//! A condition is `FIELD OP VALUE`:
//!
//! | field | ops | value |
//! |---|---|---|
//! | `duration_ms` | `>` `>=` `<` `<=` `==` `!=` | a number (ms) |
//! | `operation` (`op`), `service`, `route` | `==` `!=` (exact), `~=` `=~` (regex matches somewhere), `!~` (regex does not match) | text, optionally in `'…'` or `"…"` |
//!
//! `route` is the span's HTTP route; a span without one matches only `!=` and `!~`.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use slo_dataflow::event::{Capsule, EventKind, Severity, TelemetryEvent};
use slo_storage::tables::Table;
use slo_storage::Store;

use crate::error::AdvisorError;
use crate::span::{ErrorSource, Span};

/// Whether a log severity marks a failure (ERROR or worse).
fn is_error(severity: Option<Severity>) -> bool {
    severity.is_some_and(|s| s >= Severity::Error)
}

/// Trace and span ids carried by error logs (severity ERROR or FATAL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorLogs {
    source: ErrorSource,
    traces: HashSet<String>,
    spans: HashSet<(String, String)>,
    linked: u64,
}

impl ErrorLogs {
    /// An empty set whose ids will come from `source` ([`ErrorSource::LogTraceIds`] or
    /// [`ErrorSource::CapsuleTraceIds`]).
    pub fn new(source: ErrorSource) -> Self {
        ErrorLogs { source, traces: HashSet::new(), spans: HashSet::new(), linked: 0 }
    }

    /// Records one event: a log carrying a trace id is counted as linked, and when its severity
    /// is ERROR or worse its trace id (and span id, if any) are recorded. Other events are
    /// ignored.
    pub fn observe(&mut self, e: &TelemetryEvent) {
        if e.kind == EventKind::Log {
            self.observe_log(e.severity, e.trace_id.as_deref(), e.span_id.as_deref());
        }
    }

    fn observe_log(&mut self, severity: Option<Severity>, trace: Option<&str>, span: Option<&str>) {
        let Some(trace) = trace.filter(|t| !t.is_empty()) else { return };
        self.linked += 1;
        if is_error(severity) {
            self.traces.insert(trace.to_string());
            if let Some(span) = span.filter(|s| !s.is_empty()) {
                self.spans.insert((trace.to_string(), span.to_string()));
            }
        }
    }

    /// The error logs among `events` (source [`ErrorSource::LogTraceIds`]).
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a TelemetryEvent>) -> Self {
        let mut out = ErrorLogs::new(ErrorSource::LogTraceIds);
        for e in events {
            out.observe(e);
        }
        out
    }

    /// The error samples of capsules (source [`ErrorSource::CapsuleTraceIds`]): a sample counts
    /// as an error by its own severity. Samples carry no span id, so only trace-level links.
    pub fn from_capsules(capsules: &[Capsule]) -> Self {
        let mut out = ErrorLogs::new(ErrorSource::CapsuleTraceIds);
        for c in capsules {
            for s in &c.samples {
                out.observe_log(s.severity, s.trace_id.as_deref(), None);
            }
        }
        out
    }

    /// Error logs from a store: its `raw_events` archive when that holds logs (complete), else
    /// the samples of its `capsules` (partial). The archive's logs are streamed batch by batch
    /// (a `kind = 'log'` filter in SQL): memory follows the error logs' ids, not the archive.
    pub async fn from_store(store: &Store) -> Result<Self, AdvisorError> {
        let mut raw = ErrorLogs::new(ErrorSource::LogTraceIds);
        if !store.list_files(Table::RawEvents).await?.is_empty() {
            raw.observe_archive(store).await?;
        }
        if raw.linked > 0 {
            return Ok(raw);
        }
        Ok(ErrorLogs::from_capsules(&store.read_capsules(None).await?))
    }

    /// Observes the logs of the store's `raw_events` archive, streamed.
    async fn observe_archive(&mut self, store: &Store) -> Result<(), AdvisorError> {
        let catalog = slo_storage::catalog::Catalog::open(store, None)?;
        let sql =
            format!("SELECT event FROM raw_events WHERE kind = {}", crate::sql::sql_quote(EventKind::Log.as_str()));
        let mut logs = catalog.query_stream(&sql).await?;
        while let Some(batch) = futures::StreamExt::next(&mut logs).await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(e) => {
                    // name the damaged files, as reading them one by one would
                    let bad = store.verify(Table::RawEvents).await.unwrap_or_default();
                    let why = if bad.is_empty() {
                        e.to_string()
                    } else {
                        bad.iter().map(|(path, why)| format!("{path}: {why}")).collect::<Vec<_>>().join("; ")
                    };
                    return Err(slo_storage::StorageError::Sql(format!("reading the raw_events archive: {why}")).into());
                }
            };
            let event = string_col(&batch, "event")?;
            for i in 0..batch.num_rows() {
                let e: LinkedLog = serde_json::from_str(event.value(i)).map_err(|err| {
                    slo_storage::StorageError::Schema(format!(
                        "raw_events: event column is not a telemetry event: {err}"
                    ))
                })?;
                self.observe_log(e.severity, e.trace_id.as_deref(), e.span_id.as_deref());
            }
        }
        Ok(())
    }

    /// Where the ids came from.
    pub fn source(&self) -> ErrorSource {
        self.source
    }

    /// Logs (or samples) seen that carry a trace id.
    pub fn linked_logs(&self) -> u64 {
        self.linked
    }

    /// Traces with at least one error log.
    pub fn failed_traces(&self) -> usize {
        self.traces.len()
    }

    /// Whether the logs can decide anything: at least one log carried a trace id.
    pub fn usable(&self) -> bool {
        self.linked > 0
    }

    /// The trace ids that an error log carries.
    pub fn failed_trace_ids(&self) -> impl Iterator<Item = &str> {
        self.traces.iter().map(String::as_str)
    }

    /// The `(trace id, span id)` pairs that an error log carries.
    pub fn failed_span_ids(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|(t, s)| (t.as_str(), s.as_str()))
    }

    /// Whether an error log carries this trace id.
    pub fn trace_failed(&self, trace_id: &str) -> bool {
        self.traces.contains(trace_id)
    }

    /// Whether an error log carries this span id (in this trace).
    pub fn span_failed(&self, trace_id: &str, span_id: &str) -> bool {
        self.spans.contains(&(trace_id.to_string(), span_id.to_string()))
    }
}

/// The fields of an archived event that link it to a trace.
#[derive(Deserialize)]
struct LinkedLog {
    severity: Option<Severity>,
    trace_id: Option<String>,
    span_id: Option<String>,
}

fn string_col(batch: &arrow::array::RecordBatch, name: &str) -> Result<arrow::array::StringArray, AdvisorError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| slo_storage::StorageError::Schema(format!("raw_events: column {name} missing")))?;
    let cast = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)?;
    cast.as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .cloned()
        .ok_or_else(|| slo_storage::StorageError::Schema(format!("raw_events: column {name} is not text")).into())
}

/// A span field a rule can test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    DurationMs,
    Operation,
    Service,
    Route,
}

/// A rule comparison.
#[derive(Clone, Debug)]
enum Test {
    Num(NumOp, f64),
    Equals(bool, String),
    Regex(bool, regex::Regex),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Clone, Debug)]
struct Condition {
    field: Field,
    test: Test,
}

impl Condition {
    fn matches(&self, s: &Span) -> bool {
        match &self.test {
            Test::Num(op, v) => {
                let d = s.duration_us as f64 / 1000.0;
                match op {
                    NumOp::Gt => d > *v,
                    NumOp::Ge => d >= *v,
                    NumOp::Lt => d < *v,
                    NumOp::Le => d <= *v,
                    NumOp::Eq => d == *v,
                    NumOp::Ne => d != *v,
                }
            }
            Test::Equals(want, v) => self.text(s).is_some_and(|t| t == v) == *want,
            Test::Regex(want, re) => self.text(s).is_some_and(|t| re.is_match(t)) == *want,
        }
    }

    /// The condition in SQL over the span columns of [`ErrorRule::to_sql`].
    fn to_sql(&self) -> String {
        let column = match self.field {
            Field::Operation => "operation",
            Field::Service => "service",
            Field::Route => "http_route",
            Field::DurationMs => "duration_us",
        };
        // a missing text (a span without a route) matches only the negated tests, as in `matches`
        let text_test = |matched: String, want: bool| {
            let m = format!("COALESCE({matched}, FALSE)");
            if want {
                m
            } else {
                format!("NOT {m}")
            }
        };
        match &self.test {
            Test::Num(op, v) => {
                let op = match op {
                    NumOp::Gt => ">",
                    NumOp::Ge => ">=",
                    NumOp::Lt => "<",
                    NumOp::Le => "<=",
                    NumOp::Eq => "=",
                    NumOp::Ne => "<>",
                };
                format!("(CAST(CASE WHEN duration_us > 0 THEN duration_us ELSE 0 END AS DOUBLE) / 1000.0 {op} CAST({v:?} AS DOUBLE))")
            }
            Test::Equals(want, v) => text_test(format!("{column} = {}", crate::sql::sql_quote(v)), *want),
            // `regexp_match`, not `regexp_like`/`~`: DataFusion's optimizer lowers literal `~`
            // patterns to LIKE, where a backslash is an escape character
            Test::Regex(want, re) => {
                text_test(format!("regexp_match({column}, {}) IS NOT NULL", crate::sql::sql_quote(re.as_str())), *want)
            }
        }
    }

    fn text<'a>(&self, s: &'a Span) -> Option<&'a str> {
        match self.field {
            Field::Operation => Some(&s.operation),
            Field::Service => Some(&s.service),
            Field::Route => s.http_route.as_deref(),
            Field::DurationMs => None,
        }
    }
}

/// A configured error rule (syntax in the [module docs](self)): alternatives (`||`) of
/// conjunctions (`&&`) of conditions on a span.
#[derive(Clone, Debug)]
pub struct ErrorRule {
    text: String,
    any_of: Vec<Vec<Condition>>,
}

impl ErrorRule {
    /// Whether the rule marks `span` failed.
    pub fn matches(&self, span: &Span) -> bool {
        self.any_of.iter().any(|all| all.iter().all(|c| c.matches(span)))
    }

    /// The rule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The rule as a SQL boolean expression over the span columns `duration_us` (µs),
    /// `operation`, `service` and `http_route` (text), with the verdicts of
    /// [`ErrorRule::matches`]: DataFusion's `regexp_match` uses the same regex engine.
    pub fn to_sql(&self) -> String {
        let any: Vec<String> = self
            .any_of
            .iter()
            .map(|all| format!("({})", all.iter().map(Condition::to_sql).collect::<Vec<_>>().join(" AND ")))
            .collect();
        format!("({})", any.join(" OR "))
    }
}

impl fmt::Display for ErrorRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for ErrorRule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for ErrorRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ErrorRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn parse_condition(rule: &str, text: &str) -> Result<Condition, AdvisorError> {
    let bad = |reason: String| AdvisorError::ErrorRule { rule: rule.to_string(), reason };
    let text = text.trim();
    let name_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')).unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    let field = match name {
        "duration_ms" => Field::DurationMs,
        "operation" | "op" => Field::Operation,
        "service" => Field::Service,
        "route" | "http_route" => Field::Route,
        "" => return Err(bad(format!("condition {text:?} does not start with a field"))),
        other => return Err(bad(format!("unknown field {other:?} (use duration_ms, operation, service or route)"))),
    };
    let rest = rest.trim_start();
    let op = ["~=", "=~", "!~", ">=", "<=", "==", "!=", ">", "<", "="]
        .into_iter()
        .find(|op| rest.starts_with(op))
        .ok_or_else(|| {
            bad(format!("condition {text:?}: expected an operator after {name} (>, >=, <, <=, ==, !=, ~=, !~)"))
        })?;
    let value = rest[op.len()..].trim();
    let value =
        ['\'', '"'].iter().find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q))).unwrap_or(value);
    if value.is_empty() {
        return Err(bad(format!("condition {text:?} has no value")));
    }
    let test = if field == Field::DurationMs {
        let v: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| bad(format!("duration_ms needs a number (finite), got {value:?}")))?;
        // -0 compares equal to 0 here but not in SQL's total order
        let v = v + 0.0;
        let op = match op {
            ">" => NumOp::Gt,
            ">=" => NumOp::Ge,
            "<" => NumOp::Lt,
            "<=" => NumOp::Le,
            "==" | "=" => NumOp::Eq,
            "!=" => NumOp::Ne,
            _ => return Err(bad(format!("duration_ms cannot use {op} (use >, >=, <, <=, ==, !=)"))),
        };
        Test::Num(op, v)
    } else {
        match op {
            "==" | "=" => Test::Equals(true, value.to_string()),
            "!=" => Test::Equals(false, value.to_string()),
            "~=" | "=~" | "!~" => {
                let re = regex::Regex::new(value).map_err(|e| bad(format!("regex {value:?}: {e}")))?;
                Test::Regex(op != "!~", re)
            }
            _ => return Err(bad(format!("{name} is text: use ==, !=, ~= or !~, not {op}"))),
        }
    };
    Ok(Condition { field, test })
}

impl FromStr for ErrorRule {
    type Err = AdvisorError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let any_of = text
            .split("||")
            .map(|alt| alt.split("&&").map(|c| parse_condition(text, c)).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ErrorRule { text: text.trim().to_string(), any_of })
    }
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FallbackReport {
    /// Spans that carried no status (span or HTTP).
    pub spans_without_status: usize,
    /// Of those, the spans now decided by the rule or the logs.
    pub decided: usize,
    /// Of those, the spans now marked failed.
    pub failed: usize,
    /// The source used ([`ErrorSource::Rule`], [`ErrorSource::LogTraceIds`],
    /// [`ErrorSource::CapsuleTraceIds`]), or [`ErrorSource::None`] when no fallback applied.
    pub source: ErrorSource,
    /// The rule, when one decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Logs (or capsule samples) seen that carry a trace id, when the logs decided.
    pub linked_logs: u64,
    /// Traces with an error log, when the logs decided.
    pub failed_traces: usize,
}

/// Whether any span carries no error signal (so [`apply`] has something to do).
pub fn needs_fallback(spans: &[Span]) -> bool {
    spans.iter().any(|s| s.error_source == ErrorSource::None)
}

/// Decides the spans without a status by `rule` if given, else by `logs` if they are
/// [usable](ErrorLogs::usable); spans with a status are left alone. See the
/// [module docs](self) for how logs link to spans.
pub fn apply(spans: &mut [Span], rule: Option<&ErrorRule>, logs: Option<&ErrorLogs>) -> FallbackReport {
    let mut report = FallbackReport {
        spans_without_status: spans.iter().filter(|s| s.error_source == ErrorSource::None).count(),
        ..Default::default()
    };
    if report.spans_without_status == 0 {
        return report;
    }
    if let Some(rule) = rule {
        report.source = ErrorSource::Rule;
        report.rule = Some(rule.to_string());
        for s in spans.iter_mut().filter(|s| s.error_source == ErrorSource::None) {
            s.error = rule.matches(s);
            s.error_source = ErrorSource::Rule;
            report.decided += 1;
            report.failed += usize::from(s.error);
        }
    } else if let Some(logs) = logs.filter(|l| l.usable()) {
        report.source = logs.source();
        report.linked_logs = logs.linked_logs();
        report.failed_traces = logs.failed_traces();
        let ids: HashSet<(&str, &str)> = spans.iter().map(|s| (s.trace_id.as_str(), s.span_id.as_str())).collect();
        let roots: Vec<bool> = spans
            .iter()
            .map(|s| s.parent.as_deref().is_none_or(|p| !ids.contains(&(s.trace_id.as_str(), p))))
            .collect();
        drop(ids);
        for (s, root) in spans.iter_mut().zip(roots) {
            if s.error_source != ErrorSource::None {
                continue;
            }
            s.error = if root { logs.trace_failed(&s.trace_id) } else { logs.span_failed(&s.trace_id, &s.span_id) };
            s.error_source = logs.source();
            report.decided += 1;
            report.failed += usize::from(s.error);
        }
    }
    tracing::info!(
        without_status = report.spans_without_status,
        decided = report.decided,
        failed = report.failed,
        source = report.source.as_str(),
        "error-signal fallback"
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ErrorRule::to_sql` run by DataFusion gives `ErrorRule::matches`' verdicts.
    #[tokio::test]
    async fn rules_in_sql_decide_as_in_rust() {
        use arrow::array::{Int64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use std::sync::Arc;
        let span = |op: &str, service: &str, route: Option<&str>, duration_us: u64| Span {
            trace_id: "t".into(),
            span_id: "s".into(),
            parent: None,
            service: service.into(),
            operation: op.into(),
            start_ms: 0,
            duration_us,
            error: false,
            error_source: ErrorSource::None,
            http_route: route.map(str::to_string),
        };
        let spans = [
            span("GET /cart", "frontend", Some("/cart"), 0),
            span(r"a\b", "cart", None, 150_000),
            span("ab", "cart", Some("/cart/x"), 5_000_001),
            span("PaymentError", "payment", None, 999),
            span("POST /login", "auth", Some("/login"), 300_000),
            span("x%y_z", "svc's", Some(""), 1),
        ];
        let rules = [
            "duration_ms > 150",
            "duration_ms >= 150 && duration_ms <= 5000",
            "duration_ms == -0 || duration_ms != 0.999",
            "op ~= 'a\\\\b'",
            "op ~= ab && route !~ cart",
            "route == /cart || route != /login && service == cart",
            "op ~= ^POST || service == \"svc's\"",
            "op ~= x%y_z || route ~= ^$",
            "op !~ Error && duration_ms < 1",
        ];
        let dir = tempfile::tempdir().unwrap();
        let store = slo_storage::Store::open(dir.path().to_str().unwrap()).unwrap();
        let catalog = slo_storage::catalog::Catalog::open(&store, None).unwrap();
        let schema = Schema::new(vec![
            Field::new("idx", DataType::Int64, false),
            Field::new("duration_us", DataType::Int64, false),
            Field::new("operation", DataType::Utf8, false),
            Field::new("service", DataType::Utf8, false),
            Field::new("http_route", DataType::Utf8, true),
        ]);
        let batch = arrow::array::RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..spans.len() as i64)),
                Arc::new(Int64Array::from_iter_values(spans.iter().map(|s| s.duration_us as i64))),
                Arc::new(StringArray::from_iter_values(spans.iter().map(|s| s.operation.clone()))),
                Arc::new(StringArray::from_iter_values(spans.iter().map(|s| s.service.clone()))),
                Arc::new(StringArray::from_iter(spans.iter().map(|s| s.http_route.clone()))),
            ],
        )
        .unwrap();
        catalog.register_batches("t", vec![batch]).unwrap();
        for text in rules {
            let rule: ErrorRule = text.parse().unwrap();
            let sql = format!("SELECT idx, {} AS m FROM t ORDER BY idx", rule.to_sql());
            let got: Vec<bool> = catalog
                .query(&sql)
                .await
                .unwrap()
                .iter()
                .flat_map(|b| {
                    b.column_by_name("m")
                        .unwrap()
                        .as_any()
                        .downcast_ref::<arrow::array::BooleanArray>()
                        .unwrap()
                        .iter()
                        .collect::<Vec<_>>()
                })
                .map(|v| v.expect("a verdict, never NULL"))
                .collect();
            let want: Vec<bool> = spans.iter().map(|s| rule.matches(s)).collect();
            assert_eq!(got, want, "{text}: {}", rule.to_sql());
        }
        assert!("duration_ms > inf".parse::<ErrorRule>().is_err());
        assert!("duration_ms > NaN".parse::<ErrorRule>().is_err());
    }
    use crate::analyze::{analyze, AnalyzeConfig};
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    /// The generated sample's spans with every span and HTTP status removed.
    fn without_status(events: &[TelemetryEvent]) -> Vec<Span> {
        let stripped: Vec<TelemetryEvent> = events
            .iter()
            .cloned()
            .map(|mut e| {
                e.status = None;
                e.http_status = None;
                e
            })
            .collect();
        let spans = from_events(&stripped);
        assert!(spans.iter().all(|s| s.error_source == ErrorSource::None && !s.error));
        spans
    }

    /// A frontend capsule whose samples are `logs`.
    fn capsule_of(logs: &[&TelemetryEvent]) -> Capsule {
        Capsule {
            fingerprint: "f".into(),
            template: "request <*> failed with status <*> after <*> ms".into(),
            service: "frontend".into(),
            environment: "prod".into(),
            window_start_ms: 0,
            window_end_ms: 3_600_000,
            count: logs.len() as u64,
            severity_counts: [("ERROR".to_string(), logs.len() as u64)].into(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            samples: logs
                .iter()
                .map(|e| slo_dataflow::event::CapsuleSample {
                    event_id: e.event_id.clone(),
                    timestamp_ms: e.timestamp_ms,
                    body: e.body.clone(),
                    trace_id: e.trace_id.clone(),
                    severity: e.severity,
                })
                .collect(),
            redaction_applied: false,
            redaction_counts: Default::default(),
            embedding: None,
        }
    }

    fn span(op: &str, ms: u64) -> Span {
        Span {
            trace_id: "t".into(),
            span_id: "s".into(),
            parent: None,
            service: "frontend".into(),
            operation: op.into(),
            start_ms: 0,
            duration_us: ms * 1000,
            error: false,
            error_source: ErrorSource::None,
            http_route: None,
        }
    }

    #[test]
    fn error_logs_recover_the_failed_requests_of_status_less_spans() {
        let (events, truth) = generate(&SyntheticConfig { requests: 5_000, ..Default::default() });
        let with_status = analyze(&from_events(&events), &AnalyzeConfig::default());
        let mut spans = without_status(&events);
        let blind = analyze(&spans, &AnalyzeConfig::default());
        assert!(blind.slis.iter().all(|s| s.errors == 0 && s.error_source == ErrorSource::None));

        let logs = ErrorLogs::from_events(&events);
        assert!(logs.usable());
        let report = apply(&mut spans, None, Some(&logs));
        assert_eq!(report.source, ErrorSource::LogTraceIds);
        assert_eq!(report.decided, spans.len());
        let a = analyze(&spans, &AnalyzeConfig::default());
        assert_eq!(a.journeys.len(), 5);
        let truth_errors: u64 = truth.journeys.values().map(|(_, e)| e).sum();
        assert!(truth_errors > 20, "the sample must hold failures to recover");
        for (s, w) in a.slis.iter().zip(&with_status.slis) {
            assert_eq!(s.journey, w.journey);
            assert_eq!(s.error_source, ErrorSource::LogTraceIds, "{}", s.journey);
            // Every failed request (by span status) has an error log and no other does.
            assert_eq!((s.requests, s.errors), (w.requests, w.errors), "{}", s.journey);
        }
        assert_eq!(a.slis.iter().map(|s| s.errors).sum::<u64>(), truth_errors);
        // Child spans fail only where an error log names them: the payment / auth calls.
        let failed_children: Vec<&Span> = spans.iter().filter(|s| s.parent.is_some() && s.error).collect();
        assert!(!failed_children.is_empty());
        assert!(
            failed_children.iter().all(|s| s.service == "payment" || s.service == "auth"),
            "{:?}",
            failed_children.first()
        );
    }

    #[test]
    fn capsule_samples_give_a_lower_bound_and_say_so() {
        let (events, truth) = generate(&SyntheticConfig { requests: 3_000, ..Default::default() });
        let mut spans = without_status(&events);
        // A capsule keeps a few samples of its events: here three of the frontend's error logs.
        let errors: Vec<&TelemetryEvent> = events
            .iter()
            .filter(|e| e.kind == EventKind::Log && is_error(e.severity) && e.service == "frontend")
            .take(3)
            .collect();
        let logs = ErrorLogs::from_capsules(&[capsule_of(&errors)]);
        assert_eq!(logs.failed_traces(), 3);
        let report = apply(&mut spans, None, Some(&logs));
        assert_eq!(report.source, ErrorSource::CapsuleTraceIds);
        let a = analyze(&spans, &AnalyzeConfig::default());
        let errors: u64 = a.slis.iter().map(|s| s.errors).sum();
        assert_eq!(errors, 3);
        assert!(errors < truth.journeys.values().map(|(_, e)| e).sum::<u64>());
        assert!(a.slis.iter().all(|s| s.error_source == ErrorSource::CapsuleTraceIds));
    }

    #[test]
    fn logs_without_trace_ids_decide_nothing() {
        let (events, _) = generate(&SyntheticConfig { requests: 200, ..Default::default() });
        let mut spans = without_status(&events);
        let untraced: Vec<TelemetryEvent> = events
            .iter()
            .filter(|e| e.kind == EventKind::Log)
            .cloned()
            .map(|mut e| {
                e.trace_id = None;
                e
            })
            .collect();
        let logs = ErrorLogs::from_events(&untraced);
        assert!(!logs.usable());
        let report = apply(&mut spans, None, Some(&logs));
        assert_eq!((report.decided, report.source), (0, ErrorSource::None));
        assert!(spans.iter().all(|s| s.error_source == ErrorSource::None));
    }

    #[test]
    fn a_rule_decides_status_less_spans_and_leaves_statuses_alone() {
        let (events, _) = generate(&SyntheticConfig { requests: 3_000, ..Default::default() });
        let mut spans = without_status(&events);
        let rule: ErrorRule =
            "duration_ms > 400 && route ~= '^/cart' || op == 'POST /login' && duration_ms>=300".parse().unwrap();
        let expected: u64 = spans
            .iter()
            .filter(|s| s.parent.is_none())
            .filter(|s| {
                let ms = s.duration_us as f64 / 1000.0;
                (ms > 400.0 && s.http_route.as_deref().is_some_and(|r| r.starts_with("/cart")))
                    || (s.operation == "POST /login" && ms >= 300.0)
            })
            .count() as u64;
        assert!(expected > 0);
        let report = apply(&mut spans, Some(&rule), Some(&ErrorLogs::from_events(&events)));
        assert_eq!(report.source, ErrorSource::Rule, "a configured rule wins over the logs");
        let a = analyze(&spans, &AnalyzeConfig::default());
        assert_eq!(a.slis.iter().map(|s| s.errors).sum::<u64>(), expected);
        assert!(a.slis.iter().all(|s| s.error_source == ErrorSource::Rule));
        let browse = a.slis.iter().find(|s| s.journey.contains("GET /")).unwrap();
        assert_eq!(browse.errors, 0);

        // Spans with a status keep it.
        let mut with_status = from_events(&events);
        let before = with_status.clone();
        let report = apply(&mut with_status, Some(&rule), None);
        assert_eq!((report.spans_without_status, report.decided), (0, 0));
        assert_eq!(with_status, before);
    }

    #[test]
    fn rules_parse_and_match() {
        let r: ErrorRule = "op ~= .*Error.*".parse().unwrap();
        assert!(r.matches(&span("PaymentError", 1)));
        assert!(!r.matches(&span("Charge", 1)));
        let r: ErrorRule = "operation !~ ^GET && duration_ms<=10".parse().unwrap();
        assert!(r.matches(&span("POST /x", 10)));
        assert!(!r.matches(&span("POST /x", 11)));
        assert!(!r.matches(&span("GET /x", 1)));
        let r: ErrorRule = "route != /health".parse().unwrap();
        assert!(r.matches(&span("x", 1)), "a span without a route is not /health");
        let r: ErrorRule = "route == /health".parse().unwrap();
        assert!(!r.matches(&span("x", 1)));
        let r: ErrorRule = "service == \"frontend\"".parse().unwrap();
        assert!(r.matches(&span("x", 1)));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"service == \\\"frontend\\\"\"");
        assert_eq!(serde_json::from_str::<ErrorRule>(&json).unwrap(), r);
        for (bad, needle) in [
            ("attr:http.status_code>=500", "unknown field"),
            ("duration_ms > slow", "needs a number"),
            ("duration_ms > inf", "needs a number"),
            ("duration_ms ~= 5", "cannot use"),
            ("operation > 5", "is text"),
            ("op ~= (", "regex"),
            ("duration_ms", "expected an operator"),
            ("op ==", "no value"),
            ("duration_ms > 1 || ", "does not start with a field"),
        ] {
            let e = bad.parse::<ErrorRule>().unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains(bad.trim()), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn the_store_gives_raw_logs_else_capsule_samples() {
        let (events, truth) = generate(&SyntheticConfig { requests: 400, ..Default::default() });
        let truth_errors: u64 = truth.journeys.values().map(|(_, e)| e).sum();
        assert!(truth_errors > 0);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        // Nothing stored: no usable logs.
        assert!(!ErrorLogs::from_store(&store).await.unwrap().usable());
        // Capsules only: their error samples.
        let err = events.iter().find(|e| e.kind == EventKind::Log && is_error(e.severity)).unwrap();
        store.write_capsules(&[capsule_of(&[err])]).await.unwrap();
        let logs = ErrorLogs::from_store(&store).await.unwrap();
        assert_eq!((logs.source(), logs.failed_traces()), (ErrorSource::CapsuleTraceIds, 1));
        // With the raw archive: every error log.
        store.write_events(&events, true).await.unwrap();
        let logs = ErrorLogs::from_store(&store).await.unwrap();
        assert_eq!(logs.source(), ErrorSource::LogTraceIds);
        assert_eq!(logs.failed_traces() as u64, truth_errors);
    }
}
