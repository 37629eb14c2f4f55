//! Sentence embeddings for log templates.
//!
//! * [`Embedder`] — the object-safe trait every embedder implements (`embed_batch` returns one
//!   L2-normalised vector per input text, in input order); defined in `slo_dataflow::embed` so
//!   that the store and the catalog can take one without depending on the operators.
//! * [`HashingEmbedder`] — deterministic feature hashing (tokens + character trigrams, signed,
//!   L2-normalised). Needs no model files; it is only used when selected explicitly
//!   ([`EmbedderKind::Hashing`]), never as a silent fallback.
//! * `MiniLmEmbedder` (feature `onnx`, on by default) — sentence-transformers/all-MiniLM-L6-v2
//!   through ONNX Runtime, loaded at run time from the files that `scripts/setup-model.sh`
//!   installs (`eval "$(scripts/setup-model.sh)"` sets `SLO_SCOUT_MODEL_DIR` and `ORT_DYLIB_PATH`).
//! * [`EmbeddingCache`] — embeds each key (e.g. a template fingerprint) once, batching the misses;
//!   bounded, least-recently-used eviction with counters.
//! * [`EmbedConfig`] — serde configuration, [`EmbedConfig::from_env`] and [`EmbedConfig::build`].
//!
//! MiniLM costs roughly 150 sentences/s per core, which is why only *new templates* should be
//! embedded (through the cache), never every log line.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

mod cache;
mod hashing;
#[cfg(feature = "onnx")]
mod minilm;

pub use cache::{CacheStats, EmbeddingCache};
pub use hashing::HashingEmbedder;
#[cfg(feature = "onnx")]
pub use minilm::{MiniLmEmbedder, MiniLmOptions, MINILM_DIM, MINILM_NAME};

/// Environment variable naming the model directory (holds `model.onnx` and `tokenizer.json`).
pub const ENV_MODEL_DIR: &str = "SLO_SCOUT_MODEL_DIR";
/// Environment variable naming the ONNX Runtime shared library (`libonnxruntime.so.1.31.1`).
pub const ENV_ORT_DYLIB: &str = "ORT_DYLIB_PATH";
/// Environment variable selecting the embedder kind: `minilm` or `hashing`.
pub const ENV_EMBEDDER: &str = "SLO_SCOUT_EMBEDDER";
/// Environment variable overriding [`EmbedConfig::threads`].
pub const ENV_THREADS: &str = "SLO_SCOUT_EMBED_THREADS";
/// Environment variable overriding [`EmbedConfig::batch_size`].
pub const ENV_BATCH_SIZE: &str = "SLO_SCOUT_EMBED_BATCH";
/// Environment variable naming the set-up script's install root (default `~/.cache/slo-scout`).
pub const ENV_HOME: &str = "SLO_SCOUT_HOME";
/// The ONNX Runtime library file the set-up script installs.
pub const ORT_LIBRARY_FILE: &str = "libonnxruntime.so.1.31.1";

/// Where `scripts/setup-model.sh` installs the model and ONNX Runtime:
/// `$SLO_SCOUT_HOME` (default `$HOME/.cache/slo-scout`) `/models/all-MiniLM-L6-v2` and
/// `/onnxruntime/libonnxruntime.so.1.31.1`, when the model, its tokenizer and the library all
/// exist there; `None` otherwise.
pub fn installed_model() -> Option<(PathBuf, PathBuf)> {
    let root = match std::env::var_os(ENV_HOME).filter(|v| !v.is_empty()) {
        Some(r) => PathBuf::from(r),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache/slo-scout"),
    };
    let model_dir = root.join("models/all-MiniLM-L6-v2");
    let ort = root.join("onnxruntime").join(ORT_LIBRARY_FILE);
    let complete =
        model_dir.join("model.onnx").is_file() && model_dir.join("tokenizer.json").is_file() && ort.is_file();
    complete.then_some((model_dir, ort))
}

pub use slo_dataflow::embed::{EmbedError, Embedder, SETUP_HINT};

