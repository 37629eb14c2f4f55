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
    /// Longest line of a line-oriented file, bytes (default [`DEFAULT_MAX_LINE_BYTES`]); a
    /// longer line is a dead letter and is never held in memory whole.
    pub max_line_bytes: Option<usize>,
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

/// Reads the first 4 KB of a file (format detection's window).
fn read_head(path: &Path) -> Result<Vec<u8>, SourceError> {
    let io = |source| SourceError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut head = vec![0u8; 4096];
    let n = read_up_to(&mut file, &mut head).map_err(io)?;
    head.truncate(n);
    Ok(head)
}

/// Opens one file with the reader its format needs.
pub fn open_file(path: &Path, options: &OpenOptions) -> Result<Box<dyn EventSource>, SourceError> {
    let io = |source| SourceError::Io { path: path.to_path_buf(), source };
    let head = read_head(path)?;
    let file = File::open(path).map_err(io)?;
    let origin = path.display().to_string();
    let reader: Box<dyn BufRead + Send> = Box::new(BufReader::with_capacity(1 << 16, file));
    let max_line = options.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES);
    Ok(match detect_format(path, &head) {
        InputFormat::JsonLines => {
            let mut r = jsonl::JsonLinesReader::new(reader, origin);
            r.set_max_line_bytes(max_line);
            Box::new(r)
        }
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
            let mut r = plain::PlainTextReader::new(reader, origin, format, service, env);
            r.set_max_line_bytes(max_line);
            Box::new(r)
        }
    })
}

/// Whether a file found in a directory looks like telemetry; `Err` says why not.
///
/// Taken: JSON (lines or OTLP) by content; `.jsonl`/`.ndjson` names; plain text whose first
/// non-empty line matches `--log-format` or starts with a timestamp; files named `*.log` or
/// `*.log.N` whatever their lines. Not taken: binary files (a NUL byte in the first 4 KB) and other
/// plain text (a README, a LICENSE): a file named explicitly is always read.
pub fn looks_like_telemetry(path: &Path, head: &[u8], options: &OpenOptions) -> Result<(), String> {
    if head.contains(&0) {
        return Err("binary content".into());
    }
    if detect_format(path, head) != InputFormat::PlainText {
        return Ok(());
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let log_named = name.ends_with(".log")
        || name.rsplit_once(".log.").is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if log_named {
        return Ok(());
    }
    let text = String::from_utf8_lossy(head);
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Err("empty".into());
    };
    let matches_format = match &options.log_format {
        Some(f) => log_format::LogFormat::parse(f).ok().is_some_and(|f| f.split(first).is_some()),
        None => false,
    };
    if matches_format || plain::leading_timestamp(first, crate::time::current_year()).is_some() {
        return Ok(());
    }
    Err("plain text without a timestamp or the --log-format header on its first line, and not named *.log".into())
}

/// What [`telemetry_inputs`] found under a path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TelemetryInputs {
    /// The files to read, sorted.
    pub files: Vec<PathBuf>,
    /// The files left out, with why, sorted.
    pub left_out: Vec<(PathBuf, String)>,
}

/// The files [`open_path`] reads under `path`, and those it leaves out with the reason: a file
/// given itself is always read; in a directory, what is not [`looks_like_telemetry`] is left out.
pub fn telemetry_inputs(path: &Path, options: &OpenOptions) -> Result<TelemetryInputs, SourceError> {
    let listed = list_inputs(path)?;
    if path.is_file() {
        return Ok(TelemetryInputs { files: listed, left_out: Vec::new() });
    }
    let mut found = TelemetryInputs::default();
    for f in listed {
        match read_head(&f).map_err(|e| e.to_string()).and_then(|head| looks_like_telemetry(&f, &head, options)) {
            Ok(()) => found.files.push(f),
            Err(why) => found.left_out.push((f, why)),
        }
    }
    Ok(found)
}

