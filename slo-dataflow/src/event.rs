//! The event model: what flows into the pipeline ([`TelemetryEvent`]) and what comes out of it
//! ([`Capsule`]), plus the intermediate records the operators pass along.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Event time in milliseconds since the Unix epoch (UTC). Also the timely timestamp type.
pub type EventTime = u64;

/// What kind of telemetry an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A log record.
    #[default]
    Log,
    /// A trace span.
    Span,
    /// A metric data point.
    Metric,
    /// A real-user-monitoring (browser/app) event.
    Rum,
}

impl EventKind {
    /// Lower-case name, as in the Avro enum and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Log => "log",
            EventKind::Span => "span",
            EventKind::Metric => "metric",
            EventKind::Rum => "rum",
        }
    }
}

/// Log severity, normalised from the many spellings found in the wild.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Finest-grained diagnostics.
    Trace,
    /// Debug diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// An operation failed.
    Error,
    /// The process or a component cannot continue.
    Fatal,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 6] =
        [Severity::Trace, Severity::Debug, Severity::Info, Severity::Warn, Severity::Error, Severity::Fatal];

    /// Upper-case name (`"INFO"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }

    /// Parses common spellings: `warning`, `W`, `err`, `critical`, `E`, syslog/OTLP names, ...
    pub fn parse(text: &str) -> Option<Severity> {
        let t = text.trim().trim_matches(|c| c == '[' || c == ']' || c == ':');
        let upper = t.to_ascii_uppercase();
        Some(match upper.as_str() {
            "TRACE" | "T" | "FINEST" | "FINER" | "V" | "VERBOSE" => Severity::Trace,
            "DEBUG" | "D" | "FINE" | "DBG" => Severity::Debug,
            "INFO" | "I" | "INFORMATION" | "NOTICE" | "INFORMATIONAL" => Severity::Info,
            "WARN" | "W" | "WARNING" => Severity::Warn,
            "ERROR" | "E" | "ERR" | "SEVERE" | "FAILURE" => Severity::Error,
            "FATAL" | "F" | "CRITICAL" | "CRIT" | "ALERT" | "EMERG" | "EMERGENCY" | "PANIC" => Severity::Fatal,
            _ => return None,
        })
    }

    /// Like [`Severity::parse`] but only for unambiguous full words (`ERROR`, `warn`, ...), not
    /// single letters: used to find a level inside free text.
    pub fn parse_strict(text: &str) -> Option<Severity> {
        let t = text.trim_matches(|c: char| !c.is_ascii_alphabetic());
        if t.len() < 4 {
            return None;
        }
        Severity::parse(t)
    }

    /// Maps an OTLP `severityNumber` (1..=24) onto a severity.
    pub fn from_otlp_number(n: i64) -> Option<Severity> {
        Some(match n {
            1..=4 => Severity::Trace,
            5..=8 => Severity::Debug,
            9..=12 => Severity::Info,
            13..=16 => Severity::Warn,
            17..=20 => Severity::Error,
            21..=24 => Severity::Fatal,
            _ => return None,
        })
    }
}

/// Outcome of a span (OTLP status code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanStatus {
    /// No status was set.
    Unset,
    /// The operation succeeded.
    Ok,
    /// The operation failed.
    Error,
}

/// One unit of raw telemetry: a log record, span, metric point or RUM event.
///
/// A flat record with optional fields rather than an enum per kind: it maps one-to-one onto the
/// Avro schema `schemas/TelemetryEvent.avsc`, and logs often carry span context (and spans carry
/// HTTP fields) anyway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TelemetryEvent {
    /// Unique id of the event (used for deterministic sampling and de-duplication).
    pub event_id: String,
    /// Emitting service (`service.name`).
    pub service: String,
    /// Deployment environment (`prod`, `staging`, ...).
    pub environment: String,
    /// Kind of telemetry.
    pub kind: EventKind,
    /// Event time, ms since the Unix epoch.
    pub timestamp_ms: EventTime,
    /// Severity, for logs.
    pub severity: Option<Severity>,
    /// Log message body (for spans, an optional description).
    pub body: String,
    /// Free-form attributes.
    pub attributes: BTreeMap<String, String>,
    /// Trace id (hex), when known.
    pub trace_id: Option<String>,
    /// Span id (hex), when known.
    pub span_id: Option<String>,
    /// Parent span id (hex); `None` for root spans.
    pub parent_span_id: Option<String>,
    /// Span operation name.
    pub operation: Option<String>,
    /// Span duration in microseconds.
    pub duration_us: Option<u64>,
    /// Span status.
    pub status: Option<SpanStatus>,
    /// HTTP request method.
    pub http_method: Option<String>,
    /// HTTP route template (`/api/orders/{id}`).
    pub http_route: Option<String>,
    /// HTTP response status code.
    pub http_status: Option<u16>,
    /// Metric name, for metric points.
    pub metric_name: Option<String>,
    /// Metric value, for metric points.
    pub metric_value: Option<f64>,
    /// Metric labels, for metric points.
    pub metric_labels: BTreeMap<String, String>,
}

