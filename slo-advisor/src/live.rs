//! Live journeys and SLIs: trace assembly and the per-minute roll-up as differential-dataflow
//! collections, maintained as spans stream in, out of order.
//!
//! # The dataflow ([`trace_rollup`])
//!
//! - **Spans keyed by trace id → `reduce`**: each trace becomes one [`TraceFact`] — its shape
//!   (root service, operation and route, the operations directly under the root, the services
//!   touched), root start and latency, error signal and span count — computed by [`summarize`],
//!   so a trace looks exactly as it does to batch `analyze`.
//! - **Facts keyed by (shape, minute, latency bucket, error signal) → `reduce`**: one
//!   [`RollupValue`] per key (requests, latency sum / min / max, spans, earliest start, smallest
//!   trace id), the rows [`TraceRollup`] builds in batch.
//!
//! A span that arrives after its trace was assembled changes the trace's input, so differential
//! retracts the trace's old fact (and its old roll-up row) and adds the new one: a late child
//! that adds an operation under the root moves the trace to another shape, a late root changes
//! its latency and minute.
//!
//! # Time and memory
//!
//! The dataflow's time is the event-time watermark (ms). Every span is inserted at the current
//! time and, in the same call ([`span_updates`]), retracted at its *retirement time*: the end of
//! its start minute plus the allowed lateness plus the longest trace
//! ([`LiveConfig::max_trace_ms`]). Once the frontier passes that time the span nets to zero and
//! the arrangements drop it when they compact, which they do as the frontier advances. So the
//! state holds only the spans of the last `1 min + allowed lateness + max trace` of event time —
//! the open traces — never the history: 7 minutes of spans with the defaults. The bound is
//! measured, not assumed: [`ArrangementMeter`] counts the updates differential's operators hold
//! (from its own log), and a four-hour stream holds about 7 updates per span inside that horizon,
//! as many in its last hour as in its first (test `state_is_bounded_by_open_traces_…`). A
//! trace's spans retire together as long as the trace
//! is no longer than `max_trace_ms`; a longer one is split (its late part counted as a trace of
//! its own), as batch analysis of a time range cut through it would.
//!
//! # Closing minutes ([`LiveSlis`])
//!
//! A minute *closes* when the frontier passes its end plus the allowed lateness: from then on
//! no span of the minute is accepted (later ones are late), and its roll-up rows as of that time
//! are final. [`LiveSlis`] keeps the closed minutes' rows (at most
//! [`LiveConfig::max_history_minutes`], oldest evicted first and counted) and turns them into
//! `sli_minutes` rows through journey discovery ([`discover_traces`]) over all the rows it
//! keeps: the same journeys, names and SLIs as batch `analyze` over the same spans. Discovery
//! uses the whole history (a root becomes *generic* by its share of all traces), so the rows of
//! earlier minutes can change name as traffic accumulates; [`LiveSlis::minutes`] always gives
//! the current answer for every kept minute.
//!
//! ```
//! use slo_advisor::live::{LiveConfig, LiveSlis};
//! use slo_advisor::span::{ErrorSource, Span};
//!
//! let span = |trace: &str, id: &str, parent: Option<&str>, op: &str, start_ms: u64| Span {
//!     trace_id: trace.into(), span_id: id.into(), parent: parent.map(str::to_string),
//!     service: "api".into(), operation: op.into(), start_ms, duration_us: 20_000,
//!     error: false, error_source: ErrorSource::SpanStatus, http_route: None,
//! };
//! // The child arrives in a later batch than its root: the trace is re-assembled.
//! let batches = vec![
//!     vec![span("t1", "a", None, "GET /cart", 1_000)],
//!     vec![span("t1", "b", Some("a"), "load cart", 1_005), span("t2", "c", None, "POST /pay", 70_000)],
//! ];
//! let live = LiveSlis::run_batches(LiveConfig::default(), &batches);
//! let rows = live.minutes();
//! assert_eq!(rows.len(), 2);
//! assert_eq!((rows[0].journey.as_str(), rows[0].requests), ("GET /cart", 1));
//! assert_eq!((rows[1].journey.as_str(), rows[1].minute_ms), ("POST /pay", 60_000));
//! ```

use std::collections::{BTreeMap, HashMap};

use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use slo_dataflow::time::MINUTE_MS;

use crate::journeys::{
    discover_traces, latency_bucket, summarize, JourneyConfig, TraceRollup, TraceSet, TraceShape, TraceSummary,
    MAX_DURATION_US,
};
use crate::sli::{compute, SliMinute};
use crate::span::{ErrorSource, Span};

