//! Bounded embedding cache keyed by template fingerprint (or any hashable key).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use super::{EmbedError, Embedder};

/// Counters of an [`EmbeddingCache`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that needed an embedding (duplicates within one call count once).
    pub misses: u64,
    /// Texts sent to the embedder.
    pub embedded: u64,
    /// `embed_batch` calls made.
    pub batches: u64,
    /// Entries evicted to respect the capacity.
    pub evictions: u64,
}

struct Entry {
    vector: Arc<[f32]>,
    tick: u64,
}

/// Embeds each key once and keeps the vectors, bounded to `capacity` entries with
/// least-recently-used eviction.
///
/// [`EmbeddingCache::get_or_embed_batch`] looks every key up, de-duplicates the misses, sorts them
/// by text length (less padding per batch), embeds them in chunks of at most `batch_size`, stores
/// them and returns one vector per input item, in input order. The returned `Arc<[f32]>` are
/// shared with the cache (cheap to clone and to send downstream).
///
/// A cache is bound to the embedder that first filled it (name and dimension); using it with
/// another embedder is an [`EmbedError::EmbedderMismatch`] — vectors of different models must never
/// be mixed. A capacity of 0 stores nothing (every call embeds its misses).
pub struct EmbeddingCache<K> {
    capacity: usize,
    batch_size: usize,
    entries: HashMap<K, Entry>,
    /// tick → key, oldest first.
    order: BTreeMap<u64, K>,
    next_tick: u64,
    stats: CacheStats,
    owner: Option<(String, usize)>,
}

impl<K: Hash + Eq + Clone> EmbeddingCache<K> {
    /// A cache holding at most `capacity` vectors, embedding misses in chunks of `batch_size`
    /// (values below 1 are treated as 1).
    pub fn new(capacity: usize, batch_size: usize) -> Self {
        Self {
            capacity,
            batch_size: batch_size.max(1),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_tick: 0,
            stats: CacheStats::default(),
            owner: None,
        }
    }

    /// Maximum number of stored vectors.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Texts per `embed_batch` call.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Number of stored vectors.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counters since creation.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Number of evicted entries since creation.
    pub fn evictions(&self) -> u64 {
        self.stats.evictions
    }

    /// Whether `key` is stored (does not count as a use).
    pub fn contains(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// The stored vector of `key`, marking it as recently used.
    pub fn get(&mut self, key: &K) -> Option<Arc<[f32]>> {
        let tick = self.bump();
        let entry = self.entries.get_mut(key)?;
        let old = std::mem::replace(&mut entry.tick, tick);
        let v = entry.vector.clone();
        if let Some(k) = self.order.remove(&old) {
            self.order.insert(tick, k);
        }
        Some(v)
    }

    /// Stores a vector computed elsewhere (e.g. restored from storage), evicting if needed.
    pub fn insert(&mut self, key: K, vector: Arc<[f32]>) {
        if self.capacity == 0 {
            return;
        }
        let tick = self.bump();
        if let Some(old) = self.entries.insert(key.clone(), Entry { vector, tick }) {
            self.order.remove(&old.tick);
        }
        self.order.insert(tick, key);
        while self.entries.len() > self.capacity {
            let Some((_, k)) = self.order.pop_first() else { break };
            self.entries.remove(&k);
            self.stats.evictions += 1;
        }
    }

    /// Removes every entry (counters are kept; the embedder binding is reset).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.owner = None;
    }

