//! Policy guard: the blast radius of a change to the SLO artifacts, a decision under policies
//! kept as configuration, and an append-only, hash-chained audit log of the decisions.
//!
//! The guard compares two [`ArtifactSet`]s — what is deployed (the rule files on the base
//! branch) and what is proposed — read from generated rule files alone, so it works on any
//! repository of Sloth-compatible rules. Expected alert frequencies (pages and tickets per week,
//! from a backtest) come in as [`ExpectedFrequency`] values.
//!
//! Policies ([`Policy`], TOML or YAML, every field optional) and their defaults:
//!
//! | field | default | effect |
//! |---|---|---|
//! | `max_pages_per_week_per_service` | 3.0 | more expected pages per week for a service: reject |
//! | `max_tickets_per_week_per_service` | 10.0 | more expected tickets per week for a service: needs approval |
//! | `second_approval_objective_above` | 99.9 | a new or changed objective above it: needs a second approval |
//! | `max_objective_drop` | 0.5 | lowering an objective by more percentage points: needs approval |
//! | `forbid_removing_page_alerts` | true | a page alert removed (or its SLO removed): reject |
//! | `max_services_per_change` | 5 | more services touched in one change: needs approval |
//! | `require_expected_frequency` | false | a page alert added or changed without a measured expected frequency: needs approval |
//! | `low_confidence_frequencies` | `needs-approval` | what a low-confidence frequency over the alert budget means (below) |
//!
//! **Low-confidence frequencies.** A backtest over less than a week of history
//! ([`MIN_FREQUENCY_HISTORY_MINUTES`]) extrapolates its alert counts to a week — one ticket in 30
//! minutes reads as 336 a week — and marks the frequency `low_confidence` (with its
//! `history_minutes`; [`ExpectedFrequency::is_low_confidence`]). The guard never *rejects* on
//! such a number: the page and ticket budgets are checked on the measured frequencies alone
//! ([`BlastRadius::expected_pages_per_week`]); the low-confidence ones are summed apart
//! ([`BlastRadius::low_confidence_pages_per_week`]). When a service is over a budget only with
//! them counted, the change needs one approval (`low_confidence_frequencies = "needs-approval"`,
//! the default) or is merely reported (`"report"`); either way each low-confidence SLO gets an
//! informational reason (policy `low_confidence_frequencies`, verdict `approve`, which never
//! changes the decision) saying that its rates are unmeasured. `require_expected_frequency` wants
//! a measured frequency: a low-confidence one needs approval too. Frequency files without the
//! fields (hand-written, or older) are taken as measured.
//!
//! The audit log is JSON lines; each entry holds the SHA-256 (hex) of the previous line, the
//! first one 64 zeros, so editing, removing or reordering an entry breaks the chain and
//! [`verify_audit_log`] names the first broken line.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::rules::RuleFile;

/// Errors of the policy guard and the audit log.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] FileError),
    /// A policy or rule file does not parse.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The audit log was changed after it was written.
    #[error("audit log {path} line {line}: {reason}")]
    Tampered {
        /// The log.
        path: PathBuf,
        /// 1-based line of the first entry that does not chain.
        line: usize,
        /// What does not match.
        reason: String,
    },
}

/// An I/O error on a named file (shared by the policy guard and GitOps).
#[derive(Debug, thiserror::Error)]
#[error("cannot access {}: {source}", path.display())]
pub struct FileError {
    /// The file or directory.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

/// `map_err` adapter: an I/O error on `path`.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FileError + '_ {
    move |source| FileError { path: path.to_path_buf(), source }
}

/// One alert of an SLO, as it appears in a rule file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEntry {
    /// Alert name.
    pub name: String,
    /// Expression.
    pub expr: String,
    /// Labels (`sloth_severity` included).
    pub labels: BTreeMap<String, String>,
}

/// What the rule files say about one SLO.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SloEntry {
    /// Objective in percent, from `sloth_slo_info`'s `sloth_objective` label or
    /// `slo:objective:ratio` (unknown when recordings are disabled).
    pub objective: Option<f64>,
    /// Alerts by severity (`page`, `ticket`).
    pub alerts: BTreeMap<String, AlertEntry>,
}

/// The SLOs of a set of rule files, keyed by (service, SLO name).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ArtifactSet {
    /// SLOs by `(sloth_service, sloth_slo)`.
    pub slos: BTreeMap<(String, String), SloEntry>,
}

#[derive(Deserialize)]
struct K8sPrometheusRule {
    spec: RuleFile,
}

/// Reads a rule file: a Prometheus rule file (`groups:`) or a `PrometheusRule` object.
pub fn parse_rule_file(text: &str) -> Result<RuleFile, String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    if value.get("kind").and_then(|k| k.as_str()) == Some("PrometheusRule") {
        serde_yaml_ng::from_value::<K8sPrometheusRule>(value).map(|k| k.spec).map_err(|e| e.to_string())
    } else {
        serde_yaml_ng::from_value(value).map_err(|e| e.to_string())
    }
}

static SLOTH_MATCHER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r#"\b(sloth_service|sloth_slo)\s*=\s*"((?:[^"\\]|\\.)*)""#).expect("static regex")
});

