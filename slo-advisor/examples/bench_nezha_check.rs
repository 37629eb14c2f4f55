//! Prints the Nezha checks recorded in docs/bench/journeys-slis.md:
//!
//! ```text
//! cargo run --release -p slo-advisor --example bench_nezha_check [-- DATASET_DIR]
//! ```
//!
//! DATASET_DIR defaults to `../shared/datasets/nezha/onlineboutique-2022-08-22` (relative to the
//! repository root, where cargo runs examples from).

use std::path::PathBuf;

use slo_advisor::analyze::{analyze, AnalyzeConfig};
use slo_advisor::spans::read_path;

#[path = "../tests/support/nezha.rs"]
mod nezha;
use nezha::{compare_edges, compare_latency, read_dependencies, read_front_service};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/datasets/nezha/onlineboutique-2022-08-22"));
    if !dir.is_dir() {
        eprintln!("dataset not found at {} — pass its path", dir.display());
        return Ok(());
    }
    let t = std::time::Instant::now();
    let (spans, report) = read_path(&dir)?;
    let a = analyze(&spans, &AnalyzeConfig::default());
    println!(
        "{} spans in {} files ({} skipped), {} traces, analysed in {:.2?}",
        spans.len(),
        report.files,
        report.skipped,
        a.traces,
        t.elapsed()
    );
    println!(
        "\n| journey | requests | fan-out | p50 ms | p95 ms | p99 ms | signature |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for j in &a.journeys {
        let sig: Vec<&str> = j.signature.iter().map(|s| slo_advisor::journeys::short_operation(s)).collect();
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.0} | {:.0} | {} |",
            j.name,
            j.requests,
            j.fan_out,
            j.p50_ms,
            j.p95_ms,
            j.p99_ms,
            sig.join(", ")
        );
    }
    let deps = read_dependencies(&dir.join("metric/dependency.csv"))?;
    let recovered = a.call_graph.iter().map(|e| (e.caller.clone(), e.callee.clone())).collect();
    let c = compare_edges(&recovered, &deps.service_edges);
    println!(
        "\ncall graph vs dependency.csv (service→service edges; {} edges to IPs / loadgenerator ignored): recovered {}, expected {}, matched {}, precision {:.3}, recall {:.3}, missing {:?}, extra {:?}",
        deps.other_edges.len(), c.recovered, c.expected, c.matched, c.precision, c.recall, c.missing, c.extra
    );
    let rows = read_front_service(&dir.join("metric/front_service.csv"))?;
    for window_s in [60u64, 120, 300] {
        let l = compare_latency(&spans, &rows, "frontend", window_s * 1000);
        let f = |v: [f64; 4]| v.map(|x| format!("{:.1}%", 100.0 * x)).join(" / ");
        let r = |v: [f64; 4]| v.map(|x| format!("{x:.2}")).join(" / ");
        println!(
            "\nfrontend latency, window {window_s} s before Time: {} minutes; median rel. error p50/p90/p95/p99 = {}; median ratio traces/metric = {}",
            l.minutes.len(),
            f(l.median_relative_error),
            r(l.median_ratio)
        );
        if window_s == 60 {
            println!(
                "| Time (ms) | requests | traces p50/p90/p95/p99 ms | metric p50/p90/p95/p99 ms |\n|---|---:|---|---|"
            );
            for m in &l.minutes {
                let v = |x: [f64; 4]| x.map(|y| format!("{y:.0}")).join(" / ");
                println!("| {} | {} | {} | {} |", m.time_ms, m.requests, v(m.traces_ms), v(m.metric_ms));
            }
        }
    }
    Ok(())
}
