//! The canonical SLO model every spec format is read into and every artifact is generated from.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use slo_dataflow::time::{parse_duration_ms, BareNumber};

use super::SpecError;

/// A Prometheus-style duration (`5m`, `1h`, `30d`, `4w`), whole seconds.
///
/// Formatting follows Prometheus' `model.Duration` (largest units first: `y`, `w`, `d`, `h`, `m`,
/// `s`), so rule names such as `slo:sli_error:ratio_rate4w` match what Sloth writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub u64);

impl PromDuration {
    /// A duration of `minutes` minutes.
    pub const fn minutes(minutes: u64) -> Self {
        PromDuration(minutes * 60)
    }
    /// A duration of `hours` hours.
    pub const fn hours(hours: u64) -> Self {
        PromDuration(hours * 3600)
    }
    /// A duration of `days` days.
    pub const fn days(days: u64) -> Self {
        PromDuration(days * 86_400)
    }
    /// Length in seconds.
    pub fn seconds(self) -> u64 {
        self.0
    }
    /// Length in (possibly fractional) days.
    pub fn as_days(self) -> f64 {
        self.0 as f64 / 86_400.0
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        // Years and weeks only when exact, as Prometheus does: `90d` reads better than `12w6d`.
        let units = [
            ("y", 365 * 86_400, true),
            ("w", 7 * 86_400, true),
            ("d", 86_400, false),
            ("h", 3600, false),
            ("m", 60, false),
            ("s", 1, false),
        ];
        let mut rest = self.0;
        for (unit, secs, exact) in units {
            if exact && !rest.is_multiple_of(secs) {
                continue;
            }
            if rest >= secs {
                write!(f, "{}{unit}", rest / secs)?;
                rest %= secs;
            }
        }
        Ok(())
    }
}

impl FromStr for PromDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ms = parse_duration_ms(s, BareNumber::Reject).map_err(|e| e.to_string())?;
        let s = s.trim();
        if ms % 1000.0 != 0.0 {
            return Err(format!("duration {s:?} must be whole seconds"));
        }
        if ms == 0.0 {
            return Err(format!("duration {s:?} must be positive"));
        }
        Ok(PromDuration((ms / 1000.0) as u64))
    }
}

/// Which spec format a service level was read from; it decides the `sloth_mode`/`sloth_spec`
/// labels and, for Kubernetes, that the output is a `PrometheusRule` object.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecSource {
    /// Sloth `prometheus/v1`.
    SlothV1,
    /// Sloth Kubernetes CRD `sloth.slok.dev/v1` `PrometheusServiceLevel`.
    Kubernetes {
        /// `metadata.name` of the CRD; the generated `PrometheusRule` keeps it.
        name: String,
        /// `metadata.namespace`, if set.
        namespace: Option<String>,
        /// `metadata.labels` of the CRD, copied to the `PrometheusRule`.
        labels: BTreeMap<String, String>,
    },
    /// OpenSLO `openslo/v1alpha`.
    OpenSloV1Alpha,
    /// OpenSLO `openslo/v1`.
    OpenSloV1,
}

impl SpecSource {
    /// Value of the `sloth_spec` info label.
    pub fn spec_label(&self) -> &'static str {
        match self {
            SpecSource::SlothV1 => "prometheus/v1",
            SpecSource::Kubernetes { .. } => "sloth.slok.dev/v1",
            SpecSource::OpenSloV1Alpha => "openslo/v1alpha",
            SpecSource::OpenSloV1 => "openslo/v1",
        }
    }
    /// Value of the `sloth_mode` info label.
    pub fn mode_label(&self) -> &'static str {
        match self {
            SpecSource::SlothV1 => "cli-gen-prom",
            SpecSource::Kubernetes { .. } => "cli-gen-k8s",
            SpecSource::OpenSloV1Alpha | SpecSource::OpenSloV1 => "cli-gen-openslo",
        }
    }
}

