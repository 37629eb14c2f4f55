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
//!
//! ```
//! use slo_dataflow::synthetic::{generate, SyntheticConfig};
//! use slo_storage::{Catalog, Store};
//!
//! let (events, _) = generate(&SyntheticConfig { requests: 100, ..Default::default() });
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().to_str().unwrap()).unwrap();
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     store.write_events(&events, false).await.unwrap(); // spans and metric points
//!     let catalog = Catalog::open(&store, None).unwrap();
//!     let batches = catalog.query("SELECT COUNT(DISTINCT trace_id) AS traces FROM spans").await.unwrap();
//!     let traces = batches[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap();
//!     assert_eq!(traces.value(0), 100);
//! });
//! ```

#[cfg(feature = "sql")]
pub mod catalog;
pub mod error;
pub mod retrieval;
pub mod sink;
#[cfg(feature = "sql")]
pub mod sql_limits;
pub mod store;
pub mod tables;
pub mod vector;

#[cfg(feature = "sql")]
pub use catalog::Catalog;
pub use error::StorageError;
pub use store::{Store, UpsertRows};
pub use vector::VectorIndex;