/// The (service, SLO) a rule belongs to: its `sloth_service`/`sloth_slo` labels, or for alerts
/// (which carry neither; they inherit them from the series) the matchers in its expression.
fn rule_slo(rule: &super::rules::Rule) -> Option<(String, String)> {
    if let (Some(service), Some(slo)) = (rule.labels.get("sloth_service"), rule.labels.get("sloth_slo")) {
        return Some((service.clone(), slo.clone()));
    }
    let (mut service, mut slo) = (None, None);
    for c in SLOTH_MATCHER.captures_iter(&rule.expr) {
        let value = c[2].replace("\\\"", "\"").replace("\\\\", "\\");
        match &c[1] {
            "sloth_service" => service = service.or(Some(value)),
            _ => slo = slo.or(Some(value)),
        }
    }
    Some((service?, slo?))
}

impl ArtifactSet {
    /// Collects the SLOs of rule files.
    pub fn from_rule_files<'a>(files: impl IntoIterator<Item = &'a RuleFile>) -> Self {
        let mut set = ArtifactSet::default();
        for file in files {
            for rule in file.groups.iter().flat_map(|g| &g.rules) {
                let Some((service, slo)) = rule_slo(rule) else { continue };
                let entry = set.slos.entry((service, slo)).or_default();
                match (rule.record.as_deref(), &rule.alert) {
                    (Some("sloth_slo_info"), _) => {
                        if let Some(o) = rule.labels.get("sloth_objective").and_then(|o| o.parse().ok()) {
                            entry.objective = Some(o);
                        }
                    }
                    (Some("slo:objective:ratio"), _) if entry.objective.is_none() => {
                        let inner = rule.expr.trim().strip_prefix("vector(").and_then(|s| s.strip_suffix(')'));
                        entry.objective = inner.and_then(|v| v.trim().parse::<f64>().ok()).map(|r| r * 100.0);
                    }
                    (_, Some(alert)) => {
                        let severity = rule.labels.get("sloth_severity").cloned().unwrap_or_else(|| "page".into());
                        entry.alerts.insert(
                            severity,
                            AlertEntry { name: alert.clone(), expr: rule.expr.clone(), labels: rule.labels.clone() },
                        );
                    }
                    _ => {}
                }
            }
        }
        set
    }

    /// Reads every `*.yaml`/`*.yml` rule file under `dir/rules/` (an absent directory is an
    /// empty set: nothing deployed yet).
    pub fn from_dir(dir: &Path) -> Result<Self, PolicyError> {
        let rules = dir.join("rules");
        if !rules.is_dir() {
            return Ok(ArtifactSet::default());
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&rules)
            .map_err(io_err(&rules))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
            let file = parse_rule_file(&text).map_err(|reason| PolicyError::Parse { path: path.clone(), reason })?;
            files.push(file);
        }
        Ok(Self::from_rule_files(&files))
    }

    /// Services with at least one SLO.
    pub fn services(&self) -> BTreeSet<String> {
        self.slos.keys().map(|(s, _)| s.clone()).collect()
    }
}

/// History a per-week alert rate needs to be a measurement rather than an extrapolation: one
/// week, in minutes. Shorter backtests mark their frequencies low-confidence.
pub const MIN_FREQUENCY_HISTORY_MINUTES: u64 = 7 * 24 * 60;

/// Expected alert frequency of one SLO, as a backtest estimates it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpectedFrequency {
    /// Service (`sloth_service`).
    pub service: String,
    /// SLO name (`sloth_slo`).
    pub slo: String,
    /// Expected page alerts per week.
    pub pages_per_week: f64,
    /// Expected ticket alerts per week.
    pub tickets_per_week: f64,
    /// Minutes of history the rates were measured over; `None` when unknown (a hand-written
    /// file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_minutes: Option<u64>,
    /// The rates are extrapolated from less history than [`MIN_FREQUENCY_HISTORY_MINUTES`]: the
    /// guard does not reject on them (module docs). Absent: `false`.
    #[serde(default)]
    pub low_confidence: bool,
}

impl ExpectedFrequency {
    /// Whether the rates are low-confidence: marked so, or measured over less than
    /// [`MIN_FREQUENCY_HISTORY_MINUTES`] of history.
    pub fn is_low_confidence(&self) -> bool {
        self.low_confidence || self.history_minutes.is_some_and(|m| m < MIN_FREQUENCY_HISTORY_MINUTES)
    }

    /// `over 30 minutes of history` (or `over an unknown history`), for messages.
    fn history_words(&self) -> String {
        match self.history_minutes {
            Some(m) => format!("over {} of history", minutes_words(m)),
            None => "over an unknown history".to_owned(),
        }
    }
}

/// `30 minutes`, `5.0 hours`, `3.5 days`.
pub fn minutes_words(minutes: u64) -> String {
    match minutes {
        1 => "1 minute".to_owned(),
        m if m < 120 => format!("{m} minutes"),
        m if m < 2 * 1440 => format!("{:.1} hours", m as f64 / 60.0),
        m => format!("{:.1} days", m as f64 / 1440.0),
    }
}

/// How one alert changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// New.
    Added,
    /// Gone.
    Removed,
    /// Expression, name or labels differ.
    Changed,
}

/// One alert added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChange {
    /// Service.
    pub service: String,
    /// SLO.
    pub slo: String,
    /// Alert name (the new one, or the old one when removed).
    pub alert: String,
    /// `page` or `ticket`.
    pub severity: String,
    /// What happened.
    pub change: ChangeKind,
}