/// Which embedder [`EmbedConfig::build`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderKind {
    /// [`HashingEmbedder`]: no model files, deterministic, lexical similarity only.
    Hashing,
    /// `MiniLmEmbedder`: all-MiniLM-L6-v2 through ONNX Runtime (the default). Fails to build when
    /// the model is not installed; it never falls back to hashing.
    #[default]
    #[serde(alias = "minilm", alias = "mini_lm", alias = "all-MiniLM-L6-v2")]
    MiniLm,
}

impl std::str::FromStr for EmbedderKind {
    type Err = EmbedError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hashing" | "hash" => Ok(Self::Hashing),
            "minilm" | "mini_lm" | "mini-lm" | "all-minilm-l6-v2" => Ok(Self::MiniLm),
            other => Err(EmbedError::Config(format!("unknown embedder `{other}` (expected `minilm` or `hashing`)"))),
        }
    }
}

/// Embedding configuration (serde; every field has a default, so `{}` is a valid config).
///
/// | field | default | meaning |
/// |---|---|---|
/// | `kind` | `mini_lm` | [`EmbedderKind`] |
/// | `model_dir` | none (`SLO_SCOUT_MODEL_DIR`) | directory with `model.onnx` + `tokenizer.json` |
/// | `ort_dylib` | none (`ORT_DYLIB_PATH`) | path of `libonnxruntime.so.1.31.1` |
/// | `batch_size` | 100 | texts per inference call (cache misses are chunked by it) |
/// | `threads` | 1 | ONNX Runtime intra-op threads |
/// | `cache_capacity` | 50 000 | vectors kept by [`EmbeddingCache`] (≈1.5 KiB each at 384-d) |
/// | `max_seq_len` | 256 | MiniLM truncation length in tokens (sentence-transformers' value) |
/// | `hashing_dim` | 384 | dimension of the [`HashingEmbedder`] |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Which embedder to build.
    pub kind: EmbedderKind,
    /// MiniLM model directory (`model.onnx`, `tokenizer.json`).
    pub model_dir: Option<PathBuf>,
    /// ONNX Runtime shared library (full versioned file name).
    pub ort_dylib: Option<PathBuf>,
    /// Texts per inference call.
    pub batch_size: usize,
    /// ONNX Runtime intra-op threads.
    pub threads: usize,
    /// Capacity of the embedding cache, in vectors.
    pub cache_capacity: usize,
    /// MiniLM truncation length in tokens.
    pub max_seq_len: usize,
    /// Dimension of the hashing embedder.
    pub hashing_dim: usize,
}

/// Default [`EmbedConfig::batch_size`].
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Default [`EmbedConfig::threads`].
pub const DEFAULT_THREADS: usize = 1;
/// Default [`EmbedConfig::cache_capacity`].
pub const DEFAULT_CACHE_CAPACITY: usize = 50_000;
/// Default [`EmbedConfig::max_seq_len`] (sentence-transformers' `max_seq_length` for MiniLM).
pub const DEFAULT_MAX_SEQ_LEN: usize = 256;
/// Default [`EmbedConfig::hashing_dim`] (same as MiniLM).
pub const DEFAULT_HASHING_DIM: usize = 384;

impl Default for EmbedConfig {
    fn default() -> Self {
        Self {
            kind: EmbedderKind::default(),
            model_dir: None,
            ort_dylib: None,
            batch_size: DEFAULT_BATCH_SIZE,
            threads: DEFAULT_THREADS,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_seq_len: DEFAULT_MAX_SEQ_LEN,
            hashing_dim: DEFAULT_HASHING_DIM,
        }
    }
}

impl EmbedConfig {
    /// A configuration selecting the [`HashingEmbedder`] (other fields default).
    pub fn hashing() -> Self {
        Self { kind: EmbedderKind::Hashing, ..Self::default() }
    }

    /// Defaults overridden by the environment; see [`EmbedConfig::apply_env`].
    pub fn from_env() -> Result<Self, EmbedError> {
        let mut cfg = Self::default();
        cfg.apply_env()?;
        Ok(cfg)
    }

