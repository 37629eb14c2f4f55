//! Event-time tumbling windows with deterministic sampling: fingerprinted events in, [`Capsule`]s
//! out.
//!
//! Windows are keyed by (fingerprint, service, environment, window start). Each keeps a count,
//! the severity distribution, first/last seen, summed redaction counts and up to
//! [`WindowConfig::samples`] samples chosen by *bottom-k by hash of the event id*: the k events
//! whose id hashes (xxh3) are smallest. That rule does not depend on arrival order or on how
//! events are split across workers, and two partial windows merge exactly, so replays and
//! multi-worker runs produce identical capsules.
//!
//! The pure core is [`WindowAggregator`]; the timely operator is
//! [`WindowCapsules::window_capsules`].

mod operator;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use slo_dataflow::event::{Capsule, CapsuleSample, EventTime, FingerprintedEvent, LateEvent, MAX_CAPSULE_SAMPLES};
use slo_dataflow::time::window_start;

pub use operator::WindowCapsules;

/// Window settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowConfig {
    /// Window length, ms. Default 1 hour.
    pub size_ms: u64,
    /// How long after its end a window stays open for stragglers, ms. Default 0 (the driver's
    /// out-of-orderness bound already holds the watermark back).
    pub allowed_lateness_ms: u64,
    /// Samples kept per capsule (at most 10). Default 10.
    pub samples: usize,
    /// Cap on open windows per worker; beyond it the oldest window is closed early (counted in
    /// `evictions`). Default 200,000.
    pub max_open_windows: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            size_ms: 3_600_000,
            allowed_lateness_ms: 0,
            samples: MAX_CAPSULE_SAMPLES,
            max_open_windows: 200_000,
        }
    }
}

impl WindowConfig {
    /// The watermark at which the window starting at `start` closes.
    pub fn close_time(&self, start: EventTime) -> EventTime {
        start.saturating_add(self.size_ms.max(1)).saturating_add(self.allowed_lateness_ms)
    }
}

/// Key of one window.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WindowKey {
    /// Template fingerprint (hex).
    pub fingerprint: String,
    /// Service.
    pub service: String,
    /// Environment.
    pub environment: String,
    /// Window start, ms.
    pub start: EventTime,
}

/// The running aggregate of one window. Mergeable: `merge` of two partial states equals the state
/// of all their events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    template: String,
    count: u64,
    severity_counts: BTreeMap<String, u64>,
    first_seen: EventTime,
    last_seen: EventTime,
    /// Bottom-k samples: (hash of event id, event id) → sample.
    samples: BTreeMap<(u64, String), CapsuleSample>,
    redaction_counts: BTreeMap<String, u64>,
    redaction_applied: bool,
}

/// Hash used for bottom-k sampling (stable across processes and releases).
pub fn sample_hash(event_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(event_id.as_bytes())
}

impl WindowState {
    fn new(template: &str) -> Self {
        WindowState {
            template: template.to_string(),
            count: 0,
            severity_counts: BTreeMap::new(),
            first_seen: EventTime::MAX,
            last_seen: 0,
            samples: BTreeMap::new(),
            redaction_counts: BTreeMap::new(),
            redaction_applied: false,
        }
    }

    fn add(&mut self, ev: &FingerprintedEvent, k: usize) {
        let e = &ev.event;
        self.count += 1;
        let sev = e.severity.map_or("UNSET", |s| s.as_str());
        *self.severity_counts.entry(sev.to_string()).or_default() += 1;
        self.first_seen = self.first_seen.min(e.timestamp_ms);
        self.last_seen = self.last_seen.max(e.timestamp_ms);
        for (kind, n) in &ev.redactions {
            *self.redaction_counts.entry(kind.clone()).or_default() += u64::from(*n);
            self.redaction_applied |= *n > 0;
        }
        let key = (sample_hash(&e.event_id), e.event_id.clone());
        let admit = self.samples.len() < k || self.samples.keys().next_back().is_some_and(|max| key < *max);
        if admit && !self.samples.contains_key(&key) {
            self.samples.insert(
                key,
                CapsuleSample {
                    event_id: e.event_id.clone(),
                    timestamp_ms: e.timestamp_ms,
                    body: e.body.clone(),
                    trace_id: e.trace_id.clone(),
                    severity: e.severity,
                },
            );
            while self.samples.len() > k {
                self.samples.pop_last();
            }
        }
    }