/// Settings of the live roll-up; every field has a documented default.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// How long after a minute ends its spans are still accepted, ms. Default 60,000.
    pub allowed_lateness_ms: u64,
    /// The longest trace kept whole, ms (see the module docs). Default 300,000.
    pub max_trace_ms: u64,
    /// Closed minutes kept for journey discovery; older ones are evicted (and counted).
    /// Default 10,080 (a week).
    pub max_history_minutes: usize,
    /// Availability objective the exported burn rates and error budgets are measured against
    /// (`/metrics` of `run --kafka`). Default 0.999.
    pub objective: f64,
    /// Journey discovery settings.
    pub journeys: JourneyConfig,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            allowed_lateness_ms: 60_000,
            max_trace_ms: 300_000,
            max_history_minutes: 10_080,
            objective: 0.999,
            journeys: JourneyConfig::default(),
        }
    }
}

impl LiveConfig {
    /// Checks the settings: an objective strictly between 0 and 1, a history of at least one
    /// minute.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.objective > 0.0 && self.objective < 1.0) {
            return Err(format!("live.objective must be between 0 and 1 (exclusive), got {}", self.objective));
        }
        if self.max_history_minutes == 0 {
            return Err("live.max_history_minutes must be at least 1".into());
        }
        Ok(())
    }

    /// When the spans of the minute starting at `minute_ms` stop being accepted: the frontier
    /// time at which the minute closes.
    pub fn close_of(&self, minute_ms: u64) -> u64 {
        minute_ms.saturating_add(MINUTE_MS).saturating_add(self.allowed_lateness_ms)
    }

    /// When a span that starts at `start_ms` leaves the dataflow's state.
    pub fn retire_of(&self, start_ms: u64) -> u64 {
        self.close_of(start_ms - start_ms % MINUTE_MS).saturating_add(self.max_trace_ms)
    }
}

/// The differential updates that bring one span in at time `now` and retire it later (see the
/// module docs). `None` when the span's minute closed at or before `now` (a late span).
pub fn span_updates(span: Span, now: u64, cfg: &LiveConfig) -> Option<[(Span, u64, isize); 2]> {
    let minute = span.start_ms - span.start_ms % MINUTE_MS;
    if cfg.close_of(minute) <= now {
        return None;
    }
    let retire = cfg.retire_of(span.start_ms).max(now + 1);
    Some([(span.clone(), now, 1), (span, retire, -1)])
}

/// The updates that put a span read back from the store into the state at `now`, as it would
/// be had the process never stopped: inserted at `now`, retired when [`LiveConfig::retire_of`]
/// says. Unlike [`span_updates`] it takes spans of closed minutes too (their traces' later
/// spans must still find them; [`LiveSlis::apply`] ignores changes to closed minutes). `None`
/// when the span had retired by `now`.
pub fn seed_updates(span: Span, now: u64, cfg: &LiveConfig) -> Option<[(Span, u64, isize); 2]> {
    let retire = cfg.retire_of(span.start_ms);
    (retire > now).then(|| [(span.clone(), now, 1), (span, retire, -1)])
}

/// One assembled trace, as the roll-up needs it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TraceFact {
    /// Its shape.
    pub shape: TraceShape,
    /// Root start, ms.
    pub start_ms: u64,
    /// Root latency, µs (capped at [`MAX_DURATION_US`]).
    pub duration_us: u64,
    /// Whether the root failed.
    pub error: bool,
    /// The signal that decided it.
    pub error_source: ErrorSource,
    /// Spans in the trace.
    pub spans: u64,
    /// The trace id.
    pub trace_id: String,
}

/// What traces of one roll-up row share.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RollupKey {
    /// The traces' shape.
    pub shape: TraceShape,
    /// Their start minute, ms.
    pub minute_ms: u64,
    /// Their latency's sketch bucket ([`latency_bucket`]).
    pub bucket: Option<i32>,
    /// Whether they failed.
    pub error: bool,
    /// The signal that decided it.
    pub error_source: ErrorSource,
}

/// The aggregate of one roll-up row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RollupValue {
    /// Traces.
    pub requests: u64,
    /// Sum of their latencies, µs.
    pub duration_sum_us: u128,
    /// Fastest, µs.
    pub min_duration_us: u64,
    /// Slowest, µs.
    pub max_duration_us: u64,
    /// Spans in all of them.
    pub spans: u64,
    /// Earliest start, ms.
    pub first_start_ms: u64,
    /// Smallest trace id.
    pub trace_id: String,
}

/// One trace inside a roll-up key: latency (µs), start (ms), spans, trace id.
type TraceRow = (u64, u64, u64, String);

