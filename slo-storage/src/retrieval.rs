//! Retrieval for the advisor (RAG context): the capsules most relevant to a question, with the
//! evidence an SRE (or a language model) needs — template, counts, severities, time range, and
//! redacted samples with trace ids.

use slo_dataflow::embed::Embedder;
use slo_dataflow::event::{Capsule, EventTime};

use crate::error::StorageError;
use crate::store::Store;
use crate::vector::VectorIndex;

/// One capsule offered as evidence (defined with the event model, so that the artifacts crate
/// can put it in runbooks without depending on the store).
pub use slo_dataflow::event::CapsuleEvidence as Evidence;

/// The `k` capsules of `services` (all services when empty) whose windows overlap
/// `[from_ms, to_ms)`, most error events first, then most events, then earliest window: the
/// evidence for "what went wrong in this journey in this period", no embedder needed.
pub async fn top_capsules(
    store: &Store,
    services: &[String],
    from_ms: EventTime,
    to_ms: EventTime,
    k: usize,
) -> Result<Vec<Evidence>, StorageError> {
    let mut found: Vec<Evidence> = Vec::new();
    let all = [None];
    let wanted: Vec<Option<&str>> =
        if services.is_empty() { all.to_vec() } else { services.iter().map(|s| Some(s.as_str())).collect() };
    for service in wanted {
        for c in store.read_capsules(service).await? {
            if c.window_start_ms < to_ms && c.window_end_ms > from_ms {
                found.push(Evidence::from_capsule(&c, 0.0));
            }
        }
    }
    found.sort_by(|a, b| {
        b.errors
            .cmp(&a.errors)
            .then(b.count.cmp(&a.count))
            .then(a.window_start_ms.cmp(&b.window_start_ms))
            .then(a.capsule_id.cmp(&b.capsule_id))
    });
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
    let query =
        embedder.embed_batch(&[question]).map_err(|e| StorageError::Index(e.to_string()))?.pop().unwrap_or_default();
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
