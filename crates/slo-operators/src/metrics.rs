//! Counters the operators update, shared by all workers of a process (cheap atomic adds), read by
//! the runner's summary and `/metrics` endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Pipeline counters. Clone the [`Arc`] into every worker.
#[derive(Debug, Default)]
pub struct PipelineMetrics {
    /// Events that entered the redaction operator.
    pub events_in: AtomicU64,
    /// Events with at least one redaction.
    pub events_redacted: AtomicU64,
    /// Templates currently known (sum over workers' miners).
    pub templates: AtomicU64,
    /// Templates evicted by the miners' caps.
    pub template_evictions: AtomicU64,
    /// Windows currently open.
    pub open_windows: AtomicU64,
    /// Windows closed early because the open-window cap was hit.
    pub window_evictions: AtomicU64,
    /// Events that arrived after their window closed (sent to the late output).
    pub late_events: AtomicU64,
    /// Capsules emitted.
    pub capsules_out: AtomicU64,
    /// Templates embedded (cache misses).
    pub embeddings_computed: AtomicU64,
    /// Total time spent embedding, µs.
    pub embed_micros: AtomicU64,
    redactions: Mutex<BTreeMap<String, u64>>,
}

impl PipelineMetrics {
    /// A fresh set of counters.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds per-type redaction counts.
    pub fn add_redactions<'a>(&self, counts: impl IntoIterator<Item = (&'a String, &'a u32)>) {
        if let Ok(mut map) = self.redactions.lock() {
            for (k, v) in counts {
                *map.entry(k.clone()).or_default() += u64::from(*v);
            }
        }
    }

    /// Redactions by entity type so far.
    pub fn redactions(&self) -> BTreeMap<String, u64> {
        self.redactions.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts from a gauge.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}
