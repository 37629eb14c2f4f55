//! The timely operator for template mining.

use std::sync::Arc;

use slo_dataflow::event::{FingerprintedEvent, RedactedEvent};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::Timestamp;

use super::{MinerConfig, TemplateMiner};
use crate::metrics::PipelineMetrics;

/// Routes a line to a miner by its *shape* — token count and first token, the first levels of a
/// Drain-style parse tree — so lines that can share a template always meet on the same worker
/// and every worker's miner sees a consistent slice of the template space.
pub(crate) fn shape_route(ev: &RedactedEvent) -> u64 {
    let text = ev.event.mining_text();
    let mut tokens = text.split_whitespace();
    let first = tokens.next().unwrap_or("");
    let count = 1 + tokens.count() as u64;
    let first_key = if first.bytes().any(|b| b.is_ascii_digit()) { "" } else { first };
    xxhash_rust::xxh3::xxh3_64(first_key.as_bytes()) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Adds [`fingerprint`](Fingerprinting::fingerprint) to streams of redacted events.
pub trait Fingerprinting<'scope, T: Timestamp> {
    /// Mines each event's text (log body; span operation; metric name) into a template with
    /// `<*>` for variables and attaches the template's SHA-256 fingerprint. One miner per worker;
    /// events are exchanged by line shape.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use slo_dataflow::event::{RedactedEvent, TelemetryEvent};
    /// use slo_operators::fingerprint::{Fingerprinting, MinerConfig};
    /// use slo_operators::metrics::PipelineMetrics;
    /// use timely::dataflow::operators::{ToStream, Capture, capture::Event};
    ///
    /// let events: Vec<RedactedEvent> = ["took 12 ms", "took 345 ms"].iter().enumerate()
    ///     .map(|(i, body)| RedactedEvent {
    ///         event: TelemetryEvent::log(i.to_string(), "api", 0, None, *body),
    ///         redactions: BTreeMap::new(),
    ///     })
    ///     .collect();
    /// let out = timely::example(move |scope| {
    ///     events.to_stream(scope).container::<Vec<_>>()
    ///         .fingerprint(MinerConfig::default(), PipelineMetrics::new())
    ///         .capture()
    /// });
    /// let mined: Vec<_> = out.try_iter().flat_map(|e| match e { Event::Messages(_, v) => v, _ => vec![] }).collect();
    /// assert_eq!(mined[0].template, "took <*> ms");
    /// assert_eq!(mined[0].fingerprint, mined[1].fingerprint);
    /// ```
    fn fingerprint(
        self,
        config: MinerConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> StreamVec<'scope, T, FingerprintedEvent>;
}

impl<'scope, T: Timestamp> Fingerprinting<'scope, T> for StreamVec<'scope, T, RedactedEvent> {
    fn fingerprint(
        self,
        config: MinerConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> StreamVec<'scope, T, FingerprintedEvent> {
        self.unary(Exchange::new(shape_route), "Fingerprint", move |_cap, _info| {
            let mut miner = TemplateMiner::new(config);
            let (mut templates, mut evictions) = (0u64, 0u64);
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for RedactedEvent { event, redactions } in data.drain(..) {
                        let mined = miner.mine(event.mining_text());
                        session.give(FingerprintedEvent {
                            event,
                            redactions,
                            fingerprint: mined.fingerprint.to_hex(),
                            template: mined.template,
                        });
                    }
                });
                let (now_templates, now_evictions) = (miner.len() as u64, miner.evictions());
                if now_templates >= templates {
                    PipelineMetrics::add(&metrics.templates, now_templates - templates);
                } else {
                    PipelineMetrics::sub(&metrics.templates, templates - now_templates);
                }
                PipelineMetrics::add(&metrics.template_evictions, now_evictions - evictions);
                (templates, evictions) = (now_templates, now_evictions);
            }
        })
    }
}
