//! `slo-runner run`: the capsule pipeline over files or the bundled sample telemetry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::ArgAction;
use slo_dataflow::cluster::ClusterConfig;

use super::kafka_run::KafkaFileConfig;
use slo_advisor::live::LiveConfig;
use std::sync::Mutex;

use slo_dataflow::event::{Capsule, TelemetryEvent};
use slo_dataflow::sink::{JsonLinesSink, Sink, TeeSink};
use slo_dataflow::source::{open_path, EventSource, OpenOptions};
use slo_dataflow::synthetic::{generate, SyntheticConfig};
use slo_operators::embed::{EmbedConfig, EmbedderKind};
use slo_operators::metrics::PipelineMetrics;
use slo_operators::pipeline::{run_pipeline, PipelineConfig, PipelineReport, PipelineSinks};
use slo_storage::sink::{EventStoreSink, StoreSink};
use slo_storage::vector::{VectorIndex, VectorIndexConfig};
use slo_storage::Store;

/// Arguments of `run`. `-h` is the timely host file, as in timely's own flags; use `--help`.
#[derive(clap::Args)]
#[command(disable_help_flag = true)]
pub(crate) struct RunArgs {
    /// Input file or directory (JSON lines, OTLP/JSON, plain-text logs). Default: generated sample
    /// telemetry (2,000 requests across 7 services).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Output directory for `capsules.jsonl`, `late.jsonl` and `dead_letters.jsonl`.
    #[arg(long, default_value = "out/run")]
    out: PathBuf,
    /// Pipeline config (TOML: sections `redaction`, `miner`, `window`, `driver`, `embedding`, and
    /// `kafka` for `--kafka`; flags and environment variables override the file; unknown keys are
    /// errors). examples/pipeline.toml lists every key with its default.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Worker threads per process.
    #[arg(short = 'w', long = "workers")]
    workers: Option<usize>,
    /// Number of processes.
    #[arg(short = 'n', long = "processes")]
    processes: Option<usize>,
    /// Index of this process.
    #[arg(short = 'p', long = "process")]
    process: Option<usize>,
    /// Host file: one `host:port` per process.
    #[arg(short = 'h', long = "hostfile")]
    hostfile: Option<PathBuf>,
    /// Window length (`1h`, `5m`, `30s`, or ms).
    #[arg(long)]
    window: Option<String>,
    /// Out-of-orderness bound for the watermark (`1m`, ...).
    #[arg(long)]
    max_out_of_orderness: Option<String>,
    /// Header format for plain-text logs (Loghub `log_format` notation).
    #[arg(long)]
    log_format: Option<String>,
    /// Service name for plain-text logs (default: file stem).
    #[arg(long)]
    service: Option<String>,
    /// Longest line of a JSON-lines or plain-text file, bytes; a longer line is a dead letter
    /// (its first 4 KiB kept, redacted) and is never held in memory whole.
    #[arg(long, default_value_t = slo_dataflow::source::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
    /// Embedder: `auto` (default: with --store, MiniLM when scripts/setup-model.sh installed it,
    /// else feature hashing, said on stderr; without --store, none), `none`,
    /// `hashing` (deterministic, no model) or `minilm`. The store remembers its embedder and
    /// refuses vectors of another.
    #[arg(long, default_value = "auto")]
    embedder: String,
    /// Also write capsules, spans and metric points into this store (directory or
    /// `s3://bucket/prefix`), with the capsule embeddings in its vector index.
    #[arg(long, env = "SLO_SCOUT_STORE")]
    store: Option<String>,
    /// With --store: also archive every (redacted) event in `raw_events`.
    #[arg(long)]
    archive_raw: bool,
    /// Kafka mode (`--kafka --brokers B --group G --store DIR`); see `cmd::kafka_run`.
    #[command(flatten)]
    kafka: Box<super::kafka_run::KafkaRunArgs>,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,
}

