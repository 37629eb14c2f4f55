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
//! partition cannot stall windows), run the dataflow until it has emitted every window closed by
//! it, upsert those capsules (durable when the call returns), produce their capsule events and
//! wait for the broker to acknowledge them (and the dead letters), then write `D`, then commit the
//! offsets. A crash between any two steps replays more, never less.
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
//! them, so later records for those windows are skipped. One runner per group (it assigns itself
//! every partition; offsets live in the group) and one timely worker in this first cut.
//!
//! Dead letters keep the original bytes (so they can be fixed and replayed): `dead-letter` holds
//! the same data, PII included, as `raw-telemetry` and needs the same access control. Logs and the
//! summary carry only the reason code and origin, never content.

use std::cell::RefCell;
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
use slo_dataflow::avro::{capsule_codec, telemetry_codec, AvroCodec, AvroCodecError};
use slo_dataflow::event::{Capsule, EventTime, TelemetryEvent};
use slo_operators::embed::{Embed, EmbedError};
use slo_operators::fingerprint::Fingerprinting;
use slo_operators::metrics::PipelineMetrics;
use slo_operators::pipeline::PipelineConfig;
use slo_operators::redact::{Redact, Redactor};
use slo_operators::window::WindowCapsules;
use slo_storage::Store;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Inspect, Probe};
use timely::dataflow::ProbeHandle;

use super::metrics_http::{serve, RunnerMetrics};
use super::kafka::{KafkaConnArgs, QuietContext, Sender, CAPSULE_EMBEDDINGS, CAPSULE_EVENTS, DEAD_LETTER, RAW_TELEMETRY};
use super::run::parse_duration_ms;