    /// Overrides fields from the environment, when the variables are set and non-empty:
    /// `SLO_SCOUT_MODEL_DIR` → `model_dir`, `ORT_DYLIB_PATH` → `ort_dylib`,
    /// `SLO_SCOUT_EMBEDDER` (`minilm` | `hashing`) → `kind`, `SLO_SCOUT_EMBED_THREADS` → `threads`,
    /// `SLO_SCOUT_EMBED_BATCH` → `batch_size`. Invalid values are errors.
    pub fn apply_env(&mut self) -> Result<(), EmbedError> {
        fn var(name: &str) -> Option<String> {
            std::env::var(name).ok().filter(|v| !v.trim().is_empty())
        }
        fn positive(name: &str, v: &str) -> Result<usize, EmbedError> {
            match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(EmbedError::Config(format!("{name}={v:?} is not a positive integer"))),
            }
        }
        if let Some(v) = var(ENV_MODEL_DIR) {
            self.model_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = var(ENV_ORT_DYLIB) {
            self.ort_dylib = Some(PathBuf::from(v));
        }
        if let Some(v) = var(ENV_EMBEDDER) {
            self.kind = v.parse()?;
        }
        if let Some(v) = var(ENV_THREADS) {
            self.threads = positive(ENV_THREADS, &v)?;
        }
        if let Some(v) = var(ENV_BATCH_SIZE) {
            self.batch_size = positive(ENV_BATCH_SIZE, &v)?;
        }
        // Neither path configured anywhere: the set-up script's install, when it is complete.
        if self.model_dir.is_none() && self.ort_dylib.is_none() {
            if let Some((model_dir, ort)) = installed_model() {
                self.model_dir = Some(model_dir);
                self.ort_dylib = Some(ort);
            }
        }
        Ok(())
    }

    /// The embedder a command uses when none is chosen: [`EmbedConfig::from_env`], and unless
    /// `SLO_SCOUT_EMBEDDER` picks one, MiniLM when its files are configured or installed where the
    /// set-up script puts them ([`installed_model`]), the hashing embedder otherwise. The second
    /// value says which and why, for the caller to print once.
    pub fn auto() -> Result<(Self, String), EmbedError> {
        let mut cfg = Self::from_env()?;
        if std::env::var(ENV_EMBEDDER).is_ok_and(|v| !v.trim().is_empty()) {
            let note = format!("embedder {:?} from {ENV_EMBEDDER}", cfg.kind);
            return Ok((cfg, note));
        }
        if cfg.model_files_present() {
            cfg.kind = EmbedderKind::MiniLm;
            Ok((cfg, "embedder: all-MiniLM-L6-v2 (model found)".to_owned()))
        } else {
            cfg.kind = EmbedderKind::Hashing;
            Ok((cfg, format!("embedder: feature hashing (no MiniLM model installed; {SETUP_HINT})")))
        }
    }

    /// Whether the MiniLM files this configuration names exist.
    pub fn model_files_present(&self) -> bool {
        match (&self.model_dir, &self.ort_dylib) {
            (Some(dir), Some(ort)) => {
                dir.join("model.onnx").is_file() && dir.join("tokenizer.json").is_file() && ort.is_file()
            }
            _ => false,
        }
    }

    /// Checks the numeric fields (all must be positive).
    pub fn validate(&self) -> Result<(), EmbedError> {
        for (name, v) in [
            ("batch_size", self.batch_size),
            ("threads", self.threads),
            ("max_seq_len", self.max_seq_len),
            ("hashing_dim", self.hashing_dim),
        ] {
            if v == 0 {
                return Err(EmbedError::Config(format!("{name} must be positive")));
            }
        }
        Ok(())
    }

    /// Builds the configured embedder and logs (`tracing::info!`) which one is used.
    ///
    /// [`EmbedderKind::MiniLm`] fails with [`EmbedError::NotConfigured`] /
    /// [`EmbedError::MissingFile`] when the model is not installed — there is no fallback.
    pub fn build(&self) -> Result<Box<dyn Embedder>, EmbedError> {
        self.validate()?;
        match self.kind {
            EmbedderKind::Hashing => {
                let e = HashingEmbedder::new(self.hashing_dim);
                tracing::info!(embedder = e.name(), dim = e.dim(), "using hashing embedder (no model)");
                Ok(Box::new(e))
            }
            EmbedderKind::MiniLm => self.build_minilm(),
        }
    }

