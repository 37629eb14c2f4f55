//! One module per subcommand.

pub mod analyze;
pub mod artifacts;
pub mod backtest;
pub mod generate;
pub mod kafka;
pub mod kafka_produce;
pub mod kafka_run;
pub mod maintain;
pub mod metrics_http;
pub mod mine;
pub mod publish;
pub mod query;
pub mod redact;
pub mod run;
pub mod sample;
pub mod validate;
