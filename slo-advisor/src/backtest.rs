//! Backtests: replay an SLO over a journey's per-minute history.
//!
//! For an SLO (journey, SLI, objective, period — default 30 days) the replay reports:
//!
//! - **attainment and error budget**: over the whole history, and *over time* — the share of
//!   the budget consumed in the rolling period ending at each step (hourly by default);
//! - **breach windows**: rolling windows (default 1 hour, stepping a quarter window) whose
//!   attainment is below the objective, merged into time ranges;
//! - **alerts**: when the multi-window multi-burn-rate alerts of [`AlertWindows`] (the same
//!   windows and factors the rule generator writes) would have fired. At the end of every
//!   minute each condition compares the error ratio over its short and its long window
//!   (clipped at the start of the history, as a Prometheus range over missing data would be) to
//!   `factor × (1 − objective)`; a condition fires when **both** exceed it, a severity fires
//!   while any of its conditions does, and each run of firing minutes is one alert. Minutes
//!   whose windows hold no request do not fire. Alerts per week = alerts / weeks of history.
//!   **Short histories:** a per-week rate from less than a week of history
//!   ([`MIN_FREQUENCY_HISTORY_MINUTES`]) is an extrapolation — one ticket in 30 minutes reads
//!   as 336 a week — so the summary marks it `low_confidence` (with `history_minutes`), the
//!   report carries a warning, and [`BacktestReport::expected_frequency`] hands the mark on to
//!   the policy guard, which does not reject on it. A history shorter than the SLO period is
//!   also warned about (`covers_period: false`): attainment, budget and the bootstrap then
//!   describe the history, not a whole period;
//! - **chance to meet the SLO next period** ([`Bootstrap`]): a block bootstrap of days (blocks
//!   of a twelfth of the history when it is shorter than two days). A simulated period is
//!   `ceil(period / block)` blocks drawn with replacement; the point estimate is the share of
//!   simulated periods whose attainment reaches the objective. Its interval comes from a nested
//!   bootstrap: the observed blocks are themselves resampled (`outer` times), each resampled
//!   set is simulated `inner` times, and the 5th–95th percentiles of those probabilities bound
//!   the estimate — the uncertainty from having seen only so many days. Seeded
//!   (a PCG generator from `rand_pcg`, whose output is fixed for a given seed across versions),
//!   so reports are reproducible.
//!
//! What-if scenarios ([`crate::whatif`]) are applied to the history before the replay.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::error::AdvisorError;
use crate::history::{JourneyHistory, SliKind};
use crate::rolling::{auto_window, breach_ranges, rolling_windows, BreachRange};
use crate::whatif::{apply, WhatIf};
use slo_artifacts::policy::{minutes_words, ExpectedFrequency, MIN_FREQUENCY_HISTORY_MINUTES};
use slo_artifacts::{AlertWindows, PromDuration, Sli, Slo};

/// Label naming the journey an SLO is about.
pub const JOURNEY_LABEL: &str = "slo_scout_journey";
/// Label holding a latency SLO's threshold in ms.
pub const LATENCY_LABEL: &str = "slo_scout_latency_ms";

/// The SLO a backtest replays.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloTarget {
    /// Name (the spec's `service-slo` id, or any label).
    pub name: String,
    /// Journey the SLO is about.
    pub journey: String,
    /// What is measured.
    pub sli: SliKind,
    /// Objective, percent (`0 < objective <= 100`).
    pub objective_percent: f64,
    /// SLO period.
    #[serde(with = "period_serde")]
    pub period: PromDuration,
}