    /// Returns one vector per item (in order), embedding only the keys not already cached — each
    /// distinct key at most once — in chunks of at most `batch_size` texts.
    ///
    /// On error nothing from the failing call is stored, and the cache stays usable.
    pub fn get_or_embed_batch<E: Embedder + ?Sized>(
        &mut self,
        embedder: &mut E,
        items: &[(K, &str)],
    ) -> Result<Vec<Arc<[f32]>>, EmbedError> {
        self.check_owner(embedder)?;
        let mut out: Vec<Option<Arc<[f32]>>> = Vec::with_capacity(items.len());
        // distinct missing keys → index into `miss_texts`
        let mut miss_index: HashMap<&K, usize> = HashMap::new();
        let mut miss_texts: Vec<&str> = Vec::new();
        let mut miss_keys: Vec<&K> = Vec::new();
        let mut pending: Vec<(usize, usize)> = Vec::new(); // (output slot, miss index)
        for (slot, (key, text)) in items.iter().enumerate() {
            if let Some(v) = self.get(key) {
                self.stats.hits += 1;
                out.push(Some(v));
                continue;
            }
            let next = miss_texts.len();
            let idx = *miss_index.entry(key).or_insert_with(|| {
                miss_texts.push(text);
                miss_keys.push(key);
                next
            });
            if idx == next {
                self.stats.misses += 1;
            } else {
                self.stats.hits += 1; // duplicate within the call: embedded once
            }
            pending.push((slot, idx));
            out.push(None);
        }

        if !miss_texts.is_empty() {
            // Longest first, so each chunk holds texts of similar length (padding is per batch).
            let mut by_len: Vec<usize> = (0..miss_texts.len()).collect();
            by_len.sort_by_key(|&i| std::cmp::Reverse(miss_texts[i].len()));
            let dim = embedder.dim();
            let mut vectors: Vec<Option<Arc<[f32]>>> = vec![None; miss_texts.len()];
            for chunk in by_len.chunks(self.batch_size) {
                let texts: Vec<&str> = chunk.iter().map(|&i| miss_texts[i]).collect();
                let embedded = embedder.embed_batch(&texts)?;
                self.stats.batches += 1;
                self.stats.embedded += texts.len() as u64;
                if embedded.len() != texts.len() {
                    return Err(EmbedError::Contract {
                        embedder: embedder.name().to_string(),
                        message: format!("{} vectors for {} texts", embedded.len(), texts.len()),
                    });
                }
                for (&i, v) in chunk.iter().zip(embedded) {
                    if v.len() != dim {
                        return Err(EmbedError::Contract {
                            embedder: embedder.name().to_string(),
                            message: format!("vector of length {} but dim() is {dim}", v.len()),
                        });
                    }
                    vectors[i] = Some(Arc::from(v));
                }
            }
            for (slot, idx) in pending {
                out[slot] = vectors[idx].clone();
            }
            for (key, v) in miss_keys.into_iter().zip(vectors) {
                if let Some(v) = v {
                    self.insert(key.clone(), v);
                }
            }
        }
        Ok(out.into_iter().map(|v| v.unwrap_or_else(|| Arc::from(Vec::new()))).collect())
    }

    fn bump(&mut self) -> u64 {
        self.next_tick += 1;
        self.next_tick
    }

    fn check_owner<E: Embedder + ?Sized>(&mut self, embedder: &E) -> Result<(), EmbedError> {
        match &self.owner {
            None => {
                self.owner = Some((embedder.name().to_string(), embedder.dim()));
                Ok(())
            }
            Some((name, dim)) if name == embedder.name() && *dim == embedder.dim() => Ok(()),
            Some((name, dim)) => Err(EmbedError::EmbedderMismatch {
                cached: name.clone(),
                cached_dim: *dim,
                given: embedder.name().to_string(),
                given_dim: embedder.dim(),
            }),
        }
    }
}

