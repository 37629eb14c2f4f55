//! Writers: a service level as a Sloth `prometheus/v1` spec or as OpenSLO v1 documents.

use serde::Serialize;

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
pub(super) struct OutOpenSloSpec {
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
