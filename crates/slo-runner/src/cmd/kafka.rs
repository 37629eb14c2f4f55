//! Shared Kafka plumbing for the runner: client configuration (with pass-through settings for
//! TLS/SASL and anything else librdkafka accepts), topic names, a producer that counts failed
//! deliveries, and `slo-runner kafka-topics --create`.
//!
//! Only the runner links rdkafka; the libraries stay free of Kafka.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};

/// Input topic: Avro single-object `TelemetryEvent`, keyed by service.
pub const RAW_TELEMETRY: &str = "raw-telemetry";
/// Output topic: Avro single-object `CapsuleEvent`, keyed by capsule id.
pub const CAPSULE_EVENTS: &str = "capsule-events";
/// Output topic: capsule embeddings (little-endian f32s), keyed by capsule id.
pub const CAPSULE_EMBEDDINGS: &str = "capsule-embeddings";
/// Output topic: rejected input records, original bytes, reason in headers.
pub const DEAD_LETTER: &str = "dead-letter";

/// Connection flags shared by every Kafka subcommand.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KafkaConnArgs {
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
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
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

/// Counts deliveries that failed after librdkafka's retries, keeping the first error.
#[derive(Default)]
pub struct CountingContext {
    /// Messages acknowledged by the broker.
    pub delivered: AtomicU64,
    /// Messages that could not be delivered.
    pub failed: AtomicU64,
    /// The first delivery error seen.
    pub first_error: Mutex<Option<String>>,
}

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

/// Client context of the consumer: logs client errors through `tracing`, except the
/// end-of-partition notices that `enable.partition.eof` produces (they drive idle detection).
pub struct QuietContext;

impl ClientContext for QuietContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::warn!("kafka client: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for QuietContext {}

/// An idempotent producer (`enable.idempotence=true`, `acks=all`) with lz4 or zstd compression.
/// No transactions: tansu 0.6.0 does not support them and the runner does not need them.
pub struct Sender {
    producer: BaseProducer<CountingContext>,
}

impl Sender {
    /// Creates the producer. `compression` must be `lz4`, `zstd` or `none`.
    pub fn new(conn: &KafkaConnArgs, compression: &str) -> anyhow::Result<Self> {
        if !matches!(compression, "lz4" | "zstd" | "none") {
            bail!("compression {compression:?}: use lz4, zstd or none (snappy is not supported by the test broker)");
        }
        let mut cfg = conn.client_config()?;
        cfg.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", compression)
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            .set("queue.buffering.max.messages", "200000");
        let producer: BaseProducer<CountingContext> =
            cfg.create_with_context(CountingContext::default()).context("creating Kafka producer")?;
        Ok(Sender { producer })
    }

    /// Queues one record, waiting while the local queue is full.
    pub fn send(&self, topic: &str, key: &[u8], payload: &[u8], headers: Option<rdkafka::message::OwnedHeaders>) -> anyhow::Result<()> {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => bail!("producing to {topic}: {e}"),
            }
        }
    }

    /// Serves delivery callbacks without blocking.
    pub fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// Waits until every queued record is acknowledged; fails if any delivery failed.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.producer.flush(Duration::from_secs(60)).context("flushing Kafka producer")?;
        let ctx = self.producer.context();
        if ctx.failed.load(Ordering::Relaxed) > 0 {
            let first = ctx.first_error.lock().ok().and_then(|e| e.clone()).unwrap_or_default();
            bail!("{} Kafka deliveries failed (first: {first})", ctx.failed.load(Ordering::Relaxed));
        }
        Ok(())
    }

    /// Records acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.producer.context().delivered.load(Ordering::Relaxed)
    }
}

/// Arguments of `kafka-topics`.
#[derive(clap::Args)]
pub struct TopicsArgs {
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
pub fn topics(args: TopicsArgs) -> anyhow::Result<()> {
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
pub fn create_topics(conn: &KafkaConnArgs, raw: &str, partitions: i32) -> anyhow::Result<Vec<(String, String)>> {
    let admin: AdminClient<DefaultClientContext> = conn.client_config()?.create().context("creating Kafka admin client")?;
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
