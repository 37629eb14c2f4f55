//! SLO specs and everything an approved SLO turns into: a `sloth generate` drop-in and more.
//!
//! This crate needs no storage or query engine: a user who only wants SLO specs turned into
//! Prometheus rules depends on it alone.
//!
//! - [`model`]: the canonical model ([`ServiceLevel`], [`Slo`], [`Sli`], [`Alerting`]) every
//!   format is read into.
//! - [`spec`]: readers for Sloth `prometheus/v1`, the Kubernetes `sloth.slok.dev/v1`
//!   `PrometheusServiceLevel` and OpenSLO `v1alpha` / `v1` (one file per format), writers for
//!   Sloth and OpenSLO v1 that list what the target format cannot hold ([`spec::write`],
//!   [`spec::Dropped`]), with validation that names the offending field.
//! - [`windows`]: multi-window multi-burn-rate alert windows (built-in 30d/28d, Sloth
//!   `AlertWindows` files).
//! - [`rules`]: recording rules, metadata rules and page/ticket burn-rate alerts, semantically
//!   equal to what `sloth generate` v0.16 writes (checked against Sloth's own outputs).
//! - [`promtool`]: `promtool check rules` and generated `promtool test rules` unit tests.
//! - [`dashboard`]: a Grafana dashboard per service, with a structural check.
//! - [`runbook`]: a Markdown runbook per SLO (alert PromQL, evidence capsules, trace ids).
//! - [`policy`]: the policy guard (blast radius, approvers) and its hash-chained audit log.
//! - [`gitops`]: a branch, a commit and a push, and the GitHub/GitLab pull request.
//!
//! ```
//! use slo_artifacts::{generate, parse_documents, render_documents, GenerateOptions, ReadOptions};
//!
//! let spec = r#"
//! version: prometheus/v1
//! service: checkout
//! slos:
//!   - name: requests-availability
//!     objective: 99.9
//!     sli:
//!       events:
//!         error_query: sum(rate(http_requests_total{job="checkout",code=~"5.."}[{{.window}}]))
//!         total_query: sum(rate(http_requests_total{job="checkout"}[{{.window}}]))
//!     alerting:
//!       name: CheckoutAvailability
//!       page_alert: {}
//!       ticket_alert: {}
//! "#;
//! let levels = parse_documents(spec, &ReadOptions::default()).unwrap();
//! let rules = generate(&levels[0], &GenerateOptions::default()).unwrap();
//! let yaml = render_documents(&[(rules, levels[0].source.clone())]);
//! assert!(yaml.contains("slo:sli_error:ratio_rate5m"));
//! ```

pub mod dashboard;
pub mod gitops;
pub mod model;
pub mod policy;
pub mod promql;
pub mod promtool;
pub mod rules;
pub mod runbook;
pub mod spec;
pub mod windows;

use std::path::Path;
use std::sync::LazyLock;

pub use model::{AlertMeta, Alerting, PromDuration, ServiceLevel, Sli, Slo, SpecSource};
pub use rules::{generate, is_internal_label, render_documents, GenerateOptions, Rule, RuleFile, RuleGroup};
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

/// The deepest nesting of YAML flow collections (`[…]`, `{…}`) a spec may have. The YAML parser
/// takes time quadratic in the depth (100,000 levels: 38 s), so deeper input is refused before
/// it is parsed; real specs nest a handful of levels.
pub const MAX_YAML_NESTING: usize = 64;

/// Refuses YAML whose flow collections nest deeper than [`MAX_YAML_NESTING`] (brackets inside
/// quoted scalars and comments do not count), naming the line. Cheap: one pass over the text.
///
/// ```
/// assert!(slo_artifacts::check_yaml_nesting("a: [1, {b: [2]}]\nexpr: sum(rate(x[5m]))").is_ok());
/// let deep = format!("a: {}{}", "[".repeat(65), "]".repeat(65));
/// assert!(slo_artifacts::check_yaml_nesting(&deep).unwrap_err().to_string().contains("nested deeper than 64"));
/// ```
pub fn check_yaml_nesting(text: &str) -> Result<(), SpecError> {
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut single, mut double, mut comment, mut escaped) = (false, false, false, false);
    let mut prev = '\n';
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
        }
        if comment {
            prev = c;
            continue;
        }
        let token_start = prev.is_whitespace() || matches!(prev, ':' | ',' | '[' | '{' | '-');
        if double {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => double = false,
                _ => escaped = false,
            }
        } else if single {
            single = c != '\'';
        } else {
            match c {
                '"' if token_start => double = true,
                '\'' if token_start => single = true,
                '#' if prev.is_whitespace() => comment = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_YAML_NESTING {
                        return Err(SpecError::invalid(
                            "(yaml)",
                            format!("collections nested deeper than {MAX_YAML_NESTING} levels at line {line}"),
                        ));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = c;
    }
    Ok(())
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

/// Escapes a Prometheus label value (backslash, double quote, newline).
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
