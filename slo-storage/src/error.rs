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
    /// SQL failure (planning or execution).
    #[error("sql: {0}")]
    Sql(String),
    /// The statement is not a read-only query.
    #[error("read-only: {0} (the query interface only runs SELECT / SHOW / EXPLAIN)")]
    ReadOnly(String),
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