/// Trace assembly and the per-minute roll-up (see the module docs): spans in, roll-up rows out.
pub fn trace_rollup<'scope>(
    spans: VecCollection<'scope, u64, Span>,
) -> VecCollection<'scope, u64, (RollupKey, RollupValue)> {
    spans
        .map(|s| (s.trace_id.clone(), s))
        .reduce_named("AssembleTrace", |_trace, input: &[(&Span, isize)], output: &mut Vec<(TraceFact, isize)>| {
            let spans: Vec<Span> =
                input.iter().flat_map(|(s, n)| std::iter::repeat_n((*s).clone(), (*n).max(0) as usize)).collect();
            let set = summarize(&spans);
            for t in &set.traces {
                output.push((fact(&set, t), 1));
            }
        })
        .map(|(_trace, f)| {
            let key = RollupKey {
                minute_ms: f.start_ms - f.start_ms % MINUTE_MS,
                bucket: latency_bucket(f.duration_us),
                error: f.error,
                error_source: f.error_source,
                shape: f.shape,
            };
            (key, (f.duration_us, f.start_ms, f.spans, f.trace_id))
        })
        .reduce_named("RollUp", |_key, input: &[(&TraceRow, isize)], output: &mut Vec<(RollupValue, isize)>| {
            let mut v = RollupValue {
                requests: 0,
                duration_sum_us: 0,
                min_duration_us: u64::MAX,
                max_duration_us: 0,
                spans: 0,
                first_start_ms: u64::MAX,
                trace_id: String::new(),
            };
            for ((d, start, spans, id), n) in input {
                let n = (*n).max(0) as u64;
                v.requests += n;
                v.duration_sum_us += u128::from(*d) * u128::from(n);
                v.min_duration_us = v.min_duration_us.min(*d);
                v.max_duration_us = v.max_duration_us.max(*d);
                v.spans += spans * n;
                v.first_start_ms = v.first_start_ms.min(*start);
                if v.trace_id.is_empty() || *id < v.trace_id {
                    v.trace_id = id.clone();
                }
            }
            if v.requests > 0 {
                output.push((v, 1));
            }
        })
}

/// [`trace_rollup`] on timely streams of differential updates `(data, time, diff)` — span
/// updates from [`span_updates`] / [`seed_updates`] in, roll-up row updates out — for callers
/// that build their dataflow with timely alone.
pub fn rollup_updates<'scope>(
    spans: timely::dataflow::StreamVec<'scope, u64, (Span, u64, isize)>,
) -> timely::dataflow::StreamVec<'scope, u64, ((RollupKey, RollupValue), u64, isize)> {
    use differential_dataflow::AsCollection;
    trace_rollup(spans.as_collection()).inner
}

fn fact(set: &TraceSet, t: &TraceSummary) -> TraceFact {
    TraceFact {
        shape: set.shapes[t.shape as usize].clone(),
        start_ms: t.start_ms,
        duration_us: t.duration_us.min(MAX_DURATION_US),
        error: t.error,
        error_source: t.error_source,
        spans: t.spans,
        trace_id: t.trace_id.clone(),
    }
}

/// The host side of the live roll-up: takes the dataflow's output updates, closes minutes as
/// the frontier passes them, keeps the closed minutes' rows and answers `sli_minutes`.
#[derive(Debug, Default)]
pub struct LiveSlis {
    cfg: LiveConfig,
    /// Net updates of minutes still open, at times before each minute's close.
    open: BTreeMap<u64, HashMap<(RollupKey, RollupValue), isize>>,
    /// Closed minutes' rows.
    closed: BTreeMap<u64, Vec<(RollupKey, RollupValue)>>,
    /// Every minute below this is closed.
    closed_below: u64,
    /// Updates that came after their minute closed (late spans, retirements).
    ignored: u64,
    /// Closed minutes evicted by the history cap.
    evicted: u64,
}

impl LiveSlis {
    /// An empty roll-up.
    pub fn new(cfg: LiveConfig) -> Self {
        LiveSlis { cfg, ..Default::default() }
    }

    /// The settings.
    pub fn config(&self) -> &LiveConfig {
        &self.cfg
    }

    /// A roll-up that resumes after a restart: `closed` holds the rows of the minutes closed
    /// before (as [`LiveSlis::closed_rows`] gave them), `frontier` the frontier they were closed
    /// at. Minutes the frontier had closed stay closed; later ones are built again from the
    /// spans fed in ([`seed_updates`], then the stream).
    pub fn restore(
        cfg: LiveConfig,
        frontier: u64,
        closed: impl IntoIterator<Item = (u64, Vec<(RollupKey, RollupValue)>)>,
    ) -> Self {
        let mut live = LiveSlis::new(cfg);
        live.closed.extend(closed.into_iter().filter(|(_, rows)| !rows.is_empty()));
        live.close(Some(frontier));
        live
    }

