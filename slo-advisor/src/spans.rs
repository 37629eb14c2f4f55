//! Readers of the span model ([`crate::span`], re-exported here): telemetry events, the store's
//! `spans` table, and Nezha-style span CSV tables.
//!
//! The Nezha layout (`../shared/datasets/nezha/*/trace/*.csv`) is
//! `TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration`,
//! with `Duration` in microseconds and `ParentID` = `root` for root spans. It carries no status,
//! so spans read from it have [`ErrorSource::None`] until a [`crate::fallback`] decides them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use arrow::array::{Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};
use slo_dataflow::event::{EventKind, TelemetryEvent};
use slo_dataflow::source::{open_path, OpenOptions};
use slo_storage::catalog::Catalog;
use slo_storage::Store;

use crate::error::AdvisorError;
use crate::fallback::ErrorLogs;
pub use crate::span::{error_signal, ErrorSource, Span};
use crate::sql::{sql_quote, status_of, string_column, typed_column};

/// The spans among `events` (other kinds are skipped).
pub fn from_events(events: &[TelemetryEvent]) -> Vec<Span> {
    events.iter().filter_map(Span::from_event).collect()
}

/// The span of `event` as the store's `spans` table gives it back (its service as its partition
/// directory names it, no operation when the event has neither an operation nor a route), so a
/// span taken from the stream and one read from the store are equal; `None` for other kinds and
/// spans without a trace id.
pub fn as_stored(event: &TelemetryEvent) -> Option<Span> {
    let mut span = Span::from_event(event)?;
    if event.operation.is_none() && event.http_route.is_none() {
        span.operation = String::new();
    }
    if let std::borrow::Cow::Owned(s) = slo_storage::store::partition_value(&event.service) {
        span.service = s;
    }
    Some(span)
}

/// The service name of a Kubernetes pod name: the Deployment pod suffix
/// (`-<replicaset hash>-<5 chars>`), a DaemonSet suffix (`-<5 chars>`) or a StatefulSet ordinal
/// (`-0`) is removed; `frontend-579b9bff58-t2dbm` → `frontend`. Names without such a suffix are
/// returned unchanged.
pub fn service_from_pod(pod: &str) -> String {
    let parts: Vec<&str> = pod.split('-').collect();
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let has_digit = |s: &str| s.bytes().any(|b| b.is_ascii_digit());
    let n = parts.len();
    let keep = if n >= 3
        && parts[n - 1].len() == 5
        && alnum(parts[n - 1])
        && (6..=10).contains(&parts[n - 2].len())
        && alnum(parts[n - 2])
        && has_digit(parts[n - 2])
    {
        n - 2
    } else if n >= 2
        && ((parts[n - 1].len() == 5 && alnum(parts[n - 1]) && has_digit(parts[n - 1]))
            || (parts[n - 1].bytes().all(|b| b.is_ascii_digit()) && !parts[n - 1].is_empty()))
    {
        // a DaemonSet suffix or a StatefulSet ordinal
        n - 1
    } else {
        n
    };
    parts[..keep].join("-")
}

/// Header of the Nezha span tables.
pub const NEZHA_HEADER: &str =
    "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration";

fn has_nezha_header(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else { return false };
    let mut line = String::new();
    if BufReader::new(f).read_line(&mut line).is_err() {
        return false;
    }
    line.trim_start_matches('\u{feff}').trim_end().starts_with(NEZHA_HEADER)
}

fn csv_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "csv") && has_nezha_header(p))
        .collect();
    out.sort();
    out
}

/// The Nezha span tables at `path`, if it holds that layout: a `.csv` file with the Nezha
/// header, a directory of such files, a directory with `trace/*.csv`, or a directory whose
/// subdirectories have `trace/*.csv`. `None` when the layout is not there.
pub fn detect_nezha(path: &Path) -> Option<Vec<PathBuf>> {
    if path.is_file() {
        return has_nezha_header(path).then(|| vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return None;
    }
    let mut files = csv_files(&path.join("trace"));
    if files.is_empty() {
        files = csv_files(path);
    }
    if files.is_empty() {
        let mut subdirs: Vec<PathBuf> =
            std::fs::read_dir(path).ok()?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        subdirs.sort();
        for d in subdirs {
            files.extend(csv_files(&d.join("trace")));
        }
    }
    (!files.is_empty()).then_some(files)
}

/// What reading span tables skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReport {
    /// Files read.
    pub files: usize,
    /// Spans read.
    pub spans: usize,
    /// Rows or records skipped as malformed (or events that were not spans).
    pub skipped: usize,
}

