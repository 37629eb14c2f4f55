//! SLIs per journey: requests, errors, availability, latency percentiles (p50, p90, p95, p99,
//! p99.9, from a mergeable [`DdSketch`] per journey per minute) and throughput, plus the rows of
//! the store's `sli_minutes` table.
//!
//! A request is a trace; its latency is the root span's duration and it failed when the root
//! span failed (span status `ERROR` or HTTP 5xx; for spans without either, error logs linked by
//! trace id or a configured rule — see [`ErrorSource`] and [`crate::fallback`]). Each journey's
//! SLI says which signal its error ratio came from; with [`ErrorSource::None`] (e.g. Nezha
//! traces, which carry no status, with no logs or rule) the availability is 100 % by
//! construction and says nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use serde::{Deserialize, Serialize};
use slo_dataflow::time::MINUTE_MS;
use slo_storage::tables::Table;
use slo_storage::{StorageError, Store, UpsertRows};

use crate::error::AdvisorError;
use crate::journeys::{Discovery, Request};
use crate::sketch::DdSketch;
use crate::span::ErrorSource;

/// The percentiles every SLI reports.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// Latency percentiles, ms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
}

impl Percentiles {
    /// The percentiles of a sketch (zeros when empty).
    pub fn of(s: &DdSketch) -> Percentiles {
        let q = |q| s.quantile(q).unwrap_or(0.0);
        Percentiles { p50_ms: q(0.5), p90_ms: q(0.9), p95_ms: q(0.95), p99_ms: q(0.99), p999_ms: q(0.999) }
    }

    /// As an array in [`QUANTILES`] order.
    pub fn as_array(&self) -> [f64; 5] {
        [self.p50_ms, self.p90_ms, self.p95_ms, self.p99_ms, self.p999_ms]
    }
}

/// One journey in one minute (a row of `sli_minutes`, plus derived fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliMinute {
    /// Journey name.
    pub journey: String,
    /// Entry service of the journey (the `service` partition of `sli_minutes`).
    pub service: String,
    /// Minute start, ms since epoch.
    pub minute_ms: u64,
    /// Requests started in the minute.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// `1 - errors / requests`.
    pub availability: f64,
    /// Latency percentiles, ms.
    #[serde(flatten)]
    pub latency: Percentiles,
    /// Requests per second over the minute.
    pub throughput_rps: f64,
}

/// A journey's SLIs over the whole period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JourneySli {
    /// Journey name.
    pub journey: String,
    /// Entry service.
    pub service: String,
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// `1 - errors / requests`.
    pub availability: f64,
    /// Which signal the error count came from.
    pub error_source: ErrorSource,
    /// Latency percentiles over the period (merged minute sketches), ms.
    #[serde(flatten)]
    pub latency: Percentiles,
    /// Mean requests per second over the minutes with traffic.
    pub mean_throughput_rps: f64,
    /// Busiest minute's requests per second.
    pub peak_throughput_rps: f64,
    /// Minutes with traffic.
    pub minutes: usize,
    /// First minute with traffic, ms since epoch.
    pub first_minute_ms: u64,
    /// Last minute with traffic, ms since epoch.
    pub last_minute_ms: u64,
}

/// SLIs of every journey.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Slis {
    /// Per journey per minute, by journey rank then minute.
    pub minutes: Vec<SliMinute>,
    /// Per journey, in journey rank order.
    pub journeys: Vec<JourneySli>,
}

/// Per-minute latency sketches (ms) and error counts of `requests`, keyed by
/// `(journey index, minute start)`.
pub fn minute_sketches<'a>(requests: impl IntoIterator<Item = &'a Request>) -> BTreeMap<(usize, u64), (DdSketch, u64)> {
    let mut out: BTreeMap<(usize, u64), (DdSketch, u64)> = BTreeMap::new();
    for r in requests {
        let minute = r.start_ms - r.start_ms % MINUTE_MS;
        let e = out.entry((r.journey, minute)).or_default();
        r.add_latencies_to(&mut e.0);
        e.1 += if r.error { r.count } else { 0 };
    }
    out
}

