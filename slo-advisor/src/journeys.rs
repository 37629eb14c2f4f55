//! Journey discovery: traces assembled from parent/child links, grouped into user journeys, named
//! and ranked, plus the service call graph.
//!
//! - **Entry**: a trace's root is its span without a parent (or whose parent is not in the
//!   data); when several qualify, the earliest (then the longest) wins.
//! - **Generic roots**: when one root `(service, operation)` carries at least
//!   [`JourneyConfig::generic_root_share`] of all traces (Online Boutique: every root is
//!   `hipstershop.Frontend/Recv.`) and its traces differ in their child operations, its traces are told apart by the sorted set of distinct
//!   operations directly under the root. Other roots are journeys by themselves.
//! - **Names**: a non-generic journey is named by its entry operation (`GET /cart`). A journey
//!   of a generic root is named by a small keyword table over its child operations (`checkout`,
//!   `add to cart`, `home`, `view cart`, `view product`, `login`, `search`, ...), else by its
//!   most distinguishing operations (those in the fewest other signatures), joined with `+`;
//!   names are made unique deterministically.
//! - **Rank**: by a criticality score — `0.5·traffic share + 0.2·fan-out / max fan-out +
//!   0.15·share of all failed requests + 0.15·share of all request time` — highest first.
//! - **Call graph**: for every parent/child pair whose services differ, an edge
//!   `parent service → child service`, with the number of such calls.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::sketch::DdSketch;
use crate::span::{ErrorSource, Span};

/// Settings of journey discovery.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct JourneyConfig {
    /// A root `(service, operation)` with at least this share of all traces is generic: its
    /// traces are split by their child operations. Default 0.8.
    pub generic_root_share: f64,
    /// At most this many journeys per generic root; rarer signatures are folded into
    /// `<root> (other)`. Default 30.
    pub max_signatures: usize,
}

impl Default for JourneyConfig {
    fn default() -> Self {
        JourneyConfig { generic_root_share: 0.8, max_signatures: 30 }
    }
}

/// Requests of a journey: the root span of one trace, or a rolled-up row of [`Request::count`]
/// requests of one minute, error status and latency bucket ([`TraceRollup`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Index of the journey in [`Discovery::journeys`].
    pub journey: usize,
    /// The trace id (of a rolled-up row: its smallest).
    pub trace_id: String,
    /// Root start, ms since epoch (of a rolled-up row: the earliest start among its requests).
    pub start_ms: u64,
    /// Root duration in µs (the request latency; of a rolled-up row: the mean latency of its
    /// requests, which all lie in one sketch bucket).
    pub duration_us: u64,
    /// Whether the request failed (the root span's error flag).
    pub error: bool,
    /// Fastest latency among the row's requests, µs (`duration_us` for one request).
    #[serde(default)]
    pub min_duration_us: u64,
    /// Slowest latency among the row's requests, µs (`duration_us` for one request).
    #[serde(default)]
    pub max_duration_us: u64,
    /// Requests this row stands for (see [`TraceRollup`]).
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

impl Request {
    /// Adds this row's latencies (ms) to `sketch`: [`Request::count`] values in one bucket,
    /// from the fastest to the slowest.
    pub fn add_latencies_to(&self, sketch: &mut DdSketch) {
        let ms = |us: u64| us as f64 / 1000.0;
        sketch.add_range(ms(self.duration_us), self.count, ms(self.min_duration_us), ms(self.max_duration_us));
    }
}

/// What a trace looks like to journey discovery: its entry (root) span, the distinct
/// operations directly under it and the services it touched. Many traces share one shape, so
/// a [`TraceSet`] holds each once.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TraceShape {
    /// Service of the root span.
    pub service: String,
    /// Operation of the root span.
    pub operation: String,
    /// HTTP route of the root span, when known.
    pub http_route: Option<String>,
    /// Distinct operations of the spans directly under the root, sorted.
    pub child_operations: Vec<String>,
    /// Distinct services of the trace's spans, sorted.
    pub services: Vec<String>,
}

/// One trace — or, rolled up by [`TraceRollup`], `requests` traces of the same shape, minute,
/// error signal and latency bucket — reduced to what journeys and SLIs need. [`summarize`]
/// builds these from spans in memory; [`crate::store_traces`] builds the same rows with
/// DataFusion over the span store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Trace id (of a rolled-up row: the smallest trace id among its traces).
    pub trace_id: String,
    /// Index of the trace's shape in [`TraceSet::shapes`].
    pub shape: u32,
    /// Root start, ms since epoch (of a rolled-up row: the earliest).
    pub start_ms: u64,
    /// Root duration, µs (the request latency; of a rolled-up row: the mean, rounded down).
    pub duration_us: u64,
    /// Fastest root duration among the row's traces, µs (`duration_us` for one trace).
    pub min_duration_us: u64,
    /// Slowest root duration among the row's traces, µs (`duration_us` for one trace).
    pub max_duration_us: u64,
    /// Whether the root span failed.
    pub error: bool,
    /// Which signal decided [`TraceSummary::error`].
    pub error_source: ErrorSource,
    /// Spans in the trace (of a rolled-up row: in all its traces).
    pub spans: u64,
    /// Traces this row stands for: 1 for one trace, more for a row of [`TraceRollup`].
    pub requests: u64,
}

/// What makes traces the same for journeys and SLIs: the shape, the error signal, the start
/// minute and the [`DdSketch`] bucket of the latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct RollupKey {
    shape: u32,
    error: bool,
    error_source: ErrorSource,
    minute_ms: u64,
    bucket: Option<i32>,
}