    /// The rows of a closed minute (`None` when it is not closed or had no traffic).
    pub fn closed_rows(&self, minute_ms: u64) -> Option<&[(RollupKey, RollupValue)]> {
        self.closed.get(&minute_ms).map(Vec::as_slice)
    }

    /// The oldest closed minute kept, if any.
    pub fn oldest_closed_minute(&self) -> Option<u64> {
        self.closed.keys().next().copied()
    }

    /// Every kept closed minute with its rows, oldest first.
    pub fn closed(&self) -> impl Iterator<Item = (u64, &[(RollupKey, RollupValue)])> {
        self.closed.iter().map(|(m, rows)| (*m, rows.as_slice()))
    }

    /// Takes output updates of [`trace_rollup`] (data, time, diff). An update at or after its
    /// minute's close (a retirement, or a late span's change) does not touch the minute.
    pub fn apply(&mut self, updates: impl IntoIterator<Item = ((RollupKey, RollupValue), u64, isize)>) {
        for (row, time, diff) in updates {
            let minute = row.0.minute_ms;
            if minute < self.closed_below || time >= self.cfg.close_of(minute) {
                self.ignored += 1;
                continue;
            }
            let m = self.open.entry(minute).or_default();
            let n = m.entry(row).or_insert(0);
            *n += diff;
        }
    }

    /// Closes every minute whose close is at or below `frontier` (`None`: the input ended, close
    /// all) and returns the minutes closed now.
    pub fn close(&mut self, frontier: Option<u64>) -> Vec<u64> {
        let mut now = Vec::new();
        while let Some((&minute, _)) = self.open.first_key_value() {
            if frontier.is_some_and(|f| self.cfg.close_of(minute) > f) {
                break;
            }
            if let Some((_, rows)) = self.open.pop_first() {
                let mut kept: Vec<(RollupKey, RollupValue)> =
                    rows.into_iter().filter(|(_, n)| *n > 0).map(|(row, _)| row).collect();
                kept.sort();
                if !kept.is_empty() {
                    self.closed.insert(minute, kept);
                    now.push(minute);
                }
            }
        }
        self.closed_below = match frontier {
            Some(f) => self.closed_below.max(f.saturating_sub(MINUTE_MS + self.cfg.allowed_lateness_ms)),
            None => u64::MAX,
        };
        while self.closed.len() > self.cfg.max_history_minutes {
            self.closed.pop_first();
            self.evicted += 1;
        }
        now
    }

    /// Closed minutes kept.
    pub fn closed_minutes(&self) -> usize {
        self.closed.len()
    }

    /// Minutes still open (their rows can change).
    pub fn open_minutes(&self) -> usize {
        self.open.len()
    }

    /// Updates ignored because their minute had closed.
    pub fn ignored_updates(&self) -> u64 {
        self.ignored
    }

    /// Closed minutes evicted by [`LiveConfig::max_history_minutes`].
    pub fn evicted_minutes(&self) -> u64 {
        self.evicted
    }

    /// The traces of every kept closed minute, rolled up as batch analysis rolls them up.
    pub fn trace_set(&self) -> TraceSet {
        let mut rollup = TraceRollup::new();
        let mut spans = 0u64;
        for (key, v) in self.closed.values().flatten() {
            let t = TraceSummary {
                trace_id: v.trace_id.clone(),
                shape: 0,
                start_ms: v.first_start_ms,
                duration_us: 0,
                min_duration_us: v.min_duration_us,
                max_duration_us: v.max_duration_us,
                error: key.error,
                error_source: key.error_source,
                spans: v.spans,
                requests: v.requests,
            };
            spans += v.spans;
            rollup.add_group(&key.shape, t, v.duration_sum_us, key.bucket);
        }
        let (shapes, traces) = rollup.finish();
        TraceSet { shapes, traces, call_graph: Vec::new(), orphan_spans: 0, spans: spans as usize }
    }

    /// `sli_minutes` rows of every kept closed minute under the journeys discovered from all of
    /// them, sorted by journey then minute.
    pub fn minutes(&self) -> Vec<SliMinute> {
        let discovery = discover_traces(&self.trace_set(), &self.cfg.journeys);
        let mut rows = compute(&discovery).minutes;
        rows.sort_by(|a, b| (&a.journey, a.minute_ms).cmp(&(&b.journey, b.minute_ms)));
        rows
    }

