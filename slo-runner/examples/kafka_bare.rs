//! The physical limit beside the runner: a bare rdkafka consumer that reads a topic and decodes
//! nothing, and a bare producer that writes already-encoded records, with the runner's own
//! client settings (idempotent producer, `acks=all`, the same compression and linger). What
//! `run --kafka` and `produce` achieve is reported against these in BENCHMARKS.md
//! (`scripts/kafka-bench.sh` runs them side by side).
//!
//! ```sh
//! eval "$(scripts/kafka-broker.sh /tmp/kafka)"
//! # read a topic from the beginning to its end, every partition, decoding nothing
//! cargo run --release -p slo-runner --example kafka_bare -- consume --topic raw-telemetry
//! # copy a topic's records (read into memory first, untimed) to another topic, timed
//! cargo run --release -p slo-runner --example kafka_bare -- produce --topic raw-telemetry --to raw-copy
//! ```
//!
//! Options: `--brokers B` (default `$SLO_SCOUT_KAFKA_BROKERS`), `--compression lz4|none`
//! (producer, default lz4), `--option KEY=VALUE` (repeatable, any librdkafka setting). Prints one
//! line: `bare-consume records=N bytes=B seconds=S rate=R` (or `bare-produce ...`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The `--option KEY=VALUE` settings, in order.
fn options(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a == "--option" {
            let kv = args.get(i + 1).ok_or("--option needs KEY=VALUE")?;
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("--option {kv:?}: expected KEY=VALUE"))?;
            out.push((k.to_string(), v.to_string()));
        }
    }
    Ok(out)
}

/// The brokers, then the `--option`s.
fn config(args: &[String], options: &[(String, String)]) -> Result<ClientConfig, String> {
    let brokers = arg(args, "--brokers")
        .or_else(|| std::env::var("SLO_SCOUT_KAFKA_BROKERS").ok())
        .ok_or("no brokers: pass --brokers or set SLO_SCOUT_KAFKA_BROKERS")?;
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers);
    for (k, v) in options {
        cfg.set(k, v);
    }
    Ok(cfg)
}

/// Reads every partition of `topic` from the beginning to its end; calls `each` per record.
fn read_all(
    cfg: &ClientConfig,
    topic: &str,
    mut each: impl FnMut(i32, &[u8], &[u8]),
) -> Result<(u64, u64, Duration), String> {
    let mut cfg = cfg.clone();
    cfg.set("group.id", "kafka-bare").set("enable.auto.commit", "false").set("enable.partition.eof", "true");
    let consumer: BaseConsumer = cfg.create().map_err(|e| format!("consumer: {e}"))?;
    let started = Instant::now();
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic {topic} has no partitions"));
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning).map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let mut ended: HashSet<i32> = HashSet::new();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last_record = Instant::now();
    while ended.len() < partitions.len() {
        match consumer.poll(Duration::from_millis(100)) {
            None if last_record.elapsed() > Duration::from_secs(60) => return Err("no progress for 60 s".into()),
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            Some(Err(e)) => eprintln!("kafka: {e}"),
            Some(Ok(m)) => {
                ended.remove(&m.partition());
                records += 1;
                let payload = m.payload().unwrap_or(&[]);
                bytes += payload.len() as u64;
                each(m.partition(), m.key().unwrap_or(&[]), payload);
                last_record = Instant::now();
            }
        }
    }
    Ok((records, bytes, started.elapsed()))
}

fn run(args: &[String]) -> Result<(), String> {
    let options = options(args)?;
    let cfg = config(args, &options)?;
    let topic = arg(args, "--topic").unwrap_or_else(|| "raw-telemetry".into());
    match args.first().map(String::as_str) {
        Some("consume") => {
            let (records, bytes, took) = read_all(&cfg, &topic, |_, _, _| {})?;
            let s = took.as_secs_f64();
            println!("bare-consume records={records} bytes={bytes} seconds={s:.3} rate={:.0}", records as f64 / s);
            Ok(())
        }
        Some("produce") => {
            let to = arg(args, "--to").ok_or("produce needs --to TOPIC")?;
            let mut held: Vec<(i32, Vec<u8>, Vec<u8>)> = Vec::new();
            read_all(&cfg, &topic, |p, k, v| held.push((p, k.to_vec(), v.to_vec())))?;
            let mut pcfg = cfg.clone();
            // The runner's producer settings (`Sender`), so the comparison is like for like.
            pcfg.set("enable.idempotence", "true")
                .set("acks", "all")
                .set("compression.type", arg(args, "--compression").unwrap_or_else(|| "lz4".into()))
                .set("linger.ms", "5")
                .set("batch.num.messages", "10000")
                .set("queue.buffering.max.messages", "200000");
            // The user's options win, as `--kafka-option` does for the runner.
            for (k, v) in &options {
                pcfg.set(k, v);
            }
            let producer: BaseProducer = pcfg.create().map_err(|e| format!("producer: {e}"))?;
            let started = Instant::now();
            let bytes: u64 = held.iter().map(|r| r.2.len() as u64).sum();
            for (_, key, payload) in &held {
                let mut record = BaseRecord::to(&to).key(key.as_slice()).payload(payload.as_slice());
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            producer.poll(Duration::from_millis(10));
                        }
                        Err((e, _)) => return Err(format!("send: {e}")),
                    }
                }
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(300)).map_err(|e| format!("flush: {e}"))?;
            let s = started.elapsed().as_secs_f64();
            println!(
                "bare-produce records={} bytes={bytes} seconds={s:.3} rate={:.0}",
                held.len(),
                held.len() as f64 / s
            );
            Ok(())
        }
        _ => Err(
            "usage: kafka_bare consume|produce --topic T [--to T2] [--brokers B] [--compression C] [--option K=V]..."
                .into(),
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("kafka_bare: {e}");
        std::process::exit(1);
    }
}
