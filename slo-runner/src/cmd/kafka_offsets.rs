//! The effectively-once bookkeeping of `run --kafka`, as a pure type: [`OffsetBook`].
//!
//! `run --kafka` never checkpoints open windows. It holds its offset commits back until the
//! windows that records belong to are durable, and replays the rest after a restart. Which record
//! to feed to the dataflow, which to skip, which is late, where the event-time watermark stands
//! and which offsets are safe to commit are all decided here. There is no Kafka client, no
//! dataflow and no I/O in this module: `kafka_run::run_worker` polls the consumer, calls the book,
//! and carries out what it says.
//!
//! # Terms
//!
//! * A record's **window** closes at `close = WindowConfig::close_time(window_start(t))`, where
//!   `t` is its event time. A window closes when the event-time watermark reaches `close`.
//! * The **durable watermark** `D` is read from the checkpoint at start and only rises. Every
//!   window closing at or before `D` is durable: its capsule has been upserted into the store (and
//!   acknowledged on `capsule-events`).
//! * The **event-time watermark** `W` starts at `D` and only rises within a process. At each
//!   commit step it rises to the lowest newest-admitted event time over this worker's partitions,
//!   minus the out-of-orderness bound (see [`OffsetBook::advance_watermark`]). `D <= W` until the
//!   end of the stream.
//! * A partition's **open windows** are the windows with `close > D` that have admitted records
//!   in this process, each with the offset of its first admitted record in that partition.
//!
//! # Rules
//!
//! For each record the consumer delivers, in the order it delivers them:
//!
//! 1. [`OffsetBook::read`]: an offset below the partition's next offset was already read by this
//!    process and is ignored ([`Read::Duplicate`]). Otherwise the next offset moves past it. Dead
//!    letters stop here.
//! 2. [`OffsetBook::admit`] classifies a valid record:
//!    * `close <= D`: [`Admission::SkipDurable`]. The window's capsule is already durable, so the
//!      record is not counted again.
//!    * `close <= W`: [`Admission::Late`]. The window has already closed in this process.
//!    * otherwise [`Admission::Admit`]. The record goes to the dataflow. If it is the window's
//!      first record in this partition, its offset is noted.
//!
//! A commit step runs the dataflow until the windows closed by `W` are durable. It then calls
//! [`OffsetBook::mark_durable`] with the new `D`, but only once `D` has been written to the
//! checkpoint. That drops the windows closing at or before `D`. Last it commits
//! [`OffsetBook::commit_offsets`]: for each partition read, the lowest first offset of its open
//! windows, or its next offset when it has none. At the end of the stream (`--idle-exit`) the
//! dataflow closes every window, and `D` moves to [`OffsetBook::end_of_stream_durable`].
//!
//! # Invariants
//!
//! * **Commit safety.** A committed offset never passes a record of a still-open window. For
//!   every partition, each admitted record at an offset below the committed one belongs to a
//!   window closing at or before the `D` that the checkpoint held when the commit was made.
//! * **Skip safety.** A record is skipped only when its window closes at or before `D`. That
//!   window is durable, and its capsule was counted by a run that read each of its records from
//!   the window's first one on (commit safety). So a skipped record is in that capsule, unless
//!   it arrived after its window had closed: late in the run that closed the window, or, after
//!   an end of stream, behind `D`.
//! * **Exactly once.** A process may crash at any point: between records, after the store write
//!   but before the checkpoint, or after the checkpoint but before the offset commit. The next
//!   process restarts from the last committed offsets and the last durable watermark. It rebuilds
//!   every window closing after `D` from all of its records (commit safety) and leaves every
//!   window closing at or before `D` alone (skip safety). Capsule upserts overwrite a window with
//!   its full aggregate. So each record is counted exactly once, in its window's final capsule.
//!   The one exception is a record that arrived after its window had closed. It is reported as
//!   late or skipped, never dropped silently. Late records are impossible when two things hold:
//!   each partition's records stay within the out-of-orderness bound of that partition's newest
//!   earlier record, and a partition is only reported at its end when it has no more data. Then
//!   capsule counts equal the records sent per window. The property test at the bottom checks
//!   this against a model with random interleavings of partitions, commit steps, failed commits,
//!   redeliveries, crashes, ends of stream and restarts.
//! * **Monotone.** `D` and the committed offsets never go backwards, within one process or
//!   across restarts. `W` never goes backwards within a process; a restart starts it again at
//!   `D`.
//!
//! `D` covers close times, not window keys. The capsule sink holds the dataflow's frontier at a
//! close time until every capsule closing then is written, so all windows closing at one time
//! become durable together. One first offset per close time is therefore enough, whatever the
//! windows' keys (template, service).

use std::collections::BTreeMap;

use slo_dataflow::event::EventTime;
use slo_dataflow::time::window_start;
use slo_operators::window::WindowConfig;

/// A Kafka partition id.
pub(crate) type Partition = i32;

/// An offset in a Kafka partition.
pub(crate) type KafkaOffset = i64;

/// What [`OffsetBook::read`] makes of a delivered offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// First time this process sees the offset: process the record.
    New,
    /// Below the partition's next offset, so this process has already seen it. Ignore it.
    Duplicate,
}

/// What to do with a valid record ([`OffsetBook::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Feed it to the dataflow. Its window closes at `close`.
    Admit {
        /// The watermark at which the record's window closes.
        close: EventTime,
    },
    /// Its window closes at or before the durable watermark, so its capsule is durable: skip it.
    /// On a replay after a restart the capsule holds the record. A record that arrives only after
    /// its window became durable is not in it; that is a late record by another name.
    SkipDurable,
    /// Its window closed in this process (at or before the event-time watermark): a late event.
    Late,
}

