//! Live journeys and SLIs on the Kafka path: `run --kafka --store` keeps `sli_minutes` current
//! as minutes close, and `/metrics` exports every journey's SLIs, burn rates and error budget.
//!
//! # The dataflow
//!
//! Every span written to the event tables (a [`KafkaRecord`] with `store` set, after
//! redaction) also enters [`slo_advisor::live::trace_rollup`] at its dataflow time — the
//! event-time watermark — as the span the store will give back ([`as_stored`]), through
//! [`slo_advisor::live::trace_rollup`]'s updates ([`rollup_updates`]). The roll-up's
//! rows go to worker 0 (of process 0), which owns a [`LiveSlis`]: as the frontier passes a
//! minute's close (`minute + 1 min + live.allowed_lateness`, in watermark time, so on top of
//! `--max-out-of-orderness`), the minute closes, and worker 0
//!
//! 1. saves the closed minutes' roll-up rows in a blob (`_index/live-<k>-m<first>-<last>.json`,
//!    `<k>` naming the group and topic as the event files do), and only then lets the frontier
//!    pass: the durable watermark `D` never covers a closed minute whose rows are not saved;
//! 2. rewrites the `sli_minutes` rows of every kept minute under the journeys discovered from
//!    all of them (only the `(service, date)` partitions whose rows changed; writer id
//!    `live-<k>`, so renamed journeys leave no stale rows behind), and
//! 3. refreshes the per-journey figures on `/metrics`.
//!
//! Steps 2 and 3 run at most once a second (discovery reads every kept minute, and a backlog
//! closes thousands of minutes a second) and at the end of the stream; `sli_minutes` is a view
//! of the saved minutes, rewritten after a restart, so nothing depends on when it was written.

//! # Restart: exactly the spans, exactly once
//!
//! A restart resumes at `D`. Worker 0 loads the saved minutes (every minute `D` closed is among
//! them) and puts back into the dataflow, at `D`, every span the event tables hold for this
//! group that had not retired by `D` ([`seed_updates`]): the files below each partition's `E`
//! (files above it are deleted and their records read again, see `kafka_events`). The records
//! read again enter as they did the first time. Each span is therefore in the roll-up exactly
//! once, minutes `D` had closed come back as they were, and the open ones are rebuilt from all
//! their spans.
//!
//! # Bounds
//!
//! The dataflow holds only spans not yet retired (`1 min + allowed lateness + max trace` of
//! event time); `slo_scout_live_arranged_updates` reports what its arrangements hold, from
//! differential's log. Worker 0 keeps at most `live.max_history_minutes` closed minutes (oldest
//! evicted, their blobs deleted). A span whose minute had closed when it arrived is counted
//! (`slo_scout_live_late_spans_total`) and left out of the live SLIs; it is in the spans table,
//! so `analyze --store` still counts it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use slo_advisor::live::{
    journey_status, rollup_updates, seed_updates, span_updates, LiveConfig, LiveSlis, RollupKey, RollupValue,
};
use slo_advisor::sli::SliMinute;
use slo_advisor::span::Span;
use slo_advisor::spans::{as_stored, from_file_batch};
use slo_dataflow::event::EventTime;
use slo_storage::tables::{date_of, Table};
use slo_storage::Store;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::kafka_events::KafkaRecord;
use super::metrics_http::RunnerMetrics;

/// One roll-up row.
type Row = (RollupKey, RollupValue);

/// A blob of closed minutes: the frontier that closed them and their rows.
#[derive(Serialize, Deserialize)]
struct ClosedBlob {
    frontier: u64,
    minutes: Vec<(u64, Vec<Row>)>,
}

/// Blobs of closed minutes kept before a restart merges them into one.
const MERGE_BLOBS_ABOVE: usize = 64;

/// The least wall time between two rewrites of `sli_minutes` (and of the journey metrics):
/// discovery runs over every kept minute, so a backlog that closes thousands of minutes in a
/// few seconds must not rediscover after each one. The end of the stream always writes.
const SLI_WRITE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Name prefix of the closed-minute blobs of one group and topic (`k…` = `file_prefix`).
fn blob_prefix(prefix: &str) -> String {
    format!("live-{prefix}-m")
}

/// Counters of the live roll-up, for the summary.
#[derive(Default)]
pub(crate) struct LiveState {
    /// Minutes closed.
    pub minutes_closed: u64,
    /// `sli_minutes` partition files written (or deleted).
    pub sli_files: u64,
    /// `sli_minutes` rows after the last write.
    pub sli_rows: u64,
    /// Spans that arrived after their minute closed.
    pub late_spans: u64,
    /// Spans put back into the roll-up at start.
    pub seeded_spans: u64,
    /// The first error (the worker stops with it).
    pub error: Option<anyhow::Error>,
}

