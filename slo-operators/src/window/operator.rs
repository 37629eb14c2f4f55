//! The timely operator for event-time windows.

use std::collections::BTreeMap;
use std::sync::Arc;

use slo_dataflow::event::{Capsule, EventTime, FingerprintedEvent, LateEvent};
use slo_dataflow::time::window_start;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, OkErr};
use timely::dataflow::StreamVec;

use super::{AddOutcome, WindowAggregator, WindowConfig};
use crate::metrics::PipelineMetrics;

/// Routes a window key to a worker: all events of one (fingerprint, service, environment) meet on
/// the same worker.
pub(crate) fn window_route(ev: &FingerprintedEvent) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(ev.fingerprint.as_bytes());
    h.update(&[0]);
    h.update(ev.event.service.as_bytes());
    h.update(&[0]);
    h.update(ev.event.environment.as_bytes());
    h.digest()
}

/// Adds [`window_capsules`](WindowCapsules::window_capsules) to streams of fingerprinted events.
pub trait WindowCapsules<'scope> {
    /// Groups events into event-time tumbling windows and emits one [`Capsule`] per window when
    /// the frontier passes its end plus the allowed lateness. Returns `(capsules, late events)`;
    /// late events are never dropped silently.
    ///
    /// The stream's timestamps must be watermarks (see `slo_dataflow::driver`): the operator
    /// exchanges events by key, so every window is owned by exactly one worker.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use slo_dataflow::event::{FingerprintedEvent, TelemetryEvent};
    /// use slo_operators::metrics::PipelineMetrics;
    /// use slo_operators::window::{WindowCapsules, WindowConfig};
    /// use timely::dataflow::operators::{ToStream, Capture, capture::Event};
    ///
    /// let events: Vec<FingerprintedEvent> = (0..5u64)
    ///     .map(|i| FingerprintedEvent {
    ///         event: TelemetryEvent::log(format!("e{i}"), "api", 1_000 * i, None, "GET /health"),
    ///         redactions: BTreeMap::new(),
    ///         fingerprint: "f1".into(),
    ///         template: "GET /health".into(),
    ///     })
    ///     .collect();
    /// let (capsules, late) = timely::example(move |scope| {
    ///     let (capsules, late) = events
    ///         .to_stream(scope)
    ///         .container::<Vec<_>>()
    ///         .window_capsules(WindowConfig { size_ms: 3_000, ..Default::default() }, PipelineMetrics::new());
    ///     (capsules.capture(), late.capture())
    /// });
    /// let capsules: Vec<_> = capsules.try_iter().flat_map(|e| match e { Event::Messages(_, v) => v, _ => vec![] }).collect();
    /// assert_eq!(capsules.iter().map(|c| c.count).collect::<Vec<_>>(), vec![3, 2]);
    /// assert!(late.try_iter().all(|e| !matches!(e, Event::Messages(_, v) if !v.is_empty())));
    /// ```
    fn window_capsules(
        self,
        config: WindowConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> (StreamVec<'scope, EventTime, Capsule>, StreamVec<'scope, EventTime, LateEvent>);
}

impl<'scope> WindowCapsules<'scope> for StreamVec<'scope, EventTime, FingerprintedEvent> {
    // Late events travel by value, as every other record of the dataflow does.
    #[allow(clippy::result_large_err)]
    fn window_capsules(
        self,
        config: WindowConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> (StreamVec<'scope, EventTime, Capsule>, StreamVec<'scope, EventTime, LateEvent>) {
        let combined: StreamVec<'scope, EventTime, Result<Capsule, LateEvent>> =
            self.unary_frontier(Exchange::new(window_route), "WindowCapsules", move |_cap, _info| {
                let mut agg = WindowAggregator::new(config);
                // One capability per close time, held while windows closing then are open.
                let mut caps: BTreeMap<EventTime, Capability<EventTime>> = BTreeMap::new();
                let mut evicted = Vec::new();
                let mut last_open = 0u64;
                move |(input, frontier), output| {
                    input.for_each(|cap, data| {
                        let Some(&arrived) = cap.least() else { return };
                        for ev in data.drain(..) {
                            match agg.add(ev, arrived, &mut evicted) {
                                AddOutcome::Added { close_at } => {
                                    caps.entry(close_at).or_insert_with(|| cap.delayed(&close_at, 0));
                                }
                                AddOutcome::Late(late) => {
                                    PipelineMetrics::add(&metrics.late_events, 1);
                                    output.session(&cap).give(Err(*late));
                                }
                            }
                        }
                        if !evicted.is_empty() {
                            PipelineMetrics::add(&metrics.window_evictions, evicted.len() as u64);
                            PipelineMetrics::add(&metrics.capsules_out, evicted.len() as u64);
                            output.session(&cap).give_iterator(evicted.drain(..).map(Ok));
                        }
                    });
                    // Everything below the frontier is complete: close windows up to it.
                    let watermark = frontier.frontier().iter().min().copied().unwrap_or(EventTime::MAX);
                    let closed = agg.close_until(watermark);
                    if !closed.is_empty() {
                        PipelineMetrics::add(&metrics.capsules_out, closed.len() as u64);
                        let cfg = agg.config().clone();
                        let mut by_close: BTreeMap<EventTime, Vec<Capsule>> = BTreeMap::new();
                        for c in closed {
                            by_close
                                .entry(cfg.close_time(window_start(c.window_start_ms, cfg.size_ms)))
                                .or_default()
                                .push(c);
                        }
                        for (close_at, capsules) in by_close {
                            if let Some(cap) = caps.get(&close_at) {
                                output.session(cap).give_iterator(capsules.into_iter().map(Ok));
                            }
                        }
                    }
                    // Release capabilities for close times that have passed.
                    while caps.first_key_value().is_some_and(|(t, _)| *t <= watermark) {
                        caps.pop_first();
                    }
                    let open = agg.open_windows() as u64;
                    if open >= last_open {
                        PipelineMetrics::add(&metrics.open_windows, open - last_open);
                    } else {
                        PipelineMetrics::sub(&metrics.open_windows, last_open - open);
                    }
                    last_open = open;
                }
            });
        combined.ok_err(|r| r)
    }
}
