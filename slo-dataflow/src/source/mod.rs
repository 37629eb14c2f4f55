//! Sources: readers that turn files and streams into [`TelemetryEvent`]s.
//!
//! Every reader yields `Result<TelemetryEvent, DeadLetter>`: a malformed record never stops the
//! read; it becomes a [`DeadLetter`] naming where it was (line, byte offset) and why, and the
//! rest of the input is still processed.
//!
//! | format | reader | detected by |
//! |---|---|---|
//! | JSON lines of [`TelemetryEvent`] | [`jsonl::JsonLinesReader`] | `.jsonl`/`.ndjson`, or `.json` whose first record is not OTLP |
//! | OTLP/JSON logs, traces, metrics | [`otlp::OtlpJsonReader`] | a top-level `resourceLogs`/`resourceSpans`/`resourceMetrics` key |
//! | plain-text logs with a header format | [`plain::PlainTextReader`] | anything else (`.log`, `.txt`, ...) |

pub mod jsonl;
pub mod log_format;
pub mod otlp;
pub mod plain;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::event::TelemetryEvent;

/// A record that could not be turned into an event, with where it was and why.
///
/// `payload` holds the original bytes so nothing is lost; whoever writes dead letters out must
/// pass the payload through the redactor first (see the runner's dead-letter sink).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Where the record came from (file path, topic/partition).
    pub origin: String,
    /// 1-based line number (or Kafka offset) of the record.
    pub line: u64,
    /// Byte offset of the record in its file (or 0).
    pub offset: u64,
    /// Why the record was rejected. Never contains the record's content.
    pub reason: String,
    /// The original bytes.
    pub payload: Vec<u8>,
}

/// What every reader yields.
pub type SourceItem = Result<TelemetryEvent, DeadLetter>;

/// A source of telemetry events. Blanket-implemented for iterators of [`SourceItem`], so any
/// iterator can feed a pipeline.
pub trait EventSource: Iterator<Item = SourceItem> + Send {}
impl<I: Iterator<Item = SourceItem> + Send> EventSource for I {}

/// Errors opening an input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A plain-text header format did not parse.
    #[error("invalid log format: {0}")]
    LogFormat(String),
}

/// Options for [`open_path`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Header format for plain-text logs (Loghub `log_format` notation); `None`: whole line is
    /// the body.
    pub log_format: Option<String>,
    /// Service name for plain-text logs whose header carries none (default: the file stem).
    pub service: Option<String>,
    /// Environment for plain-text logs (default `prod`).
    pub environment: Option<String>,
}

/// The input formats [`open_path`] recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// JSON lines of `TelemetryEvent`.
    JsonLines,
    /// OTLP/JSON export requests (one per file or one per line).
    OtlpJson,
    /// Plain-text log lines.
    PlainText,
}

/// Guesses the format of a file from its name and first bytes.
pub fn detect_format(path: &Path, head: &[u8]) -> InputFormat {
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // The head is a few KB already; slicing it again at a byte offset could cut a character
        // (a lossy-decoded head can be longer than the bytes read).
        if trimmed.contains("\"resourceLogs\"")
            || trimmed.contains("\"resourceSpans\"")
            || trimmed.contains("\"resourceMetrics\"")
        {
            return InputFormat::OtlpJson;
        }
        return InputFormat::JsonLines;
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "ndjson") => InputFormat::JsonLines,
        _ => InputFormat::PlainText,
    }
}