/// One partition's bookkeeping.
#[derive(Debug, Default, Clone)]
struct PartitionBook {
    /// The offset this process read first. `None` until a record is read.
    first_read: Option<KafkaOffset>,
    /// One past the newest offset read. `None` until a record is read.
    next: Option<KafkaOffset>,
    /// The newest event time admitted. `None` until a record is admitted.
    newest: Option<EventTime>,
    /// The consumer reported the partition's end, and nothing was read since.
    at_end: bool,
    /// Open windows: close time → offset of the first record admitted for that window.
    open: BTreeMap<EventTime, KafkaOffset>,
}

/// The effectively-once bookkeeping of one Kafka worker (see the [module docs](self)): which
/// records to admit, skip or report late, the event-time watermark, the durable watermark, and
/// the offsets that are safe to commit.
///
/// A restart is a new book, built from the checkpoint's durable watermark
/// ([`OffsetBook::new`]), while the consumer starts from the committed offsets.
#[derive(Debug, Clone)]
pub(crate) struct OffsetBook {
    /// Window size and allowed lateness, which give every event time its close time.
    window: WindowConfig,
    /// How far the watermark trails the newest event time, ms.
    out_of_orderness_ms: EventTime,
    /// The partitions this worker consumes. They all count for the watermark.
    owned: Vec<Partition>,
    /// Per-partition state. A partition appears once it was read or reported at its end.
    partitions: BTreeMap<Partition, PartitionBook>,
    /// The event-time watermark `W`.
    watermark: EventTime,
    /// The durable watermark `D`.
    durable: EventTime,
}

impl OffsetBook {
    /// A fresh book for a worker that consumes `owned`, restarting from the durable watermark
    /// `durable` read from the checkpoint (0 when there is none). The event-time watermark starts
    /// at `durable`. The consumer must start at the offsets committed by the previous process.
    pub(crate) fn new(
        window: WindowConfig,
        out_of_orderness_ms: EventTime,
        owned: Vec<Partition>,
        durable: EventTime,
    ) -> OffsetBook {
        OffsetBook { window, out_of_orderness_ms, owned, partitions: BTreeMap::new(), watermark: durable, durable }
    }

    /// The close time of the window that an event at `event_time` belongs to.
    pub(crate) fn close_of(&self, event_time: EventTime) -> EventTime {
        self.window.close_time(window_start(event_time, self.window.size_ms))
    }

    /// The consumer delivered `offset` of `partition` (a valid record or a dead letter).
    /// [`Read::Duplicate`] when this process has already read it. Otherwise the record counts as
    /// read: the partition is no longer at its end, and its next offset moves past `offset`.
    #[must_use]
    pub(crate) fn read(&mut self, partition: Partition, offset: KafkaOffset) -> Read {
        let p = self.partitions.entry(partition).or_default();
        if p.next.is_some_and(|next| offset < next) {
            return Read::Duplicate;
        }
        p.at_end = false;
        p.first_read.get_or_insert(offset);
        p.next = Some(offset + 1);
        Read::New
    }

    /// Classifies a valid record at `offset` of `partition`, with event time `event_time`. Call it
    /// after [`OffsetBook::read`] returned [`Read::New`] for it. On [`Admission::Admit`], the
    /// record's offset is held for its window (if it is the window's first record here), and the
    /// partition's newest event time moves up to `event_time`.
    #[must_use]
    pub(crate) fn admit(&mut self, partition: Partition, offset: KafkaOffset, event_time: EventTime) -> Admission {
        let close = self.close_of(event_time);
        if close <= self.durable {
            return Admission::SkipDurable;
        }
        if close <= self.watermark {
            return Admission::Late;
        }
        let p = self.partitions.entry(partition).or_default();
        debug_assert!(p.next.is_some_and(|next| offset < next), "admit({partition}, {offset}) before read");
        p.newest = Some(p.newest.unwrap_or(0).max(event_time));
        p.open.entry(close).or_insert(offset);
        Admission::Admit { close }
    }

    /// The consumer reached the end of `partition`. Until it reads again there, the partition
    /// does not hold the watermark back.
    pub(crate) fn end_of_partition(&mut self, partition: Partition) {
        self.partitions.entry(partition).or_default().at_end = true;
    }

    /// Every owned partition has been read to its end (true when none is owned).
    pub(crate) fn caught_up(&self) -> bool {
        self.owned.iter().all(|p| self.partitions.get(p).is_some_and(|b| b.at_end))
    }

    /// Moves the event-time watermark at a commit step, and returns the new watermark when it
    /// rose.
    ///
    /// The candidate is the lowest newest-admitted event time over the owned partitions that are
    /// not at their end, minus the out-of-orderness bound. An owned partition that is not at its
    /// end and has nothing admitted yet blocks any advance. When every owned partition is at its
    /// end (or none is owned), the candidate is `others_newest`, the newest event time any worker
    /// has read, if it is above 0, so an idle worker follows the others instead of stalling
    /// them.
    pub(crate) fn advance_watermark(&mut self, others_newest: EventTime) -> Option<EventTime> {
        let mut low: Option<EventTime> = None;
        for p in &self.owned {
            let book = self.partitions.get(p);
            if book.is_some_and(|b| b.at_end) {
                continue;
            }
            let newest = book.and_then(|b| b.newest)?; // pending data, nothing admitted: blocked
            low = Some(low.map_or(newest, |l| l.min(newest)));
        }
        let high = low.or_else(|| Some(others_newest).filter(|t| *t > 0))?;
        let w = high.saturating_sub(self.out_of_orderness_ms);
        (w > self.watermark).then(|| {
            self.watermark = w;
            w
        })
    }

