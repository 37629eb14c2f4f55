//! What-if scenarios applied to a journey's history before a backtest: traffic ×k, error rate
//! ×k, latency shift (+ms and/or ×k), and a replica count change through an M/M/c queue.
//!
//! Written as `traffic=2,errors=1.5,latency+=20ms,latency*=1.1,replicas=3->2,workers=4` (any
//! subset, any order). Steps, per minute, in this order:
//!
//! 1. **traffic ×k**: requests and errors ×k (the error ratio is unchanged; latencies too,
//!    unless a replica count is given, see 4).
//! 2. **errors ×k**: failed requests ×k, capped at the requests.
//! 3. **latency**: every latency `l` (each rolled-up request row's when the history has them,
//!    else each percentile) becomes `l × mul + add`.
//! 4. **replicas** `from->to` (or `n`, meaning unchanged, to see the effect of traffic alone):
//!    an **M/M/c approximation**. A journey's requests are served by `c = replicas × workers`
//!    identical servers (`workers` concurrent requests per replica, default 1), arrivals are
//!    Poisson at the minute's rate λ, service times exponential with mean `S`. `S` is
//!    calibrated per minute from the *median* latency `R₀` (after step 3) at the observed rate λ₀
//!    and the old server count: the `S` with `S + Wq(λ₀, S, c_old) = R₀`, where `Wq` is the Erlang C
//!    mean wait `C(c, a) · S / (c − a)`, `a = λS`. The new mean response time is
//!    `R₁ = S + Wq(λ₁, S, c_new)` with λ₁ after the traffic factor, and every latency of the
//!    minute is scaled by `R₁ / R₀` (the M/M/c response time is, like the exponential, a scale
//!    family to first order). A minute whose new utilisation `λ₁S / c_new` reaches 1 is
//!    overloaded: the excess share `1 − 0.99·c_new / (λ₁S)` of its requests is counted as failed
//!    (shed) and the rest are scaled as at utilisation 0.99. The approximation ignores
//!    burstiness within the minute, non-exponential service times and retries; it says where
//!    capacity runs out, not the exact tail.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use slo_dataflow::time::{parse_duration_ms, BareNumber};

use crate::history::JourneyHistory;
use crate::sli::Percentiles;

/// A what-if scenario (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    /// Traffic factor. Default 1.
    pub traffic: f64,
    /// Error-rate factor. Default 1.
    pub errors: f64,
    /// Latency added, ms. Default 0.
    pub latency_add_ms: f64,
    /// Latency factor. Default 1.
    pub latency_mul: f64,
    /// Replica count `(from, to)`; `None` applies no queueing model.
    pub replicas: Option<(u32, u32)>,
    /// Concurrent requests per replica (servers per replica of the M/M/c model). Default 1.
    pub workers: u32,
}

impl Default for WhatIf {
    fn default() -> Self {
        WhatIf { traffic: 1.0, errors: 1.0, latency_add_ms: 0.0, latency_mul: 1.0, replicas: None, workers: 1 }
    }
}

impl WhatIf {
    /// Whether the scenario changes nothing.
    pub fn is_identity(&self) -> bool {
        *self == WhatIf::default()
    }
}

