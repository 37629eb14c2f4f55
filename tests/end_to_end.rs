//! End-to-end: synthetic telemetry with known ground truth through the whole capsule pipeline.

use std::collections::BTreeSet;

use slo_dataflow::cluster::ClusterConfig;
use slo_dataflow::event::{Capsule, LateEvent, TelemetryEvent};
use slo_dataflow::sink::MemorySink;
use slo_dataflow::source::EventSource;
use slo_dataflow::synthetic::{generate, GroundTruth, SyntheticConfig};
use slo_operators::embed::EmbedConfig;
use slo_operators::metrics::PipelineMetrics;
use slo_operators::pipeline::{run_pipeline, DeadLetterRecord, PipelineConfig, PipelineReport, PipelineSinks};

struct Outputs {
    capsules: Vec<Capsule>,
    late: Vec<LateEvent>,
    dead: Vec<DeadLetterRecord>,
    report: PipelineReport,
}

fn run(workers: usize, synth: SyntheticConfig, config: PipelineConfig) -> Outputs {
    run_events(workers, generate(&synth).0, config)
}

fn run_events(workers: usize, events: Vec<TelemetryEvent>, config: PipelineConfig) -> Outputs {
    let capsules = MemorySink::<Capsule>::new();
    let late = MemorySink::<LateEvent>::new();
    let dead = MemorySink::<DeadLetterRecord>::new();
    let (c, l, d) = (capsules.clone(), late.clone(), dead.clone());
    let sinks = PipelineSinks {
        capsules: Box::new(move |_| Box::new(c.clone())),
        late: Box::new(move |_| Box::new(l.clone())),
        dead_letters: Box::new(move |_| Box::new(d.clone())),
        events: None,
    };
    let source = move || -> Result<Box<dyn EventSource>, String> { Ok(Box::new(events.clone().into_iter().map(Ok))) };
    let report = run_pipeline(&ClusterConfig::threads(workers), config, source, sinks, PipelineMetrics::new()).unwrap();
    let mut capsules = capsules.records();
    capsules.sort_by_key(|a| a.key());
    Outputs { capsules, late: late.records(), dead: dead.records(), report }
}

fn five_minute_windows() -> PipelineConfig {
    let mut cfg = PipelineConfig::default();
    cfg.window.size_ms = 300_000;
    cfg.driver.max_out_of_orderness_ms = 10_000;
    cfg.driver.batch_size = 500;
    cfg
}

fn truth(synth: &SyntheticConfig) -> GroundTruth {
    generate(synth).1
}

#[test]
fn counts_sum_to_the_input_and_one_and_four_workers_agree() {
    let synth = SyntheticConfig { requests: 1_500, ..Default::default() };
    let one = run(1, synth.clone(), five_minute_windows());
    let four = run(4, synth.clone(), five_minute_windows());
    let truth = truth(&synth);
    let total: u64 = truth.events_by_kind.values().sum();
    assert_eq!(one.report.events, total);
    assert_eq!(one.capsules.iter().map(|c| c.count).sum::<u64>(), total);
    assert!(one.late.is_empty() && four.late.is_empty());
    assert_eq!(one.capsules, four.capsules, "1 vs 4 workers must give identical capsules");
    assert_eq!(one.report.capsules, one.capsules.len() as u64);
}

#[test]
fn disorder_within_the_bound_changes_nothing() {
    let ordered = SyntheticConfig { requests: 800, ..Default::default() };
    let shuffled = SyntheticConfig { disorder_ms: 8_000, ..ordered.clone() };
    let a = run(2, ordered, five_minute_windows());
    let b = run(3, shuffled, five_minute_windows());
    assert!(b.late.is_empty());
    assert_eq!(a.capsules, b.capsules);
}

