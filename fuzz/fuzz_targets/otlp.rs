//! OTLP/JSON export requests (`OtlpJsonReader`, which parses on a thread of its own).
//!
//! Contract checked: the reader runs to its end without a panic on either thread (a panic on the
//! parsing thread aborts the process: libFuzzer reports it); every dead letter names its origin,
//! gives a reason, and points at a line and byte offset inside the input; every event has an id
//! and is of a kind the request can hold.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use slo_dataflow::event::EventKind;
use slo_dataflow::source::otlp::OtlpJsonReader;

const ORIGIN: &str = "fuzz";

fuzz_target!(|data: &[u8]| {
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    for item in OtlpJsonReader::new(Cursor::new(data.to_vec()), ORIGIN) {
        match item {
            Ok(event) => {
                assert!(!event.event_id.is_empty(), "an event without an id");
                assert!(
                    matches!(event.kind, EventKind::Log | EventKind::Span | EventKind::Metric),
                    "an OTLP event of kind {:?}",
                    event.kind
                );
            }
            Err(dead) => {
                assert_eq!(dead.origin, ORIGIN);
                assert!(!dead.reason.trim().is_empty(), "a dead letter without a reason");
                assert!((1..=lines).contains(&dead.line), "dead letter at line {} of {lines}", dead.line);
                assert!(dead.offset as usize <= data.len(), "dead letter at offset {} of {}", dead.offset, data.len());
            }
        }
    }
});