/// Parses one Nezha CSV row; `None` when malformed.
pub fn parse_nezha_row(line: &str) -> Option<Span> {
    let fields: Vec<&str> = line.split(',').collect();
    if fields.len() < 8 {
        return None;
    }
    let n = fields.len();
    // An operation name containing commas: everything between the pod and the three numbers.
    let operation = if n == 8 { fields[4].to_string() } else { fields[4..n - 3].join(",") };
    let start_ns: u64 = fields[n - 3].trim().parse().ok()?;
    let end_ns: Option<u64> = fields[n - 2].trim().parse().ok();
    let duration_us = match fields[n - 1].trim().parse::<u64>() {
        Ok(d) => d,
        Err(_) => end_ns?.checked_sub(start_ns)? / 1000,
    };
    let trace_id = fields[0].trim();
    let span_id = fields[1].trim();
    if trace_id.is_empty() || span_id.is_empty() {
        return None;
    }
    let parent = fields[2].trim();
    Some(Span {
        trace_id: trace_id.to_string(),
        span_id: span_id.to_string(),
        parent: (!parent.is_empty() && parent != "root").then(|| parent.to_string()),
        service: service_from_pod(fields[3].trim()),
        operation: operation.trim().to_string(),
        start_ms: start_ns / 1_000_000,
        duration_us,
        error: false,
        error_source: ErrorSource::None,
        http_route: None,
    })
}

/// Reads Nezha span tables. Malformed rows are counted in the report, never fatal.
pub fn read_nezha(files: &[PathBuf]) -> Result<(Vec<Span>, ReadReport), AdvisorError> {
    let mut spans = Vec::new();
    let mut report = ReadReport::default();
    for path in files {
        let f = std::fs::File::open(path).map_err(AdvisorError::io(path))?;
        // Rows as bytes: a row that is not UTF-8 is a bad row (skipped, counted), not a failed read.
        let mut lines = BufReader::new(f).split(b'\n');
        match lines.next() {
            Some(Ok(h)) if String::from_utf8_lossy(&h).trim_start_matches('\u{feff}').starts_with(NEZHA_HEADER) => {}
            _ => {
                return Err(AdvisorError::Layout {
                    path: path.clone(),
                    reason: format!("expected the header {NEZHA_HEADER}"),
                })
            }
        }
        for line in lines {
            let line = line.map_err(AdvisorError::io(path))?;
            let Ok(line) = std::str::from_utf8(&line) else {
                report.skipped += 1;
                continue;
            };
            if line.trim().is_empty() {
                continue;
            }
            match parse_nezha_row(line.trim_end_matches('\r')) {
                Some(s) => spans.push(s),
                None => report.skipped += 1,
            }
        }
        report.files += 1;
    }
    report.spans = spans.len();
    Ok((spans, report))
}

/// Reads spans from a file or directory: Nezha span tables when [`detect_nezha`] finds them,
/// otherwise every file through the event readers (JSON lines, OTLP/JSON), keeping span events.
pub fn read_path(path: &Path) -> Result<(Vec<Span>, ReadReport), AdvisorError> {
    let (spans, _, report) = read_path_with_logs(path)?;
    Ok((spans, report))
}