#[derive(Debug)]
struct RollupRow {
    requests: u64,
    duration_sum_us: u128,
    min_duration_us: u64,
    max_duration_us: u64,
    spans: u64,
    first_start_ms: u64,
    trace_id: Box<str>,
}

/// Traces rolled up into one row per (shape, error signal, start minute, latency bucket of a
/// [`DdSketch`] with [`crate::sketch::DEFAULT_ALPHA`]), each shape held once.
///
/// Journeys, per-minute SLIs and recommendations need no more than that, so memory follows
/// shapes × minutes × latency buckets, not the number of requests. A row's latency is the mean
/// of its requests, which lies in their common bucket, so the per-minute sketches built from
/// the rows equal those built from the requests bucket for bucket. Rolling up is mergeable:
/// rows of the same key from several DataFusion passes add up.
///
/// Shapes are capped ([`DEFAULT_MAX_SHAPES`], [`TraceRollup::with_max_shapes`]): past the cap, a
/// trace of a new shape keeps its root (service, operation, route) but its operations under
/// the root become `(other)` and its services are dropped, and [`TraceRollup::folded`] counts
/// such traces. Which shapes come first then depends on the order the traces arrive in.
#[derive(Debug)]
pub struct TraceRollup {
    shape_ids: HashMap<TraceShape, u32>,
    shapes: Vec<TraceShape>,
    rows: HashMap<RollupKey, RollupRow>,
    max_shapes: usize,
    folded: u64,
}

/// Distinct trace shapes a [`TraceRollup`] keeps by default: 100,000 (journeys need a few
/// dozen; a generic root folds all but its 30 most common signatures anyway).
pub const DEFAULT_MAX_SHAPES: usize = 100_000;

impl Default for TraceRollup {
    fn default() -> Self {
        TraceRollup::with_max_shapes(DEFAULT_MAX_SHAPES)
    }
}

/// Latencies above this (2^40 µs, about 12.7 days) are taken as this much when rolled up, so
/// that sums of a row's latencies stay far from overflowing (in SQL they are 64-bit).
pub const MAX_DURATION_US: u64 = 1 << 40;

/// `ln γ` of a default [`DdSketch`] (α = 1 %).
pub(crate) fn default_ln_gamma() -> f64 {
    static LN_GAMMA: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| DdSketch::default().ln_gamma());
    *LN_GAMMA
}

/// The latency bucket of a duration in µs (the bucket of `duration_us / 1000` ms in a default
/// [`DdSketch`]; `None` for zero).
pub fn latency_bucket(duration_us: u64) -> Option<i32> {
    crate::sketch::bucket_key(default_ln_gamma(), duration_us as f64 / 1000.0)
}

impl TraceRollup {
    /// An empty rollup.
    pub fn new() -> Self {
        TraceRollup::default()
    }

    /// An empty rollup that keeps at most `max_shapes` distinct shapes (at least 1) before
    /// folding new ones (see the type's docs).
    pub fn with_max_shapes(max_shapes: usize) -> Self {
        TraceRollup {
            shape_ids: HashMap::new(),
            shapes: Vec::new(),
            rows: HashMap::new(),
            max_shapes: max_shapes.max(1),
            folded: 0,
        }
    }

    /// Traces whose shape was folded because the shape cap was reached.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    fn shape_id(&mut self, shape: &TraceShape, requests: u64) -> u32 {
        if let Some(&id) = self.shape_ids.get(shape) {
            return id;
        }
        if self.shapes.len() >= self.max_shapes {
            self.folded += requests;
            let other = TraceShape {
                service: shape.service.clone(),
                operation: shape.operation.clone(),
                http_route: shape.http_route.clone(),
                child_operations: vec!["(other)".to_string()],
                services: Vec::new(),
            };
            if let Some(&id) = self.shape_ids.get(&other) {
                return id;
            }
            // folded shapes are few (one per root), so they may pass the cap
            return self.intern(other);
        }
        self.intern(shape.clone())
    }

    fn intern(&mut self, shape: TraceShape) -> u32 {
        let id = self.shapes.len() as u32;
        self.shapes.push(shape.clone());
        self.shape_ids.insert(shape, id);
        id
    }

    /// Adds a row of `t.requests` traces of this shape whose latencies sum to
    /// `duration_sum_us`, lie in `bucket` (see [`latency_bucket`]) and range from
    /// `t.min_duration_us` to `t.max_duration_us`. `t.shape` and `t.duration_us` are not read.
    pub fn add_group(&mut self, shape: &TraceShape, t: TraceSummary, duration_sum_us: u128, bucket: Option<i32>) {
        if t.requests == 0 {
            return;
        }
        let key = RollupKey {
            shape: self.shape_id(shape, t.requests),
            error: t.error,
            error_source: t.error_source,
            minute_ms: t.start_ms - t.start_ms % slo_dataflow::time::MINUTE_MS,
            bucket,
        };
        match self.rows.get_mut(&key) {
            Some(r) => {
                r.requests += t.requests;
                r.duration_sum_us += duration_sum_us;
                r.min_duration_us = r.min_duration_us.min(t.min_duration_us);
                r.max_duration_us = r.max_duration_us.max(t.max_duration_us);
                r.spans += t.spans;
                r.first_start_ms = r.first_start_ms.min(t.start_ms);
                if *t.trace_id < *r.trace_id {
                    r.trace_id = t.trace_id.into_boxed_str();
                }
            }
            None => {
                let row = RollupRow {
                    requests: t.requests,
                    duration_sum_us,
                    min_duration_us: t.min_duration_us,
                    max_duration_us: t.max_duration_us,
                    spans: t.spans,
                    first_start_ms: t.start_ms,
                    trace_id: t.trace_id.into_boxed_str(),
                };
                self.rows.insert(key, row);
            }
        }
    }

    /// Adds one trace of this shape (`t.requests` is taken as 1, `t.shape` is not read; its
    /// latency is capped at [`MAX_DURATION_US`]).
    pub fn add(&mut self, shape: &TraceShape, mut t: TraceSummary) {
        let d = t.duration_us.min(MAX_DURATION_US);
        (t.requests, t.min_duration_us, t.max_duration_us) = (1, d, d);
        self.add_group(shape, t, u128::from(d), latency_bucket(d));
    }

    /// Distinct shapes so far.
    pub fn shapes(&self) -> usize {
        self.shapes.len()
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no trace was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The shapes, sorted, and the rows, sorted by trace id (then by the rest, for ties): the
    /// same whatever order the traces came in.
    pub fn finish(self) -> (Vec<TraceShape>, Vec<TraceSummary>) {
        if self.folded > 0 {
            tracing::warn!(
                folded = self.folded,
                max_shapes = self.max_shapes,
                "more distinct trace shapes than the cap: traces of new shapes folded into '(other)' under their root"
            );
        }
        let mut indexed: Vec<(usize, TraceShape)> = self.shapes.into_iter().enumerate().collect();
        indexed.sort_by(|a, b| a.1.cmp(&b.1));
        let mut new_id = vec![0u32; indexed.len()];
        for (new, (old, _)) in indexed.iter().enumerate() {
            new_id[*old] = new as u32;
        }
        let mut rows: Vec<TraceSummary> = self
            .rows
            .into_iter()
            .map(|(k, r)| TraceSummary {
                trace_id: r.trace_id.into_string(),
                shape: new_id[k.shape as usize],
                start_ms: r.first_start_ms,
                duration_us: u64::try_from(r.duration_sum_us / u128::from(r.requests)).unwrap_or(u64::MAX),
                min_duration_us: r.min_duration_us,
                max_duration_us: r.max_duration_us,
                error: k.error,
                error_source: k.error_source,
                spans: r.spans,
                requests: r.requests,
            })
            .collect();
        rows.sort_by(|a, b| {
            (&a.trace_id, a.shape, a.start_ms, a.duration_us, a.error, a.error_source).cmp(&(
                &b.trace_id,
                b.shape,
                b.start_ms,
                b.duration_us,
                b.error,
                b.error_source,
            ))
        });
        (indexed.into_iter().map(|(_, shape)| shape).collect(), rows)
    }
}

