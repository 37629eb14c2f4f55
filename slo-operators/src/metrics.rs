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

    /// The counters in the Prometheus text exposition format (version 0.0.4), metric names
    /// prefixed `slo_scout_`. Embedding latency is a summary without quantiles
    /// (`slo_scout_embed_duration_seconds_sum` / `_count`), so rates of both give the mean.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, value: String| {
            out.push_str(&format!("# HELP slo_scout_{name} {help}\n# TYPE slo_scout_{name} {kind}\n"));
            out.push_str(&value);
        };
        let plain = |name: &str, v: u64| format!("slo_scout_{name} {v}\n");
        let counters: [(&str, &str, &str, &AtomicU64); 9] = [
            ("events_total", "counter", "Events that entered the redaction operator.", &self.events_in),
            ("events_redacted_total", "counter", "Events with at least one redaction.", &self.events_redacted),
            ("templates", "gauge", "Log templates currently known (all workers).", &self.templates),
            ("template_evictions_total", "counter", "Templates evicted by the miners' caps.", &self.template_evictions),
            ("open_windows", "gauge", "Event-time windows currently open.", &self.open_windows),
            (
                "window_evictions_total",
                "counter",
                "Windows closed early by the open-window cap.",
                &self.window_evictions,
            ),
            ("late_events_total", "counter", "Events that arrived after their window closed.", &self.late_events),
            ("capsules_total", "counter", "Capsules emitted.", &self.capsules_out),
            (
                "embeddings_computed_total",
                "counter",
                "Templates embedded (embedding-cache misses).",
                &self.embeddings_computed,
            ),
        ];
        for (name, kind, help, counter) in counters {
            one(name, kind, help, plain(name, Self::get(counter)));
        }
        let redactions = self.redactions();
        let mut lines = String::new();
        for (kind, n) in &redactions {
            lines.push_str(&format!("slo_scout_redactions_total{{type=\"{}\"}} {n}\n", escape_label(kind)));
        }
        one("redactions_total", "counter", "PII and secret findings redacted, by entity type.", lines);
        let secs = Self::get(&self.embed_micros) as f64 / 1e6;
        one(
            "embed_duration_seconds",
            "summary",
            "Time spent embedding templates.",
            format!(
                "slo_scout_embed_duration_seconds_sum {secs}\nslo_scout_embed_duration_seconds_count {}\n",
                Self::get(&self.embeddings_computed)
            ),
        );
        out
    }

    /// Subtracts from a gauge.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Escapes a Prometheus label value (backslash, double quote, newline).
pub fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_help_type_and_samples() {
        let m = PipelineMetrics::new();
        PipelineMetrics::add(&m.events_in, 7);
        PipelineMetrics::add(&m.embeddings_computed, 2);
        PipelineMetrics::add(&m.embed_micros, 1_500_000);
        m.add_redactions([(&"EMAIL".to_owned(), &3u32), (&"IP\"v4".to_owned(), &1u32)]);
        let text = m.to_prometheus();
        assert!(text.contains("# TYPE slo_scout_events_total counter\nslo_scout_events_total 7\n"), "{text}");
        assert!(text.contains("slo_scout_redactions_total{type=\"EMAIL\"} 3\n"));
        assert!(text.contains("slo_scout_redactions_total{type=\"IP\\\"v4\"} 1\n"), "label values are escaped");
        assert!(text.contains("slo_scout_embed_duration_seconds_sum 1.5\nslo_scout_embed_duration_seconds_count 2\n"));
        // Every sample line belongs to a family announced just before it.
        let mut family = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split_whitespace().next().unwrap().to_owned();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&family), "{line} outside {family}");
                let value = line.rsplit(' ').next().unwrap();
                value.parse::<f64>().unwrap_or_else(|_| panic!("bad value in {line}"));
            }
        }
    }
}
