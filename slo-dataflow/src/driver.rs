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
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig { max_out_of_orderness_ms: 60_000, batch_size: 4096 }
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
    if let Some(source) = source {
        let mut in_batch = 0usize;
        for item in source {
            match item {
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
