//! Spec formats: Sloth `prometheus/v1`, Kubernetes `sloth.slok.dev/v1` `PrometheusServiceLevel`,
//! OpenSLO `openslo/v1alpha` and `openslo/v1` (in), Sloth `prometheus/v1` and OpenSLO v1 (out).
//!
//! Reading is as lenient as Sloth's (unknown fields are ignored, so files Sloth accepts are
//! accepted) and validation is as strict: every error names the field, the document and the
//! file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use super::model::*;
use super::SpecError;

/// Options that affect how specs are read.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Default SLO period; OpenSLO time windows must match it (as in Sloth).
    pub default_period: PromDuration,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { default_period: PromDuration::days(30) }
    }
}

/// Reads every document of a (possibly multi-document) YAML text into validated service levels.
///
/// OpenSLO v1 `SLI` documents may be referenced by `indicatorRef` from `SLO` documents of the
/// same text; they produce no service level of their own.
pub fn parse_documents(text: &str, opts: &ReadOptions) -> Result<Vec<ServiceLevel>, SpecError> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de)
            .map_err(|e| SpecError::invalid("(yaml)", e.to_string()).in_document(i + 1))?;
        if value.is_null() {
            continue; // empty document, e.g. a leading `---`
        }
        // OpenSLO allows a YAML list of objects in one document.
        match value {
            Value::Sequence(items) => docs.extend(items.into_iter().map(|v| (i + 1, v))),
            other => docs.push((i + 1, other)),
        }
    }
    let slis: BTreeMap<String, OpenSloV1Indicator> = docs
        .iter()
        .filter(|(_, v)| str_field(v, "apiVersion") == Some("openslo/v1") && str_field(v, "kind") == Some("SLI"))
        .filter_map(|(_, v)| serde_yaml_ng::from_value::<OpenSloV1Indicator>(v.clone()).ok())
        .map(|sli| (sli.metadata.name.clone(), sli))
        .collect();
    let mut out = Vec::new();
    for (index, value) in docs {
        let parsed = parse_one(value, opts, &slis).map_err(|e| e.in_document(index))?;
        if let Some(level) = parsed {
            level.validate().map_err(|e| e.in_document(index))?;
            out.push(level);
        }
    }
    if out.is_empty() {
        return Err(SpecError::invalid("(input)", "holds no SLO spec"));
    }
    Ok(out)
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn parse_one(
    value: Value,
    opts: &ReadOptions,
    slis: &BTreeMap<String, OpenSloV1Indicator>,
) -> Result<Option<ServiceLevel>, SpecError> {
    if let Some(version) = str_field(&value, "version") {
        return match version {
            "prometheus/v1" => from_value::<SlothV1>(value)?.into_model().map(Some),
            other => Err(SpecError::invalid(
                "version",
                format!("{other:?} is not supported (supported: prometheus/v1, sloth.slok.dev/v1, openslo/v1alpha, openslo/v1)"),
            )),
        };
    }
    let api = str_field(&value, "apiVersion").map(str::to_owned);
    let kind = str_field(&value, "kind").unwrap_or("").to_owned();
    match api.as_deref() {
        Some("sloth.slok.dev/v1") => match kind.as_str() {
            "PrometheusServiceLevel" => from_value::<K8sServiceLevel>(value)?.into_model().map(Some),
            other => Err(SpecError::invalid(
                "kind",
                format!("{other:?} is not supported for sloth.slok.dev/v1 (want PrometheusServiceLevel)"),
            )),
        },
        Some("openslo/v1alpha") => match kind.as_str() {
            "SLO" => from_value::<OpenSloV1Alpha>(value)?.into_model(opts).map(Some),
            other => Err(SpecError::invalid("kind", format!("{other:?} is not supported for openslo/v1alpha (want SLO)"))),
        },
        Some("openslo/v1") => match kind.as_str() {
            "SLO" => from_value::<OpenSloV1Slo>(value)?.into_model(opts, slis).map(Some),
            // Referenced by SLOs; other kinds do not describe an SLO.
            "SLI" | "Service" | "DataSource" | "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget" => Ok(None),
            other => Err(SpecError::invalid("kind", format!("{other:?} is not an OpenSLO v1 kind"))),
        },
        Some(other) => Err(SpecError::invalid(
            "apiVersion",
            format!("{other:?} is not supported (supported: prometheus/v1, sloth.slok.dev/v1, openslo/v1alpha, openslo/v1)"),
        )),
        None => Err(SpecError::invalid("version", "missing: neither `version` nor `apiVersion` is set")),
    }
}

