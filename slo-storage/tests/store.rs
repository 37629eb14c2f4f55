//! The store against real Parquet files: a local directory always, and S3 when a local
//! S3-compatible server is configured (`SLO_SCOUT_S3_ENDPOINT`, started by scripts/test.sh).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::{Array, Int64Array, StringArray};
use slo_dataflow::event::{Capsule, CapsuleSample, EventKind, SpanStatus, TelemetryEvent};
use slo_operators::embed::{Embedder, HashingEmbedder};
use slo_storage::catalog::{Catalog, NearestCapsules};
use slo_storage::store::RetentionPolicy;
use slo_storage::tables::Table;
use slo_storage::vector::{VectorIndex, VectorIndexConfig};
use slo_storage::{StorageError, Store};

const DAY: u64 = 86_400_000;
const T0: u64 = 1_735_689_600_000; // 2025-01-01

fn capsule(service: &str, template: &str, start: u64, count: u64) -> Capsule {
    let mut e = HashingEmbedder::new(384);
    let embedding = e.embed_batch(&[template]).unwrap().pop();
    Capsule {
        fingerprint: format!("{:064x}", xxhash_rust::xxh3::xxh3_64(template.as_bytes())),
        template: template.into(),
        service: service.into(),
        environment: "prod".into(),
        window_start_ms: start,
        window_end_ms: start + 3_600_000,
        count,
        severity_counts: BTreeMap::from([("ERROR".into(), count / 2)]),
        first_seen_ms: start,
        last_seen_ms: start + 10,
        samples: vec![CapsuleSample {
            event_id: "e1".into(),
            timestamp_ms: start,
            body: template.into(),
            trace_id: Some("abc".into()),
            severity: None,
        }],
        redaction_applied: false,
        redaction_counts: BTreeMap::new(),
        embedding,
    }
}

fn span(trace: &str, id: &str, service: &str, t: u64, dur_us: u64, error: bool) -> TelemetryEvent {
    TelemetryEvent {
        event_id: format!("{trace}-{id}"),
        service: service.into(),
        environment: "prod".into(),
        kind: EventKind::Span,
        timestamp_ms: t,
        trace_id: Some(trace.into()),
        span_id: Some(id.into()),
        operation: Some("GET /cart".into()),
        duration_us: Some(dur_us),
        status: Some(if error { SpanStatus::Error } else { SpanStatus::Ok }),
        http_status: Some(if error { 503 } else { 200 }),
        ..Default::default()
    }
}

fn int_column(batches: &[arrow::array::RecordBatch], name: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
            (0..c.len()).map(move |i| c.value(i))
        })
        .collect()
}

fn string_column(batches: &[arrow::array::RecordBatch], name: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let col = arrow::compute::cast(b.column_by_name(name).unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
            let c = col.as_any().downcast_ref::<StringArray>().unwrap().clone();
            (0..c.len()).map(move |i| c.value(i).to_string())
        })
        .collect()
}