mod period_serde {
    use super::PromDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(p: &PromDuration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&p.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PromDuration, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl SloTarget {
    /// The error budget as a ratio (99.9 → 0.001).
    pub fn budget_ratio(&self) -> f64 {
        ((100.0 - self.objective_percent) / 100.0).max(0.0)
    }

    /// Reads a spec SLO: the journey from its `slo_scout_journey` label (SLO labels, then the
    /// service's `service_labels`), a latency SLI from `slo_scout_latency_ms` or from a
    /// [`Sli::Latency`] (threshold in seconds when the histogram's name ends in `_seconds`,
    /// else in ms), availability otherwise. The period is the spec's, else `default_period`.
    pub fn from_spec(
        service: &str,
        service_labels: &std::collections::BTreeMap<String, String>,
        slo: &Slo,
        default_period: PromDuration,
    ) -> Result<SloTarget, AdvisorError> {
        let id = slo.id(service);
        let bad = |reason: String| AdvisorError::Slo { slo: id.clone(), reason };
        let journey =
            slo.labels.get(JOURNEY_LABEL).or_else(|| service_labels.get(JOURNEY_LABEL)).cloned().ok_or_else(|| {
                bad(format!("labels.{JOURNEY_LABEL} is missing: it names the journey whose history is replayed"))
            })?;
        let sli = match (slo.labels.get(LATENCY_LABEL), &slo.sli) {
            (Some(v), _) => {
                let t: f64 = v
                    .trim()
                    .trim_end_matches("ms")
                    .parse()
                    .map_err(|_| bad(format!("labels.{LATENCY_LABEL}: {v:?} is not a number of ms")))?;
                if !(t.is_finite() && t > 0.0) {
                    return Err(bad(format!("labels.{LATENCY_LABEL}: {v:?} must be positive")));
                }
                SliKind::Latency { threshold_ms: t }
            }
            (None, Sli::Latency { histogram, threshold, .. }) => {
                let ms = if histogram.ends_with("_seconds") { threshold * 1000.0 } else { *threshold };
                SliKind::Latency { threshold_ms: ms }
            }
            (None, _) => SliKind::Availability,
        };
        Ok(SloTarget {
            name: id,
            journey,
            sli,
            objective_percent: slo.objective,
            period: slo.period.unwrap_or(default_period),
        })
    }
}

/// Settings of the bootstrap.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BootstrapConfig {
    /// Simulated periods for the point estimate. Default 2,000.
    pub resamples: usize,
    /// Resampled block sets for the interval. Default 100.
    pub outer: usize,
    /// Simulated periods per resampled set. Default 200.
    pub inner: usize,
    /// Block length, minutes; `None`: a day, or a twelfth of histories shorter than two days.
    pub block_minutes: Option<usize>,
    /// RNG seed. Default 7.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        BootstrapConfig { resamples: 2_000, outer: 100, inner: 200, block_minutes: None, seed: 7 }
    }
}

/// Settings of [`backtest`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct BacktestConfig {
    /// Rolling window of breach detection, minutes. Default 60.
    pub breach_window_minutes: usize,
    /// Breach ranges reported (the worst). Default 20.
    pub max_breaches: usize,
    /// Step of the budget-over-time series, minutes. Default 60.
    pub budget_step_minutes: usize,
    /// Bootstrap settings.
    pub bootstrap: BootstrapConfig,
}

impl Default for BacktestConfig {
    fn default() -> Self {
        BacktestConfig {
            breach_window_minutes: 60,
            max_breaches: 20,
            budget_step_minutes: 60,
            bootstrap: BootstrapConfig::default(),
        }
    }
}

/// Error budget at one point in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetPoint {
    /// End of the step, ms since epoch.
    pub t_ms: u64,
    /// Share of the budget consumed in the rolling period ending here (1 = all of it); `None`
    /// when the objective is 100 % (no budget).
    pub consumed: Option<f64>,
    /// Attainment over the rolling period ending here, percent.
    pub attainment_percent: f64,
}

/// One alert that would have fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertFiring {
    /// `page` or `ticket`.
    pub severity: String,
    /// First firing minute's end, ms since epoch.
    pub start_ms: u64,
    /// Last firing minute's end, ms since epoch.
    pub end_ms: u64,
    /// Windows of the condition that fired first (`5m/1h`).
    pub windows: String,
    /// Its burn-rate factor.
    pub factor: f64,
    /// Highest long-window burn rate while firing (error ratio / budget); `None` without budget.
    pub peak_burn_rate: Option<f64>,
}

/// Alert counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertSummary {
    /// Page alerts.
    pub pages: usize,
    /// Ticket alerts.
    pub tickets: usize,
    /// Pages per week of history.
    pub pages_per_week: f64,
    /// Tickets per week of history.
    pub tickets_per_week: f64,
    /// Minutes with a page firing.
    pub page_minutes: usize,
    /// Minutes with a ticket firing.
    pub ticket_minutes: usize,
    /// Minutes of history the rates are over.
    #[serde(default)]
    pub history_minutes: usize,
    /// The rates are extrapolated from less than a week of history
    /// ([`MIN_FREQUENCY_HISTORY_MINUTES`]): low confidence (module docs).
    #[serde(default)]
    pub low_confidence: bool,
}

