//! The capsule vector index: usearch HNSW (cosine), keyed by capsule id, persisted in the store.
//!
//! **Recall is measured, not assumed.** How wide an HNSW search must be (`expansion_search`)
//! for a given recall depends on the data: clustered text embeddings need a narrow search,
//! random-looking vectors a very wide one. So the index calibrates itself
//! ([`VectorIndex::calibrate`]): it takes a sample of its own vectors as queries, finds their
//! exact 10 nearest neighbours by brute force, and doubles `expansion_search` from the
//! configured value until the HNSW answers reach [`VectorIndexConfig::target_recall`] (plus a
//! margin for sampling error) or [`VectorIndexConfig::max_expansion_search`]. It does so each
//! time the index has doubled in size since the last calibration, and the result is saved with
//! the index.
//!
//! **Nothing unverified reaches the C++ library.** A save writes the index, its key order and its
//! calibration, then a manifest ([`IndexManifest`], written last: it commits the save) with the
//! index's size and SHA-256, the key order's SHA-256 and the [`EmbedderId`] that built the
//! vectors. A load checks all of them before `usearch` sees a byte; an index without a manifest,
//! of another size or checksum is [`StorageError::DamagedIndex`]: reported, not loaded, and
//! rebuildable from the embeddings the `capsules` table keeps ([`VectorIndex::rebuild`]).
//!
//! **Vectors are only compared with vectors of the same embedder.** The index remembers the
//! embedder that built it ([`VectorIndex::bind_embedder`]); adding or searching with another is
//! [`StorageError::EmbedderMismatch`].

use std::collections::BTreeMap;

use sha2::Digest;
use slo_dataflow::embed::EmbedderId;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::error::StorageError;
use crate::store::{parallel_map, Store};

/// Name of the index blob in the store.
pub const INDEX_BLOB: &str = "capsules.usearch";
/// Name of the id map blob in the store.
pub const KEYS_BLOB: &str = "capsules.keys.json";
/// Name of the calibration blob in the store.
pub const CALIBRATION_BLOB: &str = "capsules.calibration.json";
/// Name of the manifest blob in the store (written last by a save).
pub const MANIFEST_BLOB: &str = "capsules.index.json";

/// What a saved index must match before it is loaded, and which embedder built it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexManifest {
    /// The embedder of every vector in the index (`None` for an index saved empty).
    pub embedder: Option<EmbedderId>,
    /// Vectors in the index.
    pub vectors: usize,
    /// Size of the index blob in bytes.
    pub index_bytes: u64,
    /// SHA-256 (hex) of the index blob.
    pub index_sha256: String,
    /// SHA-256 (hex) of the key-order blob.
    pub keys_sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Neighbours per query when calibrating (recall@10).
const CALIBRATION_K: usize = 10;
/// Calibration aims this far above the target: with 64 queries × 10 neighbours the measured
/// recall has a standard error of about 0.009 near 0.95.
const CALIBRATION_MARGIN: f64 = 0.02;
/// Indexes smaller than this are not calibrated automatically.
const CALIBRATION_MIN_VECTORS: usize = 256;

/// Index settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct VectorIndexConfig {
    /// Vector dimension. Default 384 (all-MiniLM-L6-v2).
    pub dimensions: usize,
    /// HNSW graph degree. Default 16.
    pub connectivity: usize,
    /// Candidate list size while inserting. Default 128.
    pub expansion_add: usize,
    /// Candidate list size while searching: the starting (smallest) value; calibration raises
    /// it as far as the target recall needs. Default 64.
    pub expansion_search: usize,
    /// Recall@10 (vs exact search) that calibration aims for; `0` turns calibration off and
    /// keeps `expansion_search` fixed. Default 0.95.
    pub target_recall: f64,
    /// Upper bound for the calibrated `expansion_search` (bounds query latency). Default 16,384.
    pub max_expansion_search: usize,
    /// Sample queries per calibration. Default 64.
    pub calibration_queries: usize,
    /// Maximum number of vectors; adding beyond it evicts the oldest-added ids (counted).
    /// Default 5,000,000.
    pub max_vectors: usize,
    /// Indexes with fewer vectors than this are searched exactly (brute force: a few ms at this
    /// size), so their answers are exact and do not depend on the order the vectors were added
    /// in — HNSW over the many near-identical vectors of one template's capsules can miss.
    /// `0`: always HNSW. Default 20,000.
    pub exact_below: usize,
}