async fn exercise(store: Store) {
    // Idempotent upserts.
    let a = capsule("cart", "connection refused to database <*>", T0, 10);
    let b = capsule("cart", "user <*> added item <*>", T0, 5);
    let c = capsule("auth", "login failed for <USER>", T0 + DAY, 3);
    store.write_capsules(&[a.clone(), b.clone(), c.clone()]).await.unwrap();
    store.write_capsules(std::slice::from_ref(&a)).await.unwrap();
    let mut a2 = a.clone();
    a2.count = 12;
    store.write_capsules(&[a2.clone()]).await.unwrap();
    let all = store.read_capsules(None).await.unwrap();
    assert_eq!(all.len(), 3, "same key written three times is one row");
    assert_eq!(all.iter().find(|x| x.capsule_id() == a.capsule_id()).unwrap().count, 12);
    assert_eq!(store.list_files(Table::Capsules).await.unwrap().len(), 2, "one file per partition");

    // Spans: replays of the same batch replace the same file; compaction merges and dedupes.
    let spans1: Vec<_> =
        (0..100).map(|i| span("t1", &format!("s{i}"), "cart", T0 + i, 1000 * (i + 1), i % 10 == 0)).collect();
    let spans2: Vec<_> =
        (50..150).map(|i| span("t1", &format!("s{i}"), "cart", T0 + i, 1000 * (i + 1), i % 10 == 0)).collect();
    store.write_events(&spans1, false).await.unwrap();
    store.write_events(&spans1, false).await.unwrap();
    assert_eq!(store.list_files(Table::Spans).await.unwrap().len(), 1);
    store.write_events(&spans2, false).await.unwrap();
    let report = store.compact(Table::Spans).await.unwrap();
    assert_eq!((report.files_written, report.files_removed, report.rows_dropped), (1, 2, 50));
    let rows: usize = store.read_table(Table::Spans).await.unwrap().iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(rows, 150);

    // SQL, with partitions as columns and vector search in a join.
    let mut index = VectorIndex::new(VectorIndexConfig::default()).unwrap();
    for cap in store.read_capsules(None).await.unwrap() {
        index.upsert(&cap.capsule_id(), cap.embedding.as_ref().unwrap()).unwrap();
    }
    let embedder: Box<dyn Embedder> = Box::new(HashingEmbedder::new(384));
    let nearest = NearestCapsules::new(Arc::new(Mutex::new(embedder)), Arc::new(index)).unwrap();
    let catalog = Catalog::open(&store, Some(nearest)).unwrap();
    let counts =
        catalog.query("SELECT service, SUM(count) AS n FROM capsules GROUP BY service ORDER BY service").await.unwrap();
    assert_eq!(string_column(&counts, "service"), vec!["auth", "cart"]);
    assert_eq!(int_column(&counts, "n"), vec![3, 17]);
    let hits = catalog
        .query("SELECT c.template, n.distance FROM nearest_capsules('connection refused to database server', 2) n JOIN capsules c USING (capsule_id) ORDER BY n.distance")
        .await
        .unwrap();
    assert_eq!(string_column(&hits, "template")[0], "connection refused to database <*>");
    let p99 = catalog
        .query("SELECT COUNT(*) AS n, SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors FROM spans WHERE service = 'cart'")
        .await
        .unwrap();
    assert_eq!(int_column(&p99, "n"), vec![150]);
    assert_eq!(int_column(&p99, "errors"), vec![15]);
    for refused in ["CREATE TABLE x (a INT)", "INSERT INTO capsules SELECT * FROM capsules", "DROP TABLE capsules"] {
        match catalog.query(refused).await {
            Err(StorageError::ReadOnly(_)) | Err(StorageError::Sql(_)) => {}
            other => panic!("{refused} was not refused: {other:?}"),
        }
    }

    // Regression: a huge k aborted the process inside usearch. Above the limit it is refused
    // with an error that says so; below it, no more rows than there are vectors.
    let err = catalog.query("SELECT * FROM nearest_capsules('database', 1000000000000)").await.unwrap_err();
    assert!(err.to_string().contains("limit of 10000"), "{err}");
    let all = catalog.query("SELECT capsule_id FROM nearest_capsules('database', 10000)").await.unwrap();
    let rows: usize = all.iter().map(|b| b.num_rows()).sum();
    assert!(rows > 0 && rows <= store.read_capsules(None).await.unwrap().len(), "{rows} rows");

    // Regression: retention days times a day's milliseconds wrapped and deleted every file.
    let forever = RetentionPolicy {
        raw_days: u64::MAX,
        capsules_days: 213_503_982_335,
        spans_days: u64::MAX / 2,
        aggregates_days: u64::MAX,
    };
    let report = store.apply_retention(T0 + 100 * DAY, &forever).await.unwrap();
    assert_eq!(report.files_removed, 0, "a retention beyond the clock keeps everything");

    // Retention with a controlled clock: capsules older than 90 days go, newer stay.
    // A day expires once all of it is older than 90 days: at T0 + 91.5 days, T0's day has,
    // T0 + 1 day has not.
    let now = T0 + 91 * DAY + DAY / 2;
    // A preview reports exactly what the real run deletes, and deletes nothing.
    let before = store.list_files(Table::Capsules).await.unwrap().len();
    let preview = store.preview_retention(now, &RetentionPolicy::default()).await.unwrap();
    assert_eq!(store.list_files(Table::Capsules).await.unwrap().len(), before);
    let report = store.apply_retention(now, &RetentionPolicy::default()).await.unwrap();
    assert_eq!(preview, report);
    let left = store.read_capsules(None).await.unwrap();
    assert_eq!(left.len(), 1, "only the auth capsule (a day newer) survives");
    assert_eq!(report.deleted_capsule_ids.len(), 2);
    assert!(store.list_files(Table::Spans).await.unwrap().is_empty(), "spans of T0 are 90 days old");
}

