//! Avro single-object decoding of the Kafka topics' records (`AvroCodec::decode` for
//! `TelemetryEvent` and `Capsule`).
//!
//! Contract checked: decoding any bytes is `Ok` or `Err` (no panic, no unbounded allocation);
//! bytes that decode re-encode, and the re-encoded bytes decode to the same value.
//!
//! Finding 1 (ROBUSTNESS.md, "Fuzzing"; inputs in `fuzz/regressions/avro/`): a decoded value
//! holding a non-finite float (`metric_value`, an `embedding` element: NaN or ±infinity) did not
//! survive `encode` (it goes through JSON, which has no such numbers). The decoder now refuses
//! such records (`Malformed`), so the target asserts that no decoded value holds one.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use slo_dataflow::avro::{capsule_codec, telemetry_codec, AvroCodec};
use slo_dataflow::{Capsule, TelemetryEvent};

thread_local! {
    static EVENTS: AvroCodec<TelemetryEvent> = telemetry_codec().expect("compiled-in schema");
    static CAPSULES: AvroCodec<Capsule> = capsule_codec().expect("compiled-in schema");
}

fn event_non_finite(e: &TelemetryEvent) -> bool {
    e.metric_value.is_some_and(|v| !v.is_finite())
}

fn capsule_non_finite(c: &Capsule) -> bool {
    c.embedding.iter().flatten().any(|x| !x.is_finite())
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(
    codec: &AvroCodec<T>,
    data: &[u8],
    non_finite: fn(&T) -> bool,
) {
    let Ok(value) = codec.decode(data) else { return };
    assert!(!non_finite(&value), "a decoded value holds a NaN or infinite float: {value:?}");
    let bytes = match codec.encode(&value) {
        Ok(b) => b,
        Err(e) => panic!("a decoded value does not re-encode: {e}\nvalue: {value:?}"),
    };
    let again = match codec.decode(&bytes) {
        Ok(v) => v,
        Err(e) => panic!("a re-encoded value does not decode: {e}\nvalue: {value:?}"),
    };
    assert_eq!(again, value, "the value changed on a round trip");
}

fuzz_target!(|data: &[u8]| {
    EVENTS.with(|codec| round_trip(codec, data, event_non_finite));
    CAPSULES.with(|codec| round_trip(codec, data, capsule_non_finite));
});