/// The chance to meet the SLO next period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Estimated probability, in `[0, 1]`.
    pub probability: f64,
    /// 5th percentile of the nested-bootstrap probabilities.
    pub low: f64,
    /// 95th percentile of the nested-bootstrap probabilities.
    pub high: f64,
    /// 5th, 50th and 95th percentile of simulated period attainment, percent.
    pub attainment_percentiles: [f64; 3],
    /// Block length, minutes.
    pub block_minutes: usize,
    /// Observed blocks.
    pub blocks: usize,
    /// Blocks per simulated period.
    pub blocks_per_period: usize,
    /// Simulated periods behind `probability`.
    pub resamples: usize,
}

/// What a backtest found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BacktestReport {
    /// The SLO.
    pub slo: SloTarget,
    /// Scenario applied (`none` for the history as it was).
    pub what_if: String,
    /// First minute, ms since epoch.
    pub from_ms: u64,
    /// End (exclusive), ms since epoch.
    pub to_ms: u64,
    /// Minutes replayed.
    pub minutes: usize,
    /// Requests.
    pub requests: f64,
    /// Bad events under the SLI.
    pub bad_events: f64,
    /// Attainment over the whole history, percent.
    pub attainment_percent: f64,
    /// Budget consumed over the whole history (bad / allowed bad); `None` at objective 100 %.
    pub budget_consumed: Option<f64>,
    /// Whether the history as a whole met the objective.
    pub met: bool,
    /// Budget over time.
    pub budget: Vec<BudgetPoint>,
    /// Breach windows.
    pub breaches: Vec<BreachRange>,
    /// Alerts that would have fired, by time.
    pub alerts: Vec<AlertFiring>,
    /// Alert counts and rates.
    pub alert_summary: AlertSummary,
    /// Chance to meet the SLO next period; `None` with fewer than two blocks of history.
    pub bootstrap: Option<Bootstrap>,
    /// Whether the history is at least one SLO period long.
    #[serde(default)]
    pub covers_period: bool,
    /// Caveats in words (a history shorter than a week or than the period); the CLI prints them
    /// on stderr.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl BacktestReport {
    /// The expected alert frequency for the policy guard, under the rule files' `service` and
    /// `slo` names, with the history length and low-confidence mark of the rates.
    pub fn expected_frequency(&self, service: &str, slo: &str) -> ExpectedFrequency {
        let a = &self.alert_summary;
        ExpectedFrequency {
            service: service.to_owned(),
            slo: slo.to_owned(),
            pages_per_week: a.pages_per_week,
            tickets_per_week: a.tickets_per_week,
            history_minutes: Some(a.history_minutes as u64),
            low_confidence: a.low_confidence,
        }
    }
}

/// The caveats of a replay over `minutes` of history for an SLO of `period`.
fn history_warnings(minutes: usize, period: PromDuration) -> Vec<String> {
    let mut out = Vec::new();
    let history = minutes_words(minutes as u64);
    if (minutes as u64) < MIN_FREQUENCY_HISTORY_MINUTES {
        out.push(format!(
            "alert rates per week are extrapolated from {history} of history (less than a week): low confidence; the policy guard does not reject on them"
        ));
    }
    if (minutes as u64) < period.seconds() / 60 {
        out.push(format!(
            "the history ({history}) is shorter than the SLO period {period}: attainment, budget and the chance to meet the SLO describe that history, not a whole period"
        ));
    }
    out
}

fn prefix(v: &[f64]) -> Vec<f64> {
    let mut p = Vec::with_capacity(v.len() + 1);
    p.push(0.0);
    let mut acc = 0.0;
    for x in v {
        acc += x;
        p.push(acc);
    }
    p
}