/// What every worker's part of the live roll-up shares with the rest of the worker.
#[derive(Clone)]
pub(crate) struct LiveParts {
    /// The settings.
    pub cfg: LiveConfig,
    /// Counters and the first error, read by the worker.
    pub state: Rc<RefCell<LiveState>>,
    /// The process's metrics.
    pub metrics: Arc<RunnerMetrics>,
    /// Cleared when the worker stops early: nothing more is closed or written.
    pub enabled: Rc<Cell<bool>>,
}

/// Worker 0's side of the live roll-up: the closed minutes, where they and `sli_minutes` go.
pub(crate) struct LiveWriter {
    live: LiveSlis,
    /// The store with writer id `live-<k>`.
    store: Store,
    rt: Rc<tokio::runtime::Runtime>,
    blobs: String,
    /// Blobs saved, by (first minute, last minute).
    saved: BTreeMap<(u64, u64), String>,
    /// Hash of the rows last written to each `sli_minutes` partition of this writer.
    written: HashMap<(String, String), u64>,
    /// Minutes closed (or restored) since `sli_minutes` was last written.
    dirty: bool,
    /// When `sli_minutes` was last written.
    last_write: Option<std::time::Instant>,
    metrics: Arc<RunnerMetrics>,
    state: Rc<RefCell<LiveState>>,
}

impl LiveWriter {
    /// Loads what earlier runs of this group saved (merging many blobs into one) and reads back
    /// the spans the roll-up held at `t0`: the spans of this group's kept event files
    /// (`kept(name)`) that had not retired by `t0`.
    pub(crate) fn resume(
        parts: &LiveParts,
        store: &Store,
        prefix: &str,
        t0: EventTime,
        kept: impl Fn(&str) -> bool,
        rt: Rc<tokio::runtime::Runtime>,
    ) -> anyhow::Result<(LiveWriter, Vec<Span>)> {
        let (cfg, metrics, state) = (&parts.cfg, parts.metrics.clone(), parts.state.clone());
        let live_store = store.clone().with_writer_id(format!("live-{prefix}"));
        let blobs = blob_prefix(prefix);
        let mut frontier = 0;
        let mut closed: BTreeMap<u64, Vec<Row>> = BTreeMap::new();
        let mut saved = BTreeMap::new();
        for name in rt.block_on(store.list_blobs(&blobs))? {
            let Some(body) = rt.block_on(store.get_blob(&name))? else { continue };
            let blob: ClosedBlob =
                serde_json::from_slice(&body).with_context(|| format!("reading the live roll-up blob {name}"))?;
            frontier = frontier.max(blob.frontier);
            let (first, last) = (blob.minutes.first().map_or(0, |m| m.0), blob.minutes.last().map_or(0, |m| m.0));
            saved.insert((first, last), name);
            closed.extend(blob.minutes);
        }
        let live = LiveSlis::restore(cfg.clone(), frontier, closed);
        let dirty = live.closed_minutes() > 0; // a run that died may not have written them
        let mut writer = LiveWriter {
            live,
            store: live_store,
            rt,
            blobs,
            saved,
            written: HashMap::new(),
            dirty,
            last_write: None,
            metrics,
            state,
        };
        if writer.saved.len() > MERGE_BLOBS_ABOVE {
            let old = std::mem::take(&mut writer.saved);
            let minutes = writer.live.closed().map(|(m, rows)| (m, rows.to_vec())).collect();
            let merged = writer.save(frontier, minutes)?;
            // A merge that died before its deletes left an old blob with the merged name.
            for name in old.into_values().filter(|n| Some(n) != merged.as_ref()) {
                writer.rt.block_on(store.delete_blob(&name))?;
            }
        }
        // This writer's `sli_minutes` files: rewritten (or deleted) at the first write.
        let own = format!("data-live-{prefix}.parquet");
        for f in writer.rt.block_on(store.list_files(Table::SliMinutes))? {
            if f.path.filename() == Some(own.as_str()) {
                writer.written.insert((f.service, f.date), 0);
            }
        }
        let horizon = cfg.retire_of(0);
        let from_date = date_of(t0.saturating_sub(horizon));
        let mut seeds = Vec::new();
        for f in writer.rt.block_on(store.list_files(Table::Spans))? {
            if f.date < from_date || !kept(f.path.filename().unwrap_or_default()) {
                continue;
            }
            for batch in writer.rt.block_on(store.read_table_file(&f))? {
                let spans = from_file_batch(&batch, &f.service)?;
                seeds.extend(spans.into_iter().filter(|s| cfg.retire_of(s.start_ms) > t0));
            }
        }
        writer.state.borrow_mut().seeded_spans = seeds.len() as u64;
        Ok((writer, seeds))
    }

