//! A synthetic telemetry generator with known ground truth.
//!
//! Several services serve five user journeys; every request is a trace (a root span at the
//! `frontend` plus child spans along the journey's call path) with log lines from realistic
//! templates, some carrying injected PII and secrets, with per-journey error rates and log-normal
//! latencies. Everything is derived from a seed, so the same config always yields the same events
//! and the same [`GroundTruth`].

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::event::{EventKind, EventTime, Severity, SpanStatus, TelemetryEvent};

/// Generator settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SyntheticConfig {
    /// RNG seed. Default 42.
    pub seed: u64,
    /// Event time of the first request, ms since epoch. Default 2025-01-01T00:00:00Z.
    pub start_ms: EventTime,
    /// Number of requests (traces). Default 2,000.
    pub requests: usize,
    /// Mean gap between requests in ms. Default 900 (≈ 4,000 requests per hour).
    pub mean_gap_ms: u64,
    /// Probability that a log line carries PII. Default 0.3.
    pub pii_rate: f64,
    /// Maximum shuffle of emission order, ms (events are emitted out of order within this
    /// bound). Default 0.
    pub disorder_ms: u64,
    /// Deployment environment. Default `prod`.
    pub environment: String,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 42,
            start_ms: 1_735_689_600_000,
            requests: 2_000,
            mean_gap_ms: 900,
            pii_rate: 0.3,
            disorder_ms: 0,
            environment: "prod".into(),
        }
    }
}

/// A user journey of the synthetic shop.
#[derive(Clone, Debug, PartialEq)]
pub struct JourneySpec {
    /// Journey name (`checkout`, ...).
    pub name: &'static str,
    /// HTTP method and route at the frontend.
    pub method: &'static str,
    /// HTTP route at the frontend.
    pub route: &'static str,
    /// Share of traffic (weights, normalised).
    pub weight: f64,
    /// Probability that a request fails.
    pub error_rate: f64,
    /// Median latency of the root span, ms.
    pub median_ms: f64,
    /// Downstream calls: (service, operation), called in order from the frontend.
    pub calls: &'static [(&'static str, &'static str)],
}

/// The five journeys.
pub const JOURNEYS: &[JourneySpec] = &[
    JourneySpec {
        name: "browse_home",
        method: "GET",
        route: "/",
        weight: 0.40,
        error_rate: 0.002,
        median_ms: 40.0,
        calls: &[("catalog", "ListProducts"), ("recommendation", "ListRecommendations")],
    },
    JourneySpec {
        name: "view_product",
        method: "GET",
        route: "/product/{id}",
        weight: 0.30,
        error_rate: 0.005,
        median_ms: 60.0,
        calls: &[("catalog", "GetProduct"), ("recommendation", "ListRecommendations")],
    },
    JourneySpec {
        name: "add_to_cart",
        method: "POST",
        route: "/cart",
        weight: 0.15,
        error_rate: 0.01,
        median_ms: 80.0,
        calls: &[("catalog", "GetProduct"), ("cart", "AddItem")],
    },
    JourneySpec {
        name: "checkout",
        method: "POST",
        route: "/cart/checkout",
        weight: 0.10,
        error_rate: 0.03,
        median_ms: 250.0,
        calls: &[("cart", "GetCart"), ("checkout", "PlaceOrder"), ("payment", "Charge")],
    },
    JourneySpec {
        name: "login",
        method: "POST",
        route: "/login",
        weight: 0.05,
        error_rate: 0.02,
        median_ms: 120.0,
        calls: &[("auth", "Authenticate")],
    },
];

