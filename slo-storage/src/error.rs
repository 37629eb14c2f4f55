//! Storage errors. Every error that concerns a file names it.

/// Errors of the store, index and catalog.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store location could not be parsed or opened.
    #[error("invalid store location {location:?}: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A reading command named a local store that does not exist (nothing was created).
    #[error("no store at {0} (write one with `slo-runner run --store {0}`)")]
    NoStore(String),
    /// An object-store operation failed.
    #[error("object store error on {path}: {source}")]
    ObjectStore {
        /// The object path.
        path: String,
        /// The underlying error.
        source: object_store::Error,
    },
    /// A Parquet file could not be read or written.
    #[error("parquet file {path}: {source}")]
    Parquet {
        /// The file.
        path: String,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// An Arrow conversion failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A file does not have the expected schema.
    #[error("schema mismatch: {0}")]
    Schema(String),
    /// Vector index failure.
    #[error("vector index: {0}")]
    Index(String),
    /// The saved vector index failed its size or checksum check; it was not loaded.
    #[error(
        "the store's vector index is damaged ({0}) and was not loaded; rebuild it from the capsules' \
         embeddings with `slo-runner compact --rebuild-index`"
    )]
    DamagedIndex(String),
    /// Vectors of one embedder were about to be compared with (or mixed with) another's.
    #[error("embedder mismatch: {0}")]
    EmbedderMismatch(String),
    /// A run's capsule window differs from the one the store's capsules were built with.
    #[error(
        "the store holds capsules of {store} windows and this run's window is {run}: capsules of two window \
         lengths would count the same events twice; run with --window {store} or use another store",
        store = human_ms(*store_ms),
        run = human_ms(*run_ms)
    )]
    WindowMismatch {
        /// The store's window length (ms).
        store_ms: u64,
        /// This run's window length (ms).
        run_ms: u64,
    },
    /// A vector search over an index that holds no vectors.
    #[error(
        "the store has no capsule vectors to search: write some with `slo-runner run --store S` (it embeds \
         capsules by default) or rebuild the index with `slo-runner compact --rebuild-index`"
    )]
    EmptyIndex,
    /// SQL failure (planning or execution).
    #[error("sql: {0}")]
    Sql(String),
    /// The statement is not a read-only query.
    #[error("read-only: {0} (the query interface only runs SELECT / SHOW / EXPLAIN)")]
    ReadOnly(String),
}

/// `3600000` → `1h`, `300000` → `5m`, `1500` → `1500ms`.
fn human_ms(ms: u64) -> String {
    match ms {
        0 => "0ms".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

impl StorageError {
    pub(crate) fn os(path: impl std::fmt::Display) -> impl FnOnce(object_store::Error) -> StorageError {
        let path = path.to_string();
        move |source| StorageError::ObjectStore { path, source }
    }

    pub(crate) fn pq(path: impl std::fmt::Display) -> impl FnOnce(parquet::errors::ParquetError) -> StorageError {
        let path = path.to_string();
        move |source| StorageError::Parquet { path, source }
    }
}
