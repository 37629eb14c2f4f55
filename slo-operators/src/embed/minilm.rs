//! all-MiniLM-L6-v2 through ONNX Runtime (loaded dynamically at run time).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::Tensor;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::{l2_normalize, EmbedConfig, EmbedError, Embedder};

/// Output dimension of all-MiniLM-L6-v2.
pub const MINILM_DIM: usize = 384;
/// [`Embedder::name`] of the MiniLM embedder.
pub const MINILM_NAME: &str = "all-MiniLM-L6-v2";

/// File name of the ONNX graph inside the model directory.
const MODEL_FILE: &str = "model.onnx";
/// File name of the tokenizer inside the model directory.
const TOKENIZER_FILE: &str = "tokenizer.json";

/// Options of [`MiniLmEmbedder::load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MiniLmOptions {
    /// ONNX Runtime intra-op threads (default 1; 0 is treated as 1).
    pub threads: usize,
    /// Truncation length in tokens, special tokens included (default 256, as sentence-transformers).
    pub max_seq_len: usize,
}

impl Default for MiniLmOptions {
    fn default() -> Self {
        Self { threads: super::DEFAULT_THREADS, max_seq_len: super::DEFAULT_MAX_SEQ_LEN }
    }
}

impl From<&EmbedConfig> for MiniLmOptions {
    fn from(cfg: &EmbedConfig) -> Self {
        Self { threads: cfg.threads, max_seq_len: cfg.max_seq_len }
    }
}

/// The process-wide ONNX Runtime environment (ONNX Runtime allows one per process) and the library
/// it was loaded from. A failed load leaves it empty, so a later call may retry with another path.
static ORT_ENV: Mutex<Option<(Environment, PathBuf)>> = Mutex::new(None);

fn environment(dylib: &Path) -> Result<Environment, EmbedError> {
    let mut guard = ORT_ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((env, loaded)) = guard.as_ref() {
        if loaded != dylib {
            tracing::warn!(
                requested = %dylib.display(),
                loaded = %loaded.display(),
                "ONNX Runtime is already loaded in this process; reusing it"
            );
        }
        return Ok(env.clone());
    }
    let load_err = |message: String| EmbedError::RuntimeLoad { path: dylib.to_path_buf(), message };
    let builder = ort::init_from(dylib).map_err(|e| load_err(e.to_string()))?;
    let env = builder.with_name("slo-scout").with_telemetry(false).build().map_err(|e| load_err(e.to_string()))?;
    *guard = Some((env.clone(), dylib.to_path_buf()));
    Ok(env)
}

fn ort_err<E: std::fmt::Display>(e: E) -> EmbedError {
    EmbedError::Ort(e.to_string())
}

/// Sentence embedder running sentence-transformers/all-MiniLM-L6-v2 with ONNX Runtime.
///
/// Reproduces sentence-transformers: WordPiece tokenisation truncated to 256 tokens, padding to the
/// longest text of each batch, mean pooling of `last_hidden_state` over the attention mask, L2
/// normalisation. Vectors are 384-d with cosine ≥ 0.999 against the reference implementation.
///
/// Create it once (a session takes ~0.4 s to load) and reuse it; it is `Send` but not shared —
/// give each worker its own instance or route texts to one worker.
pub struct MiniLmEmbedder {
    session: Session,
    tokenizer: Tokenizer,
    has_token_type_ids: bool,
    output_name: String,
    dim: usize,
    /// SHA-256 of `model.onnx`: part of the embedder's identity in a store.
    model_sha256: String,
}

impl std::fmt::Debug for MiniLmEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiniLmEmbedder")
            .field("dim", &self.dim)
            .field("output", &self.output_name)
            .field("token_type_ids", &self.has_token_type_ids)
            .finish_non_exhaustive()
    }
}