/// An objective that is new or differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectiveChange {
    /// Service.
    pub service: String,
    /// SLO.
    pub slo: String,
    /// Objective before (percent), `None` for a new SLO.
    pub old: Option<f64>,
    /// Objective after (percent), `None` for a removed SLO.
    pub new: Option<f64>,
}

/// What a change touches.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BlastRadius {
    /// Services with any SLO or alert added, removed or changed.
    pub services: BTreeSet<String>,
    /// `service-slo` ids added.
    pub slos_added: Vec<String>,
    /// `service-slo` ids removed.
    pub slos_removed: Vec<String>,
    /// Alerts added, removed or changed.
    pub alerts: Vec<AlertChange>,
    /// Page alerts among them.
    pub pages_touched: usize,
    /// Objectives new, changed or removed.
    pub objectives: Vec<ObjectiveChange>,
    /// Expected pages per week per touched service after the change (sum over its SLOs with a
    /// page alert and a known frequency).
    pub expected_pages_per_week: BTreeMap<String, f64>,
    /// Expected tickets per week per touched service after the change.
    pub expected_tickets_per_week: BTreeMap<String, f64>,
    /// Low-confidence expected pages per week per touched service (sum over its SLOs whose
    /// frequency [is low-confidence](ExpectedFrequency::is_low_confidence)); not in
    /// `expected_pages_per_week`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub low_confidence_pages_per_week: BTreeMap<String, f64>,
    /// Low-confidence expected tickets per week per touched service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub low_confidence_tickets_per_week: BTreeMap<String, f64>,
    /// The low-confidence frequencies of the touched services' SLOs with an alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub low_confidence: Vec<ExpectedFrequency>,
}

impl BlastRadius {
    /// Compares the deployed set with the proposed one.
    pub fn between(old: &ArtifactSet, new: &ArtifactSet, frequencies: &[ExpectedFrequency]) -> Self {
        let mut r = BlastRadius::default();
        let keys: BTreeSet<&(String, String)> = old.slos.keys().chain(new.slos.keys()).collect();
        for key in keys {
            let (service, slo) = key;
            let id = format!("{service}-{slo}");
            let (o, n) = (old.slos.get(key), new.slos.get(key));
            let mut touched = false;
            match (o, n) {
                (None, Some(_)) => {
                    r.slos_added.push(id.clone());
                    touched = true;
                }
                (Some(_), None) => {
                    r.slos_removed.push(id.clone());
                    touched = true;
                }
                _ => {}
            }
            let (oo, no) = (o.and_then(|e| e.objective), n.and_then(|e| e.objective));
            if oo != no {
                r.objectives.push(ObjectiveChange { service: service.clone(), slo: slo.clone(), old: oo, new: no });
                touched = true;
            }
            let empty = BTreeMap::new();
            let (oa, na) = (o.map(|e| &e.alerts).unwrap_or(&empty), n.map(|e| &e.alerts).unwrap_or(&empty));
            let severities: BTreeSet<&String> = oa.keys().chain(na.keys()).collect();
            for sev in severities {
                let change = match (oa.get(sev), na.get(sev)) {
                    (None, Some(a)) => Some((ChangeKind::Added, a)),
                    (Some(a), None) => Some((ChangeKind::Removed, a)),
                    (Some(a), Some(b)) if a != b => Some((ChangeKind::Changed, b)),
                    _ => None,
                };
                if let Some((change, alert)) = change {
                    touched = true;
                    if sev == "page" {
                        r.pages_touched += 1;
                    }
                    r.alerts.push(AlertChange {
                        service: service.clone(),
                        slo: slo.clone(),
                        alert: alert.name.clone(),
                        severity: sev.clone(),
                        change,
                    });
                }
            }
            if touched {
                r.services.insert(service.clone());
            }
        }
        for service in &r.services {
            // [measured, low-confidence] sums
            let mut pages = [None, None];
            let mut tickets = [None, None];
            for ((s, slo), entry) in new.slos.iter().filter(|((s, _), _)| s == service) {
                let Some(f) = frequencies.iter().find(|f| &f.service == s && &f.slo == slo) else { continue };
                let low = usize::from(f.is_low_confidence());
                let (page, ticket) = (entry.alerts.contains_key("page"), entry.alerts.contains_key("ticket"));
                if page {
                    *pages[low].get_or_insert(0.0) += f.pages_per_week;
                }
                if ticket {
                    *tickets[low].get_or_insert(0.0) += f.tickets_per_week;
                }
                if low == 1 && (page || ticket) {
                    r.low_confidence.push(f.clone());
                }
            }
            for (sums, maps) in [
                (pages, [&mut r.expected_pages_per_week, &mut r.low_confidence_pages_per_week]),
                (tickets, [&mut r.expected_tickets_per_week, &mut r.low_confidence_tickets_per_week]),
            ] {
                for (sum, map) in sums.into_iter().zip(maps) {
                    if let Some(v) = sum {
                        map.insert(service.clone(), v);
                    }
                }
            }
        }
        r
    }

    /// Whether the change touches nothing.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }
}

