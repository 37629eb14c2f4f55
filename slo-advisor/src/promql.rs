//! PromQL for every SLI under a configurable metric convention.
//!
//! Two conventions are built in:
//!
//! - [`MetricConvention::otel_http`] (default): the OpenTelemetry semantic-convention histogram
//!   `http.server.request.duration` (seconds) as Prometheus exposes it —
//!   `http_server_request_duration_seconds_bucket` / `_count`, labels `http_route`,
//!   `http_response_status_code`, service in `job`.
//! - [`MetricConvention::spanmetrics`]: the OpenTelemetry Collector spanmetrics connector —
//!   `traces_spanmetrics_calls_total`, `traces_spanmetrics_latency_bucket` (milliseconds),
//!   labels `span_name`, `status_code` (`STATUS_CODE_ERROR`), `service_name`.
//!
//! Every field can be overridden (metric names, labels, error matcher, unit, window). Latency
//! queries return milliseconds.

use serde::{Deserialize, Serialize};

use slo_artifacts::escape_label_value;

use crate::journeys::Journey;

/// How request metrics are named and labelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricConvention {
    /// Name of the convention (`otel-http`, `spanmetrics`, or your own).
    pub name: String,
    /// Request counter (a histogram's `_count` or a calls counter).
    pub count_metric: String,
    /// Latency histogram buckets (with an `le` label).
    pub bucket_metric: String,
    /// Label that identifies the journey's entry (`http_route`, `span_name`).
    pub entry_label: String,
    /// Label that carries the service name (`job`, `service_name`); empty: no service matcher.
    pub service_label: String,
    /// Label that says whether a request failed.
    pub error_label: String,
    /// Matcher operator and value for failures, e.g. `=~"5.."`.
    pub error_matcher: String,
    /// Whether histogram buckets are in seconds (queries convert to ms) rather than ms.
    pub seconds: bool,
    /// Extra matchers added to every selector (e.g. `span_kind="SPAN_KIND_SERVER"`); may be empty.
    pub extra_matchers: String,
    /// Rate window, e.g. `5m`.
    pub window: String,
}

impl Default for MetricConvention {
    fn default() -> Self {
        MetricConvention::otel_http()
    }
}

impl MetricConvention {
    /// OpenTelemetry `http.server.request.duration` (the default).
    pub fn otel_http() -> Self {
        MetricConvention {
            name: "otel-http".into(),
            count_metric: "http_server_request_duration_seconds_count".into(),
            bucket_metric: "http_server_request_duration_seconds_bucket".into(),
            entry_label: "http_route".into(),
            service_label: "job".into(),
            error_label: "http_response_status_code".into(),
            error_matcher: "=~\"5..\"".into(),
            seconds: true,
            extra_matchers: String::new(),
            window: "5m".into(),
        }
    }

    /// OpenTelemetry Collector spanmetrics connector.
    pub fn spanmetrics() -> Self {
        MetricConvention {
            name: "spanmetrics".into(),
            count_metric: "traces_spanmetrics_calls_total".into(),
            bucket_metric: "traces_spanmetrics_latency_bucket".into(),
            entry_label: "span_name".into(),
            service_label: "service_name".into(),
            error_label: "status_code".into(),
            error_matcher: "=\"STATUS_CODE_ERROR\"".into(),
            seconds: false,
            extra_matchers: String::new(),
            window: "5m".into(),
        }
    }

    /// A built-in convention by name (`otel-http`/`otel`, `spanmetrics`).
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "otel-http" | "otel" | "http" => Some(Self::otel_http()),
            "spanmetrics" | "span-metrics" => Some(Self::spanmetrics()),
            _ => None,
        }
    }

    /// The value of the entry label for a journey: its HTTP route under a convention keyed by
    /// `http_route` when the spans carried one, else its entry operation.
    pub fn entry_value<'j>(&self, j: &'j Journey) -> &'j str {
        match (&j.http_route, self.entry_label.as_str()) {
            (Some(r), "http_route") => r,
            _ => &j.entry_operation,
        }
    }
}

/// The PromQL of one journey's SLIs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliQueries {
    /// Journey name.
    pub journey: String,
    /// Convention name.
    pub convention: String,
    /// The label selector used (without braces).
    pub selector: String,
    /// Requests per second.
    pub throughput: String,
    /// Failed / all requests.
    pub error_ratio: String,
    /// `1 - error_ratio`.
    pub availability: String,
    /// Latency percentiles in ms: `(name, query)` for p50, p90, p95, p99, p99.9.
    pub latency: Vec<(String, String)>,
    /// Why the queries may not measure exactly this journey, when they may not.
    pub caveat: Option<String>,
}

