//! Rolling windows over a journey's per-minute history: the window length for a history, each
//! window's attainment, and the ranges where a given objective was breached. The recommender
//! picks objectives from them; the backtest reports breaches with them.

use serde::{Deserialize, Serialize};

use crate::history::JourneyHistory;

/// A time range in which the SLO would have been breached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BreachRange {
    /// Start, ms since epoch.
    pub start_ms: u64,
    /// End (exclusive), ms since epoch.
    pub end_ms: u64,
    /// Attainment over the range, percent.
    pub attainment_percent: f64,
    /// Bad events in the range.
    pub bad_events: f64,
}

/// The rolling window [`crate::recommend::recommend`] uses for a history of `minutes` minutes when none is set.
pub fn auto_window(minutes: usize) -> usize {
    if minutes >= 7 * 1440 {
        1440
    } else {
        (minutes / 12).max(5)
    }
}

/// Per-window attainment: `(first minute, minutes, requests, bad)` of each rolling window with
/// requests, stepping a quarter window.
pub fn rolling_windows(requests: &[f64], bad: &[f64], window: usize) -> Vec<(usize, usize, f64, f64)> {
    let n = requests.len();
    let window = window.clamp(1, n.max(1));
    let step = (window / 4).max(1);
    let mut pr = vec![0.0; n + 1];
    let mut pb = vec![0.0; n + 1];
    for i in 0..n {
        pr[i + 1] = pr[i] + requests[i];
        pb[i + 1] = pb[i] + bad[i];
    }
    let mut out = Vec::new();
    let mut s = 0;
    loop {
        let e = (s + window).min(n);
        let r = pr[e] - pr[s];
        if r > 0.0 {
            out.push((s, e - s, r, pb[e] - pb[s]));
        }
        if e >= n {
            break;
        }
        s += step;
    }
    out
}

/// The rolling windows (from [`rolling_windows`]) whose attainment is below `objective_percent`,
/// merged into time ranges; the `max` ranges with the most bad events, by time.
pub fn breach_ranges(
    h: &JourneyHistory,
    bad: &[f64],
    windows: &[(usize, usize, f64, f64)],
    objective_percent: f64,
    max: usize,
) -> Vec<BreachRange> {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for w in windows.iter().filter(|w| 100.0 * (1.0 - w.3 / w.2) < objective_percent - 1e-9) {
        match ranges.last_mut() {
            Some(last) if w.0 <= last.1 => last.1 = last.1.max(w.0 + w.1),
            _ => ranges.push((w.0, w.0 + w.1)),
        }
    }
    let mut breaches: Vec<BreachRange> = ranges
        .iter()
        .map(|&(s, e)| {
            let r: f64 = h.requests[s..e].iter().sum();
            let b: f64 = bad[s..e].iter().sum();
            BreachRange {
                start_ms: h.minute_ms(s),
                end_ms: h.minute_ms(e),
                attainment_percent: 100.0 * (1.0 - b / r.max(1e-12)),
                bad_events: b,
            }
        })
        .collect();
    breaches.sort_by(|a, b| b.bad_events.total_cmp(&a.bad_events));
    breaches.truncate(max);
    breaches.sort_by_key(|b| b.start_ms);
    breaches
}