    /// The event-time watermark `W`.
    pub(crate) fn watermark(&self) -> EventTime {
        self.watermark
    }

    /// The durable watermark `D`.
    pub(crate) fn durable(&self) -> EventTime {
        self.durable
    }

    /// Raises the durable watermark to `durable`, if that is higher, and forgets the windows that
    /// close at or before it. Call it only once `durable` is recorded in the checkpoint and every
    /// window closing at or before it is durable in the store.
    pub(crate) fn mark_durable(&mut self, durable: EventTime) {
        if durable <= self.durable {
            return;
        }
        self.durable = durable;
        for p in self.partitions.values_mut() {
            while p.open.first_key_value().is_some_and(|(close, _)| *close <= durable) {
                p.open.pop_first();
            }
        }
    }

    /// The offsets to commit, sorted by partition, for every partition this process has read.
    /// Each is the lowest first offset of the partition's open windows, or its next offset when
    /// it has none. Offsets of partitions not read yet stay as committed.
    pub(crate) fn commit_offsets(&self) -> Vec<(Partition, KafkaOffset)> {
        self.partitions
            .iter()
            .filter_map(|(p, b)| b.next.map(|next| (*p, b.open.values().min().copied().unwrap_or(next))))
            .collect()
    }

    /// The durable watermark to record at the end of the stream (`--idle-exit`), once the
    /// dataflow has closed and written every window. It is the latest close time of any open
    /// window, or the event-time watermark when there is none, and never less than the current
    /// `D`.
    pub(crate) fn end_of_stream_durable(&self) -> EventTime {
        self.partitions
            .values()
            .filter_map(|b| b.open.last_key_value().map(|(close, _)| *close))
            .max()
            .unwrap_or(self.watermark)
            .max(self.durable)
    }

    /// The newest event time admitted from any partition (0 when none). Workers broadcast it.
    pub(crate) fn newest(&self) -> EventTime {
        self.partitions.values().filter_map(|b| b.newest).max().unwrap_or(0)
    }

    /// The number of partitions with admitted records.
    pub(crate) fn partitions_with_events(&self) -> usize {
        self.partitions.values().filter(|b| b.newest.is_some()).count()
    }

