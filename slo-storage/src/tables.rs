//! Arrow schemas of the store's tables and conversions from the event model.
//!
//! Files are laid out Hive-style, `TABLE/service=S/date=YYYY-MM-DD/*.parquet`; `service` and
//! `date` live in the path (partition columns), not in the files, so DuckDB, Spark, pandas and
//! DataFusion all read them unchanged with Hive partitioning.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float32Builder, Float64Array, Int32Array, Int64Array, ListBuilder, RecordBatch,
    StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use slo_dataflow::event::{Capsule, CapsuleSample, EventKind, EventTime, SpanStatus, TelemetryEvent};

use crate::error::StorageError;

/// The tables of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    /// One row per capsule (fingerprint, service, environment, window start).
    Capsules,
    /// One row per span.
    Spans,
    /// Per journey per minute: requests, errors, latency percentiles.
    SliMinutes,
    /// Metric data points.
    MetricPoints,
    /// Optional archive of raw (redacted) events.
    RawEvents,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 5] =
        [Table::Capsules, Table::Spans, Table::SliMinutes, Table::MetricPoints, Table::RawEvents];

    /// Directory / SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Capsules => "capsules",
            Table::Spans => "spans",
            Table::SliMinutes => "sli_minutes",
            Table::MetricPoints => "metric_points",
            Table::RawEvents => "raw_events",
        }
    }

    /// Parses a table name.
    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The file schema (without the `service` and `date` partition columns).
    pub fn schema(self) -> SchemaRef {
        let ts = || DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let s = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let fields = match self {
            Table::Capsules => vec![
                s("capsule_id", false),
                s("fingerprint", false),
                s("template", false),
                s("environment", false),
                Field::new("window_start", ts(), false),
                Field::new("window_end", ts(), false),
                Field::new("count", DataType::Int64, false),
                Field::new("error_count", DataType::Int64, false),
                s("severity_counts", false),
                Field::new("first_seen", ts(), false),
                Field::new("last_seen", ts(), false),
                s("samples", false),
                s("sample_trace_ids", false),
                Field::new("redaction_applied", DataType::Boolean, false),
                s("redaction_counts", false),
                Field::new("embedding", DataType::List(Arc::new(Field::new("item", DataType::Float32, true))), true),
            ],
            Table::Spans => vec![
                s("trace_id", false),
                s("span_id", false),
                s("parent_span_id", true),
                s("operation", true),
                s("environment", false),
                Field::new("start", ts(), false),
                Field::new("duration_us", DataType::Int64, true),
                s("status", true),
                s("http_method", true),
                s("http_route", true),
                Field::new("http_status", DataType::Int32, true),
                s("attributes", false),
            ],
            Table::SliMinutes => vec![
                s("journey", false),
                Field::new("minute", ts(), false),
                Field::new("requests", DataType::Int64, false),
                Field::new("errors", DataType::Int64, false),
                Field::new("p50_ms", DataType::Float64, true),
                Field::new("p90_ms", DataType::Float64, true),
                Field::new("p95_ms", DataType::Float64, true),
                Field::new("p99_ms", DataType::Float64, true),
                Field::new("p999_ms", DataType::Float64, true),
            ],
            Table::MetricPoints => vec![
                s("event_id", false),
                s("name", false),
                s("environment", false),
                Field::new("timestamp", ts(), false),
                Field::new("value", DataType::Float64, true),
                s("labels", false),
            ],
            Table::RawEvents => vec![
                s("event_id", false),
                s("kind", false),
                s("environment", false),
                Field::new("timestamp", ts(), false),
                s("event", false),
            ],
        };
        Arc::new(Schema::new(fields))
    }

    /// Default retention in days: raw 7, capsules and spans 90, aggregates one year.
    pub fn default_retention_days(self) -> u64 {
        match self {
            Table::RawEvents => 7,
            Table::Capsules | Table::Spans | Table::MetricPoints => 90,
            Table::SliMinutes => 365,
        }
    }
}

