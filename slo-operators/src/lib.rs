//! Pluggable telemetry operators for slo-scout.
//!
//! Every operator has a *pure core* (no timely types; unit- and property-testable) and a thin
//! timely extension trait so it can be chained on a [`timely::dataflow::Stream`]:
//!
//! | operator | core | extension |
//! |---|---|---|
//! | PII / secret redaction | [`redact::Redactor`] | [`redact::Redact::redact`] |
//! | template mining + SHA-256 fingerprint | [`fingerprint::TemplateMiner`] | [`fingerprint::Fingerprinting::fingerprint`] |
//! | event-time tumbling windows with sampling | [`window::WindowAggregator`] | [`window::WindowCapsules::window_capsules`] |
//! | embeddings | [`embed::Embedder`] | [`embed::Embed::embed`] |
//!
//! The cores work on their own, outside any dataflow:
//!
//! ```
//! use slo_operators::{MinerConfig, Redactor, TemplateMiner};
//!
//! let redactor = Redactor::with_defaults();
//! let mut miner = TemplateMiner::new(MinerConfig::default());
//! let mut clusters = Vec::new();
//! for line in ["session 17 opened for alice@example.com", "session 42 opened for bob@example.org"] {
//!     let redacted = redactor.redact(line);
//!     assert!(redacted.applied() && !redacted.text.contains("example"));
//!     clusters.push(miner.mine(&redacted.text).cluster);
//! }
//! assert_eq!(clusters[0], clusters[1], "one template for both lines");
//! ```
//!
//! [`pipeline::run_pipeline`] chains them all on timely workers (see `examples/custom_pipeline.rs`
//! for a dataflow of your own).

pub mod embed;
pub mod fingerprint;
pub mod metrics;
pub mod pipeline;
pub mod redact;
pub mod window;

pub use embed::{EmbedConfig, Embedder, HashingEmbedder};
pub use fingerprint::{MinerConfig, TemplateMiner};
pub use pipeline::{run_pipeline, PipelineConfig, PipelineReport};
pub use redact::Redactor;
pub use window::{WindowAggregator, WindowConfig};