/// Replays the alert conditions; returns the firings and per-severity firing minutes.
fn replay_alerts(
    h: &JourneyHistory,
    pr: &[f64],
    pb: &[f64],
    slo: &SloTarget,
    windows: &AlertWindows,
) -> (Vec<AlertFiring>, AlertSummary) {
    let n = h.len();
    let budget = slo.budget_ratio();
    let ratio = |end: usize, w: usize| -> Option<f64> {
        let s = end.saturating_sub(w);
        let r = pr[end] - pr[s];
        (r > 0.0).then(|| (pb[end] - pb[s]) / r)
    };
    let conditions = windows.conditions();
    let mut alerts = Vec::new();
    let mut summary = AlertSummary::default();
    for severity in ["page", "ticket"] {
        let conds: Vec<(String, usize, usize, f64)> = conditions
            .iter()
            .filter(|(s, _)| *s == severity)
            .map(|(_, w)| {
                (
                    format!("{}/{}", w.short, w.long),
                    (w.short.seconds() / 60).max(1) as usize,
                    (w.long.seconds() / 60).max(1) as usize,
                    w.factor(slo.period),
                )
            })
            .collect();
        let mut open: Option<AlertFiring> = None;
        for i in 1..=n {
            let mut first = None;
            for c in &conds {
                let limit = c.3 * budget;
                let fires = matches!((ratio(i, c.1), ratio(i, c.2)), (Some(a), Some(b)) if a > limit && b > limit);
                if fires {
                    first = Some(c);
                    break;
                }
            }
            let t = h.minute_ms(i);
            match (first, open.as_mut()) {
                (Some(c), cur) => {
                    let burn = (budget > 0.0).then(|| ratio(i, c.2).unwrap_or(0.0) / budget);
                    if severity == "page" {
                        summary.page_minutes += 1;
                    } else {
                        summary.ticket_minutes += 1;
                    }
                    match cur {
                        Some(a) => {
                            a.end_ms = t;
                            a.peak_burn_rate = match (a.peak_burn_rate, burn) {
                                (Some(x), Some(y)) => Some(x.max(y)),
                                (x, y) => x.or(y),
                            };
                        }
                        None => {
                            open = Some(AlertFiring {
                                severity: severity.to_string(),
                                start_ms: t,
                                end_ms: t,
                                windows: c.0.clone(),
                                factor: c.3,
                                peak_burn_rate: burn,
                            })
                        }
                    }
                }
                (None, Some(_)) => alerts.extend(open.take()),
                (None, None) => {}
            }
        }
        alerts.extend(open.take());
    }
    alerts.sort_by_key(|a| (a.start_ms, a.severity.clone()));
    let weeks = (n as f64 / (7.0 * 1440.0)).max(1.0 / (7.0 * 1440.0));
    summary.pages = alerts.iter().filter(|a| a.severity == "page").count();
    summary.tickets = alerts.iter().filter(|a| a.severity == "ticket").count();
    summary.pages_per_week = summary.pages as f64 / weeks;
    summary.tickets_per_week = summary.tickets as f64 / weeks;
    summary.history_minutes = n;
    summary.low_confidence = (n as u64) < MIN_FREQUENCY_HISTORY_MINUTES;
    (alerts, summary)
}

fn pctl(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q * (sorted.len() - 1) as f64).round() as usize).min(sorted.len() - 1)]
}

/// Share of `sims` simulated periods (each `per` blocks drawn from `blocks`) meeting `budget`,
/// pushing each period's attainment into `att` when given.
fn simulate(
    blocks: &[(f64, f64)],
    per: usize,
    sims: usize,
    budget: f64,
    rng: &mut Pcg64Mcg,
    mut att: Option<&mut Vec<f64>>,
) -> f64 {
    let mut met = 0usize;
    for _ in 0..sims {
        let (mut r, mut b) = (0.0, 0.0);
        for _ in 0..per {
            let blk = blocks[rng.random_range(0..blocks.len())];
            r += blk.0;
            b += blk.1;
        }
        let ratio = if r > 0.0 { b / r } else { 0.0 };
        if ratio <= budget + 1e-15 {
            met += 1;
        }
        if let Some(a) = att.as_deref_mut() {
            a.push(100.0 * (1.0 - ratio));
        }
    }
    met as f64 / sims.max(1) as f64
}