/// Opens a file or the telemetry files under a directory ([`telemetry_inputs`]; the others are
/// logged as warnings), chained in sorted order. Files are opened one at a time as the previous
/// one ends, so a directory of any size needs one open file; a file that cannot be opened then is
/// a dead letter with the reason.
pub fn open_path(path: &Path, options: &OpenOptions) -> Result<Box<dyn EventSource>, SourceError> {
    if let Some(f) = &options.log_format {
        log_format::LogFormat::parse(f).map_err(|e| SourceError::LogFormat(e.to_string()))?;
    }
    let TelemetryInputs { files, left_out } = telemetry_inputs(path, options)?;
    for (f, why) in &left_out {
        tracing::warn!(file = %f.display(), reason = %why, "not telemetry: left out (name the file to read it)");
    }
    let options = options.clone();
    Ok(Box::new(files.into_iter().flat_map(move |f| -> Box<dyn EventSource> {
        match open_file(&f, &options) {
            Ok(source) => source,
            Err(e) => Box::new(std::iter::once(Err(DeadLetter {
                origin: f.display().to_string(),
                line: 0,
                offset: 0,
                reason: format!("cannot open: {e}"),
                payload: Vec::new(),
            }))),
        }
    })))
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

/// Default longest line the line readers take, in bytes (1 MiB); a longer line is a dead letter.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

/// Bytes of an oversized line kept as its dead letter's payload.
const OVERSIZED_PAYLOAD_BYTES: usize = 4096;

/// Reads `reader` line by line as raw bytes, tracking 1-based line numbers and byte offsets;
/// shared by the line-oriented readers. Memory is bounded by the longest line taken
/// ([`DEFAULT_MAX_LINE_BYTES`] unless set): the rest of a longer line is skipped, not buffered.
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
    max_line: usize,
    /// The length of the last line, when it was longer than `max_line` (then `buf` holds its
    /// first `max_line` bytes only).
    oversized: Option<u64>,
    /// Length of the last line in `buf`, without its terminator.
    end: usize,
}

impl<R: BufRead> LineCursor<R> {
    pub(crate) fn new(reader: R) -> Self {
        LineCursor {
            reader,
            buf: Vec::new(),
            line: 0,
            offset: 0,
            next_offset: 0,
            failed: false,
            max_line: DEFAULT_MAX_LINE_BYTES,
            oversized: None,
            end: 0,
        }
    }

    /// Sets the longest line taken (at least 1 byte).
    pub(crate) fn set_max_line(&mut self, bytes: usize) {
        self.max_line = bytes.max(1);
    }

