//! Shared Kafka plumbing for the runner: client configuration (with pass-through settings for
//! TLS/SASL and anything else librdkafka accepts), topic names, a producer that re-sends failed
//! deliveries, and `slo-runner kafka-topics --create`.
//!
//! Only the runner links rdkafka; the libraries stay free of Kafka.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

/// Input topic: Avro single-object `TelemetryEvent`, keyed by service.
pub(crate) const RAW_TELEMETRY: &str = "raw-telemetry";
/// Output topic: Avro single-object `CapsuleEvent`, keyed by capsule id.
pub(crate) const CAPSULE_EVENTS: &str = "capsule-events";
/// Output topic: capsule embeddings (little-endian f32s), keyed by capsule id.
pub(crate) const CAPSULE_EMBEDDINGS: &str = "capsule-embeddings";
/// Output topic: rejected input records, original bytes, reason in headers.
pub(crate) const DEAD_LETTER: &str = "dead-letter";

/// Connection flags shared by every Kafka subcommand.
#[derive(clap::Args, Clone, Debug, Default)]
pub(crate) struct KafkaConnArgs {
    /// Bootstrap brokers (`host:port[,host:port]`).
    #[arg(long, env = "SLO_SCOUT_KAFKA_BROKERS")]
    pub brokers: Option<String>,
    /// Extra librdkafka client settings, repeatable: `--kafka-option security.protocol=SASL_SSL
    /// --kafka-option sasl.mechanism=PLAIN ...` (TLS, SASL, timeouts: anything librdkafka takes).
    #[arg(long = "kafka-option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

impl KafkaConnArgs {
    /// A client config with the brokers and pass-through options applied.
    pub(crate) fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let Some(brokers) = &self.brokers else {
            bail!("no Kafka brokers: pass --brokers or set SLO_SCOUT_KAFKA_BROKERS");
        };
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", brokers);
        for opt in &self.options {
            let Some((k, v)) = opt.split_once('=') else {
                bail!("--kafka-option {opt:?}: expected KEY=VALUE");
            };
            cfg.set(k.trim(), v.trim());
        }
        Ok(cfg)
    }
}

/// A record whose delivery failed, kept to be sent again.
struct FailedRecord {
    topic: String,
    key: Vec<u8>,
    payload: Vec<u8>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Delivery outcomes, shared by every producer a [`Sender`] creates (it replaces a producer that
/// hit a fatal error).
#[derive(Default)]
pub(crate) struct DeliveryStats {
    /// Messages acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Deliveries that failed after librdkafka's own retries (each is sent again).
    pub failed: AtomicU64,
    /// The first delivery error seen.
    pub first_error: Mutex<Option<String>>,
    retry: Mutex<Vec<FailedRecord>>,
}

/// Producer context: counts deliveries and keeps failed records for [`Sender::flush`] to resend.
pub(crate) struct CountingContext(Arc<DeliveryStats>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, msg)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.0.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
                let headers = msg
                    .headers()
                    .map(|h| h.iter().map(|x| (x.key.to_owned(), x.value.map(<[u8]>::to_vec))).collect())
                    .unwrap_or_default();
                let record = FailedRecord {
                    topic: msg.topic().to_owned(),
                    key: msg.key().unwrap_or_default().to_vec(),
                    payload: msg.payload().unwrap_or_default().to_vec(),
                    headers,
                };
                if let Ok(mut retry) = self.0.retry.lock() {
                    retry.push(record);
                }
            }
        }
    }
}

/// Client context of the consumer: logs client errors through `tracing`, except the
/// end-of-partition notices that `enable.partition.eof` produces (they drive idle detection).
pub(crate) struct QuietContext;

