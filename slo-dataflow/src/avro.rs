//! Avro codecs for the Kafka topics: `raw-telemetry` ([`TelemetryEvent`]) and `capsule-events`
//! ([`Capsule`]), in Avro *single-object encoding* (`C3 01` + 8-byte CRC-64-AVRO schema
//! fingerprint + datum), so a reader can reject bytes written with an unknown schema.
//!
//! The schemas live in `schemas/*.avsc` at the repository root and are compiled in.

use apache_avro::headers::{HeaderBuilder, RabinFingerprintHeader};
use apache_avro::{from_value, GenericSingleObjectReader, Schema};
use serde::{de::DeserializeOwned, Serialize};

use crate::event::{Capsule, TelemetryEvent};

/// The `TelemetryEvent` Avro schema (JSON text).
pub const TELEMETRY_EVENT_SCHEMA: &str = include_str!("../../schemas/TelemetryEvent.avsc");
/// The `CapsuleEvent` Avro schema (JSON text).
pub const CAPSULE_EVENT_SCHEMA: &str = include_str!("../../schemas/CapsuleEvent.avsc");

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum AvroCodecError {
    /// The schema text did not parse (a bug: schemas are compiled in).
    #[error("invalid Avro schema: {0}")]
    Schema(String),
    /// The bytes do not start with the single-object marker and this schema's fingerprint.
    #[error("unknown schema or not single-object encoded: {0}")]
    UnknownSchema(String),
    /// The bytes carry the right header but the datum does not decode.
    #[error("malformed Avro datum: {0}")]
    Malformed(String),
    /// The value does not fit the schema.
    #[error("cannot encode record: {0}")]
    Encode(String),
}