    /// The next offset to read, per partition read so far.
    pub(crate) fn next_offsets(&self) -> impl Iterator<Item = (Partition, KafkaOffset)> + '_ {
        self.partitions.iter().filter_map(|(p, b)| b.next.map(|n| (*p, n)))
    }

    /// The first offset this process read, per partition read so far.
    pub(crate) fn started_from(&self) -> BTreeMap<Partition, KafkaOffset> {
        self.partitions.iter().filter_map(|(p, b)| b.first_read.map(|o| (*p, o))).collect()
    }

    /// Open windows over all partitions (distinct close times per partition, summed).
    #[cfg(test)]
    fn open_windows(&self) -> usize {
        self.partitions.values().map(|b| b.open.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// Windows of 10 ms, no allowed lateness: an event at `t` closes at `t - t % 10 + 10`.
    fn book(owned: &[Partition], ooo: EventTime, durable: EventTime) -> OffsetBook {
        let window = WindowConfig { size_ms: 10, allowed_lateness_ms: 0, ..Default::default() };
        OffsetBook::new(window, ooo, owned.to_vec(), durable)
    }

    /// Reads and admits one record.
    fn feed(b: &mut OffsetBook, p: Partition, off: KafkaOffset, t: EventTime) -> Admission {
        assert_eq!(b.read(p, off), Read::New);
        b.admit(p, off, t)
    }

    #[test]
    fn close_time_includes_size_and_allowed_lateness() {
        let window = WindowConfig { size_ms: 10, allowed_lateness_ms: 3, ..Default::default() };
        let b = OffsetBook::new(window, 0, vec![0], 0);
        assert_eq!(b.close_of(0), 13);
        assert_eq!(b.close_of(9), 13);
        assert_eq!(b.close_of(10), 23);
        // A zero size is taken as 1 ms, as the window operator does.
        let b = OffsetBook::new(WindowConfig { size_ms: 0, ..Default::default() }, 0, vec![0], 0);
        assert_eq!(b.close_of(5), 6);
    }

    #[test]
    fn duplicates_are_ignored_and_gaps_skipped() {
        let mut b = book(&[0], 0, 0);
        assert_eq!(b.read(0, 5), Read::New);
        assert_eq!(b.read(0, 5), Read::Duplicate);
        assert_eq!(b.read(0, 3), Read::Duplicate);
        assert_eq!(b.read(0, 9), Read::New); // a gap (compaction, control records)
        assert_eq!(b.read(0, 6), Read::Duplicate);
        assert_eq!(b.next_offsets().collect::<Vec<_>>(), vec![(0, 10)]);
        assert_eq!(b.started_from(), BTreeMap::from([(0, 5)]));
        // Dead letters (read, never admitted) move the commit offset on.
        assert_eq!(b.commit_offsets(), vec![(0, 10)]);
    }

    #[test]
    fn admit_skip_and_late() {
        let mut b = book(&[0], 0, 20);
        assert_eq!(feed(&mut b, 0, 0, 19), Admission::SkipDurable); // closes at 20 <= D
        assert_eq!(feed(&mut b, 0, 1, 20), Admission::Admit { close: 30 });
        assert_eq!(b.advance_watermark(0), None); // 20 - 0 is not above W = D = 20
        assert_eq!(feed(&mut b, 0, 2, 35), Admission::Admit { close: 40 });
        assert_eq!(b.advance_watermark(0), Some(35));
        assert_eq!(feed(&mut b, 0, 3, 25), Admission::Late); // closes at 30 <= W = 35
        assert_eq!(feed(&mut b, 0, 4, 15), Admission::SkipDurable); // D wins over late
        assert_eq!(b.open_windows(), 2);
        // Neither skipped nor late records hold offsets or move the newest event time.
        assert_eq!(b.commit_offsets(), vec![(0, 1)]);
        assert_eq!(b.newest(), 35);
    }

    #[test]
    fn commit_offset_is_the_lowest_first_offset_of_the_open_windows() {
        let mut b = book(&[0, 1], 0, 0);
        // Partition 0: window 10 at offsets 0 and 2, window 20 at offset 1 (out of order).
        assert_eq!(feed(&mut b, 0, 0, 5), Admission::Admit { close: 10 });
        assert_eq!(feed(&mut b, 0, 1, 15), Admission::Admit { close: 20 });
        assert_eq!(feed(&mut b, 0, 2, 6), Admission::Admit { close: 10 });
        // Partition 1: window 20 first, then window 10 (offsets do not follow close times).
        assert_eq!(feed(&mut b, 1, 7, 12), Admission::Admit { close: 20 });
        assert_eq!(feed(&mut b, 1, 8, 3), Admission::Admit { close: 10 });
        // Partition 1 commits 7, its lowest first offset, not 8, the first offset of its oldest
        // window.
        assert_eq!(b.commit_offsets(), vec![(0, 0), (1, 7)]);
        b.mark_durable(10);
        // Window 10 is durable: partition 0 holds window 20 from offset 1, partition 1 from 7.
        assert_eq!(b.commit_offsets(), vec![(0, 1), (1, 7)]);
        b.mark_durable(20);
        assert_eq!(b.commit_offsets(), vec![(0, 3), (1, 9)]);
        assert_eq!(b.open_windows(), 0);
        // D never goes back.
        b.mark_durable(15);
        assert_eq!(b.durable(), 20);
    }

    #[test]
    fn partitions_not_read_are_not_committed() {
        let mut b = book(&[0, 1], 0, 0);
        b.end_of_partition(1);
        assert_eq!(feed(&mut b, 0, 4, 5), Admission::Admit { close: 10 });
        assert_eq!(b.commit_offsets(), vec![(0, 4)]);
        assert_eq!(b.started_from(), BTreeMap::from([(0, 4)]));
    }

    #[test]
    fn watermark_waits_for_every_partition_not_at_its_end() {
        let mut b = book(&[0, 1], 5, 0);
        assert_eq!(b.advance_watermark(100), None); // nothing read anywhere: blocked
        assert_eq!(feed(&mut b, 0, 0, 50), Admission::Admit { close: 60 });
        assert_eq!(b.advance_watermark(100), None); // partition 1 has pending data
        assert_eq!(feed(&mut b, 1, 0, 30), Admission::Admit { close: 40 });
        assert_eq!(b.advance_watermark(100), Some(25)); // min(50, 30) - 5
        assert_eq!(b.advance_watermark(100), None); // no change
        b.end_of_partition(1);
        assert_eq!(b.advance_watermark(100), Some(45)); // partition 1 idle: 50 - 5

        // Reading partition 1 again brings it back, but the watermark never goes back.
        assert_eq!(feed(&mut b, 1, 1, 31), Admission::Late); // window 40 closed at W = 45
        assert_eq!(feed(&mut b, 1, 2, 47), Admission::Admit { close: 50 });
        assert_eq!(b.advance_watermark(100), None); // min(50, 47) - 5 < 45
        assert_eq!(b.watermark(), 45);
        assert_eq!(b.partitions_with_events(), 2);
    }

    #[test]
    fn an_idle_worker_follows_the_others() {
        let mut b = book(&[0], 5, 0);
        b.end_of_partition(0);
        assert!(b.caught_up());
        assert_eq!(b.advance_watermark(0), None); // nobody has read anything
        assert_eq!(b.advance_watermark(40), Some(35));
        let mut none = book(&[], 5, 0);
        assert!(none.caught_up());
        assert_eq!(none.advance_watermark(40), Some(35));
        assert_eq!(none.end_of_stream_durable(), 35); // no open window: the watermark

        // A partition not at its end and with nothing admitted blocks even then.
        let mut b = book(&[0], 5, 0);
        assert!(!b.caught_up());
        assert_eq!(b.read(0, 0), Read::New); // a dead letter
        assert_eq!(b.advance_watermark(40), None);
    }

    #[test]
    fn a_skipped_record_does_not_unblock_the_watermark() {
        let mut b = book(&[0], 0, 100);
        assert_eq!(feed(&mut b, 0, 0, 50), Admission::SkipDurable);
        assert_eq!(b.advance_watermark(0), None);
        assert_eq!(b.watermark(), 100);
    }

    #[test]
    fn end_of_stream_durable_covers_every_open_window() {
        let mut b = book(&[0, 1], 0, 0);
        assert_eq!(b.end_of_stream_durable(), 0);
        assert_eq!(feed(&mut b, 0, 0, 45), Admission::Admit { close: 50 });
        assert_eq!(feed(&mut b, 1, 0, 71), Admission::Admit { close: 80 });
        assert_eq!(feed(&mut b, 1, 1, 12), Admission::Admit { close: 20 });
        assert_eq!(b.end_of_stream_durable(), 80);
        b.mark_durable(80);
        assert_eq!(b.end_of_stream_durable(), 80);
        // No open window: the event-time watermark, never below D.
        assert_eq!(b.advance_watermark(0), Some(45)); // min(45, 71)
        assert_eq!(b.end_of_stream_durable(), 80);
        let mut b = book(&[0], 0, 10);
        assert_eq!(feed(&mut b, 0, 0, 30), Admission::Admit { close: 40 });
        assert_eq!(b.advance_watermark(0), Some(30));
        b.mark_durable(40);
        assert_eq!(b.end_of_stream_durable(), 40);
    }

    #[test]
    fn restart_from_the_commit_replays_the_open_window_and_skips_the_durable_one() {
        // Partition 0 holds events at 5, 15, 8, 25 (window 10, 20, 10, 30).
        let times = [5, 15, 8, 25];
        let mut b = book(&[0], 0, 0);
        for (off, t) in times.iter().enumerate() {
            assert!(matches!(feed(&mut b, 0, off as i64, *t), Admission::Admit { .. }));
        }
        assert_eq!(b.advance_watermark(0), Some(25)); // closes windows 10 and 20
        b.mark_durable(20);
        assert_eq!(b.commit_offsets(), vec![(0, 3)]);
        // Crash and restart from offset 3 with D = 20: the open window 30 is rebuilt.
        let mut b = book(&[0], 0, 20);
        assert_eq!(feed(&mut b, 0, 3, 25), Admission::Admit { close: 30 });
        // A durable commit at D = 10 only (window 20 not yet covered): restart from offset 1,
        // which re-reads window 20 in full and skips window 10's offset 2.
        let mut b = book(&[0], 0, 0);
        for (off, t) in times.iter().enumerate() {
            let _ = feed(&mut b, 0, off as i64, *t);
        }
        b.mark_durable(10);
        assert_eq!(b.commit_offsets(), vec![(0, 1)]);
        let mut b = book(&[0], 0, 10);
        let got: Vec<_> = times.iter().enumerate().skip(1).map(|(off, t)| feed(&mut b, 0, off as i64, *t)).collect();
        assert_eq!(got, vec![Admission::Admit { close: 20 }, Admission::SkipDurable, Admission::Admit { close: 30 }]);
    }

    // ---------------------------------------------------------------------------------------
    // Model: a topic, a consumer, a window dataflow, a store and a checkpoint, with crashes.
    // ---------------------------------------------------------------------------------------

    /// One record of the model topic: `None` is a dead letter.
    type Record = Option<EventTime>;

    /// A record's identity: (partition, offset).
    type RecordId = (Partition, KafkaOffset);

    /// A window of the model: (close time, key). Two keys per window, like two services.
    type WindowId = (EventTime, u8);

    /// One thing that happens in a scenario.
    #[derive(Debug, Clone)]
    enum Action {
        /// The consumer polls partition `p % partitions`: its next record, or its end.
        Poll(usize),
        /// The consumer delivers the last `n` records of partition `p % partitions` again.
        Redeliver(usize, i64),
        /// Live mode: the next `n` planned records of partition `p % partitions` are produced.
        Produce(usize, usize),
        /// A commit step; see [`Step`].
        Step(Step),
        /// The process dies: everything but the topic, the store, the checkpoint and the
        /// committed offsets is lost. A new process starts.
        Crash,
    }

    /// The random choices of a commit step.
    #[derive(Debug, Clone)]
    struct Step {
        /// How far between the old D and W the dataflow's durable frontier gets (‰).
        durable_permille: u64,
        /// How far past that frontier, up to W, capsules are written but not yet covered by D
        /// (‰): a crash then leaves written windows that a restart recomputes.
        written_permille: u64,
        /// The newest event time of other workers, above this one's (0: none ahead).
        others_ahead: EventTime,
        /// The offset commit fails (broker restarting); it is retried at the next step.
        commit_fails: bool,
        /// 0: no crash; 1: crash after the store writes, before the checkpoint; 2: after the
        /// checkpoint, before the offset commit; 3: after the offset commit.
        crash: u8,
    }

    /// A scenario: planned records per partition and what happens.
    #[derive(Debug, Clone)]
    struct Scenario {
        /// Out-of-orderness bound, ms.
        ooo: EventTime,
        /// Window size, ms.
        size: EventTime,
        /// Allowed lateness of a window, ms.
        lateness: EventTime,
        /// Records of each partition, in offset order, with the key of each.
        records: Vec<Vec<(Record, u8)>>,
        /// Per partition, how many records belong to the first part of the scenario. The first
        /// part ends with an end of stream (`--idle-exit`); the second part's records come
        /// later, and then the stream ends again.
        split: Vec<usize>,
        /// Live: records are produced during the scenario (`Produce`), and a partition's end is
        /// only the end of what has been produced so far. Otherwise the topic is full at start.
        live: bool,
        /// What happens in the first part.
        actions: Vec<Action>,
        /// What happens in the second part.
        later: Vec<Action>,
    }

    /// Records of one partition whose event times, from [`BASE`] on, stay within `ooo` of the
    /// newest earlier one.
    fn partition_records(ooo: EventTime) -> impl Strategy<Value = Vec<(Record, u8)>> {
        proptest::collection::vec((0u64..8, 0..=ooo, 0u8..10, 0u8..2), 0..40).prop_map(|steps| {
            let mut clock = BASE;
            steps
                .into_iter()
                .map(|(advance, back, kind, key)| {
                    clock += advance;
                    // One record in ten is a dead letter (no event time).
                    let record = if kind == 0 { None } else { Some(clock - back) };
                    (record, key)
                })
                .collect()
        })
    }

    fn action() -> impl Strategy<Value = Action> {
        let step = (
            0u64..=1000,
            0u64..=1000,
            prop_oneof![3 => Just(0u64), 1 => 1u64..40],
            proptest::bool::weighted(0.1),
            prop_oneof![6 => Just(0u8), 1 => 1u8..4],
        )
            .prop_map(|(durable_permille, written_permille, others_ahead, commit_fails, crash)| {
                Action::Step(Step { durable_permille, written_permille, others_ahead, commit_fails, crash })
            });
        prop_oneof![
            30 => any::<usize>().prop_map(Action::Poll),
            1 => (any::<usize>(), 1i64..5).prop_map(|(p, n)| Action::Redeliver(p, n)),
            6 => (any::<usize>(), 1usize..6).prop_map(|(p, n)| Action::Produce(p, n)),
            5 => step,
            1 => Just(Action::Crash),
        ]
    }

    /// Event time of the first records of a scenario.
    const BASE: EventTime = 100;

    /// How far the second part of a scenario is shifted past the first part's newest event. Even
    /// its earliest event (`BASE - ooo` before the shift) is more than any window,
    /// out-of-orderness bound or `others_ahead` after the first part's newest event, so the end
    /// of the first part cannot cover a window of the second.
    const GAP: EventTime = 100;

    fn scenario() -> impl Strategy<Value = Scenario> {
        (0u64..25, 1u64..20, 0u64..5, 1usize..4, any::<bool>()).prop_flat_map(
            |(ooo, size, lateness, partitions, live)| {
                (
                    proptest::collection::vec(partition_records(ooo), partitions),
                    proptest::collection::vec(partition_records(ooo), partitions),
                    proptest::collection::vec(action(), 0..200),
                    proptest::collection::vec(action(), 0..100),
                )
                    .prop_map(move |(first, second, actions, later)| {
                        // The second part follows the first part's newest event, after a gap.
                        let newest = first.iter().flatten().filter_map(|(r, _)| *r).max().unwrap_or(BASE);
                        let split = first.iter().map(Vec::len).collect();
                        let records = first
                            .into_iter()
                            .zip(second)
                            .map(|(mut a, b)| {
                                a.extend(b.into_iter().map(|(r, key)| (r.map(|t| t + newest + GAP - BASE), key)));
                                a
                            })
                            .collect();
                        Scenario { ooo, size, lateness, records, split, live, actions, later }
                    })
            },
        )
    }

    /// What outlives a process: the topic, the store, the checkpoint, the committed offsets.
    #[derive(Default)]
    struct Durable {
        /// Records produced so far, per partition.
        produced: Vec<usize>,
        /// How many records of each partition the current part of the scenario can produce.
        available: Vec<usize>,
        /// Capsules: window → the records counted in it (a multiset, to catch double counts).
        store: BTreeMap<WindowId, Vec<RecordId>>,
        /// The checkpoint's durable watermark.
        checkpoint: EventTime,
        /// Committed offset per partition.
        committed: BTreeMap<Partition, KafkaOffset>,
        /// Records that some run classified late, or skipped while its capsule lacked them: they
        /// may be missing from the final capsules (counted as late, as the runner does).
        excused: BTreeSet<RecordId>,
        /// Records classified late (a subset of `excused`).
        late: BTreeSet<RecordId>,
    }

    /// What a process holds, lost at a crash.
    struct Process {
        book: OffsetBook,
        /// Consumer position per partition.
        position: Vec<KafkaOffset>,
        /// Where the consumer started, per partition (the committed offsets).
        start: Vec<KafkaOffset>,
        /// The dataflow's windows not yet written: window → records.
        open: BTreeMap<WindowId, Vec<RecordId>>,
        /// Windows the dataflow has closed (close <= W) in this process.
        closed_through: EventTime,
        /// Newest event time broadcast by this worker (and by others, see `Step::others_ahead`).
        seen_max: EventTime,
    }

    /// Checks and failures of the model, as `Err` for proptest.
    type Check = Result<(), TestCaseError>;

    struct Model<'a> {
        sc: &'a Scenario,
        d: Durable,
        proc: Process,
    }

    impl<'a> Model<'a> {
        fn new(sc: &'a Scenario) -> Model<'a> {
            let produced = sc.split.iter().map(|n| if sc.live { 0 } else { *n }).collect();
            let d = Durable { produced, available: sc.split.clone(), ..Default::default() };
            let proc = Model::start(sc, &d);
            Model { sc, d, proc }
        }

        /// A process starts: book from the checkpoint, consumer at the committed offsets.
        fn start(sc: &Scenario, d: &Durable) -> Process {
            let window = WindowConfig { size_ms: sc.size, allowed_lateness_ms: sc.lateness, ..Default::default() };
            let owned: Vec<Partition> = (0..sc.records.len() as Partition).collect();
            let book = OffsetBook::new(window, sc.ooo, owned.clone(), d.checkpoint);
            let position: Vec<KafkaOffset> = owned.iter().map(|p| d.committed.get(p).copied().unwrap_or(0)).collect();
            // `input.advance_to(durable)`: the dataflow starts with everything up to D closed.
            Process {
                book,
                start: position.clone(),
                position,
                open: BTreeMap::new(),
                closed_through: d.checkpoint,
                seen_max: 0,
            }
        }

        fn partitions(&self) -> usize {
            self.sc.records.len()
        }

        /// Delivers offset `off` of partition `p` to the book, as `run_worker` does.
        fn deliver(&mut self, p: usize, off: KafkaOffset) -> Check {
            let (record, key) = self.sc.records[p][off as usize];
            let id = (p as Partition, off);
            if self.proc.book.read(p as Partition, off) == Read::Duplicate {
                return Ok(());
            }
            let Some(t) = record else { return Ok(()) }; // dead letter
            let close = self.proc.book.close_of(t);
            match self.proc.book.admit(p as Partition, off, t) {
                Admission::Admit { close: c } => {
                    prop_assert_eq!(c, close);
                    // The dataflow must not have closed this window already in this process.
                    prop_assert!(close > self.proc.closed_through, "admitted {:?} into a closed window", id);
                    self.proc.open.entry((close, key)).or_default().push(id);
                }
                Admission::SkipDurable => {
                    prop_assert!(close <= self.d.checkpoint, "skipped {:?} above the checkpoint", id);
                    // Skip safety: the durable capsule holds it, unless it was lost as late.
                    let counted = self.d.store.get(&(close, key)).is_some_and(|ids| ids.contains(&id));
                    if !counted {
                        prop_assert!(self.sc.live, "skipped {:?}, which capsule {:?} lacks", id, (close, key));
                        self.d.excused.insert(id);
                    }
                }
                Admission::Late => {
                    prop_assert!(close <= self.proc.book.watermark());
                    self.d.excused.insert(id);
                    self.d.late.insert(id);
                }
            }
            Ok(())
        }

        fn poll(&mut self, p: usize) -> Check {
            let at = self.proc.position[p];
            if (at as usize) < self.d.produced[p] {
                self.proc.position[p] += 1;
                self.deliver(p, at)
            } else {
                self.proc.book.end_of_partition(p as Partition);
                Ok(())
            }
        }

        /// Writes (upserts) every open window of the dataflow closing at or before `through`.
        fn write_through(&mut self, through: EventTime) {
            let done: Vec<WindowId> = self.proc.open.range(..=(through, u8::MAX)).map(|(w, _)| *w).collect();
            for w in done {
                if let Some(ids) = self.proc.open.remove(&w) {
                    self.d.store.insert(w, ids);
                }
            }
        }

        /// Commits the book's offsets, checking commit safety first.
        fn commit(&mut self) -> Check {
            for (p, at) in self.proc.book.commit_offsets() {
                let old = self.d.committed.get(&p).copied().unwrap_or(0);
                prop_assert!(at >= old, "partition {} commit went back from {} to {}", p, old, at);
                // Commit safety: every record below the commit is in a durable window, a dead
                // letter, or excused (late).
                for off in old..at {
                    if let (Some(t), _) = self.sc.records[p as usize][off as usize] {
                        let close = self.proc.book.close_of(t);
                        prop_assert!(
                            close <= self.d.checkpoint || self.d.excused.contains(&(p, off)),
                            "commit {} of partition {} passes offset {} of open window {} (D = {})",
                            at,
                            p,
                            off,
                            close,
                            self.d.checkpoint
                        );
                    }
                }
                self.d.committed.insert(p, at);
            }
            Ok(())
        }

        /// A commit step, as `run_worker` does it: watermark, dataflow, checkpoint, offsets.
        fn step(&mut self, s: &Step) -> Check {
            let before = self.proc.book.watermark();
            let others = self.proc.seen_max + s.others_ahead;
            if let Some(w) = self.proc.book.advance_watermark(others) {
                prop_assert!(w > before);
                // `input.advance_to(w)`: the dataflow closes every window closing at or before w.
                self.proc.closed_through = w;
            }
            let w = self.proc.book.watermark();
            prop_assert_eq!(w, self.proc.closed_through);
            self.proc.seen_max = self.proc.seen_max.max(self.proc.book.newest());
            // The dataflow writes closed windows in close order; the durable frontier is at
            // some point between the old D and W, and a few windows past it may be written too.
            let d0 = self.proc.book.durable();
            let frontier = d0 + (w.saturating_sub(d0)) * s.durable_permille / 1000;
            let written = frontier + (w.saturating_sub(frontier)) * s.written_permille / 1000;
            self.write_through(written);
            if s.crash == 1 {
                return self.crash();
            }
            self.checkpoint(frontier.max(d0));
            if s.crash == 2 {
                return self.crash();
            }
            if !s.commit_fails {
                self.commit()?;
            }
            if s.crash == 3 {
                return self.crash();
            }
            Ok(())
        }

        /// Records `D` in the checkpoint, then tells the book.
        fn checkpoint(&mut self, durable: EventTime) {
            if durable > self.proc.book.durable() {
                self.d.checkpoint = durable;
                self.proc.book.mark_durable(durable);
            }
        }

        fn crash(&mut self) -> Check {
            self.proc = Model::start(self.sc, &self.d);
            Ok(())
        }

        /// The end of the stream: everything produced, every partition read to its end, every
        /// window closed and written, D moved past them, offsets committed (`--idle-exit`).
        fn finish(&mut self) -> Check {
            self.d.produced.clone_from(&self.d.available);
            // Poll until a round finds every partition at its end (an end reported before the
            // last records were produced does not count).
            loop {
                let pending: Vec<usize> = (0..self.partitions())
                    .filter(|p| (self.proc.position[*p] as usize) < self.d.produced[*p])
                    .collect();
                if pending.is_empty() {
                    break;
                }
                for p in pending {
                    self.poll(p)?;
                }
            }
            for p in 0..self.partitions() {
                self.poll(p)?;
            }
            prop_assert!(self.proc.book.caught_up());
            let end = self.proc.book.end_of_stream_durable();
            self.write_through(EventTime::MAX);
            self.checkpoint(end);
            self.commit()
        }

        fn run(&mut self) -> Check {
            self.play(&self.sc.actions)?;
            self.finish()?;
            // New records arrive after the end of the stream; the runner is started again.
            self.d.available = self.sc.records.iter().map(Vec::len).collect();
            if !self.sc.live {
                self.d.produced.clone_from(&self.d.available);
            }
            self.crash()?;
            self.play(&self.sc.later)?;
            self.finish()?;
            // Once more after a restart: nothing is left to replay, nothing changes.
            let store = self.d.store.clone();
            self.crash()?;
            self.finish()?;
            prop_assert_eq!(&store, &self.d.store);
            Ok(())
        }

        /// Plays a part of the scenario.
        fn play(&mut self, actions: &[Action]) -> Check {
            for a in actions {
                match a {
                    Action::Poll(p) => self.poll(p % self.partitions())?,
                    Action::Redeliver(p, n) => {
                        let p = p % self.partitions();
                        let from = (self.proc.position[p] - n).max(self.proc.start[p]);
                        for off in from..self.proc.position[p] {
                            self.deliver(p, off)?;
                        }
                    }
                    Action::Produce(p, n) if self.sc.live => {
                        let p = p % self.partitions();
                        self.d.produced[p] = (self.d.produced[p] + n).min(self.d.available[p]);
                    }
                    Action::Produce(..) => {}
                    Action::Step(s) => self.step(s)?,
                    Action::Crash => self.crash()?,
                }
            }
            Ok(())
        }

        /// The totals: each window's capsule holds each of its records once, and only misses
        /// records excused as late. Without late records the counts are exact.
        fn check_totals(&self) -> Check {
            let mut sent: BTreeMap<WindowId, BTreeSet<RecordId>> = BTreeMap::new();
            for (p, records) in self.sc.records.iter().enumerate() {
                for (off, (record, key)) in records.iter().enumerate() {
                    if let Some(t) = record {
                        let close = self.proc.book.close_of(*t);
                        sent.entry((close, *key)).or_default().insert((p as Partition, off as KafkaOffset));
                    }
                }
            }
            for (w, ids) in &self.d.store {
                let distinct: BTreeSet<RecordId> = ids.iter().copied().collect();
                prop_assert_eq!(distinct.len(), ids.len(), "window {:?} counts a record twice", w);
                let expected = sent.get(w).cloned().unwrap_or_default();
                prop_assert!(distinct.is_subset(&expected), "window {:?} counts records of another window", w);
            }
            for (w, ids) in &sent {
                let got: BTreeSet<RecordId> =
                    self.d.store.get(w).map(|v| v.iter().copied().collect()).unwrap_or_default();
                for id in ids.difference(&got) {
                    prop_assert!(self.d.excused.contains(id), "record {:?} of window {:?} is lost", id, w);
                }
                if self.d.excused.is_empty() {
                    prop_assert_eq!(got.len(), ids.len(), "window {:?}", w);
                }
            }
            if !self.sc.live {
                // A full topic with in-bound disorder: nothing is late, every count is exact.
                prop_assert!(self.d.excused.is_empty(), "late records {:?} in a full topic", self.d.late);
            }
            Ok(())
        }
    }

    proptest! {
        // No regression files next to the sources: a failure prints its minimal scenario.
        #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

        /// Any interleaving of partitions, commit steps, failed commits, redeliveries and
        /// crashes (at any point of a commit step) gives every window exactly its records: no
        /// loss, no double count (late records aside, which only a live topic can have).
        #[test]
        fn crashes_and_restarts_give_exact_totals(sc in scenario()) {
            let mut model = Model::new(&sc);
            model.run()?;
            model.check_totals()?;
        }
    }

    /// The model catches a lost window: replaying with no durable watermark from offsets
    /// committed past open windows must fail the totals (a check that the check can fail).
    #[test]
    fn the_model_detects_a_commit_past_an_open_window() {
        let sc = Scenario {
            ooo: 0,
            size: 10,
            lateness: 0,
            records: vec![vec![(Some(101), 0), (Some(102), 0), (Some(115), 0)]],
            split: vec![3],
            live: false,
            actions: vec![],
            later: vec![],
        };
        let mut m = Model::new(&sc);
        m.poll(0).unwrap();
        // Pretend offset 1 was committed although window 110 is open and not durable.
        m.d.committed.insert(0, 1);
        m.crash().unwrap();
        m.finish().unwrap();
        let err = m.check_totals().unwrap_err();
        assert!(err.to_string().contains("is lost"), "{err}");
    }
}