/// Builds the queries for a journey.
pub fn queries(conv: &MetricConvention, j: &Journey) -> SliQueries {
    let mut matchers = vec![format!("{}=\"{}\"", conv.entry_label, escape_label_value(conv.entry_value(j)))];
    if !conv.service_label.is_empty() {
        matchers.push(format!("{}=\"{}\"", conv.service_label, escape_label_value(&j.entry_service)));
    }
    if !conv.extra_matchers.trim().is_empty() {
        matchers.push(conv.extra_matchers.trim().trim_matches(',').to_string());
    }
    let selector = matchers.join(", ");
    let w = &conv.window;
    let total = format!("sum(rate({}{{{selector}}}[{w}]))", conv.count_metric);
    let errors =
        format!("sum(rate({}{{{selector}, {}{}}}[{w}]))", conv.count_metric, conv.error_label, conv.error_matcher);
    let error_ratio = format!("{errors} / {total}");
    let scale = if conv.seconds { "1000 * " } else { "" };
    let latency = [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999)]
        .iter()
        .map(|(name, q)| {
            (
                name.to_string(),
                format!(
                    "{scale}histogram_quantile({q}, sum by (le) (rate({}{{{selector}}}[{w}])))",
                    conv.bucket_metric
                ),
            )
        })
        .collect();
    let caveat = (!j.signature.is_empty()).then(|| {
        format!(
            "journey defined by the operations under the generic root {:?}; metrics keyed by {} cannot isolate it, so these queries cover every request of that root (add a request-type attribute to the metric to separate it)",
            j.entry_operation, conv.entry_label
        )
    });
    SliQueries {
        journey: j.name.clone(),
        convention: conv.name.clone(),
        selector,
        throughput: total,
        availability: format!("1 - ({error_ratio})"),
        error_ratio,
        latency,
        caveat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spans::ErrorSource;

    fn journey(route: Option<&str>, op: &str, signature: Vec<String>) -> Journey {
        Journey {
            name: "checkout".into(),
            entry_service: "frontend".into(),
            entry_operation: op.into(),
            signature,
            http_route: route.map(str::to_string),
            requests: 1,
            errors: 0,
            error_ratio: 0.0,
            p50_ms: 1.0,
            p95_ms: 1.0,
            p99_ms: 1.0,
            fan_out: 1.0,
            services: vec![],
            error_source: ErrorSource::SpanStatus,
            criticality: 1.0,
            rank: 1,
            sample_trace_ids: vec![],
        }
    }

    #[test]
    fn otel_http_queries() {
        let q =
            queries(&MetricConvention::otel_http(), &journey(Some("/cart/checkout"), "POST /cart/checkout", vec![]));
        assert_eq!(q.selector, r#"http_route="/cart/checkout", job="frontend""#);
        assert_eq!(
            q.throughput,
            r#"sum(rate(http_server_request_duration_seconds_count{http_route="/cart/checkout", job="frontend"}[5m]))"#
        );
        assert_eq!(
            q.error_ratio,
            r#"sum(rate(http_server_request_duration_seconds_count{http_route="/cart/checkout", job="frontend", http_response_status_code=~"5.."}[5m])) / sum(rate(http_server_request_duration_seconds_count{http_route="/cart/checkout", job="frontend"}[5m]))"#
        );
        assert!(q.availability.starts_with("1 - (sum(rate("));
        assert_eq!(q.latency.len(), 5);
        assert_eq!(
            q.latency[2].1,
            r#"1000 * histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket{http_route="/cart/checkout", job="frontend"}[5m])))"#
        );
        assert_eq!(q.latency[4].0, "p99.9");
        assert!(q.latency[4].1.contains("histogram_quantile(0.999,"));
        assert!(q.caveat.is_none());
    }

    #[test]
    fn spanmetrics_queries_escape_and_warn_on_generic_roots() {
        let mut conv = MetricConvention::by_name("spanmetrics").unwrap();
        conv.window = "1m".into();
        conv.extra_matchers = r#"span_kind="SPAN_KIND_SERVER""#.into();
        let q = queries(&conv, &journey(None, "hipstershop.Frontend/Recv. \"x\"", vec!["a".into()]));
        assert_eq!(
            q.selector,
            r#"span_name="hipstershop.Frontend/Recv. \"x\"", service_name="frontend", span_kind="SPAN_KIND_SERVER""#
        );
        assert!(q.error_ratio.contains(r#"status_code="STATUS_CODE_ERROR"}[1m]"#));
        assert!(q.error_ratio.starts_with("sum(rate(traces_spanmetrics_calls_total{"));
        assert_eq!(
            q.latency[0].1,
            r#"histogram_quantile(0.5, sum by (le) (rate(traces_spanmetrics_latency_bucket{span_name="hipstershop.Frontend/Recv. \"x\"", service_name="frontend", span_kind="SPAN_KIND_SERVER"}[1m])))"#
        );
        assert!(q.caveat.is_some());
        assert_eq!(escape_label_value("a\\b\nc"), "a\\\\b\\nc");
        assert!(MetricConvention::by_name("nope").is_none());
        // Without an http_route the otel convention falls back to the operation.
        let q = queries(&MetricConvention::otel_http(), &journey(None, "GET /x", vec![]));
        assert!(q.selector.starts_with(r#"http_route="GET /x""#));
    }
}
