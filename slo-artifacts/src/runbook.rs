//! Markdown runbooks, one per SLO: what the alert means (objective, period, error budget, the
//! page and ticket windows with their burn-rate factors), the alert PromQL exactly as generated,
//! evidence capsules and sample trace ids when given, and first checks with ready-to-run
//! queries.

use std::fmt::Write as _;

use sha2::Digest;
use slo_dataflow::event::CapsuleEvidence as Evidence;

use super::dashboard::{dashboard_uid, journey_of};
use super::model::{ServiceLevel, Sli, Slo};
use super::rules::{event_queries, sli_record_name, GenerateOptions, RuleFile};
use super::windows::BurnWindow;
use super::{render_window, PromDuration, SpecError};
use crate::escape_label_value;

/// What was seen around the SLO, for the runbook's evidence section.
#[derive(Debug, Clone, Default)]
pub struct RunbookEvidence {
    /// Capsules (log templates per window) of the SLO's services, most telling first.
    pub capsules: Vec<Evidence>,
    /// Trace ids of bad requests (or of any requests) of the journey.
    pub trace_ids: Vec<String>,
    /// Base URL of Grafana (`https://grafana.example.com`), for a link to the dashboard.
    pub grafana_url: Option<String>,
}

/// Most capsules listed in a runbook.
pub const MAX_CAPSULES: usize = 10;
/// Most trace ids listed in a runbook.
pub const MAX_TRACE_IDS: usize = 10;

/// File name of an SLO's runbook: `<service>-<slo>.md`, with characters other than letters,
/// digits, `-`, `_` and `.` replaced by `_`.
pub fn runbook_file_name(service: &str, slo: &str) -> String {
    format!("{}-{}.md", file_stem(service), file_stem(slo))
}

/// A file-name stem for a name: the name itself when it is made of `A–Z a–z 0–9 - _ .` and does
/// not start with `.`; otherwise those characters (others become `_`), `-` and 8 hex digits of
/// the name's SHA-256, so two names never share a stem (`a/b` and `a_b` once wrote the same
/// files) and nothing escapes its folder.
///
/// ```
/// use slo_artifacts::runbook::file_stem;
/// assert_eq!(file_stem("checkout"), "checkout");
/// assert_ne!(file_stem("a/b"), file_stem("a_b"));
/// assert!(file_stem("../x").starts_with("___x-"));
/// ```
pub fn file_stem(name: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if !name.is_empty() && !name.starts_with('.') && name.chars().all(plain) {
        return name.to_owned();
    }
    // Leading dots too: a stem must not name a hidden file.
    let mut leading = true;
    let clean: String = name
        .chars()
        .map(|c| {
            leading &= c == '.';
            if plain(c) && !leading {
                c
            } else {
                '_'
            }
        })
        .collect();
    let hash = hex::encode(&sha2::Sha256::digest(name.as_bytes())[..4]);
    format!("{clean}-{hash}")
}

