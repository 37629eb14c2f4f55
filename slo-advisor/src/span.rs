//! The span model the advisor works on: one [`Span`] per operation of a trace, with whether it
//! failed and which signal ([`ErrorSource`]) decided it. Readers live in [`crate::spans`]; the
//! error-signal fallback for spans without a status in [`crate::fallback`].

use serde::{Deserialize, Serialize};
use slo_dataflow::event::{EventKind, SpanStatus, TelemetryEvent};

/// Which signal decided whether a span failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ErrorSource {
    /// The span status (OTLP `STATUS_CODE_ERROR` is a failure; an HTTP 5xx on the same span
    /// also counts).
    SpanStatus,
    /// The HTTP response status (5xx is a failure); the span had no status.
    HttpStatus,
    /// Neither status: error logs (severity ERROR or worse) linked by trace id, from the same
    /// event files or the store's `raw_events` archive (see [`crate::fallback`]).
    LogTraceIds,
    /// Neither status: the trace ids of error samples in the store's capsules. Capsules keep a
    /// few samples per template and window, so the error count is a lower bound.
    CapsuleTraceIds,
    /// Neither status: a configured [`crate::fallback::ErrorRule`].
    Rule,
    /// No signal at all: the span never counts as failed.
    #[default]
    None,
}

impl ErrorSource {
    /// Snake-case name (`span_status`, `http_status`, `log_trace_ids`, `capsule_trace_ids`,
    /// `rule`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorSource::SpanStatus => "span_status",
            ErrorSource::HttpStatus => "http_status",
            ErrorSource::LogTraceIds => "log_trace_ids",
            ErrorSource::CapsuleTraceIds => "capsule_trace_ids",
            ErrorSource::Rule => "rule",
            ErrorSource::None => "none",
        }
    }
}

/// One span, reduced to what journey discovery and SLIs need.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// Trace id.
    pub trace_id: String,
    /// Span id.
    pub span_id: String,
    /// Parent span id; `None` for a root.
    pub parent: Option<String>,
    /// Service that emitted the span.
    pub service: String,
    /// Operation (span name).
    pub operation: String,
    /// Start time, ms since the Unix epoch.
    pub start_ms: u64,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// Whether the span failed, by [`Span::error_source`].
    pub error: bool,
    /// Which signal set [`Span::error`].
    pub error_source: ErrorSource,
    /// HTTP route template, when the span carried one (used for PromQL selectors).
    pub http_route: Option<String>,
}

/// Error flag and its source from a span status and an HTTP status.
pub fn error_signal(status: Option<SpanStatus>, http_status: Option<u16>) -> (bool, ErrorSource) {
    let http_failed = http_status.is_some_and(|s| s >= 500);
    match (status, http_status) {
        (Some(SpanStatus::Error), _) => (true, ErrorSource::SpanStatus),
        (Some(SpanStatus::Ok), _) => (http_failed, ErrorSource::SpanStatus),
        (Some(SpanStatus::Unset) | None, Some(_)) => (http_failed, ErrorSource::HttpStatus),
        (Some(SpanStatus::Unset), None) => (false, ErrorSource::SpanStatus),
        (None, None) => (false, ErrorSource::None),
    }
}

impl Span {
    /// The span of a span event; `None` for other kinds or spans without a trace id.
    pub fn from_event(e: &TelemetryEvent) -> Option<Span> {
        if e.kind != EventKind::Span {
            return None;
        }
        let trace_id = e.trace_id.clone().filter(|t| !t.is_empty())?;
        let (error, error_source) = error_signal(e.status, e.http_status);
        Some(Span {
            trace_id,
            span_id: e.span_id.clone().unwrap_or_else(|| e.event_id.clone()),
            parent: e.parent_span_id.clone().filter(|p| !p.is_empty()),
            service: e.service.clone(),
            operation: e.operation.clone().or_else(|| e.http_route.clone()).unwrap_or_else(|| e.body.clone()),
            start_ms: e.timestamp_ms,
            duration_us: e.duration_us.unwrap_or(0),
            error,
            error_source,
            http_route: e.http_route.clone(),
        })
    }
}
