use std::collections::BTreeMap;

use proptest::prelude::*;
use slo_dataflow::event::{Severity, TelemetryEvent};

use super::*;

fn ev(id: &str, fp: &str, t: EventTime) -> FingerprintedEvent {
    FingerprintedEvent {
        event: TelemetryEvent::log(id, "svc", t, Some(Severity::Info), format!("body {id}")),
        redactions: BTreeMap::from([("EMAIL".to_string(), 1)]),
        fingerprint: fp.into(),
        template: format!("template {fp}"),
    }
}

fn run(events: Vec<FingerprintedEvent>, cfg: WindowConfig, bound: u64) -> (Vec<Capsule>, u64) {
    // Feed with a watermark trailing the max event time by `bound`, as the driver does.
    let mut agg = WindowAggregator::new(cfg);
    let mut out = Vec::new();
    let mut max_seen = 0;
    let mut late = 0;
    for e in events {
        max_seen = max_seen.max(e.event.timestamp_ms);
        let wm = max_seen.saturating_sub(bound);
        match agg.add(e, wm, &mut out) {
            AddOutcome::Added { .. } => {}
            AddOutcome::Late(_) => late += 1,
        }
        out.extend(agg.close_until(wm));
    }
    out.extend(agg.close_all());
    out.sort_by_key(|a| a.key());
    (out, late)
}

#[test]
fn aggregates_counts_severities_samples_and_redactions() {
    let cfg = WindowConfig { size_ms: 1_000, samples: 3, ..Default::default() };
    let events: Vec<_> = (0..10).map(|i| ev(&format!("e{i}"), "a", 100 + i)).collect();
    let (capsules, late) = run(events, cfg, 0);
    assert_eq!(late, 0);
    assert_eq!(capsules.len(), 1);
    let c = &capsules[0];
    assert_eq!((c.count, c.first_seen_ms, c.last_seen_ms), (10, 100, 109));
    assert_eq!((c.window_start_ms, c.window_end_ms), (0, 1_000));
    assert_eq!(c.severity_counts["INFO"], 10);
    assert_eq!(c.redaction_counts["EMAIL"], 10);
    assert!(c.redaction_applied);
    assert_eq!(c.samples.len(), 3);
    // Bottom-3 by hash of the event id.
    let mut hashes: Vec<(u64, String)> = (0..10).map(|i| (sample_hash(&format!("e{i}")), format!("e{i}"))).collect();
    hashes.sort();
    let expected: Vec<String> = hashes.into_iter().take(3).map(|(_, id)| id).collect();
    assert_eq!(c.samples.iter().map(|s| s.event_id.clone()).collect::<Vec<_>>(), expected);
}

#[test]
fn events_behind_a_closed_window_are_late_not_dropped() {
    let cfg = WindowConfig { size_ms: 1_000, ..Default::default() };
    let mut agg = WindowAggregator::new(cfg);
    let mut evicted = Vec::new();
    assert!(matches!(agg.add(ev("a", "x", 500), 0, &mut evicted), AddOutcome::Added { close_at: 1_000 }));
    assert_eq!(agg.close_until(1_000).len(), 1);
    match agg.add(ev("b", "x", 600), 1_500, &mut evicted) {
        AddOutcome::Late(late) => assert_eq!((late.window_start_ms, late.arrived_at_ms), (0, 1_500)),
        other => panic!("expected late, got {other:?}"),
    }
    assert_eq!(agg.late(), 1);
}

#[test]
fn the_open_window_cap_evicts_the_oldest_and_counts_it() {
    let cfg = WindowConfig { size_ms: 1_000, max_open_windows: 2, ..Default::default() };
    let mut agg = WindowAggregator::new(cfg);
    let mut evicted = Vec::new();
    agg.add(ev("a", "x", 0), 0, &mut evicted);
    agg.add(ev("b", "y", 1_500), 0, &mut evicted);
    agg.add(ev("c", "z", 2_500), 0, &mut evicted);
    assert_eq!(agg.open_windows(), 2);
    assert_eq!(agg.evictions(), 1);
    assert_eq!(evicted.len(), 1);
    assert_eq!(evicted[0].fingerprint, "x");
    // More events for the evicted window are reported late, not merged into a second capsule.
    assert!(matches!(agg.add(ev("d", "x", 10), 0, &mut evicted), AddOutcome::Late(_)));
}

proptest! {
    #[test]
    fn counts_sum_to_input_and_any_order_within_the_bound_gives_identical_capsules(
        times in proptest::collection::vec(0u64..20_000, 1..300),
        fps in proptest::collection::vec(0u8..4, 300),
        seed in any::<u64>(),
    ) {
        let bound = 2_000;
        let cfg = WindowConfig { size_ms: 3_000, samples: 5, ..Default::default() };
        let mut events: Vec<_> = times.iter().enumerate()
            .map(|(i, t)| ev(&format!("e{i}"), &format!("f{}", fps[i]), *t))
            .collect();
        events.sort_by_key(|e| e.event.timestamp_ms);
        let (sorted, late) = run(events.clone(), cfg.clone(), bound);
        prop_assert_eq!(late, 0);
        prop_assert_eq!(sorted.iter().map(|c| c.count).sum::<u64>(), events.len() as u64);
        // Shuffle within the bound: sort by time + jitter < bound.
        let mut rng = slo_dataflow::synthetic::SplitMix64::new(seed);
        let mut keyed: Vec<_> = events.into_iter().map(|e| (e.event.timestamp_ms + rng.below(bound), e)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        let (shuffled, late) = run(keyed.into_iter().map(|(_, e)| e).collect(), cfg, bound);
        prop_assert_eq!(late, 0);
        prop_assert_eq!(sorted, shuffled);
    }

    #[test]
    fn merging_partial_states_equals_one_state(split in 0usize..50, n in 1usize..50) {
        let k = 4;
        let events: Vec<_> = (0..n).map(|i| ev(&format!("e{i}"), "f", i as u64)).collect();
        let mut whole = WindowState::new("t");
        for e in &events { whole.add(e, k); }
        let split = split.min(n);
        let mut left = WindowState::new("t");
        let mut right = WindowState::new("t");
        for e in &events[..split] { left.add(e, k); }
        for e in &events[split..] { right.add(e, k); }
        right.merge(left, k);
        prop_assert_eq!(whole, right);
    }
}