    /// The next line without its terminator, or `None` at the end. I/O errors end the input
    /// and are returned once.
    pub(crate) fn next_line(&mut self) -> Option<std::io::Result<&[u8]>> {
        if self.failed {
            return None;
        }
        self.buf.clear();
        self.oversized = None;
        let mut total = 0u64;
        let mut ended = false;
        while !ended {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.failed = true;
                    // where the broken line would have started
                    self.offset = self.next_offset;
                    return Some(Err(e));
                }
            };
            if available.is_empty() {
                break;
            }
            let (take, newline) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            // Room for the line and its terminator; the rest of a longer line is only counted.
            let room = (self.max_line + 2).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&available[..take.min(room)]);
            self.reader.consume(take);
            total += take as u64;
            ended = newline;
        }
        if total == 0 {
            return None;
        }
        self.line += 1;
        self.offset = self.next_offset;
        self.next_offset += total;
        let mut end = self.buf.len();
        while end > 0 && (self.buf[end - 1] == b'\n' || self.buf[end - 1] == b'\r') {
            end -= 1;
        }
        // A cut line's length is counted, less its newline (a `\r` before it is counted too).
        let content = if self.buf.len() as u64 == total { end as u64 } else { total - u64::from(ended) };
        if content > self.max_line as u64 {
            self.oversized = Some(content);
            end = end.min(self.max_line);
        }
        self.end = end;
        Some(Ok(&self.buf[..end]))
    }

    /// The next line that is not blank, owned, or `None` at the end. A read error (which ends
    /// the input) comes back as a dead letter of `origin` at the line it broke off.
    pub(crate) fn next_record(&mut self, origin: &str) -> Option<Result<Vec<u8>, DeadLetter>> {
        loop {
            match self.next_line()? {
                Ok(_) => {}
                Err(e) => {
                    return Some(Err(DeadLetter {
                        origin: origin.to_string(),
                        line: self.line + 1,
                        offset: self.offset,
                        reason: format!("read error: {e}"),
                        payload: Vec::new(),
                    }))
                }
            }
            let line = &self.buf[..self.end];
            if let Some(len) = self.oversized {
                let payload = line[..line.len().min(OVERSIZED_PAYLOAD_BYTES)].to_vec();
                return Some(Err(DeadLetter {
                    origin: origin.to_string(),
                    line: self.line,
                    offset: self.offset,
                    reason: format!(
                        "line of {len} bytes is longer than the limit of {} bytes (max_line_bytes); payload cut to its first {} bytes",
                        self.max_line,
                        payload.len()
                    ),
                    payload,
                }));
            }
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

    /// Regression (issue 18): `run --input DIR` read a LICENSE file as logs (166 capsules stamped
    /// with the wall clock).
    #[test]
    fn a_directory_yields_its_telemetry_files_and_names_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let w = |name: &str, text: &[u8]| std::fs::write(dir.path().join(name), text).unwrap();
        w("LICENSE", b"MIT License\n\nCopyright (c) 2026\n");
        w("README.md", b"# notes\nsee the runbook\n");
        w("blob.bin", b"\x00\x01\x02");
        w("events.jsonl", b"{\"service\":\"s\",\"timestamp_ms\":1,\"body\":\"a\"}\n");
        w("app.txt", b"2025-01-01T00:00:00Z INFO started\n");
        w("worker.log.1", b"no timestamp here\n");
        let TelemetryInputs { files: taken, left_out: skipped } =
            telemetry_inputs(dir.path(), &OpenOptions::default()).unwrap();
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        assert_eq!(names(taken), ["app.txt", "events.jsonl", "worker.log.1"]);
        assert_eq!(names(skipped.into_iter().map(|(p, _)| p).collect()), ["LICENSE", "README.md", "blob.bin"]);
        let events: Vec<_> = open_path(dir.path(), &OpenOptions::default()).unwrap().collect();
        assert_eq!(events.iter().filter(|e| e.is_ok()).count(), 3);
        // Named explicitly, a file is read whatever it holds.
        let TelemetryInputs { files: taken, left_out: skipped } =
            telemetry_inputs(&dir.path().join("LICENSE"), &OpenOptions::default()).unwrap();
        assert_eq!((taken.len(), skipped.len()), (1, 0));
        // A log format makes its header count as a timestamp-less log's signature.
        let opts = OpenOptions { log_format: Some("<Level>: <Content>".into()), ..Default::default() };
        w("svc", b"INFO: started\n");
        let taken = telemetry_inputs(dir.path(), &opts).unwrap().files;
        assert!(taken.iter().any(|p| p.ends_with("svc")), "{taken:?}");
    }

    /// Regression (issue 17, defect 13): every file of a directory was opened before the first
    /// was read ("Too many open files" at 1,100 files).
    #[test]
    fn files_are_opened_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            std::fs::write(
                dir.path().join(format!("{i}.jsonl")),
                format!("{{\"service\":\"s\",\"timestamp_ms\":{},\"body\":\"a\"}}\n", 1000 + i),
            )
            .unwrap();
        }
        let mut source = open_path(dir.path(), &OpenOptions::default()).unwrap();
        assert!(source.next().unwrap().is_ok());
        // Files not reached yet are not open: removing one now makes it a dead letter, not a loss.
        std::fs::remove_file(dir.path().join("2.jsonl")).unwrap();
        let rest: Vec<_> = source.collect();
        assert_eq!(rest.len(), 2);
        let dead = rest[1].as_ref().unwrap_err();
        assert!(dead.reason.starts_with("cannot open"), "{}", dead.reason);
    }

    /// Regression (issue 17, defect 8): a 50 MB line was held whole (2.4 GB for JSON lines). A
    /// line over the limit is a dead letter with its length, at most 4 KiB of it kept, and the
    /// lines after it read normally, with their own line numbers and offsets.
    #[test]
    fn a_line_over_the_limit_is_a_dead_letter_and_is_not_buffered() {
        let ok = b"{\"service\":\"s\",\"timestamp_ms\":1000,\"body\":\"a\"}\n".to_vec();
        let mut data = ok.clone();
        let long_at = data.len() as u64;
        data.extend(std::iter::repeat_n(b'x', 5_000_000));
        data.extend_from_slice(b"\r\n");
        data.extend_from_slice(&ok);
        let mut exact = vec![b'y'; 1000];
        exact.push(b'\n');
        for max in [1000usize, 64] {
            let mut r =
                jsonl::JsonLinesReader::new(BufReader::with_capacity(64, std::io::Cursor::new(data.clone())), "mem");
            r.set_max_line_bytes(max);
            let items: Vec<_> = r.collect();
            assert_eq!(items.len(), 3);
            let dead = items[1].as_ref().unwrap_err();
            assert_eq!((dead.line, dead.offset), (2, long_at));
            assert!(dead.reason.contains("line of 5000001 bytes is longer than the limit"), "{}", dead.reason);
            assert!(dead.payload.len() <= 4096);
            assert!(items[2].is_ok());
            // The cursor's buffer never grew with the long line.
            let mut c = LineCursor::new(BufReader::with_capacity(64, std::io::Cursor::new(data.clone())));
            c.set_max_line(max);
            while c.next_line().is_some() {
                assert!(c.buf.capacity() < 4 * max + 256, "{}", c.buf.capacity());
            }
        }
        // A line of exactly the limit is taken.
        let mut c = LineCursor::new(std::io::Cursor::new(exact));
        c.set_max_line(1000);
        assert_eq!(c.next_line().unwrap().unwrap().len(), 1000);
        assert_eq!(c.oversized, None);
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