/// Log templates per service: (template id, severity, text with `{}` holes filled in order).
/// Holes are typed: `{n}` number, `{id}` hex id, `{email}`, `{ip}`, `{card}`, `{token}`, `{user}`.
const TEMPLATES: &[(&str, &str, Severity, &str)] = &[
    ("T1", "frontend", Severity::Info, "request {id} served in {n} ms"),
    ("T2", "frontend", Severity::Info, "session {id} started from {ip}"),
    ("T3", "catalog", Severity::Info, "loaded {n} products from cache shard {n}"),
    ("T4", "catalog", Severity::Warn, "cache miss for product {id} after {n} ms"),
    ("T5", "recommendation", Severity::Info, "computed {n} recommendations for product {id}"),
    ("T6", "cart", Severity::Info, "added item {id} quantity {n} to cart of {email}"),
    ("T7", "cart", Severity::Info, "cart {id} has {n} items"),
    ("T8", "checkout", Severity::Info, "placing order {id} for {email} total {n} USD"),
    ("T9", "payment", Severity::Info, "charging card {card} amount {n} cents"),
    ("T10", "payment", Severity::Error, "payment gateway timeout after {n} ms for order {id}"),
    ("T11", "auth", Severity::Info, "accepted password for user {user} from {ip}"),
    ("T12", "auth", Severity::Error, "failed login for user {user} from {ip} using token {token}"),
    ("T13", "checkout", Severity::Error, "order {id} failed: upstream returned status {n}"),
    ("T14", "frontend", Severity::Error, "request {id} failed with status {n} after {n} ms"),
];

/// What the generator knows to be true about its output.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct GroundTruth {
    /// Template id → template text with `<*>` for numbers/ids and typed placeholders for PII.
    pub templates: BTreeMap<String, String>,
    /// Event id → template id, for every log event.
    pub log_templates: BTreeMap<String, String>,
    /// PII values injected, by entity type (`EMAIL`, `IPV4`, `CREDIT_CARD`, ...).
    pub pii: BTreeMap<String, Vec<String>>,
    /// Journey → (requests, failed requests).
    pub journeys: BTreeMap<String, (u64, u64)>,
    /// Service call graph edges (caller, callee).
    pub call_graph: BTreeSet<(String, String)>,
    /// Number of events by kind.
    pub events_by_kind: BTreeMap<String, u64>,
}

/// A small, fast, stable PRNG (SplitMix64): the generator must give the same output forever, so
/// it cannot depend on a library's unspecified default generator.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(1e-12);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// A random unit vector of `dim` dimensions (isotropic: normal components, L2-normalised);
    /// for vector-index tests and benchmarks.
    pub fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| self.normal() as f32).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    /// `n` hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit(self.below(16) as u32, 16).unwrap_or('0')).collect()
    }
}

const FIRST: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"];
const DOMAINS: &[&str] = &["example.com", "mail.test", "shop.example.org"];
const CARDS: &[&str] = &["4111111111111111", "5500005555555559", "2223003122003222", "4012888888881881"];

struct Gen {
    rng: SplitMix64,
    cfg: SyntheticConfig,
    events: Vec<TelemetryEvent>,
    truth: GroundTruth,
    next_id: u64,
}

impl Gen {
    fn id(&mut self) -> String {
        self.next_id += 1;
        format!("ev-{:08}", self.next_id)
    }

    fn record_pii(&mut self, kind: &str, value: &str) {
        self.truth.pii.entry(kind.to_string()).or_default().push(value.to_string());
    }

