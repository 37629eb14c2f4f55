//! `slo-runner produce`: replays files (any format `open_path` reads) into Kafka as Avro
//! single-object `TelemetryEvent`s keyed by service, through an idempotent producer.
//!
//! Progress (events queued and acknowledged) goes to stderr through [`super::progress`]: a
//! bar on a terminal (over `--limit` when given), a line every few seconds otherwise; stdout
//! gets the final counts only.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use slo_dataflow::avro::telemetry_codec;
use slo_dataflow::source::{open_path, OpenOptions};

use super::kafka::{KafkaConnArgs, Sender, RAW_TELEMETRY};
use super::progress::Progress;

/// Arguments of `produce`.
#[derive(clap::Args)]
pub(crate) struct ProduceArgs {
    /// Input file or directory (JSON lines, OTLP/JSON, plain-text logs).
    #[arg(long)]
    input: PathBuf,
    /// Topic to write.
    #[arg(long, default_value = RAW_TELEMETRY)]
    topic: String,
    #[command(flatten)]
    conn: KafkaConnArgs,
    /// Compression: `lz4` (default) or `none`.
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Header format for plain-text logs (Loghub `log_format` notation).
    #[arg(long)]
    log_format: Option<String>,
    /// Service name for plain-text logs (default: file stem).
    #[arg(long)]
    service: Option<String>,
    /// Stop after this many events.
    #[arg(long)]
    limit: Option<u64>,
    /// Send at this steady rate (events per second) instead of as fast as possible.
    #[arg(long, value_name = "EVENTS_PER_SEC")]
    rate: Option<f64>,
    /// Re-stamp every event with the wall clock when it is sent: a live feed (load tests,
    /// latency measurements, demos) instead of a replay of the recorded event times.
    #[arg(long)]
    live: bool,
}

/// Runs `produce`.
pub(crate) fn run(args: ProduceArgs) -> anyhow::Result<()> {
    if !args.input.exists() {
        bail!("input {} does not exist", args.input.display());
    }
    let codec = telemetry_codec()?;
    let sender = Sender::new(&args.conn, &args.compression)?;
    let open = OpenOptions { log_format: args.log_format.clone(), service: args.service.clone(), ..Default::default() };
    let source = open_path(&args.input, &open).context("opening input")?;
    let started = Instant::now();
    let (mut sent, mut skipped) = (0u64, 0u64);
    let mut last_report = Instant::now();
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        bail!("--rate must be a positive number of events per second");
    }
    let progress = Progress::new("produce", args.limit);
    progress.set_message(format!("sending to {}", args.topic));
    for item in source {
        if args.limit.is_some_and(|l| sent >= l) {
            break;
        }
        if let Some(rate) = args.rate {
            // Pace against the start, not the previous send: no drift, short bursts catch up.
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            let now = Instant::now();
            if due > now {
                sender.poll();
                std::thread::sleep(due - now);
            }
        }
        match item {
            Ok(mut event) => {
                if args.live {
                    event.timestamp_ms =
                        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                }
                let bytes = codec.encode(&event)?;
                sender.send(&args.topic, event.service.as_bytes(), &bytes, None)?;
                sent += 1;
                progress.set_position(sent);
                if sent % 1024 == 0 {
                    sender.poll();
                }
            }
            Err(_) => skipped += 1,
        }
        if last_report.elapsed().as_millis() >= 500 {
            last_report = Instant::now();
            let unreadable = if skipped > 0 { format!(", {skipped} unreadable") } else { String::new() };
            progress.set_message(format!("sending to {}: {} acknowledged{unreadable}", args.topic, sender.delivered()));
        }
    }
    progress.set_message(format!("flushing to {}", args.topic));
    sender.flush()?;
    progress.finish();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produce: {sent} events to {} in {secs:.2} s ({:.0}/s); {skipped} unreadable records skipped",
        args.topic,
        sent as f64 / secs.max(1e-9)
    );
    println!("produced: {sent}");
    println!("skipped:  {skipped}");
    Ok(())
}