/// UTC date (`YYYY-MM-DD`) of an event time: the `date` partition.
pub fn date_of(t: EventTime) -> String {
    chrono::DateTime::from_timestamp_millis(t as i64)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

fn ms(t: EventTime) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn utc(a: TimestampMillisecondArray) -> ArrayRef {
    Arc::new(a.with_timezone("UTC"))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Converts capsules (all of one partition) into a record batch.
pub fn capsules_to_batch(capsules: &[Capsule]) -> Result<RecordBatch, StorageError> {
    let strings = |f: &dyn Fn(&Capsule) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(capsules.iter().map(f)))
    };
    let times = |f: &dyn Fn(&Capsule) -> EventTime| {
        utc(TimestampMillisecondArray::from_iter_values(capsules.iter().map(|c| ms(f(c)))))
    };
    let mut embedding = ListBuilder::new(Float32Builder::new());
    for c in capsules {
        match &c.embedding {
            Some(v) => {
                embedding.values().append_slice(v);
                embedding.append(true);
            }
            None => embedding.append(false),
        }
    }
    let columns: Vec<ArrayRef> = vec![
        strings(&|c| c.capsule_id()),
        strings(&|c| c.fingerprint.clone()),
        strings(&|c| c.template.clone()),
        strings(&|c| c.environment.clone()),
        times(&|c| c.window_start_ms),
        times(&|c| c.window_end_ms),
        Arc::new(Int64Array::from_iter_values(capsules.iter().map(|c| c.count as i64))),
        Arc::new(Int64Array::from_iter_values(capsules.iter().map(|c| {
            (c.severity_counts.get("ERROR").copied().unwrap_or(0)
                + c.severity_counts.get("FATAL").copied().unwrap_or(0)) as i64
        }))),
        strings(&|c| json(&c.severity_counts)),
        times(&|c| c.first_seen_ms),
        times(&|c| c.last_seen_ms),
        strings(&|c| json(&c.samples)),
        strings(&|c| c.samples.iter().filter_map(|s| s.trace_id.clone()).collect::<Vec<_>>().join(",")),
        Arc::new(BooleanArray::from_iter(capsules.iter().map(|c| Some(c.redaction_applied)))),
        strings(&|c| json(&c.redaction_counts)),
        Arc::new(embedding.finish()),
    ];
    Ok(RecordBatch::try_new(Table::Capsules.schema(), columns)?)
}

fn col<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, StorageError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| StorageError::Schema(format!("column {name} missing or of the wrong type")))
}

/// Converts a capsules record batch back (service comes from the partition).
pub fn batch_to_capsules(batch: &RecordBatch, service: &str) -> Result<Vec<Capsule>, StorageError> {
    let s = |name| col::<StringArray>(batch, name);
    let t = |name| col::<TimestampMillisecondArray>(batch, name);
    let (fp, tpl, env, sev, samples, red) = (
        s("fingerprint")?,
        s("template")?,
        s("environment")?,
        s("severity_counts")?,
        s("samples")?,
        s("redaction_counts")?,
    );
    let (ws, we, first, last) = (t("window_start")?, t("window_end")?, t("first_seen")?, t("last_seen")?);
    let count = col::<Int64Array>(batch, "count")?;
    let applied = col::<BooleanArray>(batch, "redaction_applied")?;
    let emb = batch
        .column_by_name("embedding")
        .and_then(|c| c.as_any().downcast_ref::<arrow::array::ListArray>())
        .ok_or_else(|| StorageError::Schema("column embedding missing".into()))?;
    let bad = |what: &str| StorageError::Schema(format!("invalid JSON in column {what}"));
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let embedding = if emb.is_null(i) {
            None
        } else {
            let v = emb.value(i);
            let f = v
                .as_any()
                .downcast_ref::<arrow::array::Float32Array>()
                .ok_or_else(|| StorageError::Schema("embedding is not float32".into()))?;
            Some(f.values().to_vec())
        };
        out.push(Capsule {
            fingerprint: fp.value(i).to_string(),
            template: tpl.value(i).to_string(),
            service: service.to_string(),
            environment: env.value(i).to_string(),
            window_start_ms: ws.value(i) as u64,
            window_end_ms: we.value(i) as u64,
            count: count.value(i) as u64,
            severity_counts: serde_json::from_str::<BTreeMap<String, u64>>(sev.value(i))
                .map_err(|_| bad("severity_counts"))?,
            first_seen_ms: first.value(i) as u64,
            last_seen_ms: last.value(i) as u64,
            samples: serde_json::from_str::<Vec<CapsuleSample>>(samples.value(i)).map_err(|_| bad("samples"))?,
            redaction_applied: applied.value(i),
            redaction_counts: serde_json::from_str::<BTreeMap<String, u64>>(red.value(i))
                .map_err(|_| bad("redaction_counts"))?,
            embedding,
        });
    }
    Ok(out)
}