#[test]
fn disorder_beyond_the_bound_is_reported_late_never_lost() {
    let synth = SyntheticConfig { requests: 800, disorder_ms: 400_000, ..Default::default() };
    let mut cfg = five_minute_windows();
    cfg.driver.max_out_of_orderness_ms = 1_000;
    let out = run(2, synth.clone(), cfg);
    let total: u64 = truth(&synth).events_by_kind.values().sum();
    assert!(!out.late.is_empty(), "expected late events");
    assert_eq!(out.report.late, out.late.len() as u64);
    assert_eq!(out.capsules.iter().map(|c| c.count).sum::<u64>() + out.late.len() as u64, total);
}

#[test]
fn no_injected_pii_reaches_any_output() {
    let synth = SyntheticConfig { requests: 1_000, pii_rate: 1.0, ..Default::default() };
    let out = run(2, synth.clone(), five_minute_windows());
    let truth = truth(&synth);
    let text = serde_json::to_string(&out.capsules).unwrap();
    let mut checked = 0;
    for (kind, values) in &truth.pii {
        for v in values {
            assert!(!text.contains(v.as_str()), "{kind} value leaked into capsules");
            checked += 1;
        }
    }
    assert!(checked > 500, "only {checked} PII values injected");
    let redacted: u64 = out.report.redactions.values().sum();
    assert!(redacted >= checked as u64, "{redacted} redactions for {checked} injected values");
    assert!(out.capsules.iter().any(|c| c.redaction_applied));
}

#[test]
fn log_templates_match_the_ground_truth() {
    let synth = SyntheticConfig { requests: 2_000, pii_rate: 1.0, ..Default::default() };
    let out = run(2, synth.clone(), five_minute_windows());
    let truth = truth(&synth);
    let expected: BTreeSet<&str> = truth.templates.values().map(String::as_str).collect();
    // Templates of log capsules (spans are mined from their operation names).
    let found: BTreeSet<&str> = out
        .capsules
        .iter()
        .filter(|c| c.samples.iter().all(|s| s.severity.is_some()))
        .map(|c| c.template.as_str())
        .collect();
    let missing: Vec<_> = expected.difference(&found).collect();
    assert!(missing.is_empty(), "templates not recovered: {missing:?}\nfound: {found:#?}");
}

#[test]
fn hashing_embeddings_attach_to_every_capsule() {
    let synth = SyntheticConfig { requests: 300, ..Default::default() };
    let mut cfg = five_minute_windows();
    cfg.embedding = Some(EmbedConfig::hashing());
    let out = run(2, synth, cfg);
    assert!(out.capsules.iter().all(|c| c.embedding.as_ref().is_some_and(|e| e.len() == 384)));
    let distinct: BTreeSet<&str> = out.capsules.iter().map(|c| c.fingerprint.as_str()).collect();
    assert!(out.report.embeddings <= 2 * distinct.len() as u64, "each fingerprint embedded at most once per worker");
    assert!(out.capsules.iter().any(|c| c.template.contains("request")));
}

/// Regression (issue 17, defect 5): one far-future record among 15,000 (u64::MAX, or
/// microseconds read as milliseconds) dragged the watermark ahead and made most later events
/// late. Such records are now dead letters with the reason; every other event is on time.
#[test]
fn far_future_timestamps_are_dead_letters_and_make_nothing_late() {
    let (mut events, truth) = generate(&SyntheticConfig { requests: 1_500, ..Default::default() });
    let total: u64 = truth.events_by_kind.values().sum();
    let mut bogus = events[100].clone();
    bogus.timestamp_ms = u64::MAX;
    let mut micros = events[200].clone();
    micros.timestamp_ms = micros.timestamp_ms.saturating_mul(1000);
    events.insert(100, bogus);
    events.insert(200, micros);
    let out = run_events(2, events, five_minute_windows());
    assert!(out.late.is_empty(), "{} events made late", out.late.len());
    assert_eq!(out.dead.len(), 2);
    assert!(out.dead.iter().all(|d| d.reason.contains("ahead of the wall clock")), "{:?}", out.dead);
    assert_eq!(out.report.malformed, 2);
    assert_eq!(out.capsules.iter().map(|c| c.count).sum::<u64>(), total, "every valid event is counted");
}
