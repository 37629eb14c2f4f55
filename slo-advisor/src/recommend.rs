//! SLO recommendations per journey: availability and latency variants, each with an objective
//! the history shows to be achievable, a confidence score whose parts are shown, and evidence.
//!
//! **Variants.** Availability, and latency at the journey's historical p95, p99 and p99.9,
//! each rounded *up* to a bucket-like value (1, 2, 2.5, 5, 7.5 × 10ⁿ ms, matching the usual
//! histogram bounds 5, 10, 25, 50, 75, 100, 250, ...); variants whose rounded thresholds
//! coincide are reported once.
//!
//! **Achievable objective.** The history is cut into rolling windows (default one day, stepping
//! a quarter window; histories shorter than a week use a twelfth of their length, at least
//! 5 minutes). Each window's attainment is `1 − bad / requests`; the raw objective is a low
//! percentile (default the 5th) of the per-window attainments — the level the journey kept in
//! 95 % of windows, not one global average — and the recommended objective is that value
//! rounded *down* to the usual grid (99.99, 99.95, 99.9, 99.5, 99, 98, 97, 95, 90, 80, 50 %),
//! and never above `1 − 1/requests` (finer objectives are beyond what the history resolves).
//!
//! **Confidence** = geometric mean of three parts, each in `[0, 1]`:
//! - `volume = 1 − exp(−E/30)`, `E` = requests × (1 − objective): the bad events the history
//!   would hold at the objective (≈ 100 → 0.96);
//! - `stability = 1 / (1 + sd(burn))`, `burn` = per-window bad share / (1 − objective); 0 with
//!   fewer than two windows;
//! - `coverage` = minutes with requests / minutes in the history.
//!
//! **Evidence.** The rolling windows whose attainment fell below the recommended objective,
//! merged into time ranges (the worst few); trace ids of bad requests, inside those ranges
//! first; and, with a store, the top capsules of the journey's services in
//! the history's period ([`attach_capsules`], via [`slo_storage::retrieval::top_capsules`]).

use serde::{Deserialize, Serialize};
use slo_dataflow::time::MINUTE_MS;
use slo_storage::retrieval::{top_capsules, Evidence as CapsuleEvidence};
use slo_storage::Store;

use crate::analyze::Analysis;
use crate::error::AdvisorError;
use crate::history::{JourneyHistory, SliKind};
pub use crate::rolling::{auto_window, breach_ranges, rolling_windows, BreachRange};

/// Settings of [`recommend`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RecommendConfig {
    /// Rolling window, minutes; `None` picks one from the history's length (module docs).
    pub window_minutes: Option<usize>,
    /// Percentile of per-window attainment taken as achievable, in `(0, 1)`. Default 0.05.
    pub low_percentile: f64,
    /// Breach ranges kept as evidence. Default 5.
    pub max_breaches: usize,
    /// Trace ids kept as evidence. Default 5.
    pub max_trace_ids: usize,
    /// Capsules kept as evidence by [`attach_capsules`]. Default 5.
    pub max_capsules: usize,
}

impl Default for RecommendConfig {
    fn default() -> Self {
        RecommendConfig {
            window_minutes: None,
            low_percentile: 0.05,
            max_breaches: 5,
            max_trace_ids: 5,
            max_capsules: 5,
        }
    }
}

/// A confidence score and its parts (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    /// Geometric mean of the parts.
    pub score: f64,
    /// Data volume part.
    pub volume: f64,
    /// Stability across windows part.
    pub stability: f64,
    /// Coverage of minutes with data.
    pub coverage: f64,
    /// Bad events the history would hold at the objective (the input of `volume`).
    pub expected_bad_events: f64,
    /// Windows with requests (the input of `stability`).
    pub windows: usize,
}

/// Evidence behind a recommendation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Ranges that would have breached the recommended objective, by time.
    pub breaches: Vec<BreachRange>,
    /// Trace ids of bad requests (inside breach ranges first).
    pub bad_trace_ids: Vec<String>,
    /// Trace ids of any requests of the journey, for a look at normal behaviour.
    pub sample_trace_ids: Vec<String>,
    /// Top capsules of the journey's services in the period (filled by [`attach_capsules`]).
    pub capsules: Vec<CapsuleEvidence>,
}