impl MiniLmEmbedder {
    /// Loads `model.onnx` and `tokenizer.json` from `model_dir`, using the ONNX Runtime library at
    /// `ort_dylib` (e.g. `libonnxruntime.so.1.31.1`; the first library loaded stays loaded for the
    /// life of the process).
    ///
    /// Missing files are reported as [`EmbedError::MissingFile`]; nothing panics.
    pub fn load(model_dir: &Path, ort_dylib: &Path, opts: &MiniLmOptions) -> Result<Self, EmbedError> {
        let model_path = model_dir.join(MODEL_FILE);
        let tokenizer_path = model_dir.join(TOKENIZER_FILE);
        if !model_path.is_file() {
            return Err(EmbedError::MissingFile { what: "ONNX model", path: model_path });
        }
        if !tokenizer_path.is_file() {
            return Err(EmbedError::MissingFile { what: "tokenizer", path: tokenizer_path });
        }
        if !ort_dylib.is_file() {
            return Err(EmbedError::MissingFile { what: "ONNX Runtime library", path: ort_dylib.to_path_buf() });
        }
        if opts.max_seq_len < 3 {
            return Err(EmbedError::Config(format!("max_seq_len {} is too small", opts.max_seq_len)));
        }

        let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
            .map_err(|e| EmbedError::Tokenizer(format!("{}: {e}", tokenizer_path.display())))?;
        // tokenizer.json pads/truncates to a fixed 128; sentence-transformers truncates at 256 and
        // pads to the longest sequence of the batch.
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: opts.max_seq_len, ..Default::default() }))
            .map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let mut padding = tokenizer.get_padding().cloned().unwrap_or_default();
        padding.strategy = PaddingStrategy::BatchLongest;
        padding.pad_to_multiple_of = None;
        tokenizer.with_padding(Some(PaddingParams { ..padding }));

        let model_sha256 = file_sha256(&model_path)?;
        let env = environment(ort_dylib)?;
        let threads = opts.threads.max(1);
        let session = Session::builder(&env)
            .map_err(ort_err)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(ort_err)?
            .with_intra_threads(threads)
            .map_err(ort_err)?
            .with_inter_threads(1)
            .map_err(ort_err)?
            // Spinning worker threads halve throughput on shared cores.
            .with_intra_op_spinning(false)
            .map_err(ort_err)?
            .with_inter_op_spinning(false)
            .map_err(ort_err)?
            .commit_from_file(&model_path)
            .map_err(|e| EmbedError::Ort(format!("{}: {e}", model_path.display())))?;

        let input_names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
        for required in ["input_ids", "attention_mask"] {
            if !input_names.contains(&required) {
                return Err(EmbedError::Model(format!("graph has no `{required}` input (inputs: {input_names:?})")));
            }
        }
        if let Some(extra) =
            input_names.iter().find(|n| !matches!(**n, "input_ids" | "attention_mask" | "token_type_ids"))
        {
            return Err(EmbedError::Model(format!("unsupported graph input `{extra}`")));
        }
        let has_token_type_ids = input_names.contains(&"token_type_ids");
        let output_names: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        let output_name = if output_names.contains(&"last_hidden_state") {
            "last_hidden_state".to_string()
        } else {
            output_names
                .first()
                .map(|s| s.to_string())
                .ok_or_else(|| EmbedError::Model("graph has no outputs".into()))?
        };

        let mut me = Self { session, tokenizer, has_token_type_ids, output_name, dim: MINILM_DIM, model_sha256 };
        // Probe the real output dimension once (also warms the session up).
        let probe = me.embed_batch(&["dimension probe"])?;
        me.dim = probe.first().map(Vec::len).unwrap_or(0);
        if me.dim == 0 {
            return Err(EmbedError::Model("model produced empty embeddings".into()));
        }
        if me.dim != MINILM_DIM {
            tracing::warn!(dim = me.dim, "ONNX model output dimension differs from MiniLM's 384");
        }
        Ok(me)
    }

    /// Loads from [`EmbedConfig`]'s `model_dir` / `ort_dylib`.
    pub fn from_config(cfg: &EmbedConfig) -> Result<Self, EmbedError> {
        let model_dir = cfg.model_dir.as_deref().ok_or(EmbedError::NotConfigured { what: super::ENV_MODEL_DIR })?;
        let dylib = cfg.ort_dylib.as_deref().ok_or(EmbedError::NotConfigured { what: super::ENV_ORT_DYLIB })?;
        Self::load(model_dir, dylib, &MiniLmOptions::from(cfg))
    }

    fn run(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings =
            self.tokenizer.encode_batch_fast(texts.to_vec(), true).map_err(|e| EmbedError::Tokenizer(e.to_string()))?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        if batch != texts.len() || seq == 0 {
            return Err(EmbedError::Tokenizer(format!("{batch} encodings of length {seq} for {} texts", texts.len())));
        }
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        for e in &encodings {
            if e.get_ids().len() != seq {
                return Err(EmbedError::Tokenizer("batch is not padded to a common length".into()));
            }
            ids.extend(e.get_ids().iter().map(|&x| i64::from(x)));
            mask.extend(e.get_attention_mask().iter().map(|&x| i64::from(x)));
        }
        let shape = [batch, seq];
        let mut inputs: Vec<(std::borrow::Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(3);
        inputs.push(("input_ids".into(), Tensor::from_array((shape, ids)).map_err(ort_err)?.into()));
        inputs.push(("attention_mask".into(), Tensor::from_array((shape, mask.clone())).map_err(ort_err)?.into()));
        if self.has_token_type_ids {
            let types = vec![0i64; batch * seq];
            inputs.push(("token_type_ids".into(), Tensor::from_array((shape, types)).map_err(ort_err)?.into()));
        }
        let outputs = self.session.run(inputs).map_err(ort_err)?;
        let value = outputs
            .get(&self.output_name)
            .ok_or_else(|| EmbedError::Model(format!("missing output `{}`", self.output_name)))?;
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(ort_err)?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| d.max(0) as usize).collect();
        match dims.as_slice() {
            // token embeddings: mean-pool over the attention mask
            [b, s, h] if *b == batch && *s == seq && *h > 0 && data.len() == b * s * h => {
                let h = *h;
                let mut result = Vec::with_capacity(batch);
                for bi in 0..batch {
                    let mut acc = vec![0.0f32; h];
                    let mut count = 0.0f32;
                    for si in 0..seq {
                        if mask[bi * seq + si] == 0 {
                            continue;
                        }
                        count += 1.0;
                        let row = &data[(bi * seq + si) * h..(bi * seq + si + 1) * h];
                        acc.iter_mut().zip(row).for_each(|(a, x)| *a += x);
                    }
                    let count = count.max(1e-9);
                    acc.iter_mut().for_each(|a| *a /= count);
                    l2_normalize(&mut acc);
                    result.push(acc);
                }
                Ok(result)
            }
            // already pooled sentence embeddings
            [b, h] if *b == batch && *h > 0 && data.len() == b * h => Ok(data
                .chunks(*h)
                .map(|row| {
                    let mut v = row.to_vec();
                    l2_normalize(&mut v);
                    v
                })
                .collect()),
            other => Err(EmbedError::Model(format!("unexpected output shape {other:?} for batch {batch}x{seq}"))),
        }
    }
}