/// Every trace of a span set plus what needs the spans themselves: the call graph and the
/// orphan count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceSet {
    /// The shapes of the traces, sorted.
    pub shapes: Vec<TraceShape>,
    /// The traces that have a root, rolled up ([`TraceRollup`]), sorted by trace id.
    pub traces: Vec<TraceSummary>,
    /// The service call graph, sorted by caller and callee.
    pub call_graph: Vec<Edge>,
    /// Spans whose parent is not in the data.
    pub orphan_spans: usize,
    /// Spans read.
    pub spans: usize,
}

/// A discovered user journey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Journey {
    /// Readable, unique name.
    pub name: String,
    /// Service of the entry (root) span.
    pub entry_service: String,
    /// Operation of the entry (root) span.
    pub entry_operation: String,
    /// Child operations that define the journey under a generic root (empty otherwise).
    pub signature: Vec<String>,
    /// HTTP route of the entry span, when known.
    pub http_route: Option<String>,
    /// Number of requests (traces).
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// `errors / requests`.
    pub error_ratio: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile latency, ms.
    pub p95_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Mean number of spans under the root per request.
    pub fan_out: f64,
    /// Services the journey touches, sorted.
    pub services: Vec<String>,
    /// The error signal of the entry spans (the most common one).
    pub error_source: ErrorSource,
    /// Criticality score in `[0, 1]` (see the module docs).
    pub criticality: f64,
    /// 1-based rank by criticality.
    pub rank: usize,
    /// Up to 5 trace ids, for evidence (the smallest trace id of each of the journey's first
    /// rolled-up rows by trace id).
    pub sample_trace_ids: Vec<String>,
}

/// An edge of the service call graph.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Edge {
    /// Calling service.
    pub caller: String,
    /// Called service.
    pub callee: String,
    /// Number of parent/child span pairs across the two services.
    pub calls: u64,
}

/// What discovery found.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Discovery {
    /// Journeys, by rank (most critical first).
    pub journeys: Vec<Journey>,
    /// The requests, rolled up ([`Request::count`] requests a row); `journey` indexes
    /// [`Discovery::journeys`].
    pub requests: Vec<Request>,
    /// The service call graph, sorted by caller and callee.
    pub call_graph: Vec<Edge>,
    /// Root `(service, operation)`s found to be generic.
    pub generic_roots: Vec<String>,
    /// Number of traces.
    pub traces: usize,
    /// Spans whose parent is not in the data (treated as roots when a trace has no other).
    pub orphan_spans: usize,
}

impl Discovery {
    /// The call graph as a set of `(caller, callee)` pairs.
    pub fn edge_set(&self) -> BTreeSet<(String, String)> {
        self.call_graph.iter().map(|e| (e.caller.clone(), e.callee.clone())).collect()
    }

    /// The journey with this name.
    pub fn journey(&self, name: &str) -> Option<&Journey> {
        self.journeys.iter().find(|j| j.name == name)
    }
}

/// The short form of an operation: the part after the last `/` (or `.` when there is no `/`),
/// `hipstershop.CartService/AddItem` → `AddItem`. Falls back to the whole name.
pub fn short_operation(op: &str) -> &str {
    let t = op.trim_end_matches(['.', '/']).trim_end();
    if t.is_empty() {
        return op;
    }
    match t.rfind('/') {
        Some(i) if i + 1 < t.len() => &t[i + 1..],
        _ => t,
    }
}

