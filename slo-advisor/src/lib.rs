//! Journeys, SLIs, SLO recommendations with evidence, backtests and what-if analysis.
//!
//! This crate turns spans into what an SRE asks for first:
//!
//! - [`span`]: the span model ([`span::Span`]) and which signal decided a failure.
//! - [`spans`]: spans read from [`TelemetryEvent`]s, from the store's `spans` table (through
//!   DataFusion SQL), or from Nezha-style span CSV tables
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
//! - [`live`]: the same journeys and per-minute SLIs maintained as spans stream in, out of
//!   order — trace assembly and roll-up as differential-dataflow collections.
//! - [`promql`]: PromQL for every SLI under a configurable metric convention (OpenTelemetry HTTP
//!   server histogram, or the spanmetrics connector).
//! - [`analyze`]: the whole analysis in one call, as used by `slo-runner analyze`.
//! - [`history`]: a journey's dense per-minute history (from `sli_minutes` rows or from an
//!   analysis, with its requests' latencies rolled up per minute and 2 % bucket), bad events per
//!   SLI, a synthetic history generator.
//! - [`rolling`]: rolling windows over a history — attainment per window, breach ranges.
//! - [`recommend`]: SLO variants per journey (availability, latency at p95/p99/p99.9) with an
//!   achievable objective from rolling-window attainment, a confidence score and evidence.
//! - [`rationale`]: why the recommended objectives, in words — statistical by default, or
//!   written by an OpenAI-compatible chat model from the redacted evidence, with a timeout and
//!   a fallback.
//! - [`report`]: the analysis and its recommendations side by side, as `slo-runner analyze`
//!   prints them.
//! - [`backtest`]: replay an SLO over history — budget over time, breach windows, multi-window
//!   multi-burn-rate alerts, a block-bootstrap chance to meet the SLO next period.
//! - [`whatif`]: traffic, error-rate, latency and replica-count scenarios (M/M/c).
//!
//! [`TelemetryEvent`]: slo_dataflow::event::TelemetryEvent
//!
//! ```
//! use slo_advisor::{analyze, recommend_analysis, AnalyzeConfig, RecommendConfig};
//! use slo_advisor::spans::from_events;
//! use slo_dataflow::synthetic::{generate, SyntheticConfig};
//!
//! let (events, truth) = generate(&SyntheticConfig { requests: 2_000, ..Default::default() });
//! let analysis = analyze(&from_events(&events), &AnalyzeConfig::default());
//! assert_eq!(analysis.journeys.len(), truth.journeys.len());
//! let recommendations = recommend_analysis(&analysis, &RecommendConfig::default());
//! assert!(recommendations.iter().all(|r| !r.variants.is_empty()));
//! ```

pub mod analyze;
pub mod backtest;
pub mod error;
pub mod fallback;
pub mod history;
pub mod journeys;
pub mod live;
pub mod promql;
pub mod rationale;
pub mod recommend;
pub mod report;
pub mod rolling;
pub mod sketch;
pub mod sli;
pub mod span;
pub mod spans;
pub(crate) mod sql;
pub mod store_traces;
pub mod whatif;

pub use analyze::{analyze, analyze_traces, Analysis, AnalyzeConfig};
pub use backtest::{backtest, BacktestConfig, BacktestReport};
pub use error::AdvisorError;
pub use recommend::{recommend_analysis, JourneyRecommendations, RecommendConfig};
pub use report::AnalysisReport;
pub use whatif::WhatIf;