/// Policies; every field has a documented default (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Expected pages per week per service above which a change is rejected.
    pub max_pages_per_week_per_service: f64,
    /// Expected tickets per week per service above which a change needs approval.
    pub max_tickets_per_week_per_service: f64,
    /// Objectives (percent) above this need a second approval when new or changed.
    pub second_approval_objective_above: f64,
    /// Lowering an objective by more percentage points than this needs approval.
    pub max_objective_drop: f64,
    /// Removing a page alert (or an SLO that had one) is rejected.
    pub forbid_removing_page_alerts: bool,
    /// Touching more services than this in one change needs approval.
    pub max_services_per_change: usize,
    /// A page alert added or changed without a measured expected frequency needs approval.
    pub require_expected_frequency: bool,
    /// What a service over its page or ticket budget only with low-confidence frequencies
    /// counted means (module docs).
    pub low_confidence_frequencies: LowConfidenceAction,
}

/// What the guard does with a service over an alert budget only when low-confidence
/// frequencies are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LowConfidenceAction {
    /// The change needs one approval (never a rejection).
    #[default]
    NeedsApproval,
    /// Only reported, as an informational reason.
    Report,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_pages_per_week_per_service: 3.0,
            max_tickets_per_week_per_service: 10.0,
            second_approval_objective_above: 99.9,
            max_objective_drop: 0.5,
            forbid_removing_page_alerts: true,
            max_services_per_change: 5,
            require_expected_frequency: false,
            low_confidence_frequencies: LowConfidenceAction::NeedsApproval,
        }
    }
}

impl Policy {
    /// Reads a policy file: TOML for `.toml`, YAML otherwise.
    pub fn from_file(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let parsed = if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            toml::from_str(&text).map_err(|e| e.to_string())
        } else {
            serde_yaml_ng::from_str(&text).map_err(|e| e.to_string())
        };
        parsed.map_err(|reason| PolicyError::Parse { path: path.to_path_buf(), reason })
    }
}

/// The guard's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Nothing stands against the change.
    Approve,
    /// A person (or more) must approve it first.
    NeedsApproval,
    /// The change breaks a policy.
    Reject,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Approve => "approve",
            Verdict::NeedsApproval => "needs-approval",
            Verdict::Reject => "reject",
        })
    }
}

/// One policy finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// The policy field that produced it.
    pub policy: String,
    /// What it means for the change.
    pub verdict: Verdict,
    /// Approvals it needs (for `needs-approval`).
    pub approvals: u32,
    /// Human-readable explanation.
    pub message: String,
}

/// The decision on a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The worst verdict of the reasons (approve when there is none).
    pub verdict: Verdict,
    /// Approvals needed (the most any reason asks for); 0 unless `needs-approval`.
    pub approvals_required: u32,
    /// Distinct approvers counted (the author excluded).
    pub approved_by: Vec<String>,
    /// Why.
    pub reasons: Vec<Reason>,
    /// What the change touches.
    pub blast_radius: BlastRadius,
}

impl Decision {
    /// Counts `approvers` (distinct, the author excluded); a `needs-approval` decision with
    /// enough of them becomes `approve`. A rejection stays a rejection.
    pub fn with_approvals(mut self, approvers: &[String], author: &str) -> Self {
        let mut set: Vec<String> = Vec::new();
        for a in approvers {
            let a = a.trim();
            if !a.is_empty() && a != author && !set.iter().any(|s| s == a) {
                set.push(a.to_owned());
            }
        }
        self.approved_by = set;
        if self.verdict == Verdict::NeedsApproval && self.approved_by.len() as u32 >= self.approvals_required {
            self.verdict = Verdict::Approve;
        }
        self
    }
}

