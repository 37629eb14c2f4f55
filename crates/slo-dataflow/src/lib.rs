//! The engine layer of slo-scout, on timely dataflow.
//!
//! - [`event`]: the event model — [`TelemetryEvent`] in, [`Capsule`] out.
//! - [`time`]: event time, timestamp parsing, window arithmetic.
//! - [`source`]: readers for JSON lines, OTLP/JSON and plain-text logs, with dead letters.
//! - [`sink`]: where records go ([`sink::Sink`]).
//! - [`avro`]: single-object Avro codecs for the Kafka topics.
//! - [`operator`]: the plug-in trait for user operators.
//! - [`cluster`]: worker/process configuration (timely `-w/-n/-p/-h`).
//! - [`driver`]: feeding a source into a dataflow with event-time watermarks.
//! - [`synthetic`]: a telemetry generator with known ground truth, for demos and tests.

pub mod avro;
pub mod cluster;
pub mod driver;
pub mod event;
pub mod operator;
pub mod sink;
pub mod source;
pub mod synthetic;
pub mod time;

pub use event::{Capsule, EventTime, TelemetryEvent};