/// One SLO variant with its recommended objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloVariant {
    /// Short name: `availability`, `latency-p95`, `latency-p99`, `latency-p999`.
    pub name: String,
    /// What is measured.
    pub sli: SliKind,
    /// Where the threshold came from (e.g. `p99 412 ms, rounded up`); empty for availability.
    pub basis: String,
    /// Recommended objective, percent (the raw value rounded down to the grid).
    pub objective_percent: f64,
    /// The low percentile of per-window attainment, percent.
    pub raw_objective_percent: f64,
    /// Attainment over the whole history, percent.
    pub overall_attainment_percent: f64,
    /// Worst window's attainment, percent.
    pub worst_window_percent: f64,
    /// Median window's attainment, percent.
    pub median_window_percent: f64,
    /// Confidence.
    pub confidence: Confidence,
    /// Evidence.
    pub evidence: Evidence,
}

/// The recommendations of one journey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JourneyRecommendations {
    /// Journey name.
    pub journey: String,
    /// Entry service.
    pub service: String,
    /// Services the journey touches (capsule evidence is drawn from them).
    pub services: Vec<String>,
    /// Rolling window used, minutes.
    pub window_minutes: usize,
    /// First minute of the history, ms since epoch.
    pub from_ms: u64,
    /// End of the history (exclusive), ms since epoch.
    pub to_ms: u64,
    /// The variants.
    pub variants: Vec<SloVariant>,
    /// Why these objectives, in words (filled by `rationale::attach_rationales`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<Rationale>,
}

/// Who wrote a rationale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RationaleSource {
    /// The statistical recommender's own text.
    Statistical,
    /// A chat model.
    Llm {
        /// The model that wrote it.
        model: String,
    },
}

/// The rationale of one journey's recommendations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rationale {
    /// The text.
    pub text: String,
    /// Who wrote it.
    pub source: RationaleSource,
    /// Why the statistical text stands in for a requested LLM rationale (unconfigured, timeout,
    /// HTTP error, ...); `None` when no LLM was asked or it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

/// The usual objective grid, percent, highest first.
pub const OBJECTIVE_GRID: [f64; 11] = [99.99, 99.95, 99.9, 99.5, 99.0, 98.0, 97.0, 95.0, 90.0, 80.0, 50.0];

/// Rounds an objective down to [`OBJECTIVE_GRID`] (below 50 %: down to a whole percent).
pub fn round_objective(raw_percent: f64) -> f64 {
    OBJECTIVE_GRID.iter().copied().find(|g| *g <= raw_percent + 1e-9).unwrap_or_else(|| raw_percent.floor().max(0.0))
}

/// Rounds a latency threshold up to the next 1, 2, 2.5, 5 or 7.5 × 10ⁿ ms.
pub fn round_threshold(ms: f64) -> f64 {
    if ms.is_nan() || ms <= 0.0 {
        return 1.0;
    }
    let mut decade = 10f64.powf(ms.log10().floor());
    loop {
        for m in [1.0, 2.0, 2.5, 5.0, 7.5] {
            let v = m * decade;
            if v >= ms * (1.0 - 1e-12) {
                return v;
            }
        }
        decade *= 10.0;
    }
}

/// The latency under which a share `q` of the history's requests fall (bisection over the
/// per-minute bad shares: counted over 2 % latency buckets with the rolled-up request latencies,
/// interpolated with percentiles).
pub fn history_quantile(h: &JourneyHistory, q: f64) -> Option<f64> {
    let total = h.total_requests();
    if total <= 0.0 {
        return None;
    }
    let slower = |t: f64| -> f64 {
        (0..h.len()).map(|i| h.requests[i] * h.bad_share(i, SliKind::Latency { threshold_ms: t })).sum::<f64>() / total
    };
    let mut hi = h.latency.iter().map(|p| p.p999_ms).fold(1.0, f64::max);
    if let Some(l) = &h.latencies_ms {
        hi = hi.max(l.iter().filter_map(|v| v.last()).map(|x| f64::from(x.0)).fold(0.0, f64::max));
    }
    let target = 1.0 - q;
    while slower(hi) > target && hi < 1e9 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if slower(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((q * (sorted.len() - 1) as f64).floor() as usize).min(sorted.len() - 1)]
}