/// Keyword → journey label, first match wins (matched case-insensitively against the short
/// child operations of a generic-root journey).
const LABELS: &[(&[&str], &str)] = &[
    (&["placeorder", "checkout"], "checkout"),
    (&["additem", "addtocart"], "add to cart"),
    (&["emptycart"], "empty cart"),
    (&["login", "authenticate", "signin"], "login"),
    (&["search"], "search"),
    (&["listproducts"], "home"),
    (&["getquote", "viewcart"], "view cart"),
    (&["getproduct"], "view product"),
    (&["getcart"], "view cart"),
];

fn label_for(ops: &[&str]) -> Option<&'static str> {
    let lower: Vec<String> = ops.iter().map(|o| o.to_ascii_lowercase()).collect();
    LABELS.iter().find(|(keys, _)| lower.iter().any(|o| keys.iter().any(|k| o == k))).map(|(_, l)| *l)
}

struct Group {
    root_key: (String, String),
    signature: Vec<String>,
    traces: Vec<usize>,
}

/// Discovers journeys and the call graph in `spans`.
pub fn discover(spans: &[Span], cfg: &JourneyConfig) -> Discovery {
    discover_traces(&summarize(spans), cfg)
}

/// Assembles traces from parent/child links into [`TraceSummary`] rows rolled up by
/// [`TraceRollup`], plus the call graph and the orphan count. A trace's root is its span without
/// a parent in the data, the earliest (then the longest, then the smallest span id) when
/// several qualify.
pub fn summarize(spans: &[Span]) -> TraceSet {
    let links = Links::new(spans);
    let by_trace = &links.by_trace;
    let parent_of = |s: &Span| links.parent_of(s);

    let mut edges: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut orphan_spans = 0;
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (i, s) in spans.iter().enumerate() {
        match parent_of(s) {
            Some(p) => {
                let ps = &spans[p as usize];
                if ps.service != s.service {
                    *edges.entry((ps.service.as_str(), s.service.as_str())).or_default() += 1;
                }
                children.entry(p).or_default().push(i as u32);
            }
            None if s.parent.is_some() => orphan_spans += 1,
            None => {}
        }
    }

    let mut trace_ids: Vec<&str> = by_trace.keys().copied().collect();
    trace_ids.sort_unstable();
    let mut traces = TraceRollup::new();
    for t in trace_ids {
        let members = &by_trace[t];
        let Some(r) = links.root(members) else { continue };
        let s = &spans[r as usize];
        let mut child_operations: Vec<String> = children
            .get(&r)
            .map(|c| c.iter().map(|&i| spans[i as usize].operation.clone()).collect())
            .unwrap_or_default();
        child_operations.sort_unstable();
        child_operations.dedup();
        let services: BTreeSet<&str> = members.iter().map(|&m| spans[m as usize].service.as_str()).collect();
        let shape = TraceShape {
            service: s.service.clone(),
            operation: s.operation.clone(),
            http_route: s.http_route.clone(),
            child_operations,
            services: services.into_iter().map(str::to_string).collect(),
        };
        let trace = TraceSummary {
            trace_id: s.trace_id.clone(),
            shape: 0,
            start_ms: s.start_ms,
            duration_us: s.duration_us,
            min_duration_us: s.duration_us,
            max_duration_us: s.duration_us,
            error: s.error,
            error_source: s.error_source,
            spans: members.len() as u64,
            requests: 1,
        };
        traces.add(&shape, trace);
    }
    let (shapes, traces) = traces.finish();
    TraceSet {
        shapes,
        traces,
        call_graph: edges
            .into_iter()
            .map(|((a, b), calls)| Edge { caller: a.to_string(), callee: b.to_string(), calls })
            .collect(),
        orphan_spans,
        spans: spans.len(),
    }
}

/// Spans by trace and each span's parent in the data.
struct Links<'a> {
    spans: &'a [Span],
    by_trace: HashMap<&'a str, Vec<u32>>,
    index: HashMap<(&'a str, &'a str), u32>,
}

impl<'a> Links<'a> {
    fn new(spans: &'a [Span]) -> Self {
        let mut by_trace: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, s) in spans.iter().enumerate() {
            by_trace.entry(s.trace_id.as_str()).or_default().push(i as u32);
        }
        let mut index: HashMap<(&str, &str), u32> = HashMap::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            index.entry((s.trace_id.as_str(), s.span_id.as_str())).or_insert(i as u32);
        }
        Links { spans, by_trace, index }
    }

    fn parent_of(&self, s: &Span) -> Option<u32> {
        s.parent.as_deref().and_then(|p| self.index.get(&(s.trace_id.as_str(), p)).copied())
    }

    /// The root among a trace's spans: without a parent in the data; the earliest, then the
    /// longest, then the smallest span id.
    fn root(&self, members: &[u32]) -> Option<u32> {
        let spans = self.spans;
        members.iter().copied().filter(|&i| self.parent_of(&spans[i as usize]).is_none()).min_by(|&a, &b| {
            let (sa, sb) = (&spans[a as usize], &spans[b as usize]);
            sa.start_ms.cmp(&sb.start_ms).then(sb.duration_us.cmp(&sa.duration_us)).then(sa.span_id.cmp(&sb.span_id))
        })
    }
}

/// The root span of every trace that has one (chosen as [`summarize`] does), by trace id: the
/// requests one by one, for checks that need exact start times and latencies, which the
/// rolled-up [`TraceSet`] keeps per minute and latency bucket only.
pub fn trace_roots(spans: &[Span]) -> Vec<&Span> {
    let links = Links::new(spans);
    let mut trace_ids: Vec<&str> = links.by_trace.keys().copied().collect();
    trace_ids.sort_unstable();
    trace_ids.into_iter().filter_map(|t| links.root(&links.by_trace[t])).map(|r| &spans[r as usize]).collect()
}

