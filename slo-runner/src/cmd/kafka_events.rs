//! The Kafka runner's event tables and vector index: what `run --kafka --store` writes besides
//! capsules, with the same effectively-once guarantee.
//!
//! # Event tables (spans, metric points, raw events with `--archive-raw`)
//!
//! Every record read from `raw-telemetry` travels as a [`KafkaRecord`] that keeps its partition
//! and offset. It is redacted on the worker its event id hashes to (redaction is spread over all
//! workers), then sent back to the worker that owns its partition, which writes it. That worker
//! writes only *complete* runs of its partitions: records sent at a dataflow time the frontier has
//! passed, so no record of a partition is still in flight below one that is written. Each write
//! is one file per table and `(service, date)` partition named
//! `part-k<group·topic hash>-p<partition>-o<first offset>-<last offset>.parquet`, with the rows in
//! offset order.
//!
//! Per partition the runner keeps `E`, the first offset not yet known durable in the event
//! tables, and records it in its Kafka checkpoint blob next to the durable watermark. The offset
//! it commits is the lower of what the windows need and `E`, so a crash never skips an unwritten
//! record. On restart, before reading, it deletes this group's files of its partitions whose first
//! offset is at or above `E` (written, but the checkpoint never said so), and records below `E`
//! are not written again. Every record is therefore in the event tables exactly once, whatever
//! the crash point. Files are written every [`FLUSH_EVENTS`] records or
//! [`FLUSH_COMMIT_INTERVALS`] commit intervals (5 s with the default 1 s), whichever comes
//! first, and at the end of the stream; `slo-runner maintain compact` merges
//! them (run it while the runner is stopped or on partitions it has finished: a compacted file
//! no longer carries the offset range a restart looks for).
//!
//! # Vector index
//!
//! Capsules with embeddings pass their vectors, at the capsule's dataflow time, to worker 0 (of
//! process 0), the only writer of the store's usearch index. It upserts them and saves the index
//! before it lets the frontier pass that time, so the durable watermark `D` only ever covers
//! capsules whose vectors are saved. A save writes the whole index, so vectors wait up to
//! [`INDEX_SAVE_EVERY`] to be saved together (a backlog would otherwise rewrite the index at
//! every commit step). A replay re-upserts the same ids (an upsert, not an add).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use slo_dataflow::event::{EventTime, TelemetryEvent};
use slo_operators::redact::CarriesEvent;
use slo_storage::vector::VectorIndex;
use slo_storage::Store;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::dataflow::StreamVec;

/// Records buffered before a worker writes its event files regardless of [`FLUSH_INTERVAL`].
pub(crate) const FLUSH_EVENTS: usize = 100_000;
/// Commit intervals that complete records wait at most before they are written.
pub(crate) const FLUSH_COMMIT_INTERVALS: u32 = 5;

/// A `raw-telemetry` record on its way through the Kafka dataflow.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KafkaRecord {
    /// The decoded event (redacted once it has passed the redaction operator).
    pub event: TelemetryEvent,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Whether it counts in its capsule window (admitted by the offset book).
    pub window: bool,
    /// Whether it still has to be written to the event tables (offset at or above `E`).
    pub store: bool,
}

impl CarriesEvent for KafkaRecord {
    fn event(&self) -> &TelemetryEvent {
        &self.event
    }
    fn event_mut(&mut self) -> &mut TelemetryEvent {
        &mut self.event
    }
}

/// The file-name stem shared by one consumer group's event files of one topic.
pub(crate) fn file_prefix(group: &str, topic: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_64(format!("{group}\0{topic}").as_bytes());
    format!("k{:08x}", h >> 32)
}

/// `(partition, first offset)` of an event file this group wrote (`part-<prefix>-p<P>-o<A>-<B>.parquet`).
pub(crate) fn parse_file_name(prefix: &str, name: &str) -> Option<(i32, i64)> {
    let rest = name.strip_prefix("part-")?.strip_prefix(prefix)?.strip_prefix("-p")?;
    let rest = rest.strip_suffix(".parquet")?;
    let (p, rest) = rest.split_once("-o")?;
    let (first, last) = rest.split_once('-')?;
    last.parse::<i64>().ok()?;
    Some((p.parse().ok()?, first.parse().ok()?))
}

/// Progress and the first error of a worker's event-table writer, read by its commit step.
#[derive(Default)]
pub(crate) struct EventSinkState {
    /// Every store-bound record sent at a dataflow time below this has been written.
    pub flushed_through: EventTime,
    /// Per partition, the highest offset written so far.
    pub written: HashMap<i32, i64>,
    /// Records written.
    pub events: u64,
    /// Files written.
    pub files: u64,
    /// The first write error (the worker stops with it).
    pub error: Option<anyhow::Error>,
}