fn from_value<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, SpecError> {
    serde_yaml_ng::from_value(value).map_err(|e| {
        // serde_yaml_ng names the path in its message ("slos[0].objective: invalid type ...").
        let msg = e.to_string();
        match msg.split_once(": ") {
            Some((path, rest)) if !path.contains(' ') => SpecError::invalid(path, rest),
            _ => SpecError::invalid("(document)", msg),
        }
    })
}

// ---------------------------------------------------------------- Sloth prometheus/v1

#[derive(Deserialize, Serialize, Default)]
struct SlothV1 {
    version: String,
    service: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    slos: Vec<SlothSlo>,
}

#[derive(Deserialize, Serialize, Default)]
struct SlothSlo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    objective: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    sli: SlothSli,
    #[serde(default)]
    alerting: SlothAlerting,
}

#[derive(Deserialize, Serialize, Default)]
struct SlothSli {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    events: Option<SlothEvents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw: Option<SlothRaw>,
    /// slo-scout extension: histogram-threshold latency SLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency: Option<LatencyDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plugin: Option<Value>,
}

#[derive(Deserialize, Serialize)]
struct SlothEvents {
    #[serde(default, alias = "errorQuery")]
    error_query: String,
    #[serde(default, alias = "totalQuery")]
    total_query: String,
}

#[derive(Deserialize, Serialize)]
struct SlothRaw {
    #[serde(default, alias = "errorRatioQuery")]
    error_ratio_query: String,
}

#[derive(Deserialize, Serialize)]
struct LatencyDoc {
    histogram: String,
    #[serde(default)]
    selector: String,
    threshold: f64,
}

#[derive(Deserialize, Serialize, Default)]
struct SlothAlerting {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: SlothAlertMeta,
    #[serde(default)]
    ticket_alert: SlothAlertMeta,
}

#[derive(Deserialize, Serialize, Default)]
struct SlothAlertMeta {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    disable: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

fn sli_from(sli: SlothSli) -> Result<Sli, SpecError> {
    let set = [sli.events.is_some(), sli.raw.is_some(), sli.latency.is_some(), sli.plugin.is_some()];
    match set.iter().filter(|b| **b).count() {
        0 => return Err(SpecError::invalid("sli", "needs one of events, raw or latency")),
        1 => {}
        _ => return Err(SpecError::invalid("sli", "sets more than one of events, raw, latency, plugin")),
    }
    if sli.plugin.is_some() {
        return Err(SpecError::invalid("sli.plugin", "SLI plugins are not supported; use events, raw or latency"));
    }
    Ok(if let Some(e) = sli.events {
        Sli::Events { error_query: e.error_query, total_query: e.total_query }
    } else if let Some(r) = sli.raw {
        Sli::Raw { error_ratio_query: r.error_ratio_query }
    } else {
        let l = sli.latency.expect("counted above");
        Sli::Latency { histogram: l.histogram, selector: l.selector, threshold: l.threshold }
    })
}

fn meta_from(m: SlothAlertMeta) -> AlertMeta {
    AlertMeta { disable: m.disable, labels: m.labels, annotations: m.annotations }
}

/// SLOs of a Sloth spec (either flavour); `prefix` is where `slos` sits (`""` or `"spec."`).
fn slos_from(slos: Vec<SlothSlo>, prefix: &str) -> Result<Vec<Slo>, SpecError> {
    slos.into_iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(Slo {
                sli: sli_from(s.sli).map_err(|e| SpecError { field: format!("{prefix}slos[{i}].{}", e.field), ..e })?,
                name: s.name,
                description: s.description,
                objective: s.objective,
                labels: s.labels,
                alerting: Alerting {
                    name: s.alerting.name,
                    labels: s.alerting.labels,
                    annotations: s.alerting.annotations,
                    page: meta_from(s.alerting.page_alert),
                    ticket: meta_from(s.alerting.ticket_alert),
                },
                period: None,
            })
        })
        .collect()
}