/// Computes the SLIs of every journey of a discovery.
pub fn compute(d: &Discovery) -> Slis {
    let sketches = minute_sketches(&d.requests);
    let mut minutes = Vec::with_capacity(sketches.len());
    let mut per_journey: Vec<(DdSketch, u64, u64, usize, f64, u64, u64)> =
        vec![(DdSketch::default(), 0, 0, 0, 0.0, u64::MAX, 0); d.journeys.len()];
    for ((ji, minute), (sketch, errors)) in &sketches {
        let j = &d.journeys[*ji];
        let requests = sketch.count();
        minutes.push(SliMinute {
            journey: j.name.clone(),
            service: j.entry_service.clone(),
            minute_ms: *minute,
            requests,
            errors: *errors,
            availability: 1.0 - *errors as f64 / requests.max(1) as f64,
            latency: Percentiles::of(sketch),
            throughput_rps: requests as f64 / 60.0,
        });
        let acc = &mut per_journey[*ji];
        acc.0.merge(sketch);
        acc.1 += requests;
        acc.2 += errors;
        acc.3 += 1;
        acc.4 = acc.4.max(requests as f64 / 60.0);
        acc.5 = acc.5.min(*minute);
        acc.6 = acc.6.max(*minute);
    }
    let journeys = d
        .journeys
        .iter()
        .zip(per_journey)
        .map(|(j, (sketch, requests, errors, n, peak, first, last))| JourneySli {
            journey: j.name.clone(),
            service: j.entry_service.clone(),
            requests,
            errors,
            availability: 1.0 - errors as f64 / requests.max(1) as f64,
            error_source: j.error_source,
            latency: Percentiles::of(&sketch),
            mean_throughput_rps: requests as f64 / (60.0 * n.max(1) as f64),
            peak_throughput_rps: peak,
            minutes: n,
            first_minute_ms: if n == 0 { 0 } else { first },
            last_minute_ms: last,
        })
        .collect();
    Slis { minutes, journeys }
}

/// The rows as a record batch in the `sli_minutes` schema (without the `service`/`date`
/// partition columns).
pub fn to_batch(rows: &[SliMinute]) -> Result<RecordBatch, StorageError> {
    let p = |f: &dyn Fn(&Percentiles) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| (r.requests > 0).then(|| f(&r.latency)))))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.journey.as_str()))),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| i64::try_from(r.minute_ms).unwrap_or(i64::MAX)),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.requests as i64))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.errors as i64))),
        p(&|l| l.p50_ms),
        p(&|l| l.p90_ms),
        p(&|l| l.p95_ms),
        p(&|l| l.p99_ms),
        p(&|l| l.p999_ms),
    ];
    Ok(RecordBatch::try_new(Table::SliMinutes.schema(), columns)?)
}

/// Reads `sli_minutes` rows back from a record batch (`service` is the partition's).
pub fn from_batch(batch: &RecordBatch, service: &str) -> Result<Vec<SliMinute>, StorageError> {
    let bad = |c: &str| StorageError::Schema(format!("sli_minutes: column {c} missing or mistyped"));
    let journey = batch
        .column_by_name("journey")
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| bad("journey"))?;
    let minute = batch
        .column_by_name("minute")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .ok_or_else(|| bad("minute"))?;
    let int =
        |c: &str| batch.column_by_name(c).and_then(|a| a.as_any().downcast_ref::<Int64Array>()).ok_or_else(|| bad(c));
    let float =
        |c: &str| batch.column_by_name(c).and_then(|a| a.as_any().downcast_ref::<Float64Array>()).ok_or_else(|| bad(c));
    let (req, err) = (int("requests")?, int("errors")?);
    let ps = [float("p50_ms")?, float("p90_ms")?, float("p95_ms")?, float("p99_ms")?, float("p999_ms")?];
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let v = |a: &Float64Array| if a.is_null(i) { 0.0 } else { a.value(i) };
        let requests = req.value(i).max(0) as u64;
        let errors = err.value(i).max(0) as u64;
        out.push(SliMinute {
            journey: journey.value(i).to_string(),
            service: service.to_string(),
            minute_ms: minute.value(i).max(0) as u64,
            requests,
            errors,
            availability: 1.0 - errors as f64 / requests.max(1) as f64,
            latency: Percentiles {
                p50_ms: v(ps[0]),
                p90_ms: v(ps[1]),
                p95_ms: v(ps[2]),
                p99_ms: v(ps[3]),
                p999_ms: v(ps[4]),
            },
            throughput_rps: requests as f64 / 60.0,
        });
    }
    Ok(out)
}

/// Upserts rows into the store's `sli_minutes` table ([`Store::upsert`]: one file per
/// `(service, date)` partition and writer, merged by `(journey, minute)` with the rows already
/// there, the new row winning). Returns the number of files written.
pub async fn write_to_store(store: &Store, rows: &[SliMinute]) -> Result<usize, AdvisorError> {
    Ok(store.upsert(rows).await?)
}

impl UpsertRows for SliMinute {
    const TABLE: Table = Table::SliMinutes;
    type Key = (String, u64);
    fn service(&self) -> &str {
        &self.service
    }
    fn time_ms(&self) -> u64 {
        self.minute_ms
    }
    fn key(&self) -> (String, u64) {
        (self.journey.clone(), self.minute_ms)
    }
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, StorageError> {
        to_batch(rows)
    }
    fn from_batch(batch: &RecordBatch, service: &str) -> Result<Vec<Self>, StorageError> {
        from_batch(batch, service)
    }
}

