//! The store's vector-index loader (`VectorIndex::load`): a saved index, its key order, its
//! calibration and the manifest that must vouch for them.
//!
//! The target saves a small real index (32 vectors of 8 dimensions) once, then for each input
//! writes a damaged copy of it into a store and loads it. The first byte picks what is damaged:
//!
//! * `% 4 == 0`: the index blob, by the edits the rest of the input encodes (4 bytes each: op,
//!   offset lo, offset hi, value; ops xor/set a byte, truncate, insert a byte), the manifest left
//!   as saved. Contract: an index that is byte-for-byte the saved one loads (all 32 vectors, and
//!   a stored vector finds itself); any other is `DamagedIndex`, and never reaches usearch;
//! * `% 4 == 1`: the manifest. The rest of the input, when it is a JSON object, overrides fields
//!   of the saved manifest (`vectors`, `embedder`, a checksum, ...); otherwise it is the
//!   manifest's bytes. Contract: `Ok` (only when the checksums still vouch for the saved blobs)
//!   or an error (`DamagedIndex`, or `Index`/`EmbedderMismatch` for a manifest that names an
//!   impossible embedder), never a crash;
//! * `% 4 == 2`: the key-order blob, with a manifest whose checksum vouches for it (it is JSON,
//!   parsed by serde, never by usearch). Contract: `Ok` exactly when it is a JSON array of as many
//!   keys as vectors, else `DamagedIndex`;
//! * `% 4 == 3`: missing blobs (bits of the second byte drop the index, the keys, the
//!   manifest) and a calibration blob made of the rest of the input. Contract: no manifest and
//!   no index is an empty index; a manifest without its index or keys, or an index without a
//!   manifest, is `DamagedIndex`; a complete save loads whatever the calibration holds.
//!
//! Random bytes with a *matching* manifest are never handed to usearch: the checksums protect
//! against damage, not against a forger, so that would fuzz the C++ library, not our loader.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::Digest;
use slo_dataflow::embed::EmbedderId;
use slo_storage::vector::{VectorIndexConfig, CALIBRATION_BLOB, INDEX_BLOB, KEYS_BLOB, MANIFEST_BLOB};
use slo_storage::{StorageError, Store, VectorIndex};

const DIM: usize = 8;
const VECTORS: usize = 32;

struct Fixture {
    rt: tokio::runtime::Runtime,
    /// Holds the stores' directories for the life of the process.
    _dir: tempfile::TempDir,
    /// The store each input is written into.
    work: PathBuf,
    store: Store,
    index: Vec<u8>,
    keys: Vec<u8>,
    manifest: Value,
    probe: Vec<f32>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let saved = dir.path().join("saved");
    let work = dir.path().join("work");
    let cfg = VectorIndexConfig { dimensions: DIM, target_recall: 0.0, ..Default::default() };
    let mut idx = VectorIndex::new(cfg).expect("index");
    idx.bind_embedder(&EmbedderId { name: "fuzz".into(), dim: DIM, model_sha256: None }).expect("bind");
    let mut rng = slo_dataflow::synthetic::SplitMix64::new(17);
    let vectors: Vec<Vec<f32>> = (0..VECTORS).map(|_| rng.unit_vector(DIM)).collect();
    for (i, v) in vectors.iter().enumerate() {
        idx.upsert(&format!("{:016x}", i as u64 + 1), v).expect("upsert");
    }
    let saved_store = Store::open(saved.to_str().expect("utf-8 path")).expect("store");
    let blob =
        |name| rt.block_on(saved_store.get_blob(name)).expect("get_blob").map(|b| b.to_vec()).expect("saved blob");
    rt.block_on(idx.save(&saved_store)).expect("save");
    let (index, keys, manifest) = (blob(INDEX_BLOB), blob(KEYS_BLOB), blob(MANIFEST_BLOB));
    let manifest: Value = serde_json::from_slice(&manifest).expect("manifest JSON");
    assert_eq!(manifest["index_sha256"], sha256_hex(&index));
    let store = Store::open(work.to_str().expect("utf-8 path")).expect("store");
    Fixture { rt, _dir: dir, work, store, index, keys, manifest, probe: vectors[5].clone() }
}