fn fmt_pct(ratio: f64) -> String {
    let s = format!("{:.4}", ratio * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// A duration in words for budget arithmetic (`2.1 days`, `7.5 hours`, `36 minutes`).
fn fmt_span(seconds: f64) -> String {
    if seconds >= 2.0 * 86_400.0 {
        format!("{:.1} days", seconds / 86_400.0)
    } else if seconds >= 2.0 * 3600.0 {
        format!("{:.1} hours", seconds / 3600.0)
    } else {
        format!("{:.0} minutes", seconds / 60.0)
    }
}

fn fmt_time(ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn condition_line(out: &mut String, w: &BurnWindow, period: PromDuration, budget: f64) {
    let factor = w.factor(period);
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {}% | {} |",
        w.long,
        w.short,
        // Trim float noise such as 6.000000000000001.
        (factor * 1e6).round() / 1e6,
        fmt_pct(factor * budget),
        w.error_budget_percent,
        fmt_span(period.seconds() as f64 / factor),
    );
}

/// Writes the runbook of `level.slos[index]`. `rules` are the rules generated for `level` with
/// `opts` (the alert expressions are quoted from them, so the runbook shows exactly what fires).
pub fn runbook(
    level: &ServiceLevel,
    index: usize,
    rules: &RuleFile,
    opts: &GenerateOptions,
    evidence: &RunbookEvidence,
) -> Result<String, SpecError> {
    let slo: &Slo = level.slos.get(index).ok_or_else(|| SpecError::invalid(format!("slos[{index}]"), "no such SLO"))?;
    let period = slo.period.unwrap_or(opts.default_period);
    let windows =
        opts.windows.get(period).map_err(|e| SpecError { field: format!("slos[{index}].{}", e.field), ..e })?;
    let service = &level.service;
    let id = slo.id(service);
    let budget = slo.error_budget_ratio();
    let sel = format!(
        "{{sloth_service=\"{}\", sloth_slo=\"{}\"}}",
        escape_label_value(service),
        escape_label_value(&slo.name)
    );
    let mut out = String::new();
    let w = &mut out;

    let _ = writeln!(w, "# Runbook: {service} / {}", slo.name);
    let _ = writeln!(w);
    let _ = writeln!(w, "_Generated by slo-scout from the SLO spec; regenerate instead of editing._");
    let _ = writeln!(w);
    if !slo.description.trim().is_empty() {
        let _ = writeln!(w, "> {}", slo.description.trim().replace('\n', "\n> "));
        let _ = writeln!(w);
    }

    // What the alert means.
    let _ = writeln!(w, "## What the alert means");
    let _ = writeln!(w);
    let what = match &slo.sli {
        Sli::Latency { threshold, .. } => format!("requests faster than {threshold} (histogram unit)"),
        Sli::Events { .. } => "requests that succeed".to_owned(),
        Sli::Raw { .. } => "events that are good (as the raw error-ratio query defines them)".to_owned(),
    };
    let _ = writeln!(w, "- **SLO id:** `{id}`");
    if let Some(j) = journey_of(level, slo) {
        let _ = writeln!(w, "- **Journey:** {j}");
    }
    let _ = writeln!(w, "- **Objective:** {}% of {what} over a rolling {period}.", slo.objective);
    let _ = writeln!(
        w,
        "- **Error budget:** {} of events over {period}; a full outage would spend it in {}.",
        fmt_pct(budget),
        fmt_span(period.seconds() as f64 * budget)
    );
    let alert_name = if slo.alerting.name.is_empty() { "(no alert)" } else { slo.alerting.name.as_str() };
    let _ = writeln!(
        w,
        "- **Alert:** `{alert_name}`, told apart by `sloth_severity` (`page` / `ticket`). A burn rate of 1 spends the budget exactly in {period}; the alerts fire when both windows of a condition burn faster than the factor."
    );
    let _ = writeln!(w);
    let _ = writeln!(w, "| severity | long window | short window | burn-rate factor | fires above error ratio | budget spent in the long window | budget gone after |");
    let _ = writeln!(w, "|---|---|---|---|---|---|---|");
    for (severity, cond) in windows.conditions() {
        let meta = if severity == "page" { &slo.alerting.page } else { &slo.alerting.ticket };
        let mut line = String::new();
        condition_line(&mut line, &cond, period, budget);
        let status =
            if meta.disable || !slo.alerting.any_enabled() || opts.disable_alerts { " (disabled)" } else { "" };
        let _ = write!(w, "| {severity}{status} {line}");
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "A **page** means the budget burns fast enough to be gone within days: act now. A **ticket** means a slow burn that will miss the objective if nothing changes: handle it within working hours."
    );
    let _ = writeln!(w);

    // The PromQL.
    let _ = writeln!(w, "## Alert PromQL");
    let _ = writeln!(w);
    let alerts: Vec<_> = rules
        .groups
        .iter()
        .filter(|g| g.name == format!("sloth-slo-alerts-{id}"))
        .flat_map(|g| &g.rules)
        .filter(|r| r.alert.is_some())
        .collect();
    if alerts.is_empty() {
        let _ = writeln!(
            w,
            "No alert is generated for this SLO (alerting disabled). The recorded series below still show its state."
        );
        let _ = writeln!(w);
    }
    for rule in alerts {
        let severity = rule.labels.get("sloth_severity").map(String::as_str).unwrap_or("?");
        let labels: Vec<String> = rule.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        let _ = writeln!(w, "### {} ({severity})", rule.alert.as_deref().unwrap_or(""));
        let _ = writeln!(w);
        let _ = writeln!(w, "Labels: `{}`", labels.join(", "));
        let _ = writeln!(w);
        let _ = writeln!(w, "```promql\n{}\n```", rule.expr.trim_end());
        let _ = writeln!(w);
    }
    let _ = writeln!(w, "SLI and budget series (recorded by the same rule file):");
    let _ = writeln!(w);
    let _ = writeln!(w, "```promql");
    for s in windows.sli_windows().iter().chain([&period]) {
        let _ = writeln!(w, "{}{sel}", sli_record_name(*s));
    }
    let _ = writeln!(w, "slo:current_burn_rate:ratio{sel}\nslo:period_burn_rate:ratio{sel}\nslo:period_error_budget_remaining:ratio{sel}");
    let _ = writeln!(w, "```");
    let _ = writeln!(w);

    // Evidence.
    let _ = writeln!(w, "## Evidence");
    let _ = writeln!(w);
    if evidence.capsules.is_empty() && evidence.trace_ids.is_empty() {
        let _ = writeln!(
            w,
            "No evidence was attached when this runbook was generated (`slo-runner artifacts --store DIR` attaches the top capsules of the store)."
        );
        let _ = writeln!(w);
    }
    if !evidence.capsules.is_empty() {
        let _ = writeln!(w, "Log-template capsules of the service, most error events first:");
        let _ = writeln!(w);
        let _ = writeln!(w, "| capsule | service | window | events | errors | template |");
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        for c in evidence.capsules.iter().take(MAX_CAPSULES) {
            let short: String = c.capsule_id.chars().take(16).collect();
            let _ = writeln!(
                w,
                "| `{short}` | {} | {} – {} | {} | {} | `{}` |",
                cell(&c.service),
                fmt_time(c.window_start_ms),
                fmt_time(c.window_end_ms),
                c.count,
                c.errors,
                cell(&c.template).replace('`', "'"),
            );
        }
        let _ = writeln!(w);
        let samples: Vec<_> = evidence
            .capsules
            .iter()
            .take(MAX_CAPSULES)
            .filter(|c| c.errors > 0)
            .flat_map(|c| c.samples.iter().take(2))
            .take(6)
            .collect();
        if !samples.is_empty() {
            let _ = writeln!(w, "Redacted samples from the capsules with errors:");
            let _ = writeln!(w);
            let _ = writeln!(w, "```text");
            for s in samples {
                let sev = s.severity.map(|s| s.as_str()).unwrap_or("-");
                let trace = s.trace_id.as_deref().map(|t| format!(" trace={t}")).unwrap_or_default();
                let _ = writeln!(w, "{} {sev}{trace} {}", fmt_time(s.timestamp_ms), s.body.replace('\n', " "));
            }
            let _ = writeln!(w, "```");
            let _ = writeln!(w);
        }
    }
    let mut traces: Vec<&str> = evidence.trace_ids.iter().map(String::as_str).collect();
    for c in evidence.capsules.iter().filter(|c| c.errors > 0) {
        traces.extend(c.samples.iter().filter_map(|s| s.trace_id.as_deref()));
    }
    let mut seen = std::collections::BTreeSet::new();
    traces.retain(|t| seen.insert(*t));
    if !traces.is_empty() {
        let _ = writeln!(w, "Sample trace ids of failing requests (open them in the tracing UI):");
        let _ = writeln!(w);
        for t in traces.iter().take(MAX_TRACE_IDS) {
            let _ = writeln!(w, "- `{t}`");
        }
        let _ = writeln!(w);
    }

    // First checks.
    let _ = writeln!(w, "## First checks");
    let _ = writeln!(w);
    let dash = match &evidence.grafana_url {
        Some(base) => format!("[the SLO dashboard]({}/d/{})", base.trim_end_matches('/'), dashboard_uid(service)),
        None => format!("the SLO dashboard (uid `{}`)", dashboard_uid(service)),
    };
    let q = windows.page_quick;
    let _ = writeln!(
        w,
        "1. Open {dash}: is the error ratio still above the budget line on the {} window, or only on the {} one (the burn has stopped and the alert will resolve)?",
        q.short, q.long
    );
    let _ = writeln!(
        w,
        "2. Check the budget left: `slo:period_error_budget_remaining:ratio{sel}`. Below 0 the objective is already missed for this period; freeze risky changes to {service}."
    );
    let _ = writeln!(w, "3. Look for a change that lines up with the start of the burn: deploys, feature flags, config and dependency changes of {service}.");
    match &slo.sli {
        Sli::Raw { error_ratio_query } => {
            let _ = writeln!(
                w,
                "4. Run the SLI query over 5m and drop its outer aggregation to see which series carry the errors:"
            );
            let _ = writeln!(w);
            let _ =
                writeln!(w, "   ```promql\n   {}\n   ```", render_window(error_ratio_query, PromDuration::minutes(5)));
        }
        sli => {
            let (bad, total) = event_queries(sli).expect("events or latency SLI");
            let _ = writeln!(
                w,
                "4. Run the bad-event query over 5m next to the total, and drop the outer `sum` (or use `sum by (...)`) to see which route, status code or instance carries the errors:"
            );
            let _ = writeln!(w);
            let _ = writeln!(
                w,
                "   ```promql\n   {}\n   {}\n   ```",
                render_window(&bad, PromDuration::minutes(5)).replace('\n', " "),
                render_window(&total, PromDuration::minutes(5)).replace('\n', " ")
            );
        }
    }
    if let Sli::Latency { histogram, selector, threshold } = &slo.sli {
        let _ = writeln!(w, "5. Compare the latency percentiles with the threshold ({threshold}):");
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "   ```promql\n   histogram_quantile(0.99, sum by (le) (rate({histogram}_bucket{{{selector}}}[5m])))\n   ```"
        );
    } else {
        let _ = writeln!(w, "5. Check the services this one calls: an error ratio rising in a dependency at the same time points there first.");
    }
    let step = 6;
    if !evidence.capsules.is_empty() {
        let _ = writeln!(w, "{step}. Read the evidence capsules above: a new template, or one whose error count jumped, usually names the failing component.");
    } else {
        let _ = writeln!(w, "{step}. Search the logs of {service} for error templates that appeared when the burn started (`slo-runner query` over the capsules table).");
    }
    let _ = writeln!(w, "{}. If the alert is noisy rather than real, fix the SLO spec (objective or SLI), not this runbook, and regenerate.", step + 1);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate, parse_documents, ReadOptions};
    use slo_dataflow::event::{CapsuleSample, Severity};

    const SPEC: &str = r#"
version: "prometheus/v1"
service: "checkout"
labels: {journey: checkout}
slos:
  - name: "requests-availability"
    objective: 99.5
    description: "Checkout requests succeed."
    sli:
      events:
        error_query: sum(rate(http_server_request_duration_seconds_count{job="frontend",http_response_status_code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_server_request_duration_seconds_count{job="frontend"}[{{.window}}]))
    alerting:
      name: CheckoutAvailability
      ticket_alert: {disable: true}
  - name: "latency"
    objective: 99
    sli:
      latency: {histogram: http_server_request_duration_seconds, selector: 'job="frontend"', threshold: 0.5}
    alerting:
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"#;

    fn setup() -> (ServiceLevel, RuleFile, GenerateOptions) {
        let level = parse_documents(SPEC, &ReadOptions::default()).unwrap().remove(0);
        let opts = GenerateOptions::default();
        let rules = generate(&level, &opts).unwrap();
        (level, rules, opts)
    }

    #[test]
    fn runbook_quotes_the_generated_alert_and_window_factors() {
        let (level, rules, opts) = setup();
        let md = runbook(&level, 0, &rules, &opts, &RunbookEvidence::default()).unwrap();
        let page = rules.groups.iter().flat_map(|g| &g.rules).find(|r| r.alert.is_some()).unwrap();
        assert!(md.contains(page.expr.trim_end()), "the alert expression is quoted verbatim:\n{md}");
        assert!(md.contains("99.5% of requests that succeed over a rolling 30d"), "{md}");
        assert!(md.contains("| page | 1h | 5m | 14.4 | 7.2% | 2% | 2.1 days |"), "{md}");
        assert!(md.contains("| page | 6h | 30m | 6 | 3% | 5% | 5.0 days |"), "{md}");
        assert!(md.contains("| ticket (disabled) | 3d | 6h | 1 |"), "{md}");
        assert!(md.contains("full outage would spend it in 3.6 hours"), "{md}");
        assert!(md.contains("- **Journey:** checkout"));
        assert!(md.contains("No evidence was attached"));
        assert!(md.contains("### CheckoutAvailability (page)"));
        assert!(!md.contains("(ticket)\n"), "the disabled ticket alert is not quoted");
    }

    #[test]
    fn runbook_lists_evidence_and_trace_ids() {
        let (level, rules, opts) = setup();
        let sample = CapsuleSample {
            event_id: "e1".into(),
            timestamp_ms: 1_700_000_000_000,
            body: "order <ID> failed: upstream returned status 503".into(),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            severity: Some(Severity::Error),
        };
        let ev = RunbookEvidence {
            capsules: vec![Evidence {
                capsule_id: "0123456789abcdef0123".into(),
                distance: 0.0,
                service: "checkout".into(),
                template: "order <*> failed: upstream returned status <*>".into(),
                count: 40,
                errors: 40,
                window_start_ms: 1_700_000_000_000,
                window_end_ms: 1_700_003_600_000,
                samples: vec![sample],
            }],
            trace_ids: vec!["aaaa1111".into(), "4bf92f3577b34da6a3ce929d0e0e4736".into()],
            grafana_url: Some("https://grafana.example/".into()),
        };
        let md = runbook(&level, 1, &rules, &opts, &ev).unwrap();
        assert!(md.contains("| `0123456789abcdef` | checkout | 2023-11-14 22:13 UTC – 2023-11-14 23:13 UTC | 40 | 40 | `order <*> failed: upstream returned status <*>` |"), "{md}");
        assert!(md.contains("ERROR trace=4bf92f3577b34da6a3ce929d0e0e4736 order <ID> failed"), "{md}");
        assert_eq!(md.matches("- `4bf92f3577b34da6a3ce929d0e0e4736`").count(), 1, "trace ids are deduplicated:\n{md}");
        assert!(md.contains("- `aaaa1111`"));
        assert!(md.contains("[the SLO dashboard](https://grafana.example/d/slo-checkout)"));
        assert!(md.contains("No alert is generated for this SLO"), "{md}");
        assert!(md.contains(r#"histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{job="frontend"}[5m])))"#));
        assert!(!md.contains("No evidence was attached"));
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(runbook_file_name("checkout", "requests-availability"), "checkout-requests-availability.md");
        // Cleaned names carry a hash of the original, so `a/b` and `a_b` never meet.
        assert_eq!(runbook_file_name("a/b", "x y"), "a_b-c14cddc0-x_y-887fcea6.md");
        assert_ne!(runbook_file_name("a/b", "x"), runbook_file_name("a_b", "x"));
        let (level, rules, opts) = setup();
        assert!(runbook(&level, 5, &rules, &opts, &RunbookEvidence::default()).is_err());
    }
}
