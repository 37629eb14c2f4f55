//! Discovering user journeys from spans: traces assembled from parent/child links, grouped by
//! their entry operation, ranked by criticality, with per-journey SLIs and their PromQL.
//!
//! ```sh
//! cargo run --example discover_journeys
//! ```

use slo_advisor::analyze::{analyze, AnalyzeConfig};
use slo_advisor::spans::from_events;
use slo_dataflow::synthetic::{generate, SyntheticConfig};

fn main() {
    // A generated shop (7 services, 5 journeys) stands in for your spans: read yours with
    // `slo_advisor::spans::read_path` (JSON lines, OTLP/JSON, Nezha CSV tables).
    let (events, truth) = generate(&SyntheticConfig { requests: 5_000, ..Default::default() });
    let spans = from_events(&events);
    let analysis = analyze(&spans, &AnalyzeConfig::default());
    println!(
        "{} spans, {} traces, {} journeys (ground truth: {})",
        analysis.spans,
        analysis.traces,
        analysis.journeys.len(),
        truth.journeys.len()
    );
    for (j, sli) in analysis.journeys.iter().zip(&analysis.slis) {
        println!(
            "{:>2}. {:<26} {:>6} requests  availability {:>7.3} %  p99 {:>7.1} ms  services: {}",
            j.rank,
            j.name,
            j.requests,
            100.0 * sli.availability,
            sli.latency.p99_ms,
            j.services.join(", ")
        );
    }
    if let Some(q) = analysis.promql.first() {
        println!("\nPromQL of {} ({}):\n  availability: {}", q.journey, q.convention, q.availability);
    }
}