    /// Runs the roll-up in this thread over batches of spans, as a stream would deliver them:
    /// batch `i` arrives when the watermark (newest start so far minus the allowed lateness)
    /// is where the batches before it left it; minutes close as it passes them. The end of the
    /// batches closes every minute. For tests and for replaying spans through the live path.
    pub fn run_batches(cfg: LiveConfig, batches: &[Vec<Span>]) -> LiveSlis {
        Self::run_metered(cfg, batches).0
    }

    /// [`LiveSlis::run_batches`], with the updates the dataflow's operators hold after each batch
    /// ([`ArrangementMeter`]).
    fn run_metered(cfg: LiveConfig, batches: &[Vec<Span>]) -> (LiveSlis, Vec<i64>) {
        let (live, held, _) = Self::run_from(LiveSlis::new(cfg), 0, Vec::new(), batches, true);
        (live, held)
    }

    /// Runs `batches` through a dataflow whose input starts at `t0` with `seeds` put back in
    /// ([`seed_updates`]), on top of `live`; closes everything at the end when `end`, else
    /// returns with the minutes the last frontier left open (and that frontier), as a process
    /// that dies would.
    fn run_from(
        live: LiveSlis,
        t0: u64,
        seeds: Vec<Span>,
        batches: &[Vec<Span>],
        end: bool,
    ) -> (LiveSlis, Vec<i64>, u64) {
        use differential_dataflow::AsCollection;
        use std::cell::RefCell;
        use std::rc::Rc;
        use timely::dataflow::operators::vec::Input;
        use timely::dataflow::operators::{Inspect, Probe};
        use timely::dataflow::ProbeHandle;

        type Update = ((RollupKey, RollupValue), u64, isize);
        let batches = batches.to_vec();
        timely::execute_directly(move |worker| {
            let out: Rc<RefCell<Vec<Update>>> = Rc::default();
            let sink = out.clone();
            let mut live = live;
            let cfg = live.config().clone();
            let meter = ArrangementMeter::install(worker);
            let mut held = Vec::new();
            let probe = ProbeHandle::<u64>::new();
            let mut input = worker.dataflow::<u64, _, _>(|scope| {
                let (input, stream) = scope.new_input::<(Span, u64, isize)>();
                let sink = sink.clone();
                trace_rollup(stream.as_collection())
                    .inner
                    .inspect(move |u: &Update| sink.borrow_mut().push(u.clone()))
                    .probe_with(&probe);
                input
            });
            input.advance_to(t0);
            for s in seeds {
                if let Some(us) = seed_updates(s, t0, &cfg) {
                    for u in us {
                        input.send(u);
                    }
                }
            }
            let mut newest = 0u64;
            for batch in batches {
                let now = *input.time();
                for s in batch {
                    newest = newest.max(s.start_ms);
                    if let Some(us) = span_updates(s, now, &cfg) {
                        for u in us {
                            input.send(u);
                        }
                    }
                }
                let watermark = newest.saturating_sub(cfg.allowed_lateness_ms).max(now + 1);
                input.advance_to(watermark);
                while probe.less_than(input.time()) {
                    worker.step();
                }
                live.apply(out.borrow_mut().drain(..));
                live.close(Some(*input.time()));
                held.push(meter.as_ref().map_or(0, ArrangementMeter::records));
            }
            let frontier = *input.time();
            if !end {
                return (live, held, frontier);
            }
            drop(input);
            while !probe.done() {
                worker.step();
            }
            live.apply(out.borrow_mut().drain(..));
            live.close(None);
            (live, held, frontier)
        })
    }
}

/// The updates a worker's differential operators hold — in their arrangements (the spine's
/// batches) and in their batchers (updates at future times: the span retirements) — counted
/// from differential's `differential/arrange` log: a batch adds its length, a completed merge
/// replaces its two inputs' lengths by the merged length (compaction shows here), a dropped batch
/// subtracts its length. Install it on the worker before building the dataflow; timely flushes
/// the log at every step, so the figures are current after [`timely::worker::Worker::step`].
#[derive(Clone, Debug, Default)]
pub struct ArrangementMeter {
    held: std::rc::Rc<std::cell::Cell<(i64, i64)>>,
}

