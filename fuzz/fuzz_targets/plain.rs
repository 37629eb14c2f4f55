//! Plain-text logs with a Loghub header format (`PlainTextReader`, `LogFormat::parse`).
//!
//! The input's first line is the format (e.g. `<Date> <Time> <Level>: <Content>`; a format that
//! does not compile means "no format"), the rest is the log. A format line of odd length runs
//! with `set_max_line_bytes(256)`, the others with the default limit.
//!
//! Contract checked: every non-blank log line yields exactly one item, in line order (an event's
//! id is `origin:line`), and a blank one none unless it is over the line limit; a dead letter
//! names its origin, line and that line's offset and gives a reason; an event carries the
//! reader's service and environment, and a line the format does not split (or every line, when
//! there is no format) is kept whole as the body.
#![no_main]

use std::io::Cursor;

#[path = "common/lines.rs"]
mod lines;

use libfuzzer_sys::fuzz_target;
use lines::{is_blank, trimmed};
use slo_dataflow::event::EventKind;
use slo_dataflow::source::log_format::LogFormat;
use slo_dataflow::source::plain::PlainTextReader;

/// Not a file, so the reader's fallback time (a file's modification time) is 0.
const ORIGIN: &str = "<fuzz>";
const SMALL_MAX: usize = 256;



fuzz_target!(|data: &[u8]| {
    let (format_line, log) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let format = LogFormat::parse(&String::from_utf8_lossy(format_line)).ok();
    let has_format = format.is_some();
    let small = format_line.len() % 2 == 1;
    let max = if small { SMALL_MAX } else { slo_dataflow::source::DEFAULT_MAX_LINE_BYTES };

    // (offset, text without '\n') of each line of the log.
    let mut lines = Vec::new();
    let mut offset = 0;
    for text in log.split(|b| *b == b'\n') {
        if offset >= log.len() {
            break;
        }
        lines.push((offset, text));
        offset += text.len() + 1;
    }
    let non_blank = lines.iter().filter(|(_, t)| !is_blank(t)).count();
    let overlong_blank = lines.iter().filter(|(_, t)| is_blank(t) && t.len() > max).count();

    let mut reader = PlainTextReader::new(Cursor::new(log), ORIGIN, format, "svc".into(), "env".into());
    if small {
        reader.set_max_line_bytes(SMALL_MAX);
    }
    let mut items = 0usize;
    let mut last_line = 0u64;
    for item in reader {
        items += 1;
        assert!(items <= non_blank + overlong_blank, "more items than lines that can yield one");
        let line_no = match &item {
            Ok(event) => {
                let (origin, n) = event.event_id.rsplit_once(':').expect("event id is origin:line");
                assert_eq!(origin, ORIGIN);
                n.parse::<u64>().expect("event id ends in the line number")
            }
            Err(dead) => dead.line,
        };
        assert!(line_no > last_line, "item of line {line_no} after line {last_line}");
        last_line = line_no;
        let &(line_offset, text) = lines.get(line_no as usize - 1).expect("an item names a line past the end");
        match item {
            Ok(event) => {
                assert_eq!((event.service.as_str(), event.environment.as_str()), ("svc", "env"));
                assert_eq!(event.kind, EventKind::Log);
                let unmatched = event.attributes.get("slo.header").is_some_and(|v| v == "unmatched");
                if !has_format || unmatched {
                    let line = std::str::from_utf8(trimmed(text)).expect("an event from invalid UTF-8");
                    assert_eq!(event.body, line, "line {line_no} not kept whole");
                }
            }
            Err(dead) => {
                assert_eq!(dead.origin, ORIGIN);
                assert!(!dead.reason.is_empty(), "a dead letter without a reason");
                assert_eq!(dead.offset as usize, line_offset, "dead letter of line {line_no} at the wrong offset");
                assert!(dead.payload.len() <= text.len(), "dead letter payload longer than its line");
            }
        }
    }
    assert!(items >= non_blank, "{items} items for {non_blank} non-blank lines");
});