impl SlothV1 {
    fn into_model(self) -> Result<ServiceLevel, SpecError> {
        let slos = slos_from(self.slos, "")?;
        Ok(ServiceLevel { service: self.service, labels: self.labels, slos, source: SpecSource::SlothV1 })
    }
}

// ---------------------------------------------------------------- Kubernetes CRD

#[derive(Deserialize)]
struct K8sServiceLevel {
    #[serde(default)]
    metadata: K8sMeta,
    spec: K8sSpec,
}

#[derive(Deserialize, Default)]
struct K8sMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct K8sSpec {
    #[serde(default)]
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    slos: Vec<K8sSlo>,
}

#[derive(Deserialize)]
struct K8sSlo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    sli: SlothSli,
    #[serde(default)]
    alerting: K8sAlerting,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct K8sAlerting {
    #[serde(default)]
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    page_alert: SlothAlertMeta,
    #[serde(default)]
    ticket_alert: SlothAlertMeta,
}

impl K8sServiceLevel {
    fn into_model(self) -> Result<ServiceLevel, SpecError> {
        if self.metadata.name.is_empty() {
            return Err(SpecError::invalid("metadata.name", "must not be empty"));
        }
        // The CRD spells the alert fields in camelCase; otherwise it is the same SLO.
        let slos = self
            .spec
            .slos
            .into_iter()
            .map(|s| SlothSlo {
                name: s.name,
                objective: s.objective,
                description: s.description,
                labels: s.labels,
                sli: s.sli,
                alerting: SlothAlerting {
                    name: s.alerting.name,
                    labels: s.alerting.labels,
                    annotations: s.alerting.annotations,
                    page_alert: s.alerting.page_alert,
                    ticket_alert: s.alerting.ticket_alert,
                },
            })
            .collect();
        let slos = slos_from(slos, "spec.")?;
        let level = ServiceLevel {
            service: self.spec.service,
            labels: self.spec.labels,
            slos,
            source: SpecSource::Kubernetes {
                name: self.metadata.name,
                namespace: self.metadata.namespace,
                labels: self.metadata.labels,
            },
        };
        // Name fields as they appear in the CRD.
        level.validate().map_err(|e| SpecError { field: format!("spec.{}", e.field), ..e })?;
        Ok(level)
    }
}

// ---------------------------------------------------------------- OpenSLO

fn openslo_period(count: u64, unit: &str, field: &str) -> Result<PromDuration, SpecError> {
    let secs = match unit {
        "Second" => 1,
        "Minute" => 60,
        "Hour" => 3600,
        "Day" => 86_400,
        "Week" => 7 * 86_400,
        other => {
            return Err(SpecError::invalid(
                format!("{field}.unit"),
                format!("{other:?} is not supported (Second, Minute, Hour, Day, Week)"),
            ))
        }
    };
    if count == 0 {
        return Err(SpecError::invalid(format!("{field}.count"), "must be positive"));
    }
    Ok(PromDuration(count * secs))
}

fn check_period(period: PromDuration, opts: &ReadOptions, field: &str) -> Result<(), SpecError> {
    // Sloth derives alert windows from the period; it accepts only the configured default.
    if period != opts.default_period {
        return Err(SpecError::invalid(
            field,
            format!(
                "a {period} window is not supported: only the SLO period ({}) is (set --default-slo-period to use another)",
                opts.default_period
            ),
        ));
    }
    Ok(())
}

