//! `slo-runner mine`: template mining for accuracy evaluation.

use std::path::PathBuf;

use anyhow::Context;
use slo_dataflow::source::log_format::LogFormat;
use slo_operators::fingerprint::batch::mine_file;
use slo_operators::fingerprint::MinerConfig;

/// Arguments of `mine`.
#[derive(clap::Args)]
pub(crate) struct MineArgs {
    /// Log file to mine.
    #[arg(long)]
    input: PathBuf,
    /// Header format in Loghub `log_format` notation, e.g. `<Date> <Time> <Level> <Component>: <Content>`.
    /// Without it the whole line is the content.
    #[arg(long)]
    log_format: Option<String>,
    /// Where to write `LineId,EventTemplate` (LineId from 1, input order).
    #[arg(long)]
    predictions: PathBuf,
    /// Template cap (default: the miner's default).
    #[arg(long)]
    max_templates: Option<usize>,
}

/// Runs `mine`.
pub(crate) fn run(args: MineArgs) -> anyhow::Result<()> {
    let format = args.log_format.as_deref().map(LogFormat::parse).transpose().context("invalid --log-format")?;
    let mut cfg = MinerConfig::default();
    if let Some(cap) = args.max_templates {
        cfg.max_templates = cap;
    }
    let summary = mine_file(&args.input, format.as_ref(), &args.predictions, &cfg)?;
    eprintln!(
        "mined {} lines into {} templates ({} header mismatches, {} evictions) in {:.2?}",
        summary.lines, summary.templates, summary.unmatched_header, summary.evictions, summary.elapsed
    );
    Ok(())
}