impl fmt::Display for WhatIf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.traffic != 1.0 {
            parts.push(format!("traffic={}", self.traffic));
        }
        if self.errors != 1.0 {
            parts.push(format!("errors={}", self.errors));
        }
        if self.latency_add_ms != 0.0 {
            parts.push(format!("latency+={}ms", self.latency_add_ms));
        }
        if self.latency_mul != 1.0 {
            parts.push(format!("latency*={}", self.latency_mul));
        }
        if let Some((a, b)) = self.replicas {
            parts.push(format!("replicas={a}->{b}"));
        }
        if self.workers != 1 {
            parts.push(format!("workers={}", self.workers));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

fn positive(key: &str, v: &str) -> Result<f64, String> {
    let x: f64 = v.trim().parse().map_err(|_| format!("{key}: {v:?} is not a number"))?;
    if !(x.is_finite() && x >= 0.0) {
        return Err(format!("{key}: {v:?} must be a non-negative number"));
    }
    Ok(x)
}

fn millis(key: &str, v: &str) -> Result<f64, String> {
    parse_duration_ms(v, BareNumber::Millis)
        .map_err(|_| format!("{key}: {:?} is not a duration (e.g. 20ms, 0.5s)", v.trim()))
}

fn count(key: &str, v: &str) -> Result<u32, String> {
    let n: u32 = v.trim().parse().map_err(|_| format!("{key}: {v:?} is not a whole number"))?;
    if n == 0 {
        return Err(format!("{key}: must be at least 1"));
    }
    Ok(n)
}

impl FromStr for WhatIf {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut w = WhatIf::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = if let Some((k, v)) = part.split_once("+=") {
                (format!("{}+", k.trim()), v)
            } else if let Some((k, v)) = part.split_once("*=") {
                (format!("{}*", k.trim()), v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k.trim().to_string(), v)
            } else {
                return Err(format!(
                    "{part:?}: expected key=value (traffic, errors, latency+=, latency*=, replicas, workers)"
                ));
            };
            match key.as_str() {
                "traffic" => w.traffic = positive("traffic", value)?,
                "errors" => w.errors = positive("errors", value)?,
                "latency+" => w.latency_add_ms = millis("latency+", value)?,
                "latency-" => w.latency_add_ms = -millis("latency-", value)?,
                "latency*" | "latency" => w.latency_mul = positive("latency*", value)?,
                "replicas" => {
                    w.replicas = Some(match value.split_once("->") {
                        Some((a, b)) => (count("replicas", a)?, count("replicas", b)?),
                        None => {
                            let n = count("replicas", value)?;
                            (n, n)
                        }
                    })
                }
                "workers" => w.workers = count("workers", value)?,
                other => {
                    return Err(format!(
                        "unknown what-if key {other:?} (traffic, errors, latency+=, latency*=, replicas, workers)"
                    ))
                }
            }
        }
        Ok(w)
    }
}

/// Erlang C: the probability that an arrival waits in an M/M/c queue with offered load `a`
/// (`λS`, in servers). 1 when `a >= c`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    let c_f = f64::from(c);
    if a >= c_f {
        return 1.0;
    }
    // Erlang B by the stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    c_f * b / (c_f - a * (1.0 - b))
}

/// Mean response time (service + wait) of an M/M/c queue with arrival rate `lambda` per ms,
/// mean service time `s_ms`, `c` servers. Infinite when the utilisation reaches 1.
pub fn mmc_response_ms(lambda: f64, s_ms: f64, c: u32) -> f64 {
    let a = lambda * s_ms;
    let c_f = f64::from(c);
    if a >= c_f {
        return f64::INFINITY;
    }
    s_ms + erlang_c(c, a) * s_ms / (c_f - a)
}