/// Discovers journeys from assembled traces (see [`summarize`]).
pub fn discover_traces(set: &TraceSet, cfg: &JourneyConfig) -> Discovery {
    let traces = &set.traces;
    let shape = |t: &TraceSummary| -> &TraceShape { &set.shapes[t.shape as usize] };
    let key_of = |t: &TraceSummary| -> (&str, &str) {
        let s = shape(t);
        (s.service.as_str(), s.operation.as_str())
    };

    // Generic roots.
    let mut root_counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for t in traces {
        *root_counts.entry(key_of(t)).or_default() += t.requests;
    }
    let n_traces: u64 = traces.iter().map(|t| t.requests).sum();
    let total = n_traces.max(1) as f64;
    let generic: BTreeSet<(&str, &str)> =
        root_counts.iter().filter(|(_, n)| **n as f64 / total >= cfg.generic_root_share).map(|(k, _)| *k).collect();

    // A dominant root whose traces all have the same child operations is not generic after all
    // (e.g. a `--service` filter that leaves one route): keep its own name.
    let generic: BTreeSet<(&str, &str)> = generic
        .into_iter()
        .filter(|key| {
            let mut sigs = set
                .shapes
                .iter()
                .filter(|s| (s.service.as_str(), s.operation.as_str()) == *key)
                .map(|s| &s.child_operations);
            let first = sigs.next();
            sigs.any(|s| Some(s) != first)
        })
        .collect();
    // Group traces by (root key, signature).
    #[allow(clippy::type_complexity)]
    let mut groups: BTreeMap<((&str, &str), Vec<&str>), Vec<usize>> = BTreeMap::new();
    for (ti, t) in traces.iter().enumerate() {
        let key = key_of(t);
        let signature: Vec<&str> = if generic.contains(&key) {
            shape(t).child_operations.iter().map(String::as_str).collect()
        } else {
            Vec::new()
        };
        groups.entry((key, signature)).or_default().push(ti);
    }
    // Fold rare signatures of a generic root.
    #[allow(clippy::type_complexity)]
    let mut per_root: BTreeMap<(&str, &str), Vec<((&str, &str), Vec<&str>, Vec<usize>)>> = BTreeMap::new();
    for ((key, sig), members) in groups {
        per_root.entry(key).or_default().push((key, sig, members));
    }
    let mut final_groups: Vec<Group> = Vec::new();
    for (key, mut list) in per_root {
        let weight = |members: &[usize]| -> u64 { members.iter().map(|&ti| traces[ti].requests).sum() };
        list.sort_by(|a, b| weight(&b.2).cmp(&weight(&a.2)).then_with(|| a.1.cmp(&b.1)));
        let mut other: Vec<usize> = Vec::new();
        for (i, (_, sig, members)) in list.into_iter().enumerate() {
            if generic.contains(&key) && i >= cfg.max_signatures.max(1) {
                other.extend(members);
            } else {
                final_groups.push(Group {
                    root_key: (key.0.to_string(), key.1.to_string()),
                    signature: sig.iter().map(|s| s.to_string()).collect(),
                    traces: members,
                });
            }
        }
        if !other.is_empty() {
            other.sort_unstable();
            final_groups.push(Group {
                root_key: (key.0.to_string(), key.1.to_string()),
                signature: vec!["(other)".into()],
                traces: other,
            });
        }
    }

    let names = name_groups(&final_groups, &generic.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect());

    // Per-group statistics.
    let mut journeys = Vec::with_capacity(final_groups.len());
    let mut requests = Vec::with_capacity(traces.len());
    let total_errors: u64 = traces.iter().filter(|t| t.error).map(|t| t.requests).sum();
    let total_time: f64 = traces.iter().map(|t| t.duration_us as f64 * t.requests as f64).sum();
    for (gi, g) in final_groups.iter().enumerate() {
        let mut sketch = DdSketch::default();
        let mut errors = 0u64;
        let mut spans_below = 0u64;
        let mut services: BTreeSet<&str> = BTreeSet::new();
        let mut sources: BTreeMap<ErrorSource, u64> = BTreeMap::new();
        let mut route = None;
        let mut n = 0u64;
        for &ti in &g.traces {
            let t = &traces[ti];
            n += t.requests;
            errors += if t.error { t.requests } else { 0 };
            *sources.entry(t.error_source).or_default() += t.requests;
            if route.is_none() {
                route = shape(t).http_route.clone();
            }
            spans_below += t.spans.saturating_sub(t.requests);
            services.extend(shape(t).services.iter().map(String::as_str));
            let request = Request {
                journey: gi,
                trace_id: t.trace_id.clone(),
                start_ms: t.start_ms,
                duration_us: t.duration_us,
                error: t.error,
                min_duration_us: t.min_duration_us,
                max_duration_us: t.max_duration_us,
                count: t.requests,
            };
            request.add_latencies_to(&mut sketch);
            requests.push(request);
        }
        journeys.push(Journey {
            name: names[gi].clone(),
            entry_service: g.root_key.0.clone(),
            entry_operation: g.root_key.1.clone(),
            signature: g.signature.clone(),
            http_route: route,
            requests: n,
            errors,
            error_ratio: errors as f64 / n.max(1) as f64,
            p50_ms: sketch.quantile(0.5).unwrap_or(0.0),
            p95_ms: sketch.quantile(0.95).unwrap_or(0.0),
            p99_ms: sketch.quantile(0.99).unwrap_or(0.0),
            fan_out: spans_below as f64 / n.max(1) as f64,
            services: services.iter().map(|s| s.to_string()).collect(),
            error_source: sources
                .iter()
                .max_by_key(|(k, n)| (**n, std::cmp::Reverse(**k)))
                .map(|(k, _)| *k)
                .unwrap_or_default(),
            criticality: 0.0,
            rank: 0,
            sample_trace_ids: g.traces.iter().take(5).map(|&ti| traces[ti].trace_id.clone()).collect(),
        });
    }
    // Criticality and rank.
    let max_fan = journeys.iter().map(|j| j.fan_out).fold(0.0, f64::max);
    for (gi, j) in journeys.iter_mut().enumerate() {
        let time: f64 =
            final_groups[gi].traces.iter().map(|&ti| traces[ti].duration_us as f64 * traces[ti].requests as f64).sum();
        let traffic = j.requests as f64 / total;
        let fan = if max_fan > 0.0 { j.fan_out / max_fan } else { 0.0 };
        let err = if total_errors > 0 { j.errors as f64 / total_errors as f64 } else { 0.0 };
        let lat = if total_time > 0.0 { time / total_time } else { 0.0 };
        j.criticality = 0.5 * traffic + 0.2 * fan + 0.15 * err + 0.15 * lat;
    }
    let mut order: Vec<usize> = (0..journeys.len()).collect();
    order.sort_by(|&a, &b| {
        journeys[b]
            .criticality
            .total_cmp(&journeys[a].criticality)
            .then_with(|| journeys[a].name.cmp(&journeys[b].name))
    });
    let mut new_index = vec![0; journeys.len()];
    for (rank, &old) in order.iter().enumerate() {
        new_index[old] = rank;
    }
    let mut ranked: Vec<Journey> = order.iter().map(|&i| journeys[i].clone()).collect();
    for (i, j) in ranked.iter_mut().enumerate() {
        j.rank = i + 1;
    }
    for r in &mut requests {
        r.journey = new_index[r.journey];
    }
    requests.sort_by(|a, b| a.start_ms.cmp(&b.start_ms).then_with(|| a.trace_id.cmp(&b.trace_id)));

    Discovery {
        journeys: ranked,
        requests,
        call_graph: set.call_graph.clone(),
        generic_roots: generic.iter().map(|(s, o)| format!("{s}: {o}")).collect(),
        traces: n_traces as usize,
        orphan_spans: set.orphan_spans,
    }
}

