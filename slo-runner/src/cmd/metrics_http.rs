//! The runner's own metrics and the HTTP endpoint that serves them: `GET /metrics` (Prometheus
//! text format: the pipeline's counters plus Kafka records in/out per topic, dead letters by
//! reason, consumer lag per partition, commits, the durable watermark) and `GET /healthz`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use slo_advisor::live::JourneyStatus;
use slo_operators::metrics::{escape_label, PipelineMetrics};

/// Counters of the Kafka runner (the operators' counters live in [`PipelineMetrics`]).
#[derive(Debug, Default)]
pub(crate) struct RunnerMetrics {
    /// The operators' counters.
    pub pipeline: Arc<PipelineMetrics>,
    /// Records consumed, by topic.
    records_in: Mutex<BTreeMap<String, u64>>,
    /// Records produced (and acknowledged or queued), by topic.
    records_out: Mutex<BTreeMap<String, u64>>,
    /// Dead letters by reason code.
    dead_letters: Mutex<BTreeMap<String, u64>>,
    /// Consumer lag by (topic, partition): high watermark minus the next offset to read.
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    /// Offset commits that succeeded.
    pub commits: AtomicU64,
    /// Every window closing at or before this event time (ms) is durable.
    pub durable_watermark_ms: AtomicU64,
    /// Per journey, from the live roll-up's last closed minute.
    journeys: Mutex<Vec<JourneyStatus>>,
    /// Availability objective the burn rates are measured against.
    objective: Mutex<f64>,
    /// Minutes the live roll-up closed.
    live_minutes_closed: AtomicU64,
    /// Minutes open / closed minutes kept in the live roll-up.
    live_open_minutes: AtomicU64,
    live_kept_minutes: AtomicU64,
    /// Spans that arrived after their minute closed.
    live_late_spans: AtomicU64,
    /// Updates held by each worker's differential operators.
    arranged: Mutex<BTreeMap<usize, i64>>,
    /// The most updates one worker's differential operators held.
    pub live_arranged_peak: AtomicI64,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str, n: u64) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key.to_owned()).or_default() += n;
    }
}

