//! The timely operator for embeddings.

use std::sync::Arc;
use std::time::Instant;

use slo_dataflow::event::Capsule;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::progress::Timestamp;

use super::{EmbedConfig, EmbedError, Embedder, EmbeddingCache};
use crate::metrics::PipelineMetrics;

/// Adds [`embed`](Embed::embed) to streams of capsules.
pub trait Embed<'scope, T: Timestamp> {
    /// Attaches the embedding of each capsule's template. Each worker builds its embedder once
    /// (from `config`, failing loudly if the configured model is missing) and embeds each
    /// fingerprint at most once (bounded cache), in batches of `config.batch_size`.
    ///
    /// Returns an error before building the dataflow when the embedder cannot be created.
    ///
    /// ```
    /// use slo_dataflow::event::Capsule;
    /// use slo_operators::embed::{Embed, EmbedConfig};
    /// use slo_operators::metrics::PipelineMetrics;
    /// use timely::dataflow::operators::{ToStream, Capture, capture::Event};
    ///
    /// let capsule: Capsule = serde_json::from_value(serde_json::json!({
    ///     "fingerprint": "ab", "template": "connection refused to <*>", "service": "db",
    ///     "environment": "prod", "window_start_ms": 0, "window_end_ms": 1, "count": 1,
    ///     "severity_counts": {}, "first_seen_ms": 0, "last_seen_ms": 0, "samples": [],
    ///     "redaction_applied": false, "redaction_counts": {}, "embedding": null
    /// })).unwrap();
    /// let out = timely::example(move |scope| {
    ///     vec![capsule].to_stream(scope).container::<Vec<_>>()
    ///         .embed(EmbedConfig::hashing(), PipelineMetrics::new())
    ///         .unwrap()
    ///         .capture()
    /// });
    /// let embedded: Vec<_> = out.try_iter().flat_map(|e| match e { Event::Messages(_, v) => v, _ => vec![] }).collect();
    /// assert_eq!(embedded[0].embedding.as_ref().unwrap().len(), 384);
    /// ```
    fn embed(
        self,
        config: EmbedConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> Result<StreamVec<'scope, T, Capsule>, EmbedError>;
}

impl<'scope, T: Timestamp> Embed<'scope, T> for StreamVec<'scope, T, Capsule> {
    fn embed(
        self,
        config: EmbedConfig,
        metrics: Arc<PipelineMetrics>,
    ) -> Result<StreamVec<'scope, T, Capsule>, EmbedError> {
        let mut embedder: Box<dyn Embedder> = config.build()?;
        let mut cache: EmbeddingCache<String> = config.build_cache();
        Ok(self.unary(Pipeline, "Embed", move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let start = Instant::now();
                    let before = cache.stats().embedded;
                    let items: Vec<(String, &str)> =
                        data.iter().map(|c| (c.fingerprint.clone(), c.template.as_str())).collect();
                    match cache.get_or_embed_batch(&mut embedder, &items) {
                        Ok(vectors) => {
                            for (capsule, v) in data.iter_mut().zip(vectors) {
                                capsule.embedding = Some(v.to_vec());
                            }
                        }
                        // Capsules still flow without an embedding; the error is logged (it
                        // names the embedder, never the text) and visible in the metrics.
                        Err(e) => tracing::error!(error = %e, "embedding failed; capsules emitted without embeddings"),
                    }
                    PipelineMetrics::add(&metrics.embeddings_computed, cache.stats().embedded - before);
                    PipelineMetrics::add(&metrics.embed_micros, start.elapsed().as_micros() as u64);
                    output.session(&cap).give_container(data);
                });
            }
        }))
    }
}