/// Evaluates a change against the policies.
pub fn evaluate(policy: &Policy, old: &ArtifactSet, new: &ArtifactSet, frequencies: &[ExpectedFrequency]) -> Decision {
    let radius = BlastRadius::between(old, new, frequencies);
    let mut reasons = Vec::new();
    let mut push = |policy: &str, verdict: Verdict, approvals: u32, message: String| {
        reasons.push(Reason { policy: policy.to_owned(), verdict, approvals, message });
    };
    if policy.forbid_removing_page_alerts {
        for a in radius.alerts.iter().filter(|a| a.severity == "page" && a.change == ChangeKind::Removed) {
            push(
                "forbid_removing_page_alerts",
                Verdict::Reject,
                0,
                format!("removes the page alert {} of {}-{}", a.alert, a.service, a.slo),
            );
        }
    }
    for (service, pages) in &radius.expected_pages_per_week {
        if *pages > policy.max_pages_per_week_per_service {
            push(
                "max_pages_per_week_per_service",
                Verdict::Reject,
                0,
                format!(
                    "{service} is expected to page {pages:.2} times a week (limit {})",
                    policy.max_pages_per_week_per_service
                ),
            );
        }
    }
    for (service, tickets) in &radius.expected_tickets_per_week {
        if *tickets > policy.max_tickets_per_week_per_service {
            push(
                "max_tickets_per_week_per_service",
                Verdict::NeedsApproval,
                1,
                format!(
                    "{service} is expected to open {tickets:.2} tickets a week (limit {})",
                    policy.max_tickets_per_week_per_service
                ),
            );
        }
    }
    // Over a budget only with the low-confidence (extrapolated) frequencies counted: never a
    // rejection; an approval or a report, as the policy says.
    let (low_verdict, low_approvals, low_advice) = match policy.low_confidence_frequencies {
        LowConfidenceAction::NeedsApproval => (Verdict::NeedsApproval, 1, "approve, or backtest over a week or more"),
        LowConfidenceAction::Report => (Verdict::Approve, 0, "reported only"),
    };
    for (field, what, limit, measured, low) in [
        (
            "max_pages_per_week_per_service",
            "page",
            policy.max_pages_per_week_per_service,
            &radius.expected_pages_per_week,
            &radius.low_confidence_pages_per_week,
        ),
        (
            "max_tickets_per_week_per_service",
            "ticket",
            policy.max_tickets_per_week_per_service,
            &radius.expected_tickets_per_week,
            &radius.low_confidence_tickets_per_week,
        ),
    ] {
        for (service, extrapolated) in low {
            let sure = measured.get(service).copied().unwrap_or(0.0);
            let total = sure + extrapolated;
            if sure <= limit && total > limit {
                let rate = if what == "page" {
                    format!("page {total:.2} times a week")
                } else {
                    format!("open {total:.2} tickets a week")
                };
                push(
                    field,
                    low_verdict,
                    low_approvals,
                    format!(
                        "{service} would {rate} (limit {limit}), {extrapolated:.2} of them extrapolated from less than a week of history (low confidence, not measured): {low_advice}"
                    ),
                );
            }
        }
    }
    for f in &radius.low_confidence {
        push(
            "low_confidence_frequencies",
            Verdict::Approve,
            0,
            format!(
                "{}-{}: {:.2} pages and {:.2} tickets a week are low confidence, extrapolated {} (less than a week): unmeasured, not held against the alert budget",
                f.service,
                f.slo,
                f.pages_per_week,
                f.tickets_per_week,
                f.history_words()
            ),
        );
    }
    for o in &radius.objectives {
        if let Some(new) = o.new.filter(|n| *n > policy.second_approval_objective_above) {
            push(
                "second_approval_objective_above",
                Verdict::NeedsApproval,
                2,
                format!(
                    "{}-{} objective {new}% is above {}%: needs a second approval",
                    o.service, o.slo, policy.second_approval_objective_above
                ),
            );
        }
        if let (Some(old), Some(new)) = (o.old, o.new) {
            if old - new > policy.max_objective_drop + 1e-9 {
                push(
                    "max_objective_drop",
                    Verdict::NeedsApproval,
                    1,
                    format!(
                        "{}-{} objective drops from {old}% to {new}% (more than {} points)",
                        o.service, o.slo, policy.max_objective_drop
                    ),
                );
            }
        }
    }
    if radius.services.len() > policy.max_services_per_change {
        push(
            "max_services_per_change",
            Verdict::NeedsApproval,
            1,
            format!("touches {} services (limit {})", radius.services.len(), policy.max_services_per_change),
        );
    }
    if policy.require_expected_frequency {
        for a in radius.alerts.iter().filter(|a| a.severity == "page" && a.change != ChangeKind::Removed) {
            match frequencies.iter().find(|f| f.service == a.service && f.slo == a.slo) {
                None => push(
                    "require_expected_frequency",
                    Verdict::NeedsApproval,
                    1,
                    format!(
                        "page alert {} of {}-{} has no expected frequency (run a backtest)",
                        a.alert, a.service, a.slo
                    ),
                ),
                Some(f) if f.is_low_confidence() => push(
                    "require_expected_frequency",
                    Verdict::NeedsApproval,
                    1,
                    format!(
                        "page alert {} of {}-{} has only a low-confidence expected frequency, extrapolated {} (backtest over a week or more)",
                        a.alert,
                        a.service,
                        a.slo,
                        f.history_words()
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    let verdict = reasons.iter().map(|r| r.verdict).max().unwrap_or(Verdict::Approve);
    let approvals_required = if verdict == Verdict::NeedsApproval {
        reasons.iter().filter(|r| r.verdict == Verdict::NeedsApproval).map(|r| r.approvals).max().unwrap_or(0)
    } else {
        0
    };
    tracing::info!(%verdict, reasons = reasons.len(), services = radius.services.len(), "policy decision");
    Decision { verdict, approvals_required, approved_by: Vec::new(), reasons, blast_radius: radius }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1-based position in the log.
    pub seq: u64,
    /// RFC 3339 UTC time of the decision.
    pub when: String,
    /// Who asked for the change.
    pub who: String,
    /// What the change is (branch, repository, files, ...), free-form.
    pub what: serde_json::Value,
    /// The verdict.
    pub decision: Verdict,
    /// Approvers counted.
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// The reasons' messages.
    pub reasons: Vec<String>,
    /// SHA-256 (hex) of the previous line's bytes (without its newline); 64 zeros for the first.
    pub prev: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn sha256_hex(line: &str) -> String {
    hex::encode(Sha256::digest(line.as_bytes()))
}

/// Checks the whole chain of an audit log and returns its entries. An absent file is an empty
/// log.
pub fn verify_audit_log(path: &Path) -> Result<Vec<AuditEntry>, PolicyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path)(e).into()),
    };
    let tampered = |line: usize, reason: String| PolicyError::Tampered { path: path.to_path_buf(), line, reason };
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(tampered(text.lines().count(), "the last entry is cut off (no newline)".into()));
    }
    let mut prev = GENESIS.to_owned();
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry: AuditEntry =
            serde_json::from_str(line).map_err(|e| tampered(i + 1, format!("not an audit entry: {e}")))?;
        if entry.prev != prev {
            return Err(tampered(i + 1, format!("prev is {} but the previous line hashes to {prev}", entry.prev)));
        }
        if entry.seq != i as u64 + 1 {
            return Err(tampered(i + 1, format!("seq is {} where {} was expected", entry.seq, i + 1)));
        }
        prev = sha256_hex(line);
        entries.push(entry);
    }
    Ok(entries)
}