impl RunnerMetrics {
    /// Fresh counters around the pipeline's.
    pub(crate) fn new(pipeline: Arc<PipelineMetrics>) -> Arc<Self> {
        Arc::new(RunnerMetrics { pipeline, ..Default::default() })
    }
    /// Counts records consumed from `topic`.
    pub(crate) fn record_in(&self, topic: &str, n: u64) {
        bump(&self.records_in, topic, n);
    }
    /// Counts records produced to `topic`.
    pub(crate) fn record_out(&self, topic: &str, n: u64) {
        bump(&self.records_out, topic, n);
    }
    /// Counts a dead letter.
    pub(crate) fn dead_letter(&self, reason: &str) {
        bump(&self.dead_letters, reason, 1);
    }
    /// Sets the lag of a partition.
    pub(crate) fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        if let Ok(mut m) = self.lag.lock() {
            m.insert((topic.to_owned(), partition), lag.max(0));
        }
    }

    /// Replaces the per-journey figures (after a minute closed).
    pub(crate) fn set_journeys(&self, journeys: Vec<JourneyStatus>) {
        if let Ok(mut j) = self.journeys.lock() {
            *j = journeys;
        }
    }
    /// Sets the objective the burn rates and budgets are measured against.
    pub(crate) fn set_objective(&self, objective: f64) {
        if let Ok(mut o) = self.objective.lock() {
            *o = objective;
        }
    }
    /// Counts closed minutes and sets the live roll-up's minute gauges.
    pub(crate) fn live_closed(&self, closed: u64, open: u64, kept: u64) {
        self.live_minutes_closed.fetch_add(closed, Ordering::Relaxed);
        self.live_open_minutes.store(open, Ordering::Relaxed);
        self.live_kept_minutes.store(kept, Ordering::Relaxed);
    }
    /// Counts a span that came after its minute closed.
    pub(crate) fn live_late_span(&self) {
        self.live_late_spans.fetch_add(1, Ordering::Relaxed);
    }
    /// Sets the updates a worker's differential operators hold.
    pub(crate) fn set_arranged(&self, worker: usize, updates: i64) {
        if let Ok(mut m) = self.arranged.lock() {
            m.insert(worker, updates);
        }
        self.live_arranged_peak.fetch_max(updates, Ordering::Relaxed);
    }

    /// Everything in the Prometheus text exposition format.
    pub(crate) fn to_prometheus(&self) -> String {
        let mut out = self.pipeline.to_prometheus();
        let by = |out: &mut String, name: &str, label: &str, map: &Mutex<BTreeMap<String, u64>>| {
            for (k, v) in map.lock().map(|m| m.clone()).unwrap_or_default() {
                out.push_str(&format!("slo_scout_{name}{{{label}=\"{}\"}} {v}\n", escape_label(&k)));
            }
        };
        family(&mut out, "kafka_records_in_total", "counter", "Records consumed, by topic.");
        by(&mut out, "kafka_records_in_total", "topic", &self.records_in);
        family(&mut out, "kafka_records_out_total", "counter", "Records produced, by topic.");
        by(&mut out, "kafka_records_out_total", "topic", &self.records_out);
        family(&mut out, "dead_letters_total", "counter", "Records sent to the dead-letter topic, by reason.");
        by(&mut out, "dead_letters_total", "reason", &self.dead_letters);
        family(
            &mut out,
            "kafka_consumer_lag",
            "gauge",
            "Records not yet read, by partition (high watermark - next offset).",
        );
        for ((topic, p), lag) in self.lag.lock().map(|m| m.clone()).unwrap_or_default() {
            out.push_str(&format!(
                "slo_scout_kafka_consumer_lag{{topic=\"{}\",partition=\"{p}\"}} {lag}\n",
                escape_label(&topic)
            ));
        }
        family(&mut out, "kafka_commits_total", "counter", "Offset commits after capsules were durable.");
        out.push_str(&format!("slo_scout_kafka_commits_total {}\n", self.commits.load(Ordering::Relaxed)));
        family(
            &mut out,
            "durable_watermark_seconds",
            "gauge",
            "Every window closing at or before this event time (Unix seconds) is in the store.",
        );
        let secs = self.durable_watermark_ms.load(Ordering::Relaxed) as f64 / 1000.0;
        out.push_str(&format!("slo_scout_durable_watermark_seconds {secs}\n"));
        self.live_to_prometheus(&mut out);
        out
    }

    /// The live roll-up's families: per journey SLIs, burn rates and error budget, and the
    /// roll-up's own state.
    fn live_to_prometheus(&self, out: &mut String) {
        let journeys = self.journeys.lock().map(|j| j.clone()).unwrap_or_default();
        let objective = self.objective.lock().map(|o| *o).unwrap_or(0.999);
        let labels = |j: &JourneyStatus| {
            format!("journey=\"{}\",service=\"{}\"", escape_label(&j.journey), escape_label(&j.service))
        };
        type Figure = (&'static str, &'static str, fn(&JourneyStatus) -> f64);
        let figures: [Figure; 6] = [
            ("journey_requests", "Requests over the kept history (live roll-up).", |j| j.requests as f64),
            ("journey_errors", "Failed requests over the kept history (live roll-up).", |j| j.errors as f64),
            ("journey_availability", "1 - errors / requests over the kept history.", |j| j.availability),
            (
                "journey_error_budget_remaining",
                "Share of the error budget left over the kept history (negative: overspent).",
                |j| j.budget_remaining,
            ),
            ("journey_latency_p99_seconds", "p99 latency of the newest closed minute.", |j| j.latency_p99_ms / 1000.0),
            ("journey_last_minute_seconds", "Start of the newest closed minute with traffic (Unix seconds).", |j| {
                j.last_minute_ms as f64 / 1000.0
            }),
        ];
        for (name, help, value) in figures {
            family(out, name, "gauge", help);
            for j in &journeys {
                out.push_str(&format!("slo_scout_{name}{{{}}} {}\n", labels(j), value(j)));
            }
        }
        family(out, "journey_burn_rate", "gauge", "Error rate over the window / the rate the objective allows.");
        for j in &journeys {
            for (window, v) in [("5m", j.burn_rate_5m), ("1h", j.burn_rate_1h)] {
                out.push_str(&format!("slo_scout_journey_burn_rate{{{},window=\"{window}\"}} {v}\n", labels(j)));
            }
        }
        family(out, "live_objective", "gauge", "Availability objective of the burn rates and budgets.");
        out.push_str(&format!("slo_scout_live_objective {objective}\n"));
        family(out, "live_periods_closed_total", "counter", "One-minute periods the live roll-up closed.");
        out.push_str(&format!(
            "slo_scout_live_periods_closed_total {}\n",
            self.live_minutes_closed.load(Ordering::Relaxed)
        ));
        family(out, "live_open_periods", "gauge", "One-minute periods still open in the live roll-up.");
        out.push_str(&format!("slo_scout_live_open_periods {}\n", self.live_open_minutes.load(Ordering::Relaxed)));
        family(
            out,
            "live_kept_periods",
            "gauge",
            "Closed one-minute periods kept for journey discovery (bounded by live.max_history_minutes).",
        );
        out.push_str(&format!("slo_scout_live_kept_periods {}\n", self.live_kept_minutes.load(Ordering::Relaxed)));
        family(
            out,
            "live_late_spans_total",
            "counter",
            "Spans that arrived after their minute closed (not in the live SLIs).",
        );
        out.push_str(&format!("slo_scout_live_late_spans_total {}\n", self.live_late_spans.load(Ordering::Relaxed)));
        family(
            out,
            "live_arranged_updates",
            "gauge",
            "Updates held by the live roll-up's differential arrangements, all workers here.",
        );
        let held: i64 = self.arranged.lock().map(|m| m.values().sum()).unwrap_or(0);
        out.push_str(&format!("slo_scout_live_arranged_updates {held}\n"));
    }
}