/// Block bootstrap of the chance to meet the SLO next period (module docs).
pub fn bootstrap(h: &JourneyHistory, bad: &[f64], slo: &SloTarget, cfg: &BootstrapConfig) -> Option<Bootstrap> {
    let n = h.len();
    let block = cfg.block_minutes.unwrap_or(if n >= 2 * 1440 { 1440 } else { auto_window(n) }).max(1);
    let blocks: Vec<(f64, f64)> = (0..n / block)
        .map(|k| {
            let s = k * block;
            (h.requests[s..s + block].iter().sum(), bad[s..s + block].iter().sum())
        })
        .filter(|b| b.0 > 0.0)
        .collect();
    if blocks.len() < 2 {
        return None;
    }
    let per = ((slo.period.seconds() / 60) as usize).div_ceil(block).max(1);
    let budget = slo.budget_ratio();
    let mut rng = Pcg64Mcg::seed_from_u64(cfg.seed);
    let mut att = Vec::with_capacity(cfg.resamples);
    let probability = simulate(&blocks, per, cfg.resamples, budget, &mut rng, Some(&mut att));
    att.sort_by(|a, b| a.total_cmp(b));
    let mut ps = Vec::with_capacity(cfg.outer);
    let mut set = vec![(0.0, 0.0); blocks.len()];
    for _ in 0..cfg.outer {
        for slot in set.iter_mut() {
            *slot = blocks[rng.random_range(0..blocks.len())];
        }
        ps.push(simulate(&set, per, cfg.inner, budget, &mut rng, None));
    }
    ps.sort_by(|a, b| a.total_cmp(b));
    Some(Bootstrap {
        probability,
        low: pctl(&ps, 0.05),
        high: pctl(&ps, 0.95),
        attainment_percentiles: [pctl(&att, 0.05), pctl(&att, 0.5), pctl(&att, 0.95)],
        block_minutes: block,
        blocks: blocks.len(),
        blocks_per_period: per,
        resamples: cfg.resamples,
    })
}

/// Replays `slo` over `history` with the alert conditions of `windows`, after applying
/// `what_if` (see the module docs).
pub fn backtest(
    history: &JourneyHistory,
    slo: &SloTarget,
    windows: &AlertWindows,
    what_if: &WhatIf,
    cfg: &BacktestConfig,
) -> BacktestReport {
    let scenario;
    let h = if what_if.is_identity() {
        history
    } else {
        scenario = apply(history, what_if);
        &scenario
    };
    let n = h.len();
    let bad = h.bad_series(slo.sli);
    let pr = prefix(&h.requests);
    let pb = prefix(&bad);
    let budget = slo.budget_ratio();
    let (requests, bad_events) = (pr[n], pb[n]);
    let ratio = if requests > 0.0 { bad_events / requests } else { 0.0 };
    let consumed = |b: f64, r: f64| (budget > 0.0).then(|| if r > 0.0 { b / (budget * r) } else { 0.0 });
    let period_min = (slo.period.seconds() / 60).max(1) as usize;
    let step = cfg.budget_step_minutes.max(1);
    let budget_series = (1..=n.div_ceil(step))
        .map(|k| {
            let end = (k * step).min(n);
            let s = end.saturating_sub(period_min);
            let (r, b) = (pr[end] - pr[s], pb[end] - pb[s]);
            BudgetPoint {
                t_ms: h.minute_ms(end),
                consumed: consumed(b, r),
                attainment_percent: if r > 0.0 { 100.0 * (1.0 - b / r) } else { 100.0 },
            }
        })
        .collect();
    let wins = rolling_windows(&h.requests, &bad, cfg.breach_window_minutes);
    let breaches = breach_ranges(h, &bad, &wins, slo.objective_percent, cfg.max_breaches);
    let (alerts, alert_summary) = replay_alerts(h, &pr, &pb, slo, windows);
    let boot = bootstrap(h, &bad, slo, &cfg.bootstrap);
    tracing::debug!(slo = %slo.name, minutes = n, alerts = alerts.len(), breaches = breaches.len(), "backtest");
    BacktestReport {
        slo: slo.clone(),
        what_if: what_if.to_string(),
        from_ms: h.start_ms,
        to_ms: h.end_ms(),
        minutes: n,
        requests,
        bad_events,
        attainment_percent: 100.0 * (1.0 - ratio),
        budget_consumed: consumed(bad_events, requests),
        met: ratio <= budget + 1e-15,
        budget: budget_series,
        breaches,
        alerts,
        alert_summary,
        bootstrap: boot,
        covers_period: n as u64 >= slo.period.seconds() / 60,
        warnings: history_warnings(n, slo.period),
    }
}