/// Encodes and decodes one record type in single-object encoding.
pub struct AvroCodec<T> {
    schema: Schema,
    reader: GenericSingleObjectReader,
    header: Vec<u8>,
    _marker: std::marker::PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> AvroCodec<T> {
    /// A codec for the given schema text.
    pub fn new(schema_json: &str) -> Result<Self, AvroCodecError> {
        let schema = Schema::parse_str(schema_json).map_err(|e| AvroCodecError::Schema(e.to_string()))?;
        let reader = GenericSingleObjectReader::builder()
            .schema(schema.clone())
            .build()
            .map_err(|e| AvroCodecError::Schema(e.to_string()))?;
        let header = RabinFingerprintHeader::from_schema(&schema).build_header();
        Ok(AvroCodec { schema, reader, header, _marker: std::marker::PhantomData })
    }

    /// The parsed schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The 10-byte single-object header (marker + schema fingerprint).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Encodes a record.
    pub fn encode(&self, record: &T) -> Result<Vec<u8>, AvroCodecError> {
        // Through JSON: apache-avro's serde encodes u64 as `fixed(8)`, while our schemas (like
        // every Avro consumer) expect `long`; the JSON value converts numbers to long/double and
        // `resolve` then fits ints, enums, unions and records to the schema.
        let json = serde_json::to_value(record).map_err(|e| AvroCodecError::Encode(e.to_string()))?;
        let value = json_to_avro(json);
        let value = value.resolve(&self.schema).map_err(|e| AvroCodecError::Encode(e.to_string()))?;
        let mut out = self.header.clone();
        // The replacement (`GenericDatumWriter`) is not in every 0.2x release; keep the stable call.
        #[allow(deprecated)]
        let datum =
            apache_avro::to_avro_datum(&self.schema, value).map_err(|e| AvroCodecError::Encode(e.to_string()))?;
        out.extend_from_slice(&datum);
        Ok(out)
    }

    /// Decodes a record, checking the header first so foreign bytes get a precise reason.
    pub fn decode(&self, bytes: &[u8]) -> Result<T, AvroCodecError> {
        if bytes.len() < self.header.len() || bytes[..2] != self.header[..2] {
            return Err(AvroCodecError::UnknownSchema("missing single-object marker C3 01".into()));
        }
        if bytes[..self.header.len()] != self.header[..] {
            return Err(AvroCodecError::UnknownSchema(format!(
                "schema fingerprint {} is not this schema's {}",
                hex::encode(&bytes[2..10]),
                hex::encode(&self.header[2..10])
            )));
        }
        let mut cursor = bytes;
        let value = self.reader.read_value(&mut cursor).map_err(|e| AvroCodecError::Malformed(e.to_string()))?;
        if !cursor.is_empty() {
            return Err(AvroCodecError::Malformed(format!("{} trailing bytes after the datum", cursor.len())));
        }
        // NaN and ±infinity have no JSON form, so such a record could not be written on (the
        // encoder goes through JSON) and would change on a round trip: refuse it here.
        if has_non_finite(&value) {
            return Err(AvroCodecError::Malformed("a float is NaN or infinite".into()));
        }
        from_value::<T>(&value).map_err(|e| AvroCodecError::Malformed(e.to_string()))
    }
}

/// Whether an Avro value holds a NaN or infinite float anywhere.
fn has_non_finite(value: &apache_avro::types::Value) -> bool {
    use apache_avro::types::Value as A;
    match value {
        A::Float(f) => !f.is_finite(),
        A::Double(d) => !d.is_finite(),
        A::Union(_, inner) => has_non_finite(inner),
        A::Array(items) => items.iter().any(has_non_finite),
        A::Map(m) => m.values().any(has_non_finite),
        A::Record(fields) => fields.iter().any(|(_, v)| has_non_finite(v)),
        _ => false,
    }
}

fn json_to_avro(json: serde_json::Value) -> apache_avro::types::Value {
    use apache_avro::types::Value as A;
    use serde_json::Value as J;
    match json {
        J::Null => A::Null,
        J::Bool(b) => A::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => A::Long(i),
            None => A::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => A::String(s),
        J::Array(items) => A::Array(items.into_iter().map(json_to_avro).collect()),
        J::Object(map) => A::Map(map.into_iter().map(|(k, v)| (k, json_to_avro(v))).collect()),
    }
}

/// Codec for the `raw-telemetry` topic.
pub fn telemetry_codec() -> Result<AvroCodec<TelemetryEvent>, AvroCodecError> {
    AvroCodec::new(TELEMETRY_EVENT_SCHEMA)
}

/// Codec for the `capsule-events` topic.
pub fn capsule_codec() -> Result<AvroCodec<Capsule>, AvroCodecError> {
    AvroCodec::new(CAPSULE_EVENT_SCHEMA)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::{CapsuleSample, EventKind, Severity, SpanStatus};

    fn span() -> TelemetryEvent {
        TelemetryEvent {
            event_id: "e-1".into(),
            service: "checkout".into(),
            environment: "prod".into(),
            kind: EventKind::Span,
            timestamp_ms: 1_700_000_000_123,
            severity: Some(Severity::Warn),
            body: "charge card".into(),
            attributes: BTreeMap::from([("k".to_string(), "v".to_string())]),
            trace_id: Some("0af7651916cd43dd8448eb211c80319c".into()),
            span_id: Some("b7ad6b7169203331".into()),
            parent_span_id: None,
            operation: Some("POST /charge".into()),
            duration_us: Some(12_345),
            status: Some(SpanStatus::Error),
            http_method: Some("POST".into()),
            http_route: Some("/charge".into()),
            http_status: Some(502),
            metric_name: None,
            metric_value: Some(1.5),
            metric_labels: BTreeMap::new(),
        }
    }

    #[test]
    fn telemetry_event_round_trips() {
        let codec = telemetry_codec().unwrap();
        for event in [span(), TelemetryEvent::log("x", "s", 5, None, "hello")] {
            let bytes = codec.encode(&event).unwrap();
            assert_eq!(&bytes[..2], &[0xC3, 0x01]);
            assert_eq!(codec.decode(&bytes).unwrap(), event);
        }
    }

    #[test]
    fn capsule_round_trips() {
        let codec = capsule_codec().unwrap();
        let capsule = Capsule {
            fingerprint: "f".repeat(64),
            template: "user <*> logged in".into(),
            service: "auth".into(),
            environment: "prod".into(),
            window_start_ms: 0,
            window_end_ms: 3_600_000,
            count: 42,
            severity_counts: BTreeMap::from([("INFO".to_string(), 42)]),
            first_seen_ms: 1,
            last_seen_ms: 99,
            samples: vec![CapsuleSample {
                event_id: "a".into(),
                timestamp_ms: 1,
                body: "user <USER> logged in".into(),
                trace_id: None,
                severity: Some(Severity::Info),
            }],
            redaction_applied: true,
            redaction_counts: BTreeMap::from([("USERNAME".to_string(), 42)]),
            embedding: Some(vec![0.25, -0.5]),
        };
        let bytes = codec.encode(&capsule).unwrap();
        assert_eq!(codec.decode(&bytes).unwrap(), capsule);
    }

    #[test]
    fn foreign_and_broken_bytes_get_precise_errors() {
        let events = telemetry_codec().unwrap();
        let capsules = capsule_codec().unwrap();
        let capsule_bytes = {
            let mut b = capsules.header().to_vec();
            b.push(0);
            b
        };
        assert!(matches!(events.decode(b"{\"json\":1}"), Err(AvroCodecError::UnknownSchema(_))));
        assert!(matches!(events.decode(&capsule_bytes), Err(AvroCodecError::UnknownSchema(_))));
        let mut truncated = events.encode(&span()).unwrap();
        truncated.truncate(truncated.len() - 5);
        assert!(matches!(events.decode(&truncated), Err(AvroCodecError::Malformed(_))));
    }

    /// Regression (fuzzing, issue 17): a datum with an infinite metric value decoded, but the
    /// value could not be encoded again (JSON has no infinity). Such records are refused.
    #[test]
    fn non_finite_floats_are_refused_on_decode() {
        let codec = telemetry_codec().unwrap();
        let fuzzed = hex::decode(
            "c301d4773bc5b27886d206652d3110636865636b6f75740870726f64040a00000000000000000000000002026d02000000000000f07f00",
        )
        .unwrap();
        let err = codec.decode(&fuzzed).unwrap_err();
        assert!(err.to_string().contains("NaN or infinite"), "{err}");
        let ok = codec.encode(&span()).unwrap();
        assert_eq!(codec.decode(&ok).unwrap(), span());
    }
}