/// The pipeline config and the `[kafka]` and `[live]` sections of the `--config` TOML file.
fn load_config(path: Option<&Path>) -> anyhow::Result<(PipelineConfig, KafkaFileConfig, LiveConfig)> {
    match path {
        None => Ok((PipelineConfig::default(), KafkaFileConfig::default(), LiveConfig::default())),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let mut table: toml::Table =
                toml::from_str(&text).with_context(|| format!("invalid config {}", p.display()))?;
            let kafka = match table.remove("kafka") {
                Some(v) => v.try_into().with_context(|| format!("invalid [kafka] section in {}", p.display()))?,
                None => KafkaFileConfig::default(),
            };
            let live = match table.remove("live") {
                Some(v) => v.try_into().with_context(|| format!("invalid [live] section in {}", p.display()))?,
                None => LiveConfig::default(),
            };
            let pipeline =
                toml::Value::Table(table).try_into().with_context(|| format!("invalid config {}", p.display()))?;
            Ok((pipeline, kafka, live))
        }
    }
}

/// Runs `run`.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let (mut config, kafka_file, live) = load_config(args.config.as_deref())?;
    if let Some(w) = &args.window {
        config.window.size_ms = super::duration_ms(w)?;
    }
    if let Some(b) = &args.max_out_of_orderness {
        config.driver.max_out_of_orderness_ms = super::duration_ms(b)?;
    }
    match args.embedder.as_str() {
        "none" => config.embedding = None,
        "auto" => match config.embedding.as_mut() {
            Some(e) => e.apply_env()?,
            None if args.store.is_some() => {
                let (e, note) = EmbedConfig::auto()?;
                eprintln!("note: {note}");
                config.embedding = Some(e);
            }
            None => {}
        },
        other => {
            let kind: EmbedderKind = other.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut e = config.embedding.take().unwrap_or_default();
            e.apply_env()?;
            e.kind = kind;
            config.embedding = Some(e);
        }
    }
    if let Some(e) = &config.embedding {
        if e.kind == EmbedderKind::Hashing {
            eprintln!("note: using the feature-hashing embedder (no model); pass --embedder minilm for MiniLM");
        }
    }
    let cluster = ClusterConfig {
        workers: args.workers.unwrap_or(1),
        processes: args.processes.unwrap_or(1),
        process: args.process.unwrap_or(0),
        hostfile: args.hostfile.clone(),
        addresses: Vec::new(),
    };
    if args.kafka.kafka {
        return super::kafka_run::run(
            *args.kafka,
            kafka_file,
            config,
            args.store.clone(),
            args.archive_raw,
            cluster,
            live,
        );
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let suffix = if cluster.processes > 1 { format!("-p{}", cluster.process) } else { String::new() };
    let capsules = JsonLinesSink::create(&args.out.join(format!("capsules{suffix}.jsonl")))?;
    let late = JsonLinesSink::create(&args.out.join(format!("late{suffix}.jsonl")))?;
    let dead = JsonLinesSink::create(&args.out.join(format!("dead_letters{suffix}.jsonl")))?;
    let store = match &args.store {
        Some(loc) => Some(Store::open(loc)?.with_writer_id(cluster.process.to_string())),
        None => None,
    };
    if let Some(s) = &store {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(s.claim_window_size(config.window.size_ms))?;
    }
    let index = match (&store, &config.embedding) {
        (Some(s), Some(e)) => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut index = rt.block_on(VectorIndex::load(s, VectorIndexConfig::default()))?;
            let id = e.build().context("building the embedder")?.id();
            index.bind_embedder(&id)?;
            Some(Arc::new(Mutex::new(index)))
        }
        _ => None,
    };
    let (capsule_store, event_store, capsule_index) = (store.clone(), store.clone(), index.clone());
    let archive_raw = args.archive_raw;
    let sinks = PipelineSinks {
        capsules: Box::new(move |_| -> Box<dyn Sink<Capsule>> {
            match capsule_store.as_ref().map(|s| StoreSink::new(s.clone(), capsule_index.clone())) {
                Some(Ok(store_sink)) => Box::new(TeeSink::new(Box::new(capsules.clone()), Box::new(store_sink))),
                _ => Box::new(capsules.clone()),
            }
        }),
        late: Box::new(move |_| Box::new(late.clone())),
        dead_letters: Box::new(move |_| Box::new(dead.clone())),
        events: event_store.map(|s| {
            Box::new(move |_: usize| -> Box<dyn Sink<TelemetryEvent>> {
                match EventStoreSink::new(s.clone(), archive_raw, 100_000) {
                    Ok(sink) => Box::new(sink),
                    Err(_) => Box::new(slo_dataflow::sink::MemorySink::new()),
                }
            }) as Box<dyn Fn(usize) -> Box<dyn Sink<TelemetryEvent>> + Send + Sync>
        }),
    };
    let input = args.input.clone();
    if let Some(p) = &input {
        if !p.exists() {
            bail!("input {} does not exist", p.display());
        }
    }
    let open = OpenOptions {
        log_format: args.log_format.clone(),
        service: args.service.clone(),
        environment: None,
        max_line_bytes: Some(args.max_line_bytes),
    };
    let source = move || -> Result<Box<dyn EventSource>, String> {
        match &input {
            Some(p) => open_path(p, &open).map_err(|e| e.to_string()),
            None => {
                let (events, _) = generate(&SyntheticConfig::default());
                Ok(Box::new(events.into_iter().map(Ok)))
            }
        }
    };
    let metrics = PipelineMetrics::new();
    let started = std::time::Instant::now();
    // Progress on stderr: events read so far, polled from the pipeline's counters.
    let progress = super::progress::Progress::new("run", None);
    progress.stage("reading, redacting, mining and windowing events", None);
    let finished = std::sync::atomic::AtomicBool::new(false);
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                progress.set_position(PipelineMetrics::get(&metrics.events_in));
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        let report = run_pipeline(&cluster, config, source, sinks, Arc::clone(&metrics));
        finished.store(true, std::sync::atomic::Ordering::Relaxed);
        report
    })?;
    progress.set_position(report.events);
    progress.finish();
    print_summary(&report, &args.out, started.elapsed());
    if let (Some(store), Some(index)) = (&store, &index) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let index = index.lock().map_err(|_| anyhow::anyhow!("vector index lock poisoned"))?;
        rt.block_on(index.save(store))?;
        let search = match index.calibration() {
            Some(c) => format!("ef_search {} calibrated to recall@10 {:.3}", c.expansion_search, c.recall),
            None => format!("ef_search {}", index.expansion_search()),
        };
        println!("vectors:       {} ({} evicted; {search})", index.len(), index.evictions());
    }
    if let Some(s) = &args.store {
        println!("store:         {s}");
    }
    Ok(())
}