/// SHA-256 (hex) of a file, read in chunks.
fn file_sha256(path: &Path) -> Result<String, EmbedError> {
    use sha2::Digest;
    use std::io::Read;
    let io = |e: std::io::Error| EmbedError::Model(format!("reading {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

impl Embedder for MiniLmEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }
    fn name(&self) -> &str {
        MINILM_NAME
    }
    fn model_sha256(&self) -> Option<String> {
        Some(self.model_sha256.clone())
    }
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.run(texts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{cosine, ENV_MODEL_DIR, ENV_ORT_DYLIB};

    /// The model paths from the environment, or `None` (test skipped) unless
    /// `SLO_SCOUT_REQUIRE_MODEL=1`, in which case a missing model fails the test.
    fn model_paths() -> Option<(PathBuf, PathBuf)> {
        let get = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        match (get(ENV_MODEL_DIR), get(ENV_ORT_DYLIB)) {
            (Some(m), Some(o)) => Some((m, o)),
            _ => {
                let msg = format!(
                    "MiniLM model not configured ({ENV_MODEL_DIR} / {ENV_ORT_DYLIB} unset): run \
                     `eval \"$(scripts/setup-model.sh)\"` from the repository root, then re-run the tests"
                );
                if std::env::var("SLO_SCOUT_REQUIRE_MODEL").as_deref() == Ok("1") {
                    panic!("SLO_SCOUT_REQUIRE_MODEL=1 but {msg}");
                }
                eprintln!("SKIPPED: {msg}");
                None
            }
        }
    }

    fn load(threads: usize) -> Option<MiniLmEmbedder> {
        let (model, ort) = model_paths()?;
        Some(MiniLmEmbedder::load(&model, &ort, &MiniLmOptions { threads, ..Default::default() }).expect("load MiniLM"))
    }

    fn reference_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/embedding/reference.json")
    }

    #[test]
    fn embed_minilm_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = MiniLmEmbedder::load(dir.path(), &dir.path().join("libonnxruntime.so"), &MiniLmOptions::default())
            .unwrap_err();
        assert!(matches!(err, EmbedError::MissingFile { what: "ONNX model", .. }), "{err}");
        std::fs::write(dir.path().join(MODEL_FILE), b"not a model").unwrap();
        let err = MiniLmEmbedder::load(dir.path(), &dir.path().join("libonnxruntime.so"), &MiniLmOptions::default())
            .unwrap_err();
        assert!(matches!(err, EmbedError::MissingFile { what: "tokenizer", .. }), "{err}");
        std::fs::write(dir.path().join(TOKENIZER_FILE), b"{}").unwrap();
        let err = MiniLmEmbedder::load(dir.path(), &dir.path().join("libonnxruntime.so"), &MiniLmOptions::default())
            .unwrap_err();
        assert!(matches!(err, EmbedError::MissingFile { what: "ONNX Runtime library", .. }), "{err}");
        assert!(err.to_string().contains("setup-model.sh"));
    }

    #[test]
    fn embed_minilm_matches_reference() {
        let Some(mut e) = load(1) else { return };
        assert_eq!(e.dim(), MINILM_DIM);
        assert_eq!(e.name(), MINILM_NAME);
        let path = reference_path();
        let Ok(raw) = std::fs::read_to_string(&path) else {
            eprintln!("{} absent: checking model invariants instead of reference vectors", path.display());
            check_invariants(&mut e);
            return;
        };
        #[derive(serde::Deserialize)]
        struct Reference {
            sentences: Vec<String>,
            embeddings: Vec<Vec<f32>>,
        }
        let reference: Reference = serde_json::from_str(&raw).expect("parse reference.json");
        assert_eq!(reference.sentences.len(), reference.embeddings.len());
        assert!(!reference.sentences.is_empty());
        let texts: Vec<&str> = reference.sentences.iter().map(String::as_str).collect();
        // whole set in one padded batch, and one sentence at a time (no padding)
        let batched = e.embed_batch(&texts).unwrap();
        let single: Vec<Vec<f32>> = texts.iter().map(|t| e.embed_batch(&[t]).unwrap().remove(0)).collect();
        let mut min_cos = f32::MAX;
        for (i, want) in reference.embeddings.iter().enumerate() {
            for (how, got) in [("batched", &batched[i]), ("single", &single[i])] {
                assert_eq!(got.len(), want.len());
                let c = cosine(got, want);
                min_cos = min_cos.min(c);
                assert!(c >= 0.999, "{how} sentence {i} {:?}: cosine {c}", truncate(texts[i]));
            }
        }
        eprintln!("MiniLM vs reference.json: {} sentences, min cosine {min_cos:.6}", texts.len());
        check_invariants(&mut e);
    }

    fn truncate(s: &str) -> String {
        s.chars().take(60).collect()
    }

    fn check_invariants(e: &mut MiniLmEmbedder) {
        let texts = [
            "Connection refused to host <*> after <*> retries",
            "Could not connect to server <*>: connection refused",
            "The quick brown fox jumps over the lazy dog.",
            "",
        ];
        let v = e.embed_batch(&texts).unwrap();
        for x in &v {
            assert_eq!(x.len(), 384);
            let n = x.iter().map(|a| a * a).sum::<f32>().sqrt();
            assert!((n - 1.0).abs() < 1e-4, "norm {n}");
        }
        assert!(
            cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2,
            "{} vs {}",
            cosine(&v[0], &v[1]),
            cosine(&v[0], &v[2])
        );
        // deterministic
        assert_eq!(e.embed_batch(&texts[..1]).unwrap()[0], e.embed_batch(&texts[..1]).unwrap()[0]);
        assert!(e.embed_batch(&[]).unwrap().is_empty());
    }

    #[test]
    fn embed_minilm_two_threads_and_config_build() {
        let Some((model, ort)) = model_paths() else { return };
        let cfg = EmbedConfig { model_dir: Some(model), ort_dylib: Some(ort), threads: 2, ..EmbedConfig::default() };
        let mut boxed = cfg.build().expect("build MiniLM from config");
        assert_eq!(boxed.name(), MINILM_NAME);
        let mut one = load(1).expect("paths are set");
        let texts = ["payment declined card=<CREDIT_CARD>", "GET /api/v1/orders/<*> HTTP/1.1 200"];
        let a = boxed.embed_batch(&texts).unwrap();
        let b = one.embed_batch(&texts).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!(cosine(x, y) > 0.9999);
        }
        // through the cache
        let mut cache = cfg.build_cache::<u32>();
        let out = cache.get_or_embed_batch(&mut boxed, &[(1, texts[0]), (2, texts[1]), (1, texts[0])]).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(cache.stats().embedded, 2);
        assert!(cosine(&out[0], &b[0]) > 0.9999);
    }
}