#[tokio::test]
async fn local_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    exercise(Store::open(dir.path().to_str().unwrap()).unwrap()).await;
}

#[tokio::test]
async fn corrupt_files_are_named_and_leave_the_others_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    store.write_capsules(&[capsule("cart", "a <*>", T0, 1), capsule("auth", "b <*>", T0, 2)]).await.unwrap();
    let files = store.list_files(Table::Capsules).await.unwrap();
    let victim = dir.path().join(files[0].path.as_ref());
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let err = store.read_capsules(None).await.unwrap_err().to_string();
    assert!(err.contains(files[0].path.as_ref()), "error does not name the file: {err}");
    let other = store.read_capsules(Some(&files[1].service)).await.unwrap();
    assert_eq!(other.len(), 1);
    // A file written and then "crashed" mid-write never appears: temporaries are not .parquet.
    std::fs::write(victim.with_extension("parquet#1"), b"partial").unwrap();
    assert_eq!(store.list_files(Table::Capsules).await.unwrap().len(), 2);
}

/// Regression (issue 17, defect 7): a service name longer than 255 bytes became a directory name
/// and failed the whole run (`File name too long`). Hostile names get bounded, distinct
/// directories and every record is kept.
#[tokio::test]
async fn hostile_service_names_get_bounded_partitions_and_keep_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let long_a = "a".repeat(300);
    let long_b = format!("{}b", "a".repeat(299));
    let names = [
        long_a.as_str(),
        long_b.as_str(),
        "../../etc",
        "x/y",
        "svc with spaces",
        ".hidden",
        "支付服务",
        "",
        "checkout",
    ];
    let capsules: Vec<Capsule> = names.iter().map(|n| capsule(n, "t <*>", T0, 3)).collect();
    store.write_capsules(&capsules).await.unwrap();
    store.write_events(&names.iter().map(|n| span("t", n, n, T0, 10, false)).collect::<Vec<_>>(), false).await.unwrap();
    let read = store.read_capsules(None).await.unwrap();
    assert_eq!(read.len(), names.len(), "every record is kept");
    let files = store.list_files(Table::Capsules).await.unwrap();
    let mut services: Vec<&str> = files.iter().map(|f| f.service.as_str()).collect();
    services.dedup();
    assert_eq!(services.len(), names.len(), "distinct names, distinct partitions: {services:?}");
    assert!(services.contains(&"checkout"), "plain names stay as they are: {services:?}");
    assert!(services.iter().any(|s| s.starts_with("svcwithspaces+")), "{services:?}");
    for f in &files {
        assert!(f.service.len() <= 120, "{}", f.service);
        assert!(!f.service.starts_with('.') && !f.service.contains('/'), "{}", f.service);
    }
    // Everything stays under the store's root.
    let root = dir.path().canonicalize().unwrap();
    for f in &files {
        assert!(root.join(f.path.as_ref()).canonicalize().unwrap().starts_with(&root));
    }
    assert_eq!(store.read_capsules(Some(&long_a)).await.unwrap().len(), 1, "found by the name it was written with");
    let spans: usize = store.read_table(Table::Spans).await.unwrap().iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(spans, names.len());
}

