//! The timely operator for redaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use slo_dataflow::event::{RedactedEvent, TelemetryEvent};
use timely::dataflow::channels::pact::Pipeline;
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

/// Adds [`redact`](Redact::redact) to streams of telemetry events.
pub trait Redact<'scope, T: Timestamp> {
    /// Redacts PII and secrets from every event; downstream operators, sinks and logs only ever
    /// see the redacted event. Stateless, so it runs on whichever worker holds the event.
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
        self.unary(Pipeline, "Redact", move |_cap, _info| {
            let mut findings = Vec::new();
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    let n = data.len() as u64;
                    let mut redacted_events = 0;
                    for mut event in data.drain(..) {
                        let redactions = redact_event(&redactor, &mut event, &mut findings);
                        if !redactions.is_empty() {
                            redacted_events += 1;
                            metrics.add_redactions(&redactions);
                        }
                        session.give(RedactedEvent { event, redactions });
                    }
                    PipelineMetrics::add(&metrics.events_in, n);
                    PipelineMetrics::add(&metrics.events_redacted, redacted_events);
                });
            }
        })
    }
}