/// Kafka flags of `run` (active with `--kafka`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KafkaRunArgs {
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
    /// Compression of the output topics: lz4, zstd or none [default: lz4].
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
pub struct KafkaFileConfig {
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
    /// Output compression: lz4, zstd or none.
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
pub struct Rejection {
    /// `oversized`, `unknown-schema`, `malformed-avro`, `invalid-utf8` or `missing-timestamp`.
    pub code: &'static str,
    /// Details (never the record's content).
    pub detail: String,
}

/// Decodes and validates one `raw-telemetry` record.
pub fn classify(codec: &AvroCodec<TelemetryEvent>, payload: &[u8], max_bytes: usize) -> Result<TelemetryEvent, Rejection> {
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
}

/// What a Kafka run did.
#[derive(Default, Debug)]
struct Summary {
    events: u64,
    dead_letters: BTreeMap<&'static str, u64>,
    late: u64,
    replay_skipped: u64,
    capsules: u64,
    capsule_events: u64,
    embeddings: u64,
    commits: u64,
    durable_watermark: EventTime,
    started_from: BTreeMap<i32, i64>,
    stopped_by_signal: bool,
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// Runs the pipeline on Kafka until `--idle-exit` (or forever).
pub fn run(args: KafkaRunArgs, file: KafkaFileConfig, config: PipelineConfig, store: Option<String>) -> anyhow::Result<()> {
    let args = Settings::merge(args, file);
    let Some(store_loc) = store else {
        bail!("--kafka needs --store DIR|URL: capsules must be durable there before offsets are committed");
    };
    let store = Store::open(&store_loc)?;
    let redactor = Redactor::new(config.redaction.clone())?;
    if let Some(e) = &config.embedding {
        e.validate()?;
    }
    let commit_interval = Duration::from_millis(parse_duration_ms(&args.commit_interval)?);
    let sender = Sender::new(&args.conn, &args.compression)?;
    let mut cc = args.conn.client_config()?;
    cc.set("group.id", &args.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .set("session.timeout.ms", "10000");
    let consumer: BaseConsumer<QuietContext> = cc.create_with_context(QuietContext).context("creating Kafka consumer")?;
    // Static assignment of every partition, offsets from the group: no group membership, so a
    // restart after kill -9 does not wait for the dead member's session to time out.
    let metadata = consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(30)).context("reading topic metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == args.topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {} has no partitions (create it with `slo-runner kafka-topics --create`)", args.topic);
    }
    let mut wanted = TopicPartitionList::new();
    for p in &partitions {
        wanted.add_partition(&args.topic, *p);
    }
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(30)).context("reading committed offsets")?;
    let mut assignment = TopicPartitionList::new();
    // Where each partition starts (None: from its beginning), for the lag metric.
    let mut start_offsets: HashMap<i32, Option<i64>> = HashMap::new();
    for e in committed.elements() {
        let at = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        start_offsets.insert(e.partition(), if let Offset::Offset(o) = at { Some(o) } else { None });
        assignment.add_partition_offset(&args.topic, e.partition(), at)?;
    }
    consumer.assign(&assignment).context("assigning partitions")?;
    let runner_metrics = RunnerMetrics::new(PipelineMetrics::new());
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
    let rm = runner_metrics.clone();
    let summary = timely::execute_directly(move |worker| -> anyhow::Result<Summary> {
        let runner_metrics = rm;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let ckpt_name = format!("kafka-checkpoint-{}-{}.json", sanitize(&args.group), sanitize(&args.topic));
        let ckpt: Checkpoint = match rt.block_on(store.get_blob(&ckpt_name))? {
            Some(b) => serde_json::from_slice(&b).context("reading the Kafka checkpoint")?,
            None => Checkpoint::default(),
        };
        let mut durable = ckpt.durable_watermark_ms;
        let metrics = runner_metrics.pipeline.clone();
        let probe = ProbeHandle::<EventTime>::new();
        let collected: Rc<RefCell<Vec<Capsule>>> = Rc::default();
        let late: Rc<RefCell<u64>> = Rc::default();
        let cfg = config.clone();
        let (col, lc, m) = (collected.clone(), late.clone(), metrics.clone());
        let built = worker.dataflow::<EventTime, _, _>(|scope| {
            let (input, events) = scope.new_input::<TelemetryEvent>();
            let mined = events.redact(redactor.clone(), m.clone()).fingerprint(cfg.miner.clone(), m.clone());
            let (capsules, late_events) = mined.window_capsules(cfg.window.clone(), m.clone());
            let capsules = match &cfg.embedding {
                Some(e) => capsules.embed(e.clone(), m.clone())?,
                None => capsules,
            };
            capsules.inspect(move |c| col.borrow_mut().push(c.clone())).probe_with(&probe);
            late_events.inspect(move |_| *lc.borrow_mut() += 1).probe_with(&probe);
            Ok::<_, EmbedError>(input)
        });
        let mut input = built?;
        if durable > 0 {
            input.advance_to(durable);
        }
        let codec = telemetry_codec()?;
        let capsule_codec = capsule_codec()?;
        let mut s = Summary { durable_watermark: durable, ..Default::default() };
        // Per-partition state.
        let mut max_ts: HashMap<i32, EventTime> = HashMap::new();
        let mut eof: HashMap<i32, bool> = HashMap::new();
        let mut next_offset: HashMap<i32, i64> = HashMap::new();
        // partition → (window close time → first offset of that window's data in the partition)
        let mut open_offsets: HashMap<i32, BTreeMap<EventTime, i64>> = HashMap::new();
        let size = cfg.window.size_ms.max(1);
        let ooo = cfg.driver.max_out_of_orderness_ms;
        let idle_exit = args.idle_exit.map(Duration::from_secs_f64);
        let (mut last_any, mut last_step) = (Instant::now(), Instant::now());
        let mut since_step = 0u64;
        let mut joined = false;
        let mut watermark: EventTime = durable;

        let lag_every = args.metrics_addr.as_ref().map(|_| Duration::from_secs(5));
        let last_lag: std::cell::Cell<Option<Instant>> = std::cell::Cell::new(None);
        let lag_known = std::cell::Cell::new(0usize);
        // Writes the collected capsules, waits for the broker, records `new_durable`, commits.
        let commit = |s: &mut Summary,
                          new_durable: EventTime,
                          open_offsets: &mut HashMap<i32, BTreeMap<EventTime, i64>>,
                          next_offset: &HashMap<i32, i64>,
                          durable: &mut EventTime|
         -> anyhow::Result<()> {
            let capsules: Vec<Capsule> = std::mem::take(&mut *collected.borrow_mut());
            if !capsules.is_empty() {
                rt.block_on(store.write_capsules(&capsules)).context("writing capsules to the store")?;
                s.capsules += capsules.len() as u64;
                for c in &capsules {
                    let id = c.capsule_id();
                    sender.send(CAPSULE_EVENTS, id.as_bytes(), &capsule_codec.encode(c)?, None)?;
                    s.capsule_events += 1;
                    runner_metrics.record_out(CAPSULE_EVENTS, 1);
                    if let Some(v) = &c.embedding {
                        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                        sender.send(CAPSULE_EMBEDDINGS, id.as_bytes(), &bytes, None)?;
                        s.embeddings += 1;
                        runner_metrics.record_out(CAPSULE_EMBEDDINGS, 1);
                    }
                }
            }
            sender.flush()?;
            if new_durable > *durable {
                let body = serde_json::to_vec(&Checkpoint { durable_watermark_ms: new_durable })?;
                rt.block_on(store.put_blob(&ckpt_name, body)).context("writing the Kafka checkpoint")?;
                *durable = new_durable;
                s.durable_watermark = new_durable;
                runner_metrics.durable_watermark_ms.store(new_durable, Ordering::Relaxed);
            }
            // Also as soon as a partition without a lag figure has been read from.
            let refresh_lag = lag_every.is_some_and(|every| {
                lag_known.get() < next_offset.len() || last_lag.get().is_none_or(|t: Instant| t.elapsed() >= every)
            });
            if refresh_lag {
                last_lag.set(Some(Instant::now()));
            }
            let mut tpl = TopicPartitionList::new();
            for (p, next) in next_offset {
                let windows = open_offsets.entry(*p).or_default();
                while windows.first_key_value().is_some_and(|(close, _)| *close <= *durable) {
                    windows.pop_first();
                }
                let at = windows.values().min().copied().unwrap_or(*next);
                tpl.add_partition_offset(&args.topic, *p, Offset::Offset(at))?;

            }
            if refresh_lag {
                // A broker round trip per partition: only when /metrics is served, every 5 s.
                for p in &partitions {
                    if let Ok((low, high)) = consumer.fetch_watermarks(&args.topic, *p, Duration::from_millis(500)) {
                        let next = next_offset.get(p).copied().or(start_offsets.get(p).copied().flatten()).unwrap_or(low);
                        runner_metrics.set_lag(&args.topic, *p, high - next);
                    }
                }
                lag_known.set(next_offset.len());
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

        loop {
            match consumer.poll(Duration::from_millis(50)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    eof.insert(p, true);
                }
                Some(Err(e)) => tracing::warn!("kafka: {e}"),
                Some(Ok(msg)) => {
                    let (p, off) = (msg.partition(), msg.offset());
                    if next_offset.get(&p).is_some_and(|next| off < *next) {
                        continue; // already seen in this process
                    }
                    last_any = Instant::now();
                    eof.insert(p, false);
                    next_offset.entry(p).or_insert_with(|| {
                        s.started_from.insert(p, off);
                        off
                    });
                    next_offset.insert(p, off + 1);
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
                            let start = event.timestamp_ms - event.timestamp_ms % size;
                            let close = cfg.window.close_time(start);
                            if close <= durable {
                                s.replay_skipped += 1; // already in a durable capsule
                            } else if close <= watermark {
                                s.late += 1; // its window has closed
                            } else {
                                let t = max_ts.entry(p).or_default();
                                *t = (*t).max(event.timestamp_ms);
                                open_offsets.entry(p).or_default().entry(close).or_insert(off);
                                input.send(event);
                                s.events += 1;
                                since_step += 1;
                            }
                        }
                    }
                }
            }
            sender.poll();
            let stopping = stop.load(Ordering::Relaxed);
            if since_step >= args.commit_events || last_step.elapsed() >= commit_interval || stopping {
                // Event-time watermark: minimum over the assigned, non-idle partitions.
                let assigned: Vec<i32> = consumer
                    .assignment()
                    .map(|a| a.elements().iter().filter(|e| e.topic() == args.topic).map(|e| e.partition()).collect())
                    .unwrap_or_default();
                let mut low: Option<EventTime> = None;
                let mut blocked = false;
                for p in &assigned {
                    // A partition is idle when the consumer has reached its end (EOF); one with
                    // pending data holds the watermark back, however long the broker takes to
                    // serve it (tansu serves one partition's backlog at a time).
                    if eof.get(p).copied().unwrap_or(false) {
                        continue;
                    }
                    match max_ts.get(p) {
                        Some(t) => low = Some(low.map_or(*t, |l| l.min(*t))),
                        None => blocked = true,
                    }
                }
                let high = if blocked || assigned.is_empty() {
                    None
                } else {
                    low.or_else(|| max_ts.values().max().copied())
                };
                if let Some(h) = high {
                    let w = h.saturating_sub(ooo);
                    if w > watermark {
                        watermark = w;
                        input.advance_to(w);
                    }
                }
                while probe.less_than(input.time()) {
                    worker.step();
                }
                // Capsules of windows closing before the input time are all out: durable to `time - 1`.
                let new_durable = watermark.saturating_sub(1).max(durable);
                commit(&mut s, new_durable, &mut open_offsets, &next_offset, &mut durable)?;
                tracing::info!(events = s.events, watermark, durable, capsules = s.capsules, partitions_seen = max_ts.len(), "commit step");
                since_step = 0;
                last_step = Instant::now();
                if stopping {
                    // Open windows stay open: their offsets are held, a restart replays them.
                    tracing::info!(durable, "stopping on signal after a durable commit");
                    s.stopped_by_signal = true;
                    s.late += *late.borrow();
                    return Ok(s);
                }
            } else {
                worker.step();
            }
            if !joined {
                // The idle clock starts once the group has assigned partitions (joining takes a
                // few seconds); give up waiting after a minute.
                joined = consumer.assignment().map(|a| a.count() > 0).unwrap_or(false);
                if joined || started.elapsed() < Duration::from_secs(60) {
                    last_any = Instant::now();
                }
            }
            // Idle = no record for SECS *and* every partition read to its end (the first fetch of
            // a large backlog can take seconds); a minute more of silence ends it regardless.
            let caught_up = !partitions.is_empty() && partitions.iter().all(|p| eof.get(p).copied().unwrap_or(false));
            if idle_exit.is_some_and(|d| {
                let idle = last_any.elapsed();
                (caught_up && idle >= d) || idle >= d + Duration::from_secs(60)
            }) {
                break;
            }
        }
        // End of stream: close every window, write it, and move `D` past all of them.
        let final_durable = open_offsets
            .values()
            .filter_map(|w| w.last_key_value().map(|(c, _)| *c))
            .max()
            .unwrap_or(watermark)
            .max(durable);
        drop(input);
        while !probe.done() {
            worker.step();
        }
        commit(&mut s, final_durable, &mut open_offsets, &next_offset, &mut durable)?;
        s.late += *late.borrow();
        Ok(s)
    })?;
    println!("events:          {}", summary.events);
    let dl: u64 = summary.dead_letters.values().sum();
    let by: Vec<String> = summary.dead_letters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("dead letters:    {dl}{}", if by.is_empty() { String::new() } else { format!(" ({})", by.join(" ")) });
    println!("late events:     {}", summary.late);
    println!("replay skipped:  {} (already durable before a restart)", summary.replay_skipped);
    println!("capsules:        {}", summary.capsules);
    println!("capsule events:  {}", summary.capsule_events);
    println!("embeddings:      {}", summary.embeddings);
    println!("commits:         {}", summary.commits);
    println!("durable watermark: {}", summary.durable_watermark);
    let from: Vec<String> = summary.started_from.iter().map(|(p, o)| format!("{p}@{o}")).collect();
    println!("started from:    {}", from.join(" "));
    println!("elapsed:         {:.2?}", started.elapsed());
    if summary.stopped_by_signal {
        println!("stopped:         by signal, after committing what is durable (open windows replay on restart)");
    }
    println!("store:           {store_loc}");
    Ok(())
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
