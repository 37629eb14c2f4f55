//! Retrieval for the advisor (RAG context): the capsules most relevant to a question, with the
//! evidence an SRE (or a language model) needs — template, counts, severities, time range, and
//! redacted samples with trace ids.

use serde::{Deserialize, Serialize};
use slo_dataflow::event::{Capsule, CapsuleSample, EventTime};
use slo_operators::embed::Embedder;

use crate::error::StorageError;
use crate::store::Store;
use crate::vector::VectorIndex;

/// One capsule offered as evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Capsule id (join key into the `capsules` table).
    pub capsule_id: String,
    /// Cosine distance between the question and the template ([`retrieve`]); 0 for capsules
    /// ranked without a question ([`top_capsules`]).
    pub distance: f32,
    /// Service.
    pub service: String,
    /// The template.
    pub template: String,
    /// Events in the window.
    pub count: u64,
    /// Events with severity ERROR or FATAL.
    pub errors: u64,
    /// Window start, ms.
    pub window_start_ms: EventTime,
    /// Window end, ms.
    pub window_end_ms: EventTime,
    /// Redacted samples (with trace ids where known).
    pub samples: Vec<CapsuleSample>,
}

impl Evidence {
    fn from_capsule(c: &Capsule, distance: f32) -> Self {
        Evidence {
            capsule_id: c.capsule_id(),
            distance,
            service: c.service.clone(),
            template: c.template.clone(),
            count: c.count,
            errors: c.severity_counts.get("ERROR").copied().unwrap_or(0) + c.severity_counts.get("FATAL").copied().unwrap_or(0),
            window_start_ms: c.window_start_ms,
            window_end_ms: c.window_end_ms,
            samples: c.samples.clone(),
        }
    }
}

/// The `k` capsules of `services` (all services when empty) whose windows overlap
/// `[from_ms, to_ms)`, most error events first, then most events, then earliest window: the
/// evidence for "what went wrong in this journey in this period", no embedder needed.
pub async fn top_capsules(store: &Store, services: &[String], from_ms: EventTime, to_ms: EventTime, k: usize) -> Result<Vec<Evidence>, StorageError> {
    let mut found: Vec<Evidence> = Vec::new();
    let all = [None];
    let wanted: Vec<Option<&str>> = if services.is_empty() { all.to_vec() } else { services.iter().map(|s| Some(s.as_str())).collect() };
    for service in wanted {
        for c in store.read_capsules(service).await? {
            if c.window_start_ms < to_ms && c.window_end_ms > from_ms {
                found.push(Evidence::from_capsule(&c, 0.0));
            }
        }
    }
    found.sort_by(|a, b| b.errors.cmp(&a.errors).then(b.count.cmp(&a.count)).then(a.window_start_ms.cmp(&b.window_start_ms)).then(a.capsule_id.cmp(&b.capsule_id)));
    found.truncate(k);
    Ok(found)
}

/// The `k` capsules nearest to `question`, optionally of one service, nearest first.
///
/// Searches the index for more than `k` neighbours so a service filter still yields `k` hits
/// when other services' capsules are closer.
pub async fn retrieve(
    store: &Store,
    index: &VectorIndex,
    embedder: &mut dyn Embedder,
    service: Option<&str>,
    question: &str,
    k: usize,
) -> Result<Vec<Evidence>, StorageError> {
    let query = embedder
        .embed_batch(&[question])
        .map_err(|e| StorageError::Index(e.to_string()))?
        .pop()
        .unwrap_or_default();
    let capsules = store.read_capsules(service).await?;
    let by_id: std::collections::HashMap<String, &Capsule> = capsules.iter().map(|c| (c.capsule_id(), c)).collect();
    let mut fetch = (k * 4).max(16);
    loop {
        let hits = index.search(&query, fetch)?;
        let evidence: Vec<Evidence> = hits
            .iter()
            .filter_map(|h| by_id.get(&h.capsule_id).map(|c| Evidence::from_capsule(c, h.distance)))
            .take(k)
            .collect();
        if evidence.len() >= k || fetch >= index.len() {
            return Ok(evidence);
        }
        fetch = (fetch * 4).min(index.len());
    }
}
