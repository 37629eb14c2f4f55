//! `slo-runner run --kafka`: the capsule pipeline on a Kafka consumer group.
//!
//! `raw-telemetry` (Avro single-object `TelemetryEvent`) in; capsules upserted into the store and
//! produced to `capsule-events` (Avro `CapsuleEvent`, key = capsule id) and, when embedded, to
//! `capsule-embeddings` (little-endian f32s, key = capsule id); rejected records to `dead-letter`
//! with their original bytes and `slo.reason` / `slo.origin` headers. Bad data never stops it.
//!
//! # Effectively-once without Kafka transactions: hold commits until windows close
//!
//! Open-window state is *not* checkpointed. Instead the runner keeps, per partition, the offset of
//! the first event of every still-open window, and commits the minimum of those (or the next
//! offset when the partition has no open-window data). A restart replays from there and rebuilds
//! the open windows from their events. Next to the offsets it keeps one number in the store, the
//! *durable watermark* `D` (blob `_index/kafka-checkpoint-<group>-<topic>.json`): every window that
//! closes at or before `D` has been upserted into the store and acknowledged on `capsule-events`.
//! On replay, events of windows closing at or before `D` are skipped (already counted), so a
//! replay never overwrites a complete capsule with a partial one. Capsule writes are keyed upserts
//! of the full window aggregate, so re-closing a window after a crash overwrites it with the same
//! totals: no loss, no double count.
//!
//! Order of a commit step (every `--commit-interval` or `--commit-events` events): advance the
//! event-time watermark (minimum over assigned partitions of their newest event time, minus the
//! out-of-orderness bound; partitions the consumer has read to their end are left out, so a quiet
//! partition cannot stall windows), run the dataflow so it emits every window closed by it; the
//! dataflow's last operator upserts those capsules (durable when the call returns), produces
//! their capsule events and waits for the broker to acknowledge them, and only then lets the
//! dataflow's progress pass their time. The step then writes `D` (read from that progress),
//! waits for the dead letters' acknowledgements, and commits the offsets. A crash between any two
//! steps replays more, never less.
//!
//! The bookkeeping (admit, skip or late per record, both watermarks, the offsets to commit) is the
//! pure [`OffsetBook`](super::kafka_offsets::OffsetBook), whose module docs state the rules and
//! invariants and whose property tests crash and restart it at random. [`run_worker`] is the glue
//! between it, the consumer, the dataflow and the store.
//!
//! # Cluster mode (`-w`, `-n`, `-p`, `-h`)
//!
//! Every timely worker, in every process, consumes its own share of the input partitions
//! (partition `p` belongs to worker `p mod W·N`) with its own consumer and producer, and commits
//! only those partitions' offsets. The window operator exchanges events by capsule key, so each
//! capsule is aggregated and upserted by exactly one worker (into its own file per store
//! partition). Because the capsule sink holds the dataflow's progress until its writes are
//! durable, every worker reads the *global* durable watermark from its probe — the point below
//! which all workers' capsules are durable — and writes it to its own checkpoint blob
//! (`…<group>-<topic>.json` for worker 0, `….w<i>.json` for worker `i`); a restart skips below
//! the highest of them. Each worker broadcasts the newest event time it has read, so a worker
//! whose partitions are idle (or that owns none) follows the others instead of holding them back.
//! Stop a cluster by signalling every process, and restart it with the same layout: capsule keys
//! map to workers (and so to upsert files) by the worker count, so after a crash a different
//! layout could recompute a window into another worker's file next to the old copy.
//!
//! Known limit: the template miner's state is not checkpointed, so replayed windows are re-mined
//! by a cold miner. A window that was upserted but not yet covered by `D` when the process died
//! (a crash between the store write and the checkpoint write) is recomputed; should a template
//! generalise differently the second time, the old capsule (other fingerprint, so other key)
//! would stay next to the new one. Checkpointing the miner snapshot with `D` closes this.
//!
//! Restart cost: the data of the open windows — at most one window length plus the
//! out-of-orderness bound (1 h 1 min of traffic with the defaults) is re-read and re-mined. Output
//! topics and dead letters are at-least-once across a crash (same keys / same `slo.origin`, so
//! consumers de-duplicate); the store and the capsule counts are exact.
//!
//! `--idle-exit SECS` treats SECS without any record, once every partition has been read to its
//! end, as the end of the stream: every open window is closed and written, and `D` moves past
//! them, so later records for those windows are skipped. One runner (or one cluster) per group:
//! workers assign themselves their partitions; offsets live in the group.
//!
//! Dead letters keep the original bytes (so they can be fixed and replayed): `dead-letter` holds
//! the same data, PII included, as `raw-telemetry` and needs the same access control. Logs and the
//! summary carry only the reason code and origin, never content.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use slo_advisor::live::{ArrangementMeter, LiveConfig};
use slo_dataflow::avro::{capsule_codec, telemetry_codec, AvroCodec, AvroCodecError};
use slo_dataflow::cluster::ClusterConfig;
use slo_dataflow::event::{Capsule, EventTime, RedactedEvent, TelemetryEvent};
use slo_operators::embed::Embed;
use slo_operators::fingerprint::Fingerprinting;
use slo_operators::metrics::PipelineMetrics;
use slo_operators::pipeline::PipelineConfig;
use slo_operators::redact::{RedactCarried, Redactor};
use slo_operators::window::WindowCapsules;
use slo_storage::vector::{VectorIndex, VectorIndexConfig};
use slo_storage::Store;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Input, Map};
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::{ProbeHandle, StreamVec};

use super::kafka::{
    KafkaConnArgs, QuietContext, Sender, CAPSULE_EMBEDDINGS, CAPSULE_EVENTS, DEAD_LETTER, FLUSH_DEADLINE, RAW_TELEMETRY,
};
use super::kafka_events::{
    durable_events, durable_vectors, CapsuleVector, EventSinkState, EventTables, HeldBatches, IndexState, IndexWriter,
    KafkaRecord,
};
use super::kafka_live::{live_slis, LiveParts, LiveState, LiveWriter};
use super::kafka_offsets::{Admission, OffsetBook, Read};
use super::metrics_http::{serve, RunnerMetrics};