impl Default for VectorIndexConfig {
    fn default() -> Self {
        VectorIndexConfig {
            dimensions: 384,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 64,
            target_recall: 0.95,
            max_expansion_search: 16_384,
            calibration_queries: 64,
            max_vectors: 5_000_000,
            exact_below: 20_000,
        }
    }
}

/// What one calibration measured and chose.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Calibration {
    /// Vectors in the index when it was measured.
    pub vectors: usize,
    /// Sample queries (stored vectors; each is left out of its own answers).
    pub queries: usize,
    /// The `expansion_search` chosen.
    pub expansion_search: usize,
    /// Recall@10 measured at that `expansion_search`.
    pub recall: f64,
    /// Whether the target (plus margin) was reached; if not, `expansion_search` is the maximum.
    pub reached: bool,
}

/// One search hit.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The capsule id (hex).
    pub capsule_id: String,
    /// Cosine distance (0 = identical direction).
    pub distance: f32,
}

/// HNSW index over capsule embeddings.
pub struct VectorIndex {
    index: Index,
    cfg: VectorIndexConfig,
    /// Insertion sequence → key, for eviction in insertion order.
    order: BTreeMap<u64, u64>,
    seq_of: std::collections::HashMap<u64, u64>,
    next_seq: u64,
    evictions: u64,
    calibration: Option<Calibration>,
    embedder: Option<EmbedderId>,
}

fn key_of(capsule_id: &str) -> Result<u64, StorageError> {
    u64::from_str_radix(capsule_id, 16)
        .map_err(|_| StorageError::Index(format!("capsule id {capsule_id:?} is not 16 hex digits")))
}

fn ierr(e: impl std::fmt::Display) -> StorageError {
    StorageError::Index(e.to_string())
}

impl VectorIndex {
    /// An empty index.
    pub fn new(cfg: VectorIndexConfig) -> Result<Self, StorageError> {
        let options = IndexOptions {
            dimensions: cfg.dimensions,
            metric: MetricKind::Cos,
            quantization: ScalarKind::F32,
            connectivity: cfg.connectivity,
            expansion_add: cfg.expansion_add,
            expansion_search: cfg.expansion_search,
            multi: false,
        };
        let index = Index::new(&options).map_err(ierr)?;
        index.reserve(1024).map_err(ierr)?;
        Ok(VectorIndex {
            index,
            cfg,
            order: BTreeMap::new(),
            seq_of: Default::default(),
            next_seq: 0,
            evictions: 0,
            calibration: None,
            embedder: None,
        })
    }

    /// The embedder whose vectors the index holds, once known.
    pub fn embedder(&self) -> Option<&EmbedderId> {
        self.embedder.as_ref()
    }