/// Lists the files under `path` (the path itself when it is a file), sorted, skipping hidden
/// files, so a directory replays in a deterministic order.
pub fn list_inputs(path: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let io = |source| SourceError::Io { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| SourceError::Io { path: dir.clone(), source })?;
        for entry in entries {
            let entry = entry.map_err(|source| SourceError::Io { path: dir.clone(), source })?;
            let p = entry.path();
            if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Opens one file with the reader its format needs.
pub fn open_file(path: &Path, options: &OpenOptions) -> Result<Box<dyn EventSource>, SourceError> {
    let io = |source| SourceError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut head = vec![0u8; 4096];
    let n = read_up_to(&mut file, &mut head).map_err(io)?;
    head.truncate(n);
    let file = File::open(path).map_err(io)?;
    let origin = path.display().to_string();
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(1 << 16, file));
    Ok(match detect_format(path, &head) {
        InputFormat::JsonLines => Box::new(jsonl::JsonLinesReader::new(reader, origin)),
        InputFormat::OtlpJson => Box::new(otlp::OtlpJsonReader::new(reader, origin)),
        InputFormat::PlainText => {
            let format = match &options.log_format {
                Some(f) => Some(log_format::LogFormat::parse(f).map_err(|e| SourceError::LogFormat(e.to_string()))?),
                None => None,
            };
            let service = options
                .service
                .clone()
                .unwrap_or_else(|| path.file_stem().and_then(|s| s.to_str()).unwrap_or("unknown").to_string());
            let env = options.environment.clone().unwrap_or_else(|| "prod".into());
            Box::new(plain::PlainTextReader::new(reader, origin, format, service, env))
        }
    })
}

/// Opens a file or every file under a directory, chained in sorted order.
pub fn open_path(path: &Path, options: &OpenOptions) -> Result<Box<dyn EventSource>, SourceError> {
    let files = list_inputs(path)?;
    let mut sources = Vec::with_capacity(files.len());
    for f in &files {
        sources.push(open_file(f, options)?);
    }
    Ok(Box::new(sources.into_iter().flatten()))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads `reader` line by line as raw bytes, tracking 1-based line numbers and byte offsets;
/// shared by the line-oriented readers.
pub(crate) struct LineCursor<R> {
    reader: R,
    buf: Vec<u8>,
    /// Line number of the last line returned.
    pub line: u64,
    /// Byte offset of the start of the last line returned (after a read error: of the line
    /// that could not be read).
    pub offset: u64,
    next_offset: u64,
    /// A read failed: the input has ended (a failing reader may fail forever).
    failed: bool,
}

impl<R: BufRead> LineCursor<R> {
    pub(crate) fn new(reader: R) -> Self {
        LineCursor { reader, buf: Vec::new(), line: 0, offset: 0, next_offset: 0, failed: false }
    }

    /// The next line without its terminator, or `None` at the end. I/O errors end the input
    /// and are returned once.
    pub(crate) fn next_line(&mut self) -> Option<std::io::Result<&[u8]>> {
        if self.failed {
            return None;
        }
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(n) => {
                self.line += 1;
                self.offset = self.next_offset;
                self.next_offset += n as u64;
                let mut end = self.buf.len();
                while end > 0 && (self.buf[end - 1] == b'\n' || self.buf[end - 1] == b'\r') {
                    end -= 1;
                }
                Some(Ok(&self.buf[..end]))
            }
            Err(e) => {
                self.failed = true;
                // where the broken line would have started
                self.offset = self.next_offset;
                Some(Err(e))
            }
        }
    }

    /// The next line that is not blank, owned, or `None` at the end. A read error (which ends
    /// the input) comes back as a dead letter of `origin` at the line it broke off.
    pub(crate) fn next_record(&mut self, origin: &str) -> Option<Result<Vec<u8>, DeadLetter>> {
        loop {
            let line = match self.next_line()? {
                Ok(l) => l,
                Err(e) => {
                    return Some(Err(DeadLetter {
                        origin: origin.to_string(),
                        line: self.line + 1,
                        offset: self.offset,
                        reason: format!("read error: {e}"),
                        payload: Vec::new(),
                    }))
                }
            };
            if !line.iter().all(|b| b.is_ascii_whitespace()) {
                return Some(Ok(line.to_vec()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a head cut inside a multibyte character (byte 4096 of Japanese text) made
    /// format detection panic, printing the start of the file.
    #[test]
    fn a_head_cut_inside_a_character_is_detected_without_panic() {
        let line = format!("{{\"body\":\"{}\"}}\n", "日本語".repeat(100));
        let file = line.repeat(10).into_bytes();
        for cut in 4090..4100 {
            let head = &file[..cut.min(file.len())];
            assert_eq!(detect_format(Path::new("x.log"), head), InputFormat::JsonLines, "cut at {cut}");
        }
        let otlp = format!("{{\"resourceLogs\":[{{\"x\":\"{}\"}}]}}", "日本語".repeat(2000)).into_bytes();
        assert_eq!(detect_format(Path::new("x.json"), &otlp[..4096]), InputFormat::OtlpJson);
    }

    #[test]
    fn detects_formats() {
        let p = Path::new("x.json");
        assert_eq!(detect_format(p, b"{\"resourceSpans\": []}"), InputFormat::OtlpJson);
        assert_eq!(detect_format(p, b"{\"event_id\": \"1\"}"), InputFormat::JsonLines);
        assert_eq!(detect_format(Path::new("a.log"), b"2024-01-01 x"), InputFormat::PlainText);
        assert_eq!(detect_format(Path::new("a.jsonl"), b""), InputFormat::JsonLines);
    }

    /// Yields `data`, then fails every read.
    struct BreaksOff(std::io::Cursor<Vec<u8>>);

    impl Read for BreaksOff {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0.read(buf)? {
                0 => Err(std::io::Error::other("disk went away")),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn a_read_error_ends_the_input_as_one_dead_letter() {
        let data = b"{\"service\":\"s\",\"timestamp_ms\":1,\"body\":\"a\"}\n\n{\"service\":\"s\",\"timestamp_ms\":2,\"body\":\"b\"}\n".to_vec();
        let end = data.len() as u64;
        let readers: Vec<Box<dyn Iterator<Item = SourceItem>>> = vec![
            Box::new(jsonl::JsonLinesReader::new(
                BufReader::new(BreaksOff(std::io::Cursor::new(data.clone()))),
                "in.jsonl",
            )),
            Box::new(plain::PlainTextReader::new(
                BufReader::new(BreaksOff(std::io::Cursor::new(data))),
                "in.log",
                None,
                "s".into(),
                "prod".into(),
            )),
        ];
        for reader in readers {
            let items: Vec<SourceItem> = reader.collect();
            assert_eq!(items.len(), 3, "two records (the blank line skipped), then the error");
            assert!(items[..2].iter().all(Result::is_ok));
            let dead = items[2].as_ref().unwrap_err();
            assert!(dead.reason.starts_with("read error: disk went away"), "{}", dead.reason);
            // the line after the last one read, at the byte where it would have started
            assert_eq!((dead.line, dead.offset), (4, end));
        }
    }

    #[test]
    fn directories_replay_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.log"), "second\n").unwrap();
        std::fs::write(dir.path().join("a.log"), "first\n").unwrap();
        std::fs::write(dir.path().join(".hidden"), "skip\n").unwrap();
        let events: Vec<_> = open_path(dir.path(), &OpenOptions::default()).unwrap().map(|r| r.unwrap().body).collect();
        assert_eq!(events, vec!["first", "second"]);
    }
}