fn openslo_objective(target: Option<f64>, target_percent: Option<f64>, field: &str) -> Result<f64, SpecError> {
    match (target, target_percent) {
        (Some(t), None) => {
            if !(t > 0.0 && t < 1.0 || t == 1.0) {
                return Err(SpecError::invalid(format!("{field}.target"), format!("{t} must be in (0, 1]")));
            }
            Ok(t * 100.0)
        }
        (None, Some(p)) => Ok(p),
        (None, None) => Err(SpecError::invalid(format!("{field}.target"), "missing")),
        (Some(_), Some(_)) => Err(SpecError::invalid(field, "sets both target and targetPercent")),
    }
}

/// `1 - (good / total)` as Sloth writes it for OpenSLO good/total ratios.
fn good_total_ratio(good: &str, total: &str) -> String {
    format!("1 - (\n  (\n    {}\n  )\n  /\n  (\n    {}\n  )\n)\n", good.trim(), total.trim())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1Alpha {
    metadata: OpenSloMeta,
    spec: OpenSloV1AlphaSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OpenSloMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1AlphaSpec {
    #[serde(default)]
    service: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    budgeting_method: String,
    #[serde(default)]
    objectives: Vec<V1AlphaObjective>,
    #[serde(default)]
    time_windows: Vec<V1AlphaWindow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1AlphaObjective {
    #[serde(default)]
    ratio_metrics: Option<V1AlphaRatio>,
    #[serde(default)]
    target: Option<f64>,
}

#[derive(Deserialize)]
struct V1AlphaRatio {
    #[serde(default)]
    good: Option<V1AlphaQuery>,
    #[serde(default)]
    bad: Option<V1AlphaQuery>,
    total: V1AlphaQuery,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1AlphaQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    query_type: String,
    query: String,
}

#[derive(Deserialize)]
struct V1AlphaWindow {
    count: u64,
    unit: String,
}

impl V1AlphaQuery {
    fn promql(&self, field: &str) -> Result<&str, SpecError> {
        if !self.source.eq_ignore_ascii_case("prometheus") {
            return Err(SpecError::invalid(format!("{field}.source"), format!("{:?} is not supported (prometheus)", self.source)));
        }
        if !self.query_type.is_empty() && !self.query_type.eq_ignore_ascii_case("promql") {
            return Err(SpecError::invalid(format!("{field}.queryType"), format!("{:?} is not supported (promql)", self.query_type)));
        }
        Ok(&self.query)
    }
}

impl OpenSloV1Alpha {
    fn into_model(self, opts: &ReadOptions) -> Result<ServiceLevel, SpecError> {
        let spec = self.spec;
        if !spec.budgeting_method.is_empty() && spec.budgeting_method != "Occurrences" {
            return Err(SpecError::invalid(
                "spec.budgetingMethod",
                format!("{:?} is not supported (Occurrences)", spec.budgeting_method),
            ));
        }
        for (i, w) in spec.time_windows.iter().enumerate() {
            let field = format!("spec.timeWindows[{i}]");
            check_period(openslo_period(w.count, &w.unit, &field)?, opts, &format!("{field}.count"))?;
        }
        if self.metadata.name.is_empty() {
            return Err(SpecError::invalid("metadata.name", "must not be empty"));
        }
        if spec.objectives.is_empty() {
            return Err(SpecError::invalid("spec.objectives", "must hold at least one objective"));
        }
        let mut slos = Vec::new();
        for (i, o) in spec.objectives.into_iter().enumerate() {
            let field = format!("spec.objectives[{i}]");
            let ratio = o
                .ratio_metrics
                .ok_or_else(|| SpecError::invalid(format!("{field}.ratioMetrics"), "missing (only ratio metrics are supported)"))?;
            let total = ratio.total.promql(&format!("{field}.ratioMetrics.total"))?;
            let sli = match (&ratio.good, &ratio.bad) {
                (Some(good), None) => Sli::Raw {
                    error_ratio_query: good_total_ratio(good.promql(&format!("{field}.ratioMetrics.good"))?, total),
                },
                (None, Some(bad)) => Sli::Events {
                    error_query: bad.promql(&format!("{field}.ratioMetrics.bad"))?.to_owned(),
                    total_query: total.to_owned(),
                },
                _ => return Err(SpecError::invalid(format!("{field}.ratioMetrics"), "needs exactly one of good or bad")),
            };
            slos.push(Slo {
                name: format!("{}-{i}", self.metadata.name),
                description: spec.description.clone(),
                objective: openslo_objective(o.target, None, &field)?,
                labels: BTreeMap::new(),
                sli,
                alerting: Alerting {
                    page: AlertMeta { disable: true, ..Default::default() },
                    ticket: AlertMeta { disable: true, ..Default::default() },
                    ..Default::default()
                },
                period: Some(opts.default_period),
            });
        }
        let _ = self.metadata.display_name;
        Ok(ServiceLevel { service: spec.service, labels: BTreeMap::new(), slos, source: SpecSource::OpenSloV1Alpha })
    }
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1Indicator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    metadata: OpenSloV1Meta,
    spec: OpenSloV1IndicatorSpec,
}

#[derive(Deserialize, Serialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1Meta {
    #[serde(default)]
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1IndicatorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ratio_metric: Option<V1Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    threshold_metric: Option<Value>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct V1Ratio {
    #[serde(default)]
    counter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    good: Option<V1MetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bad: Option<V1MetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    total: Option<V1MetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw: Option<V1MetricSource>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct V1MetricSource {
    metric_source: V1Source,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct V1Source {
    #[serde(rename = "type")]
    kind: String,
    spec: V1SourceSpec,
}

#[derive(Deserialize, Serialize, Clone)]
struct V1SourceSpec {
    #[serde(default)]
    query: String,
}

impl V1MetricSource {
    fn prometheus(query: &str) -> Self {
        V1MetricSource {
            metric_source: V1Source { kind: "Prometheus".into(), spec: V1SourceSpec { query: query.to_owned() } },
        }
    }
    fn promql(&self, field: &str) -> Result<&str, SpecError> {
        if !self.metric_source.kind.eq_ignore_ascii_case("prometheus") {
            return Err(SpecError::invalid(
                format!("{field}.metricSource.type"),
                format!("{:?} is not supported (Prometheus)", self.metric_source.kind),
            ));
        }
        Ok(&self.metric_source.spec.query)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1Slo {
    metadata: OpenSloV1Meta,
    spec: OpenSloV1SloSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenSloV1SloSpec {
    #[serde(default)]
    description: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    indicator: Option<OpenSloV1Indicator>,
    #[serde(default)]
    indicator_ref: Option<String>,
    #[serde(default)]
    time_window: Vec<V1TimeWindow>,
    #[serde(default)]
    budgeting_method: String,
    #[serde(default)]
    objectives: Vec<V1Objective>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1TimeWindow {
    duration: String,
    #[serde(default)]
    is_rolling: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Objective {
    #[serde(default)]
    target: Option<f64>,
    #[serde(default)]
    target_percent: Option<f64>,
}

impl OpenSloV1Slo {
    fn into_model(
        self,
        opts: &ReadOptions,
        slis: &BTreeMap<String, OpenSloV1Indicator>,
    ) -> Result<ServiceLevel, SpecError> {
        let spec = self.spec;
        if self.metadata.name.is_empty() {
            return Err(SpecError::invalid("metadata.name", "must not be empty"));
        }
        if spec.budgeting_method != "Occurrences" {
            return Err(SpecError::invalid(
                "spec.budgetingMethod",
                format!("{:?} is not supported: burn-rate rules need Occurrences", spec.budgeting_method),
            ));
        }
        let mut period = opts.default_period;
        for (i, w) in spec.time_window.iter().enumerate() {
            let field = format!("spec.timeWindow[{i}]");
            if !w.is_rolling {
                return Err(SpecError::invalid(format!("{field}.isRolling"), "calendar windows are not supported"));
            }
            period = w.duration.parse().map_err(|e: String| SpecError::invalid(format!("{field}.duration"), e))?;
        }
        let indicator = match (spec.indicator, spec.indicator_ref) {
            (Some(i), None) => i,
            (None, Some(r)) => slis
                .get(&r)
                .cloned()
                .ok_or_else(|| SpecError::invalid("spec.indicatorRef", format!("no SLI named {r:?} in the input")))?,
            _ => return Err(SpecError::invalid("spec.indicator", "needs exactly one of indicator or indicatorRef")),
        };
        let ratio = indicator
            .spec
            .ratio_metric
            .ok_or_else(|| SpecError::invalid("spec.indicator.spec.ratioMetric", "missing (only ratio metrics are supported)"))?;
        let field = "spec.indicator.spec.ratioMetric";
        let sli = match (&ratio.good, &ratio.bad, &ratio.raw) {
            (Some(good), None, None) => {
                let total = ratio.total.as_ref().ok_or_else(|| SpecError::invalid(format!("{field}.total"), "missing"))?;
                Sli::Raw {
                    error_ratio_query: good_total_ratio(good.promql(&format!("{field}.good"))?, total.promql(&format!("{field}.total"))?),
                }
            }
            (None, Some(bad), None) => {
                let total = ratio.total.as_ref().ok_or_else(|| SpecError::invalid(format!("{field}.total"), "missing"))?;
                Sli::Events {
                    error_query: bad.promql(&format!("{field}.bad"))?.to_owned(),
                    total_query: total.promql(&format!("{field}.total"))?.to_owned(),
                }
            }
            (None, None, Some(raw)) => {
                let q = raw.promql(&format!("{field}.raw"))?;
                match ratio.raw_type.as_deref() {
                    Some("failure") => Sli::Raw { error_ratio_query: q.to_owned() },
                    Some("success") => Sli::Raw { error_ratio_query: format!("1 - (\n  {}\n)\n", q.trim()) },
                    _ => return Err(SpecError::invalid(format!("{field}.rawType"), "must be success or failure")),
                }
            }
            _ => return Err(SpecError::invalid(field, "needs exactly one of good, bad or raw")),
        };
        if spec.objectives.is_empty() {
            return Err(SpecError::invalid("spec.objectives", "must hold at least one objective"));
        }
        let mut slos = Vec::new();
        let single = spec.objectives.len() == 1;
        for (i, o) in spec.objectives.iter().enumerate() {
            let field = format!("spec.objectives[{i}]");
            slos.push(Slo {
                // One objective keeps the SLO's name, so writing and reading v1 round-trips.
                name: if single { self.metadata.name.clone() } else { format!("{}-{i}", self.metadata.name) },
                description: spec.description.clone(),
                objective: openslo_objective(o.target, o.target_percent, &field)?,
                labels: BTreeMap::new(),
                sli: sli.clone(),
                alerting: Alerting {
                    page: AlertMeta { disable: true, ..Default::default() },
                    ticket: AlertMeta { disable: true, ..Default::default() },
                    ..Default::default()
                },
                period: Some(period),
            });
        }
        Ok(ServiceLevel { service: spec.service, labels: BTreeMap::new(), slos, source: SpecSource::OpenSloV1 })
    }
}

// ---------------------------------------------------------------- writers

fn meta_to(m: &AlertMeta) -> SlothAlertMeta {
    SlothAlertMeta { disable: m.disable, labels: m.labels.clone(), annotations: m.annotations.clone() }
}

fn sli_to(sli: &Sli) -> SlothSli {
    let mut out = SlothSli::default();
    match sli {
        Sli::Events { error_query, total_query } => {
            out.events = Some(SlothEvents { error_query: error_query.clone(), total_query: total_query.clone() })
        }
        Sli::Raw { error_ratio_query } => out.raw = Some(SlothRaw { error_ratio_query: error_ratio_query.clone() }),
        Sli::Latency { histogram, selector, threshold } => {
            out.latency =
                Some(LatencyDoc { histogram: histogram.clone(), selector: selector.clone(), threshold: *threshold })
        }
    }
    out
}

/// Writes a service level as a Sloth `prometheus/v1` spec (latency SLIs use the slo-scout
/// `sli.latency` extension).
pub fn to_sloth_v1(level: &ServiceLevel) -> String {
    let doc = SlothV1 {
        version: "prometheus/v1".into(),
        service: level.service.clone(),
        labels: level.labels.clone(),
        slos: level
            .slos
            .iter()
            .map(|s| SlothSlo {
                name: s.name.clone(),
                objective: s.objective,
                description: s.description.clone(),
                labels: s.labels.clone(),
                sli: sli_to(&s.sli),
                alerting: SlothAlerting {
                    name: s.alerting.name.clone(),
                    labels: s.alerting.labels.clone(),
                    annotations: s.alerting.annotations.clone(),
                    page_alert: meta_to(&s.alerting.page),
                    ticket_alert: meta_to(&s.alerting.ticket),
                },
            })
            .collect(),
    };
    serde_yaml_ng::to_string(&doc).expect("spec serialises")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutOpenSloSlo {
    api_version: &'static str,
    kind: &'static str,
    metadata: OpenSloV1Meta,
    spec: OutOpenSloSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutOpenSloSpec {
    description: String,
    service: String,
    indicator: OpenSloV1Indicator,
    time_window: Vec<OutWindow>,
    budgeting_method: &'static str,
    objectives: Vec<OutObjective>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutWindow {
    duration: String,
    is_rolling: bool,
}

#[derive(Serialize)]
struct OutObjective {
    target: f64,
}

/// Writes a service level as OpenSLO v1 `SLO` documents (one per SLO, `---` separated).
///
/// Events SLIs become `bad`/`total` ratio metrics, raw SLIs `raw` with `rawType: failure`,
/// latency SLIs their equivalent `bad`/`total` queries. `default_period` fills SLOs without one.
pub fn to_openslo_v1(level: &ServiceLevel, default_period: PromDuration) -> String {
    let mut out = String::new();
    for slo in &level.slos {
        let ratio = match &slo.sli {
            Sli::Raw { error_ratio_query } => V1Ratio {
                counter: false,
                good: None,
                bad: None,
                total: None,
                raw_type: Some("failure".into()),
                raw: Some(V1MetricSource::prometheus(error_ratio_query)),
            },
            other => {
                let (bad, total) = super::rules::event_queries(other).expect("events or latency");
                V1Ratio {
                    counter: true,
                    good: None,
                    bad: Some(V1MetricSource::prometheus(&bad)),
                    total: Some(V1MetricSource::prometheus(&total)),
                    raw_type: None,
                    raw: None,
                }
            }
        };
        let doc = OutOpenSloSlo {
            api_version: "openslo/v1",
            kind: "SLO",
            metadata: OpenSloV1Meta { name: slo.name.clone(), display_name: None },
            spec: OutOpenSloSpec {
                description: slo.description.clone(),
                service: level.service.clone(),
                indicator: OpenSloV1Indicator {
                    api_version: None,
                    kind: None,
                    metadata: OpenSloV1Meta { name: format!("{}-sli", slo.name), display_name: None },
                    spec: OpenSloV1IndicatorSpec { ratio_metric: Some(ratio), threshold_metric: None },
                },
                time_window: vec![OutWindow {
                    duration: slo.period.unwrap_or(default_period).to_string(),
                    is_rolling: true,
                }],
                budgeting_method: "Occurrences",
                objectives: vec![OutObjective { target: slo.objective_ratio() }],
            },
        };
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&doc).expect("spec serialises"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "checkout"
labels: {team: payments}
slos:
  - name: "availability"
    objective: 99.5
    description: "Checkout requests succeed."
    sli:
      events:
        error_query: sum(rate(http_server_request_duration_seconds_count{service_name="checkout",http_response_status_code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_server_request_duration_seconds_count{service_name="checkout"}[{{ .window }}]))
    alerting:
      name: CheckoutAvailability
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: "latency-p99"
    objective: 99
    sli:
      latency:
        histogram: http_server_request_duration_seconds
        selector: service_name="checkout"
        threshold: 0.5
    alerting:
      name: CheckoutLatency
      ticket_alert: {disable: true}
"#;

    #[test]
    fn sloth_spec_round_trips() {
        let levels = parse_documents(SPEC, &ReadOptions::default()).unwrap();
        assert_eq!(levels.len(), 1);
        let again = parse_documents(&to_sloth_v1(&levels[0]), &ReadOptions::default()).unwrap();
        assert_eq!(again, levels);
    }

    #[test]
    fn openslo_v1_round_trip_keeps_the_measurement() {
        let level = parse_documents(SPEC, &ReadOptions::default()).unwrap().remove(0);
        let text = to_openslo_v1(&level, PromDuration::days(30));
        let back = parse_documents(&text, &ReadOptions::default()).unwrap();
        assert_eq!(back.len(), 2, "one OpenSLO document per SLO");
        let slos: Vec<&Slo> = back.iter().flat_map(|l| &l.slos).collect();
        assert_eq!(slos[0].name, "availability");
        assert!((slos[0].objective - 99.5).abs() < 1e-9);
        assert_eq!(slos[0].period, Some(PromDuration::days(30)));
        // The latency SLI comes back as its equivalent bad/total events.
        let (bad, total) = crate::slo::rules::event_queries(&level.slos[1].sli).unwrap();
        assert_eq!(slos[1].sli, Sli::Events { error_query: bad, total_query: total });
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (SPEC.replace("objective: 99.5", "objective: 0"), "slos[0].objective"),
            (SPEC.replace("[{{.window}}]))\n        total", "[5m]))\n        total"), "slos[0].sli.events.error_query"),
            (SPEC.replace("name: CheckoutAvailability", "name: \"\""), "slos[0].alerting.name"),
            (SPEC.replace("team: payments", "\"bad-label\": x"), "labels.bad-label"),
            (SPEC.replace("threshold: 0.5", "threshold: -1"), "slos[1].sli.latency.threshold"),
            (SPEC.replace("name: \"latency-p99\"", "name: \"availability\""), "slos[1].name"),
            (SPEC.replace("sum(rate(http_server_request_duration_seconds_count{service_name=\"checkout\"}[{{ .window }}]))", "sum(rate(x[{{.window}}]"), "slos[0].sli.events.total_query"),
        ];
        for (text, field) in cases {
            let err = parse_documents(&text, &ReadOptions::default()).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains("document 1"), "{err}");
        }
    }

    #[test]
    fn openslo_v1_indicator_ref_and_unsupported_methods() {
        let text = r#"
apiVersion: openslo/v1
kind: SLI
metadata: {name: ok-ratio}
spec:
  ratioMetric:
    counter: true
    good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(req_total{code!~"5.."}[{{.window}}]))'}}}
    total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(req_total[{{.window}}]))'}}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: api}
spec:
  service: api
  indicatorRef: ok-ratio
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.995}]
"#;
        let levels = parse_documents(text, &ReadOptions::default()).unwrap();
        assert_eq!(levels.len(), 1);
        assert_eq!(levels[0].slos[0].period, Some(PromDuration::days(28)));
        assert!(matches!(levels[0].slos[0].sli, Sli::Raw { .. }));
        let bad = text.replace("Occurrences", "Timeslices");
        assert_eq!(parse_documents(&bad, &ReadOptions::default()).unwrap_err().field, "spec.budgetingMethod");
        let bad = text.replace("indicatorRef: ok-ratio", "indicatorRef: nope");
        assert_eq!(parse_documents(&bad, &ReadOptions::default()).unwrap_err().field, "spec.indicatorRef");
    }
}