    /// Saves closed minutes in one blob; returns its name (`None`: nothing to save).
    fn save(&mut self, frontier: u64, minutes: Vec<(u64, Vec<Row>)>) -> anyhow::Result<Option<String>> {
        let (Some(first), Some(last)) = (minutes.first().map(|m| m.0), minutes.last().map(|m| m.0)) else {
            return Ok(None);
        };
        let name = format!("{}{first}-{last}.json", self.blobs);
        let body = serde_json::to_vec(&ClosedBlob { frontier, minutes })?;
        self.rt.block_on(self.store.put_blob(&name, body)).context("saving closed minutes of the live roll-up")?;
        self.saved.insert((first, last), name.clone());
        Ok(Some(name))
    }

    /// Closes what `frontier` closes and saves it; rewrites `sli_minutes` and the journey metrics
    /// when [`SLI_WRITE_EVERY`] has passed since the last rewrite, or at the end (`None`).
    fn advance(&mut self, updates: Vec<(Row, u64, isize)>, frontier: Option<u64>) -> anyhow::Result<()> {
        self.live.apply(updates);
        let closed = self.live.close(frontier);
        if !closed.is_empty() {
            let minutes: Vec<(u64, Vec<Row>)> =
                closed.iter().filter_map(|m| self.live.closed_rows(*m).map(|rows| (*m, rows.to_vec()))).collect();
            // At the end of the stream, the frontier at which these minutes would have closed: a
            // later run still takes the minutes after them.
            let cfg = self.live.config();
            let at = frontier.unwrap_or_else(|| closed.iter().map(|m| cfg.close_of(*m)).max().unwrap_or(0));
            self.save(at, minutes)?;
            // Blobs whose minutes were all evicted.
            let oldest = self.live.oldest_closed_minute().unwrap_or(0);
            while let Some((&(first, last), _)) = self.saved.first_key_value() {
                if last >= oldest {
                    break;
                }
                if let Some(name) = self.saved.remove(&(first, last)) {
                    self.rt.block_on(self.store.delete_blob(&name))?;
                }
            }
            self.state.borrow_mut().minutes_closed += closed.len() as u64;
            self.metrics.live_closed(
                closed.len() as u64,
                self.live.open_minutes() as u64,
                self.live.closed_minutes() as u64,
            );
            self.dirty = true;
        }
        let due = frontier.is_none() || self.last_write.is_none_or(|t| t.elapsed() >= SLI_WRITE_EVERY);
        if self.dirty && due {
            let rows = self.live.minutes();
            self.write_minutes(&rows)?;
            self.state.borrow_mut().sli_rows = rows.len() as u64;
            self.metrics.set_journeys(journey_status(&rows, self.live.config().objective));
            self.dirty = false;
            self.last_write = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// Rewrites the `sli_minutes` partitions whose rows changed, deletes those left empty.
    fn write_minutes(&mut self, rows: &[SliMinute]) -> anyhow::Result<()> {
        let mut by: BTreeMap<(String, String), Vec<SliMinute>> = BTreeMap::new();
        for r in rows {
            by.entry((r.service.clone(), date_of(r.minute_ms))).or_default().push(r.clone());
        }
        let mut files = 0;
        let gone: Vec<(String, String)> = self.written.keys().filter(|k| !by.contains_key(*k)).cloned().collect();
        for key in gone {
            self.rt.block_on(self.store.replace_partition::<SliMinute>(&key.0, &key.1, &[]))?;
            self.written.remove(&key);
            files += 1;
        }
        for (key, rows) in by {
            let hash = xxhash_rust::xxh3::xxh3_64(&serde_json::to_vec(&rows)?);
            if self.written.get(&key) == Some(&hash) {
                continue;
            }
            self.rt
                .block_on(self.store.replace_partition(&key.0, &key.1, &rows))
                .context("writing the live sli_minutes")?;
            self.written.insert(key, hash);
            files += 1;
        }
        self.state.borrow_mut().sli_files += files;
        Ok(())
    }
}

/// The live roll-up of the store-bound spans in `records` (see the module docs). `writer` (and
/// with it `seeds`, put in at `t0`) is `Some` on worker 0 only. The output carries nothing; a
/// probe on it reads how far the closed minutes are saved.
pub(crate) fn live_slis<'scope>(
    records: StreamVec<'scope, EventTime, KafkaRecord>,
    parts: LiveParts,
    seeds: Vec<Span>,
    t0: EventTime,
    mut writer: Option<LiveWriter>,
) -> StreamVec<'scope, EventTime, ()> {
    let LiveParts { cfg, state, metrics, enabled } = parts;
    let (late, late_metric) = (state.clone(), metrics);
    let updates = records.unary::<CapacityContainerBuilder<Vec<(Span, u64, isize)>>, _, _, _>(
        Pipeline,
        "LiveSpans",
        move |cap, _info| {
            let mut seeds = Some((cap, seeds));
            move |input, output| {
                if let Some((cap, seeds)) = seeds.take() {
                    let mut session = output.session(&cap);
                    for s in seeds {
                        if let Some(us) = seed_updates(s, t0, &cfg) {
                            session.give_iterator(us.into_iter());
                        }
                    }
                }
                input.for_each(|cap, data| {
                    let Some(&now) = cap.least() else { return };
                    let mut session = output.session(&cap);
                    for r in data.drain(..) {
                        let Some(span) = r.store.then(|| as_stored(&r.event)).flatten() else { continue };
                        match span_updates(span, now, &cfg) {
                            Some(us) => session.give_iterator(us.into_iter()),
                            None => {
                                late.borrow_mut().late_spans += 1;
                                late_metric.live_late_span();
                            }
                        }
                    }
                });
            }
        },
    );
    rollup_updates(updates).unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Exchange::new(|_: &(Row, u64, isize)| 0),
        "LiveSlis",
        move |cap, _info| {
            // Held until the minutes the frontier closes are saved (see the module docs).
            let mut cap = Some(cap);
            let mut updates = Vec::new();
            let mut last: Option<Option<u64>> = None;
            move |(input, frontier), _output| {
                input.for_each(|_, data| updates.append(data));
                let f = frontier.frontier().iter().min().copied();
                if let Some(w) = writer.as_mut() {
                    if (last != Some(f) || w.dirty) && enabled.get() && state.borrow().error.is_none() {
                        if let Err(e) = w.advance(std::mem::take(&mut updates), f) {
                            state.borrow_mut().error = Some(e);
                        }
                        last = Some(f);
                    }
                } else {
                    updates.clear();
                }
                match (f, cap.as_mut()) {
                    (None, _) => cap = None,
                    (Some(t), Some(c)) if *c.time() < t => c.downgrade(&t),
                    _ => {}
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use slo_advisor::span::ErrorSource;
    use slo_operators::metrics::PipelineMetrics;

    /// 70 minutes of closed roll-up rows, one blob each, as a long run leaves them.
    fn closed_minutes() -> Vec<(u64, Vec<Row>)> {
        let t0 = 1_735_689_600_000u64;
        let batches: Vec<Vec<Span>> = (0..70u64)
            .map(|m| {
                vec![Span {
                    trace_id: format!("t{m}"),
                    span_id: "a".into(),
                    parent: None,
                    service: "api".into(),
                    operation: "GET /x".into(),
                    start_ms: t0 + m * 60_000,
                    duration_us: 1_000 + m,
                    error: false,
                    error_source: ErrorSource::SpanStatus,
                    http_route: None,
                }]
            })
            .collect();
        let live = LiveSlis::run_batches(LiveConfig::default(), &batches);
        live.closed().map(|(m, rows)| (m, rows.to_vec())).collect()
    }

    fn parts() -> LiveParts {
        LiveParts {
            cfg: LiveConfig::default(),
            state: Rc::default(),
            metrics: RunnerMetrics::new(PipelineMetrics::new()),
            enabled: Rc::new(Cell::new(true)),
        }
    }

    /// Many blobs are merged into one at start, the closed minutes come back whole, and a merge
    /// that died before deleting the old blobs is finished without losing the merged one.
    #[test]
    fn many_saved_blobs_merge_into_one_without_losing_minutes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let rt = Rc::new(tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());
        let minutes = closed_minutes();
        assert_eq!(minutes.len(), 70);
        let put_small = |upto: usize| {
            for (m, rows) in &minutes[..upto] {
                let body = serde_json::to_vec(&ClosedBlob { frontier: m + 180_000, minutes: vec![(*m, rows.clone())] });
                rt.block_on(store.put_blob(&format!("{}{m}-{m}.json", blob_prefix("kx")), body.unwrap())).unwrap();
            }
        };
        put_small(70);
        let resume = || {
            let (w, seeds) = LiveWriter::resume(&parts(), &store, "kx", 0, |_| false, rt.clone()).unwrap();
            assert!(seeds.is_empty());
            let kept: Vec<(u64, Vec<Row>)> = w.live.closed().map(|(m, rows)| (m, rows.to_vec())).collect();
            (kept, rt.block_on(store.list_blobs(&blob_prefix("kx"))).unwrap())
        };
        let (kept, blobs) = resume();
        assert_eq!(kept, minutes);
        assert_eq!(blobs.len(), 1, "{blobs:?}");
        // The old blobs back, as if the merge had died before its deletes: merged again, same name.
        put_small(70);
        let (kept, again) = resume();
        assert_eq!(kept, minutes);
        assert_eq!(again, blobs);
    }
}
