//! One module per subcommand.

pub mod generate;
pub mod mine;
pub mod redact;
pub mod run;