impl TelemetryEvent {
    /// A log event with the given identity, time, severity and body.
    pub fn log(
        event_id: impl Into<String>,
        service: impl Into<String>,
        timestamp_ms: EventTime,
        severity: Option<Severity>,
        body: impl Into<String>,
    ) -> Self {
        TelemetryEvent {
            event_id: event_id.into(),
            service: service.into(),
            environment: "prod".into(),
            kind: EventKind::Log,
            timestamp_ms,
            severity,
            body: body.into(),
            ..Default::default()
        }
    }

    /// Whether the event signals a failure: error/fatal severity, span error status or HTTP 5xx.
    pub fn is_error(&self) -> bool {
        matches!(self.severity, Some(Severity::Error | Severity::Fatal))
            || self.status == Some(SpanStatus::Error)
            || self.http_status.is_some_and(|s| s >= 500)
    }

    /// The text the template miner sees: the body for logs, the operation (plus route) for spans,
    /// the metric name for metric points.
    pub fn mining_text(&self) -> &str {
        match self.kind {
            EventKind::Log | EventKind::Rum if !self.body.is_empty() => &self.body,
            EventKind::Metric => self.metric_name.as_deref().unwrap_or(&self.body),
            _ => self.operation.as_deref().or(self.http_route.as_deref()).unwrap_or(&self.body),
        }
    }
}

/// A telemetry event after the redaction operator: the body no longer carries PII.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedactedEvent {
    /// The event, with `body` and attributes redacted.
    pub event: TelemetryEvent,
    /// Number of redactions by entity type (`"EMAIL"` → 2).
    pub redactions: BTreeMap<String, u32>,
}

/// A redacted event with its log template and fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FingerprintedEvent {
    /// The redacted event.
    pub event: TelemetryEvent,
    /// Number of redactions by entity type.
    pub redactions: BTreeMap<String, u32>,
    /// SHA-256 of the template, hex.
    pub fingerprint: String,
    /// The template, variables shown as `<*>`.
    pub template: String,
}

/// One sampled example of a capsule's events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapsuleSample {
    /// Event id of the sample.
    pub event_id: String,
    /// Event time of the sample.
    pub timestamp_ms: EventTime,
    /// The redacted body.
    pub body: String,
    /// Trace id, when the event carried one (links a capsule to traces).
    pub trace_id: Option<String>,
    /// Severity of the sample.
    pub severity: Option<Severity>,
}

/// Maximum number of samples a capsule keeps.
pub const MAX_CAPSULE_SAMPLES: usize = 10;

/// The pipeline's output: all events of one template, service and environment within one
/// event-time window, summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capsule {
    /// SHA-256 of the template, hex.
    pub fingerprint: String,
    /// The template, variables shown as `<*>`.
    pub template: String,
    /// Emitting service.
    pub service: String,
    /// Deployment environment.
    pub environment: String,
    /// Inclusive window start, ms since epoch.
    pub window_start_ms: EventTime,
    /// Exclusive window end, ms since epoch.
    pub window_end_ms: EventTime,
    /// Number of events in the window.
    pub count: u64,
    /// Event counts by severity name (`"INFO"`, `"ERROR"`, ...; `"UNSET"` when absent).
    pub severity_counts: BTreeMap<String, u64>,
    /// Earliest event time seen.
    pub first_seen_ms: EventTime,
    /// Latest event time seen.
    pub last_seen_ms: EventTime,
    /// Up to [`MAX_CAPSULE_SAMPLES`] samples, chosen deterministically (bottom-k by hash of the
    /// event id), ordered by that hash.
    pub samples: Vec<CapsuleSample>,
    /// Whether any event in the capsule had something redacted.
    pub redaction_applied: bool,
    /// Redactions by entity type, summed over the window.
    pub redaction_counts: BTreeMap<String, u64>,
    /// Optional embedding of the template.
    pub embedding: Option<Vec<f32>>,
}