    /// Ties the index to the embedder whose vectors go in or whose queries come: an index that
    /// holds vectors of another embedder (or whose dimension differs) is
    /// [`StorageError::EmbedderMismatch`]; an empty one takes the embedder (and its dimension).
    pub fn bind_embedder(&mut self, id: &EmbedderId) -> Result<(), StorageError> {
        if let Some(built) = &self.embedder {
            if let Some(why) = built.mismatch(id) {
                if !self.is_empty() {
                    return Err(StorageError::EmbedderMismatch(why));
                }
            }
        }
        if self.is_empty() && id.dim != self.cfg.dimensions {
            let mut cfg = self.cfg.clone();
            cfg.dimensions = id.dim;
            let (evictions, calibration) = (self.evictions, self.calibration.clone());
            *self = VectorIndex::new(cfg)?;
            self.evictions = evictions;
            self.calibration = calibration;
        }
        self.embedder = Some(id.clone());
        Ok(())
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.index.size()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fixes the search candidate-list size (recall vs latency) and turns calibration off (the
    /// last calibration no longer applies and is dropped).
    pub fn set_expansion_search(&mut self, n: usize) {
        self.index.change_expansion_search(n);
        self.cfg.expansion_search = n;
        self.cfg.target_recall = 0.0;
        self.calibration = None;
    }

    /// The `expansion_search` searches use now.
    pub fn expansion_search(&self) -> usize {
        self.index.expansion_search()
    }

    /// The last calibration, if any.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// Measures recall@10 on a sample of the stored vectors and sets `expansion_search` to the
    /// smallest power-of-two multiple of the configured value that reaches
    /// [`VectorIndexConfig::target_recall`] plus a 0.02 margin (or the maximum). Costs
    /// `calibration_queries` exact searches plus as many HNSW searches per tried value.
    pub fn calibrate(&mut self) -> Result<Calibration, StorageError> {
        let n = self.len();
        let k = CALIBRATION_K.min(n.saturating_sub(1));
        let start = self.cfg.expansion_search.max(1);
        let q = self.cfg.calibration_queries.min(n).max(1);
        if k == 0 {
            self.index.change_expansion_search(start);
            let c = Calibration { vectors: n, queries: 0, expansion_search: start, recall: 1.0, reached: true };
            self.calibration = Some(c.clone());
            return Ok(c);
        }
        // Evenly spaced over insertion order: old and new parts of the graph alike.
        let ids: Vec<u64> = self.order.values().copied().collect();
        let mut queries: Vec<(u64, Vec<f32>)> = Vec::with_capacity(q);
        for i in 0..q {
            let key = ids[i * ids.len() / q];
            let mut v = vec![0f32; self.cfg.dimensions];
            self.index.get(key, &mut v).map_err(ierr)?;
            queries.push((key, v));
        }
        let neighbours = |m: usearch::ffi::Matches, own: u64| -> Vec<u64> {
            m.keys.into_iter().filter(|&x| x != own).take(k).collect()
        };
        let truth: Vec<std::collections::HashSet<u64>> = queries
            .iter()
            .map(|(own, v)| self.index.exact_search(v, k + 1).map(|m| neighbours(m, *own).into_iter().collect()))
            .collect::<Result<_, _>>()
            .map_err(ierr)?;
        let max = self.cfg.max_expansion_search.max(start);
        let aim = (self.cfg.target_recall + CALIBRATION_MARGIN).min(1.0);
        let mut ef = start;
        loop {
            self.index.change_expansion_search(ef);
            let mut hit = 0usize;
            for ((own, v), t) in queries.iter().zip(&truth) {
                let m = self.index.search(v, k + 1).map_err(ierr)?;
                hit += neighbours(m, *own).iter().filter(|x| t.contains(x)).count();
            }
            let recall = hit as f64 / (k * queries.len()) as f64;
            if recall >= aim || ef >= max {
                let c = Calibration {
                    vectors: n,
                    queries: queries.len(),
                    expansion_search: ef,
                    recall,
                    reached: recall >= aim,
                };
                tracing::debug!(vectors = n, expansion_search = ef, recall, "vector index calibrated");
                if !c.reached {
                    tracing::warn!(
                        vectors = n,
                        expansion_search = ef,
                        recall,
                        target = self.cfg.target_recall,
                        "vector index recall below target at the maximum expansion_search"
                    );
                }
                self.calibration = Some(c.clone());
                return Ok(c);
            }
            ef = (ef * 2).min(max);
        }
    }

    /// Calibrates when calibration is on and the index has doubled since the last one.
    fn maybe_calibrate(&mut self) -> Result<(), StorageError> {
        let n = self.len();
        let last = self.calibration.as_ref().map_or(0, |c| c.vectors);
        if self.cfg.target_recall > 0.0 && n >= CALIBRATION_MIN_VECTORS && n >= 2 * last {
            self.calibrate()?;
        }
        Ok(())
    }

    /// Vectors evicted by the cap.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Adds or replaces the vector of a capsule.
    pub fn upsert(&mut self, capsule_id: &str, vector: &[f32]) -> Result<(), StorageError> {
        if vector.len() != self.cfg.dimensions {
            return Err(StorageError::Index(format!(
                "vector of length {} for a {}-d index",
                vector.len(),
                self.cfg.dimensions
            )));
        }
        let key = key_of(capsule_id)?;
        self.forget(key)?;
        self.make_room(1)?;
        if self.index.size() + 1 > self.index.capacity() {
            self.index.reserve((self.index.capacity() * 2).max(1024)).map_err(ierr)?;
        }
        self.index.add(key, vector).map_err(ierr)?;
        self.remember(key);
        self.maybe_calibrate()
    }

    /// Removes `key` from the index and the insertion order; whether it was there.
    fn forget(&mut self, key: u64) -> Result<bool, StorageError> {
        if !self.index.contains(key) {
            return Ok(false);
        }
        self.index.remove(key).map_err(ierr)?;
        if let Some(seq) = self.seq_of.remove(&key) {
            self.order.remove(&seq);
        }
        Ok(true)
    }

    /// Evicts the oldest-added ids (counted) until `incoming` more fit under the cap.
    fn make_room(&mut self, incoming: usize) -> Result<(), StorageError> {
        while self.index.size() + incoming > self.cfg.max_vectors.max(1) {
            let Some((_, victim)) = self.order.pop_first() else { break };
            self.seq_of.remove(&victim);
            self.index.remove(victim).map_err(ierr)?;
            self.evictions += 1;
        }
        Ok(())
    }

    /// Records `key` as the newest-added id.
    fn remember(&mut self, key: u64) {
        self.order.insert(self.next_seq, key);
        self.seq_of.insert(key, self.next_seq);
        self.next_seq += 1;
    }

    /// Adds or replaces many vectors at once, inserting on one thread per core — the way to
    /// build or rebuild a large index ([`VectorIndex::upsert`] inserts one at a time). Within the
    /// batch the last vector of a capsule wins; the cap evicts the oldest-added ids first, as
    /// `upsert` does. Nothing is inserted when an item is invalid.
    pub fn upsert_batch(&mut self, items: &[(String, Vec<f32>)]) -> Result<(), StorageError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut keys = Vec::with_capacity(items.len());
        for (id, v) in items {
            if v.len() != self.cfg.dimensions {
                return Err(StorageError::Index(format!(
                    "vector of length {} for a {}-d index",
                    v.len(),
                    self.cfg.dimensions
                )));
            }
            keys.push(key_of(id)?);
        }
        let last: std::collections::HashMap<u64, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        let mut chosen: Vec<usize> = (0..items.len()).filter(|i| last.get(&keys[*i]) == Some(i)).collect();
        for &i in &chosen {
            self.forget(keys[i])?;
        }
        let max = self.cfg.max_vectors.max(1);
        if chosen.len() > max {
            // The earliest of the batch would be evicted by its own later items.
            self.evictions += (chosen.len() - max) as u64;
            chosen.drain(..chosen.len() - max);
        }
        self.make_room(chosen.len())?;
        // `parallel_map` runs one thread per core, at most one per item: reserve that many.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(chosen.len()).max(1);
        let needed = (self.index.size() + chosen.len()).max(self.index.capacity());
        self.index.reserve_capacity_and_threads(needed, threads).map_err(ierr)?;
        let index = &self.index;
        let added = parallel_map(&chosen, |&i| index.add(keys[i], &items[i].1).map_err(ierr));
        added.into_iter().collect::<Result<Vec<()>, StorageError>>()?;
        for &i in &chosen {
            self.remember(keys[i]);
        }
        self.maybe_calibrate()
    }

    /// Removes capsules (retention).
    pub fn remove(&mut self, capsule_ids: &[String]) -> Result<usize, StorageError> {
        let mut n = 0;
        for id in capsule_ids {
            if self.forget(key_of(id)?)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// The `k` nearest capsules to `query`: exact below [`VectorIndexConfig::exact_below`]
    /// vectors, HNSW (at the calibrated `expansion_search`) above.
    pub fn search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, StorageError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        if self.len() < self.cfg.exact_below {
            return self.exact_search(query, k);
        }
        // More neighbours than vectors cannot be found; usearch would size its buffers by `k`.
        let k = k.min(self.len());
        let m = self.index.search(query, k).map_err(ierr)?;
        Ok(m.keys
            .iter()
            .zip(m.distances.iter())
            .map(|(k, d)| Hit { capsule_id: format!("{k:016x}"), distance: *d })
            .collect())
    }

    /// Exact (brute-force) search: the ground truth for recall measurements.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Result<Vec<Hit>, StorageError> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let k = k.min(self.len());
        let m = self.index.exact_search(query, k).map_err(ierr)?;
        Ok(m.keys
            .iter()
            .zip(m.distances.iter())
            .map(|(k, d)| Hit { capsule_id: format!("{k:016x}"), distance: *d })
            .collect())
    }

    /// Saves the index, its insertion order and calibration, then the manifest that commits them.
    pub async fn save(&self, store: &Store) -> Result<(), StorageError> {
        let mut buf = vec![0u8; self.index.serialized_length()];
        self.index.save_to_buffer(&mut buf).map_err(ierr)?;
        let order: Vec<u64> = self.order.values().copied().collect();
        let keys = serde_json::to_vec(&order).map_err(ierr)?;
        let manifest = IndexManifest {
            embedder: self.embedder.clone(),
            vectors: self.len(),
            index_bytes: buf.len() as u64,
            index_sha256: sha256_hex(&buf),
            keys_sha256: sha256_hex(&keys),
        };
        store.put_blob(INDEX_BLOB, buf).await?;
        store.put_blob(KEYS_BLOB, keys).await?;
        if let Some(c) = &self.calibration {
            store.put_blob(CALIBRATION_BLOB, serde_json::to_vec(c).map_err(ierr)?).await?;
        }
        store.put_blob(MANIFEST_BLOB, serde_json::to_vec_pretty(&manifest).map_err(ierr)?).await?;
        Ok(())
    }

    /// The manifest of the saved index, `None` when the store holds no index.
    pub async fn manifest(store: &Store) -> Result<Option<IndexManifest>, StorageError> {
        let Some(bytes) = store.get_blob(MANIFEST_BLOB).await? else {
            if store.get_blob(INDEX_BLOB).await?.is_some() {
                return Err(StorageError::DamagedIndex(
                    "the index has no manifest (cut-short save or older version)".into(),
                ));
            }
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StorageError::DamagedIndex(format!("unreadable manifest {MANIFEST_BLOB}: {e}")))
    }

    /// Loads the index from the store, or an empty one when none was saved. The index's size and
    /// checksum are verified first: a damaged index is [`StorageError::DamagedIndex`], never
    /// handed to the library.
    pub async fn load(store: &Store, mut cfg: VectorIndexConfig) -> Result<Self, StorageError> {
        let Some(manifest) = Self::manifest(store).await? else { return VectorIndex::new(cfg) };
        let damaged = |why: String| StorageError::DamagedIndex(why);
        let bytes = store.get_blob(INDEX_BLOB).await?.ok_or_else(|| damaged(format!("{INDEX_BLOB} is missing")))?;
        if bytes.len() as u64 != manifest.index_bytes {
            return Err(damaged(format!(
                "{INDEX_BLOB} has {} bytes, the manifest says {}",
                bytes.len(),
                manifest.index_bytes
            )));
        }
        if sha256_hex(&bytes) != manifest.index_sha256 {
            return Err(damaged(format!("{INDEX_BLOB} does not match its checksum")));
        }
        let keys = store.get_blob(KEYS_BLOB).await?.ok_or_else(|| damaged(format!("{KEYS_BLOB} is missing")))?;
        if sha256_hex(&keys) != manifest.keys_sha256 {
            return Err(damaged(format!("{KEYS_BLOB} does not match its checksum")));
        }
        let order: Vec<u64> = serde_json::from_slice(&keys).map_err(|e| damaged(format!("{KEYS_BLOB}: {e}")))?;
        if let Some(e) = &manifest.embedder {
            cfg.dimensions = e.dim;
        }
        let mut idx = VectorIndex::new(cfg)?;
        idx.index.load_from_buffer(&bytes).map_err(|e| damaged(format!("{INDEX_BLOB}: {e}")))?;
        if idx.index.dimensions() != idx.cfg.dimensions || idx.len() != manifest.vectors || order.len() != idx.len() {
            return Err(damaged(format!(
                "{INDEX_BLOB} holds {} vectors of {} dimensions, the manifest says {} ({} keys)",
                idx.len(),
                idx.index.dimensions(),
                manifest.vectors,
                order.len()
            )));
        }
        for key in order {
            idx.order.insert(idx.next_seq, key);
            idx.seq_of.insert(key, idx.next_seq);
            idx.next_seq += 1;
        }
        idx.embedder = manifest.embedder;
        // The saved file carries the build-time search width; the configured one (or the saved
        // calibration, when calibration is on) applies instead.
        idx.index.change_expansion_search(idx.cfg.expansion_search);
        if idx.cfg.target_recall > 0.0 {
            if let Some(bytes) = store.get_blob(CALIBRATION_BLOB).await? {
                // A damaged calibration only costs the calibrated width: recalibrated later.
                if let Ok(c) = serde_json::from_slice::<Calibration>(&bytes) {
                    idx.index.change_expansion_search(
                        c.expansion_search.clamp(
                            idx.cfg.expansion_search,
                            idx.cfg.max_expansion_search.max(idx.cfg.expansion_search),
                        ),
                    );
                    idx.calibration = Some(c);
                }
            }
        }
        Ok(idx)
    }

    /// Builds the index anew from the embeddings the store's `capsules` table keeps, for the
    /// embedder `embedder` (capsules with vectors of another dimension are left out and counted),
    /// and saves it. Returns the index and the number of capsules left out.
    pub async fn rebuild(
        store: &Store,
        cfg: VectorIndexConfig,
        embedder: &EmbedderId,
    ) -> Result<(Self, usize), StorageError> {
        let mut idx = VectorIndex::new(cfg)?;
        idx.bind_embedder(embedder)?;
        let capsules = store.read_capsules(None).await?;
        let mut items = Vec::new();
        let mut left_out = 0;
        for mut c in capsules {
            let id = c.capsule_id();
            match c.embedding.take() {
                Some(v) if v.len() == embedder.dim => items.push((id, v)),
                Some(_) => left_out += 1,
                None => {}
            }
        }
        for chunk in items.chunks(4096) {
            idx.upsert_batch(chunk)?;
        }
        idx.save(store).await?;
        Ok((idx, left_out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        slo_dataflow::synthetic::SplitMix64::new(seed).unit_vector(dim)
    }

    #[test]
    fn finds_itself_replaces_removes_and_evicts() {
        let mut idx =
            VectorIndex::new(VectorIndexConfig { dimensions: 8, max_vectors: 3, ..Default::default() }).unwrap();
        for i in 0..3u64 {
            idx.upsert(&format!("{i:016x}"), &unit(i, 8)).unwrap();
        }
        let hits = idx.search(&unit(1, 8), 1).unwrap();
        assert_eq!(hits[0].capsule_id, format!("{:016x}", 1));
        assert!(hits[0].distance < 1e-4);
        idx.upsert(&format!("{:016x}", 1), &unit(9, 8)).unwrap();
        assert_eq!(idx.len(), 3);
        idx.upsert(&format!("{:016x}", 3), &unit(3, 8)).unwrap();
        assert_eq!((idx.len(), idx.evictions()), (3, 1));
        assert_eq!(idx.remove(&[format!("{:016x}", 3)]).unwrap(), 1);
        assert!(idx.upsert("not-hex", &unit(0, 8)).is_err());
        assert!(idx.upsert(&format!("{:016x}", 5), &[1.0]).is_err());
    }

    #[test]
    fn batch_upserts_find_themselves_replace_and_respect_the_cap() {
        let id = |i: u64| format!("{i:016x}");
        let mut idx =
            VectorIndex::new(VectorIndexConfig { dimensions: 16, max_vectors: 1_000, ..Default::default() }).unwrap();
        let batch: Vec<(String, Vec<f32>)> = (0..800u64).map(|i| (id(i), unit(i, 16))).collect();
        idx.upsert_batch(&batch).unwrap();
        assert_eq!(idx.len(), 800);
        for i in [0u64, 399, 799] {
            assert_eq!(idx.search(&unit(i, 16), 1).unwrap()[0].capsule_id, id(i));
        }
        // Replacements and a duplicate within the batch (the last one wins), then the cap.
        let mut more: Vec<(String, Vec<f32>)> = (700..1_100u64).map(|i| (id(i), unit(i + 10_000, 16))).collect();
        more.push((id(1_099), unit(42_424, 16)));
        idx.upsert_batch(&more).unwrap();
        assert_eq!(idx.len(), 1_000);
        assert_eq!(idx.evictions(), 100); // 800 - 100 + 400 new = 1,100 > 1,000: the 100 oldest go
        assert!(idx.search(&unit(0, 16), 1).unwrap()[0].capsule_id != id(0));
        assert_eq!(idx.search(&unit(42_424, 16), 1).unwrap()[0].capsule_id, id(1_099));
        assert_eq!(idx.search(&unit(10_750, 16), 1).unwrap()[0].capsule_id, id(750));
        // Invalid items insert nothing.
        assert!(idx.upsert_batch(&[(id(5_000), unit(1, 16)), ("zz".into(), unit(2, 16))]).is_err());
        assert!(idx.upsert_batch(&[(id(5_001), vec![1.0])]).is_err());
        assert_eq!(idx.len(), 1_000);
    }

    fn recall_at_10(idx: &VectorIndex, queries: &[Vec<f32>]) -> f64 {
        let mut hit = 0;
        for q in queries {
            let exact: std::collections::HashSet<String> =
                idx.exact_search(q, 10).unwrap().into_iter().map(|h| h.capsule_id).collect();
            hit += idx.search(q, 10).unwrap().into_iter().filter(|h| exact.contains(&h.capsule_id)).count();
        }
        hit as f64 / (10 * queries.len()) as f64
    }

    #[test]
    fn calibration_widens_the_search_until_the_target_recall() {
        let dim = 48;
        // A deliberately narrow starting width on random (hard) vectors.
        let cfg = VectorIndexConfig {
            dimensions: dim,
            connectivity: 8,
            expansion_add: 32,
            expansion_search: 4,
            exact_below: 0, // HNSW at any size: that is what is calibrated
            ..Default::default()
        };
        let mut idx = VectorIndex::new(VectorIndexConfig { target_recall: 0.0, ..cfg.clone() }).unwrap();
        for i in 0..3_000u64 {
            idx.upsert(&format!("{i:016x}"), &unit(i, dim)).unwrap();
        }
        let queries: Vec<Vec<f32>> = (0..50).map(|i| unit(1_000_000 + i, dim)).collect();
        assert!(idx.calibration().is_none(), "calibration is off");
        let narrow = recall_at_10(&idx, &queries);
        assert!(narrow < 0.9, "the narrow search is not good enough ({narrow})");

        idx.cfg.target_recall = 0.95;
        let c = idx.calibrate().unwrap();
        assert!(c.reached && c.recall >= 0.97, "{c:?}");
        assert!(c.expansion_search > 4 && c.expansion_search.is_power_of_two(), "{c:?}");
        assert_eq!((c.vectors, c.queries, idx.expansion_search()), (3_000, 64, c.expansion_search));
        // Fresh queries (not stored vectors) reach the target too.
        let wide = recall_at_10(&idx, &queries);
        assert!(wide >= 0.95, "recall {wide} after calibration {c:?}");

        // A cap below what is needed is respected and reported.
        idx.cfg.max_expansion_search = 8;
        let capped = idx.calibrate().unwrap();
        assert!(!capped.reached && capped.expansion_search == 8, "{capped:?}");
    }

    #[test]
    fn calibration_runs_when_the_index_doubles() {
        let dim = 16;
        let mut idx = VectorIndex::new(VectorIndexConfig { dimensions: dim, ..Default::default() }).unwrap();
        for i in 0..255u64 {
            idx.upsert(&format!("{i:016x}"), &unit(i, dim)).unwrap();
        }
        assert!(idx.calibration().is_none());
        idx.upsert(&format!("{:016x}", 255), &unit(255, dim)).unwrap();
        assert_eq!(idx.calibration().unwrap().vectors, 256);
        let batch: Vec<(String, Vec<f32>)> = (256..511u64).map(|i| (format!("{i:016x}"), unit(i, dim))).collect();
        idx.upsert_batch(&batch).unwrap();
        assert_eq!(idx.calibration().unwrap().vectors, 256, "511 < 2 × 256");
        idx.upsert(&format!("{:016x}", 511), &unit(511, dim)).unwrap();
        assert_eq!(idx.calibration().unwrap().vectors, 512);
        // Low-dimensional data needs no more than the starting width.
        assert_eq!(idx.expansion_search(), 64);
    }

    #[tokio::test]
    async fn persists_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let mut idx = VectorIndex::new(VectorIndexConfig { dimensions: 16, ..Default::default() }).unwrap();
        for i in 0..100u64 {
            idx.upsert(&format!("{i:016x}"), &unit(i, 16)).unwrap();
        }
        idx.save(&store).await.unwrap();
        let loaded =
            VectorIndex::load(&store, VectorIndexConfig { dimensions: 16, ..Default::default() }).await.unwrap();
        assert_eq!(loaded.len(), 100);
        assert!(loaded.calibration().is_none(), "100 vectors are below the calibration minimum");
        // A calibrated width survives the round trip.
        idx.cfg.expansion_search = 2;
        let c = idx.calibrate().unwrap();
        idx.save(&store).await.unwrap();
        let cfg = VectorIndexConfig { dimensions: 16, expansion_search: 2, ..Default::default() };
        let loaded = VectorIndex::load(&store, cfg.clone()).await.unwrap();
        assert_eq!((loaded.calibration(), loaded.expansion_search()), (Some(&c), c.expansion_search));
        let fixed = VectorIndex::load(&store, VectorIndexConfig { target_recall: 0.0, ..cfg }).await.unwrap();
        assert_eq!(fixed.expansion_search(), 2, "calibration off: the configured width");
        assert_eq!(loaded.search(&unit(42, 16), 1).unwrap()[0].capsule_id, format!("{:016x}", 42));
    }

    fn id(name: &str, dim: usize) -> EmbedderId {
        EmbedderId { name: name.into(), dim, model_sha256: None }
    }

    async fn saved_store(n: u64) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let mut idx = VectorIndex::new(VectorIndexConfig { dimensions: 16, ..Default::default() }).unwrap();
        idx.bind_embedder(&id("hashing-16", 16)).unwrap();
        for i in 0..n {
            idx.upsert(&format!("{i:016x}"), &unit(i, 16)).unwrap();
        }
        idx.save(&store).await.unwrap();
        (dir, store)
    }

    /// Regression (issue 17, defect 3): damaged index bytes segfaulted in the C++ loader.
    #[tokio::test]
    async fn a_damaged_index_is_reported_and_never_loaded() {
        let (_dir, store) = saved_store(300).await;
        let good = store.get_blob(INDEX_BLOB).await.unwrap().unwrap().to_vec();
        let loaded = VectorIndex::load(&store, VectorIndexConfig::default()).await.unwrap();
        assert_eq!((loaded.len(), loaded.embedder()), (300, Some(&id("hashing-16", 16))));
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut damaged_copies: Vec<Vec<u8>> = vec![good[..good.len() / 2].to_vec(), good[..8].to_vec(), Vec::new()];
        for _ in 0..20 {
            let mut bytes = good.clone();
            for _ in 0..4 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                let at = (rng % bytes.len() as u64) as usize;
                bytes[at] = bytes[at].wrapping_add(1 + (rng >> 56) as u8 % 255);
            }
            damaged_copies.push(bytes);
        }
        for bytes in damaged_copies {
            store.put_blob(INDEX_BLOB, bytes).await.unwrap();
            let err = VectorIndex::load(&store, VectorIndexConfig::default()).await.err().expect("damaged");
            assert!(matches!(err, StorageError::DamagedIndex(_)), "{err}");
            assert!(err.to_string().contains("--rebuild-index"), "{err}");
        }
        // Without a manifest (a save cut short) the index is not trusted either.
        store.put_blob(INDEX_BLOB, good).await.unwrap();
        store.put_blob(MANIFEST_BLOB, b"{not json".to_vec()).await.unwrap();
        let err = VectorIndex::load(&store, VectorIndexConfig::default()).await.err().unwrap();
        assert!(matches!(err, StorageError::DamagedIndex(_)), "{err}");
    }

    #[tokio::test]
    async fn the_index_remembers_its_embedder_and_refuses_another() {
        let (_dir, store) = saved_store(10).await;
        let mut idx = VectorIndex::load(&store, VectorIndexConfig::default()).await.unwrap();
        idx.bind_embedder(&id("hashing-16", 16)).unwrap();
        let err = idx.bind_embedder(&id("all-MiniLM-L6-v2", 384)).unwrap_err();
        assert!(matches!(err, StorageError::EmbedderMismatch(_)), "{err}");
        assert!(err.to_string().contains("hashing-16 (16-d)"), "{err}");
        // An empty index takes any embedder, and its dimension.
        let mut empty = VectorIndex::new(VectorIndexConfig::default()).unwrap();
        empty.bind_embedder(&id("hashing-8", 8)).unwrap();
        empty.upsert("0000000000000001", &unit(1, 8)).unwrap();
        assert_eq!(empty.len(), 1);
    }
}