fn print_summary(r: &PipelineReport, out: &Path, elapsed: std::time::Duration) {
    println!("events:        {}", r.events);
    println!("malformed:     {} (dead letters)", r.malformed);
    println!("capsules:      {}", r.capsules);
    println!("templates:     {} ({} evicted)", r.templates, r.template_evictions);
    println!("late events:   {}", r.late);
    println!("window evictions: {}", r.window_evictions);
    println!("redacted events: {}", r.events_redacted);
    let by_type: Vec<String> = r.redactions.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("redactions:    {}", if by_type.is_empty() { "none".into() } else { by_type.join(" ") });
    if r.embeddings > 0 {
        println!("embeddings:    {}", r.embeddings);
    }
    println!("output:        {}", out.display());
    println!("elapsed:       {:.2?}", elapsed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference config lists every key with its default: as shipped it loads, and with its
    /// `#: ` lines switched on every section equals the built-in defaults.
    #[test]
    fn the_reference_config_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipeline.toml");
        let (shipped, _, live) = load_config(Some(&path)).unwrap();
        assert_eq!(format!("{live:?}"), format!("{:?}", LiveConfig::default()));
        assert!(shipped.embedding.is_none());
        let text = std::fs::read_to_string(&path).unwrap();
        let on: String = text.lines().map(|l| l.strip_prefix("#: ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
        let full = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(full.path(), on).unwrap();
        let (cfg, kafka, _) = load_config(Some(full.path())).unwrap();
        let d = PipelineConfig::default();
        assert_eq!(format!("{:?}", cfg.redaction), format!("{:?}", d.redaction));
        assert_eq!(format!("{:?}", cfg.miner), format!("{:?}", d.miner));
        assert_eq!(format!("{:?}", cfg.window), format!("{:?}", d.window));
        assert_eq!(format!("{:?}", cfg.driver), format!("{:?}", d.driver));
        assert_eq!(cfg.embedding, Some(EmbedConfig::default()));
        assert_eq!(kafka.group.as_deref(), Some("slo-scout"));
        assert_eq!(kafka.max_message_bytes, Some(1_048_576));
        assert_eq!(kafka.commit_events, Some(50_000));
    }
}