/// Writes the `# HELP` and `# TYPE` lines of the family `slo_scout_<name>`.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    out.push_str(&format!("# HELP slo_scout_{name} {help}\n# TYPE slo_scout_{name} {kind}\n"));
}

/// Serves `/metrics` and `/healthz` on `addr` from a background thread for the life of the
/// process. Returns the bound address (useful with port 0).
pub(crate) fn serve(addr: &str, metrics: Arc<RunnerMetrics>) -> anyhow::Result<std::net::SocketAddr> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("listening on {addr}"))?;
    let bound = server.server_addr().to_ip().with_context(|| format!("{addr} is not an IP address"))?;
    std::thread::Builder::new().name("metrics-http".into()).spawn(move || {
        for request in server.incoming_requests() {
            let (status, body, content_type) = match (request.method(), request.url()) {
                (tiny_http::Method::Get, "/metrics") => {
                    (200, metrics.to_prometheus(), "text/plain; version=0.0.4; charset=utf-8")
                }
                (tiny_http::Method::Get, "/healthz") => (200, "ok\n".to_owned(), "text/plain"),
                _ => (404, "not found: try /metrics or /healthz\n".to_owned(), "text/plain"),
            };
            let header = tiny_http::Header::from_bytes("Content-Type", content_type).expect("static header");
            let response = tiny_http::Response::from_string(body).with_status_code(status).with_header(header);
            if let Err(e) = request.respond(response) {
                tracing::debug!("metrics response failed: {e}");
            }
        }
    })?;
    tracing::info!(%bound, "serving /metrics");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn serves_metrics_and_healthz() {
        let m = RunnerMetrics::new(PipelineMetrics::new());
        m.record_in("raw-telemetry", 5);
        m.record_out("capsule-events", 2);
        m.dead_letter("oversized");
        m.set_lag("raw-telemetry", 3, 42);
        let addr = serve("127.0.0.1:0", m).unwrap();
        let get = |path: &str| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).unwrap();
            body
        };
        let metrics = get("/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        for line in [
            "slo_scout_kafka_records_in_total{topic=\"raw-telemetry\"} 5",
            "slo_scout_kafka_records_out_total{topic=\"capsule-events\"} 2",
            "slo_scout_dead_letters_total{reason=\"oversized\"} 1",
            "slo_scout_kafka_consumer_lag{topic=\"raw-telemetry\",partition=\"3\"} 42",
            "slo_scout_events_total 0",
        ] {
            assert!(metrics.contains(line), "{line} missing:\n{metrics}");
        }
        assert!(get("/healthz").ends_with("ok\n"));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
    }
}
