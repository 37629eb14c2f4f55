//! Plain-text log lines, optionally split by a header format in Loghub `log_format` notation
//! (`<Date> <Time> <Level> <Component>: <Content>`).
//!
//! Header fields map onto the event: `Content` → body; `Level`/`Severity` → severity;
//! `Date`/`Time`/`Timestamp`/`Month`/`Day` → event time; everything else → attributes. A line
//! without a parsable timestamp inherits the previous line's (stack traces, continuation lines);
//! before any timestamp is seen it gets the file's modification time and the attribute
//! `slo.timestamp=inferred`. A line that does not match the header format is kept whole as the
//! body (attribute `slo.header=unmatched`), so nothing is lost.

use std::io::BufRead;

use super::log_format::LogFormat;
use super::{DeadLetter, LineCursor, SourceItem};
use crate::event::{EventKind, EventTime, Severity, TelemetryEvent};
use crate::time::{current_year, parse_timestamp};

/// Reads plain-text log lines.
pub struct PlainTextReader<R> {
    cursor: LineCursor<R>,
    origin: String,
    format: Option<LogFormat>,
    service: String,
    environment: String,
    last_time: Option<EventTime>,
    fallback_time: EventTime,
    year: i32,
    /// Records read before the first line with a time, waiting to take that time.
    pending: std::collections::VecDeque<SourceItem>,
    /// Records ready to be returned, in input order.
    ready: std::collections::VecDeque<SourceItem>,
}

/// Lines held back waiting for the first timestamp of a file; beyond it they take the file's
/// modification time (a file whose first thousand lines carry no time has none to give).
const MAX_PENDING_LINES: usize = 1024;

impl<R: BufRead> PlainTextReader<R> {
    /// Sets the longest line taken, in bytes (default
    /// [`DEFAULT_MAX_LINE_BYTES`](crate::source::DEFAULT_MAX_LINE_BYTES)); a longer line is a
    /// dead letter.
    pub fn set_max_line_bytes(&mut self, bytes: usize) {
        self.cursor.set_max_line(bytes);
    }

    /// A reader; `origin` names the input (and, when it is a file, gives the fallback time).
    pub fn new(
        reader: R,
        origin: impl Into<String>,
        format: Option<LogFormat>,
        service: String,
        environment: String,
    ) -> Self {
        let origin = origin.into();
        let fallback_time = std::fs::metadata(&origin)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        PlainTextReader {
            cursor: LineCursor::new(reader),
            origin,
            format,
            service,
            environment,
            last_time: None,
            fallback_time,
            year: current_year(),
            pending: Default::default(),
            ready: Default::default(),
        }
    }

    fn build(&mut self, line: &str) -> TelemetryEvent {
        let mut event = TelemetryEvent {
            event_id: format!("{}:{}", self.origin, self.cursor.line),
            service: self.service.clone(),
            environment: self.environment.clone(),
            kind: EventKind::Log,
            ..Default::default()
        };
        let mut time_parts: Vec<&str> = Vec::new();
        let mut whole_time: Option<&str> = None;
        match self.format.as_ref().map(|f| f.split(line)) {
            Some(Some(fields)) => {
                for (name, value) in fields {
                    match name {
                        "Content" => event.body = value.to_string(),
                        "Level" | "Severity" | "Type" | "State" if event.severity.is_none() => {
                            event.severity = Severity::parse(value);
                            event.attributes.insert(name.to_string(), value.to_string());
                        }
                        "Timestamp" | "Datetime" | "DateTime" => whole_time = Some(value),
                        "Month" | "Date" | "Day" | "Time" => time_parts.push(value),
                        _ => {
                            event.attributes.insert(name.to_string(), value.to_string());
                        }
                    }
                }
            }
            Some(None) => {
                event.body = line.to_string();
                event.attributes.insert("slo.header".into(), "unmatched".into());
            }
            None => event.body = line.to_string(),
        }
        let joined = time_parts.join(" ");
        let parsed = whole_time
            .and_then(|t| parse_timestamp(t, self.year))
            .or_else(|| (!joined.is_empty()).then(|| parse_timestamp(&joined, self.year)).flatten())
            .or_else(|| if self.format.is_none() { leading_timestamp(line, self.year) } else { None });
        event.timestamp_ms = match (parsed, self.last_time) {
            (Some(t), _) => t,
            (None, Some(prev)) => prev,
            (None, None) => {
                event.attributes.insert("slo.timestamp".into(), "inferred".into());
                self.fallback_time
            }
        };
        if parsed.is_some() {
            self.last_time = parsed;
        }
        if event.severity.is_none() && self.format.is_none() {
            event.severity = line.split_whitespace().take(6).find_map(Severity::parse_strict);
        }
        event
    }
}

/// Tries the first one to three whitespace-separated tokens of a header-less line as a timestamp.
pub(crate) fn leading_timestamp(line: &str, year: i32) -> Option<EventTime> {
    let tokens: Vec<&str> = line.split_whitespace().take(3).collect();
    (1..=tokens.len()).rev().find_map(|n| parse_timestamp(&tokens[..n].join(" "), year))
}

