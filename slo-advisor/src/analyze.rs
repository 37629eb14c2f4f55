//! The whole analysis in one call: journeys, call graph, SLIs and their PromQL. Later stages
//! (recommendations, rationales) take an [`Analysis`] and put their output beside it, in
//! [`crate::report::AnalysisReport`].

use serde::{Deserialize, Serialize};

use crate::journeys::{discover_traces, summarize, Edge, Journey, JourneyConfig, Request, TraceSet};
use crate::promql::{queries, MetricConvention, SliQueries};
use crate::sli::{compute, JourneySli, SliMinute};
use crate::span::Span;

/// Settings of [`analyze`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyzeConfig {
    /// Journey discovery settings.
    pub journeys: JourneyConfig,
    /// Metric convention for the PromQL.
    pub convention: MetricConvention,
}

/// Journeys, call graph, SLIs and their PromQL, as [`analyze`] finds them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Analysis {
    /// Spans analysed.
    pub spans: usize,
    /// Traces (requests).
    pub traces: usize,
    /// Spans whose parent is missing.
    pub orphan_spans: usize,
    /// Root operations found to be generic (journeys split by child operations).
    pub generic_roots: Vec<String>,
    /// Journeys, most critical first.
    pub journeys: Vec<Journey>,
    /// Service call graph.
    pub call_graph: Vec<Edge>,
    /// SLIs per journey (same order as `journeys`).
    pub slis: Vec<JourneySli>,
    /// PromQL per journey (same order as `journeys`).
    pub promql: Vec<SliQueries>,
    /// SLIs per journey per minute (`sli_minutes` rows).
    pub minutes: Vec<SliMinute>,
    /// The requests with their journey, rolled up (a row stands for [`Request::count`]
    /// requests; not serialised).
    #[serde(skip)]
    pub requests: Vec<Request>,
}

/// Analyses spans held in memory.
pub fn analyze(spans: &[Span], cfg: &AnalyzeConfig) -> Analysis {
    analyze_traces(&summarize(spans), cfg)
}

/// Analyses assembled traces: from [`summarize`] over spans in memory, or from
/// [`crate::store_traces::traces_from_store`], where DataFusion assembled them over the store.
pub fn analyze_traces(set: &TraceSet, cfg: &AnalyzeConfig) -> Analysis {
    let d = discover_traces(set, &cfg.journeys);
    let slis = compute(&d);
    let promql = d.journeys.iter().map(|j| queries(&cfg.convention, j)).collect();
    Analysis {
        spans: set.spans,
        traces: d.traces,
        orphan_spans: d.orphan_spans,
        generic_roots: d.generic_roots,
        journeys: d.journeys,
        call_graph: d.call_graph,
        slis: slis.journeys,
        promql,
        minutes: slis.minutes,
        requests: d.requests,
    }
}

/// Keeps only the spans of traces that touch `service` (whole traces, so journeys stay whole).
pub fn traces_touching(spans: Vec<Span>, service: &str) -> Vec<Span> {
    let keep: std::collections::HashSet<String> =
        spans.iter().filter(|s| s.service == service).map(|s| s.trace_id.clone()).collect();
    spans.into_iter().filter(|s| keep.contains(&s.trace_id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    #[test]
    fn analysis_is_consistent_and_serialisable() {
        let (events, truth) = generate(&SyntheticConfig { requests: 1_000, ..Default::default() });
        let spans = from_events(&events);
        let a = analyze(&spans, &AnalyzeConfig::default());
        assert_eq!(a.traces, 1_000);
        assert_eq!(a.journeys.len(), 5);
        assert_eq!(a.slis.len(), 5);
        assert_eq!(a.promql.len(), 5);
        for ((j, s), q) in a.journeys.iter().zip(&a.slis).zip(&a.promql) {
            assert_eq!(j.name, s.journey);
            assert_eq!(j.name, q.journey);
        }
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["journeys"].as_array().unwrap().len(), 5);
        let auth = analyze(&traces_touching(spans, "auth"), &AnalyzeConfig::default());
        assert_eq!(auth.journeys.len(), 1);
        assert_eq!(auth.traces as u64, truth.journeys["login"].0);
    }
}
