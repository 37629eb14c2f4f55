//! Journeys, SLIs, SLO recommendations, backtests and artifact generation.
//!
//! This crate turns spans into what an SRE asks for first:
//!
//! - [`spans`]: one span model ([`spans::Span`]) read from [`TelemetryEvent`]s, from the store's
//!   `spans` table (through DataFusion SQL), or from Nezha-style span CSV tables
//!   (`TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`).
//! - [`journeys`]: traces assembled from parent/child links, grouped into user journeys by their
//!   entry operation (or, when the root operation is generic, by the operations directly under
//!   it), named, ranked, plus the service call graph.
//! - [`sketch`]: a mergeable DDSketch-style quantile sketch (1 % relative accuracy).
//! - [`sli`]: per journey per minute requests, errors, availability, latency percentiles,
//!   throughput; rows in the store's `sli_minutes` layout.
//! - [`promql`]: PromQL for every SLI under a configurable metric convention (OpenTelemetry HTTP
//!   server histogram, or the spanmetrics connector).
//! - [`analyze`]: the whole analysis in one call, as used by `slo-runner analyze`.
//! - [`nezha`]: checks against the Nezha benchmark's metric tables.
//!
//! SLO recommendations, backtests and what-if (issue 5, second half) are not implemented yet.
//!
//! [`TelemetryEvent`]: slo_dataflow::event::TelemetryEvent

pub mod analyze;
pub mod error;
pub mod journeys;
pub mod nezha;
pub mod promql;
pub mod sketch;
pub mod sli;
pub mod spans;

pub use error::AdvisorError;
