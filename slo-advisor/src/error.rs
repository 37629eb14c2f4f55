//! Errors of the advisor. Errors about a file name it.

use std::path::PathBuf;

/// Errors of span loading, analysis and SLI output.
#[derive(Debug, thiserror::Error)]
pub enum AdvisorError {
    /// A file or directory could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not have the expected layout.
    #[error("{path}: {reason}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An input could not be opened by the event readers.
    #[error(transparent)]
    Source(#[from] slo_dataflow::source::SourceError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] slo_storage::StorageError),
    /// An Arrow conversion failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// The input holds no usable span.
    #[error("no spans found in {0}")]
    NoSpans(String),
    /// An SLO cannot be backtested as written; the message names the SLO and the field.
    #[error("SLO {slo}: {reason}")]
    Slo {
        /// `service-slo` id.
        slo: String,
        /// What is wrong or missing.
        reason: String,
    },
    /// An error rule (`--error-rule`) does not parse.
    #[error("error rule {rule:?}: {reason}")]
    ErrorRule {
        /// The rule as written.
        rule: String,
        /// What is wrong.
        reason: String,
    },
    /// The history holds no minute of the journey an SLO names.
    #[error("no history for journey {journey:?} (journeys with history: {known})")]
    NoHistory {
        /// The journey asked for.
        journey: String,
        /// Journeys that do have history, comma-separated.
        known: String,
    },
}

impl AdvisorError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AdvisorError {
        let path = path.into();
        move |source| AdvisorError::Io { path, source }
    }
}