    /// Builds an [`EmbeddingCache`] with this configuration's capacity and batch size.
    pub fn build_cache<K: std::hash::Hash + Eq + Clone>(&self) -> EmbeddingCache<K> {
        EmbeddingCache::new(self.cache_capacity, self.batch_size)
    }

    #[cfg(feature = "onnx")]
    fn build_minilm(&self) -> Result<Box<dyn Embedder>, EmbedError> {
        let model_dir = self.model_dir.as_deref().ok_or(EmbedError::NotConfigured { what: ENV_MODEL_DIR })?;
        let dylib = self.ort_dylib.as_deref().ok_or(EmbedError::NotConfigured { what: ENV_ORT_DYLIB })?;
        let e = MiniLmEmbedder::load(model_dir, dylib, &MiniLmOptions::from(self))?;
        tracing::info!(
            embedder = e.name(),
            dim = e.dim(),
            model_dir = %model_dir.display(),
            ort = %dylib.display(),
            threads = self.threads,
            batch_size = self.batch_size,
            "using MiniLM embedder (ONNX Runtime)"
        );
        Ok(Box::new(e))
    }

    #[cfg(not(feature = "onnx"))]
    fn build_minilm(&self) -> Result<Box<dyn Embedder>, EmbedError> {
        Err(EmbedError::OnnxFeatureDisabled)
    }
}

/// Scales `v` to unit L2 norm in place (a zero vector is left unchanged).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosine similarity of two vectors of equal length (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_config_defaults_and_serde() {
        let cfg = EmbedConfig::default();
        assert_eq!(cfg.kind, EmbedderKind::MiniLm);
        assert_eq!(cfg.batch_size, 100);
        assert_eq!(cfg.max_seq_len, 256);
        let parsed: EmbedConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, cfg);
        let parsed: EmbedConfig =
            serde_json::from_str(r#"{"kind":"hashing","batch_size":32,"model_dir":"/m"}"#).unwrap();
        assert_eq!(parsed.kind, EmbedderKind::Hashing);
        assert_eq!(parsed.batch_size, 32);
        assert_eq!(parsed.model_dir.as_deref(), Some(std::path::Path::new("/m")));
        let back: EmbedConfig = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(back, parsed);
        assert!(serde_json::from_str::<EmbedConfig>(r#"{"bogus":1}"#).is_err());
        assert_eq!("MiniLM".parse::<EmbedderKind>().unwrap(), EmbedderKind::MiniLm);
        assert!("bert".parse::<EmbedderKind>().is_err());
    }

    #[test]
    fn embed_config_build_hashing() {
        let mut e = EmbedConfig::hashing().build().unwrap();
        assert_eq!(e.dim(), 384);
        assert_eq!(e.embed_batch(&["a b", "c"]).unwrap().len(), 2);
        let bad = EmbedConfig { batch_size: 0, ..EmbedConfig::hashing() };
        assert!(matches!(bad.build(), Err(EmbedError::Config(_))));
    }

    #[test]
    fn embed_config_minilm_without_model_is_an_error_not_a_fallback() {
        let cfg = EmbedConfig::default();
        let err = cfg.build().err().expect("must fail without model paths");
        #[cfg(feature = "onnx")]
        assert!(matches!(err, EmbedError::NotConfigured { .. }), "{err}");
        assert!(err.to_string().contains("setup-model.sh") || matches!(err, EmbedError::OnnxFeatureDisabled));

        #[cfg(feature = "onnx")]
        {
            let dir = tempfile::tempdir().unwrap();
            let cfg = EmbedConfig {
                model_dir: Some(dir.path().join("nope")),
                ort_dylib: Some(dir.path().join("libonnxruntime.so.1.31.1")),
                ..EmbedConfig::default()
            };
            let err = cfg.build().err().expect("must fail on missing files");
            assert!(matches!(err, EmbedError::MissingFile { .. }), "{err}");
        }
    }

    #[test]
    fn embed_cosine_and_normalize() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 3];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}

mod operator;
pub use operator::Embed;
