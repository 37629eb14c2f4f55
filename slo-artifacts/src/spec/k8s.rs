//! The Kubernetes `sloth.slok.dev/v1` `PrometheusServiceLevel` custom resource into the model.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::sloth::*;
use crate::model::*;
use crate::SpecError;

#[derive(Deserialize)]
pub(super) struct K8sServiceLevel {
    #[serde(default)]
    pub(super) metadata: K8sMeta,
    pub(super) spec: K8sSpec,
}

#[derive(Deserialize, Default)]
pub(super) struct K8sMeta {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
pub(super) struct K8sSpec {
    #[serde(default)]
    pub(super) service: String,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) slos: Vec<K8sSlo>,
}

#[derive(Deserialize)]
pub(super) struct K8sSlo {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) objective: f64,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) sli: SlothSli,
    #[serde(default)]
    pub(super) alerting: K8sAlerting,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct K8sAlerting {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) page_alert: SlothAlertMeta,
    #[serde(default)]
    pub(super) ticket_alert: SlothAlertMeta,
}

impl K8sServiceLevel {
    pub(super) fn into_model(self) -> Result<ServiceLevel, SpecError> {
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