    /// Merges another partial state of the same window into this one.
    pub fn merge(&mut self, other: WindowState, k: usize) {
        self.count += other.count;
        for (s, n) in other.severity_counts {
            *self.severity_counts.entry(s).or_default() += n;
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        for (s, n) in other.redaction_counts {
            *self.redaction_counts.entry(s).or_default() += n;
        }
        self.redaction_applied |= other.redaction_applied;
        self.samples.extend(other.samples);
        while self.samples.len() > k {
            self.samples.pop_last();
        }
    }

    fn into_capsule(self, key: WindowKey, cfg: &WindowConfig) -> Capsule {
        Capsule {
            fingerprint: key.fingerprint,
            template: self.template,
            service: key.service,
            environment: key.environment,
            window_start_ms: key.start,
            window_end_ms: key.start.saturating_add(cfg.size_ms),
            count: self.count,
            severity_counts: self.severity_counts,
            first_seen_ms: self.first_seen,
            last_seen_ms: self.last_seen,
            samples: self.samples.into_values().collect(),
            redaction_applied: self.redaction_applied,
            redaction_counts: self.redaction_counts,
            embedding: None,
        }
    }
}

/// What happened to an event given to [`WindowAggregator::add`].
#[derive(Debug, PartialEq)]
pub enum AddOutcome {
    /// Added to an open window that closes at the given watermark.
    Added {
        /// Watermark at which the window closes.
        close_at: EventTime,
    },
    /// The window had already closed at this watermark (or was evicted): reported, not dropped.
    Late(Box<LateEvent>),
}

/// Open windows of one worker.
#[derive(Debug)]
pub struct WindowAggregator {
    cfg: WindowConfig,
    open: BTreeMap<WindowKey, WindowState>,
    /// Open windows ordered by close time, for closing and eviction.
    by_close: BTreeSet<(EventTime, WindowKey)>,
    /// Keys closed early by eviction, until their normal close time passes.
    evicted: BTreeSet<(EventTime, WindowKey)>,
    evictions: u64,
    late: u64,
}

impl WindowAggregator {
    /// An aggregator with no open windows.
    pub fn new(mut cfg: WindowConfig) -> Self {
        cfg.samples = cfg.samples.min(MAX_CAPSULE_SAMPLES);
        cfg.max_open_windows = cfg.max_open_windows.max(1);
        WindowAggregator {
            cfg,
            open: BTreeMap::new(),
            by_close: BTreeSet::new(),
            evicted: BTreeSet::new(),
            evictions: 0,
            late: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WindowConfig {
        &self.cfg
    }

    /// Adds an event that arrived at watermark `arrived_at`. Events whose window closes at or
    /// before `arrived_at`, or whose window was evicted, are returned as late. When the open-window
    /// cap is exceeded, the window closing first is evicted into `evicted_out`.
    pub fn add(&mut self, ev: FingerprintedEvent, arrived_at: EventTime, evicted_out: &mut Vec<Capsule>) -> AddOutcome {
        let start = window_start(ev.event.timestamp_ms, self.cfg.size_ms);
        let close_at = self.cfg.close_time(start);
        let key = WindowKey {
            fingerprint: ev.fingerprint.clone(),
            service: ev.event.service.clone(),
            environment: ev.event.environment.clone(),
            start,
        };
        if close_at <= arrived_at || self.evicted.contains(&(close_at, key.clone())) {
            self.late += 1;
            return AddOutcome::Late(Box::new(LateEvent {
                event: ev,
                window_start_ms: start,
                arrived_at_ms: arrived_at,
            }));
        }
        let k = self.cfg.samples;
        match self.open.get_mut(&key) {
            Some(state) => state.add(&ev, k),
            None => {
                let mut state = WindowState::new(&ev.template);
                state.add(&ev, k);
                self.open.insert(key.clone(), state);
                self.by_close.insert((close_at, key));
                while self.open.len() > self.cfg.max_open_windows {
                    let Some((t, victim)) = self.by_close.pop_first() else { break };
                    if let Some(state) = self.open.remove(&victim) {
                        self.evictions += 1;
                        self.evicted.insert((t, victim.clone()));
                        evicted_out.push(state.into_capsule(victim, &self.cfg));
                    }
                }
            }
        }
        AddOutcome::Added { close_at }
    }

    /// Closes every window whose close time is at or before `watermark`, in key order.
    pub fn close_until(&mut self, watermark: EventTime) -> Vec<Capsule> {
        let mut out = Vec::new();
        while let Some((t, _)) = self.by_close.first() {
            if *t > watermark {
                break;
            }
            let Some((_, key)) = self.by_close.pop_first() else { break };
            if let Some(state) = self.open.remove(&key) {
                out.push(state.into_capsule(key, &self.cfg));
            }
        }
        while self.evicted.first().is_some_and(|(t, _)| *t <= watermark) {
            self.evicted.pop_first();
        }
        out
    }

    /// Closes every window (end of input).
    pub fn close_all(&mut self) -> Vec<Capsule> {
        self.close_until(EventTime::MAX)
    }

    /// Number of open windows.
    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// Windows closed early because of the cap.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Late events seen.
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Earliest close time among open windows.
    pub fn next_close(&self) -> Option<EventTime> {
        self.by_close.first().map(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests;
