//! Capsule and span storage for slo-scout: Parquet tables on an object store, a usearch vector
//! index, and a DataFusion SQL catalog over both.
//!
//! - [`store::Store`]: tables as Hive-partitioned Parquet (`TABLE/service=S/date=D/*.parquet`) on
//!   a local directory (default) or `s3://bucket/prefix`; idempotent upserts, compaction,
//!   retention.
//! - [`vector::VectorIndex`]: HNSW (cosine) over capsule embeddings, persisted in the store.
//! - [`catalog::Catalog`]: SQL over every table, with `nearest_capsules(text, k)`.
//! - [`retrieval::retrieve`]: top-k capsules as evidence for a question (the advisor's RAG
//!   context).
//! - [`sink::StoreSink`]: a pipeline sink that writes capsules (and indexes their embeddings).

pub mod catalog;
pub mod error;
pub mod retrieval;
pub mod sink;
pub mod store;
pub mod tables;
pub mod vector;

pub use error::StorageError;
pub use store::Store;