/// Converts span events into a record batch (non-span events are skipped).
pub fn spans_to_batch(spans: &[&TelemetryEvent]) -> Result<RecordBatch, StorageError> {
    // Borrowed strings all the way: no per-row allocation but the attributes' JSON.
    let opt = |f: &dyn Fn(&TelemetryEvent) -> Option<&str>| -> ArrayRef {
        Arc::new(StringArray::from_iter(spans.iter().map(|e| f(e))))
    };
    let req = |f: &dyn Fn(&TelemetryEvent) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(spans.iter().map(|e| f(e))))
    };
    let columns: Vec<ArrayRef> = vec![
        req(&|e| e.trace_id.as_deref().unwrap_or_default()),
        req(&|e| e.span_id.as_deref().unwrap_or(&e.event_id)),
        opt(&|e| e.parent_span_id.as_deref()),
        opt(&|e| e.operation.as_deref()),
        req(&|e| &e.environment),
        utc(TimestampMillisecondArray::from_iter_values(spans.iter().map(|e| ms(e.timestamp_ms)))),
        Arc::new(Int64Array::from_iter(spans.iter().map(|e| e.duration_us.map(|d| d as i64)))),
        opt(&|e| e.status.map(status_name)),
        opt(&|e| e.http_method.as_deref()),
        opt(&|e| e.http_route.as_deref()),
        Arc::new(Int32Array::from_iter(spans.iter().map(|e| e.http_status.map(i32::from)))),
        Arc::new(StringArray::from_iter_values(spans.iter().map(|e| attributes_json(&e.attributes)))),
    ];
    Ok(RecordBatch::try_new(Table::Spans.schema(), columns)?)
}

/// The stored name of a span status (`ok`, `error`, `unset`).
fn status_name(s: SpanStatus) -> &'static str {
    match s {
        SpanStatus::Ok => "ok",
        SpanStatus::Error => "error",
        SpanStatus::Unset => "unset",
    }
}

fn attributes_json(a: &BTreeMap<String, String>) -> std::borrow::Cow<'static, str> {
    if a.is_empty() {
        std::borrow::Cow::Borrowed("{}")
    } else {
        std::borrow::Cow::Owned(json(a))
    }
}

/// Converts metric points into a record batch.
pub fn metrics_to_batch(points: &[&TelemetryEvent]) -> Result<RecordBatch, StorageError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(points.iter().map(|e| e.event_id.clone()))),
        Arc::new(StringArray::from_iter_values(points.iter().map(|e| e.metric_name.clone().unwrap_or_default()))),
        Arc::new(StringArray::from_iter_values(points.iter().map(|e| e.environment.clone()))),
        utc(TimestampMillisecondArray::from_iter_values(points.iter().map(|e| ms(e.timestamp_ms)))),
        Arc::new(Float64Array::from_iter(points.iter().map(|e| e.metric_value))),
        Arc::new(StringArray::from_iter_values(points.iter().map(|e| json(&e.metric_labels)))),
    ];
    Ok(RecordBatch::try_new(Table::MetricPoints.schema(), columns)?)
}

/// Converts (redacted) events into raw-archive rows.
pub fn raw_to_batch(events: &[&TelemetryEvent]) -> Result<RecordBatch, StorageError> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.event_id.clone()))),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.kind.as_str().to_string()))),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.environment.clone()))),
        utc(TimestampMillisecondArray::from_iter_values(events.iter().map(|e| ms(e.timestamp_ms)))),
        Arc::new(StringArray::from_iter_values(events.iter().map(json))),
    ];
    Ok(RecordBatch::try_new(Table::RawEvents.schema(), columns)?)
}

/// Key columns that identify a row, for idempotent writes and de-duplication.
pub fn key_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Capsules => &["capsule_id"],
        Table::Spans => &["trace_id", "span_id"],
        Table::SliMinutes => &["journey", "minute"],
        Table::MetricPoints | Table::RawEvents => &["event_id"],
    }
}

/// Whether an event belongs in the spans table.
pub fn is_span(e: &TelemetryEvent) -> bool {
    e.kind == EventKind::Span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capsule(fp: &str, start: EventTime, embedding: Option<Vec<f32>>) -> Capsule {
        Capsule {
            fingerprint: fp.into(),
            template: "user <*> logged in".into(),
            service: "auth".into(),
            environment: "prod".into(),
            window_start_ms: start,
            window_end_ms: start + 3_600_000,
            count: 7,
            severity_counts: BTreeMap::from([("ERROR".into(), 2), ("INFO".into(), 5)]),
            first_seen_ms: start + 1,
            last_seen_ms: start + 99,
            samples: vec![CapsuleSample {
                event_id: "e".into(),
                timestamp_ms: start + 1,
                body: "user <USER> logged in".into(),
                trace_id: Some("t1".into()),
                severity: None,
            }],
            redaction_applied: true,
            redaction_counts: BTreeMap::from([("USERNAME".into(), 7)]),
            embedding,
        }
    }

    #[test]
    fn capsules_round_trip_through_arrow() {
        let capsules = vec![capsule("a", 0, Some(vec![0.5, -0.25])), capsule("b", 3_600_000, None)];
        let batch = capsules_to_batch(&capsules).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let error_count = col::<Int64Array>(&batch, "error_count").unwrap();
        assert_eq!(error_count.value(0), 2);
        assert_eq!(batch_to_capsules(&batch, "auth").unwrap(), capsules);
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(date_of(1_735_689_600_000), "2025-01-01");
        assert_eq!(date_of(1_735_689_599_999), "2024-12-31");
    }
}
