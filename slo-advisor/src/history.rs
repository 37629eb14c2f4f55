//! Per-minute history of one journey, the input of recommendations, backtests and what-if.
//!
//! A [`JourneyHistory`] is dense: one slot per minute from the first to the last minute with
//! data (minutes without traffic hold zero requests). Counts are `f64` so what-if scenarios can
//! scale them without rounding.
//!
//! Bad events per minute depend on the SLI ([`SliKind`]):
//!
//! - **availability**: failed requests;
//! - **latency ≤ T ms**: requests slower than `T`. When the history was built from requests
//!   ([`JourneyHistory::from_analysis`]) the count is counted, not estimated: each minute keeps
//!   its requests rolled up by 2 % latency bucket ([`crate::journeys::TraceRollup`]), each
//!   bucket at its mean latency, so only requests within about 2 % of `T` can be counted on the
//!   wrong side. When it comes from `sli_minutes` rows, which only hold p50/p90/p95/p99/p99.9,
//!   the share slower than `T` is interpolated ([`share_slower`]): log(share slower) is linear in
//!   log(latency) between the known percentiles (a Pareto-like tail), extrapolated past p99.9
//!   with the slope of the last segment, and linear from (0 ms, 100 %) to (p50, ~50 %) below
//!   the median; the share above each percentile accounts for the minute's request count.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use slo_dataflow::time::MINUTE_MS;

use crate::analyze::Analysis;
use crate::sli::{Percentiles, SliMinute, QUANTILES};

/// What an SLO measures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SliKind {
    /// Share of requests that did not fail.
    Availability,
    /// Share of requests served within `threshold_ms`.
    Latency {
        /// The threshold, ms.
        threshold_ms: f64,
    },
}

impl SliKind {
    /// `availability` or `latency <= T ms`.
    pub fn label(&self) -> String {
        match self {
            SliKind::Availability => "availability".to_string(),
            SliKind::Latency { threshold_ms } => format!("latency <= {} ms", fmt_ms(*threshold_ms)),
        }
    }
}

