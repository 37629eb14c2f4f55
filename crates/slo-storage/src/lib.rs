//! Capsule and span storage (Parquet on object_store), the vector index and the SQL catalog.
//!
//! Not implemented yet (issue 3): the crate exists so the workspace layout and dependency
//! direction are fixed from the start.