/// Like [`read_path`], also collecting the error logs of the same files (linked to spans by
/// trace id, for spans without a status; see [`crate::fallback`]). Nezha span tables hold no
/// logs: the [`ErrorLogs`] are then empty.
pub fn read_path_with_logs(path: &Path) -> Result<(Vec<Span>, ErrorLogs, ReadReport), AdvisorError> {
    let mut logs = ErrorLogs::new(ErrorSource::LogTraceIds);
    if !path.exists() {
        return Err(AdvisorError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    if let Some(files) = detect_nezha(path) {
        let (spans, report) = read_nezha(&files)?;
        return Ok((spans, logs, report));
    }
    let files = slo_dataflow::source::telemetry_inputs(path, &OpenOptions::default())?.files.len();
    let mut report = ReadReport { files, ..Default::default() };
    let mut spans = Vec::new();
    for item in open_path(path, &OpenOptions::default())? {
        match item {
            Ok(e) if e.kind == EventKind::Span => match Span::from_event(&e) {
                Some(s) => spans.push(s),
                None => report.skipped += 1,
            },
            Ok(e) => logs.observe(&e),
            Err(_) => report.skipped += 1,
        }
    }
    report.spans = spans.len();
    Ok((spans, logs, report))
}

/// Converts rows of the store's `spans` table (with the `service` partition column) to spans.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<Span>, AdvisorError> {
    let service = string_column(batch, "service")?;
    from_rows(batch, |i| (!service.is_null(i)).then(|| service.value(i).to_string()))
}

/// Converts the rows of one file of the `spans` table ([`Store::read_table_file`]), whose
/// service is its partition's (`service`).
pub fn from_file_batch(batch: &RecordBatch, service: &str) -> Result<Vec<Span>, AdvisorError> {
    from_rows(batch, |_| Some(service.to_string()))
}

fn from_rows(batch: &RecordBatch, service_of: impl Fn(usize) -> Option<String>) -> Result<Vec<Span>, AdvisorError> {
    let trace = string_column(batch, "trace_id")?;
    let span = string_column(batch, "span_id")?;
    let parent = string_column(batch, "parent_span_id")?;
    let op = string_column(batch, "operation")?;
    let status = string_column(batch, "status")?;
    let route = string_column(batch, "http_route")?;
    let start: TimestampMillisecondArray =
        typed_column(batch, "start", &DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None))?;
    let dur: Int64Array = typed_column(batch, "duration_us", &DataType::Int64)?;
    let http: Int32Array = typed_column(batch, "http_status", &DataType::Int32)?;
    let get = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let Some(trace_id) = get(&trace, i).filter(|t| !t.is_empty()) else { continue };
        let st = get(&status, i).and_then(|s| status_of(&s));
        let hs = (!http.is_null(i)).then(|| u16::try_from(http.value(i)).ok()).flatten();
        let (error, error_source) = error_signal(st, hs);
        out.push(Span {
            trace_id,
            span_id: get(&span, i).unwrap_or_default(),
            parent: get(&parent, i).filter(|p| !p.is_empty()),
            service: service_of(i).unwrap_or_default(),
            operation: get(&op, i).or_else(|| get(&route, i)).unwrap_or_default(),
            start_ms: if start.is_null(i) { 0 } else { start.value(i).max(0) as u64 },
            duration_us: if dur.is_null(i) { 0 } else { dur.value(i).max(0) as u64 },
            error,
            error_source,
            http_route: get(&route, i),
        });
    }
    Ok(out)
}

