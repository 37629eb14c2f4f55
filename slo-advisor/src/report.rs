//! What `slo-runner analyze` reports: the [`Analysis`], what the error-signal fallback did, and
//! the SLO recommendations drawn from it — each stage's output beside the others, so no stage
//! carries a later one's.
//!
//! ```
//! use slo_advisor::analyze::{analyze, AnalyzeConfig};
//! use slo_advisor::recommend::{recommend_analysis, RecommendConfig};
//! use slo_advisor::report::AnalysisReport;
//! use slo_advisor::spans::from_events;
//! use slo_dataflow::synthetic::{generate, SyntheticConfig};
//!
//! let (events, _truth) = generate(&SyntheticConfig { requests: 500, ..Default::default() });
//! let analysis = analyze(&from_events(&events), &AnalyzeConfig::default());
//! let recommendations = recommend_analysis(&analysis, &RecommendConfig::default());
//! let report = AnalysisReport { analysis, error_fallback: None, recommendations };
//! let json = serde_json::to_value(&report).unwrap();
//! assert_eq!(json["journeys"].as_array().unwrap().len(), json["recommendations"].as_array().unwrap().len());
//! ```

use serde::{Deserialize, Serialize};

use crate::analyze::Analysis;
use crate::fallback::FallbackReport;
use crate::recommend::JourneyRecommendations;

/// The analysis with the recommendations drawn from it. Serialised flat: the analysis' fields,
/// then `recommendations`, then `error_fallback` (when the fallback ran).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AnalysisReport {
    /// Journeys, call graph, SLIs and PromQL.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// SLO recommendations per journey (same order as `analysis.journeys`), with evidence and
    /// rationales.
    #[serde(default)]
    pub recommendations: Vec<JourneyRecommendations>,
    /// What the error-signal fallback did for spans without a status (`None` when it was not
    /// needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_fallback: Option<FallbackReport>,
}
