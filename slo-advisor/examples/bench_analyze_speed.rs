//! Time to analyse about 1M spans (journeys, call graph, per-minute SLIs, PromQL):
//!
//! ```text
//! cargo run --release -p slo-advisor --example bench_analyze_speed [-- REQUESTS]
//! ```
//!
//! REQUESTS defaults to 330,000 synthetic requests (≈ 1.0M spans). Generation is not timed;
//! the conversion from events to spans is reported separately.

use std::time::Instant;

use slo_advisor::analyze::{analyze, AnalyzeConfig};
use slo_advisor::spans::from_events;
use slo_dataflow::synthetic::{generate, SyntheticConfig};

fn main() {
    let requests = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(330_000);
    let t = Instant::now();
    let (events, _) = generate(&SyntheticConfig { requests, ..Default::default() });
    let generated = t.elapsed();
    let t = Instant::now();
    let spans = from_events(&events);
    let convert = t.elapsed();
    drop(events);
    let mut best = f64::MAX;
    let mut a = None;
    for _ in 0..3 {
        let t = Instant::now();
        a = Some(analyze(&spans, &AnalyzeConfig::default()));
        best = best.min(t.elapsed().as_secs_f64());
    }
    let a = a.expect("ran");
    println!(
        "{} spans, {} traces, {} journeys, {} minute rows: generate {:.2?} (untimed), events→spans {:.2?}, analyze best of 3 {:.3} s ({:.2} M spans/s)",
        spans.len(),
        a.traces,
        a.journeys.len(),
        a.minutes.len(),
        generated,
        convert,
        best,
        spans.len() as f64 / best / 1e6
    );
}