/// Kafka flags of `run` (active with `--kafka`).
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct KafkaRunArgs {
    /// Read `raw-telemetry` from Kafka instead of files (needs --store).
    #[arg(long)]
    pub kafka: bool,
    #[command(flatten)]
    pub conn: KafkaConnArgs,
    /// Consumer group [default: slo-scout].
    #[arg(long, env = "SLO_SCOUT_KAFKA_GROUP")]
    pub group: Option<String>,
    /// Input topic [default: raw-telemetry].
    #[arg(long, env = "SLO_SCOUT_KAFKA_TOPIC")]
    pub topic: Option<String>,
    /// Exit after this many seconds without a record (closes and writes every open window).
    #[arg(long, value_name = "SECS")]
    pub idle_exit: Option<f64>,
    /// Records larger than this go to the dead-letter topic [default: 1048576].
    #[arg(long)]
    pub max_message_bytes: Option<usize>,
    /// Time between commit steps [default: 1s].
    #[arg(long)]
    pub commit_interval: Option<String>,
    /// Events between commit steps [default: 50000].
    #[arg(long)]
    pub commit_events: Option<u64>,
    /// Compression of the output topics: lz4 or none [default: lz4].
    #[arg(long)]
    pub compression: Option<String>,
    /// Serve `/metrics` (Prometheus text format) and `/healthz` on this address, e.g.
    /// `127.0.0.1:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<String>,
}

/// The `[kafka]` section of the `run --config` TOML file. Command-line flags and environment
/// variables (`SLO_SCOUT_KAFKA_BROKERS`, `_GROUP`, `_TOPIC`) override it; `client` settings are
/// passed to librdkafka before any `--kafka-option`, which win on the same key.
///
/// ```toml
/// [kafka]
/// brokers = "broker-1:9093,broker-2:9093"
/// group = "slo-scout-prod"
/// commit_interval = "2s"
/// metrics_addr = "127.0.0.1:9464"
/// [kafka.client]
/// "security.protocol" = "SASL_SSL"
/// "sasl.mechanism" = "SCRAM-SHA-512"
/// "sasl.username" = "slo-scout"
/// "ssl.ca.location" = "/etc/ssl/certs/ca.pem"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KafkaFileConfig {
    /// Bootstrap brokers.
    pub brokers: Option<String>,
    /// Consumer group.
    pub group: Option<String>,
    /// Input topic.
    pub topic: Option<String>,
    /// Seconds without records that end the stream.
    pub idle_exit: Option<f64>,
    /// Records larger than this go to the dead-letter topic.
    pub max_message_bytes: Option<usize>,
    /// Time between commit steps, e.g. `1s`.
    pub commit_interval: Option<String>,
    /// Events between commit steps.
    pub commit_events: Option<u64>,
    /// Output compression: lz4 or none.
    pub compression: Option<String>,
    /// Address of the `/metrics` endpoint.
    pub metrics_addr: Option<String>,
    /// librdkafka settings passed through (TLS, SASL, timeouts, ...).
    #[serde(default)]
    pub client: BTreeMap<String, String>,
}

/// Kafka settings after flags, environment and config file are merged.
struct Settings {
    conn: KafkaConnArgs,
    group: String,
    topic: String,
    idle_exit: Option<f64>,
    max_message_bytes: usize,
    commit_interval: String,
    commit_events: u64,
    compression: String,
    metrics_addr: Option<String>,
}

impl Settings {
    fn merge(args: KafkaRunArgs, file: KafkaFileConfig) -> Settings {
        let mut conn = args.conn;
        conn.brokers = conn.brokers.or(file.brokers);
        // File settings first: a later `--kafka-option` with the same key wins.
        let mut options: Vec<String> = file.client.iter().map(|(k, v)| format!("{k}={v}")).collect();
        options.extend(conn.options);
        conn.options = options;
        Settings {
            conn,
            group: args.group.or(file.group).unwrap_or_else(|| "slo-scout".into()),
            topic: args.topic.or(file.topic).unwrap_or_else(|| RAW_TELEMETRY.into()),
            idle_exit: args.idle_exit.or(file.idle_exit),
            max_message_bytes: args.max_message_bytes.or(file.max_message_bytes).unwrap_or(1_048_576),
            commit_interval: args.commit_interval.or(file.commit_interval).unwrap_or_else(|| "1s".into()),
            commit_events: args.commit_events.or(file.commit_events).unwrap_or(50_000),
            compression: args.compression.or(file.compression).unwrap_or_else(|| "lz4".into()),
            metrics_addr: args.metrics_addr.or(file.metrics_addr),
        }
    }
}

/// Why a record was rejected: a short code (`slo.reason` starts with it) and details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    /// `oversized`, `unknown-schema`, `malformed-avro`, `invalid-utf8` or `missing-timestamp`.
    pub code: &'static str,
    /// Details (never the record's content).
    pub detail: String,
}

/// Decodes and validates one `raw-telemetry` record.
pub(crate) fn classify(
    codec: &AvroCodec<TelemetryEvent>,
    payload: &[u8],
    max_bytes: usize,
) -> Result<TelemetryEvent, Rejection> {
    if payload.len() > max_bytes {
        return Err(Rejection { code: "oversized", detail: format!("{} bytes > limit {max_bytes}", payload.len()) });
    }
    match codec.decode(payload) {
        Err(AvroCodecError::UnknownSchema(m)) => Err(Rejection { code: "unknown-schema", detail: m }),
        Err(AvroCodecError::Malformed(m)) if m.to_ascii_lowercase().contains("utf-8") => {
            Err(Rejection { code: "invalid-utf8", detail: m })
        }
        Err(e) => Err(Rejection { code: "malformed-avro", detail: e.to_string() }),
        Ok(ev) if ev.timestamp_ms == 0 => {
            Err(Rejection { code: "missing-timestamp", detail: "timestamp_ms is 0 or absent".into() })
        }
        Ok(ev) => Ok(ev),
    }
}