/// The history of `slo`'s journey among `histories`, or an error listing the journeys.
pub fn history_for<'a>(histories: &'a [JourneyHistory], slo: &SloTarget) -> Result<&'a JourneyHistory, AdvisorError> {
    histories.iter().find(|h| h.journey == slo.journey).ok_or_else(|| AdvisorError::NoHistory {
        journey: slo.journey.clone(),
        known: histories.iter().map(|h| h.journey.as_str()).collect::<Vec<_>>().join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze, AnalyzeConfig};
    use crate::history::{synthetic_history, SyntheticHistory};
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    fn target(journey: &str, sli: SliKind, objective: f64) -> SloTarget {
        SloTarget {
            name: "t".into(),
            journey: journey.into(),
            sli,
            objective_percent: objective,
            period: PromDuration::days(30),
        }
    }

    /// Generated traces where every `browse_home` request in `[t0, t1)` fails.
    fn with_incident(t0_min: u64, t1_min: u64) -> (Vec<JourneyHistory>, u64, u64) {
        let cfg = SyntheticConfig { requests: 40_000, mean_gap_ms: 150, ..Default::default() };
        let (events, _) = generate(&cfg);
        let mut spans = from_events(&events);
        let (t0, t1) = (cfg.start_ms + t0_min * 60_000, cfg.start_ms + t1_min * 60_000);
        for s in spans
            .iter_mut()
            .filter(|s| s.parent.is_none() && s.operation == "GET /" && s.start_ms >= t0 && s.start_ms < t1)
        {
            s.error = true;
        }
        let a = analyze(&spans, &AnalyzeConfig::default());
        (JourneyHistory::from_analysis(&a), t0, t1)
    }

    #[test]
    fn injected_errors_show_as_breaches_and_pages() {
        let (hs, t0, t1) = with_incident(40, 55);
        let h = hs.iter().find(|h| h.journey == "GET /").unwrap();
        let slo = target("GET /", SliKind::Availability, 99.0);
        let cfg = BacktestConfig { breach_window_minutes: 10, ..Default::default() };
        let r = backtest(h, &slo, &AlertWindows::google_30d(), &WhatIf::default(), &cfg);
        assert!(!r.breaches.is_empty());
        for b in &r.breaches {
            // Every breach window overlaps the incident (baseline errors are 0.2 %).
            assert!(b.start_ms < t1 && b.end_ms > t0, "breach away from the incident: {b:?} (incident {t0}..{t1})");
        }
        assert!(r.alert_summary.pages >= 1, "{:?}", r.alert_summary);
        let page = r.alerts.iter().find(|a| a.severity == "page").unwrap();
        assert!(page.start_ms > t0 && page.start_ms <= t1 + 60_000, "{page:?}");
        assert!(page.peak_burn_rate.unwrap() > 14.4);
        assert!(!r.met);
        // Budget consumed grows over the incident.
        let before = r.budget.iter().rfind(|p| p.t_ms <= t0).map(|p| p.consumed.unwrap()).unwrap_or(0.0);
        let after = r.budget.iter().find(|p| p.t_ms >= t1).unwrap().consumed.unwrap();
        assert!(after > before + 1.0, "{before} -> {after}");
    }

    #[test]
    fn objective_100_pages_on_any_error_and_quiet_journey_does_not() {
        let (hs, _, _) = with_incident(0, 0);
        let checkout = hs.iter().find(|h| h.journey.contains("checkout")).unwrap();
        let r = backtest(
            checkout,
            &target(&checkout.journey, SliKind::Availability, 100.0),
            &AlertWindows::google_30d(),
            &WhatIf::default(),
            &BacktestConfig::default(),
        );
        assert!(r.bad_events > 0.0);
        assert!(r.alert_summary.pages >= 1 && r.alert_summary.pages_per_week > 0.0, "{:?}", r.alert_summary);
        assert!(r.budget_consumed.is_none() && !r.met);
        // A loose objective on the same history never pages.
        let loose = backtest(
            checkout,
            &target(&checkout.journey, SliKind::Availability, 50.0),
            &AlertWindows::google_30d(),
            &WhatIf::default(),
            &BacktestConfig::default(),
        );
        assert_eq!(loose.alert_summary.pages, 0);
        assert!(loose.met && loose.breaches.is_empty());
    }

    #[test]
    fn more_errors_burn_more_budget_monotonically() {
        let h = synthetic_history(&SyntheticHistory { days: 7, error_rate: 0.0005, ..Default::default() });
        let slo = target("x", SliKind::Availability, 99.9);
        let cfg = BacktestConfig {
            bootstrap: BootstrapConfig { resamples: 200, outer: 10, inner: 50, ..Default::default() },
            ..Default::default()
        };
        let mut last = -1.0;
        let mut last_minutes = 0;
        for k in [1.0, 1.5, 2.0, 4.0, 8.0, 30.0] {
            let r = backtest(&h, &slo, &AlertWindows::google_30d(), &WhatIf { errors: k, ..Default::default() }, &cfg);
            let c = r.budget_consumed.unwrap();
            assert!(c > last, "errors x{k}: consumed {c} <= {last}");
            // Every window's error ratio grows, so alerts fire in a superset of minutes.
            let minutes = r.alert_summary.page_minutes + r.alert_summary.ticket_minutes;
            assert!(minutes >= last_minutes, "errors x{k}: {minutes} < {last_minutes}");
            last = c;
            last_minutes = minutes;
        }
        // 30x of 0.05 % errors is a 1.5 % error ratio: 15x the budget, above every factor.
        assert!(last > 10.0 && last_minutes > 0);
    }

    #[test]
    fn bootstrap_probability_is_a_probability_with_an_interval_around_it() {
        let healthy = synthetic_history(&SyntheticHistory { days: 28, error_rate: 0.0005, ..Default::default() });
        let mut incidents = Vec::new();
        for d in (0..28).step_by(3) {
            incidents.push((d * 1440 + 300, 240, 0.15));
        }
        let shaky = synthetic_history(&SyntheticHistory {
            days: 28,
            error_rate: 0.0005,
            incidents,
            seed: 3,
            ..Default::default()
        });
        let slo = target("x", SliKind::Availability, 98.5);
        let b1 = bootstrap(&healthy, &healthy.bad_series(slo.sli), &slo, &BootstrapConfig::default()).unwrap();
        let b2 = bootstrap(&shaky, &shaky.bad_series(slo.sli), &slo, &BootstrapConfig::default()).unwrap();
        for b in [&b1, &b2] {
            assert!((0.0..=1.0).contains(&b.probability) && b.low <= b.probability && b.probability <= b.high, "{b:?}");
            assert_eq!((b.blocks, b.block_minutes, b.blocks_per_period), (28, 1440, 30));
            assert!(
                b.attainment_percentiles[0] <= b.attainment_percentiles[1]
                    && b.attainment_percentiles[1] <= b.attainment_percentiles[2]
            );
        }
        assert!(b1.probability > 0.99, "{b1:?}");
        // A 4-hour 15 % incident on 10 of 28 days: a period of 30 drawn days holds ~10.7
        // incident days (sd ~2.6) and ~1.2 ‰ errors per incident day, so a 1.5 % budget holds
        // in roughly the periods with at most 11 incident days: neither sure nor hopeless.
        assert!(b2.probability > 0.1 && b2.probability < 0.95, "{b2:?}");
        assert!(b2.low < b2.high, "{b2:?}");
        let strict = target("x", SliKind::Availability, 99.5);
        let b3 = bootstrap(&shaky, &shaky.bad_series(strict.sli), &strict, &BootstrapConfig::default()).unwrap();
        assert!(b3.probability < 0.05 && b3.low <= b3.probability && b3.probability <= b3.high, "{b3:?}");
        // Seeded: the same inputs give the same answer.
        assert_eq!(b1, bootstrap(&healthy, &healthy.bad_series(slo.sli), &slo, &BootstrapConfig::default()).unwrap());
    }

    #[test]
    fn latency_slo_and_what_if_latency_shift() {
        let h = synthetic_history(&SyntheticHistory { days: 3, median_ms: 80.0, ..Default::default() });
        let slo = target("x", SliKind::Latency { threshold_ms: 250.0 }, 99.0);
        let base = backtest(&h, &slo, &AlertWindows::google_30d(), &WhatIf::default(), &BacktestConfig::default());
        // 250 ms is z = ln(250/80)/0.5 = 2.28 for the log-normal: ~1.1 % slower.
        let share = base.bad_events / base.requests;
        assert!((share - 0.0113).abs() < 0.003, "{share}");
        let shifted = backtest(
            &h,
            &slo,
            &AlertWindows::google_30d(),
            &"latency+=100ms".parse().unwrap(),
            &BacktestConfig::default(),
        );
        assert!(shifted.bad_events > 3.0 * base.bad_events);
        assert!(shifted.alert_summary.tickets + shifted.alert_summary.pages > 0);
        assert_eq!(shifted.what_if, "latency+=100ms");
    }

    /// Regression (issue "The newcomer's path"): 30 minutes with one ticket reported
    /// `336.00/week` as if measured, and the policy guard took it at its word.
    #[test]
    fn short_histories_mark_their_weekly_rates_low_confidence() {
        let slo = target("x", SliKind::Availability, 99.0);
        let cfg = BacktestConfig {
            bootstrap: BootstrapConfig { resamples: 50, outer: 5, inner: 20, ..Default::default() },
            ..Default::default()
        };
        let short = synthetic_history(&SyntheticHistory {
            days: 1,
            error_rate: 0.0005,
            incidents: vec![(5, 20, 0.5)],
            ..Default::default()
        });
        let mut short = short;
        short.requests.truncate(30);
        short.errors.truncate(30);
        short.latency.truncate(30);
        short.samples.truncate(30);
        assert!(short.latencies_ms.is_none());
        let r = backtest(&short, &slo, &AlertWindows::google_30d(), &WhatIf::default(), &cfg);
        let a = &r.alert_summary;
        assert_eq!((r.minutes, a.history_minutes), (30, 30));
        assert!(a.tickets + a.pages >= 1, "{a:?}");
        // One alert in 30 minutes extrapolates to 336 a week: kept, but marked.
        assert!(a.tickets_per_week + a.pages_per_week >= 336.0 - 1e-9, "{a:?}");
        assert!(a.low_confidence && !r.covers_period);
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("30 minutes") && r.warnings[0].contains("low confidence"), "{:?}", r.warnings);
        assert!(r.warnings[1].contains("shorter than the SLO period 30d"), "{:?}", r.warnings);
        let f = r.expected_frequency("shop", "checkout");
        assert!(f.low_confidence && f.is_low_confidence() && f.history_minutes == Some(30), "{f:?}");
        assert_eq!(f.tickets_per_week, a.tickets_per_week);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["alert_summary"]["low_confidence"], true);
        assert_eq!(json["alert_summary"]["history_minutes"], 30);

        // A week is enough for the rates, not for a 30-day period; 30 days are enough for both.
        for (days, low, covers) in [(7, false, false), (30, false, true)] {
            let h = synthetic_history(&SyntheticHistory { days, error_rate: 0.0005, ..Default::default() });
            let r = backtest(&h, &slo, &AlertWindows::google_30d(), &WhatIf::default(), &cfg);
            assert_eq!((r.alert_summary.low_confidence, r.covers_period), (low, covers), "{days} days");
            assert_eq!(r.warnings.len(), usize::from(low) + usize::from(!covers), "{days} days: {:?}", r.warnings);
            assert!(!r.expected_frequency("s", "x").is_low_confidence());
        }
    }

    #[test]
    fn spec_slos_name_their_journey() {
        let text = r#"
version: "prometheus/v1"
service: "shop"
slos:
  - name: "checkout-availability"
    objective: 99.5
    labels: {slo_scout_journey: "POST /cart/checkout"}
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting: {name: CheckoutAvailability}
  - name: "checkout-latency"
    objective: 99
    labels: {slo_scout_journey: "POST /cart/checkout", slo_scout_latency_ms: "1000"}
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting: {name: CheckoutLatency}
  - name: "no-journey"
    objective: 99
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{.window}}]))
    alerting: {name: X}
"#;
        let levels = slo_artifacts::parse_documents(text, &Default::default()).unwrap();
        let l = &levels[0];
        let t: Vec<Result<SloTarget, AdvisorError>> =
            l.slos.iter().map(|s| SloTarget::from_spec(&l.service, &l.labels, s, PromDuration::days(30))).collect();
        let a = t[0].as_ref().unwrap();
        assert_eq!(
            (a.journey.as_str(), a.sli, a.objective_percent),
            ("POST /cart/checkout", SliKind::Availability, 99.5)
        );
        assert_eq!(t[1].as_ref().unwrap().sli, SliKind::Latency { threshold_ms: 1000.0 });
        let err = t[2].as_ref().unwrap_err().to_string();
        assert!(err.contains("shop-no-journey") && err.contains(JOURNEY_LABEL), "{err}");
    }
}
