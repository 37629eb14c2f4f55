//! Event-to-capsule-event latency of a live Kafka run: reads `capsule-events` for a while and
//! reports how long after its window could close each capsule event was produced.
//!
//! A window `[start, end)` can close once the watermark — the newest event time minus the
//! out-of-orderness bound — passes `end + allowed lateness`. With a live feed (`produce --live`,
//! events stamped with the wall clock) that is wall-clock time `end + lateness + ooo`; the
//! latency *beyond the window close* is the capsule event's timestamp (set by the runner's
//! producer when it sends it, after the store upsert) minus that instant. The time the event
//! reached this consumer is reported too.
//!
//! ```sh
//! eval "$(scripts/kafka-broker.sh /tmp/kafka)"
//! R=target/release/slo-runner
//! $R kafka-topics --create --topic raw-live --partitions 4
//! $R run --kafka --topic raw-live --group live --store /tmp/live --window 1m \
//!     --max-out-of-orderness 1s --commit-interval 200ms &
//! $R produce --input data/events.jsonl --topic raw-live --rate 5000 --live &
//! cargo run --release -p slo-runner --example bench_capsule_latency -- \
//!     --brokers "$SLO_SCOUT_KAFKA_BROKERS" --window-ms 60000 --ooo-ms 1000 --seconds 300
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use slo_dataflow::avro::capsule_codec;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let brokers =
        arg(&args, "--brokers").or_else(|| std::env::var("SLO_SCOUT_KAFKA_BROKERS").ok()).ok_or("pass --brokers")?;
    let topic = arg(&args, "--topic").unwrap_or_else(|| "capsule-events".into());
    let lateness: i64 = arg(&args, "--lateness-ms").map_or(Ok(0), |v| v.parse())?;
    let ooo: i64 = arg(&args, "--ooo-ms").map_or(Ok(60_000), |v| v.parse())?;
    let seconds: u64 = arg(&args, "--seconds").map_or(Ok(300), |v| v.parse())?;
    let started = now_ms();
    // Only windows that start after this consumer: their whole life is observed.
    let since = arg(&args, "--since-ms").map_or(Ok(started), |v| v.parse())?;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("capsule-latency-{started}"))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(30))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            tpl.add_partition_offset(&topic, p.id(), Offset::End)?;
        }
    }
    consumer.assign(&tpl)?;
    let codec = capsule_codec()?;
    // window start → (latency as sent, latency as received) of its capsules, ms.
    let mut windows: std::collections::BTreeMap<i64, Vec<(i64, i64)>> = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let Some(Ok(msg)) = consumer.poll(Duration::from_millis(200)) else { continue };
        let arrived = now_ms();
        let Ok(capsule) = codec.decode(msg.payload().unwrap_or_default()) else { continue };
        let start = capsule.window_start_ms as i64;
        if start < since {
            continue;
        }
        let close = capsule.window_end_ms as i64 + lateness + ooo;
        let sent = match msg.timestamp() {
            Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
            Timestamp::NotAvailable => arrived,
        };
        windows.entry(start).or_default().push((sent - close, arrived - close));
    }
    // A window emitted before it could close was flushed at the end of the stream (`--idle-exit`):
    // not a latency sample.
    let (mut produced, mut received) = (Vec::new(), Vec::new());
    for (start, lat) in &windows {
        let flushed = lat.iter().any(|(sent, _)| *sent < 0);
        let worst = lat.iter().map(|l| l.0).max().unwrap_or(0);
        println!(
            "window {start}: {} capsules, worst {worst} ms beyond close{}",
            lat.len(),
            if flushed { " (end-of-stream flush: left out)" } else { "" }
        );
        if !flushed {
            produced.extend(lat.iter().map(|l| l.0));
            received.extend(lat.iter().map(|l| l.1));
        }
    }
    produced.sort_unstable();
    received.sort_unstable();
    println!("capsule events: {} (started after {since})", produced.len());
    for (what, v) in [("produced (runner sent)", &produced), ("received (this consumer)", &received)] {
        println!(
            "{what:<26} beyond window close, ms: p50 {} p95 {} p99 {} max {}",
            percentile(v, 0.50),
            percentile(v, 0.95),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0)
        );
    }
    Ok(())
}