/// S3 path against a real S3-compatible server on loopback (moto's server mode, started by
/// scripts/test.sh). Skipped, saying so, when no endpoint is configured; with
/// SLO_SCOUT_REQUIRE_S3=1 a missing endpoint fails.
#[tokio::test]
async fn s3_store_against_a_local_server() {
    let Ok(endpoint) = std::env::var("SLO_SCOUT_S3_ENDPOINT") else {
        assert!(
            std::env::var("SLO_SCOUT_REQUIRE_S3").is_err(),
            "SLO_SCOUT_REQUIRE_S3 set but no SLO_SCOUT_S3_ENDPOINT"
        );
        eprintln!("skipping: SLO_SCOUT_S3_ENDPOINT not set (scripts/test.sh starts a local S3 server)");
        return;
    };
    let bucket = std::env::var("SLO_SCOUT_S3_BUCKET").unwrap_or_else(|_| "slo-scout-test".into());
    let prefix = format!("run-{}", std::process::id());
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    std::env::set_var("AWS_ALLOW_HTTP", "true");
    let store = Store::open(&format!("s3://{bucket}/{prefix}")).unwrap();
    exercise(store).await;
}

#[tokio::test]
async fn retrieval_returns_evidence_filtered_by_service() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let capsules = vec![
        capsule("payment", "payment gateway timeout after <*> ms", T0, 4),
        capsule("payment", "charging card <CREDIT_CARD> amount <*>", T0, 40),
        capsule("cart", "payment gateway timeout after <*> ms", T0, 1),
        capsule("auth", "login failed for <USER>", T0, 9),
    ];
    store.write_capsules(&capsules).await.unwrap();
    let mut index = VectorIndex::new(VectorIndexConfig::default()).unwrap();
    for c in &capsules {
        index.upsert(&c.capsule_id(), c.embedding.as_ref().unwrap()).unwrap();
    }
    let mut embedder = HashingEmbedder::new(384);
    let hits = slo_storage::retrieval::retrieve(&store, &index, &mut embedder, Some("payment"), "gateway timeout", 2)
        .await
        .unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits.iter().all(|h| h.service == "payment"));
    assert_eq!(hits[0].template, "payment gateway timeout after <*> ms");
    assert_eq!(hits[0].count, 4);
    assert_eq!(hits[0].samples[0].trace_id.as_deref(), Some("abc"));
    assert!(hits[0].distance <= hits[1].distance);
}

#[tokio::test]
async fn top_capsules_rank_by_errors_within_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    store
        .write_capsules(&[
            capsule("payment", "payment gateway timeout after <*> ms", T0, 4),
            capsule("payment", "charging card <CREDIT_CARD> amount <*>", T0, 40),
            capsule("payment", "late template <*>", T0 + DAY, 100),
            capsule("auth", "login failed for <USER>", T0, 9),
        ])
        .await
        .unwrap();
    let svc = ["payment".to_string()];
    let hits = slo_storage::retrieval::top_capsules(&store, &svc, T0, T0 + 3_600_000, 5).await.unwrap();
    let got: Vec<(&str, u64)> = hits.iter().map(|h| (h.template.as_str(), h.errors)).collect();
    assert_eq!(got, vec![("charging card <CREDIT_CARD> amount <*>", 20), ("payment gateway timeout after <*> ms", 2)]);
    let all = slo_storage::retrieval::top_capsules(&store, &[], T0, T0 + 3_600_000, 2).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].service, "auth");
}