fn variant(
    h: &JourneyHistory,
    name: &str,
    sli: SliKind,
    basis: String,
    window: usize,
    cfg: &RecommendConfig,
) -> SloVariant {
    let bad = h.bad_series(sli);
    let windows = rolling_windows(&h.requests, &bad, window);
    let mut att: Vec<f64> = windows.iter().map(|w| 1.0 - w.3 / w.2).collect();
    att.sort_by(|a, b| a.total_cmp(b));
    let total = h.total_requests();
    let total_bad: f64 = bad.iter().sum();
    let overall = if total > 0.0 { 1.0 - total_bad / total } else { 1.0 };
    let raw = if att.is_empty() { overall } else { percentile(&att, cfg.low_percentile) };
    // No finer than the data resolves: at least one bad event's worth of budget in the history.
    let resolvable = if total > 0.0 { 100.0 * (1.0 - 1.0 / total) } else { 0.0 };
    let objective = round_objective((100.0 * raw).min(resolvable));
    let budget = (1.0 - objective / 100.0).max(1e-6);
    let expected_bad = total * (1.0 - objective / 100.0);
    let volume = 1.0 - (-expected_bad / 30.0).exp();
    let stability = if att.len() < 2 {
        0.0
    } else {
        let burns: Vec<f64> = att.iter().map(|a| (1.0 - a) / budget).collect();
        let mean = burns.iter().sum::<f64>() / burns.len() as f64;
        let var = burns.iter().map(|b| (b - mean).powi(2)).sum::<f64>() / (burns.len() - 1) as f64;
        1.0 / (1.0 + var.sqrt())
    };
    let coverage = if h.is_empty() { 0.0 } else { h.minutes_with_data() as f64 / h.len() as f64 };
    let score = (volume * stability * coverage).cbrt();
    let breaches = breach_ranges(h, &bad, &windows, objective, cfg.max_breaches);
    SloVariant {
        name: name.to_string(),
        sli,
        basis,
        objective_percent: objective,
        raw_objective_percent: 100.0 * raw,
        overall_attainment_percent: 100.0 * overall,
        worst_window_percent: 100.0 * att.first().copied().unwrap_or(overall),
        median_window_percent: 100.0 * if att.is_empty() { overall } else { percentile(&att, 0.5) },
        confidence: Confidence {
            score,
            volume,
            stability,
            coverage,
            expected_bad_events: expected_bad,
            windows: att.len(),
        },
        evidence: Evidence { breaches, ..Default::default() },
    }
}

/// Recommends SLO variants for one journey's history.
pub fn recommend(h: &JourneyHistory, cfg: &RecommendConfig) -> JourneyRecommendations {
    let window = cfg.window_minutes.unwrap_or_else(|| auto_window(h.len())).max(1);
    let mut variants = vec![variant(h, "availability", SliKind::Availability, String::new(), window, cfg)];
    let mut seen: Vec<f64> = Vec::new();
    for (name, label, q) in
        [("latency-p95", "p95", 0.95), ("latency-p99", "p99", 0.99), ("latency-p999", "p99.9", 0.999)]
    {
        let Some(raw) = history_quantile(h, q) else { continue };
        let t = round_threshold(raw);
        if seen.iter().any(|s| (s - t).abs() < 1e-9) {
            continue;
        }
        seen.push(t);
        let basis = format!("historical {label} {raw:.1} ms, rounded up to {t} ms");
        variants.push(variant(h, name, SliKind::Latency { threshold_ms: t }, basis, window, cfg));
    }
    JourneyRecommendations {
        journey: h.journey.clone(),
        service: h.service.clone(),
        services: vec![h.service.clone()],
        window_minutes: window,
        from_ms: h.start_ms,
        to_ms: h.end_ms(),
        variants,
        rationale: None,
    }
}

/// Recommendations for every journey of an analysis (rank order), with trace ids of bad
/// requests (from the analysis' rolled-up requests: a latency variant names only rows whose
/// requests were all slower than its threshold).
pub fn recommend_analysis(a: &Analysis, cfg: &RecommendConfig) -> Vec<JourneyRecommendations> {
    recommend_analysis_with_progress(a, cfg, |_| {})
}

