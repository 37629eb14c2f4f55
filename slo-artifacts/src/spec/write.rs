//! Writers: a service level as a Sloth `prometheus/v1` spec or as OpenSLO v1 documents, and
//! the list of what a format cannot hold ([`dropped`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_yaml_ng::Value;

use super::openslo::*;
use super::sloth::*;
use crate::model::*;

pub(super) fn meta_to(m: &AlertMeta) -> SlothAlertMeta {
    SlothAlertMeta { disable: m.disable, labels: m.labels.clone(), annotations: m.annotations.clone() }
}

pub(super) fn sli_to(sli: &Sli) -> SlothSli {
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
pub(super) struct OutOpenSloSlo {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: OpenSloV1Meta,
    pub(super) spec: OutOpenSloSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutOpenSloService {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) metadata: OpenSloV1Meta,
    pub(super) spec: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutOpenSloSpec {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(super) description: String,
    pub(super) service: String,
    pub(super) indicator: OpenSloV1Indicator,
    pub(super) time_window: Vec<OutWindow>,
    pub(super) budgeting_method: &'static str,
    pub(super) objectives: Vec<OutObjective>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutWindow {
    pub(super) duration: String,
    pub(super) is_rolling: bool,
}

#[derive(Serialize)]
pub(super) struct OutObjective {
    pub(super) target: f64,
}

/// Labels OpenSLO can hold (valid OpenSLO keys), as a `metadata.labels` value.
fn openslo_labels(labels: &BTreeMap<String, String>) -> Value {
    let map: serde_yaml_ng::Mapping = labels
        .iter()
        .filter(|(k, _)| valid_openslo_label_key(k))
        .map(|(k, v)| (Value::String(k.clone()), Value::String(v.clone())))
        .collect();
    if map.is_empty() {
        Value::Null
    } else {
        Value::Mapping(map)
    }
}

/// A period as an OpenSLO duration shorthand (`4w`, `30d`, `12h`, `90m`; no compound units).
fn openslo_duration(period: PromDuration) -> String {
    let s = period.seconds();
    match s {
        _ if s.is_multiple_of(7 * 86_400) => format!("{}w", s / (7 * 86_400)),
        _ if s.is_multiple_of(86_400) => format!("{}d", s / 86_400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => period.to_string(),
    }
}

/// Writes a service level as OpenSLO v1 documents: a `Service` document carrying the service's
/// labels (when it has any), then one `SLO` document per SLO (`---` separated) with its labels
/// in `metadata.labels`.
///
/// Events SLIs become `bad`/`total` ratio metrics, raw SLIs `raw` with `rawType: failure`,
/// latency SLIs their equivalent `bad`/`total` queries. `default_period` fills SLOs without one.
/// What OpenSLO cannot hold (Sloth alerting, label keys OpenSLO does not allow) is left out:
/// [`dropped`] lists it, [`write`] returns both.
pub fn to_openslo_v1(level: &ServiceLevel, default_period: PromDuration) -> String {
    let mut out = String::new();
    let service_labels = openslo_labels(&level.labels);
    if !service_labels.is_null() {
        let doc = OutOpenSloService {
            api_version: "openslo/v1",
            kind: "Service",
            metadata: OpenSloV1Meta { name: level.service.clone(), display_name: None, labels: service_labels },
            spec: BTreeMap::new(),
        };
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&doc).expect("spec serialises"));
    }
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
                let (bad, total) = crate::rules::event_queries(other).expect("events or latency");
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
            metadata: OpenSloV1Meta { name: slo.name.clone(), display_name: None, labels: openslo_labels(&slo.labels) },
            spec: OutOpenSloSpec {
                description: slo.description.clone(),
                service: level.service.clone(),
                indicator: OpenSloV1Indicator {
                    api_version: None,
                    kind: None,
                    metadata: OpenSloV1Meta { name: format!("{}-sli", slo.name), ..Default::default() },
                    spec: OpenSloV1IndicatorSpec { ratio_metric: Some(ratio), threshold_metric: None },
                },
                time_window: vec![OutWindow {
                    duration: openslo_duration(slo.period.unwrap_or(default_period)),
                    is_rolling: true,
                }],
                budgeting_method: "Occurrences",
                // As a decimal: 99.9 is `target: 0.999`, not 0.9990000000000001.
                objectives: vec![OutObjective { target: shift_decimal(slo.objective, -2) }],
            },
        };
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&doc).expect("spec serialises"));
    }
    out
}

/// The spec formats [`write`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// Sloth `prometheus/v1` ([`to_sloth_v1`]).
    SlothV1,
    /// OpenSLO v1 `Service` and `SLO` documents ([`to_openslo_v1`]).
    OpenSloV1,
}

impl fmt::Display for SpecFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpecFormat::SlothV1 => "Sloth prometheus/v1",
            SpecFormat::OpenSloV1 => "OpenSLO v1",
        })
    }
}