impl ClientContext for QuietContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::warn!("kafka client: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for QuietContext {}

/// An idempotent producer (`enable.idempotence=true`, `acks=all`) with lz4 compression or none.
/// No transactions: tansu 0.6.0 does not support them and the runner does not need them.
///
/// Deliveries that fail (a broker restarting, a leader moving) are sent again by [`flush`]
/// until they are acknowledged or [`FLUSH_DEADLINE`] passes; a producer in a fatal state, or
/// whose re-sends fail again (its idempotent session lost by a restarted broker), is replaced by
/// a fresh one first. Re-sent records
/// may duplicate on the topic: the output topics are at-least-once and keyed for de-duplication.
///
/// [`flush`]: Sender::flush
pub(crate) struct Sender {
    config: ClientConfig,
    stats: Arc<DeliveryStats>,
    producer: RwLock<BaseProducer<CountingContext>>,
}

/// How long [`Sender::flush`] keeps re-sending failed deliveries before it gives up.
pub(crate) const FLUSH_DEADLINE: Duration = Duration::from_secs(300);

impl Sender {
    /// Creates the producer. `compression` must be `lz4` or `none`.
    pub(crate) fn new(conn: &KafkaConnArgs, compression: &str) -> anyhow::Result<Self> {
        // The bundled librdkafka is built without libzstd (its zstd feature would rebuild the
        // whole Parquet/DataFusion tree with other zstd-sys features) and snappy does not work
        // with the test broker's storage: say so here rather than as a librdkafka config error.
        if !matches!(compression, "lz4" | "none") {
            bail!("compression {compression:?}: use lz4 or none (this build's librdkafka has no zstd; snappy is not supported by the test broker)");
        }
        // The producer's defaults, then the user's `--kafka-option`s, which win on the same key
        // (linger, batch sizes, ...; idempotence and acks are what the delivery guarantee needs).
        let mut cfg = ClientConfig::new();
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", compression)
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "200000");
        for (k, v) in conn.client_config()?.config_map().iter() {
            cfg.set(*k, *v);
        }
        let stats = Arc::new(DeliveryStats::default());
        let producer = Self::producer(&cfg, &stats)?;
        Ok(Sender { config: cfg, stats, producer: RwLock::new(producer) })
    }

    fn producer(cfg: &ClientConfig, stats: &Arc<DeliveryStats>) -> anyhow::Result<BaseProducer<CountingContext>> {
        cfg.create_with_context(CountingContext(stats.clone())).context("creating Kafka producer")
    }

    /// Queues one record, waiting while the local queue is full.
    pub(crate) fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: Option<rdkafka::message::OwnedHeaders>,
    ) -> anyhow::Result<()> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        let producer = self.producer.read().expect("producer lock");
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => bail!("producing to {topic}: {e}"),
            }
        }
    }

    /// Serves delivery callbacks without blocking.
    pub(crate) fn poll(&self) {
        self.producer.read().expect("producer lock").poll(Duration::ZERO);
    }

    /// Waits until every queued record is acknowledged, re-sending failed ones (with backoff)
    /// until [`FLUSH_DEADLINE`]; fails only if some are still undelivered then.
    pub(crate) fn flush(&self) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + FLUSH_DEADLINE;
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 0u32;
        loop {
            let flushed = self.producer.read().expect("producer lock").flush(Duration::from_secs(30));
            let failed: Vec<FailedRecord> =
                self.stats.retry.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
            if flushed.is_ok() && failed.is_empty() {
                return Ok(());
            }
            let first = self.stats.first_error.lock().ok().and_then(|e| e.clone()).unwrap_or_default();
            if std::time::Instant::now() > deadline {
                bail!(
                    "{} Kafka deliveries still failing after {FLUSH_DEADLINE:?} (first error: {first})",
                    failed.len()
                );
            }
            // A producer in a fatal state, or one whose re-sends failed again (after a broker
            // restart tansu rejects the old idempotent producer session), is replaced: a fresh
            // producer id starts a fresh sequence.
            let fatal = self.producer.read().expect("producer lock").client().fatal_error();
            if fatal.is_some() || attempt > 0 {
                tracing::warn!(?fatal, attempt, "replacing the Kafka producer");
                let fresh = Self::producer(&self.config, &self.stats)?;
                *self.producer.write().expect("producer lock") = fresh;
            }
            attempt += 1;
            tracing::warn!(records = failed.len(), "re-sending after failed deliveries (first error: {first})");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
            for r in failed {
                let mut headers = rdkafka::message::OwnedHeaders::new();
                for (k, v) in &r.headers {
                    headers = headers.insert(rdkafka::message::Header { key: k, value: v.as_deref() });
                }
                let headers = (!r.headers.is_empty()).then_some(headers);
                self.send(&r.topic, &r.key, &r.payload, headers)?;
            }
        }
    }

    /// Records acknowledged so far.
    pub(crate) fn delivered(&self) -> u64 {
        self.stats.delivered.load(Ordering::Relaxed)
    }
}

/// Arguments of `kafka-topics`.
#[derive(clap::Args)]
pub(crate) struct TopicsArgs {
    #[command(flatten)]
    conn: KafkaConnArgs,
    /// Create the runner's topics (existing ones are left alone).
    #[arg(long)]
    create: bool,
    /// Name of the input topic (tests use one per test).
    #[arg(long, default_value = RAW_TELEMETRY)]
    topic: String,
    /// Partitions of the input topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
}

/// Runs `kafka-topics`.
pub(crate) fn topics(args: TopicsArgs) -> anyhow::Result<()> {
    if !args.create {
        bail!("nothing to do: pass --create");
    }
    let created = create_topics(&args.conn, &args.topic, args.partitions)?;
    for (name, status) in created {
        eprintln!("kafka-topics: {name}: {status}");
    }
    Ok(())
}

/// Creates the input topic `raw` (normally `raw-telemetry`, with `partitions`), `capsule-events`,
/// `capsule-embeddings` and `dead-letter`; a topic that already exists is not an error.
pub(crate) fn create_topics(conn: &KafkaConnArgs, raw: &str, partitions: i32) -> anyhow::Result<Vec<(String, String)>> {
    let admin: AdminClient<DefaultClientContext> =
        conn.client_config()?.create().context("creating Kafka admin client")?;
    let specs = [(raw, partitions), (CAPSULE_EVENTS, 1), (CAPSULE_EMBEDDINGS, 1), (DEAD_LETTER, 1)];
    let topics: Vec<NewTopic<'_>> =
        specs.iter().map(|(name, p)| NewTopic::new(name, *p, TopicReplication::Fixed(1))).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = rt.block_on(admin.create_topics(topics.iter(), &opts)).context("creating topics")?;
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok(name) => out.push((name, "created".to_string())),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => out.push((name, "exists".to_string())),
            Err((name, code)) => bail!("creating topic {name}: {code}"),
        }
    }
    Ok(out)
}