fn fmt_ms(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// One journey's per-minute history (struct of arrays, one slot per minute).
#[derive(Clone, Debug, PartialEq)]
pub struct JourneyHistory {
    /// Journey name.
    pub journey: String,
    /// Entry service.
    pub service: String,
    /// Start of the first minute, ms since epoch.
    pub start_ms: u64,
    /// Requests per minute.
    pub requests: Vec<f64>,
    /// Failed requests per minute.
    pub errors: Vec<f64>,
    /// Latency percentiles per minute, ms (zeros for minutes without traffic).
    pub latency: Vec<Percentiles>,
    /// Requests the percentiles of each minute were computed over, as observed (what-if
    /// scenarios leave it, so they do not change the interpolation); infinite when they are a
    /// distribution's exact quantiles.
    pub samples: Vec<f64>,
    /// Request latencies per minute, ms, as `(latency, requests)` sorted by latency, when the
    /// history was built from (rolled-up) requests.
    pub latencies_ms: Option<Vec<Vec<(f32, u64)>>>,
    /// Rows left out as outliers when the history was built (see
    /// [`JourneyHistory::from_minutes`]); 0 for a history with none.
    pub rows_left_out: usize,
}

/// A gap between two rows of a journey longer than this (28 days) splits its history into
/// stretches, of which only the one with the most requests is kept: one far-future or bogus
/// timestamp must not stretch the per-minute history over years.
pub const MAX_GAP_MINUTES: u64 = 28 * 24 * 60;
/// The longest history kept, in minutes (400 days): older minutes are left out.
pub const MAX_HISTORY_MINUTES: u64 = 400 * 24 * 60;

/// Log-log slope of the tail when the percentiles give none (all equal): a Pareto tail of
/// index 4.
const DEFAULT_TAIL_SLOPE: f64 = -4.0;

/// The share of requests slower than `threshold_ms` in a minute with these percentiles over
/// `samples` requests (see the module docs for the interpolation). In `[0, 1]`.
///
/// Percentile `q` of `n` values is the value of rank `⌊q(n−1)⌋` ([`crate::sketch::DdSketch`]),
/// so the share strictly above it is `(n − 1 − ⌊q(n−1)⌋) / n` — `1 − q` for large `n`, but
/// `1/6` for p99.9 of 6 requests. Those shares are the interpolation's knots.
pub fn share_slower(p: &Percentiles, samples: f64, threshold_ms: f64) -> f64 {
    let pts = p.as_array();
    if pts[0] <= 0.0 {
        return if threshold_ms < 0.0 { 1.0 } else { 0.0 };
    }
    if threshold_ms <= 0.0 {
        return 1.0;
    }
    let above = |k: usize| {
        if samples.is_finite() && (1.0..1e6).contains(&samples) {
            let n = samples.round();
            (n - 1.0 - (QUANTILES[k] * (n - 1.0)).floor()) / n
        } else {
            1.0 - QUANTILES[k]
        }
    };
    if threshold_ms < pts[0] {
        return 1.0 - (1.0 - above(0)) * threshold_ms / pts[0];
    }
    let lt = threshold_ms.ln();
    let mut slope = None;
    for k in 0..pts.len() - 1 {
        let (a, b) = (pts[k], pts[k + 1]);
        if b <= a {
            continue;
        }
        let (sa, sb) = (above(k), above(k + 1));
        let span = b.ln() - a.ln();
        if threshold_ms <= b {
            return if sa <= 0.0 {
                0.0
            } else if sb <= 0.0 {
                sa * (1.0 - (lt - a.ln()) / span)
            } else {
                (sa.ln() + (sb.ln() - sa.ln()) / span * (lt - a.ln())).exp()
            }
            .clamp(0.0, 1.0);
        }
        if sa > 0.0 && sb > 0.0 {
            slope = Some((sb.ln() - sa.ln()) / span);
        }
    }
    let last = above(pts.len() - 1);
    if last <= 0.0 {
        return 0.0;
    }
    let top = pts[pts.len() - 1];
    (last.ln() + slope.unwrap_or(DEFAULT_TAIL_SLOPE) * (lt - top.ln())).exp().clamp(0.0, 1.0)
}

impl JourneyHistory {
    /// An empty history.
    pub fn new(journey: impl Into<String>, service: impl Into<String>, start_ms: u64) -> Self {
        JourneyHistory {
            journey: journey.into(),
            service: service.into(),
            start_ms,
            requests: Vec::new(),
            errors: Vec::new(),
            latency: Vec::new(),
            samples: Vec::new(),
            latencies_ms: None,
            rows_left_out: 0,
        }
    }

    /// Minutes covered (with or without traffic).
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether the history covers no minute.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Start of minute `i`, ms since epoch.
    pub fn minute_ms(&self, i: usize) -> u64 {
        self.start_ms + i as u64 * MINUTE_MS
    }

    /// End of the history (exclusive), ms since epoch.
    pub fn end_ms(&self) -> u64 {
        self.minute_ms(self.len())
    }

    /// Minutes with at least one request.
    pub fn minutes_with_data(&self) -> usize {
        self.requests.iter().filter(|r| **r > 0.0).count()
    }

    /// Total requests.
    pub fn total_requests(&self) -> f64 {
        self.requests.iter().sum()
    }

    /// Share of minute `i`'s requests that are bad under `sli`.
    pub fn bad_share(&self, i: usize, sli: SliKind) -> f64 {
        if self.requests[i] <= 0.0 {
            return 0.0;
        }
        match sli {
            SliKind::Availability => (self.errors[i] / self.requests[i]).clamp(0.0, 1.0),
            SliKind::Latency { threshold_ms } => match &self.latencies_ms {
                Some(l) if !l[i].is_empty() => {
                    let v = &l[i];
                    let fast = v.partition_point(|x| f64::from(x.0) <= threshold_ms);
                    let all: u64 = v.iter().map(|x| x.1).sum();
                    let slow: u64 = v[fast..].iter().map(|x| x.1).sum();
                    slow as f64 / all.max(1) as f64
                }
                _ => share_slower(&self.latency[i], self.samples[i], threshold_ms),
            },
        }
    }

    /// Bad events per minute under `sli`.
    pub fn bad_series(&self, sli: SliKind) -> Vec<f64> {
        (0..self.len()).map(|i| self.requests[i] * self.bad_share(i, sli)).collect()
    }

    /// Histories of every journey in `sli_minutes` rows, by journey name. Minutes between the
    /// first and last row of a journey that have no row hold zero requests.
    ///
    /// Memory is bounded whatever the timestamps: rows separated by more than
    /// [`MAX_GAP_MINUTES`] form separate stretches and only the stretch with the most requests
    /// is kept, then at most the last [`MAX_HISTORY_MINUTES`]; the rows left out are counted in
    /// [`JourneyHistory::rows_left_out`] and logged.
    pub fn from_minutes(rows: &[SliMinute]) -> Vec<JourneyHistory> {
        let mut by: BTreeMap<&str, Vec<&SliMinute>> = BTreeMap::new();
        for r in rows {
            by.entry(r.journey.as_str()).or_default().push(r);
        }
        by.into_values()
            .filter_map(|mut rs| {
                rs.sort_by_key(|r| r.minute_ms);
                let total = rs.len();
                let rs = main_stretch(rs);
                let rows_left_out = total - rs.len();
                if rows_left_out > 0 {
                    tracing::warn!(
                        journey = %rs[0].journey,
                        rows_left_out,
                        "rows far from the journey's main stretch of history left out (bad timestamps?)"
                    );
                }
                let first = rs.first()?.minute_ms;
                let last = rs.last()?.minute_ms;
                let n = ((last - first) / MINUTE_MS + 1) as usize;
                let mut h = JourneyHistory::new(rs[0].journey.clone(), rs[0].service.clone(), first);
                h.requests = vec![0.0; n];
                h.errors = vec![0.0; n];
                h.latency = vec![Percentiles::default(); n];
                h.samples = vec![0.0; n];
                for r in rs {
                    let i = ((r.minute_ms - first) / MINUTE_MS) as usize;
                    h.requests[i] += r.requests as f64;
                    h.errors[i] += r.errors as f64;
                    h.latency[i] = r.latency;
                    h.samples[i] += r.requests as f64;
                }
                h.rows_left_out = rows_left_out;
                Some(h)
            })
            .collect()
    }

    /// Histories of every journey of an analysis, in journey rank order, with the per-minute
    /// latencies of its (rolled-up) requests.
    pub fn from_analysis(a: &Analysis) -> Vec<JourneyHistory> {
        let mut out: Vec<JourneyHistory> = Vec::with_capacity(a.journeys.len());
        for j in &a.journeys {
            let rows: Vec<SliMinute> = a.minutes.iter().filter(|m| m.journey == j.name).cloned().collect();
            match JourneyHistory::from_minutes(&rows).pop() {
                Some(h) => out.push(h),
                None => out.push(JourneyHistory::new(j.name.clone(), j.entry_service.clone(), 0)),
            }
        }
        let mut lat: Vec<Vec<Vec<(f32, u64)>>> = out.iter().map(|h| vec![Vec::new(); h.len()]).collect();
        for r in &a.requests {
            let h = &out[r.journey];
            if h.is_empty() || r.start_ms < h.start_ms {
                continue;
            }
            let i = ((r.start_ms - h.start_ms) / MINUTE_MS) as usize;
            if let Some(slot) = lat[r.journey].get_mut(i) {
                slot.push((r.duration_us as f32 / 1000.0, r.count));
            }
        }
        for (h, mut l) in out.iter_mut().zip(lat) {
            for v in &mut l {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            h.latencies_ms = Some(l);
        }
        out
    }
}

/// The rows (sorted by minute, not empty) of the stretch with the most requests, split where
/// consecutive rows are more than [`MAX_GAP_MINUTES`] apart (ties: the latest), cut to its last
/// [`MAX_HISTORY_MINUTES`].
fn main_stretch(rows: Vec<&SliMinute>) -> Vec<&SliMinute> {
    let gap = MAX_GAP_MINUTES * MINUTE_MS;
    let (mut best, mut best_requests) = (0..0, 0u64);
    let mut start = 0;
    for i in 1..=rows.len() {
        if i == rows.len() || rows[i].minute_ms.saturating_sub(rows[i - 1].minute_ms) > gap {
            let requests = rows[start..i].iter().fold(0u64, |a, r| a.saturating_add(r.requests));
            if best.is_empty() || requests >= best_requests {
                (best, best_requests) = (start..i, requests);
            }
            start = i;
        }
    }
    let stretch = &rows[best];
    let last = stretch.last().map_or(0, |r| r.minute_ms);
    let from = last.saturating_sub((MAX_HISTORY_MINUTES - 1) * MINUTE_MS);
    stretch.iter().copied().filter(|r| r.minute_ms >= from).collect()
}

/// Settings of [`synthetic_history`]: a journey with Poisson-like traffic following a daily
/// cycle, binomial errors, log-normal latencies, and optional incidents.
#[derive(Clone, Debug)]
pub struct SyntheticHistory {
    /// RNG seed.
    pub seed: u64,
    /// Days of minute data.
    pub days: u64,
    /// Mean requests per minute (the daily cycle swings ±50 % around it).
    pub mean_rpm: f64,
    /// Baseline probability that a request fails.
    pub error_rate: f64,
    /// Median latency, ms (log-normal, σ = 0.5).
    pub median_ms: f64,
    /// Incidents: `(first minute, minutes, error rate during the incident)`.
    pub incidents: Vec<(usize, usize, f64)>,
    /// Start of the first minute, ms since epoch.
    pub start_ms: u64,
}

impl Default for SyntheticHistory {
    fn default() -> Self {
        SyntheticHistory {
            seed: 1,
            days: 30,
            mean_rpm: 100.0,
            error_rate: 0.001,
            median_ms: 80.0,
            incidents: Vec::new(),
            start_ms: 1_735_689_600_000,
        }
    }
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut Pcg64Mcg) -> f64 {
    let u1 = rng.random::<f64>().max(1e-12);
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A count with this mean: Poisson (Knuth's method) below 30, else normal with `variance`.
fn draw_count(rng: &mut Pcg64Mcg, mean: f64, variance: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0.0, rng.random::<f64>());
        while p > limit {
            k += 1.0;
            p *= rng.random::<f64>();
        }
        return k;
    }
    (mean + variance.max(0.0).sqrt() * standard_normal(rng)).round().max(0.0)
}

/// A synthetic journey history of known shape (for benchmarks and tests that need weeks of
/// minute data). Percentiles are the log-normal's exact quantiles; requests and errors are
/// drawn per minute (Poisson for small means, normal approximations above 30).
pub fn synthetic_history(cfg: &SyntheticHistory) -> JourneyHistory {
    let mut rng = Pcg64Mcg::seed_from_u64(cfg.seed);
    let n = (cfg.days * 1440) as usize;
    let mut h = JourneyHistory::new(format!("synthetic-{}", cfg.seed), "synthetic", cfg.start_ms);
    h.requests.reserve(n);
    h.errors.reserve(n);
    h.latency.reserve(n);
    h.samples.reserve(n);
    // z-scores of the reported quantiles.
    const Z: [f64; 5] = [0.0, 1.281_551_6, 1.644_853_6, 2.326_347_9, 3.090_232_3];
    for i in 0..n {
        let phase = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
        let mean = cfg.mean_rpm * (1.0 + 0.5 * phase.sin());
        let req = draw_count(&mut rng, mean, mean);
        let rate = cfg.incidents.iter().find(|(s, len, _)| i >= *s && i < s + len).map_or(cfg.error_rate, |x| x.2);
        let err = draw_count(&mut rng, req * rate, req * rate * (1.0 - rate)).min(req);
        let jitter = (0.05 * standard_normal(&mut rng)).exp();
        let q = |z: f64| if req > 0.0 { cfg.median_ms * jitter * (0.5 * z).exp() } else { 0.0 };
        h.requests.push(req);
        // The percentiles are the distribution's own quantiles, not of `req` samples.
        h.samples.push(f64::INFINITY);
        h.errors.push(err);
        h.latency.push(Percentiles {
            p50_ms: q(Z[0]),
            p90_ms: q(Z[1]),
            p95_ms: q(Z[2]),
            p99_ms: q(Z[3]),
            p999_ms: q(Z[4]),
        });
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze, AnalyzeConfig};
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    #[test]
    fn interpolated_share_hits_the_known_percentiles_and_is_monotone() {
        let p = Percentiles { p50_ms: 50.0, p90_ms: 120.0, p95_ms: 200.0, p99_ms: 400.0, p999_ms: 900.0 };
        for (t, want) in [(50.0, 0.5), (120.0, 0.1), (200.0, 0.05), (400.0, 0.01), (900.0, 0.001)] {
            assert!(
                (share_slower(&p, f64::INFINITY, t) - want).abs() < 1e-9,
                "{t}: {}",
                share_slower(&p, f64::INFINITY, t)
            );
        }
        assert!((share_slower(&p, f64::INFINITY, 25.0) - 0.75).abs() < 1e-9);
        // Six requests: p90..p99.9 are all the second largest, one request (1/6) is above it.
        let six = Percentiles { p50_ms: 50.0, p90_ms: 120.0, p95_ms: 120.0, p99_ms: 120.0, p999_ms: 120.0 };
        assert!((share_slower(&six, 6.0, 120.0) - 1.0 / 6.0).abs() < 1e-9);
        assert!((share_slower(&six, 6.0, 50.0) - 0.5).abs() < 1e-9);
        let s = share_slower(&six, 6.0, 200.0);
        assert!(s > 0.0 && s < 1.0 / 6.0, "{s}");
        assert_eq!(
            share_slower(&Percentiles { p50_ms: 9.0, p90_ms: 9.0, p95_ms: 9.0, p99_ms: 9.0, p999_ms: 9.0 }, 1.0, 10.0),
            0.0
        );
        let mut last = 1.0;
        for t in (1..3000).map(|x| x as f64) {
            let s = share_slower(&p, 1000.0, t);
            assert!(s <= last + 1e-12 && (0.0..=1.0).contains(&s), "t={t}");
            last = s;
        }
        assert!(share_slower(&p, f64::INFINITY, 2000.0) < 0.001);
        assert_eq!(share_slower(&Percentiles::default(), 5.0, 10.0), 0.0);
    }

    /// Regression (issue 17, defect 6): one span at year 2100 among 50 made a 2.5–3.4 GB dense
    /// history, and `u64::MAX` aborted on the allocation.
    #[test]
    fn outlier_timestamps_do_not_stretch_the_history() {
        let t0 = 1_735_689_600_000u64;
        let row = |minute_ms: u64, requests: u64| SliMinute {
            journey: "GET /".into(),
            service: "web".into(),
            minute_ms,
            requests,
            errors: 0,
            availability: 1.0,
            latency: Percentiles::default(),
            throughput_rps: 0.0,
        };
        let mut rows: Vec<SliMinute> = (0..50).map(|i| row(t0 + i * MINUTE_MS, 10)).collect();
        rows.push(row(4_102_444_800_000, 1)); // 2100-01-01
        rows.push(row(u64::MAX - MINUTE_MS + 1, 1));
        rows.push(row(0, 3)); // 1970
        let h = JourneyHistory::from_minutes(&rows).pop().unwrap();
        assert_eq!((h.start_ms, h.len(), h.rows_left_out), (t0, 50, 3));
        assert_eq!(h.total_requests(), 500.0);
        // A history longer than the cap keeps its latest minutes.
        let long: Vec<SliMinute> =
            (0..(MAX_HISTORY_MINUTES + 100)).step_by(1000).map(|i| row(t0 + i * MINUTE_MS, 1)).collect();
        let h = JourneyHistory::from_minutes(&long).pop().unwrap();
        assert!(h.len() as u64 <= MAX_HISTORY_MINUTES, "{}", h.len());
        assert!(h.rows_left_out > 0);
    }

    #[test]
    fn history_from_analysis_counts_slow_requests() {
        let (events, truth) = generate(&SyntheticConfig { requests: 3_000, ..Default::default() });
        let spans = from_events(&events);
        let a = analyze(&spans, &AnalyzeConfig::default());
        assert!(a.generic_roots.is_empty());
        let hs = JourneyHistory::from_analysis(&a);
        assert_eq!(hs.len(), a.journeys.len());
        for (h, j) in hs.iter().zip(&a.journeys) {
            assert_eq!(h.journey, j.name);
            assert_eq!(h.total_requests() as u64, j.requests);
            assert_eq!(h.bad_series(SliKind::Availability).iter().sum::<f64>() as u64, j.errors);
            // Latency counts against the requests themselves (the journey's root spans): only
            // requests in the 2 % bucket around the threshold can land on the wrong side.
            let roots: Vec<f64> = crate::journeys::trace_roots(&spans)
                .into_iter()
                .filter(|s| s.service == j.entry_service && s.operation == j.entry_operation)
                .map(|s| s.duration_us as f64 / 1000.0)
                .collect();
            for t in [j.p50_ms, j.p95_ms, j.p99_ms, j.p50_ms * 1.234] {
                let slow: f64 = h.bad_series(SliKind::Latency { threshold_ms: t }).iter().sum();
                let want = roots.iter().filter(|l| **l > t).count() as f64;
                let near = roots.iter().filter(|l| **l > t / 1.03 && **l < t * 1.03).count() as f64;
                assert!((slow - want).abs() <= near + 1e-6, "{} t={t}: {slow} vs {want} ({near} near)", j.name);
            }
        }
        let total: f64 = hs.iter().map(|h| h.total_requests()).sum();
        assert_eq!(total as u64, truth.journeys.values().map(|x| x.0).sum::<u64>());
    }

    #[test]
    fn synthetic_history_has_the_configured_shape() {
        let h = synthetic_history(&SyntheticHistory { days: 2, incidents: vec![(600, 30, 0.5)], ..Default::default() });
        assert_eq!(h.len(), 2 * 1440);
        let mean = h.total_requests() / h.len() as f64;
        assert!((mean - 100.0).abs() < 5.0, "{mean}");
        let inc: f64 = (600..630).map(|i| h.errors[i] / h.requests[i].max(1.0)).sum::<f64>() / 30.0;
        let base: f64 = (0..600).map(|i| h.errors[i]).sum::<f64>() / (0..600).map(|i| h.requests[i]).sum::<f64>();
        assert!((inc - 0.5).abs() < 0.1, "{inc}");
        assert!(base < 0.005, "{base}");
        let s = share_slower(&h.latency[10], f64::INFINITY, 80.0);
        assert!((s - 0.5).abs() < 0.2, "{s}");
    }
}
