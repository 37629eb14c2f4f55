//! Time to backtest 100 SLOs over 30 days of 1-minute data each (synthetic histories, half
//! availability SLOs at 99.5 % and half latency SLOs at 99 % within 300 ms, a third with a
//! 2-hour incident at 20 % errors): budget over time, breach windows,
//! burn-rate alert replay with the Google 30-day windows, and the block bootstrap (2,000
//! simulated periods + 100 × 200 nested).
//!
//! ```text
//! cargo run -p slo-advisor --example bench_backtest_speed [-- SLOS [DAYS]]
//! ```
//!
//! History generation is not timed. Prints the best of 3 runs, without and with a what-if.

use std::time::Instant;

use slo_advisor::backtest::{backtest, BacktestConfig, SloTarget};
use slo_advisor::history::{synthetic_history, SliKind, SyntheticHistory};
use slo_advisor::whatif::WhatIf;
use slo_artifacts::{AlertWindows, PromDuration};

fn main() {
    let mut args = std::env::args().skip(1);
    let slos: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let days: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let t = Instant::now();
    let histories: Vec<_> = (0..slos)
        .map(|i| {
            let incidents = if i % 3 == 0 {
                vec![((i as usize * 997) % (days as usize * 1440 - 300), 120, 0.2)]
            } else {
                Vec::new()
            };
            synthetic_history(&SyntheticHistory {
                seed: i + 1,
                days,
                mean_rpm: 50.0 + i as f64,
                incidents,
                ..Default::default()
            })
        })
        .collect();
    let targets: Vec<SloTarget> = (0..slos)
        .map(|i| SloTarget {
            name: format!("slo-{i}"),
            journey: format!("synthetic-{}", i + 1),
            sli: if i % 2 == 0 { SliKind::Availability } else { SliKind::Latency { threshold_ms: 300.0 } },
            objective_percent: if i % 2 == 0 { 99.5 } else { 99.0 },
            period: PromDuration::days(30),
        })
        .collect();
    let generated = t.elapsed();
    let minutes: usize = histories.iter().map(|h| h.len()).sum();
    let windows = AlertWindows::google_30d();
    let cfg = BacktestConfig::default();
    for (label, what_if) in [
        ("as observed", WhatIf::default()),
        ("what-if traffic=2,errors=1.5,latency+=20ms", "traffic=2,errors=1.5,latency+=20ms".parse().expect("scenario")),
    ] {
        let mut best = f64::MAX;
        let mut pages = 0;
        let mut tickets = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let reports: Vec<_> =
                histories.iter().zip(&targets).map(|(h, s)| backtest(h, s, &windows, &what_if, &cfg)).collect();
            best = best.min(t.elapsed().as_secs_f64());
            pages = reports.iter().map(|r| r.alert_summary.pages).sum();
            tickets = reports.iter().map(|r| r.alert_summary.tickets).sum();
        }
        println!(
            "{slos} SLOs x {days} days ({minutes} minute rows, generated in {generated:.2?}, untimed), {label}: best of 3 {best:.3} s ({:.1} ms per SLO); {pages} pages, {tickets} tickets",
            1000.0 * best / slos as f64
        );
    }
}
