//! Journeys, SLIs, SLO recommendations, backtests and artifact generation.
//!
//! This crate turns spans into what an SRE asks for first:
//!
//! - [`spans`]: one span model ([`spans::Span`]) read from [`TelemetryEvent`]s, from the store's
//!   `spans` table (through DataFusion SQL), or from Nezha-style span CSV tables
//!   (`TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`).
//! - [`fallback`]: the error signal of spans that carry no status — error logs linked by trace
//!   id (event files, the store's raw archive or capsule samples) or a configured rule.
//! - [`journeys`]: traces assembled from parent/child links, grouped into user journeys by their
//!   entry operation (or, when the root operation is generic, by the operations directly under
//!   it), named, ranked, plus the service call graph.
//! - [`store_traces`]: the same trace assembly done by DataFusion over the store's `spans`
//!   table, traces rolled up by shape, minute, error signal and latency bucket.
//! - [`sketch`]: a mergeable DDSketch-style quantile sketch (1 % relative accuracy).
//! - [`sli`]: per journey per minute requests, errors, availability, latency percentiles,
//!   throughput; rows in the store's `sli_minutes` layout.
//! - [`promql`]: PromQL for every SLI under a configurable metric convention (OpenTelemetry HTTP
//!   server histogram, or the spanmetrics connector).
//! - [`analyze`]: the whole analysis in one call, as used by `slo-runner analyze`.
//! - [`nezha`]: checks against the Nezha benchmark's metric tables.
//! - [`history`]: a journey's dense per-minute history (from `sli_minutes` rows or from an
//!   analysis, with its requests' latencies rolled up per minute and 2 % bucket), bad events per
//!   SLI, a synthetic history generator.
//! - [`recommend`]: SLO variants per journey (availability, latency at p95/p99/p99.9) with an
//!   achievable objective from rolling-window attainment, a confidence score and evidence.
//! - [`rationale`]: why the recommended objectives, in words — statistical by default, or
//!   written by an OpenAI-compatible chat model from the redacted evidence, with a timeout and
//!   a fallback.
//! - [`backtest`]: replay an SLO over history — budget over time, breach windows, multi-window
//!   multi-burn-rate alerts, a block-bootstrap chance to meet the SLO next period.
//! - [`whatif`]: traffic, error-rate, latency and replica-count scenarios (M/M/c).
//! - [`slo`]: SLO specs (Sloth, Kubernetes, OpenSLO) and what an approved SLO turns into —
//!   Sloth-conformant Prometheus rules, promtool checks and unit tests, Grafana dashboards,
//!   runbooks, the policy guard with its audit log, and GitOps publishing.
//!
//! [`TelemetryEvent`]: slo_dataflow::event::TelemetryEvent

pub mod analyze;
pub mod backtest;
pub mod error;
pub mod fallback;
pub mod history;
pub mod journeys;
pub mod nezha;
pub mod promql;
pub mod rationale;
pub mod recommend;
pub mod sketch;
pub mod sli;
pub mod slo;
pub mod spans;
pub mod store_traces;
pub mod whatif;

pub use error::AdvisorError;