#[tokio::test]
async fn a_failing_query_names_the_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    store.write_capsules(&[capsule("cart", "a <*>", T0, 1), capsule("auth", "b <*>", T0, 2)]).await.unwrap();
    let files = store.list_files(Table::Capsules).await.unwrap();
    let victim = dir.path().join(files[0].path.as_ref());
    // A forged trailer: the store API reports it (the Parquet decoder would overflow on it).
    std::fs::write(&victim, b"PAR1 not really parquet PAR1").unwrap();
    let err = store.read_capsules(None).await.unwrap_err().to_string();
    assert!(err.contains(files[0].path.as_ref()) && err.contains("corrupt"), "{err}");
    // A truncated file through SQL.
    let good = std::fs::read(dir.path().join(files[1].path.as_ref())).unwrap();
    std::fs::write(&victim, &good[..good.len() / 2]).unwrap();
    let catalog = Catalog::open(&store, None).unwrap();
    let err = catalog.query("SELECT SUM(count) FROM capsules").await.unwrap_err().to_string();
    assert!(err.contains(files[0].path.as_ref()), "{err}");
    // The healthy partition is still readable through the store API.
    assert_eq!(store.read_capsules(Some(&files[1].service)).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_query_answers_from_the_readable_files_and_names_the_skipped_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    store
        .write_capsules(&[
            capsule("auth", "b <*>", T0, 2),
            capsule("cart", "a <*>", T0, 1),
            capsule("pay", "c <*>", T0, 40),
        ])
        .await
        .unwrap();
    let files = store.list_files(Table::Capsules).await.unwrap();
    assert_eq!(files.len(), 3);
    let victim = &files[1]; // cart
    let path = dir.path().join(victim.path.as_ref());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let catalog = Catalog::open(&store, None).unwrap();
    let out = catalog
        .query_skipping("SELECT service, SUM(count) AS n FROM capsules GROUP BY service ORDER BY service")
        .await
        .unwrap();
    assert_eq!(out.skipped.len(), 1, "{:?}", out.skipped);
    assert_eq!(out.skipped[0].0, victim.path.to_string());
    assert!(!out.skipped[0].1.is_empty());
    let batch = arrow::compute::concat_batches(&out.batches[0].schema(), &out.batches).unwrap();
    let services = batch.column(0).as_any().downcast_ref::<StringArray>().unwrap();
    let got: Vec<&str> = (0..services.len()).map(|i| services.value(i)).collect();
    assert_eq!(got, ["auth", "pay"]);
    // The file stays left out in this catalog; a fresh one's strict form fails naming it.
    assert!(catalog.query("SELECT COUNT(*) FROM capsules").await.is_ok());
    let fresh = Catalog::open(&store, None).unwrap();
    let err = fresh.query("SELECT COUNT(*) FROM capsules").await.unwrap_err().to_string();
    assert!(err.contains(victim.path.as_ref()), "{err}");
    // A query not touching the file just works.
    let fresh = Catalog::open(&store, None).unwrap();
    let ok = fresh.query_skipping("SELECT COUNT(*) FROM capsules WHERE service = 'pay'").await.unwrap();
    assert!(ok.skipped.is_empty());
    // A statement that fails for another reason is not retried into success.
    assert!(fresh.query_skipping("SELECT no_such_column FROM capsules").await.is_err());
}

#[tokio::test]
async fn blobs_are_listed_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    assert!(store.list_blobs("ckpt").await.unwrap().is_empty());
    for name in ["ckpt-a.json", "ckpt-a.w1.json", "other.json"] {
        store.put_blob(name, b"{}".to_vec()).await.unwrap();
    }
    assert_eq!(store.list_blobs("ckpt-a").await.unwrap(), ["ckpt-a.json", "ckpt-a.w1.json"]);
}

