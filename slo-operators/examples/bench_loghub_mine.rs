//! Mines a Loghub-style log file and writes `LineId,EventTemplate` predictions.
//!
//! ```text
//! cargo run --release -p slo-operators --example bench_loghub_mine -- \
//!     --format '<Date> <Time> <Level> <Component>: <Content>' \
//!     --input ../shared/datasets/loghub2k/Spark/Spark_2k.log --predictions /tmp/spark.csv
//! ```
//! Optional: `--threshold F` (similarity threshold), `--max-templates N`.

use std::path::PathBuf;

use slo_dataflow::source::log_format::LogFormat;
use slo_operators::fingerprint::{batch, MinerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut format = None;
    let mut input = None;
    let mut predictions = None;
    let mut cfg = MinerConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--format" => format = Some(LogFormat::parse(&val()?)?),
            "--input" => input = Some(PathBuf::from(val()?)),
            "--predictions" => predictions = Some(PathBuf::from(val()?)),
            "--threshold" => cfg.similarity_threshold = val()?.parse()?,
            "--wildcard-credit" => cfg.wildcard_credit = val()?.parse()?,
            "--sibling-merge" => cfg.sibling_merge = val()?.parse()?,
            "--max-templates" => cfg.max_templates = val()?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let input = input.ok_or("--input FILE is required")?;
    let predictions = predictions.ok_or("--predictions OUT.csv is required")?;
    let s = batch::mine_file(&input, format.as_ref(), &predictions, &cfg)?;
    eprintln!(
        "{}: {} lines, {} templates, {} evictions, {} header mismatches, {:.1} ms",
        input.display(),
        s.lines,
        s.templates,
        s.evictions,
        s.unmatched_header,
        s.elapsed.as_secs_f64() * 1e3
    );
    Ok(())
}
