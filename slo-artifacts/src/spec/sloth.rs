//! Sloth `prometheus/v1` specs (and slo-scout's `sli.latency` extension) into the model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use crate::model::*;
use crate::SpecError;

#[derive(Deserialize, Serialize, Default)]
pub(super) struct SlothV1 {
    pub(super) version: String,
    pub(super) service: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) slos: Vec<SlothSlo>,
}

#[derive(Deserialize, Serialize, Default)]
pub(super) struct SlothSlo {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) objective: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) sli: SlothSli,
    #[serde(default)]
    pub(super) alerting: SlothAlerting,
}

#[derive(Deserialize, Serialize, Default)]
pub(super) struct SlothSli {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) events: Option<SlothEvents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) raw: Option<SlothRaw>,
    /// slo-scout extension: histogram-threshold latency SLI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) latency: Option<LatencyDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) plugin: Option<Value>,
}

#[derive(Deserialize, Serialize)]
pub(super) struct SlothEvents {
    #[serde(default, alias = "errorQuery")]
    pub(super) error_query: String,
    #[serde(default, alias = "totalQuery")]
    pub(super) total_query: String,
}

#[derive(Deserialize, Serialize)]
pub(super) struct SlothRaw {
    #[serde(default, alias = "errorRatioQuery")]
    pub(super) error_ratio_query: String,
}

#[derive(Deserialize, Serialize)]
pub(super) struct LatencyDoc {
    pub(super) histogram: String,
    #[serde(default)]
    pub(super) selector: String,
    pub(super) threshold: f64,
}

#[derive(Deserialize, Serialize, Default)]
pub(super) struct SlothAlerting {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(super) name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) page_alert: SlothAlertMeta,
    #[serde(default)]
    pub(super) ticket_alert: SlothAlertMeta,
}

#[derive(Deserialize, Serialize, Default)]
pub(super) struct SlothAlertMeta {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) disable: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) annotations: BTreeMap<String, String>,
}

pub(super) fn sli_from(sli: SlothSli) -> Result<Sli, SpecError> {
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

pub(super) fn meta_from(m: SlothAlertMeta) -> AlertMeta {
    AlertMeta { disable: m.disable, labels: m.labels, annotations: m.annotations }
}

/// SLOs of a Sloth spec (either flavour); `prefix` is where `slos` sits (`""` or `"spec."`).
pub(super) fn slos_from(slos: Vec<SlothSlo>, prefix: &str) -> Result<Vec<Slo>, SpecError> {
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
    pub(super) fn into_model(self) -> Result<ServiceLevel, SpecError> {
        let slos = slos_from(self.slos, "")?;
        Ok(ServiceLevel { service: self.service, labels: self.labels, slos, source: SpecSource::SlothV1 })
    }
}
