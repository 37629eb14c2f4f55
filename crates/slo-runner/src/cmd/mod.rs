//! One module per subcommand.

pub mod analyze;
pub mod generate;
pub mod maintain;
pub mod mine;
pub mod query;
pub mod redact;
pub mod run;