/// One service with its SLOs: the unit a spec document describes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLevel {
    /// Service name (`sloth_service`).
    pub service: String,
    /// Labels added to every rule of every SLO.
    pub labels: BTreeMap<String, String>,
    /// The SLOs.
    pub slos: Vec<Slo>,
    /// The format it was read from.
    pub source: SpecSource,
}

/// One service-level objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Name, unique within the service (`sloth_slo`).
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Objective in percent, `0 < objective <= 100` (99.9 means 99.9 %).
    pub objective: f64,
    /// Labels added to this SLO's rules.
    pub labels: BTreeMap<String, String>,
    /// How the error ratio is measured.
    pub sli: Sli,
    /// Burn-rate alerting.
    pub alerting: Alerting,
    /// SLO period when the spec fixes one (OpenSLO `timeWindows`); `None` uses the default.
    pub period: Option<PromDuration>,
}

impl Slo {
    /// `sloth_id`: `<service>-<slo>`.
    pub fn id(&self, service: &str) -> String {
        format!("{service}-{}", self.name)
    }
    /// Objective as a ratio (99.9 → 0.999), computed as Sloth does so the numbers match.
    pub fn objective_ratio(&self) -> f64 {
        self.objective / 100.0
    }
    /// Error budget as a ratio (99.9 → 0.001), computed as Sloth does (`(100 - o) / 100`).
    pub fn error_budget_ratio(&self) -> f64 {
        (100.0 - self.objective) / 100.0
    }
}

/// How an SLI's error ratio is measured. Queries use the `{{.window}}` placeholder for the range.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Bad events over total events.
    Events {
        /// Query counting bad events per second over `{{.window}}`.
        error_query: String,
        /// Query counting all events per second over `{{.window}}`.
        total_query: String,
    },
    /// A query that returns the error ratio directly.
    Raw {
        /// The error-ratio query.
        error_ratio_query: String,
    },
    /// Beyond Sloth: requests slower than a threshold over all requests, from a Prometheus
    /// histogram (`<metric>_bucket{le="threshold"}` against `<metric>_count`).
    Latency {
        /// Histogram base name, e.g. `http_server_request_duration_seconds`.
        histogram: String,
        /// Label matchers inside the braces, e.g. `service_name="checkout"` (may be empty).
        selector: String,
        /// Threshold in the histogram's unit; it must be one of the histogram's bucket bounds.
        threshold: f64,
    },
}

/// Labels and annotations of one alert severity.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AlertMeta {
    /// No alert of this severity is generated.
    pub disable: bool,
    /// Extra labels of the alert.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations of the alert.
    pub annotations: BTreeMap<String, String>,
}

/// Multi-window multi-burn-rate alerting of one SLO.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Alerting {
    /// Alert name (both severities share it, told apart by `sloth_severity`).
    pub name: String,
    /// Labels of both alerts.
    pub labels: BTreeMap<String, String>,
    /// Annotations of both alerts.
    pub annotations: BTreeMap<String, String>,
    /// The page (fast burn) alert.
    pub page: AlertMeta,
    /// The ticket (slow burn) alert.
    pub ticket: AlertMeta,
}

impl Alerting {
    /// Whether any alert is generated.
    pub fn any_enabled(&self) -> bool {
        !self.page.disable || !self.ticket.disable
    }
}

pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_slo_name(name: &str) -> bool {
    // Sloth: names go into label values and rule-group names; keep them simple.
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_labels(map: &BTreeMap<String, String>, field: &str) -> Result<(), SpecError> {
    for key in map.keys() {
        if !valid_label_name(key) {
            return Err(SpecError::invalid(
                format!("{field}.{key}"),
                "is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)",
            ));
        }
    }
    Ok(())
}

fn check_query(query: &str, field: &str) -> Result<(), SpecError> {
    if query.trim().is_empty() {
        return Err(SpecError::invalid(field, "must not be empty"));
    }
    if !super::WINDOW_PLACEHOLDER.is_match(query) {
        return Err(SpecError::invalid(field, "must use the {{.window}} placeholder for the range"));
    }
    let rendered = super::render_window(query, PromDuration::minutes(5));
    crate::promql::parse(&rendered)
        .map(|_| ())
        .map_err(|e| SpecError::invalid(field, format!("is not valid PromQL: {e}")))
}

impl ServiceLevel {
    /// Checks everything Sloth checks (and a little more), naming the field that is wrong.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.service.trim().is_empty() {
            return Err(SpecError::invalid("service", "must not be empty"));
        }
        check_labels(&self.labels, "labels")?;
        if self.slos.is_empty() {
            return Err(SpecError::invalid("slos", "must hold at least one SLO"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, slo) in self.slos.iter().enumerate() {
            let at = |f: &str| format!("slos[{i}].{f}");
            if slo.name.is_empty() {
                return Err(SpecError::invalid(at("name"), "must not be empty"));
            }
            if !valid_slo_name(&slo.name) {
                return Err(SpecError::invalid(
                    at("name"),
                    format!("{:?} may only hold letters, digits, '-', '_' and '.'", slo.name),
                ));
            }
            if !seen.insert(slo.name.clone()) {
                return Err(SpecError::invalid(at("name"), format!("{:?} is used twice", slo.name)));
            }
            if !(slo.objective > 0.0 && slo.objective <= 100.0) {
                return Err(SpecError::invalid(
                    at("objective"),
                    format!("{} must be greater than 0 and at most 100", slo.objective),
                ));
            }
            check_labels(&slo.labels, &at("labels"))?;
            match &slo.sli {
                Sli::Events { error_query, total_query } => {
                    check_query(error_query, &at("sli.events.error_query"))?;
                    check_query(total_query, &at("sli.events.total_query"))?;
                }
                Sli::Raw { error_ratio_query } => {
                    check_query(error_ratio_query, &at("sli.raw.error_ratio_query"))?;
                }
                Sli::Latency { histogram, selector, threshold } => {
                    if !valid_label_name(&histogram.replace(':', "_")) {
                        return Err(SpecError::invalid(at("sli.latency.histogram"), "is not a valid metric name"));
                    }
                    if !(threshold.is_finite() && *threshold > 0.0) {
                        return Err(SpecError::invalid(at("sli.latency.threshold"), "must be a positive number"));
                    }
                    let probe = format!("{histogram}_count{{{selector}}}");
                    crate::promql::parse(&probe).map_err(|e| {
                        SpecError::invalid(at("sli.latency.selector"), format!("is not a valid label selector: {e}"))
                    })?;
                }
            }
            if slo.alerting.any_enabled() && slo.alerting.name.trim().is_empty() {
                return Err(SpecError::invalid(
                    at("alerting.name"),
                    "is required while the page or ticket alert is enabled",
                ));
            }
            check_labels(&slo.alerting.labels, &at("alerting.labels"))?;
            check_labels(&slo.alerting.page.labels, &at("alerting.page_alert.labels"))?;
            check_labels(&slo.alerting.ticket.labels, &at("alerting.ticket_alert.labels"))?;
            check_labels(&slo.alerting.annotations, &at("alerting.annotations"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_like_prometheus() {
        for (text, secs, shown) in [
            ("5m", 300, "5m"),
            ("1h", 3600, "1h"),
            ("30d", 30 * 86_400, "30d"),
            ("28d", 28 * 86_400, "4w"),
            ("90m", 5400, "1h30m"),
            ("90d", 90 * 86_400, "90d"),
        ] {
            let d: PromDuration = text.parse().unwrap();
            assert_eq!(d.seconds(), secs);
            assert_eq!(d.to_string(), shown);
        }
        assert!("5".parse::<PromDuration>().is_err());
        assert!("5x".parse::<PromDuration>().is_err());
        assert!("0m".parse::<PromDuration>().is_err());
    }
}