impl ArrangementMeter {
    /// Starts counting the arrangements of dataflows built on `worker` from now on. `None` when
    /// the worker has logging switched off.
    pub fn install(worker: &mut timely::worker::Worker) -> Option<ArrangementMeter> {
        use differential_dataflow::logging::{DifferentialEvent, DifferentialEventBuilder};
        let meter = ArrangementMeter::default();
        let held = meter.held.clone();
        worker.log_register()?.insert::<DifferentialEventBuilder, _>("differential/arrange", move |_time, data| {
            let Some(events) = data else { return };
            let (mut records, mut peak) = held.get();
            for (_, event) in events.iter() {
                records += match event {
                    DifferentialEvent::Batch(e) => e.length as i64,
                    DifferentialEvent::Merge(e) => {
                        e.complete.map_or(0, |n| n as i64 - e.length1 as i64 - e.length2 as i64)
                    }
                    DifferentialEvent::Drop(e) => -(e.length as i64),
                    DifferentialEvent::Batcher(e) => e.records_diff as i64,
                    _ => 0,
                };
                peak = peak.max(records);
            }
            held.set((records, peak));
        });
        Some(meter)
    }

    /// Updates held now.
    pub fn records(&self) -> i64 {
        self.held.get().0
    }

    /// The most updates held at any point so far.
    pub fn peak(&self) -> i64 {
        self.held.get().1
    }
}

/// Where a journey stands against an availability objective, from its `sli_minutes` rows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JourneyStatus {
    /// Journey name.
    pub journey: String,
    /// Its entry service.
    pub service: String,
    /// The newest minute with traffic, ms.
    pub last_minute_ms: u64,
    /// Requests over the rows given (the kept history: the budget's window).
    pub requests: u64,
    /// Failed requests over the rows given.
    pub errors: u64,
    /// `1 - errors / requests` over the rows given.
    pub availability: f64,
    /// Error rate over the last 5 minutes ÷ the error rate the objective allows.
    pub burn_rate_5m: f64,
    /// The same over the last hour.
    pub burn_rate_1h: f64,
    /// Share of the error budget of the rows' window still unspent: `1 - (errors / requests) /
    /// (1 - objective)`; negative once overspent.
    pub budget_remaining: f64,
    /// p99 latency of the newest minute, ms.
    pub latency_p99_ms: f64,
}