#[tokio::test]
async fn registered_batches_are_queryable_and_replaceable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let catalog = Catalog::open(&store, None).unwrap();
    let batch = |from: i64, n: i64| {
        let values = arrow::array::Int64Array::from_iter_values(from..from + n);
        arrow::array::RecordBatch::try_from_iter([("v", std::sync::Arc::new(values) as arrow::array::ArrayRef)])
            .unwrap()
    };
    catalog.register_batches("scratch", vec![batch(0, 10), batch(10, 5), batch(15, 1)]).unwrap();
    let sum = catalog.query("SELECT SUM(v) AS s, COUNT(*) AS n FROM scratch").await.unwrap();
    assert_eq!((int_column(&sum, "s"), int_column(&sum, "n")), (vec![120], vec![16]));
    catalog.register_batches("scratch", vec![batch(100, 2)]).unwrap();
    assert_eq!(int_column(&catalog.query("SELECT SUM(v) AS s FROM scratch").await.unwrap(), "s"), vec![201]);
    assert!(catalog.register_batches("empty", Vec::new()).is_err());
}

#[tokio::test]
async fn stable_hash_splits_keys_into_passes_and_rows_stream() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let spans: Vec<_> =
        (0..300).map(|i| span(&format!("t{}", i % 37), &format!("s{i}"), "cart", T0 + i, 1000, false)).collect();
    store.write_events(&spans, false).await.unwrap();
    let catalog = Catalog::open(&store, None).unwrap();

    // The SQL function is the library function, and NULL stays NULL.
    let h = catalog.query("SELECT stable_hash('t1') AS h, stable_hash(NULL) AS n").await.unwrap();
    let col = h[0].column_by_name("h").unwrap().as_any().downcast_ref::<arrow::array::UInt64Array>().unwrap();
    assert_eq!(col.value(0), slo_storage::catalog::stable_hash(b"t1"));
    assert!(h[0].column_by_name("n").unwrap().is_null(0));

    // Three passes cover every span once, and each trace lands in exactly one pass.
    let mut seen = std::collections::BTreeMap::new();
    let mut total = 0;
    for pass in 0..3 {
        let sql = format!(
            "SELECT trace_id, COUNT(*) AS n FROM spans WHERE stable_hash(trace_id) % 3 = {pass} GROUP BY trace_id"
        );
        let mut rows = catalog.query_stream(&sql).await.unwrap();
        while let Some(batch) = rows.next().await {
            let batch = batch.unwrap();
            total += int_column(std::slice::from_ref(&batch), "n").iter().sum::<i64>();
            for t in string_column(&[batch], "trace_id") {
                assert!(seen.insert(t, pass).is_none(), "a trace in two passes");
            }
        }
    }
    assert_eq!((total, seen.len()), (300, 37));
    assert!(seen.values().collect::<std::collections::BTreeSet<_>>().len() > 1, "37 traces all in one pass");
}

/// Regression (issue 17, defect 13): SQL had no memory limit — `repeat('x', 1e9)` took 3.9 GB.
/// Output-sized string functions are checked before they run; ordinary uses still work.
#[tokio::test]
async fn sql_string_functions_cannot_allocate_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().to_str().unwrap()).unwrap();
    let catalog = Catalog::open(&store, None).unwrap();
    for sql in [
        "SELECT repeat('x', 1000000000) AS s",
        "SELECT lpad('x', 2000000000) AS s",
        "SELECT rpad('x', 100000000, 'y') AS s",
        "SELECT repeat(v, 10000000) FROM (VALUES ('0123456789'), ('abcdefghij')) AS t(v) WHERE v > 'a'",
    ] {
        match catalog.query(sql).await {
            Ok(b) => panic!("{sql} answered {} rows", b.iter().map(|b| b.num_rows()).sum::<usize>()),
            Err(e) => assert!(e.to_string().contains("above the limit"), "{sql}: {e}"),
        }
    }
    let ok = catalog.query("SELECT repeat('ab', 3) AS r, lpad('7', 3, '0') AS l, rpad('7', 2) AS p").await.unwrap();
    assert_eq!(string_column(&ok, "r"), ["ababab"]);
    assert_eq!(string_column(&ok, "l"), ["007"]);
    assert_eq!(string_column(&ok, "p"), ["7 "]);
}
