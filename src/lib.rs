//! slo-scout: turns raw production telemetry into service-level objectives.
//!
//! This facade re-exports the workspace crates so an application can depend on one crate:
//!
//! - [`dataflow`]: event model, sources, sinks, event time, cluster config (`slo-dataflow`).
//! - [`operators`]: redaction, template mining, windows, embeddings and the pipeline
//!   (`slo-operators`).
//! - [`storage`]: Parquet tables, the vector index and SQL (`slo-storage`).
//! - [`advisor`]: journeys, SLIs, recommendations, backtests (`slo-advisor`).
//! - [`artifacts`]: SLO specs, Prometheus rules, dashboards, runbooks, policy, GitOps
//!   (`slo-artifacts`).

pub use slo_advisor as advisor;
pub use slo_artifacts as artifacts;
pub use slo_dataflow as dataflow;
pub use slo_operators as operators;
pub use slo_storage as storage;
