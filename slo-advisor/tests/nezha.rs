//! Checks on the Nezha Online Boutique sample (`../shared/datasets/nezha/onlineboutique-2022-08-22`
//! from the repository root). Skips, saying why, when the shared data is absent.

use std::path::PathBuf;

use slo_advisor::analyze::{analyze, AnalyzeConfig};
use slo_advisor::spans::{read_path, ErrorSource};

#[path = "support/nezha.rs"]
mod nezha;
use nezha::{compare_edges, compare_latency, read_dependencies, read_front_service};

fn dataset() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/nezha/onlineboutique-2022-08-22");
    if p.join("trace").is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: Nezha sample not found at {} (the shared data is not mounted)", p.display());
        None
    }
}

#[test]
fn nezha_journeys_call_graph_and_frontend_latency() {
    let Some(dir) = dataset() else { return };
    let (spans, report) = read_path(&dir).unwrap();
    assert_eq!(report.files, 5);
    assert_eq!(report.skipped, 0);
    assert!(spans.len() > 100_000);
    let a = analyze(&spans, &AnalyzeConfig::default());
    assert_eq!(a.generic_roots, vec!["frontend: hipstershop.Frontend/Recv.".to_string()]);
    // The request types of the Online Boutique load generator.
    let names: Vec<&str> = a.journeys.iter().map(|j| j.name.as_str()).collect();
    for expected in ["view product", "view cart", "home", "checkout", "add to cart"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert_eq!(a.journeys.len(), 6);
    assert!(a.slis.iter().all(|s| s.error_source == ErrorSource::None));

    let deps = read_dependencies(&dir.join("metric/dependency.csv")).unwrap();
    let recovered = a.call_graph.iter().map(|e| (e.caller.clone(), e.callee.clone())).collect();
    let edges = compare_edges(&recovered, &deps.service_edges);
    eprintln!("call graph vs dependency.csv: {edges:?}");
    assert_eq!(edges.precision, 1.0);
    assert!(edges.recall >= 13.0 / 14.0 - 1e-9);

    let rows = read_front_service(&dir.join("metric/front_service.csv")).unwrap();
    assert!(rows.len() > 1_000);
    let lat = compare_latency(&spans, &rows, "frontend", 60_000);
    eprintln!(
        "frontend latency: {} minutes, median rel. error p50/p90/p95/p99 = {:?}, median ratio traces/metric = {:?}",
        lat.minutes.len(),
        lat.median_relative_error,
        lat.median_ratio
    );
    for m in &lat.minutes {
        eprintln!(
            "  {} n={} traces={:?} metric={:?}",
            m.time_ms,
            m.requests,
            m.traces_ms.map(|v| v.round()),
            m.metric_ms.map(|v| v.round())
        );
    }
    assert!(lat.minutes.len() >= 3);
    assert!(lat.median_relative_error.iter().all(|e| e.is_finite()));
}