/// Where a worker writes its partitions' records.
pub(crate) struct EventTables {
    /// The store (with this worker's writer id).
    pub store: Store,
    /// Runtime for the store's async calls.
    pub rt: Rc<tokio::runtime::Runtime>,
    /// Also archive every record in `raw_events`.
    pub archive_raw: bool,
    /// [`file_prefix`] of this group and topic.
    pub prefix: String,
    /// Shared with the worker's commit step.
    pub state: Rc<RefCell<EventSinkState>>,
    /// Longest wait of complete records before they are written.
    pub interval: Duration,
    /// Cleared when the worker stops early: what is still buffered is read again after a restart.
    pub enabled: Rc<Cell<bool>>,
}

impl EventTables {
    fn write(&self, mut records: Vec<KafkaRecord>) -> anyhow::Result<()> {
        records.sort_by_key(|r| (r.partition, r.offset));
        let mut by_partition: BTreeMap<i32, Vec<KafkaRecord>> = BTreeMap::new();
        for r in records {
            by_partition.entry(r.partition).or_default().push(r);
        }
        let mut state = self.state.borrow_mut();
        for (p, rs) in by_partition {
            let (first, last) = (rs[0].offset, rs[rs.len() - 1].offset);
            let stem = format!("{}-p{p}-o{first}-{last}", self.prefix);
            let events: Vec<TelemetryEvent> = rs.into_iter().map(|r| r.event).collect();
            let files = self
                .rt
                .block_on(self.store.write_events_named(&events, self.archive_raw, &stem))
                .context("writing spans and metric points to the store")?;
            state.events += events.len() as u64;
            state.files += files as u64;
            let w = state.written.entry(p).or_insert(last);
            *w = (*w).max(last);
        }
        Ok(())
    }
}

/// Writes the store-bound records of this worker's partitions to the event tables, in complete
/// runs (see the module docs), and reports how far it got in `tables.state`.
pub(crate) fn durable_events<'scope>(records: StreamVec<'scope, EventTime, KafkaRecord>, tables: EventTables) {
    // Route by partition: `p mod peers` is the worker that owns partition `p`.
    records.sink(Exchange::new(|r: &KafkaRecord| r.partition.max(0) as u64), "DurableEvents", {
        let mut pending: BTreeMap<EventTime, Vec<KafkaRecord>> = BTreeMap::new();
        let mut ready: Vec<KafkaRecord> = Vec::new();
        let mut last_flush = Instant::now();
        move |(input, frontier)| {
            input.for_each(|cap, data| {
                pending.entry(*cap.least().unwrap_or(&0)).or_default().append(data);
            });
            let f = frontier.frontier().iter().min().copied();
            while let Some((&t, _)) = pending.first_key_value() {
                if f.is_some_and(|f| t >= f) {
                    break; // records sent at `t` may still be on their way
                }
                if let Some((_, batch)) = pending.pop_first() {
                    ready.extend(batch);
                }
            }
            if tables.state.borrow().error.is_some() || !tables.enabled.get() {
                return;
            }
            let due = ready.len() >= FLUSH_EVENTS || last_flush.elapsed() >= tables.interval || f.is_none();
            if !ready.is_empty() && due {
                if let Err(e) = tables.write(std::mem::take(&mut ready)) {
                    tables.state.borrow_mut().error = Some(e);
                    return;
                }
                last_flush = Instant::now();
            }
            if ready.is_empty() {
                let mut state = tables.state.borrow_mut();
                state.flushed_through = state.flushed_through.max(f.unwrap_or(EventTime::MAX));
            }
        }
    });
}

/// A durable operator's input by dataflow time, each time's with a capability that holds the
/// operator's output there until its data is written: the frontier a probe reads after such an
/// operator is the point below which everything is durable (`durable_capsules`,
/// [`durable_vectors`]).
pub(crate) struct HeldBatches<D> {
    pending: BTreeMap<EventTime, (Capability<EventTime>, Vec<D>)>,
}

impl<D> Default for HeldBatches<D> {
    fn default() -> Self {
        HeldBatches { pending: BTreeMap::new() }
    }
}

/// Capabilities taken from [`HeldBatches`], each with the range of its data in the batch.
pub(crate) type HeldCapabilities = Vec<(Capability<EventTime>, std::ops::Range<usize>)>;

impl<D> HeldBatches<D> {
    /// Holds `data`, received with `cap`, at its time.
    pub(crate) fn hold(&mut self, cap: &InputCapability<EventTime>, data: &mut Vec<D>) {
        let Some(&t) = cap.least() else { return };
        self.pending.entry(t).or_insert_with(|| (cap.delayed(&t, 0), Vec::new())).1.append(data);
    }