/// The mean service time `S` with `mmc_response_ms(lambda, S, c) = r_ms` (bisection; `r_ms`
/// when the queue is idle).
pub fn calibrate_service_ms(lambda: f64, r_ms: f64, c: u32) -> f64 {
    if lambda <= 0.0 || r_ms <= 0.0 {
        return r_ms.max(0.0);
    }
    let (mut lo, mut hi) = (0.0, r_ms.min(f64::from(c) / lambda));
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if mmc_response_ms(lambda, mid, c) > r_ms {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    lo
}

fn scale_percentiles(p: &mut Percentiles, mul: f64, add: f64) {
    for v in [&mut p.p50_ms, &mut p.p90_ms, &mut p.p95_ms, &mut p.p99_ms, &mut p.p999_ms] {
        if *v > 0.0 {
            *v = (*v * mul + add).max(0.0);
        }
    }
}

/// Applies a scenario to a history (see the module docs for the order and the queueing model).
pub fn apply(h: &JourneyHistory, w: &WhatIf) -> JourneyHistory {
    let mut out = h.clone();
    for i in 0..out.len() {
        let (req0, err0) = (h.requests[i], h.errors[i]);
        let req = req0 * w.traffic;
        let mut err = (err0 * w.traffic * w.errors).min(req);
        let mut qf = 1.0;
        if let (Some((from, to)), true) = (w.replicas, req0 > 0.0) {
            let (c0, c1) = (from.saturating_mul(w.workers), to.saturating_mul(w.workers));
            let (l0, l1) = (req0 / 60_000.0, req / 60_000.0);
            let r0 = h.latency[i].p50_ms * w.latency_mul + w.latency_add_ms;
            if r0 > 0.0 {
                let s = calibrate_service_ms(l0, r0, c0);
                let rho = l1 * s / f64::from(c1);
                let r1 = if rho >= 0.99 {
                    let shed = 1.0 - 0.99 / rho;
                    err = (err + shed * (req - err)).min(req);
                    mmc_response_ms(0.99 * f64::from(c1) / s, s, c1)
                } else {
                    mmc_response_ms(l1, s, c1)
                };
                qf = r1 / r0;
            }
        }
        let (mul, add) = (w.latency_mul * qf, w.latency_add_ms * qf);
        out.requests[i] = req;
        out.errors[i] = err;
        scale_percentiles(&mut out.latency[i], mul, add);
        if let Some(l) = out.latencies_ms.as_mut() {
            for x in &mut l[i] {
                x.0 = (f64::from(x.0) * mul + add).max(0.0) as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{synthetic_history, SliKind, SyntheticHistory};

    #[test]
    fn parses_and_prints_scenarios() {
        let w: WhatIf = "traffic=2,errors=1.5,latency+=20ms,replicas=3->2".parse().unwrap();
        assert_eq!(
            w,
            WhatIf { traffic: 2.0, errors: 1.5, latency_add_ms: 20.0, replicas: Some((3, 2)), ..Default::default() }
        );
        assert_eq!(w.to_string(), "traffic=2,errors=1.5,latency+=20ms,replicas=3->2");
        let w: WhatIf = "latency*=1.5, latency+=0.1s, workers=8, replicas=4".parse().unwrap();
        assert_eq!((w.latency_mul, w.latency_add_ms, w.workers, w.replicas), (1.5, 100.0, 8, Some((4, 4))));
        for bad in ["traffic=x", "speed=2", "replicas=0->1", "errors=-1", "traffic"] {
            assert!(bad.parse::<WhatIf>().is_err(), "{bad}");
        }
        assert!("".parse::<WhatIf>().unwrap().is_identity());
    }

    #[test]
    fn erlang_c_matches_known_values() {
        // M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-12);
        // M/M/2 at a = 1: C = 1/3.
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
        // M/M/1 response time = S / (1 − ρ).
        assert!((mmc_response_ms(0.5 / 10.0, 10.0, 1) - 20.0).abs() < 1e-9);
        let s = calibrate_service_ms(0.05, 20.0, 1);
        assert!((s - 10.0).abs() < 1e-6, "{s}");
    }

    #[test]
    fn scenarios_move_the_history_the_right_way() {
        let h = synthetic_history(&SyntheticHistory { days: 1, error_rate: 0.01, ..Default::default() });
        let id = apply(&h, &WhatIf::default());
        assert_eq!(id, h);
        let t2 = apply(&h, &"traffic=2".parse().unwrap());
        assert!((t2.total_requests() - 2.0 * h.total_requests()).abs() < 1e-6);
        let bad = |x: &JourneyHistory, s| x.bad_series(s).iter().sum::<f64>() / x.total_requests();
        assert!((bad(&t2, SliKind::Availability) - bad(&h, SliKind::Availability)).abs() < 1e-12);
        let mut last = bad(&h, SliKind::Availability);
        for k in [1.5, 2.0, 4.0, 8.0] {
            let e = bad(&apply(&h, &WhatIf { errors: k, ..Default::default() }), SliKind::Availability);
            assert!(e > last, "errors x{k}: {e} <= {last}");
            last = e;
        }
        let lat = SliKind::Latency { threshold_ms: 150.0 };
        let slower = apply(&h, &"latency+=40ms".parse().unwrap());
        assert!(bad(&slower, lat) > bad(&h, lat));
        // 100 req/min at ~80 ms keeps 0.13 servers busy: 3 -> 2 replicas barely matters,
        // 3 -> 1 is an M/M/1 at utilisation ~0.13 (~15 % slower), and 100x the traffic on
        // one replica overloads it (requests shed, latency up).
        let two = apply(&h, &"replicas=3->2".parse().unwrap());
        assert!((bad(&two, lat) - bad(&h, lat)).abs() < 0.005, "{} vs {}", bad(&two, lat), bad(&h, lat));
        let one = apply(&h, &"replicas=3->1".parse().unwrap());
        assert!(bad(&one, lat) > bad(&two, lat) + 0.01, "{} vs {}", bad(&one, lat), bad(&two, lat));
        let over = apply(&h, &"traffic=100,replicas=3->1".parse().unwrap());
        assert!(bad(&over, SliKind::Availability) > 0.5, "{}", bad(&over, SliKind::Availability));
        let more = apply(&h, &"traffic=20,replicas=3->6,workers=2".parse().unwrap());
        let less = apply(&h, &"traffic=20,replicas=3->2,workers=2".parse().unwrap());
        assert!(bad(&less, lat) > bad(&more, lat), "{} vs {}", bad(&less, lat), bad(&more, lat));
    }
}
