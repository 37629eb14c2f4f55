//! `slo-runner sample`: synthetic telemetry with ground truth (`generate` is the Sloth-compatible
//! rule generator).

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use slo_dataflow::synthetic::{generate, SyntheticConfig};

/// Arguments of `sample`.
#[derive(clap::Args)]
pub(crate) struct SampleArgs {
    /// Output directory: `events.jsonl` and `.ground_truth.json` are written there (the ground
    /// truth is a hidden file so that `run --input DIR` reads only the events).
    #[arg(long)]
    out: PathBuf,
    /// Number of requests (traces).
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// RNG seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Emit events out of order by up to this many ms.
    #[arg(long, default_value_t = 0)]
    disorder_ms: u64,
    /// Mean gap between requests, ms (900: about 4,000 requests an hour; smaller packs the
    /// same requests into fewer minutes, as busier services do).
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    mean_gap_ms: u64,
}

/// Runs `sample`.
pub(crate) fn run(args: SampleArgs) -> anyhow::Result<()> {
    let cfg = SyntheticConfig {
        requests: args.requests,
        seed: args.seed,
        disorder_ms: args.disorder_ms,
        mean_gap_ms: args.mean_gap_ms,
        ..Default::default()
    };
    let (events, truth) = generate(&cfg);
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("events.jsonl");
    let mut w = BufWriter::new(std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?);
    for e in &events {
        serde_json::to_writer(&mut w, e)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    // Hidden: directory inputs skip dot files, so the truth is never read as telemetry.
    let truth_path = args.out.join(".ground_truth.json");
    std::fs::write(&truth_path, serde_json::to_vec_pretty(&truth)?)?;
    eprintln!(
        "wrote {} events ({} requests) to {}, ground truth to {}",
        events.len(),
        args.requests,
        path.display(),
        truth_path.display()
    );
    Ok(())
}
