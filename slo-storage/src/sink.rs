//! Pipeline sinks that write into a [`Store`].

use std::sync::{Arc, Mutex};

use slo_dataflow::event::{Capsule, EventKind, TelemetryEvent};
use slo_dataflow::sink::{Sink, SinkError};

use crate::store::Store;
use crate::vector::VectorIndex;

fn rt() -> Result<tokio::runtime::Runtime, SinkError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SinkError::Io { target: "tokio runtime".into(), source })
}

fn storage_err(target: &str, e: crate::StorageError) -> SinkError {
    SinkError::Io { target: target.to_string(), source: std::io::Error::other(e.to_string()) }
}

/// Writes capsules into the store (upsert) and their embeddings into a shared vector index.
pub struct StoreSink {
    store: Store,
    index: Option<Arc<Mutex<VectorIndex>>>,
    pending: Vec<Capsule>,
    runtime: tokio::runtime::Runtime,
}

impl StoreSink {
    /// A sink for one worker. Share `index` between workers; save it when the run ends.
    pub fn new(store: Store, index: Option<Arc<Mutex<VectorIndex>>>) -> Result<Self, SinkError> {
        Ok(StoreSink { store, index, pending: Vec::new(), runtime: rt()? })
    }
}

impl Sink<Capsule> for StoreSink {
    fn write(&mut self, records: &[Capsule]) -> Result<(), SinkError> {
        self.pending.extend_from_slice(records);
        Ok(())
    }

    /// Durable once this returns: the capsules are in their partition files.
    fn flush(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let capsules = std::mem::take(&mut self.pending);
        self.runtime.block_on(self.store.write_capsules(&capsules)).map_err(|e| storage_err("capsules", e))?;
        if let Some(index) = &self.index {
            let mut idx = index.lock().map_err(|_| SinkError::Encode("index lock poisoned".into()))?;
            let vectors: Vec<(String, Vec<f32>)> =
                capsules.iter().filter_map(|c| c.embedding.as_ref().map(|v| (c.capsule_id(), v.clone()))).collect();
            idx.upsert_batch(&vectors).map_err(|e| storage_err("vector index", e))?;
        }
        Ok(())
    }
}

/// Writes spans and metric points (and optionally every event) into the store in chunks.
pub struct EventStoreSink {
    store: Store,
    archive_raw: bool,
    chunk: usize,
    pending: Vec<TelemetryEvent>,
    runtime: tokio::runtime::Runtime,
}

impl EventStoreSink {
    /// A sink that writes once `chunk` events are buffered (and on flush at the end).
    pub fn new(store: Store, archive_raw: bool, chunk: usize) -> Result<Self, SinkError> {
        Ok(EventStoreSink { store, archive_raw, chunk: chunk.max(1), pending: Vec::new(), runtime: rt()? })
    }

    fn write_pending(&mut self) -> Result<(), SinkError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.pending);
        self.runtime
            .block_on(self.store.write_events(&events, self.archive_raw))
            .map_err(|e| storage_err("spans", e))?;
        Ok(())
    }
}

impl Sink<TelemetryEvent> for EventStoreSink {
    fn write(&mut self, records: &[TelemetryEvent]) -> Result<(), SinkError> {
        self.pending.extend(
            records
                .iter()
                .filter(|e| self.archive_raw || matches!(e.kind, EventKind::Span | EventKind::Metric))
                .cloned(),
        );
        if self.pending.len() >= self.chunk {
            self.write_pending()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.write_pending()
    }
}
