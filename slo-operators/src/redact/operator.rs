//! The timely operator for redaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use slo_dataflow::event::{RedactedEvent, TelemetryEvent};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::Timestamp;

use super::{Finding, Redactor};
use crate::metrics::PipelineMetrics;

/// Redacts every text field of an event in place — body, operation, route, attribute and
/// metric-label values, and also the service, environment and ids (event, trace, span, parent
/// span), which sources copy from input as they are and which reach capsule samples and the
/// store — and returns the per-type counts. Timestamps and numbers are left alone; an id without
/// PII (hex, UUIDs, `file:line`) comes out unchanged. `findings`
/// is scratch space the caller keeps from one event to the next (its contents are replaced).
pub fn redact_event(
    redactor: &Redactor,
    event: &mut TelemetryEvent,
    findings: &mut Vec<Finding>,
) -> BTreeMap<String, u32> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut apply = |text: &mut String| {
        if text.is_empty() {
            return;
        }
        redactor.redact_in_place_with(text, findings);
        for f in findings.iter() {
            *counts.entry(f.entity.as_str().to_string()).or_default() += 1;
        }
    };
    apply(&mut event.body);
    apply(&mut event.event_id);
    apply(&mut event.service);
    apply(&mut event.environment);
    for id in [&mut event.trace_id, &mut event.span_id, &mut event.parent_span_id].into_iter().flatten() {
        apply(id);
    }
    if let Some(op) = event.operation.as_mut() {
        apply(op);
    }
    if let Some(route) = event.http_route.as_mut() {
        apply(route);
    }
    for v in event.attributes.values_mut() {
        apply(v);
    }
    for v in event.metric_labels.values_mut() {
        apply(v);
    }
    counts
}

/// The worker an event is redacted on: a hash of its event id (its trace id when the id is
/// empty) and its timestamp, so equal events always meet the same worker.
fn redact_route(e: &TelemetryEvent) -> u64 {
    let key = if e.event_id.is_empty() { e.trace_id.as_deref().unwrap_or("") } else { e.event_id.as_str() };
    xxhash_rust::xxh3::xxh3_64(key.as_bytes()) ^ e.timestamp_ms.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Adds [`redact`](Redact::redact) to streams of telemetry events.
pub trait Redact<'scope, T: Timestamp> {
    /// Redacts PII and secrets from every event; downstream operators, sinks and logs only ever
    /// see the redacted event. Stateless, and the costliest step per event, so events are dealt
    /// out over all workers (of all processes) by a hash of their event id: a source read by one
    /// worker is still redacted by all. The route depends only on the event, so a replay sends
    /// each event to the same worker again.
    ///
    /// ```
    /// use slo_dataflow::event::TelemetryEvent;
    /// use slo_operators::metrics::PipelineMetrics;
    /// use slo_operators::redact::{Redact, Redactor};
    /// use timely::dataflow::operators::{ToStream, Capture, capture::Event};
    ///
    /// let event = TelemetryEvent::log("1", "auth", 0, None, "login ok for bob@example.com");
    /// let out = timely::example(move |scope| {
    ///     vec![event].to_stream(scope).container::<Vec<_>>()
    ///         .redact(Redactor::with_defaults(), PipelineMetrics::new())
    ///         .capture()
    /// });
    /// let redacted: Vec<_> = out.try_iter().flat_map(|e| match e { Event::Messages(_, v) => v, _ => vec![] }).collect();
    /// assert_eq!(redacted[0].event.body, "login ok for <EMAIL>");
    /// assert_eq!(redacted[0].redactions["EMAIL"], 1);
    /// ```
    fn redact(self, redactor: Redactor, metrics: Arc<PipelineMetrics>) -> StreamVec<'scope, T, RedactedEvent>;
}

impl<'scope, T: Timestamp> Redact<'scope, T> for StreamVec<'scope, T, TelemetryEvent> {
    fn redact(self, redactor: Redactor, metrics: Arc<PipelineMetrics>) -> StreamVec<'scope, T, RedactedEvent> {
        redact_operator(self, redactor, metrics, |event, redactions| RedactedEvent { event, redactions })
    }
}