#[derive(Serialize, Deserialize, Default)]
struct Checkpoint {
    /// Every window closing at or before this watermark is durable in the store.
    durable_watermark_ms: EventTime,
    /// Per partition of the worker, the first offset not known to be in the event tables
    /// (see [`super::kafka_events`]).
    #[serde(default)]
    events_upto: BTreeMap<i32, i64>,
}

/// What a Kafka run did.
/// What a Kafka run did: one per worker, summed over the process's workers.
#[derive(Default, Debug)]
struct Summary {
    events: u64,
    dead_letters: BTreeMap<&'static str, u64>,
    late: u64,
    replay_skipped: u64,
    capsules: u64,
    capsule_events: u64,
    embeddings: u64,
    vectors_indexed: u64,
    events_stored: u64,
    event_files: u64,
    event_files_discarded: usize,
    live_minutes: u64,
    live_sli_rows: u64,
    live_sli_files: u64,
    live_late: u64,
    live_seeded: u64,
    commits: u64,
    durable_watermark: EventTime,
    started_from: BTreeMap<i32, i64>,
    partitions: Vec<i32>,
    stopped_by_signal: bool,
}

impl Summary {
    fn absorb(&mut self, other: Summary) {
        self.events += other.events;
        for (code, n) in other.dead_letters {
            *self.dead_letters.entry(code).or_default() += n;
        }
        self.late += other.late;
        self.replay_skipped += other.replay_skipped;
        self.capsules += other.capsules;
        self.capsule_events += other.capsule_events;
        self.embeddings += other.embeddings;
        self.vectors_indexed += other.vectors_indexed;
        self.events_stored += other.events_stored;
        self.event_files += other.event_files;
        self.event_files_discarded += other.event_files_discarded;
        self.live_minutes += other.live_minutes;
        self.live_sli_rows += other.live_sli_rows;
        self.live_sli_files += other.live_sli_files;
        self.live_late += other.live_late;
        self.live_seeded += other.live_seeded;
        self.commits += other.commits;
        self.durable_watermark = self.durable_watermark.max(other.durable_watermark);
        self.started_from.extend(other.started_from);
        self.partitions.extend(other.partitions);
        self.partitions.sort_unstable();
        self.stopped_by_signal |= other.stopped_by_signal;
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Common prefix of a group's checkpoint blobs for a topic.
fn checkpoint_base(group: &str, topic: &str) -> String {
    format!("kafka-checkpoint-{}-{}", sanitize(group), sanitize(topic))
}

/// Worker 0 keeps the single-worker name; worker `i > 0` writes `<base>.w<i>.json` (`sanitize`
/// maps `.` to `_`, so no group or topic name can imitate the suffix).
fn checkpoint_name(base: &str, worker: usize) -> String {
    if worker == 0 {
        format!("{base}.json")
    } else {
        format!("{base}.w{worker}.json")
    }
}

fn is_checkpoint_name(base: &str, name: &str) -> bool {
    name == format!("{base}.json")
        || name
            .strip_prefix(&format!("{base}.w"))
            .and_then(|rest| rest.strip_suffix(".json"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The worker (global index) that consumes `partition`: partitions are dealt round-robin.
fn partition_owner(partition: i32, peers: usize) -> usize {
    (partition.max(0) as usize) % peers.max(1)
}

/// Read-only settings every worker of the process shares.
struct Shared {
    args: Settings,
    store: Store,
    redactor: Redactor,
    config: PipelineConfig,
    commit_interval: Duration,
    partitions: Vec<i32>,
    metrics: Arc<RunnerMetrics>,
    stop: Arc<AtomicBool>,
    archive_raw: bool,
    live: LiveConfig,
}

/// Runs the pipeline on Kafka until `--idle-exit` (or forever), on the timely workers that
/// `cluster` describes: `-w` threads here, `-n` processes in all (each started with its `-p`).
pub(crate) fn run(
    args: KafkaRunArgs,
    file: KafkaFileConfig,
    config: PipelineConfig,
    store: Option<String>,
    archive_raw: bool,
    cluster: ClusterConfig,
    live: LiveConfig,
) -> anyhow::Result<()> {
    let args = Settings::merge(args, file);
    live.validate().map_err(|e| anyhow::anyhow!(e))?;
    let Some(store_loc) = store else {
        bail!("--kafka needs --store DIR|URL: capsules must be durable there before offsets are committed");
    };
    let store = Store::open(&store_loc)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(store.claim_window_size(config.window.size_ms))?;
    let redactor = Redactor::new(config.redaction.clone())?;
    if let Some(e) = &config.embedding {
        e.validate()?;
    }
    let commit_interval = Duration::from_millis(super::duration_ms(&args.commit_interval)?);
    let timely_config = cluster.to_timely()?;
    let partitions = topic_partitions(&args)?;
    let runner_metrics = RunnerMetrics::new(PipelineMetrics::new());
    runner_metrics.set_objective(live.objective);
    if let Some(addr) = &args.metrics_addr {
        let bound = serve(addr, runner_metrics.clone())?;
        eprintln!("serving /metrics on http://{bound}/metrics");
    }
    // SIGTERM / SIGINT: finish the current step, make what is durable committed, and exit
    // without closing open windows (a restart replays them from the held offsets).
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    let started = Instant::now();
    let shared = Arc::new(Shared {
        args,
        store,
        redactor,
        config,
        commit_interval,
        partitions,
        metrics: runner_metrics,
        stop,
        archive_raw,
        live,
    });
    let guards = timely::execute(timely_config, move |worker| run_worker(worker, &shared))
        .map_err(|e| anyhow::anyhow!("starting the timely workers: {e}"))?;
    let mut summary = Summary::default();
    let mut first_error = None;
    for result in guards.join() {
        match result {
            Ok(Ok(s)) => summary.absorb(s),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(panic) => {
                first_error.get_or_insert(anyhow::anyhow!("a worker failed: {panic}"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    println!("events:          {}", summary.events);
    let dl: u64 = summary.dead_letters.values().sum();
    let by: Vec<String> = summary.dead_letters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("dead letters:    {dl}{}", if by.is_empty() { String::new() } else { format!(" ({})", by.join(" ")) });
    println!("late events:     {}", summary.late);
    println!("replay skipped:  {} (already durable before a restart)", summary.replay_skipped);
    println!("capsules:        {}", summary.capsules);
    println!("capsule events:  {}", summary.capsule_events);
    println!("embeddings:      {}", summary.embeddings);
    if summary.vectors_indexed > 0 {
        println!("vectors indexed: {}", summary.vectors_indexed);
    }
    println!(
        "events stored:   {} in {} files (spans, metric points{})",
        summary.events_stored,
        summary.event_files,
        if archive_raw { ", raw events" } else { "" }
    );
    println!(
        "live SLIs:       {} minutes closed, {} sli_minutes rows ({} partition writes), {} late spans{}",
        summary.live_minutes,
        summary.live_sli_rows,
        summary.live_sli_files,
        summary.live_late,
        if summary.live_seeded > 0 {
            format!(", {} spans read back at start", summary.live_seeded)
        } else {
            String::new()
        }
    );
    if summary.event_files_discarded > 0 {
        println!(
            "discarded:       {} event files written after the last checkpoint (rewritten from Kafka)",
            summary.event_files_discarded
        );
    }
    println!("commits:         {}", summary.commits);
    println!("durable watermark: {}", summary.durable_watermark);
    let from: Vec<String> = summary.started_from.iter().map(|(p, o)| format!("{p}@{o}")).collect();
    println!("started from:    {}", from.join(" "));
    let parts: Vec<String> = summary.partitions.iter().map(i32::to_string).collect();
    println!(
        "workers:         {} here, {} in all; partitions here: {}",
        cluster.workers,
        cluster.peers(),
        if parts.is_empty() { "none".to_string() } else { parts.join(" ") }
    );
    println!("elapsed:         {:.2?}", started.elapsed());
    if summary.stopped_by_signal {
        println!("stopped:         by signal, after committing what is durable (open windows replay on restart)");
    }
    println!("store:           {store_loc}");
    Ok(())
}

/// The input topic's partitions, sorted; a clear error when the topic does not exist.
fn topic_partitions(args: &Settings) -> anyhow::Result<Vec<i32>> {
    let mut cc = args.conn.client_config()?;
    cc.set("group.id", &args.group);
    let consumer: BaseConsumer<QuietContext> =
        cc.create_with_context(QuietContext).context("creating Kafka consumer")?;
    let metadata =
        consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(30)).context("reading topic metadata")?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == args.topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions.sort_unstable();
    if partitions.is_empty() {
        bail!("topic {} has no partitions (create it with `slo-runner kafka-topics --create`)", args.topic);
    }
    Ok(partitions)
}

/// Counters and the first error of a worker's [`durable_capsules`] operator.
#[derive(Default)]
struct SinkState {
    capsules: u64,
    capsule_events: u64,
    embeddings: u64,
    error: Option<anyhow::Error>,
}

/// Where a worker's capsules go: the store (keyed upsert) and `capsule-events` /
/// `capsule-embeddings`.
struct DurableSink {
    store: Store,
    rt: Rc<tokio::runtime::Runtime>,
    sender: Rc<Sender>,
    codec: AvroCodec<Capsule>,
    metrics: Arc<RunnerMetrics>,
    state: Rc<RefCell<SinkState>>,
    /// Cleared when the worker stops early (signal, error): the windows the dataflow then closes
    /// are partial and must not overwrite anything; their offsets are held, a restart replays them.
    enabled: Rc<Cell<bool>>,
}

impl DurableSink {
    /// Writes `capsules`; false when it did not (stopping early, or failed: the error is kept).
    fn write(&mut self, capsules: &[Capsule]) -> bool {
        if !self.enabled.get() || self.state.borrow().error.is_some() {
            return false;
        }
        match self.try_write(capsules) {
            Ok(()) => true,
            Err(e) => {
                self.state.borrow_mut().error = Some(e);
                false
            }
        }
    }

    fn try_write(&mut self, capsules: &[Capsule]) -> anyhow::Result<()> {
        self.rt.block_on(self.store.write_capsules(capsules)).context("writing capsules to the store")?;
        let mut state = self.state.borrow_mut();
        state.capsules += capsules.len() as u64;
        for c in capsules {
            let id = c.capsule_id();
            self.sender.send(CAPSULE_EVENTS, id.as_bytes(), &self.codec.encode(c)?, None)?;
            state.capsule_events += 1;
            self.metrics.record_out(CAPSULE_EVENTS, 1);
            if let Some(v) = &c.embedding {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                self.sender.send(CAPSULE_EMBEDDINGS, id.as_bytes(), &bytes, None)?;
                state.embeddings += 1;
                self.metrics.record_out(CAPSULE_EMBEDDINGS, 1);
            }
        }
        self.sender.flush()
    }
}

/// Makes capsules durable — upserted into the store and acknowledged by the broker — and holds
/// the dataflow's progress at each capsule time until they are. A probe on the output therefore
/// reads, on every worker of every process, the frontier below which *all* workers' capsules are
/// durable: the global durable watermark. The output carries the written capsules' vectors, at
/// their time, for [`super::kafka_events::durable_vectors`].
fn durable_capsules<'scope>(
    capsules: StreamVec<'scope, EventTime, Capsule>,
    mut sink: DurableSink,
) -> StreamVec<'scope, EventTime, CapsuleVector> {
    capsules.unary_frontier::<CapacityContainerBuilder<Vec<CapsuleVector>>, _, _, _>(
        Pipeline,
        "DurableCapsules",
        move |_cap, _info| {
            let mut held = HeldBatches::default();
            move |(input, frontier), output| {
                input.for_each(|cap, data| held.hold(&cap, data));
                // Times the frontier has passed: no more capsules can arrive there.
                let (ready, caps) = held.take_complete(|t| !frontier.less_equal(t));
                if !ready.is_empty() && sink.write(&ready) {
                    for (cap, range) in &caps {
                        let mut session = output.session(cap);
                        for c in &ready[range.clone()] {
                            if let Some(v) = &c.embedding {
                                session.give((c.capsule_id(), v.clone()));
                            }
                        }
                    }
                }
                drop(caps); // durable now: let the frontier pass
            }
        },
    )
}

/// Clears the sink's `enabled` flag when the worker's closure returns, whatever the path.
struct DisableOnDrop(Rc<Cell<bool>>);

impl Drop for DisableOnDrop {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Consumer lag for `/metrics` (`high watermark - next offset` per partition), sampled on a
/// thread with its own client: a watermark request is a broker round trip per partition, which
/// takes seconds on a busy broker and must not stall consumption. Every 5 s, and every second
/// while a partition has no figure yet (a request that timed out is retried soon).
struct LagSampler {
    next: Arc<std::sync::Mutex<HashMap<i32, i64>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LagSampler {
    fn start(
        conn: &super::kafka::KafkaConnArgs,
        topic: &str,
        partitions: &[i32],
        start: &HashMap<i32, Option<i64>>,
        metrics: Arc<RunnerMetrics>,
    ) -> anyhow::Result<Self> {
        let client: BaseConsumer<QuietContext> =
            conn.client_config()?.create_with_context(QuietContext).context("creating the lag client")?;
        let next: Arc<std::sync::Mutex<HashMap<i32, i64>>> =
            Arc::new(std::sync::Mutex::new(start.iter().filter_map(|(p, o)| o.map(|o| (*p, o))).collect()));
        let stop = Arc::new(AtomicBool::new(false));
        let (topic, partitions, shared, halt) = (topic.to_string(), partitions.to_vec(), next.clone(), stop.clone());
        let thread = std::thread::Builder::new().name("kafka-lag".into()).spawn(move || {
            let mut last: Option<Instant> = None;
            let mut known = 0;
            while !halt.load(Ordering::Relaxed) {
                let due = last.is_none_or(|t| {
                    t.elapsed() >= Duration::from_secs(5)
                        || (known < partitions.len() && t.elapsed() >= Duration::from_secs(1))
                });
                if due {
                    known = 0;
                    for p in &partitions {
                        if halt.load(Ordering::Relaxed) {
                            break;
                        }
                        match client.fetch_watermarks(&topic, *p, Duration::from_secs(1)) {
                            Ok((low, high)) => {
                                let at = shared.lock().ok().and_then(|m| m.get(p).copied()).unwrap_or(low);
                                metrics.set_lag(&topic, *p, high - at);
                                known += 1;
                            }
                            Err(e) => tracing::debug!(partition = p, "consumer lag not refreshed: {e}"),
                        }
                    }
                    last = Some(Instant::now());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })?;
        Ok(LagSampler { next, stop, thread: Some(thread) })
    }

    /// The next offsets this worker will read.
    fn record(&self, next_offset: impl Iterator<Item = (i32, i64)>) {
        if let Ok(mut m) = self.next.lock() {
            m.extend(next_offset);
        }
    }
}

impl Drop for LagSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One timely worker: consumes the input partitions it owns, feeds the shared dataflow, and
/// commits its partitions' offsets once the global durable watermark covers them. What to admit,
/// skip or commit is decided by an [`OffsetBook`]; this function carries it out.
fn run_worker(worker: &mut timely::worker::Worker, sh: &Shared) -> anyhow::Result<Summary> {
    let (index, peers) = (worker.index(), worker.peers());
    let args = &sh.args;
    let runner_metrics = sh.metrics.clone();
    let rt = Rc::new(tokio::runtime::Builder::new_current_thread().enable_all().build()?);
    // One upsert file per worker and partition directory: the window exchange sends each capsule
    // key to exactly one worker, so workers never merge into each other's files.
    let store = sh.store.clone().with_writer_id(index.to_string());
    let base = checkpoint_base(&args.group, &args.topic);
    let ckpt_name = checkpoint_name(&base, index);
    // Every checkpoint holds a *global* durable watermark (see `durable_capsules`), so the highest
    // one written by any worker, of this run's layout or an earlier one, is safe to skip below.
    let mut durable: EventTime = 0;
    let mut events_upto: BTreeMap<i32, i64> = BTreeMap::new();
    for name in rt.block_on(store.list_blobs(&base))? {
        if !is_checkpoint_name(&base, &name) {
            continue;
        }
        if let Some(b) = rt.block_on(store.get_blob(&name))? {
            let c: Checkpoint =
                serde_json::from_slice(&b).with_context(|| format!("reading the Kafka checkpoint {name}"))?;
            durable = durable.max(c.durable_watermark_ms);
            for (p, e) in c.events_upto {
                let at = events_upto.entry(p).or_insert(e);
                *at = (*at).max(e);
            }
        }
    }
    let mine: Vec<i32> = sh.partitions.iter().copied().filter(|p| partition_owner(*p, peers) == index).collect();
    // Every partition's `E`, for the live roll-up's read-back on worker 0 (see `kafka_live`).
    let all_upto = events_upto.clone();
    events_upto.retain(|p, _| mine.contains(p));

    let sender = Rc::new(Sender::new(&args.conn, &args.compression)?);
    let mut cc = args.conn.client_config()?;
    cc.set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("session.timeout.ms", "10000");
    let consumer: BaseConsumer<QuietContext> =
        cc.create_with_context(QuietContext).context("creating Kafka consumer")?;
    // Static assignment of this worker's partitions, offsets from the group: no group
    // membership, so a restart after kill -9 does not wait for the dead member's session.
    let mut start_offsets: HashMap<i32, Option<i64>> = HashMap::new();
    if !mine.is_empty() {
        let mut wanted = TopicPartitionList::new();
        for p in &mine {
            wanted.add_partition(&args.topic, *p);
        }
        let committed =
            consumer.committed_offsets(wanted, Duration::from_secs(30)).context("reading committed offsets")?;
        let mut assignment = TopicPartitionList::new();
        for e in committed.elements() {
            let at = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            start_offsets.insert(e.partition(), if let Offset::Offset(o) = at { Some(o) } else { None });
            assignment.add_partition_offset(&args.topic, e.partition(), at)?;
        }
        consumer.assign(&assignment).context("assigning partitions")?;
    }
    // A partition without a recorded `E` (first run of the group) has nothing in the event
    // tables below where reading starts.
    for p in &mine {
        events_upto.entry(*p).or_insert_with(|| start_offsets.get(p).copied().flatten().unwrap_or(0));
    }
    // Event files of these partitions written after the last checkpoint: their records are at
    // or above `E`, so they are read again and rewritten (see `kafka_events`).
    let prefix = super::kafka_events::file_prefix(&args.group, &args.topic);
    let discarded = rt
        .block_on(store.delete_event_files(|name| {
            super::kafka_events::parse_file_name(&prefix, name)
                .is_some_and(|(p, first)| mine.contains(&p) && first >= events_upto.get(&p).copied().unwrap_or(0))
        }))
        .context("removing event files written after the last checkpoint")?;

    let metrics = runner_metrics.pipeline.clone();
    let probe = ProbeHandle::<EventTime>::new();
    let late: Rc<Cell<u64>> = Rc::default();
    let sink_state: Rc<RefCell<SinkState>> = Rc::default();
    let enabled = Rc::new(Cell::new(true));
    let _disable = DisableOnDrop(enabled.clone());
    let cfg = sh.config.clone();
    let event_state: Rc<RefCell<EventSinkState>> = Rc::default();
    let index_state: Rc<RefCell<IndexState>> = Rc::default();
    // Worker 0 alone keeps and saves the store's vector index (see `kafka_events`).
    let index_writer = match (&cfg.embedding, index) {
        (Some(e), 0) => {
            let mut vectors = rt.block_on(VectorIndex::load(&store, VectorIndexConfig::default()))?;
            vectors.bind_embedder(&e.build().context("building the embedder")?.id())?;
            Some(IndexWriter { index: vectors, store: store.clone(), rt: rt.clone(), state: index_state.clone() })
        }
        _ => None,
    };
    // Worker 0 alone closes the live roll-up's minutes and writes `sli_minutes` (see `kafka_live`).
    let live_state: Rc<RefCell<LiveState>> = Rc::default();
    let live_parts = LiveParts {
        cfg: sh.live.clone(),
        state: live_state.clone(),
        metrics: runner_metrics.clone(),
        enabled: enabled.clone(),
    };
    let (live_writer, seeds) = if index == 0 {
        let kept = |name: &str| {
            super::kafka_events::parse_file_name(&prefix, name)
                .is_some_and(|(p, first)| first < all_upto.get(&p).copied().unwrap_or(0))
        };
        let (w, seeds) = LiveWriter::resume(&live_parts, &store, &prefix, durable, kept, rt.clone())
            .context("resuming the live SLI roll-up")?;
        (Some(w), seeds)
    } else {
        (None, Vec::new())
    };
    let meter = ArrangementMeter::install(worker);
    let built = worker.dataflow::<EventTime, _, _>(|scope| {
        let (input, records) = scope.new_input::<KafkaRecord>();
        // Redaction on the worker each event id hashes to; then the store-bound records go back
        // to the worker of their partition, the admitted ones on to mining and windows.
        let redacted = records.redact_carried(sh.redactor.clone(), metrics.clone());
        durable_events(
            redacted.clone().flat_map(|(r, _)| r.store.then_some(r)),
            EventTables {
                store: store.clone(),
                rt: rt.clone(),
                archive_raw: sh.archive_raw,
                prefix: prefix.clone(),
                state: event_state.clone(),
                interval: sh.commit_interval * super::kafka_events::FLUSH_COMMIT_INTERVALS,
                enabled: enabled.clone(),
            },
        );
        live_slis(redacted.clone().map(|(r, _)| r), live_parts, seeds, durable, live_writer).probe_with(&probe);
        let events =
            redacted.flat_map(|(r, redactions)| r.window.then_some(RedactedEvent { event: r.event, redactions }));
        let mined = events.fingerprint(cfg.miner.clone(), metrics.clone());
        let (capsules, late_events) = mined.window_capsules(cfg.window.clone(), metrics.clone());
        let capsules = match &cfg.embedding {
            Some(e) => capsules.embed(e.clone(), metrics.clone())?,
            None => capsules,
        };
        let sink = DurableSink {
            store: store.clone(),
            rt: rt.clone(),
            sender: sender.clone(),
            codec: capsule_codec()?,
            metrics: runner_metrics.clone(),
            state: sink_state.clone(),
            enabled: enabled.clone(),
        };
        durable_vectors(durable_capsules(capsules, sink), index_writer).probe_with(&probe);
        let lc = late.clone();
        late_events.inspect(move |_| lc.set(lc.get() + 1)).probe_with(&probe);
        Ok::<_, anyhow::Error>(input)
    });
    let mut input = built?;
    if durable > 0 {
        input.advance_to(durable);
    }
    // Heartbeats: every worker broadcasts the newest event time it has read, so a worker whose
    // partitions are all idle (or that owns none) can follow the others instead of stalling them.
    let seen_max: Rc<Cell<EventTime>> = Rc::default();
    let sm = seen_max.clone();
    let mut heartbeat = worker.dataflow::<u64, _, _>(|scope| {
        let (hb, times) = scope.new_input::<EventTime>();
        times.broadcast().inspect(move |t| sm.set(sm.get().max(*t)));
        hb
    });
    let mut heartbeat_sent: EventTime = 0;
    let take_errors =
        |capsules: &Rc<RefCell<SinkState>>, events: &Rc<RefCell<EventSinkState>>, vectors: &Rc<RefCell<IndexState>>| {
            let e = capsules.borrow_mut().error.take();
            e.or_else(|| events.borrow_mut().error.take())
                .or_else(|| vectors.borrow_mut().error.take())
                .or_else(|| live_state.borrow_mut().error.take())
        };

    let codec = telemetry_codec()?;
    let mut s = Summary {
        durable_watermark: durable,
        partitions: mine.clone(),
        event_files_discarded: discarded,
        ..Default::default()
    };
    // `(t, next offsets)`: every record read before the input advanced to `t` was sent at a time
    // below `t`; once the event writer has flushed through `t`, those offsets are in the tables.
    let mut sent_before: std::collections::VecDeque<(EventTime, Vec<(i32, i64)>)> = Default::default();
    let mut book = OffsetBook::new(cfg.window.clone(), cfg.driver.max_out_of_orderness_ms, mine.clone(), durable);
    let idle_exit = args.idle_exit.map(Duration::from_secs_f64);
    let (mut last_any, mut last_step) = (Instant::now(), Instant::now());
    let mut since_step = 0u64;

    // Consumer lag for /metrics, sampled on a thread of its own (see `LagSampler`).
    let lag = match &args.metrics_addr {
        Some(_) if !mine.is_empty() => {
            Some(LagSampler::start(&args.conn, &args.topic, &mine, &start_offsets, runner_metrics.clone())?)
        }
        _ => None,
    };
    // Acknowledges the dead letters, records `new_durable` (a global durable watermark) in this
    // worker's checkpoint, then commits the offsets the book holds for this worker's partitions.
    let commit = |s: &mut Summary,
                  new_durable: EventTime,
                  book: &mut OffsetBook,
                  events_upto: &mut BTreeMap<i32, i64>,
                  sent_before: &mut std::collections::VecDeque<(EventTime, Vec<(i32, i64)>)>|
     -> anyhow::Result<()> {
        sender.flush()?;
        // How far each partition is in the event tables (module docs of `kafka_events`).
        let mut new_upto = events_upto.clone();
        {
            let state = event_state.borrow();
            while sent_before.front().is_some_and(|(t, _)| *t <= state.flushed_through) {
                if let Some((_, offsets)) = sent_before.pop_front() {
                    for (p, next) in offsets {
                        let e = new_upto.entry(p).or_insert(next);
                        *e = (*e).max(next);
                    }
                }
            }
            for (&p, &last) in &state.written {
                let e = new_upto.entry(p).or_insert(last + 1);
                *e = (*e).max(last + 1);
            }
        }
        if new_durable > book.durable() || new_upto != *events_upto {
            let body = serde_json::to_vec(&Checkpoint {
                durable_watermark_ms: new_durable.max(book.durable()),
                events_upto: new_upto.clone(),
            })?;
            rt.block_on(store.put_blob(&ckpt_name, body)).context("writing the Kafka checkpoint")?;
            // Only once the checkpoint holds it: the book then releases the windows it covers.
            if new_durable > book.durable() {
                book.mark_durable(new_durable);
                s.durable_watermark = new_durable;
                runner_metrics.durable_watermark_ms.fetch_max(new_durable, Ordering::Relaxed);
            }
            *events_upto = new_upto;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, at) in book.commit_offsets() {
            // Never past a record that is not yet in the event tables.
            let at = events_upto.get(&p).map_or(at, |e| at.min(*e));
            tpl.add_partition_offset(&args.topic, p, Offset::Offset(at))?;
        }
        if let Some(l) = &lag {
            l.record(book.next_offsets());
        }
        if tpl.count() > 0 {
            // A failed commit (broker restarting, ...) is retried at the next step: committing
            // later only means replaying more after a crash.
            match consumer.commit(&tpl, CommitMode::Sync) {
                Ok(()) => {
                    s.commits += 1;
                    runner_metrics.commits.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!("offset commit failed, retrying at the next step: {e}"),
            }
        }
        Ok(())
    };
    // The global durable watermark: every window closing at or before it is durable on every
    // worker (`None` once the dataflow is complete).
    let global_durable =
        |probe: &ProbeHandle<EventTime>| probe.with_frontier(|f| f.iter().min().map(|t| t.saturating_sub(1)));

    loop {
        match consumer.poll(Duration::from_millis(if mine.is_empty() { 5 } else { 50 })) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => book.end_of_partition(p),
            Some(Err(e)) => tracing::warn!("kafka: {e}"),
            Some(Ok(msg)) => {
                let (p, off) = (msg.partition(), msg.offset());
                if book.read(p, off) == Read::Duplicate {
                    continue; // already seen in this process
                }
                last_any = Instant::now();
                runner_metrics.record_in(msg.topic(), 1);
                let payload = msg.payload().unwrap_or(&[]);
                match classify(&codec, payload, args.max_message_bytes) {
                    Err(r) => {
                        let origin = format!("{}/{}/{}", msg.topic(), p, off);
                        tracing::warn!(origin = %origin, reason = r.code, "dead letter: {}", r.detail);
                        let reason = format!("{}: {}", r.code, r.detail);
                        let headers = OwnedHeaders::new()
                            .insert(Header { key: "slo.reason", value: Some(reason.as_str()) })
                            .insert(Header { key: "slo.origin", value: Some(origin.as_str()) });
                        sender.send(DEAD_LETTER, msg.key().unwrap_or(&[]), payload, Some(headers))?;
                        *s.dead_letters.entry(r.code).or_default() += 1;
                        runner_metrics.dead_letter(r.code);
                        runner_metrics.record_out(DEAD_LETTER, 1);
                    }
                    Ok(event) => {
                        let window = match book.admit(p, off, event.timestamp_ms) {
                            Admission::SkipDurable => {
                                s.replay_skipped += 1; // already in a durable capsule
                                false
                            }
                            Admission::Late => {
                                s.late += 1; // its window has closed
                                false
                            }
                            Admission::Admit { .. } => {
                                s.events += 1;
                                since_step += 1;
                                true
                            }
                        };
                        // Written to the event tables unless a checkpoint says it is there.
                        let store = off >= events_upto.get(&p).copied().unwrap_or(0);
                        if window || store {
                            input.send(KafkaRecord { event, partition: p, offset: off, window, store });
                        }
                    }
                }
            }
        }
        sender.poll();
        let stopping = sh.stop.load(Ordering::Relaxed);
        if since_step >= args.commit_events || last_step.elapsed() >= sh.commit_interval || stopping {
            // Event-time watermark (see `OffsetBook::advance_watermark`): partitions read to
            // their end are left out, one with pending data holds it back however long the
            // broker takes to serve it (tansu serves one partition's backlog at a time), and a
            // worker with every partition idle follows the newest event time any worker has read.
            if let Some(w) = book.advance_watermark(seen_max.get()) {
                input.advance_to(w);
                sent_before.push_back((w, book.next_offsets().collect()));
            }
            let newest = book.newest();
            if newest > heartbeat_sent {
                heartbeat.send(newest);
                heartbeat.flush();
                heartbeat_sent = newest;
            }
            // Let the dataflow close and write what the watermark closed, for a bounded time:
            // with several workers the global frontier also waits for the others. A stopping
            // worker waits for all of it (bounded by the producer's own deadline), so what its
            // watermark closed is durable and committed before it exits.
            let wait = if stopping { FLUSH_DEADLINE } else { sh.commit_interval.max(Duration::from_millis(200)) };
            let budget = Instant::now() + wait;
            while probe.less_than(input.time()) && Instant::now() < budget && sink_state.borrow().error.is_none() {
                // Parks (woken by other workers' messages) rather than spinning while they catch up.
                worker.step_or_park(Some(Duration::from_millis(5)));
            }
            if let Some(e) = take_errors(&sink_state, &event_state, &index_state) {
                return Err(e);
            }
            if let Some(m) = &meter {
                runner_metrics.set_arranged(index, m.records());
            }
            let new_durable = global_durable(&probe).unwrap_or(book.watermark()).max(book.durable());
            commit(&mut s, new_durable, &mut book, &mut events_upto, &mut sent_before)?;
            tracing::info!(
                worker = index,
                events = s.events,
                watermark = book.watermark(),
                durable = book.durable(),
                partitions_seen = book.partitions_with_events(),
                "commit step"
            );
            since_step = 0;
            last_step = Instant::now();
            if stopping {
                // Open windows stay open: their offsets are held, a restart replays them.
                tracing::info!(durable = book.durable(), "stopping on signal after a durable commit");
                s.stopped_by_signal = true;
                break;
            }
        } else {
            worker.step();
            if let Some(e) = take_errors(&sink_state, &event_state, &index_state) {
                return Err(e);
            }
        }
        // Idle = no record for SECS *and* every partition here read to its end (the first fetch
        // of a large backlog can take seconds); a minute more of silence ends it regardless.
        let caught_up = book.caught_up();
        if idle_exit.is_some_and(|d| {
            let idle = last_any.elapsed();
            (caught_up && idle >= d) || idle >= d + Duration::from_secs(60)
        }) {
            // End of stream: close every window, write it, and move `D` past all of them (once
            // every worker has reached its end too).
            let final_durable = book.end_of_stream_durable();
            sent_before.push_back((EventTime::MAX, book.next_offsets().collect()));
            drop(input);
            while !probe.done() || event_state.borrow().flushed_through < EventTime::MAX {
                worker.step_or_park(Some(Duration::from_millis(5)));
                if let Some(e) = take_errors(&sink_state, &event_state, &index_state) {
                    return Err(e);
                }
            }
            commit(&mut s, final_durable, &mut book, &mut events_upto, &mut sent_before)?;
            break;
        }
    }
    s.started_from = book.started_from();
    let state = sink_state.borrow();
    s.capsules = state.capsules;
    s.capsule_events = state.capsule_events;
    s.embeddings = state.embeddings;
    s.events_stored = event_state.borrow().events;
    s.event_files = event_state.borrow().files;
    s.vectors_indexed = index_state.borrow().vectors;
    let live = live_state.borrow();
    (s.live_minutes, s.live_sli_rows, s.live_sli_files) = (live.minutes_closed, live.sli_rows, live.sli_files);
    (s.live_late, s.live_seeded) = (live.late_spans, live.seeded_spans);
    s.late += late.get();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_rejects_bad_records_with_precise_codes() {
        let codec = telemetry_codec().unwrap();
        let good = TelemetryEvent::log("e1", "api", 1_000, None, "XXXXXXXX");
        let bytes = codec.encode(&good).unwrap();
        assert_eq!(classify(&codec, &bytes, 1 << 20).unwrap(), good);
        assert_eq!(classify(&codec, &bytes, 8).unwrap_err().code, "oversized");
        assert_eq!(classify(&codec, b"garbage", 1 << 20).unwrap_err().code, "unknown-schema");
        assert_eq!(classify(&codec, br#"{"service":"api"}"#, 1 << 20).unwrap_err().code, "unknown-schema");
        let mut wrong = bytes.clone();
        wrong[5] ^= 0xff;
        assert_eq!(classify(&codec, &wrong, 1 << 20).unwrap_err().code, "unknown-schema");
        let truncated = &bytes[..bytes.len() - 3];
        assert_eq!(classify(&codec, truncated, 1 << 20).unwrap_err().code, "malformed-avro");
        let mut bad_utf8 = bytes.clone();
        let at = bad_utf8.windows(8).position(|w| w == b"XXXXXXXX").unwrap();
        bad_utf8[at..at + 4].copy_from_slice(&[0xff, 0xfe, 0xff, 0xfe]);
        assert_eq!(classify(&codec, &bad_utf8, 1 << 20).unwrap_err().code, "invalid-utf8");
        let no_ts = codec.encode(&TelemetryEvent::log("e2", "api", 0, None, "x")).unwrap();
        assert_eq!(classify(&codec, &no_ts, 1 << 20).unwrap_err().code, "missing-timestamp");
    }
}