impl<K> std::fmt::Debug for EmbeddingCache<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache")
            .field("capacity", &self.capacity)
            .field("batch_size", &self.batch_size)
            .field("len", &self.entries.len())
            .field("stats", &self.stats)
            .field("embedder", &self.owner)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashingEmbedder;

    /// Counts calls and texts; embeds with the hashing embedder.
    struct Counting {
        inner: HashingEmbedder,
        calls: usize,
        batch_sizes: Vec<usize>,
        texts: Vec<String>,
    }

    impl Counting {
        fn new() -> Self {
            Self { inner: HashingEmbedder::new(16), calls: 0, batch_sizes: vec![], texts: vec![] }
        }
    }

    impl Embedder for Counting {
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn name(&self) -> &str {
            "counting"
        }
        fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.calls += 1;
            self.batch_sizes.push(texts.len());
            self.texts.extend(texts.iter().map(|t| t.to_string()));
            self.inner.embed_batch(texts)
        }
    }

    #[test]
    fn embed_cache_embeds_each_key_once() {
        let mut emb = Counting::new();
        let mut cache = EmbeddingCache::<u64>::new(100, 10);
        let items = [(1, "alpha"), (2, "beta"), (1, "alpha"), (3, "gamma")];
        let v1 = cache.get_or_embed_batch(&mut emb, &items).unwrap();
        assert_eq!(v1.len(), 4);
        assert_eq!(emb.texts.len(), 3, "duplicate key in one call embedded once");
        assert_eq!(v1[0], v1[2]);
        assert_eq!(&*v1[1], emb.inner.embed_one("beta").as_slice());
        let v2 = cache.get_or_embed_batch(&mut emb, &[(3, "gamma"), (2, "beta"), (4, "delta")]).unwrap();
        assert_eq!(emb.texts.len(), 4, "only the new key is embedded");
        assert_eq!(emb.texts.last().map(String::as_str), Some("delta"));
        assert_eq!(v2[0], v1[3]);
        assert_eq!(v2[1], v1[1]);
        let s = cache.stats();
        assert_eq!((s.misses, s.embedded, s.batches), (4, 4, 2));
        assert_eq!(s.hits, 3);
        assert_eq!(cache.len(), 4);
        // all hits: no call at all
        let calls = emb.calls;
        cache.get_or_embed_batch(&mut emb, &[(1, "alpha"), (4, "delta")]).unwrap();
        assert_eq!(emb.calls, calls);
        // empty input
        assert!(cache.get_or_embed_batch(&mut emb, &[]).unwrap().is_empty());
        assert_eq!(emb.calls, calls);
    }

    #[test]
    fn embed_cache_string_and_fingerprint_keys() {
        let mut emb = HashingEmbedder::new(8);
        let mut by_str = EmbeddingCache::<String>::new(10, 4);
        let v = by_str.get_or_embed_batch(&mut emb, &[("a".to_string(), "x y")]).unwrap();
        assert_eq!(v[0].len(), 8);
        let mut by_fp = EmbeddingCache::<[u8; 32]>::new(10, 4);
        let v = by_fp.get_or_embed_batch(&mut emb, &[([7u8; 32], "x y")]).unwrap();
        assert_eq!(v[0].len(), 8);
    }

    #[test]
    fn embed_cache_eviction_bound_and_counter() {
        let mut emb = Counting::new();
        let mut cache = EmbeddingCache::<u32>::new(3, 100);
        let texts: Vec<String> = (0..10).map(|i| format!("template number {i}")).collect();
        for (i, t) in texts.iter().enumerate().take(3) {
            cache.get_or_embed_batch(&mut emb, &[(i as u32, t.as_str())]).unwrap();
        }
        assert_eq!((cache.len(), cache.evictions()), (3, 0));
        // touch 0 so that 1 is the least recently used
        assert!(cache.get(&0).is_some());
        cache.get_or_embed_batch(&mut emb, &[(3, texts[3].as_str())]).unwrap();
        assert_eq!((cache.len(), cache.evictions()), (3, 1));
        assert!(cache.contains(&0) && !cache.contains(&1) && cache.contains(&2) && cache.contains(&3));
        // a call with more misses than the capacity still returns every vector
        let items: Vec<(u32, &str)> = (4..10).map(|i| (i, texts[i as usize].as_str())).collect();
        let out = cache.get_or_embed_batch(&mut emb, &items).unwrap();
        assert_eq!(out.len(), 6);
        assert!(out.iter().all(|v| v.len() == 16));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.evictions(), 1 + 6);
        // evicted key is embedded again
        let before = emb.texts.len();
        cache.get_or_embed_batch(&mut emb, &[(1, texts[1].as_str())]).unwrap();
        assert_eq!(emb.texts.len(), before + 1);
        // capacity 0 stores nothing
        let mut none = EmbeddingCache::<u32>::new(0, 10);
        none.get_or_embed_batch(&mut emb, &[(1, "a"), (1, "a")]).unwrap();
        assert!(none.is_empty());
        assert_eq!(none.stats().embedded, 1);
    }

    #[test]
    fn embed_cache_batching_splits_correctly() {
        let mut emb = Counting::new();
        let mut cache = EmbeddingCache::<usize>::new(1000, 4);
        let texts: Vec<String> = (0..10).map(|i| "x".repeat(i + 1)).collect();
        let items: Vec<(usize, &str)> = texts.iter().enumerate().map(|(i, t)| (i, t.as_str())).collect();
        let out = cache.get_or_embed_batch(&mut emb, &items).unwrap();
        assert_eq!(emb.batch_sizes, vec![4, 4, 2]);
        // results are in input order regardless of the length sort
        let plain = HashingEmbedder::new(16);
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(&*out[i], plain.embed_one(t).as_slice());
        }
        // longest first within the batches
        assert_eq!(emb.texts[0].len(), 10);
        assert_eq!(cache.stats().batches, 3);

        let mut emb = Counting::new();
        let mut cache = EmbeddingCache::<usize>::new(1000, 5);
        let items: Vec<(usize, &str)> = (0..10).map(|i| (i, texts[i].as_str())).collect();
        cache.get_or_embed_batch(&mut emb, &items).unwrap();
        assert_eq!(emb.batch_sizes, vec![5, 5]);
        // batch size 0 is treated as 1
        let mut emb = Counting::new();
        let mut cache = EmbeddingCache::<usize>::new(10, 0);
        cache.get_or_embed_batch(&mut emb, &items[..3]).unwrap();
        assert_eq!(emb.batch_sizes, vec![1, 1, 1]);
    }

    struct Broken;
    impl Embedder for Broken {
        fn dim(&self) -> usize {
            4
        }
        fn name(&self) -> &str {
            "broken"
        }
        fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            if texts.iter().any(|t| t.contains("fail")) {
                return Err(EmbedError::Other("boom".into()));
            }
            Ok(texts.iter().skip(1).map(|_| vec![0.5; 4]).collect())
        }
    }

    #[test]
    fn embed_cache_errors_are_reported_and_mismatch_detected() {
        let mut cache = EmbeddingCache::<u8>::new(10, 10);
        let err = cache.get_or_embed_batch(&mut Broken, &[(1, "a"), (2, "b")]).unwrap_err();
        assert!(matches!(err, EmbedError::Contract { .. }), "{err}");
        assert!(matches!(cache.get_or_embed_batch(&mut Broken, &[(1, "fail")]), Err(EmbedError::Other(_))));
        assert!(cache.is_empty());
        let mut other = HashingEmbedder::new(4);
        let err = cache.get_or_embed_batch(&mut other, &[(1, "a")]).unwrap_err();
        assert!(matches!(err, EmbedError::EmbedderMismatch { .. }), "{err}");
        cache.clear();
        assert!(cache.get_or_embed_batch(&mut other, &[(1, "a")]).is_ok());
        // works through a trait object too
        let mut boxed: Box<dyn Embedder> = Box::new(HashingEmbedder::new(4));
        let mut c2 = EmbeddingCache::<u8>::new(10, 10);
        assert_eq!(c2.get_or_embed_batch(boxed.as_mut(), &[(1, "a")]).unwrap().len(), 1);
        assert_eq!(c2.get_or_embed_batch(&mut boxed, &[(1, "a")]).unwrap().len(), 1);
    }
}
