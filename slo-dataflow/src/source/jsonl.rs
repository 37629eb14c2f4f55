//! JSON lines of [`TelemetryEvent`] (the format the synthetic generator writes).
//!
//! Lenient where it is safe: `timestamp_ms` may also be given as `timestamp` (RFC 3339 string or
//! epoch number), a missing `event_id` is derived from the origin and line number, and a missing
//! `service` becomes `unknown`. A record without any usable timestamp is a dead letter.

use std::io::BufRead;

use serde_json::Value;

use super::{DeadLetter, LineCursor, SourceItem};
use crate::event::TelemetryEvent;
use crate::time::{current_year, parse_timestamp};

/// Reads one JSON object per line.
pub struct JsonLinesReader<R> {
    cursor: LineCursor<R>,
    origin: String,
    year: i32,
}

impl<R: BufRead> JsonLinesReader<R> {
    /// Sets the longest line taken, in bytes (default
    /// [`DEFAULT_MAX_LINE_BYTES`](crate::source::DEFAULT_MAX_LINE_BYTES)); a longer line is a
    /// dead letter.
    pub fn set_max_line_bytes(&mut self, bytes: usize) {
        self.cursor.set_max_line(bytes);
    }

    /// A reader over `reader`; `origin` names the input in dead letters.
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        JsonLinesReader { cursor: LineCursor::new(reader), origin: origin.into(), year: current_year() }
    }
}

/// Parses one JSON line into an event; `Err` holds the reason (never the content).
pub fn parse_event_json(line: &[u8], default_id: &str, year: i32) -> Result<TelemetryEvent, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let mut value: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = value.as_object_mut().ok_or("not a JSON object")?;
    if !obj.contains_key("timestamp_ms") {
        let ts = match obj.remove("timestamp").or_else(|| obj.remove("ts")).or_else(|| obj.remove("time")) {
            Some(Value::String(s)) => parse_timestamp(&s, year).ok_or("unparsable timestamp")?,
            Some(Value::Number(n)) => parse_timestamp(&n.to_string(), year).ok_or("unparsable timestamp")?,
            _ => return Err("missing timestamp".into()),
        };
        obj.insert("timestamp_ms".into(), Value::from(ts));
    }
    let mut event: TelemetryEvent = serde_json::from_value(value).map_err(|e| format!("not a telemetry event: {e}"))?;
    if event.timestamp_ms == 0 {
        return Err("missing timestamp".into());
    }
    if event.event_id.is_empty() {
        event.event_id = default_id.to_string();
    }
    if event.service.is_empty() {
        event.service = "unknown".into();
    }
    if event.environment.is_empty() {
        event.environment = "prod".into();
    }
    Ok(event)
}

impl<R: BufRead + Send> Iterator for JsonLinesReader<R> {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        let line = match self.cursor.next_record(&self.origin)? {
            Ok(line) => line,
            Err(dead) => return Some(Err(dead)),
        };
        let default_id = format!("{}:{}", self.origin, self.cursor.line);
        Some(parse_event_json(&line, &default_id, self.year).map_err(|reason| DeadLetter {
            origin: self.origin.clone(),
            line: self.cursor.line,
            offset: self.cursor.offset,
            reason,
            payload: line,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_lines_are_reported_and_the_rest_is_read() {
        let input = concat!(
            "{\"event_id\":\"a\",\"service\":\"s\",\"timestamp_ms\":1000,\"body\":\"ok\"}\n",
            "{not json\n",
            "\n",
            "{\"service\":\"s\",\"timestamp\":\"2025-01-01T00:00:00Z\",\"body\":\"derived id\"}\n",
            "{\"service\":\"s\",\"body\":\"no time\"}\n",
            "[1,2]\n",
        );
        let items: Vec<_> = JsonLinesReader::new(input.as_bytes(), "mem").collect();
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].as_ref().unwrap().body, "ok");
        let bad = items[1].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.offset), (2, 63));
        assert!(bad.reason.starts_with("invalid JSON"), "{}", bad.reason);
        let derived = items[2].as_ref().unwrap();
        assert_eq!(derived.event_id, "mem:4");
        assert_eq!(derived.timestamp_ms, 1_735_689_600_000);
        assert_eq!(items[3].as_ref().unwrap_err().reason, "missing timestamp");
        assert_eq!(items[4].as_ref().unwrap_err().reason, "not a JSON object");
    }

    #[test]
    fn invalid_utf8_is_a_dead_letter() {
        let input: &[u8] = b"{\"body\":\"\xff\xfe\"}\n";
        let items: Vec<_> = JsonLinesReader::new(input, "mem").collect();
        assert!(items[0].as_ref().unwrap_err().reason.contains("UTF-8"));
    }
}