/// [`recommend_analysis`], calling `done` with each journey's recommendations as they are made
/// (rank order): for progress reports on analyses with many journeys.
pub fn recommend_analysis_with_progress(
    a: &Analysis,
    cfg: &RecommendConfig,
    mut done: impl FnMut(&JourneyRecommendations),
) -> Vec<JourneyRecommendations> {
    let histories = JourneyHistory::from_analysis(a);
    let mut out = Vec::with_capacity(histories.len());
    for (ji, (h, j)) in histories.iter().zip(&a.journeys).enumerate() {
        let mut rec = recommend(h, cfg);
        rec.services = j.services.clone();
        let reqs: Vec<_> = a.requests.iter().filter(|r| r.journey == ji).collect();
        for v in &mut rec.variants {
            v.evidence.sample_trace_ids = j.sample_trace_ids.clone();
            let is_bad = |r: &crate::journeys::Request| match v.sli {
                SliKind::Availability => r.error,
                // every request of the row, so the one whose id it carries, was slower
                SliKind::Latency { threshold_ms } => r.min_duration_us as f64 / 1000.0 > threshold_ms,
            };
            let in_breach = |t: u64| v.evidence.breaches.iter().any(|b| t >= b.start_ms && t < b.end_ms);
            let mut ids: Vec<String> = Vec::new();
            for inside in [true, false] {
                for r in reqs.iter().filter(|r| in_breach(r.start_ms) == inside && is_bad(r)) {
                    if ids.len() >= cfg.max_trace_ids {
                        break;
                    }
                    ids.push(r.trace_id.clone());
                }
            }
            v.evidence.bad_trace_ids = ids;
        }
        done(&rec);
        out.push(rec);
    }
    out
}

