//! OpenSLO `v1alpha` and `v1` (`SLO` documents, `SLI` documents referenced by `indicatorRef`)
//! into the model. Time windows must match the default SLO period, as in Sloth.
//!
//! OpenSLO v1 `metadata.labels` become SLO labels, and the labels of a `Service` document the
//! labels of the service of that name; only labels with a valid Prometheus name and a scalar
//! value are taken (others are ignored, as unknown fields are). v1 targets are read as decimals
//! (`target: 0.999` is an objective of exactly `99.9`), so written specs read back unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use super::ReadOptions;
use crate::model::valid_label_name;
use crate::model::*;
use crate::SpecError;

pub(super) fn openslo_period(count: u64, unit: &str, field: &str) -> Result<PromDuration, SpecError> {
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
    count
        .checked_mul(secs)
        .map(PromDuration)
        .ok_or_else(|| SpecError::invalid(format!("{field}.count"), format!("{count} {unit}s overflow a duration")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `count * secs` wrapped in release builds.
    #[test]
    fn periods_in_every_unit_and_overflow_is_an_error() {
        assert_eq!(openslo_period(4, "Week", "timeWindow[0]").unwrap(), PromDuration::days(28));
        assert_eq!(openslo_period(30, "Day", "timeWindow[0]").unwrap(), PromDuration::days(30));
        let err = openslo_period(u64::MAX / 2, "Week", "timeWindow[0]").unwrap_err();
        assert_eq!(err.field, "timeWindow[0].count");
        assert!(err.reason.contains("overflow"), "{err}");
        assert!(openslo_period(0, "Day", "timeWindow[0]").is_err());
        assert!(openslo_period(1, "Fortnight", "timeWindow[0]").is_err());
    }

    #[test]
    fn targets_shift_as_decimals() {
        for (ratio, percent) in
            [(0.999, 99.9), (0.995, 99.5), (0.9999, 99.99), (0.99999, 99.999), (0.901, 90.1), (1.0, 100.0), (0.5, 50.0)]
        {
            assert_eq!(shift_decimal(ratio, 2), percent);
            assert_eq!(shift_decimal(percent, -2), ratio);
        }
        assert_eq!(shift_decimal(0.00001, 2), 0.001);
        assert_eq!(shift_decimal(0.5, -2), 0.005);
        assert_eq!(shift_decimal(123.0, 2), 12300.0);
        // Plain arithmetic is off in the last digit (what v1alpha keeps, as Sloth does).
        assert_ne!(99.99 / 100.0, 0.9999);
        assert_ne!(0.0709 * 100.0, 7.09);
        assert_eq!(openslo_objective(Some(0.9999), None, "o", true).unwrap(), 99.99);
    }

    #[test]
    fn labels_are_read_leniently_and_keys_checked_for_openslo() {
        let v: Value = serde_yaml_ng::from_str("{team: a, tier: 1, on: true, list: [x], bad-key: y, _x: z}").unwrap();
        let labels = labels_from(&v);
        assert_eq!(labels.keys().map(String::as_str).collect::<Vec<_>>(), ["_x", "on", "team", "tier"]);
        assert_eq!(labels["tier"], "1");
        assert!(labels_from(&Value::Null).is_empty());
        assert!(valid_openslo_label_key("slo_scout_journey"));
        assert!(
            !valid_openslo_label_key("_x")
                && !valid_openslo_label_key("x_")
                && !valid_openslo_label_key(&"a".repeat(64))
        );
    }
}

pub(super) fn check_period(period: PromDuration, opts: &ReadOptions, field: &str) -> Result<(), SpecError> {
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

/// Moves the decimal point of `v`'s shortest decimal form by `places` (2: 0.999 → 99.9,
/// -2: 99.9 → 0.999), so that no binary rounding error (`0.999 * 100 = 99.89999999999999`)
/// creeps in. Falls back to multiplying where the text cannot be shifted.
pub(super) fn shift_decimal(v: f64, places: i32) -> f64 {
    let scaled = v * 10f64.powi(places);
    let text = format!("{}", v.abs()); // shortest round-trip form, never an exponent
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + i64::from(places);
    let shifted = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    match shifted.parse::<f64>() {
        Ok(x) if x.is_finite() && (x - scaled.abs()).abs() <= 1e-9 * scaled.abs().max(1.0) => x.copysign(v),
        _ => scaled,
    }
}

/// The objective in percent of an OpenSLO `target` / `targetPercent`; `decimal` reads `target`
/// as a decimal ([`shift_decimal`]) instead of multiplying by 100 as Sloth does (v1alpha keeps
/// Sloth's arithmetic so its `sloth_objective` labels match Sloth's to the last digit).
pub(super) fn openslo_objective(
    target: Option<f64>,
    target_percent: Option<f64>,
    field: &str,
    decimal: bool,
) -> Result<f64, SpecError> {
    match (target, target_percent) {
        (Some(t), None) => {
            if !(t > 0.0 && t < 1.0 || t == 1.0) {
                return Err(SpecError::invalid(format!("{field}.target"), format!("{t} must be in (0, 1]")));
            }
            Ok(if decimal { shift_decimal(t, 2) } else { t * 100.0 })
        }
        (None, Some(p)) => Ok(p),
        (None, None) => Err(SpecError::invalid(format!("{field}.target"), "missing")),
        (Some(_), Some(_)) => Err(SpecError::invalid(field, "sets both target and targetPercent")),
    }
}

/// `1 - (good / total)` as Sloth writes it for OpenSLO good/total ratios.
pub(super) fn good_total_ratio(good: &str, total: &str) -> String {
    format!("1 - (\n  (\n    {}\n  )\n  /\n  (\n    {}\n  )\n)\n", good.trim(), total.trim())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenSloV1Alpha {
    pub(super) metadata: OpenSloMeta,
    pub(super) spec: OpenSloV1AlphaSpec,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenSloMeta {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenSloV1AlphaSpec {
    #[serde(default)]
    pub(super) service: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) budgeting_method: String,
    #[serde(default)]
    pub(super) objectives: Vec<V1AlphaObjective>,
    #[serde(default)]
    pub(super) time_windows: Vec<V1AlphaWindow>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1AlphaObjective {
    #[serde(default)]
    pub(super) ratio_metrics: Option<V1AlphaRatio>,
    #[serde(default)]
    pub(super) target: Option<f64>,
}

#[derive(Deserialize)]
pub(super) struct V1AlphaRatio {
    #[serde(default)]
    pub(super) good: Option<V1AlphaQuery>,
    #[serde(default)]
    pub(super) bad: Option<V1AlphaQuery>,
    pub(super) total: V1AlphaQuery,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1AlphaQuery {
    #[serde(default)]
    pub(super) source: String,
    #[serde(default)]
    pub(super) query_type: String,
    pub(super) query: String,
}

#[derive(Deserialize)]
pub(super) struct V1AlphaWindow {
    pub(super) count: u64,
    pub(super) unit: String,
}

impl V1AlphaQuery {
    pub(super) fn promql(&self, field: &str) -> Result<&str, SpecError> {
        if !self.source.eq_ignore_ascii_case("prometheus") {
            return Err(SpecError::invalid(
                format!("{field}.source"),
                format!("{:?} is not supported (prometheus)", self.source),
            ));
        }
        if !self.query_type.is_empty() && !self.query_type.eq_ignore_ascii_case("promql") {
            return Err(SpecError::invalid(
                format!("{field}.queryType"),
                format!("{:?} is not supported (promql)", self.query_type),
            ));
        }
        Ok(&self.query)
    }
}

impl OpenSloV1Alpha {
    pub(super) fn into_model(self, opts: &ReadOptions) -> Result<ServiceLevel, SpecError> {
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
            let ratio = o.ratio_metrics.ok_or_else(|| {
                SpecError::invalid(format!("{field}.ratioMetrics"), "missing (only ratio metrics are supported)")
            })?;
            let total = ratio.total.promql(&format!("{field}.ratioMetrics.total"))?;
            let sli = match (&ratio.good, &ratio.bad) {
                (Some(good), None) => Sli::Raw {
                    error_ratio_query: good_total_ratio(good.promql(&format!("{field}.ratioMetrics.good"))?, total),
                },
                (None, Some(bad)) => Sli::Events {
                    error_query: bad.promql(&format!("{field}.ratioMetrics.bad"))?.to_owned(),
                    total_query: total.to_owned(),
                },
                _ => {
                    return Err(SpecError::invalid(format!("{field}.ratioMetrics"), "needs exactly one of good or bad"))
                }
            };
            slos.push(Slo {
                name: format!("{}-{i}", self.metadata.name),
                description: spec.description.clone(),
                objective: openslo_objective(o.target, None, &field, false)?,
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
pub(super) struct OpenSloV1Indicator {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) kind: Option<String>,
    pub(super) metadata: OpenSloV1Meta,
    pub(super) spec: OpenSloV1IndicatorSpec,
}

#[derive(Deserialize, Serialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenSloV1Meta {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) display_name: Option<String>,
    /// `map[string]string|string[]`, read leniently by [`labels_from`].
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub(super) labels: Value,
}

/// The labels of an OpenSLO v1 `metadata.labels` that can be Prometheus labels: valid names,
/// scalar values (numbers and booleans as written). Lists and other names are left out.
pub(super) fn labels_from(labels: &Value) -> BTreeMap<String, String> {
    let Some(map) = labels.as_mapping() else { return BTreeMap::new() };
    map.iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().filter(|k| valid_label_name(k))?;
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((key.to_owned(), value))
        })
        .collect()
}

/// Whether a Prometheus label name is also a valid OpenSLO label key: at most 63 characters,
/// beginning and ending with a letter or digit.
pub(super) fn valid_openslo_label_key(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenSloV1IndicatorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ratio_metric: Option<V1Ratio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) threshold_metric: Option<Value>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1Ratio {
    #[serde(default)]
    pub(super) counter: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) good: Option<V1MetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) bad: Option<V1MetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) total: Option<V1MetricSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) raw_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) raw: Option<V1MetricSource>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1MetricSource {
    pub(super) metric_source: V1Source,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1Source {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) spec: V1SourceSpec,
}

#[derive(Deserialize, Serialize, Clone)]
pub(super) struct V1SourceSpec {
    #[serde(default)]
    pub(super) query: String,
}

impl V1MetricSource {
    pub(super) fn prometheus(query: &str) -> Self {
        V1MetricSource {
            metric_source: V1Source { kind: "Prometheus".into(), spec: V1SourceSpec { query: query.to_owned() } },
        }
    }
    pub(super) fn promql(&self, field: &str) -> Result<&str, SpecError> {
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
pub(super) struct OpenSloV1Slo {
    pub(super) metadata: OpenSloV1Meta,
    pub(super) spec: OpenSloV1SloSpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OpenSloV1SloSpec {
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) service: String,
    #[serde(default)]
    pub(super) indicator: Option<OpenSloV1Indicator>,
    #[serde(default)]
    pub(super) indicator_ref: Option<String>,
    #[serde(default)]
    pub(super) time_window: Vec<V1TimeWindow>,
    #[serde(default)]
    pub(super) budgeting_method: String,
    #[serde(default)]
    pub(super) objectives: Vec<V1Objective>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1TimeWindow {
    pub(super) duration: String,
    #[serde(default)]
    pub(super) is_rolling: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct V1Objective {
    #[serde(default)]
    pub(super) target: Option<f64>,
    #[serde(default)]
    pub(super) target_percent: Option<f64>,
}

impl OpenSloV1Slo {
    /// `services`: labels of the `Service` documents of the input, by service name.
    pub(super) fn into_model(
        self,
        opts: &ReadOptions,
        slis: &BTreeMap<String, OpenSloV1Indicator>,
        services: &BTreeMap<String, BTreeMap<String, String>>,
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
        let ratio = indicator.spec.ratio_metric.ok_or_else(|| {
            SpecError::invalid("spec.indicator.spec.ratioMetric", "missing (only ratio metrics are supported)")
        })?;
        let field = "spec.indicator.spec.ratioMetric";
        let sli = match (&ratio.good, &ratio.bad, &ratio.raw) {
            (Some(good), None, None) => {
                let total =
                    ratio.total.as_ref().ok_or_else(|| SpecError::invalid(format!("{field}.total"), "missing"))?;
                Sli::Raw {
                    error_ratio_query: good_total_ratio(
                        good.promql(&format!("{field}.good"))?,
                        total.promql(&format!("{field}.total"))?,
                    ),
                }
            }
            (None, Some(bad), None) => {
                let total =
                    ratio.total.as_ref().ok_or_else(|| SpecError::invalid(format!("{field}.total"), "missing"))?;
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
        let slo_labels = labels_from(&self.metadata.labels);
        for (i, o) in spec.objectives.iter().enumerate() {
            let field = format!("spec.objectives[{i}]");
            slos.push(Slo {
                // One objective keeps the SLO's name, so writing and reading v1 round-trips.
                name: if single { self.metadata.name.clone() } else { format!("{}-{i}", self.metadata.name) },
                description: spec.description.clone(),
                objective: openslo_objective(o.target, o.target_percent, &field, true)?,
                labels: slo_labels.clone(),
                sli: sli.clone(),
                alerting: Alerting {
                    page: AlertMeta { disable: true, ..Default::default() },
                    ticket: AlertMeta { disable: true, ..Default::default() },
                    ..Default::default()
                },
                period: Some(period),
            });
        }
        let labels = services.get(&spec.service).cloned().unwrap_or_default();
        Ok(ServiceLevel { service: spec.service, labels, slos, source: SpecSource::OpenSloV1 })
    }
}
