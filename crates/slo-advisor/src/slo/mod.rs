//! SLO specs and the Prometheus rules generated from them.
//!
//! - [`model`]: the canonical model ([`ServiceLevel`], [`Slo`], [`Sli`], [`Alerting`]) every
//!   format is read into.
//! - [`spec`]: readers and writers for Sloth `prometheus/v1`, the Kubernetes
//!   `sloth.slok.dev/v1` `PrometheusServiceLevel`, and OpenSLO `v1alpha` / `v1`, with validation
//!   that names the offending field.
//! - [`windows`]: multi-window multi-burn-rate alert windows (built-in 30d/28d, Sloth
//!   `AlertWindows` files).
//! - [`rules`]: recording rules, metadata rules and page/ticket burn-rate alerts, semantically
//!   equal to what `sloth generate` v0.16 writes (checked against Sloth's own outputs).

pub mod dashboard;
pub mod gitops;
pub mod model;
pub mod policy;
pub mod promtool;
pub mod rules;
pub mod runbook;
pub mod spec;
pub mod windows;

use std::path::Path;
use std::sync::LazyLock;

pub use model::{AlertMeta, Alerting, PromDuration, ServiceLevel, Sli, Slo, SpecSource};
pub use rules::{generate, render_documents, GenerateOptions, Rule, RuleFile, RuleGroup};
pub use spec::{parse_documents, to_openslo_v1, to_sloth_v1, ReadOptions};
pub use windows::{AlertWindows, BurnWindow, WindowCatalog};

/// An SLO spec is wrong; the message names the field (`slos[1].objective`) and, where known, the
/// file and document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{location}{field}: {reason}")]
pub struct SpecError {
    /// `file: document N: ` prefix, empty when unknown.
    pub location: String,
    /// The field path.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl SpecError {
    /// An error about `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SpecError { location: String::new(), field: field.into(), reason: reason.into() }
    }

    /// Adds the document index (1-based) to the location.
    pub fn in_document(mut self, index: usize) -> Self {
        self.location = format!("{}document {index}: ", self.location);
        self
    }

    /// Adds the file to the location.
    pub fn in_file(mut self, path: &Path) -> Self {
        self.location = format!("{}: {}", path.display(), self.location);
        self
    }
}

/// Matches Sloth's Go-template window placeholder, with or without inner spaces.
pub(crate) static WINDOW_PLACEHOLDER: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\{\{\s*\.window\s*\}\}").expect("static regex"));

/// Replaces `{{.window}}` in a query with a concrete range such as `5m`.
pub fn render_window(query: &str, window: PromDuration) -> String {
    WINDOW_PLACEHOLDER.replace_all(query, window.to_string().as_str()).into_owned()
}
