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

pub mod embed;
pub mod fingerprint;
pub mod metrics;
pub mod pipeline;
pub mod redact;
pub mod window;
