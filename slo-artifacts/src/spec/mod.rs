//! Spec formats: Sloth `prometheus/v1`, Kubernetes `sloth.slok.dev/v1` `PrometheusServiceLevel`,
//! OpenSLO `openslo/v1alpha` and `openslo/v1` (in), Sloth `prometheus/v1` and OpenSLO v1 (out).
//!
//! Reading is as lenient as Sloth's (unknown fields are ignored, so files Sloth accepts are
//! accepted) and validation is as strict: every error names the field, the document and the
//! file. One file per format: `sloth.rs`, `k8s.rs` and `openslo.rs` read, `write.rs` writes.
//!
//! Writing is honest about what a format cannot hold: [`write`] returns the text together with
//! every field it had to leave out ([`Dropped`]), e.g. Sloth's alert names, severities and
//! runbook annotations when writing OpenSLO, or an OpenSLO time window when writing Sloth.
//! Everything both formats hold round-trips: Sloth → OpenSLO v1 → Sloth gives the same service
//! level on the fields OpenSLO carries (see [`merge_services`] for putting the one-SLO OpenSLO
//! documents back into one service level).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

use crate::model::*;
use crate::SpecError;

mod k8s;
mod openslo;
mod sloth;
mod write;

use k8s::K8sServiceLevel;
use openslo::{labels_from, OpenSloV1Alpha, OpenSloV1Indicator, OpenSloV1Slo};
use sloth::SlothV1;
pub use write::{dropped, to_openslo_v1, to_sloth_v1, write, Dropped, SpecFormat, Written};

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
    crate::check_yaml_nesting(text)?;
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value =
            Value::deserialize(de).map_err(|e| SpecError::invalid("(yaml)", e.to_string()).in_document(i + 1))?;
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
    // Labels of OpenSLO v1 `Service` documents, for the SLOs of that service.
    let mut services: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (_, v) in &docs {
        if str_field(v, "apiVersion") == Some("openslo/v1") && str_field(v, "kind") == Some("Service") {
            let meta = v.get("metadata");
            if let Some(name) = meta.and_then(|m| str_field(m, "name")) {
                let labels = meta.and_then(|m| m.get("labels")).map(labels_from).unwrap_or_default();
                services.entry(name.to_owned()).or_default().extend(labels);
            }
        }
    }
    let mut out = Vec::new();
    for (index, value) in docs {
        let parsed = parse_one(value, opts, &slis, &services).map_err(|e| e.in_document(index))?;
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
    services: &BTreeMap<String, BTreeMap<String, String>>,
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
            other => {
                Err(SpecError::invalid("kind", format!("{other:?} is not supported for openslo/v1alpha (want SLO)")))
            }
        },
        Some("openslo/v1") => match kind.as_str() {
            "SLO" => from_value::<OpenSloV1Slo>(value)?.into_model(opts, slis, services).map(Some),
            // Referenced by SLOs; other kinds do not describe an SLO.
            "SLI" | "Service" | "DataSource" | "AlertPolicy" | "AlertCondition" | "AlertNotificationTarget" => Ok(None),
            other => Err(SpecError::invalid("kind", format!("{other:?} is not an OpenSLO v1 kind"))),
        },
        Some(other) => Err(SpecError::invalid(
            "apiVersion",
            format!(
                "{other:?} is not supported (supported: prometheus/v1, sloth.slok.dev/v1, openslo/v1alpha, openslo/v1)"
            ),
        )),
        None => Err(SpecError::invalid("version", "missing: neither `version` nor `apiVersion` is set")),
    }
}

/// Puts service levels of the same service back together: a level joins the first earlier one
/// with the same service name, labels and source when no SLO name is taken twice; the order of
/// levels and SLOs is kept.
///
/// OpenSLO writes one document per SLO, so reading the OpenSLO form of a Sloth spec gives one
/// service level per SLO; merged, they are the Sloth spec's service level again.
pub fn merge_services(levels: Vec<ServiceLevel>) -> Vec<ServiceLevel> {
    let mut out: Vec<ServiceLevel> = Vec::new();
    for level in levels {
        let home = out.iter_mut().find(|o| {
            o.service == level.service
                && o.labels == level.labels
                && o.source == level.source
                && !level.slos.iter().any(|s| o.slos.iter().any(|t| t.name == s.name))
        });
        match home {
            Some(o) => o.slos.extend(level.slos),
            None => out.push(level),
        }
    }
    out
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
        let (bad, total) = crate::rules::event_queries(&level.slos[1].sli).unwrap();
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
            (
                SPEC.replace(
                    "sum(rate(http_server_request_duration_seconds_count{service_name=\"checkout\"}[{{ .window }}]))",
                    "sum(rate(x[{{.window}}]",
                ),
                "slos[0].sli.events.total_query",
            ),
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
