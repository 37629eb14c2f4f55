//! The embedder plug-in point: the [`Embedder`] trait and its error.
//!
//! Embedders themselves (feature hashing, MiniLM through ONNX Runtime) and the embedding cache
//! live in `slo_operators::embed`; the trait lives here so that the store and the SQL catalog
//! (slo-storage) can take any embedder without depending on the operators.
//!
//! ```
//! use slo_dataflow::embed::{EmbedError, Embedder};
//!
//! /// Two dimensions: the share of digits and of other characters.
//! struct DigitShare;
//!
//! impl Embedder for DigitShare {
//!     fn dim(&self) -> usize {
//!         2
//!     }
//!     fn name(&self) -> &str {
//!         "digit-share"
//!     }
//!     fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
//!         Ok(texts
//!             .iter()
//!             .map(|t| {
//!                 let digits = t.bytes().filter(u8::is_ascii_digit).count() as f32;
//!                 let rest = t.len() as f32 - digits;
//!                 let norm = (digits * digits + rest * rest).sqrt().max(f32::MIN_POSITIVE);
//!                 vec![digits / norm, rest / norm]
//!             })
//!             .collect())
//!     }
//! }
//!
//! let mut e: Box<dyn Embedder> = Box::new(DigitShare);
//! let v = e.embed_batch(&["abc", "123"]).unwrap();
//! assert_eq!(v, vec![vec![0.0, 1.0], vec![1.0, 0.0]]);
//! ```

use std::path::PathBuf;

/// Hint printed whenever the MiniLM model files are missing.
pub const SETUP_HINT: &str =
    "run `eval \"$(scripts/setup-model.sh)\"` to install the model and set SLO_SCOUT_MODEL_DIR / ORT_DYLIB_PATH";

/// Errors raised by embedders, the embedding cache and the configuration.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The MiniLM embedder was selected but the model directory or the ONNX Runtime library path
    /// was not configured.
    #[error("MiniLM embedder selected but {what} is not set ({hint})", hint = SETUP_HINT)]
    NotConfigured {
        /// Which setting is missing (e.g. `SLO_SCOUT_MODEL_DIR`).
        what: &'static str,
    },
    /// A required file does not exist.
    #[error("{what} not found at {path} ({hint})", hint = SETUP_HINT)]
    MissingFile {
        /// What the file is (e.g. `ONNX model`).
        what: &'static str,
        /// The path that was tried.
        path: PathBuf,
    },
    /// The MiniLM embedder was requested but the crate was built without the `onnx` feature.
    #[error("the MiniLM embedder needs the `onnx` feature of slo-operators")]
    OnnxFeatureDisabled,
    /// ONNX Runtime could not be loaded or the environment could not be created.
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    RuntimeLoad {
        /// Library path.
        path: PathBuf,
        /// Loader message.
        message: String,
    },
    /// An ONNX Runtime call failed (session creation, tensor creation, inference).
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    /// The tokenizer could not be loaded or failed to encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model graph does not have the expected inputs/outputs, or produced malformed output.
    #[error("unexpected model: {0}")]
    Model(String),
    /// An embedder returned a result that violates the [`Embedder`] contract.
    #[error("embedder `{embedder}` contract violation: {message}")]
    Contract {
        /// Embedder name.
        embedder: String,
        /// What was wrong.
        message: String,
    },
    /// An embedding cache was used with a different embedder than the one that filled it.
    #[error(
        "embedding cache was filled by `{cached}` ({cached_dim}-d) but is now used with `{given}` ({given_dim}-d)"
    )]
    EmbedderMismatch {
        /// Embedder that filled the cache.
        cached: String,
        /// Its dimension.
        cached_dim: usize,
        /// Embedder passed now.
        given: String,
        /// Its dimension.
        given_dim: usize,
    },
    /// An invalid configuration value.
    #[error("invalid embedding configuration: {0}")]
    Config(String),
    /// Failure inside a custom embedder.
    #[error("{0}")]
    Other(String),
}

/// A text embedder: maps texts to fixed-size, L2-normalised `f32` vectors.
///
/// Implementations must return exactly one vector of length [`Embedder::dim`] per input, in input
/// order, and be deterministic for a given input. `&mut self` lets implementations keep scratch
/// buffers and an inference session without locking.
pub trait Embedder: Send {
    /// Dimension of every returned vector.
    fn dim(&self) -> usize;
    /// Short stable identifier (e.g. `all-MiniLM-L6-v2`, `hashing-384`), useful to tag stored
    /// vectors so that vectors of different embedders are never compared.
    fn name(&self) -> &str;
    /// Embeds a batch of texts. An empty batch returns an empty vector.
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// SHA-256 (hex) of the model weights, for embedders that load a model file; `None` for
    /// embedders defined by their code alone (the name and dimension identify those).
    fn model_sha256(&self) -> Option<String> {
        None
    }
    /// The embedder's identity: what a store records next to the vectors it built.
    fn id(&self) -> EmbedderId {
        EmbedderId { name: self.name().to_owned(), dim: self.dim(), model_sha256: self.model_sha256() }
    }
}

/// Which embedder built a set of vectors. Two sets are comparable only when their ids are equal:
/// same name, same dimension and, for model-based embedders, the same weights.
///
/// ```
/// use slo_dataflow::embed::EmbedderId;
///
/// let built = EmbedderId { name: "hashing-384".into(), dim: 384, model_sha256: None };
/// let query = EmbedderId { name: "all-MiniLM-L6-v2".into(), dim: 384, model_sha256: Some("ab12".into()) };
/// assert!(built.mismatch(&built).is_none());
/// assert_eq!(
///     built.mismatch(&query).unwrap(),
///     "the vectors were built by hashing-384 (384-d), the query embedder is all-MiniLM-L6-v2 (384-d, model ab12)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EmbedderId {
    /// [`Embedder::name`].
    pub name: String,
    /// [`Embedder::dim`].
    pub dim: usize,
    /// [`Embedder::model_sha256`].
    pub model_sha256: Option<String>,
}

impl std::fmt::Display for EmbedderId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.model_sha256 {
            Some(h) => write!(f, "{} ({}-d, model {})", self.name, self.dim, &h[..h.len().min(12)]),
            None => write!(f, "{} ({}-d)", self.name, self.dim),
        }
    }
}

impl EmbedderId {
    /// `None` when vectors of `self` and `query` are comparable, else a sentence saying how they
    /// differ (for an error message).
    pub fn mismatch(&self, query: &EmbedderId) -> Option<String> {
        (self != query).then(|| format!("the vectors were built by {self}, the query embedder is {query}"))
    }
}

impl<E: Embedder + ?Sized> Embedder for Box<E> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    fn embed_batch(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        (**self).embed_batch(texts)
    }
    fn model_sha256(&self) -> Option<String> {
        (**self).model_sha256()
    }
}
