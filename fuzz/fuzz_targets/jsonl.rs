//! JSON lines of `TelemetryEvent` (`JsonLinesReader`).
//!
//! Contract checked: every non-blank line yields exactly one item and a blank line none (unless
//! it is longer than the line limit: then it is an oversized dead letter), so
//! `non-blank lines <= items <= non-blank + overlong blank lines`; items come in line order; a
//! dead letter names its origin, its 1-based line and that line's byte offset, gives a reason and
//! keeps the line (or, for an overlong one, at most its first `min(limit, 4096)` bytes) as its
//! payload; an event has an id, a service, an environment and a non-zero time.
//!
//! An input whose first byte is even runs with `set_max_line_bytes(256)`, the others with the
//! default limit (1 MiB).
#![no_main]

use std::io::Cursor;

#[path = "common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use lines::{is_blank, trimmed};
use slo_dataflow::source::jsonl::JsonLinesReader;

const ORIGIN: &str = "fuzz";
const SMALL_MAX: usize = 256;

/// One line of the input as the line cursor sees it.
struct Line<'a> {
    offset: usize,
    /// Without its `\n`.
    text: &'a [u8],
}

fn lines(data: &[u8]) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for text in data.split(|b| *b == b'\n') {
        if offset >= data.len() {
            break; // the empty piece after a final newline is no line
        }
        out.push(Line { offset, text });
        offset += text.len() + 1;
    }
    out
}



fuzz_target!(|data: &[u8]| {
    let small = data.first().is_some_and(|b| b % 2 == 0);
    let max = if small { SMALL_MAX } else { slo_dataflow::source::DEFAULT_MAX_LINE_BYTES };
    let mut reader = JsonLinesReader::new(Cursor::new(data), ORIGIN);
    if small {
        reader.set_max_line_bytes(SMALL_MAX);
    }
    let lines = lines(data);
    let non_blank = lines.iter().filter(|l| !is_blank(l.text)).count();
    let overlong_blank = lines.iter().filter(|l| is_blank(l.text) && l.text.len() > max).count();

    let mut items = 0usize;
    let mut last_line = 0u64;
    for item in reader {
        items += 1;
        assert!(items <= non_blank + overlong_blank, "more items than lines that can yield one");
        match item {
            Ok(event) => {
                assert_ne!(event.timestamp_ms, 0, "an event without a time");
                assert!(!event.event_id.is_empty(), "an event without an id");
                assert!(!event.service.is_empty(), "an event without a service");
                assert!(!event.environment.is_empty(), "an event without an environment");
            }
            Err(dead) => {
                assert_eq!(dead.origin, ORIGIN);
                assert!(!dead.reason.is_empty(), "a dead letter without a reason");
                assert!(dead.line > last_line, "dead letter line {} after line {last_line}", dead.line);
                last_line = dead.line;
                let line = lines.get(dead.line as usize - 1).expect("dead letter names a line past the end");
                assert_eq!(dead.offset as usize, line.offset, "dead letter of line {} at the wrong offset", dead.line);
                let text = trimmed(line.text);
                if dead.reason.starts_with("line of ") {
                    // Oversized: a prefix of the line, bounded.
                    assert!(dead.payload.len() <= max.min(4096), "oversized payload of {} bytes", dead.payload.len());
                    assert!(line.text.starts_with(&dead.payload), "oversized payload is not the line's start");
                } else {
                    assert!(text.len() <= max, "a line over the limit was parsed");
                    assert_eq!(dead.payload, text, "dead letter payload is not the line");
                }
            }
        }
    }
    assert!(items >= non_blank, "{items} items for {non_blank} non-blank lines");
});