impl Fixture {
    /// Writes the blobs (`None`: absent) and loads the index.
    fn load(
        &self,
        index: Option<&[u8]>,
        keys: Option<&[u8]>,
        manifest: Option<&[u8]>,
        calibration: Option<&[u8]>,
    ) -> Result<VectorIndex, StorageError> {
        for (name, bytes) in
            [(INDEX_BLOB, index), (KEYS_BLOB, keys), (MANIFEST_BLOB, manifest), (CALIBRATION_BLOB, calibration)]
        {
            match bytes {
                Some(b) => self.rt.block_on(self.store.put_blob(name, b.to_vec())).expect("put_blob"),
                None => match std::fs::remove_file(self.work.join("_index").join(name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => panic!("cannot remove {name}: {e}"),
                },
            }
        }
        self.rt.block_on(VectorIndex::load(&self.store, VectorIndexConfig::default()))
    }

    fn manifest_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.manifest).expect("manifest")
    }

    /// A loaded index must be the saved one: every vector, and a stored vector finds itself.
    fn assert_intact(&self, idx: &VectorIndex) {
        assert_eq!(idx.len(), VECTORS, "a loaded index with {} vectors", idx.len());
        let hits = idx.search(&self.probe, 1).expect("search of a loaded index");
        assert_eq!(hits[0].capsule_id, format!("{:016x}", 6), "a loaded index does not find a stored vector");
    }
}

fn damaged(result: &Result<VectorIndex, StorageError>) -> bool {
    matches!(result, Err(StorageError::DamagedIndex(_)))
}

/// Applies the edits `ops` encodes (4 bytes each) to `index`.
fn mutate(index: &mut Vec<u8>, ops: &[u8]) {
    for op in ops.chunks_exact(4) {
        let offset = u16::from_le_bytes([op[1], op[2]]) as usize;
        match op[0] % 4 {
            0 if !index.is_empty() => {
                let at = offset % index.len();
                index[at] ^= op[3];
            }
            1 if !index.is_empty() => {
                let at = offset % index.len();
                index[at] = op[3];
            }
            2 => index.truncate(offset),
            3 => {
                let at = offset.min(index.len());
                index.insert(at, op[3]);
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! { static FIXTURE: Fixture = fixture(); }
    let Some((&mode, rest)) = data.split_first() else { return };
    FIXTURE.with(|f| match mode % 4 {
        0 => {
            let mut index = f.index.clone();
            mutate(&mut index, rest);
            let manifest = f.manifest_bytes();
            let result = f.load(Some(&index), Some(&f.keys), Some(&manifest), None);
            if index == f.index {
                f.assert_intact(&result.expect("the saved index did not load"));
            } else {
                assert!(damaged(&result), "a changed index was not DamagedIndex: {:?}", result.as_ref().err());
            }
        }
        1 => {
            let manifest = match serde_json::from_slice::<Value>(rest) {
                Ok(Value::Object(overrides)) => {
                    let mut m = f.manifest.clone();
                    m.as_object_mut().expect("object").extend(overrides);
                    serde_json::to_vec(&m).expect("manifest")
                }
                _ => rest.to_vec(),
            };
            let result = f.load(Some(&f.index), Some(&f.keys), Some(&manifest), None);
            match &result {
                Ok(idx) => {
                    let m: Value = serde_json::from_slice(&manifest).expect("a manifest that loaded is JSON");
                    assert_eq!(m["index_sha256"], f.manifest["index_sha256"], "loaded under another checksum");
                    f.assert_intact(idx);
                }
                Err(StorageError::DamagedIndex(_) | StorageError::Index(_) | StorageError::EmbedderMismatch(_)) => {}
                Err(e) => panic!("unexpected error for a damaged manifest: {e:?}"),
            }
        }
        2 => {
            let mut manifest = f.manifest.clone();
            manifest["keys_sha256"] = Value::from(sha256_hex(rest));
            let manifest = serde_json::to_vec(&manifest).expect("manifest");
            let result = f.load(Some(&f.index), Some(rest), Some(&manifest), None);
            let well_formed = serde_json::from_slice::<Vec<u64>>(rest).is_ok_and(|k| k.len() == VECTORS);
            if well_formed {
                f.assert_intact(&result.expect("a well-formed key order did not load"));
            } else {
                assert!(damaged(&result), "a bad key order was not DamagedIndex: {:?}", result.as_ref().err());
            }
        }
        _ => {
            let drop = rest.first().copied().unwrap_or(0);
            let calibration = rest.get(1..).filter(|c| !c.is_empty());
            let (no_index, no_keys, no_manifest) = (drop & 1 != 0, drop & 2 != 0, drop & 4 != 0);
            let manifest = f.manifest_bytes();
            let result = f.load(
                (!no_index).then_some(&f.index[..]),
                (!no_keys).then_some(&f.keys[..]),
                (!no_manifest).then_some(&manifest[..]),
                calibration,
            );
            match (no_manifest, no_index, no_keys) {
                (true, true, _) => assert!(result.expect("no index saved must load empty").is_empty()),
                (false, false, false) => f.assert_intact(&result.expect("a complete save did not load")),
                _ => assert!(damaged(&result), "an incomplete save was not DamagedIndex: {:?}", result.as_ref().err()),
            }
        }
    });
});