/// Adds the top capsules (most errors first) of each journey's services over its history's
/// period to every variant's evidence.
pub async fn attach_capsules(
    recs: &mut [JourneyRecommendations],
    store: &Store,
    cfg: &RecommendConfig,
) -> Result<(), AdvisorError> {
    for rec in recs.iter_mut() {
        let caps =
            top_capsules(store, &rec.services, rec.from_ms, rec.to_ms.max(rec.from_ms + MINUTE_MS), cfg.max_capsules)
                .await?;
        tracing::debug!(journey = %rec.journey, capsules = caps.len(), "capsule evidence");
        for v in &mut rec.variants {
            v.evidence.capsules = caps.clone();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze, AnalyzeConfig};
    use crate::history::{synthetic_history, SyntheticHistory};
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    #[test]
    fn rounding_helpers() {
        assert_eq!(round_threshold(412.0), 500.0);
        assert_eq!(round_threshold(90.9), 100.0);
        assert_eq!(round_threshold(100.0), 100.0);
        assert_eq!(round_threshold(133.0), 200.0);
        assert_eq!(round_threshold(21.0), 25.0);
        assert_eq!(round_threshold(7000.0), 7500.0);
        assert_eq!(round_threshold(8000.0), 10000.0);
        assert_eq!(round_objective(99.93), 99.9);
        assert_eq!(round_objective(99.999), 99.99);
        assert_eq!(round_objective(96.2), 95.0);
        assert_eq!(round_objective(42.7), 42.0);
    }

    #[test]
    fn objective_comes_from_window_attainment_and_breaches_point_at_the_incident() {
        // 30 days, 0.1 % baseline errors, one 3-hour incident at 20 % errors on day 12.
        let start = 12 * 1440 + 600;
        let h = synthetic_history(&SyntheticHistory { incidents: vec![(start, 180, 0.2)], ..Default::default() });
        let rec = recommend(&h, &RecommendConfig::default());
        assert_eq!(rec.window_minutes, 1440);
        let av = &rec.variants[0];
        assert_eq!(av.sli, SliKind::Availability);
        // Windows without the incident sit at ~99.9 %; the 5th percentile ignores the few
        // windows that contain the incident, the worst window does not.
        assert!(av.raw_objective_percent > 99.8, "{}", av.raw_objective_percent);
        assert!(av.worst_window_percent < 99.0, "{}", av.worst_window_percent);
        assert!(av.objective_percent <= av.raw_objective_percent);
        let t0 = h.minute_ms(start);
        let t1 = h.minute_ms(start + 180);
        assert!(!av.evidence.breaches.is_empty());
        assert!(av.evidence.breaches.iter().any(|b| b.start_ms < t1 && b.end_ms > t0), "{:?}", av.evidence.breaches);
        let worst = av.evidence.breaches.iter().max_by(|a, b| a.bad_events.total_cmp(&b.bad_events)).unwrap();
        assert!(worst.start_ms <= t0 && worst.end_ms >= t1, "{worst:?}");
        let c = &av.confidence;
        assert!(c.volume > 0.99 && c.coverage == 1.0 && c.windows > 100, "{c:?}");
        assert!((0.0..=1.0).contains(&c.score) && (0.0..=1.0).contains(&c.stability));
        // Latency variants at rounded thresholds, increasing.
        let thresholds: Vec<f64> = rec
            .variants
            .iter()
            .filter_map(|v| match v.sli {
                SliKind::Latency { threshold_ms } => Some(threshold_ms),
                _ => None,
            })
            .collect();
        assert!(!thresholds.is_empty() && thresholds.windows(2).all(|w| w[0] < w[1]), "{thresholds:?}");
        let p99 = rec.variants.iter().find(|v| v.name == "latency-p99").unwrap();
        assert!(p99.overall_attainment_percent >= 99.0, "{}", p99.overall_attainment_percent);
    }

    #[test]
    fn less_data_means_less_confidence() {
        let big = recommend(
            &synthetic_history(&SyntheticHistory { days: 14, ..Default::default() }),
            &RecommendConfig::default(),
        );
        let small = recommend(
            &synthetic_history(&SyntheticHistory { days: 14, mean_rpm: 0.5, ..Default::default() }),
            &RecommendConfig::default(),
        );
        let (b, s) = (&big.variants[0].confidence, &small.variants[0].confidence);
        assert!(b.score > s.score, "{b:?} vs {s:?}");
        assert!(b.volume > s.volume && b.coverage > s.coverage);
        // A short, clean history cannot support 99.99 %: the objective is capped at 1 − 1/requests.
        let short =
            synthetic_history(&SyntheticHistory { days: 1, mean_rpm: 1.0, error_rate: 0.0, ..Default::default() });
        let rec = recommend(&short, &RecommendConfig::default());
        assert_eq!(rec.variants[0].raw_objective_percent, 100.0);
        assert!(
            rec.variants[0].objective_percent <= 100.0 * (1.0 - 1.0 / short.total_requests()),
            "{}",
            rec.variants[0].objective_percent
        );
    }

    #[test]
    fn recommendations_on_generated_traces_carry_trace_ids_of_bad_requests() {
        let (events, _) = generate(&SyntheticConfig { requests: 6_000, mean_gap_ms: 300, ..Default::default() });
        let spans = from_events(&events);
        let a = analyze(&spans, &AnalyzeConfig::default());
        let recs = recommend_analysis(&a, &RecommendConfig::default());
        assert_eq!(recs.len(), a.journeys.len());
        // The progress variant reports each journey once, in order, and returns the same.
        let mut seen = Vec::new();
        let same = recommend_analysis_with_progress(&a, &RecommendConfig::default(), |r| seen.push(r.journey.clone()));
        assert_eq!(same, recs);
        assert_eq!(seen, recs.iter().map(|r| r.journey.clone()).collect::<Vec<_>>());
        let ji = a.journeys.iter().position(|j| j.name.contains("checkout")).unwrap();
        let rec = &recs[ji];
        assert!(rec.services.contains(&"payment".to_string()));
        let av = &rec.variants[0];
        assert!(!av.evidence.bad_trace_ids.is_empty());
        let failed: std::collections::HashSet<&str> =
            spans.iter().filter(|s| s.parent.is_none() && s.error).map(|s| s.trace_id.as_str()).collect();
        assert!(av.evidence.bad_trace_ids.iter().all(|t| failed.contains(t.as_str())));
        // The p95 variant's threshold is at or above the journey's p95.
        let p95 = rec.variants.iter().find(|v| v.name == "latency-p95").unwrap();
        let SliKind::Latency { threshold_ms } = p95.sli else { panic!() };
        assert!(threshold_ms >= a.journeys[ji].p95_ms * 0.99, "{threshold_ms} vs {}", a.journeys[ji].p95_ms);
        let json = serde_json::to_value(&recs).unwrap();
        assert!(json[0]["variants"][0]["confidence"]["score"].is_number());
    }
}