/// Per journey: availability, burn rates and error budget against `objective`. The burn-rate
/// windows end where the newest row (of any journey) ends, so a journey without recent traffic
/// burns nothing.
///
/// ```
/// use slo_advisor::live::journey_status;
/// use slo_advisor::sli::{Percentiles, SliMinute};
///
/// let row = |minute: u64, requests: u64, errors: u64| SliMinute {
///     journey: "GET /cart".into(), service: "api".into(), minute_ms: minute * 60_000, requests, errors,
///     availability: 1.0 - errors as f64 / requests as f64, latency: Percentiles::default(),
///     throughput_rps: requests as f64 / 60.0,
/// };
/// // 100 minutes of 1,000 requests; the last 5 minutes fail 1 %.
/// let rows: Vec<SliMinute> = (0..100).map(|m| row(m, 1_000, if m >= 95 { 10 } else { 0 })).collect();
/// let s = &journey_status(&rows, 0.999)[0];
/// assert!((s.burn_rate_5m - 10.0).abs() < 1e-9); // 1 % errors against a 0.1 % budget
/// assert!((s.burn_rate_1h - 50.0 / 60_000.0 / 0.001).abs() < 1e-9);
/// assert!((s.budget_remaining - (1.0 - 50.0 / 100_000.0 / 0.001)).abs() < 1e-9);
/// ```
pub fn journey_status(rows: &[SliMinute], objective: f64) -> Vec<JourneyStatus> {
    let Some(now) = rows.iter().map(|r| r.minute_ms + MINUTE_MS).max() else { return Vec::new() };
    let budget = (1.0 - objective).max(f64::MIN_POSITIVE);
    let burn = |errors: u64, requests: u64| if requests == 0 { 0.0 } else { errors as f64 / requests as f64 / budget };
    let mut by: BTreeMap<&str, Vec<&SliMinute>> = BTreeMap::new();
    for r in rows {
        by.entry(&r.journey).or_default().push(r);
    }
    by.into_values()
        .map(|mut rs| {
            rs.sort_by_key(|r| r.minute_ms);
            let within = |ms: u64| {
                rs.iter().filter(|r| r.minute_ms + ms >= now).fold((0, 0), |(e, n), r| (e + r.errors, n + r.requests))
            };
            let (errors, requests) = within(u64::MAX / 2);
            let ((e5, n5), (e60, n60)) = (within(5 * MINUTE_MS), within(60 * MINUTE_MS));
            let last = rs[rs.len() - 1];
            JourneyStatus {
                journey: last.journey.clone(),
                service: last.service.clone(),
                last_minute_ms: last.minute_ms,
                requests,
                errors,
                availability: 1.0 - errors as f64 / requests.max(1) as f64,
                burn_rate_5m: burn(e5, n5),
                burn_rate_1h: burn(e60, n60),
                budget_remaining: 1.0 - burn(errors, requests),
                latency_p99_ms: last.latency.p99_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze, AnalyzeConfig};
    use proptest::prelude::*;

    const T0: u64 = 1_735_699_980_000; // a minute boundary

    fn span(trace: usize, id: &str, parent: Option<&str>, service: &str, op: &str, start_ms: u64, us: u64) -> Span {
        Span {
            trace_id: format!("t{trace:05}"),
            span_id: id.into(),
            parent: parent.map(str::to_string),
            service: service.into(),
            operation: op.into(),
            start_ms,
            duration_us: us,
            error: us.is_multiple_of(7),
            error_source: ErrorSource::SpanStatus,
            http_route: None,
        }
    }

    /// Traces over a few minutes: a generic gateway root (most traces) with varying children,
    /// and a few other roots.
    fn traces(seeds: &[(u8, u16, u32)]) -> Vec<Span> {
        let children = ["cart", "checkout", "search", "login"];
        let mut out = Vec::new();
        for (i, &(kind, offset_s, us)) in seeds.iter().enumerate() {
            let start = T0 + u64::from(offset_s) * 100;
            let us = u64::from(us % 2_000_000) + 1;
            if kind % 5 == 0 {
                out.push(span(i, "r", None, "admin", "GET /health", start, us));
                continue;
            }
            out.push(span(i, "r", None, "frontend", "Recv.", start, us));
            for c in 0..=(kind as usize % 3) {
                let op = children[(kind as usize + c) % children.len()];
                out.push(span(i, &format!("c{c}"), Some("r"), op, op, start + c as u64, us / 2));
            }
        }
        out
    }

    /// Arrival order: by start time, then each span moved by up to `jitter_ms` (less than the
    /// allowed lateness), cut into batches of the given sizes.
    fn arrive(mut spans: Vec<Span>, jitter: &[u16], sizes: &[u8]) -> Vec<Vec<Span>> {
        let key = |i: usize, s: &Span| s.start_ms + u64::from(jitter[i % jitter.len()] % 30_000);
        let mut keyed: Vec<(u64, Span)> = spans.drain(..).enumerate().map(|(i, s)| (key(i, &s), s)).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut batches = Vec::new();
        let mut it = keyed.into_iter().map(|(_, s)| s).peekable();
        let mut k = 0;
        while it.peek().is_some() {
            let n = usize::from(sizes[k % sizes.len()]).max(1);
            batches.push(it.by_ref().take(n).collect());
            k += 1;
        }
        batches
    }

    fn batch_minutes(spans: &[Span]) -> Vec<SliMinute> {
        let mut rows = analyze(spans, &AnalyzeConfig::default()).minutes;
        rows.sort_by(|a, b| (&a.journey, a.minute_ms).cmp(&(&b.journey, b.minute_ms)));
        rows
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// Any arrival order (within the lateness bound) and any batching of the same spans
        /// gives the `sli_minutes` rows of batch analysis, with minutes closing mid-stream.
        #[test]
        fn any_order_and_batching_equals_batch_analysis(
            seeds in prop::collection::vec((any::<u8>(), 0u16..3_000, any::<u32>()), 1..120),
            jitter in prop::collection::vec(any::<u16>(), 1..40),
            sizes in prop::collection::vec(1u8..40, 1..20),
        ) {
            let spans = traces(&seeds);
            let live = LiveSlis::run_batches(LiveConfig::default(), &arrive(spans.clone(), &jitter, &sizes));
            prop_assert_eq!(live.ignored_updates() > 0 || live.closed_minutes() > 0, true);
            prop_assert_eq!(live.minutes(), batch_minutes(&spans));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// A process that dies mid-stream and restarts as the Kafka runner does — the closed
        /// minutes restored from what it saved, the spans it had read put back at the restart
        /// time `t0` (any point up to the frontier it died at), the rest of the stream after —
        /// ends with the `sli_minutes` of batch analysis.
        #[test]
        fn a_restart_from_saved_minutes_and_stored_spans_equals_batch_analysis(
            seeds in prop::collection::vec((any::<u8>(), 0u16..3_000, any::<u32>()), 20..120),
            jitter in prop::collection::vec(any::<u16>(), 1..40),
            sizes in prop::collection::vec(1u8..40, 1..20),
            cut in 0.0f64..1.0,
            back in 0.0f64..1.0,
        ) {
            let spans = traces(&seeds);
            let batches = arrive(spans.clone(), &jitter, &sizes);
            let k = ((batches.len() as f64 * cut) as usize).min(batches.len());
            let cfg = LiveConfig::default();
            let (before, _, frontier) = LiveSlis::run_from(LiveSlis::new(cfg.clone()), 0, Vec::new(), &batches[..k], false);
            let t0 = (frontier as f64 * back) as u64; // the durable watermark: at most the frontier
            let saved: Vec<(u64, Vec<(RollupKey, RollupValue)>)> =
                before.closed().map(|(m, rows)| (m, rows.to_vec())).collect();
            let stored: Vec<Span> = batches[..k].iter().flatten().cloned().collect();
            let restored = LiveSlis::restore(cfg, frontier, saved);
            let (after, _, _) = LiveSlis::run_from(restored, t0, stored, &batches[k..], true);
            prop_assert_eq!(after.minutes(), batch_minutes(&spans));
        }
    }

    /// A child that arrives after its root's first assembly retracts the trace's old shape: the
    /// journey it lands in changes, and the totals do not double.
    #[test]
    fn a_late_child_moves_its_trace_to_another_shape() {
        let root = span(1, "r", None, "frontend", "Recv.", T0, 10_000);
        let child = span(1, "c", Some("r"), "cart", "cart", T0 + 2, 5_000);
        let others: Vec<Span> = (2..10)
            .flat_map(|i| {
                let s = T0 + i as u64;
                [
                    span(i, "r", None, "frontend", "Recv.", s, 10_000),
                    span(i, "c", Some("r"), "search", "search", s + 1, 5_000),
                ]
            })
            .collect();
        let mut first = vec![root.clone()];
        first.extend(others.clone());
        let live = LiveSlis::run_batches(LiveConfig::default(), &[first, vec![child.clone()]]);
        let mut all = others;
        all.extend([root, child]);
        let rows = live.minutes();
        prop_assert_eq_fn(&rows, &batch_minutes(&all));
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 9);
        assert!(rows.iter().any(|r| r.journey.contains("cart") || r.journey.contains("add to cart")), "{rows:?}");
    }

    fn prop_assert_eq_fn(a: &[SliMinute], b: &[SliMinute]) {
        assert_eq!(a, b);
    }

    /// Memory follows open traces: the updates the dataflow holds, measured from differential's
    /// own log ([`ArrangementMeter`]), stay within a constant factor of the spans inside the
    /// retirement horizon and do not grow with the history streamed; closed minutes beyond the
    /// history cap go.
    #[test]
    fn state_is_bounded_by_open_traces_and_history_by_its_cap() {
        let cfg = LiveConfig { max_history_minutes: 30, ..LiveConfig::default() };
        // Four hours of traffic, a trace every 2 s, in batches of 10 s.
        let batches: Vec<Vec<Span>> = (0..1_440u64)
            .map(|b| {
                (0..5u64)
                    .map(|k| {
                        let i = (b * 5 + k) as usize;
                        span(i, "r", None, "api", "GET /x", T0 + i as u64 * 2_000, 3_000)
                    })
                    .collect()
            })
            .collect();
        let (live, held) = LiveSlis::run_metered(cfg.clone(), &batches);
        assert_eq!(live.closed_minutes(), 30);
        assert_eq!(live.evicted_minutes(), 240 - 30);
        assert_eq!(live.open_minutes(), 0);
        // Each kept minute has its 30 traces.
        assert!(live.minutes().iter().all(|r| r.requests == 30));
        // The horizon a span lives for: its minute, the lateness and the longest trace.
        let horizon = cfg.retire_of(T0) - T0;
        assert!(horizon <= MINUTE_MS + cfg.allowed_lateness_ms + cfg.max_trace_ms);
        let in_horizon = (horizon / 2_000) as i64; // spans alive at once
        let first_hour = held[..360].iter().copied().max().unwrap();
        let last_hour = held[1_080..].iter().copied().max().unwrap();
        eprintln!(
            "updates held: peak {} in the first hour, {} in the last; {in_horizon} spans in the horizon",
            first_hour, last_hour
        );
        assert!(first_hour > 0, "the meter saw the arrangements: {held:?}");
        assert!(last_hour <= 10 * in_horizon, "{last_hour} updates held for {in_horizon} open spans");
        assert!(last_hour * 10 <= first_hour * 12, "state grew with history: {first_hour} → {last_hour}");
    }
}