    /// Takes the data of every time the input frontier has passed (`complete(t)`: no more data
    /// can arrive at `t`), in time order, with each time's capability and the range of its data.
    /// Drop the capabilities once the data is durable.
    pub(crate) fn take_complete(&mut self, complete: impl Fn(&EventTime) -> bool) -> (Vec<D>, HeldCapabilities) {
        let (mut data, mut caps) = (Vec::new(), Vec::new());
        while self.pending.first_key_value().is_some_and(|(t, _)| complete(t)) {
            if let Some((_, (cap, batch))) = self.pending.pop_first() {
                let from = data.len();
                data.extend(batch);
                caps.push((cap, from..data.len()));
            }
        }
        (data, caps)
    }
}

/// Vectors upserted into the index and the first error, read by worker 0's commit step.
#[derive(Default)]
pub(crate) struct IndexState {
    /// Vectors upserted and saved.
    pub vectors: u64,
    /// The first error (the worker stops with it).
    pub error: Option<anyhow::Error>,
}

/// Worker 0's share of the vector index: the loaded index and the store it is saved to.
pub(crate) struct IndexWriter {
    /// The index (loaded from the store at start).
    pub index: VectorIndex,
    /// The store.
    pub store: Store,
    /// Runtime for the store's async calls.
    pub rt: Rc<tokio::runtime::Runtime>,
    /// Shared with the worker's commit step.
    pub state: Rc<RefCell<IndexState>>,
}

impl IndexWriter {
    fn upsert_and_save(&mut self, vectors: &[CapsuleVector]) {
        if self.state.borrow().error.is_some() {
            return;
        }
        let saved = self
            .index
            .upsert_batch(vectors)
            .map_err(anyhow::Error::from)
            .and_then(|_| self.rt.block_on(self.index.save(&self.store)).map_err(anyhow::Error::from))
            .context("saving the vector index");
        let mut state = self.state.borrow_mut();
        match saved {
            Ok(()) => state.vectors += vectors.len() as u64,
            Err(e) => state.error = Some(e),
        }
    }
}

/// A capsule id and its embedding.
pub(crate) type CapsuleVector = (String, Vec<f32>);

/// The least wall time between two saves of the vector index. A save writes the whole index
/// (tens of MB at 40k vectors), so saving at every commit step would make a backlog quadratic;
/// the frontier (and with it the durable watermark) waits at most this long for a save.
pub(crate) const INDEX_SAVE_EVERY: Duration = Duration::from_secs(2);

/// Upserts capsule vectors into the store's index on worker 0 and saves it before letting the
/// frontier pass their time (see the module docs), at most every [`INDEX_SAVE_EVERY`] and at the
/// end of the stream. `writer` is `Some` on worker 0 only.
pub(crate) fn durable_vectors<'scope>(
    vectors: StreamVec<'scope, EventTime, CapsuleVector>,
    mut writer: Option<IndexWriter>,
) -> StreamVec<'scope, EventTime, ()> {
    let scope = vectors.scope();
    vectors.unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Exchange::new(|_: &CapsuleVector| 0),
        "DurableVectors",
        move |_cap, info| {
            // Wakes the operator when a held save falls due, even if no data or progress comes.
            let activator = scope.activator_for(info.address.clone());
            let mut held = HeldBatches::default();
            let (mut waiting, mut caps) = (Vec::new(), Vec::new());
            let mut last_save: Option<Instant> = None;
            move |(input, frontier), _output| {
                input.for_each(|cap, data| held.hold(&cap, data));
                let (ready, ready_caps) = held.take_complete(|t| !frontier.less_equal(t));
                waiting.extend(ready);
                caps.extend(ready_caps.into_iter().map(|(cap, _)| cap));
                if caps.is_empty() {
                    return;
                }
                let Some(w) = writer.as_mut() else {
                    caps.clear(); // no index here: nothing to wait for
                    return;
                };
                let wait = last_save.map_or(Duration::ZERO, |t| INDEX_SAVE_EVERY.saturating_sub(t.elapsed()));
                if frontier.is_empty() || wait.is_zero() {
                    if !waiting.is_empty() {
                        w.upsert_and_save(&std::mem::take(&mut waiting));
                        last_save = Some(Instant::now());
                    }
                    caps.clear(); // saved (or failed, which stops the worker): let the frontier pass
                } else {
                    activator.activate_after(wait);
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_file_names_round_trip_and_foreign_names_are_ignored() {
        let prefix = file_prefix("slo", "raw-telemetry");
        assert_ne!(prefix, file_prefix("slo2", "raw-telemetry"));
        assert_eq!(parse_file_name(&prefix, &format!("part-{prefix}-p3-o120-4511.parquet")), Some((3, 120)));
        assert_eq!(parse_file_name(&prefix, "part-0123456789abcdef.parquet"), None);
        assert_eq!(parse_file_name(&file_prefix("other", "t"), &format!("part-{prefix}-p3-o1-2.parquet")), None);
        assert_eq!(parse_file_name(&prefix, &format!("part-{prefix}-p3-o1-x.parquet")), None);
    }
}