impl Capsule {
    /// Stable key of the capsule: `(fingerprint, service, environment, window start)`; writing the
    /// same key twice is an idempotent upsert.
    pub fn key(&self) -> (String, String, String, EventTime) {
        (self.fingerprint.clone(), self.service.clone(), self.environment.clone(), self.window_start_ms)
    }

    /// A compact id for the capsule key (hex of a 64-bit hash), used by stores and indexes.
    pub fn capsule_id(&self) -> String {
        let key = format!("{}|{}|{}|{}", self.fingerprint, self.service, self.environment, self.window_start_ms);
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
    }
}

/// An event that arrived after its window had closed; reported, never silently dropped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LateEvent {
    /// The event (redacted).
    pub event: FingerprintedEvent,
    /// Start of the window it belonged to.
    pub window_start_ms: EventTime,
    /// The watermark (timely time) at which it arrived.
    pub arrived_at_ms: EventTime,
}

/// One capsule offered as evidence: what an SRE (or a language model) needs to judge it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapsuleEvidence {
    /// Capsule id (join key into the `capsules` table).
    pub capsule_id: String,
    /// Cosine distance between the question and the template (`slo_storage::retrieval::retrieve`);
    /// 0 for capsules ranked without a question (`top_capsules`).
    pub distance: f32,
    /// Service.
    pub service: String,
    /// The template.
    pub template: String,
    /// Events in the window.
    pub count: u64,
    /// Events with severity ERROR or FATAL.
    pub errors: u64,
    /// Window start, ms.
    pub window_start_ms: EventTime,
    /// Window end, ms.
    pub window_end_ms: EventTime,
    /// Redacted samples (with trace ids where known).
    pub samples: Vec<CapsuleSample>,
}

impl CapsuleEvidence {
    /// The evidence of a capsule found at `distance` from a question (0 when ranked without one).
    pub fn from_capsule(c: &Capsule, distance: f32) -> Self {
        CapsuleEvidence {
            capsule_id: c.capsule_id(),
            distance,
            service: c.service.clone(),
            template: c.template.clone(),
            count: c.count,
            errors: c.severity_counts.get("ERROR").copied().unwrap_or(0)
                + c.severity_counts.get("FATAL").copied().unwrap_or(0),
            window_start_ms: c.window_start_ms,
            window_end_ms: c.window_end_ms,
            samples: c.samples.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_parsing_covers_common_spellings() {
        assert_eq!(Severity::parse("warning"), Some(Severity::Warn));
        assert_eq!(Severity::parse("[ERROR]"), Some(Severity::Error));
        assert_eq!(Severity::parse("E"), Some(Severity::Error));
        assert_eq!(Severity::parse("crit"), Some(Severity::Fatal));
        assert_eq!(Severity::parse("hello"), None);
        assert_eq!(Severity::from_otlp_number(9), Some(Severity::Info));
        assert_eq!(Severity::from_otlp_number(0), None);
    }

    #[test]
    fn error_detection_uses_all_signals() {
        let mut e = TelemetryEvent::log("1", "svc", 0, Some(Severity::Info), "ok");
        assert!(!e.is_error());
        e.http_status = Some(503);
        assert!(e.is_error());
        e.http_status = Some(404);
        e.status = Some(SpanStatus::Error);
        assert!(e.is_error());
    }

    #[test]
    fn capsule_id_is_stable_for_the_key() {
        let c = Capsule {
            fingerprint: "ab".into(),
            template: "t".into(),
            service: "s".into(),
            environment: "prod".into(),
            window_start_ms: 0,
            window_end_ms: 10,
            count: 1,
            severity_counts: BTreeMap::new(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            samples: vec![],
            redaction_applied: false,
            redaction_counts: BTreeMap::new(),
            embedding: None,
        };
        let mut d = c.clone();
        d.count = 99;
        assert_eq!(c.capsule_id(), d.capsule_id());
        d.window_start_ms = 10;
        assert_ne!(c.capsule_id(), d.capsule_id());
    }
}