    /// Fills a template's holes; returns the text. PII is injected only with `pii_rate`; without
    /// it, PII-typed holes get a non-identifying stand-in (`anonymous`, `0.0.0.0`-free values).
    fn fill(&mut self, text: &str, with_pii: bool) -> String {
        let mut out = String::with_capacity(text.len() + 32);
        let mut rest = text;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').map(|e| start + e).unwrap_or(rest.len() - 1);
            let hole = &rest[start + 1..end];
            let value = match hole {
                "n" => self.rng.below(5000).to_string(),
                "id" => self.rng.hex(12),
                "email" if with_pii => {
                    let v = format!(
                        "{}.{}@{}",
                        FIRST[self.rng.below(10) as usize],
                        self.rng.below(1000),
                        DOMAINS[self.rng.below(3) as usize]
                    );
                    self.record_pii("EMAIL", &v);
                    v
                }
                "ip" if with_pii => {
                    let v = format!("10.{}.{}.{}", self.rng.below(256), self.rng.below(256), 1 + self.rng.below(254));
                    self.record_pii("IPV4", &v);
                    v
                }
                "card" if with_pii => {
                    let v = CARDS[self.rng.below(CARDS.len() as u64) as usize].to_string();
                    self.record_pii("CREDIT_CARD", &v);
                    v
                }
                "token" if with_pii => {
                    let v = format!("ghp_{}", self.rng.hex(36));
                    self.record_pii("API_TOKEN", &v);
                    v
                }
                "user" if with_pii => {
                    let v = format!("{}{}", FIRST[self.rng.below(10) as usize], self.rng.below(100));
                    self.record_pii("USERNAME", &v);
                    v
                }
                "email" | "user" => "guest".to_string(),
                "ip" => "internal".to_string(),
                "card" => "on-file".to_string(),
                "token" => "none".to_string(),
                _ => String::new(),
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn log(&mut self, template: usize, t: EventTime, trace: &str, span: &str) {
        let (tid, service, severity, text) = TEMPLATES[template];
        let with_pii = self.rng.next_f64() < self.cfg.pii_rate;
        let body = self.fill(text, with_pii);
        let id = self.id();
        self.truth.log_templates.insert(id.clone(), tid.to_string());
        let mut e = TelemetryEvent::log(id, service, t, Some(severity), body);
        e.environment = self.cfg.environment.clone();
        e.trace_id = Some(trace.to_string());
        e.span_id = Some(span.to_string());
        self.events.push(e);
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        service: &str,
        op: &str,
        t: EventTime,
        dur_us: u64,
        trace: &str,
        span: &str,
        parent: Option<&str>,
        failed: bool,
        http: Option<(&str, &str)>,
    ) {
        let mut e = TelemetryEvent {
            event_id: format!("{trace}-{span}"),
            service: service.to_string(),
            environment: self.cfg.environment.clone(),
            kind: EventKind::Span,
            timestamp_ms: t,
            trace_id: Some(trace.to_string()),
            span_id: Some(span.to_string()),
            parent_span_id: parent.map(str::to_string),
            operation: Some(op.to_string()),
            duration_us: Some(dur_us),
            status: Some(if failed { SpanStatus::Error } else { SpanStatus::Ok }),
            ..Default::default()
        };
        if let Some((method, route)) = http {
            e.http_method = Some(method.to_string());
            e.http_route = Some(route.to_string());
            e.http_status = Some(if failed { 503 } else { 200 });
        }
        self.events.push(e);
    }
}

fn template_truth() -> BTreeMap<String, String> {
    TEMPLATES
        .iter()
        .map(|(id, _, _, text)| {
            let t = text
                .replace("{n}", "<*>")
                .replace("{id}", "<*>")
                .replace("{email}", "<EMAIL>")
                .replace("{ip}", "<IP>")
                .replace("{card}", "<CREDIT_CARD>")
                .replace("{token}", "<API_TOKEN>")
                .replace("{user}", "<USER>");
            (id.to_string(), t)
        })
        .collect()
}

/// Generates events (in emission order) and their ground truth.
pub fn generate(cfg: &SyntheticConfig) -> (Vec<TelemetryEvent>, GroundTruth) {
    let mut g = Gen {
        rng: SplitMix64::new(cfg.seed),
        cfg: cfg.clone(),
        events: Vec::new(),
        truth: GroundTruth::default(),
        next_id: 0,
    };
    g.truth.templates = template_truth();
    let total_weight: f64 = JOURNEYS.iter().map(|j| j.weight).sum();
    let mut t = cfg.start_ms;
    let tpl = |id: &str| TEMPLATES.iter().position(|x| x.0 == id).unwrap_or(0);
    for _ in 0..cfg.requests {
        t += 1 + (-(g.rng.next_f64().max(1e-9)).ln() * cfg.mean_gap_ms as f64) as u64;
        let mut pick = g.rng.next_f64() * total_weight;
        let journey = JOURNEYS
            .iter()
            .find(|j| {
                pick -= j.weight;
                pick <= 0.0
            })
            .unwrap_or(&JOURNEYS[0]);
        let failed = g.rng.next_f64() < journey.error_rate;
        let entry = g.truth.journeys.entry(journey.name.to_string()).or_default();
        entry.0 += 1;
        entry.1 += u64::from(failed);
        let trace = g.rng.hex(32);
        let root = g.rng.hex(16);
        let latency_ms = (journey.median_ms * (0.5 * g.rng.normal()).exp()).max(1.0);
        let root_us = (latency_ms * 1000.0) as u64 * if failed { 3 } else { 1 };
        g.span(
            "frontend",
            &format!("{} {}", journey.method, journey.route),
            t,
            root_us,
            &trace,
            &root,
            None,
            failed,
            Some((journey.method, journey.route)),
        );
        g.log(tpl("T2"), t, &trace, &root);
        let mut child_t = t;
        let n = journey.calls.len();
        let mut checkout_span: Option<String> = None;
        for (i, (svc, op)) in journey.calls.iter().enumerate() {
            // Payment is called by checkout (PlaceOrder), everything else by the frontend.
            let (caller, parent) = match (*svc, &checkout_span) {
                ("payment", Some(c)) => ("checkout", c.clone()),
                _ => ("frontend", root.clone()),
            };
            g.truth.call_graph.insert((caller.to_string(), svc.to_string()));
            let child = g.rng.hex(16);
            if *svc == "checkout" {
                checkout_span = Some(child.clone());
            }
            let child_us = root_us / (n as u64 + 1);
            let last = i + 1 == n;
            g.span(svc, op, child_t, child_us, &trace, &child, Some(&parent), failed && last, None);
            let log_t = child_t + child_us / 2000;
            match (*svc, failed && last) {
                ("catalog", _) => {
                    let k = if g.rng.below(10) == 0 { "T4" } else { "T3" };
                    g.log(tpl(k), log_t, &trace, &child)
                }
                ("recommendation", _) => g.log(tpl("T5"), log_t, &trace, &child),
                ("cart", _) => {
                    let k = if *op == "AddItem" { "T6" } else { "T7" };
                    g.log(tpl(k), log_t, &trace, &child)
                }
                ("checkout", _) => g.log(tpl("T8"), log_t, &trace, &child),
                ("payment", false) => g.log(tpl("T9"), log_t, &trace, &child),
                ("payment", true) => {
                    g.log(tpl("T10"), log_t, &trace, &child);
                    g.log(tpl("T13"), log_t, &trace, &child)
                }
                ("auth", false) => g.log(tpl("T11"), log_t, &trace, &child),
                ("auth", true) => g.log(tpl("T12"), log_t, &trace, &child),
                _ => {}
            }
            child_t += child_us / 1000;
        }
        let end_t = t + root_us / 1000;
        if failed {
            g.log(tpl("T14"), end_t, &trace, &root)
        } else {
            g.log(tpl("T1"), end_t, &trace, &root)
        }
    }
    // Emit in event-time order, then (optionally) disorder within the bound.
    g.events.sort_by(|a, b| a.timestamp_ms.cmp(&b.timestamp_ms).then_with(|| a.event_id.cmp(&b.event_id)));
    if cfg.disorder_ms > 0 {
        let mut keyed: Vec<(u64, TelemetryEvent)> =
            g.events.drain(..).map(|e| (e.timestamp_ms + g.rng.below(cfg.disorder_ms), e)).collect();
        keyed.sort_by_key(|(k, _)| *k);
        g.events = keyed.into_iter().map(|(_, e)| e).collect();
    }
    for e in &g.events {
        *g.truth.events_by_kind.entry(e.kind.as_str().to_string()).or_default() += 1;
    }
    (g.events, g.truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_consistent() {
        let cfg = SyntheticConfig { requests: 300, ..Default::default() };
        let (a, truth_a) = generate(&cfg);
        let (b, truth_b) = generate(&cfg);
        assert_eq!(a, b);
        assert_eq!(truth_a, truth_b);
        let requests: u64 = truth_a.journeys.values().map(|(r, _)| r).sum();
        assert_eq!(requests, 300);
        let roots = a.iter().filter(|e| e.kind == EventKind::Span && e.parent_span_id.is_none()).count();
        assert_eq!(roots, 300);
        let logs = a.iter().filter(|e| e.kind == EventKind::Log).count();
        assert_eq!(logs, truth_a.log_templates.len());
        assert!(truth_a.pii.get("EMAIL").is_some_and(|v| !v.is_empty()));
        assert!(a.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
        assert!(truth_a.call_graph.contains(&("checkout".to_string(), "payment".to_string())));
    }

    #[test]
    fn disorder_stays_within_the_bound() {
        let cfg = SyntheticConfig { requests: 200, disorder_ms: 5_000, ..Default::default() };
        let (events, _) = generate(&cfg);
        let mut max_seen = 0;
        for e in &events {
            assert!(e.timestamp_ms + 5_000 >= max_seen, "event too far behind");
            max_seen = max_seen.max(e.timestamp_ms);
        }
    }
}
