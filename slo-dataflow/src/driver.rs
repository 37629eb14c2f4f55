//! Feeding a source into a dataflow with event-time watermarks.
//!
//! The timely timestamp of the input is the *watermark*: the driver promises that every event it
//! sends later has an event time of at least `watermark` — unless the event is more than
//! `max_out_of_orderness_ms` behind the newest event seen, in which case it may be late. The
//! watermark trails the maximum event time seen by that bound, so any arrival order within the
//! bound produces the same windows. Windows close when the frontier passes their end plus the
//! allowed lateness.

use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

use crate::event::{EventTime, TelemetryEvent};
use crate::source::{DeadLetter, SourceItem};

/// How the driver advances event time.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriverConfig {
    /// How far behind the newest event an event may arrive and still be on time. Default 60 s.
    pub max_out_of_orderness_ms: u64,
    /// Records sent between watermark advances. Default 4096.
    pub batch_size: usize,
    /// Events stamped more than this far ahead of the wall clock are dead letters, not events:
    /// one far-future time (a bad clock, microseconds read as milliseconds, `u64::MAX`) would
    /// otherwise drag the watermark ahead and make every later event late. Default 1 day;
    /// 0 turns the check off.
    pub max_future_ms: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig { max_out_of_orderness_ms: 60_000, batch_size: 4096, max_future_ms: 86_400_000 }
    }
}

/// The dead letter of an event stamped too far in the future, or the event.
fn check_future(event: TelemetryEvent, limit: Option<EventTime>) -> Result<TelemetryEvent, DeadLetter> {
    match limit {
        Some(limit) if event.timestamp_ms > limit => Err(DeadLetter {
            // The event's own fields (its id included) travel in the payload, which sinks redact.
            origin: "event-time check".to_owned(),
            line: 0,
            offset: 0,
            reason: format!(
                "event time {} ms is ahead of the wall clock by more than max_future_ms (far-future or mis-scaled timestamp)",
                event.timestamp_ms
            ),
            payload: serde_json::to_vec(&event).unwrap_or_default(),
        }),
        _ => Ok(event),
    }
}

/// What the driver saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Events sent into the dataflow.
    pub events: u64,
    /// Records that went to the dead-letter handler.
    pub malformed: u64,
    /// Highest watermark reached before the input closed.
    pub watermark: EventTime,
}

/// Sends `source` into `input`, advancing the watermark, and runs the worker until the dataflow
/// has processed everything (the input is closed at the end, which closes all windows).
///
/// Call it on every worker: workers that pass `None` contribute no data and just step.
pub fn drive(
    worker: &mut Worker,
    mut input: InputHandleVec<EventTime, TelemetryEvent>,
    probe: &ProbeHandle<EventTime>,
    source: Option<&mut dyn Iterator<Item = SourceItem>>,
    config: &DriverConfig,
    on_dead_letter: &mut dyn FnMut(DeadLetter),
) -> DriverStats {
    let mut stats = DriverStats::default();
    let mut max_seen: EventTime = 0;
    let future_limit = (config.max_future_ms > 0).then(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        now.saturating_add(config.max_future_ms)
    });
    if let Some(source) = source {
        let mut in_batch = 0usize;
        for item in source {
            match item.and_then(|e| check_future(e, future_limit)) {
                Ok(event) => {
                    max_seen = max_seen.max(event.timestamp_ms);
                    input.send(event);
                    stats.events += 1;
                }
                Err(dead) => {
                    stats.malformed += 1;
                    on_dead_letter(dead);
                }
            }
            in_batch += 1;
            if in_batch >= config.batch_size.max(1) {
                in_batch = 0;
                let watermark = max_seen.saturating_sub(config.max_out_of_orderness_ms);
                if watermark > *input.time() {
                    input.advance_to(watermark);
                }
                // Keep at most one batch in flight: bounded memory between source and operators.
                while probe.less_than(input.time()) {
                    worker.step();
                }
            }
        }
    }
    stats.watermark = *input.time();
    drop(input);
    while !probe.done() {
        worker.step();
    }
    stats
}