/// A field of a service level that the target format cannot hold, so the written spec lacks it.
///
/// Only field paths and label or annotation *names* are given, never their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The service.
    pub service: String,
    /// The SLO, or `None` for a field of the whole service level.
    pub slo: Option<String>,
    /// The field, as the source spec names it (`alerting.page_alert.labels.severity`).
    pub field: String,
    /// Why the target format cannot hold it.
    pub why: String,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.slo {
            Some(slo) => write!(f, "service {:?}, SLO {slo:?}: {}: {}", self.service, self.field, self.why),
            None => write!(f, "service {:?}: {}: {}", self.service, self.field, self.why),
        }
    }
}

/// A written spec and what it could not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The spec text (one or more YAML documents, each starting with `---`).
    pub text: String,
    /// Fields left out, in spec order; empty when nothing was lost.
    pub dropped: Vec<Dropped>,
}

/// Writes a service level in `format` and says what the format could not hold.
///
/// `default_period` is the period of SLOs that do not set one: OpenSLO writes it as the time
/// window, and Sloth (which has no per-SLO period) loses a period only where it differs.
pub fn write(level: &ServiceLevel, format: SpecFormat, default_period: PromDuration) -> Written {
    let text = match format {
        SpecFormat::SlothV1 => format!("---\n{}", to_sloth_v1(level)),
        SpecFormat::OpenSloV1 => to_openslo_v1(level, default_period),
    };
    Written { text, dropped: dropped(level, format, default_period) }
}

/// The fields of `level` that `format` cannot hold: what [`to_sloth_v1`] or [`to_openslo_v1`]
/// leave out.
///
/// - OpenSLO v1: Sloth alerting (alert name, labels and annotations such as `severity` or
///   `runbook`, enabled page/ticket alerts: OpenSLO SLOs read back with alerts disabled), label
///   names that are not valid OpenSLO keys (they must start and end with a letter or digit),
///   and the form of a latency SLI (written as its bad/total queries, it reads back as events).
/// - Sloth: an SLO period other than `default_period` (Sloth takes it from
///   `--default-slo-period`).
/// - Both: the object name, namespace and labels of a Kubernetes `PrometheusServiceLevel`.
pub fn dropped(level: &ServiceLevel, format: SpecFormat, default_period: PromDuration) -> Vec<Dropped> {
    let mut out = Vec::new();
    let mut drop = |slo: Option<&Slo>, field: String, why: String| {
        out.push(Dropped { service: level.service.clone(), slo: slo.map(|s| s.name.clone()), field, why })
    };
    if let SpecSource::Kubernetes { .. } = &level.source {
        drop(
            None,
            "metadata".into(),
            format!("{format} has no Kubernetes object: its name, namespace and labels (kept on the generated PrometheusRule) are lost"),
        );
    }
    match format {
        SpecFormat::OpenSloV1 => {
            let bad_key =
                "is not a valid OpenSLO label key (at most 63 characters, starting and ending with a letter or digit)";
            for key in level.labels.keys().filter(|k| !valid_openslo_label_key(k)) {
                drop(None, format!("labels.{key}"), bad_key.into());
            }
            for slo in &level.slos {
                for key in slo.labels.keys().filter(|k| !valid_openslo_label_key(k)) {
                    drop(Some(slo), format!("labels.{key}"), bad_key.into());
                }
                if let Sli::Latency { .. } = slo.sli {
                    drop(
                        Some(slo),
                        "sli.latency".into(),
                        "OpenSLO has no histogram-threshold SLI: written as its bad/total queries, it reads back as sli.events".into(),
                    );
                }
                let no_alerts = "OpenSLO v1 cannot hold Sloth burn-rate alerting";
                let a = &slo.alerting;
                if !a.name.is_empty() {
                    drop(Some(slo), "alerting.name".into(), no_alerts.into());
                }
                for key in a.labels.keys() {
                    drop(Some(slo), format!("alerting.labels.{key}"), no_alerts.into());
                }
                for key in a.annotations.keys() {
                    drop(Some(slo), format!("alerting.annotations.{key}"), no_alerts.into());
                }
                for (name, meta) in [("page_alert", &a.page), ("ticket_alert", &a.ticket)] {
                    if !meta.disable {
                        drop(
                            Some(slo),
                            format!("alerting.{name}"),
                            format!("{no_alerts}: the enabled alert reads back disabled"),
                        );
                    }
                    for key in meta.labels.keys() {
                        drop(Some(slo), format!("alerting.{name}.labels.{key}"), no_alerts.into());
                    }
                    for key in meta.annotations.keys() {
                        drop(Some(slo), format!("alerting.{name}.annotations.{key}"), no_alerts.into());
                    }
                }
            }
        }
        SpecFormat::SlothV1 => {
            let field = match level.source {
                SpecSource::OpenSloV1 => "spec.timeWindow",
                SpecSource::OpenSloV1Alpha => "spec.timeWindows",
                _ => "period",
            };
            for slo in &level.slos {
                if let Some(period) = slo.period.filter(|p| *p != default_period) {
                    drop(
                        Some(slo),
                        field.into(),
                        format!(
                            "Sloth prometheus/v1 has no per-SLO period: the {period} period is lost (generate with --default-slo-period {period})"
                        ),
                    );
                }
            }
        }
    }
    out
}