fn name_groups(groups: &[Group], generic: &BTreeSet<(String, String)>) -> Vec<String> {
    // Document frequency of each short child operation across signatures of the same root.
    let mut df: BTreeMap<(&(String, String), &str), usize> = BTreeMap::new();
    for g in groups {
        let shorts: BTreeSet<&str> = g.signature.iter().map(|o| short_operation(o)).collect();
        for s in shorts {
            *df.entry((&g.root_key, s)).or_default() += 1;
        }
    }
    let ops_root_services: BTreeMap<&str, usize> = groups.iter().fold(BTreeMap::new(), |mut m, g| {
        *m.entry(g.root_key.1.as_str()).or_default() += usize::from(g.signature.is_empty());
        m
    });
    let mut names: Vec<String> = Vec::with_capacity(groups.len());
    let mut candidates: Vec<(Option<&'static str>, Vec<&str>)> = Vec::new();
    for g in groups {
        if !generic.contains(&g.root_key) {
            let base = if ops_root_services.get(g.root_key.1.as_str()).copied().unwrap_or(0) > 1 {
                format!("{}: {}", g.root_key.0, g.root_key.1)
            } else {
                g.root_key.1.clone()
            };
            names.push(base);
            candidates.push((None, Vec::new()));
            continue;
        }
        let mut shorts: Vec<&str> =
            g.signature.iter().map(|o| short_operation(o)).collect::<BTreeSet<_>>().into_iter().collect();
        shorts.sort_by_key(|s| (df.get(&(&g.root_key, *s)).copied().unwrap_or(0), *s));
        let label = label_for(&shorts);
        let root_short = short_operation(&g.root_key.1).to_string();
        let name = match (label, shorts.first()) {
            (Some(l), _) => l.to_string(),
            (None, Some(_)) if g.signature.first().map(String::as_str) == Some("(other)") => {
                format!("{root_short} (other)")
            }
            (None, Some(first)) => first.to_string(),
            (None, None) => format!("{root_short} (no downstream calls)"),
        };
        names.push(name);
        candidates.push((label, shorts));
    }
    // Make names unique: append more distinguishing operations, then a counter.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in &names {
        *counts.entry(n.clone()).or_default() += 1;
    }
    for (i, g) in groups.iter().enumerate() {
        if counts.get(&names[i]).copied().unwrap_or(0) <= 1 || !generic.contains(&g.root_key) {
            continue;
        }
        let (label, shorts) = &candidates[i];
        let ops = shorts.iter().take(3).copied().collect::<Vec<_>>().join("+");
        names[i] = match label {
            Some(l) => format!("{l} [{ops}]"),
            None => shorts.iter().take(3).copied().collect::<Vec<_>>().join("+"),
        };
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for n in names.iter_mut() {
        let c = seen.entry(n.clone()).or_default();
        *c += 1;
        if *c > 1 {
            *n = format!("{n} #{c}");
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig, JOURNEYS};
    use slo_dataflow::time::MINUTE_MS;

    fn span(trace: &str, id: &str, parent: Option<&str>, service: &str, op: &str) -> Span {
        Span {
            trace_id: trace.into(),
            span_id: id.into(),
            parent: parent.map(str::to_string),
            service: service.into(),
            operation: op.into(),
            start_ms: 1000,
            duration_us: 5000,
            error: false,
            error_source: ErrorSource::None,
            http_route: None,
        }
    }

    fn trace(id: &str, start_ms: u64, duration_us: u64, error: bool) -> TraceSummary {
        TraceSummary {
            trace_id: id.into(),
            shape: 0,
            start_ms,
            duration_us,
            min_duration_us: 0,
            max_duration_us: 0,
            error,
            error_source: ErrorSource::SpanStatus,
            spans: 3,
            requests: 1,
        }
    }

    fn shape(op: &str) -> TraceShape {
        TraceShape {
            service: "frontend".into(),
            operation: op.into(),
            http_route: None,
            child_operations: vec!["a".into()],
            services: vec!["frontend".into()],
        }
    }

    #[test]
    fn rollup_keeps_counts_and_sketch_buckets() {
        let mut rng = slo_dataflow::synthetic::SplitMix64::new(3);
        let mut rollup = TraceRollup::new();
        let mut exact: BTreeMap<(u64, bool, u32), DdSketch> = BTreeMap::new();
        // "GET /b" comes first, but sorts after "GET /a": shape ids follow the sorted shapes
        let shapes = [shape("GET /b"), shape("GET /a")];
        let mut spans = 0;
        for i in 0..20_000u64 {
            let start = 1_735_689_600_000 + i * 37;
            let d = (80_000.0 * (0.7 * rng.normal()).exp()) as u64;
            let err = i % 13 == 0;
            let s = (i % 3 == 0) as usize;
            exact.entry((start - start % MINUTE_MS, err, 1 - s as u32)).or_default().add(d as f64 / 1000.0);
            spans += 3;
            rollup.add(&shapes[s], trace(&format!("t{i:05}"), start, d, err));
        }
        // a zero latency goes to the zero bucket, a row of its own
        rollup.add(&shapes[0], trace("z", 1_735_689_600_000, 0, false));
        exact.entry((1_735_689_600_000, false, 1)).or_default().add(0.0);
        spans += 3;
        let (got_shapes, rows) = rollup.finish();
        assert_eq!(got_shapes, vec![shapes[1].clone(), shapes[0].clone()]);
        assert!(rows.len() < 20_000 / 2, "{} rows", rows.len());
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 20_001);
        assert_eq!(rows.iter().map(|r| r.spans).sum::<u64>(), spans);
        let mut got: BTreeMap<(u64, bool, u32), DdSketch> = BTreeMap::new();
        for r in &rows {
            assert!(r.trace_id == "z" || r.trace_id.starts_with('t'));
            let key = (r.start_ms - r.start_ms % MINUTE_MS, r.error, r.shape);
            let ms = |us: u64| us as f64 / 1000.0;
            got.entry(key).or_default().add_range(
                ms(r.duration_us),
                r.requests,
                ms(r.min_duration_us),
                ms(r.max_duration_us),
            );
        }
        assert_eq!(got.len(), exact.len());
        for (k, e) in &exact {
            let g = &got[k];
            assert_eq!(g.count(), e.count());
            assert!(g.buckets().eq(e.buckets()), "{k:?}");
            // with each row's extremes carried, the quantiles are those of the requests' sketch
            for q in QUANTILES_TESTED {
                assert_eq!(g.quantile(q), e.quantile(q), "{k:?} q={q}");
            }
        }
        // Rows of the same key merge: two halves rolled up separately add up to the whole.
        let mut halves = TraceRollup::new();
        for r in &rows {
            let mut a = r.clone();
            a.requests = r.requests / 2 + r.requests % 2;
            a.spans = r.spans * a.requests / r.requests;
            let mut b = r.clone();
            b.requests = r.requests / 2;
            b.spans = r.spans - a.spans;
            let bucket = latency_bucket(r.duration_us);
            let sum = u128::from(r.duration_us) * u128::from(r.requests);
            let sa = sum * u128::from(a.requests) / u128::from(r.requests);
            let s = &got_shapes[r.shape as usize];
            halves.add_group(s, a, sa, bucket);
            halves.add_group(s, b, sum - sa, bucket);
        }
        assert_eq!(halves.len(), rows.len());
        let (hs, hr) = halves.finish();
        assert_eq!(hs, got_shapes);
        assert_eq!(hr.len(), rows.len());
        for (a, b) in hr.iter().zip(&rows) {
            assert_eq!(a, b);
        }
    }

    const QUANTILES_TESTED: [f64; 4] = [0.0, 0.5, 0.99, 1.0];

    #[test]
    fn shapes_past_the_cap_fold_under_their_root() {
        let mut rollup = TraceRollup::with_max_shapes(2);
        let with_child = |op: &str, child: &str| TraceShape { child_operations: vec![child.into()], ..shape(op) };
        for (i, s) in [
            with_child("GET /", "a"),
            with_child("GET /", "b"),
            with_child("GET /", "c"),
            with_child("GET /x", "d"),
            with_child("GET /", "a"),
        ]
        .iter()
        .enumerate()
        {
            rollup.add(s, trace(&format!("t{i}"), 1_735_689_600_000, 1_000, false));
        }
        assert_eq!(rollup.folded(), 2);
        let (shapes, rows) = rollup.finish();
        let kids: Vec<(&str, &[String])> =
            shapes.iter().map(|s| (s.operation.as_str(), s.child_operations.as_slice())).collect();
        assert_eq!(
            kids,
            [
                ("GET /", &["(other)".to_string()][..]),
                ("GET /", &["a".to_string()][..]),
                ("GET /", &["b".to_string()][..]),
                ("GET /x", &["(other)".to_string()][..])
            ]
        );
        assert_eq!(rows.iter().map(|r| r.requests).sum::<u64>(), 5);
    }

    #[test]
    fn synthetic_journeys_match_ground_truth() {
        for seed in [1, 42, 7] {
            let (events, truth) = generate(&SyntheticConfig { requests: 3_000, seed, ..Default::default() });
            let spans = from_events(&events);
            let d = discover(&spans, &JourneyConfig::default());
            assert!(d.generic_roots.is_empty());
            assert_eq!(d.traces, 3_000);
            assert_eq!(d.journeys.len(), truth.journeys.len());
            for spec in JOURNEYS {
                let op = format!("{} {}", spec.method, spec.route);
                let j = d.journey(&op).unwrap_or_else(|| panic!("journey {op} not found"));
                let (req, err) = truth.journeys[spec.name];
                assert_eq!((j.requests, j.errors), (req, err), "{op}");
                assert_eq!(j.entry_service, "frontend");
                assert_eq!(j.error_source, ErrorSource::SpanStatus);
                assert_eq!(j.http_route.as_deref(), Some(spec.route));
                assert!((j.fan_out - spec.calls.len() as f64).abs() < 1e-9);
            }
            assert_eq!(d.requests.iter().map(|r| r.count).sum::<u64>(), 3_000);
            assert_eq!(d.journeys[0].rank, 1);
            assert!(d.journeys.windows(2).all(|w| w[0].criticality >= w[1].criticality));
            assert_eq!(d.edge_set(), truth.call_graph);
            assert!(truth.call_graph.contains(&("checkout".to_string(), "payment".to_string())));
        }
    }

    #[test]
    fn generic_roots_are_split_by_child_operations() {
        let mut spans = Vec::new();
        let mut add = |t: usize, kids: &[(&str, &str)]| {
            let tid = format!("t{t}");
            spans.push(span(&tid, "r", None, "frontend", "hipstershop.Frontend/Recv."));
            for (i, (svc, op)) in kids.iter().enumerate() {
                let cid = format!("c{i}");
                spans.push(span(&tid, &cid, Some("r"), "frontend", op));
                spans.push(span(&tid, &format!("s{i}"), Some(&cid), svc, op));
            }
        };
        for t in 0..10 {
            add(
                t,
                &[
                    ("catalog", "hipstershop.ProductCatalogService/GetProduct"),
                    ("rec", "hipstershop.RecommendationService/ListRecommendations"),
                ],
            );
        }
        for t in 10..14 {
            add(
                t,
                &[
                    ("catalog", "hipstershop.ProductCatalogService/GetProduct"),
                    ("cart", "hipstershop.CartService/AddItem"),
                ],
            );
        }
        for t in 14..16 {
            add(
                t,
                &[
                    ("checkout", "hipstershop.CheckoutService/PlaceOrder"),
                    ("catalog", "hipstershop.ProductCatalogService/GetProduct"),
                ],
            );
        }
        add(16, &[]);
        add(17, &[("ads", "hipstershop.AdService/GetAds")]);
        let d = discover(&spans, &JourneyConfig::default());
        assert_eq!(d.generic_roots, vec!["frontend: hipstershop.Frontend/Recv.".to_string()]);
        let names: BTreeMap<&str, u64> = d.journeys.iter().map(|j| (j.name.as_str(), j.requests)).collect();
        assert_eq!(names.get("view product"), Some(&10));
        assert_eq!(names.get("add to cart"), Some(&4));
        assert_eq!(names.get("checkout"), Some(&2));
        assert_eq!(names.get("Recv (no downstream calls)"), Some(&1));
        assert_eq!(names.get("GetAds"), Some(&1));
        assert_eq!(d.journey("view product").unwrap().signature.len(), 2);
        assert!(d.edge_set().contains(&("frontend".to_string(), "cart".to_string())));
        assert_eq!(d.orphan_spans, 0);
    }

    #[test]
    fn rare_signatures_fold_and_names_stay_unique() {
        let mut spans = Vec::new();
        for t in 0..20 {
            let tid = format!("t{t}");
            spans.push(span(&tid, "r", None, "fe", "Recv"));
            spans.push(span(&tid, "c", Some("r"), "fe", &format!("Op{}", t % 5)));
        }
        // An orphan: its parent is missing, so it roots its own trace.
        spans.push(span("lost", "x", Some("gone"), "fe", "Recv"));
        let d = discover(&spans, &JourneyConfig { max_signatures: 3, ..Default::default() });
        assert_eq!(d.orphan_spans, 1);
        assert_eq!(d.journeys.len(), 4);
        let total: u64 = d.journeys.iter().map(|j| j.requests).sum();
        assert_eq!(total, 21);
        let names: BTreeSet<&str> = d.journeys.iter().map(|j| j.name.as_str()).collect();
        assert_eq!(names.len(), 4);
        assert!(names.contains("Recv (other)"));
        assert!(discover(&[], &JourneyConfig::default()).journeys.is_empty());
        // One dominant root whose traces all look alike is not generic.
        let same: Vec<Span> = (0..5)
            .flat_map(|t| {
                let tid = format!("u{t}");
                vec![span(&tid, "r", None, "fe", "POST /login"), span(&tid, "c", Some("r"), "auth", "Authenticate")]
            })
            .collect();
        let d = discover(&same, &JourneyConfig::default());
        assert!(d.generic_roots.is_empty());
        assert_eq!(d.journeys[0].name, "POST /login");
    }

    #[test]
    fn short_operations() {
        assert_eq!(short_operation("hipstershop.CartService/AddItem"), "AddItem");
        assert_eq!(short_operation("hipstershop.Frontend/Recv."), "Recv");
        assert_eq!(short_operation("GET /"), "GET");
        assert_eq!(short_operation("/"), "/");
        assert_eq!(short_operation("sql.rows"), "sql.rows");
    }
}
