//! The engine layer of slo-scout, on timely dataflow.
//!
//! - [`event`]: the event model — [`TelemetryEvent`] in, [`Capsule`] out.
//! - [`time`]: event time, timestamp parsing, window arithmetic.
//! - [`source`]: readers for JSON lines, OTLP/JSON and plain-text logs, with dead letters.
//! - [`sink`]: where records go ([`sink::Sink`]).
//! - [`avro`]: single-object Avro codecs for the Kafka topics.
//! - [`operator`]: the plug-in trait for user operators.
//! - [`embed`]: the plug-in trait for text embedders ([`embed::Embedder`]).
//! - [`cluster`]: worker/process configuration (timely `-w/-n/-p/-h`).
//! - [`driver`]: feeding a source into a dataflow with event-time watermarks.
//! - [`synthetic`]: a telemetry generator with known ground truth, for demos and tests.
//!
//! ```
//! use slo_dataflow::synthetic::{generate, SyntheticConfig};
//! use slo_dataflow::time::{parse_duration_ms, parse_timestamp, window_start, BareNumber};
//!
//! // Telemetry with known ground truth: spans, logs and metrics of a small shop.
//! let (events, truth) = generate(&SyntheticConfig { requests: 200, ..Default::default() });
//! assert!(!events.is_empty() && truth.journeys.len() == 5);
//! // Event time: any common timestamp spelling, and tumbling windows.
//! let t = parse_timestamp("2025-01-11T00:55:53.331Z", 2025).unwrap();
//! let five_minutes = parse_duration_ms("5m", BareNumber::Reject).unwrap() as u64;
//! assert_eq!(window_start(t, five_minutes), parse_timestamp("2025-01-11T00:55:00Z", 2025).unwrap());
//! ```

pub mod avro;
pub mod cluster;
pub mod driver;
pub mod embed;
pub mod event;
pub mod operator;
pub mod sink;
pub mod source;
pub mod synthetic;
pub mod time;

pub use embed::{EmbedError, Embedder};
pub use event::{Capsule, EventTime, TelemetryEvent};