/// Reads every row of the store's `sli_minutes` table.
pub async fn read_from_store(store: &Store) -> Result<Vec<SliMinute>, AdvisorError> {
    let mut out = Vec::new();
    for (f, b) in store.read_table(Table::SliMinutes).await? {
        out.extend(from_batch(&b, &f.service)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journeys::{discover, JourneyConfig};
    use crate::spans::from_events;
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    #[test]
    fn slis_match_exact_values_on_generated_data() {
        let (events, truth) = generate(&SyntheticConfig { requests: 20_000, mean_gap_ms: 50, ..Default::default() });
        let spans = from_events(&events);
        let d = discover(&spans, &JourneyConfig::default());
        let slis = compute(&d);
        assert_eq!(slis.journeys.len(), 5);
        // No generic root here: a journey's requests are the root spans of its entry operation,
        // read from the spans themselves (the discovery's requests are rolled up).
        assert!(d.generic_roots.is_empty());
        for (j, sli) in d.journeys.iter().zip(&slis.journeys) {
            assert_eq!(sli.journey, j.name);
            assert_eq!((sli.requests, sli.errors), (j.requests, j.errors));
            assert_eq!(sli.error_source, ErrorSource::SpanStatus);
            let roots: Vec<&crate::spans::Span> = crate::journeys::trace_roots(&spans)
                .into_iter()
                .filter(|s| s.service == j.entry_service && s.operation == j.entry_operation)
                .collect();
            let mut lat: Vec<f64> = roots.iter().map(|r| r.duration_us as f64 / 1000.0).collect();
            lat.sort_by(|a, b| a.total_cmp(b));
            for (q, got) in QUANTILES.iter().zip(sli.latency.as_array()) {
                let e = exact(&lat, *q);
                assert!((got - e).abs() / e <= 0.01 + 1e-9, "{} q={q}: exact {e} sketch {got}", j.name);
            }
            // Per-minute rows also match exact per-minute percentiles.
            for m in slis.minutes.iter().filter(|m| m.journey == j.name).take(20) {
                let mut l: Vec<f64> = roots
                    .iter()
                    .filter(|r| r.start_ms - r.start_ms % MINUTE_MS == m.minute_ms)
                    .map(|r| r.duration_us as f64 / 1000.0)
                    .collect();
                l.sort_by(|a, b| a.total_cmp(b));
                assert_eq!(l.len() as u64, m.requests);
                for (q, got) in QUANTILES.iter().zip(m.latency.as_array()) {
                    let e = exact(&l, *q);
                    assert!((got - e).abs() / e <= 0.01 + 1e-9);
                }
            }
        }
        let total: u64 = slis.minutes.iter().map(|m| m.requests).sum();
        assert_eq!(total, 20_000);
        let errors: u64 = slis.minutes.iter().map(|m| m.errors).sum();
        assert_eq!(errors, truth.journeys.values().map(|(_, e)| e).sum::<u64>());
    }

    #[tokio::test]
    async fn rows_round_trip_and_upsert_in_the_store() {
        let (events, _) = generate(&SyntheticConfig { requests: 500, ..Default::default() });
        let d = discover(&from_events(&events), &JourneyConfig::default());
        let slis = compute(&d);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let files = write_to_store(&store, &slis.minutes).await.unwrap();
        assert!(files >= 1);
        write_to_store(&store, &slis.minutes).await.unwrap();
        let back = read_from_store(&store).await.unwrap();
        assert_eq!(back.len(), slis.minutes.len());
        let catalog = slo_storage::catalog::Catalog::open(&store, None).unwrap();
        let got = catalog.query("SELECT SUM(requests) AS n FROM sli_minutes").await.unwrap();
        let n = got[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
        assert_eq!(n, 500);
    }

    /// `replace_partition` leaves exactly the rows given (a renamed journey leaves nothing under
    /// its old name), deletes the file for no rows, and refuses rows of another partition.
    #[tokio::test]
    async fn replacing_a_partition_keeps_exactly_the_rows_given() {
        let (events, _) = generate(&SyntheticConfig { requests: 300, ..Default::default() });
        let slis = compute(&discover(&from_events(&events), &JourneyConfig::default()));
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap().with_writer_id("live-test");
        let first = &slis.minutes[0];
        let (service, date) = (first.service.clone(), slo_storage::tables::date_of(first.minute_ms));
        let part: Vec<SliMinute> = slis
            .minutes
            .iter()
            .filter(|r| r.service == service && slo_storage::tables::date_of(r.minute_ms) == date)
            .cloned()
            .collect();
        store.replace_partition(&service, &date, &part).await.unwrap();
        assert_eq!(read_from_store(&store).await.unwrap().len(), part.len());
        let renamed: Vec<SliMinute> =
            part.iter().map(|r| SliMinute { journey: format!("{} (renamed)", r.journey), ..r.clone() }).collect();
        store.replace_partition(&service, &date, &renamed).await.unwrap();
        let back = read_from_store(&store).await.unwrap();
        assert_eq!(back.len(), part.len());
        assert!(back.iter().all(|r| r.journey.ends_with("(renamed)")));
        store.replace_partition::<SliMinute>(&service, &date, &[]).await.unwrap();
        assert!(read_from_store(&store).await.unwrap().is_empty());
        store.replace_partition::<SliMinute>(&service, &date, &[]).await.unwrap(); // absent: fine
        let other = SliMinute { service: format!("{service}-other"), ..part[0].clone() };
        assert!(store.replace_partition(&service, &date, &[other]).await.is_err());
    }
}