/// Appends a decision to the audit log (created when absent) after verifying the chain so far;
/// returns the entry written.
pub fn append_audit(
    path: &Path,
    who: &str,
    what: serde_json::Value,
    decision: &Decision,
) -> Result<AuditEntry, PolicyError> {
    let existing = verify_audit_log(path)?;
    let prev = match std::fs::read_to_string(path) {
        Ok(text) => text.lines().last().map(sha256_hex).unwrap_or_else(|| GENESIS.to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => GENESIS.to_owned(),
        Err(e) => return Err(io_err(path)(e).into()),
    };
    let entry = AuditEntry {
        seq: existing.len() as u64 + 1,
        when: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        who: who.to_owned(),
        what,
        decision: decision.verdict,
        approved_by: decision.approved_by.clone(),
        reasons: decision.reasons.iter().map(|r| r.message.clone()).collect(),
        prev,
    };
    let line = serde_json::to_string(&entry).expect("audit entry serialises");
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(io_err(path))?;
    file.write_all(format!("{line}\n").as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))?;
    tracing::info!(path = %path.display(), seq = entry.seq, decision = %entry.decision, "audit entry appended");
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate, parse_documents, GenerateOptions, ReadOptions};

    fn spec(objective: f64, page: bool, extra_service: bool) -> String {
        let mut s = format!(
            r#"
version: "prometheus/v1"
service: "checkout"
slos:
  - name: "availability"
    objective: {objective}
    sli:
      events:
        error_query: sum(rate(http_requests_total{{job="checkout",code=~"5.."}}[{{{{.window}}}}]))
        total_query: sum(rate(http_requests_total{{job="checkout"}}[{{{{.window}}}}]))
    alerting:
      name: CheckoutAvailability
      page_alert: {{disable: {}}}
"#,
            !page
        );
        if extra_service {
            s.push_str(
                r#"---
version: "prometheus/v1"
service: "search"
slos:
  - name: "availability"
    objective: 99
    sli:
      raw:
        error_ratio_query: sum(rate(search_errors_total[{{.window}}])) / sum(rate(search_requests_total[{{.window}}]))
    alerting:
      name: SearchAvailability
"#,
            );
        }
        s
    }

    fn set(text: &str) -> ArtifactSet {
        let levels = parse_documents(text, &ReadOptions::default()).unwrap();
        let files: Vec<RuleFile> = levels.iter().map(|l| generate(l, &GenerateOptions::default()).unwrap()).collect();
        // Through YAML, as the guard reads them from a repository.
        let files: Vec<RuleFile> =
            files.iter().map(|f| parse_rule_file(&serde_yaml_ng::to_string(f).unwrap()).unwrap()).collect();
        ArtifactSet::from_rule_files(&files)
    }

    fn freq(service: &str, pages: f64, tickets: f64) -> ExpectedFrequency {
        ExpectedFrequency {
            service: service.into(),
            slo: "availability".into(),
            pages_per_week: pages,
            tickets_per_week: tickets,
            history_minutes: Some(4 * MIN_FREQUENCY_HISTORY_MINUTES),
            low_confidence: false,
        }
    }

    /// Regression (issue "The newcomer's path"): a backtest over 30 minutes extrapolated one
    /// ticket to 336 a week and the guard took it as measured, rejecting or holding a change on
    /// a number no week of history ever showed.
    #[test]
    fn low_confidence_frequencies_are_reported_not_held_against_the_budget() {
        let old = ArtifactSet::default();
        let new = set(&spec(99.5, true, false));
        let short =
            ExpectedFrequency { history_minutes: Some(30), low_confidence: true, ..freq("checkout", 0.0, 336.0) };
        assert!(short.is_low_confidence());
        // Within the budget: approved, with an informational reason saying it is unmeasured.
        let quiet = ExpectedFrequency { tickets_per_week: 2.0, ..short.clone() };
        let d = evaluate(&Policy::default(), &old, &new, &[quiet]);
        assert_eq!(d.verdict, Verdict::Approve, "{:?}", d.reasons);
        assert_eq!(d.reasons.len(), 1, "{:?}", d.reasons);
        let r = &d.reasons[0];
        assert_eq!((r.policy.as_str(), r.verdict), ("low_confidence_frequencies", Verdict::Approve));
        assert!(r.message.contains("low confidence") && r.message.contains("30 minutes"), "{}", r.message);
        assert!(d.blast_radius.expected_tickets_per_week.is_empty());
        assert_eq!(d.blast_radius.low_confidence_tickets_per_week["checkout"], 2.0);
        // 336 extrapolated tickets: one approval, not the measured check's verdict.
        let d = evaluate(&Policy::default(), &old, &new, std::slice::from_ref(&short));
        assert_eq!((d.verdict, d.approvals_required), (Verdict::NeedsApproval, 1), "{:?}", d.reasons);
        assert!(
            d.reasons.iter().any(|r| r.policy == "max_tickets_per_week_per_service"
                && r.message.contains("336.00 tickets a week")
                && r.message.contains("low confidence")),
            "{:?}",
            d.reasons
        );
        // Pages over the budget from a short history: never a rejection.
        let paging = ExpectedFrequency { pages_per_week: 40.0, ..short.clone() };
        let d = evaluate(&Policy::default(), &old, &new, std::slice::from_ref(&paging));
        assert_eq!(d.verdict, Verdict::NeedsApproval, "{:?}", d.reasons);
        // The same rates measured over four weeks: rejected as before.
        let measured = ExpectedFrequency { history_minutes: Some(40_320), low_confidence: false, ..paging.clone() };
        assert_eq!(evaluate(&Policy::default(), &old, &new, &[measured]).verdict, Verdict::Reject);
        // `report`: over the budget on extrapolations is only reported.
        let report = Policy { low_confidence_frequencies: LowConfidenceAction::Report, ..Policy::default() };
        let d = evaluate(&report, &old, &new, std::slice::from_ref(&paging));
        assert_eq!(d.verdict, Verdict::Approve, "{:?}", d.reasons);
        assert!(d.reasons.iter().all(|r| r.verdict == Verdict::Approve) && d.reasons.len() == 3, "{:?}", d.reasons);
        // A measured page budget breach is still a rejection beside a low-confidence SLO.
        let both = set(&spec(99.5, true, true));
        let d = evaluate(&Policy::default(), &old, &both, &[paging.clone(), freq("search", 4.0, 0.0)]);
        assert_eq!(d.verdict, Verdict::Reject, "{:?}", d.reasons);
        assert!(d.reasons.iter().any(|r| r.message.contains("search is expected to page 4.00")), "{:?}", d.reasons);
        // `require_expected_frequency` wants a measured frequency.
        let strict = Policy { require_expected_frequency: true, ..Policy::default() };
        let d = evaluate(&strict, &old, &new, &[quiet_frequency()]);
        assert!(
            d.reasons.iter().any(|r| r.policy == "require_expected_frequency" && r.message.contains("low-confidence")),
            "{:?}",
            d.reasons
        );
        // Only the history decides when the flag is missing (older files); no history: measured.
        let unflagged = ExpectedFrequency { low_confidence: false, ..short };
        assert!(unflagged.is_low_confidence());
        let old_file: ExpectedFrequency = serde_json::from_str(
            r#"{"service":"checkout","slo":"availability","pages_per_week":4,"tickets_per_week":0}"#,
        )
        .unwrap();
        assert!(!old_file.is_low_confidence() && old_file.history_minutes.is_none());
        assert_eq!(evaluate(&Policy::default(), &old, &new, &[old_file]).verdict, Verdict::Reject);
        // The policy field reads from files.
        let p: Policy = toml::from_str("low_confidence_frequencies = \"report\"\n").unwrap();
        assert_eq!(p.low_confidence_frequencies, LowConfidenceAction::Report);
    }

    fn quiet_frequency() -> ExpectedFrequency {
        ExpectedFrequency { history_minutes: Some(60), low_confidence: true, ..freq("checkout", 0.1, 0.1) }
    }

    #[test]
    fn reads_objectives_and_alerts_from_rule_files() {
        let s = set(&spec(99.5, true, true));
        let e = &s.slos[&("checkout".to_string(), "availability".to_string())];
        assert_eq!(e.objective, Some(99.5));
        assert_eq!(e.alerts.keys().collect::<Vec<_>>(), ["page", "ticket"]);
        assert_eq!(e.alerts["page"].name, "CheckoutAvailability");
        assert_eq!(s.services().len(), 2);
    }

    #[test]
    fn identical_sets_are_approved_with_nothing_touched() {
        let s = set(&spec(99.5, true, false));
        let d = evaluate(&Policy::default(), &s, &s, &[]);
        assert_eq!(d.verdict, Verdict::Approve);
        assert!(d.blast_radius.is_empty());
        assert!(d.reasons.is_empty());
    }

    #[test]
    fn new_service_is_its_blast_radius() {
        let old = set(&spec(99.5, true, false));
        let new = set(&spec(99.5, true, true));
        let d = evaluate(&Policy::default(), &old, &new, &[freq("search", 0.5, 2.0)]);
        assert_eq!(d.verdict, Verdict::Approve, "{:?}", d.reasons);
        let r = &d.blast_radius;
        assert_eq!(r.services, BTreeSet::from(["search".to_string()]));
        assert_eq!(r.slos_added, vec!["search-availability"]);
        assert_eq!(r.pages_touched, 1);
        assert_eq!(r.alerts.len(), 2);
        assert_eq!(r.expected_pages_per_week["search"], 0.5);
        assert_eq!(r.expected_tickets_per_week["search"], 2.0);
    }

    #[test]
    fn removing_a_page_alert_is_rejected() {
        let old = set(&spec(99.5, true, false));
        let new = set(&spec(99.5, false, false));
        let d = evaluate(&Policy::default(), &old, &new, &[]);
        assert_eq!(d.verdict, Verdict::Reject);
        assert!(d.reasons[0].message.contains("removes the page alert CheckoutAvailability"), "{:?}", d.reasons);
        let lenient = Policy { forbid_removing_page_alerts: false, ..Policy::default() };
        assert_eq!(evaluate(&lenient, &old, &new, &[]).verdict, Verdict::Approve);
        // Approvals never overturn a rejection.
        assert_eq!(d.with_approvals(&["a".into(), "b".into(), "c".into()], "me").verdict, Verdict::Reject);
    }

    #[test]
    fn too_many_pages_are_rejected_and_tickets_need_approval() {
        let old = ArtifactSet::default();
        let new = set(&spec(99.5, true, false));
        let d = evaluate(&Policy::default(), &old, &new, &[freq("checkout", 4.0, 1.0)]);
        assert_eq!(d.verdict, Verdict::Reject);
        assert!(d.reasons.iter().any(|r| r.message.contains("page 4.00 times a week (limit 3)")), "{:?}", d.reasons);
        let d = evaluate(&Policy::default(), &old, &new, &[freq("checkout", 1.0, 12.0)]);
        assert_eq!(d.verdict, Verdict::NeedsApproval);
        assert_eq!(d.approvals_required, 1);
    }

    #[test]
    fn high_objectives_need_a_second_approval() {
        let old = set(&spec(99.5, true, false));
        let new = set(&spec(99.95, true, false));
        let d = evaluate(&Policy::default(), &old, &new, &[]);
        assert_eq!(d.verdict, Verdict::NeedsApproval);
        assert_eq!(d.approvals_required, 2);
        assert_eq!(d.blast_radius.objectives[0].old, Some(99.5));
        assert_eq!(d.blast_radius.objectives[0].new, Some(99.95));
        // The page alert's expression changed with the objective.
        assert!(d.blast_radius.alerts.iter().any(|a| a.severity == "page" && a.change == ChangeKind::Changed));
        let one = d.clone().with_approvals(&["alice".into(), "me".into(), "alice".into()], "me");
        assert_eq!((one.verdict, one.approved_by.len()), (Verdict::NeedsApproval, 1));
        let two = d.with_approvals(&["alice".into(), "bob".into()], "me");
        assert_eq!(two.verdict, Verdict::Approve);
    }

    #[test]
    fn dropping_an_objective_needs_approval() {
        let old = set(&spec(99.5, true, false));
        let new = set(&spec(98.0, true, false));
        let d = evaluate(&Policy::default(), &old, &new, &[]);
        assert_eq!(d.verdict, Verdict::NeedsApproval);
        assert!(d.reasons[0].message.contains("drops from 99.5% to 98%"), "{:?}", d.reasons);
    }

    #[test]
    fn policies_load_from_toml_and_yaml_and_reject_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("policy.toml");
        std::fs::write(&toml_path, "max_pages_per_week_per_service = 1.5\nforbid_removing_page_alerts = false\n")
            .unwrap();
        let p = Policy::from_file(&toml_path).unwrap();
        assert_eq!(p.max_pages_per_week_per_service, 1.5);
        assert!(!p.forbid_removing_page_alerts);
        assert_eq!(p.second_approval_objective_above, 99.9, "unset fields keep their defaults");
        let yaml_path = dir.path().join("policy.yaml");
        std::fs::write(&yaml_path, "max_services_per_change: 1\nrequire_expected_frequency: true\n").unwrap();
        let p = Policy::from_file(&yaml_path).unwrap();
        assert_eq!(p.max_services_per_change, 1);
        let d = evaluate(&p, &ArtifactSet::default(), &set(&spec(99.5, true, true)), &[]);
        assert_eq!(d.verdict, Verdict::NeedsApproval);
        assert!(d.reasons.iter().any(|r| r.policy == "max_services_per_change"));
        assert!(d.reasons.iter().any(|r| r.policy == "require_expected_frequency"));
        std::fs::write(&yaml_path, "max_pages_per_wek: 1\n").unwrap();
        let err = Policy::from_file(&yaml_path).unwrap_err().to_string();
        assert!(err.contains("max_pages_per_wek"), "{err}");
    }

    #[test]
    fn audit_log_chains_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit").join("log.jsonl");
        let old = set(&spec(99.5, true, false));
        let new = set(&spec(99.95, true, false));
        let d = evaluate(&Policy::default(), &old, &new, &[]);
        for who in ["alice", "bob", "carol"] {
            append_audit(&path, who, serde_json::json!({"branch": format!("slo/{who}")}), &d).unwrap();
        }
        let entries = verify_audit_log(&path).unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].prev, GENESIS);
        assert_eq!(entries[2].who, "carol");
        assert_eq!(entries[1].decision, Verdict::NeedsApproval);
        assert!(entries[1].reasons[0].contains("second approval"));

        let original = std::fs::read_to_string(&path).unwrap();
        // Edit a decision.
        std::fs::write(&path, original.replacen("\"needs-approval\"", "\"approve\"", 1)).unwrap();
        let err = verify_audit_log(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        // Drop the middle entry.
        let lines: Vec<&str> = original.lines().collect();
        std::fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(verify_audit_log(&path), Err(PolicyError::Tampered { line: 2, .. })));
        // Appending to a tampered log is refused.
        assert!(append_audit(&path, "mallory", serde_json::json!({}), &d).is_err());
        // Truncating the tail is not detectable by the chain alone, but a cut line is.
        std::fs::write(&path, &original[..original.len() - 5]).unwrap();
        assert!(verify_audit_log(&path).is_err());
        std::fs::write(&path, &original).unwrap();
        assert_eq!(verify_audit_log(&path).unwrap().len(), 3);
    }
}