/// Reads spans from the store's `spans` table with DataFusion SQL. With `service`, only the
/// traces that touch that service are read (whole traces, so journeys stay complete). Files that
/// cannot be read are left out with a warning naming them.
pub async fn from_store(store: &Store, service: Option<&str>) -> Result<Vec<Span>, AdvisorError> {
    if store.list_files(slo_storage::tables::Table::Spans).await?.is_empty() {
        return Ok(Vec::new());
    }
    let catalog = Catalog::open(store, None)?;
    let cols = "trace_id, span_id, parent_span_id, operation, CAST(service AS VARCHAR) AS service, start, duration_us, status, http_route, http_status";
    let sql = match service {
        Some(s) => format!(
            "SELECT {cols} FROM spans WHERE trace_id IN (SELECT trace_id FROM spans WHERE CAST(service AS VARCHAR) = {})",
            sql_quote(s)
        ),
        None => format!("SELECT {cols} FROM spans"),
    };
    // One corrupt file must not hide every other span: it is left out, loudly.
    let result = catalog.query_skipping(&sql).await?;
    for (path, why) in &result.skipped {
        tracing::warn!(file = %path, reason = %why, "unreadable span file left out of the analysis");
    }
    let mut out = Vec::new();
    for b in &result.batches {
        out.extend(from_batch(b)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slo_dataflow::event::SpanStatus;

    #[test]
    fn pod_names_lose_their_suffix() {
        assert_eq!(service_from_pod("frontend-579b9bff58-t2dbm"), "frontend");
        assert_eq!(service_from_pod("productcatalogservice-668d5f85fb-wckp8"), "productcatalogservice");
        assert_eq!(service_from_pod("currencyservice-cf787dd48-vpjrd"), "currencyservice");
        assert_eq!(service_from_pod("redis-cart-0"), "redis-cart");
        assert_eq!(service_from_pod("node-exporter-x7k2p"), "node-exporter");
        assert_eq!(service_from_pod("checkout"), "checkout");
        assert_eq!(service_from_pod("order-service"), "order-service");
        assert_eq!(service_from_pod(""), "");
    }

    #[test]
    fn nezha_rows_parse_and_bad_rows_are_skipped() {
        let s = parse_nezha_row("t1,s1,root,frontend-579b9bff58-t2dbm,hipstershop.Frontend/Recv.,1661140374351773094,1661140374362982609,11209").unwrap();
        assert_eq!(s.parent, None);
        assert_eq!(s.service, "frontend");
        assert_eq!(s.start_ms, 1661140374351);
        assert_eq!(s.duration_us, 11209);
        assert_eq!(s.error_source, ErrorSource::None);
        let c = parse_nezha_row("t1,s2,s1,cart-579f59597d-wc2lz,a,b,1000000,3000000,").unwrap();
        assert_eq!(c.operation, "a,b");
        assert_eq!(c.duration_us, 2000);
        assert!(parse_nezha_row("garbage").is_none());
        assert!(parse_nezha_row("t,s,p,pod,op,notanumber,1,1").is_none());
    }

    #[test]
    fn nezha_layout_is_detected_in_all_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let trace = dir.path().join("case1").join("trace");
        std::fs::create_dir_all(&trace).unwrap();
        let mut body = format!(
            "{NEZHA_HEADER}\nt1,s1,root,frontend-579b9bff58-t2dbm,Recv,1000000000,1002000000,2000\r\nbad row\n"
        )
        .into_bytes();
        body.extend_from_slice(b"t2,s1,root,frontend-579b9bff58-t2dbm,Recv\xff,1000000000,1002000000,2000\n");
        std::fs::write(trace.join("a.csv"), &body).unwrap();
        std::fs::write(trace.join("notes.txt"), "x").unwrap();
        assert_eq!(detect_nezha(dir.path()).unwrap().len(), 1);
        assert_eq!(detect_nezha(&dir.path().join("case1")).unwrap().len(), 1);
        assert_eq!(detect_nezha(&trace).unwrap().len(), 1);
        assert_eq!(detect_nezha(&trace.join("a.csv")).unwrap().len(), 1);
        assert!(detect_nezha(&trace.join("notes.txt")).is_none());
        let (spans, report) = read_path(dir.path()).unwrap();
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].duration_us, 2000, "CRLF line ends are fine");
        assert_eq!(report.skipped, 2, "a garbage row and a row that is not UTF-8");
        assert!(read_path(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn error_signal_prefers_span_status() {
        assert_eq!(error_signal(Some(SpanStatus::Error), None), (true, ErrorSource::SpanStatus));
        assert_eq!(error_signal(Some(SpanStatus::Ok), Some(503)), (true, ErrorSource::SpanStatus));
        assert_eq!(error_signal(None, Some(404)), (false, ErrorSource::HttpStatus));
        assert_eq!(error_signal(None, Some(500)), (true, ErrorSource::HttpStatus));
        assert_eq!(error_signal(None, None), (false, ErrorSource::None));
    }

    #[tokio::test]
    async fn spans_round_trip_through_the_store() {
        let (events, _) = slo_dataflow::synthetic::generate(&slo_dataflow::synthetic::SyntheticConfig {
            requests: 50,
            ..Default::default()
        });
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert!(from_store(&store, None).await.unwrap().is_empty());
        store.write_events(&events, false).await.unwrap();
        let mut direct = from_events(&events);
        let mut stored = from_store(&store, None).await.unwrap();
        let key = |s: &Span| (s.trace_id.clone(), s.span_id.clone());
        direct.sort_by_key(key);
        stored.sort_by_key(key);
        assert_eq!(direct, stored);
        let auth = from_store(&store, Some("auth")).await.unwrap();
        assert!(!auth.is_empty() && auth.len() < stored.len());
        assert!(auth.iter().any(|s| s.service == "frontend"));
    }
}