impl<R: BufRead + Send> Iterator for PlainTextReader<R> {
    type Item = SourceItem;

    /// Lines without a time take the previous line's; lines before the first time take that
    /// first time (held back, at most [`MAX_PENDING_LINES`]), and only a file with no time in
    /// them takes its modification time. So one header line without a time cannot stamp a
    /// file's events with today's date and make them late.
    fn next(&mut self) -> Option<SourceItem> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            let Some(item) = self.read_one() else {
                // End of input: what still waits has no time to take but the fallback.
                self.ready.append(&mut self.pending);
                return self.ready.pop_front();
            };
            let inferred = matches!(&item, Ok(e) if e.attributes.get("slo.timestamp").is_some_and(|v| v == "inferred"));
            if inferred || (!self.pending.is_empty() && item.is_err()) {
                self.pending.push_back(item);
                if self.pending.len() >= MAX_PENDING_LINES {
                    self.ready.append(&mut self.pending);
                }
                continue;
            }
            if let Ok(e) = &item {
                let t = e.timestamp_ms;
                for waiting in self.pending.iter_mut().flatten() {
                    waiting.timestamp_ms = t;
                    waiting.attributes.insert("slo.timestamp".into(), "next_line".into());
                }
            }
            self.ready.append(&mut self.pending);
            self.ready.push_back(item);
        }
    }
}

impl<R: BufRead + Send> PlainTextReader<R> {
    fn read_one(&mut self) -> Option<SourceItem> {
        let line = match self.cursor.next_record(&self.origin)? {
            Ok(line) => line,
            Err(dead) => return Some(Err(dead)),
        };
        Some(match std::str::from_utf8(&line) {
            Ok(text) => Ok(self.build(text)),
            Err(e) => Err(DeadLetter {
                origin: self.origin.clone(),
                line: self.cursor.line,
                offset: self.cursor.offset,
                reason: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                payload: line,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_headers_and_parses_time_and_level() {
        let fmt = LogFormat::parse("<Date> <Time> <Level> <Component>: <Content>").unwrap();
        let input: &[u8] = b"2025-01-11 00:55:53,331 ERROR db.pool: connection refused\n  at frame 1\n\xff\n";
        let items: Vec<_> = PlainTextReader::new(input, "mem", Some(fmt), "svc".into(), "prod".into()).collect();
        let first = items[0].as_ref().unwrap();
        assert_eq!(first.body, "connection refused");
        assert_eq!(first.severity, Some(Severity::Error));
        assert_eq!(first.timestamp_ms, 1_736_556_953_331);
        assert_eq!(first.attributes["Component"], "db.pool");
        let cont = items[1].as_ref().unwrap();
        assert_eq!(cont.body, "  at frame 1");
        assert_eq!(cont.attributes["slo.header"], "unmatched");
        assert_eq!(cont.timestamp_ms, first.timestamp_ms, "continuation inherits the time");
        let bad = items[2].as_ref().unwrap_err();
        assert_eq!(bad.line, 3);
        assert!(bad.reason.contains("UTF-8"));
    }

    /// Regression (issue 17, defect 5): a log whose first line has no time stamped that line with
    /// the file's modification time (today), dragging the watermark years ahead of the lines
    /// after it (5,905 of 10,000 late).
    #[test]
    fn lines_before_the_first_time_take_that_time_not_the_file_date() {
        let mut input = String::from("=== service log ===\nbanner without a time\n");
        for i in 0..10 {
            input.push_str(&format!("2015-10-18 18:01:{i:02} INFO worker {i} started\n"));
        }
        let items: Vec<_> = PlainTextReader::new(input.as_bytes(), "mem", None, "svc".into(), "prod".into()).collect();
        assert_eq!(items.len(), 12);
        let times: Vec<u64> = items.iter().map(|i| i.as_ref().unwrap().timestamp_ms).collect();
        let first_time = 1_445_191_260_000; // 2015-10-18 18:01:00 UTC
        assert_eq!(&times[..3], &[first_time, first_time, first_time], "in order, the banner takes the first time");
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(items[0].as_ref().unwrap().attributes["slo.timestamp"], "next_line");
        // A text with no time at all keeps the fallback, marked as inferred.
        let items: Vec<_> = PlainTextReader::new(&b"a\nb\n"[..], "mem", None, "svc".into(), "prod".into()).collect();
        assert!(items.iter().all(|i| i.as_ref().unwrap().attributes["slo.timestamp"] == "inferred"));
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn headerless_lines_keep_the_whole_line() {
        let input = "2025-01-11T00:55:53Z WARN disk almost full\n";
        let items: Vec<_> = PlainTextReader::new(input.as_bytes(), "mem", None, "svc".into(), "prod".into()).collect();
        let e = items[0].as_ref().unwrap();
        assert_eq!(e.body, input.trim_end());
        assert_eq!(e.timestamp_ms, 1_736_556_953_000);
        assert_eq!(e.severity, Some(Severity::Warn));
    }
}