/// A record that carries a [`TelemetryEvent`] through redaction together with data of its own
/// (the Kafka runner's records keep their partition and offset).
pub trait CarriesEvent: timely::ExchangeData {
    /// The event inside.
    fn event(&self) -> &TelemetryEvent;
    /// The event inside, to redact in place.
    fn event_mut(&mut self) -> &mut TelemetryEvent;
}

/// Adds [`redact_carried`](RedactCarried::redact_carried) to streams of records that carry an
/// event.
pub trait RedactCarried<'scope, T: Timestamp, D: CarriesEvent> {
    /// [`Redact::redact`] for records that carry an event: the same routing (by the event's id)
    /// and counters; each record comes out with its event redacted and the counts by type.
    ///
    /// ```
    /// use slo_dataflow::event::TelemetryEvent;
    /// use slo_operators::metrics::PipelineMetrics;
    /// use slo_operators::redact::{CarriesEvent, RedactCarried, Redactor};
    /// use timely::dataflow::operators::{ToStream, Capture, capture::Event};
    ///
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// struct Offsetted { event: TelemetryEvent, offset: i64 }
    /// impl CarriesEvent for Offsetted {
    ///     fn event(&self) -> &TelemetryEvent { &self.event }
    ///     fn event_mut(&mut self) -> &mut TelemetryEvent { &mut self.event }
    /// }
    /// let event = TelemetryEvent::log("1", "auth", 0, None, "login ok for bob@example.com");
    /// let out = timely::example(move |scope| {
    ///     vec![Offsetted { event, offset: 7 }].to_stream(scope).container::<Vec<_>>()
    ///         .redact_carried(Redactor::with_defaults(), PipelineMetrics::new())
    ///         .capture()
    /// });
    /// let got: Vec<_> = out.try_iter().flat_map(|e| match e { Event::Messages(_, v) => v, _ => vec![] }).collect();
    /// assert_eq!((got[0].0.event.body.as_str(), got[0].0.offset), ("login ok for <EMAIL>", 7));
    /// assert_eq!(got[0].1["EMAIL"], 1);
    /// ```
    fn redact_carried(
        self,
        redactor: Redactor,
        metrics: Arc<PipelineMetrics>,
    ) -> StreamVec<'scope, T, (D, BTreeMap<String, u32>)>;
}

impl<'scope, T: Timestamp, D: CarriesEvent> RedactCarried<'scope, T, D> for StreamVec<'scope, T, D> {
    fn redact_carried(
        self,
        redactor: Redactor,
        metrics: Arc<PipelineMetrics>,
    ) -> StreamVec<'scope, T, (D, BTreeMap<String, u32>)> {
        redact_operator(self, redactor, metrics, |record, redactions| (record, redactions))
    }
}

impl CarriesEvent for TelemetryEvent {
    fn event(&self) -> &TelemetryEvent {
        self
    }
    fn event_mut(&mut self) -> &mut TelemetryEvent {
        self
    }
}

/// The one redaction operator behind [`Redact`] and [`RedactCarried`].
fn redact_operator<'scope, T: Timestamp, D: CarriesEvent, O: 'static>(
    stream: StreamVec<'scope, T, D>,
    redactor: Redactor,
    metrics: Arc<PipelineMetrics>,
    out: fn(D, BTreeMap<String, u32>) -> O,
) -> StreamVec<'scope, T, O> {
    stream.unary(Exchange::new(|d: &D| redact_route(d.event())), "Redact", move |_cap, _info| {
        let mut findings = Vec::new();
        move |input, output| {
            input.for_each(|cap, data| {
                let mut session = output.session(&cap);
                let n = data.len() as u64;
                let mut redacted_events = 0;
                for mut record in data.drain(..) {
                    let redactions = redact_event(&redactor, record.event_mut(), &mut findings);
                    if !redactions.is_empty() {
                        redacted_events += 1;
                        metrics.add_redactions(&redactions);
                    }
                    session.give(out(record, redactions));
                }
                PipelineMetrics::add(&metrics.events_in, n);
                PipelineMetrics::add(&metrics.events_redacted, redacted_events);
            });
        }
    })
}
