//! Criterion throughput benchmarks (lines/s or events/s per core).
//!
//! ```sh
//! cargo bench --bench throughput
//! ```
//!
//! The log corpus is the ten Loghub-2k sets from `../shared/datasets/loghub2k` (content after the
//! header split), mixed and repeated; without `../shared` it falls back to the synthetic
//! generator's log bodies, and says so.

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use slo_dataflow::cluster::ClusterConfig;
use slo_dataflow::event::{Capsule, EventKind, LateEvent};
use slo_dataflow::sink::MemorySink;
use slo_dataflow::source::log_format::LogFormat;
use slo_dataflow::source::EventSource;
use slo_dataflow::synthetic::{generate, SyntheticConfig};
use slo_operators::fingerprint::{MinerConfig, TemplateMiner};
use slo_operators::metrics::PipelineMetrics;
use slo_operators::pipeline::{run_pipeline, DeadLetterRecord, PipelineConfig, PipelineSinks};
use slo_operators::redact::Redactor;

fn loghub_lines() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/loghub2k");
    let settings = root.join("settings.json");
    let Ok(text) = std::fs::read_to_string(&settings) else {
        eprintln!("../shared absent: benchmarking on synthetic log bodies");
        let (events, _) = generate(&SyntheticConfig { requests: 20_000, ..Default::default() });
        return events.into_iter().filter(|e| e.kind == EventKind::Log).map(|e| e.body).collect();
    };
    let json: serde_json::Value = serde_json::from_str(&text).expect("settings.json");
    let mut per_set: Vec<Vec<String>> = Vec::new();
    for (name, ds) in json["datasets"].as_object().expect("datasets") {
        let fmt = LogFormat::parse(ds["log_format"].as_str().unwrap_or("<Content>")).expect("log_format");
        let log = root.join(ds["log_file"].as_str().unwrap_or(""));
        let Ok(body) = std::fs::read_to_string(&log) else {
            eprintln!("skip {name}");
            continue;
        };
        per_set.push(body.lines().map(|l| fmt.content(l).unwrap_or(l).to_string()).collect());
    }
    // Interleave the sets so the mix looks like a shared stream.
    let mut mixed = Vec::new();
    let longest = per_set.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for set in &per_set {
            if let Some(l) = set.get(i) {
                mixed.push(l.clone());
            }
        }
    }
    mixed
}

fn corpus(min_lines: usize) -> Vec<String> {
    let base = loghub_lines();
    base.iter().cycle().take(min_lines.max(base.len())).cloned().collect()
}

/// The operator cores as the pipeline's hot path calls them, one line at a time: the line is
/// copied into the event's body (a reused buffer here: the copy is counted, the source's
/// allocation is not), redacted in place ([`Redactor::redact_in_place_with`], with the findings
/// in a reused buffer as the `Redact` operator keeps one), and mined
/// ([`TemplateMiner::mine_fingerprint`]: cluster and fingerprint; copying the template into the
/// event is the timely operator's work, measured by the `pipeline` benchmarks).
fn bench_operators(c: &mut Criterion) {
    let lines = corpus(1_000_000);
    let redactor = Redactor::with_defaults();
    let mut group = c.benchmark_group("operators");
    group.sample_size(10);
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("redact", |b| {
        let (mut body, mut findings) = (String::new(), Vec::new());
        b.iter(|| {
            lines
                .iter()
                .map(|l| {
                    body.clear();
                    body.push_str(l);
                    redactor.redact_in_place_with(&mut body, &mut findings);
                    findings.len()
                })
                .sum::<usize>()
        })
    });
    group.bench_function("mine", |b| {
        b.iter(|| {
            let mut miner = TemplateMiner::new(MinerConfig::default());
            lines.iter().map(|l| miner.mine_fingerprint(l).2 as usize).sum::<usize>()
        })
    });
    group.bench_function("redact+mine", |b| {
        let (mut body, mut findings) = (String::new(), Vec::new());
        b.iter(|| {
            let mut miner = TemplateMiner::new(MinerConfig::default());
            lines
                .iter()
                .map(|l| {
                    body.clear();
                    body.push_str(l);
                    redactor.redact_in_place_with(&mut body, &mut findings);
                    miner.mine_fingerprint(&body).2 as usize
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

fn bench_pipeline(c: &mut Criterion) {
    let (events, _) = generate(&SyntheticConfig { requests: 10_000, ..Default::default() });
    let events = Arc::new(events);
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    group.throughput(Throughput::Elements(events.len() as u64));
    for workers in [1, 2] {
        group.bench_function(format!("synthetic events, {workers} worker(s)"), |b| {
            b.iter(|| {
                let ev = events.clone();
                let source =
                    move || -> Result<Box<dyn EventSource>, String> { Ok(Box::new((*ev).clone().into_iter().map(Ok))) };
                let sinks = PipelineSinks {
                    capsules: Box::new(|_| Box::new(MemorySink::<Capsule>::new())),
                    late: Box::new(|_| Box::new(MemorySink::<LateEvent>::new())),
                    dead_letters: Box::new(|_| Box::new(MemorySink::<DeadLetterRecord>::new())),
                    events: None,
                };
                run_pipeline(
                    &ClusterConfig::threads(workers),
                    PipelineConfig::default(),
                    source,
                    sinks,
                    PipelineMetrics::new(),
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_operators, bench_pipeline);
criterion_main!(benches);
