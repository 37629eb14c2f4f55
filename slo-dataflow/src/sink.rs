//! Sinks: where capsules, late events and dead letters go.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// A sink write failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An I/O error on the sink's destination.
    #[error("sink {target}: {source}")]
    Io {
        /// What was being written.
        target: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record could not be serialised.
    #[error("cannot serialise record: {0}")]
    Encode(String),
}

/// Receives records of type `T`. One sink instance per worker; implementations that share a
/// destination synchronise internally.
pub trait Sink<T>: Send {
    /// Writes a batch of records.
    fn write(&mut self, records: &[T]) -> Result<(), SinkError>;
    /// Makes everything written so far durable.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Collects records in memory (tests, embedding in other programs). Clones share the buffer.
#[derive(Clone, Debug)]
pub struct MemorySink<T> {
    records: Arc<Mutex<Vec<T>>>,
}

impl<T> Default for MemorySink<T> {
    fn default() -> Self {
        MemorySink { records: Arc::new(Mutex::new(Vec::new())) }
    }
}

impl<T: Clone> MemorySink<T> {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of everything written so far.
    pub fn records(&self) -> Vec<T> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl<T: Clone + Send> Sink<T> for MemorySink<T> {
    fn write(&mut self, records: &[T]) -> Result<(), SinkError> {
        if let Ok(mut r) = self.records.lock() {
            r.extend_from_slice(records);
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Writes every record to two sinks (e.g. a JSON-lines file and a store).
pub struct TeeSink<T> {
    first: Box<dyn Sink<T>>,
    second: Box<dyn Sink<T>>,
}

impl<T> TeeSink<T> {
    /// A sink writing to both.
    pub fn new(first: Box<dyn Sink<T>>, second: Box<dyn Sink<T>>) -> Self {
        TeeSink { first, second }
    }
}

impl<T: Send> Sink<T> for TeeSink<T> {
    fn write(&mut self, records: &[T]) -> Result<(), SinkError> {
        self.first.write(records)?;
        self.second.write(records)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.first.flush()?;
        self.second.flush()
    }
}

/// Writes one JSON object per line to a file shared by all workers of the process.
#[derive(Clone)]
pub struct JsonLinesSink {
    path: PathBuf,
    out: Arc<Mutex<BufWriter<File>>>,
}

impl JsonLinesSink {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, SinkError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|source| SinkError::Io { target: parent.display().to_string(), source })?;
        }
        let file = File::create(path).map_err(|source| SinkError::Io { target: path.display().to_string(), source })?;
        Ok(JsonLinesSink { path: path.to_path_buf(), out: Arc::new(Mutex::new(BufWriter::new(file))) })
    }
}

impl<T: Serialize> Sink<T> for JsonLinesSink {
    fn write(&mut self, records: &[T]) -> Result<(), SinkError> {
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| SinkError::Encode(e.to_string()))?;
            buf.push(b'\n');
        }
        let mut out = self.out.lock().map_err(|_| SinkError::Encode("sink lock poisoned".into()))?;
        out.write_all(&buf).map_err(|source| SinkError::Io { target: self.path.display().to_string(), source })
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        let mut out = self.out.lock().map_err(|_| SinkError::Encode("sink lock poisoned".into()))?;
        out.flush().map_err(|source| SinkError::Io { target: self.path.display().to_string(), source })?;
        out.get_ref().sync_data().map_err(|source| SinkError::Io { target: self.path.display().to_string(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_sink_is_shared_between_clones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.jsonl");
        let mut a = JsonLinesSink::create(&path).unwrap();
        let mut b = a.clone();
        Sink::<u32>::write(&mut a, &[1, 2]).unwrap();
        Sink::<u32>::write(&mut b, &[3]).unwrap();
        Sink::<u32>::flush(&mut a).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n2\n3\n");
        let mut m = MemorySink::new();
        m.write(&["x".to_string()]).unwrap();
        assert_eq!(m.records(), vec!["x".to_string()]);
    }
}
