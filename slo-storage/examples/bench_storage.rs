//! Storage benchmarks: span ingest, per-operation per-minute p99 over many spans, capsule lookup
//! by fingerprint, vector recall@10 and top-10 latency. Prints figures (Markdown).
//!
//! ```sh
//! cargo run --release -p slo-storage --example bench_storage -- [SPANS] [CAPSULES] [VECTORS]
//! # defaults: 10000000 1000000 1000000
//! ```

use std::collections::BTreeMap;
use std::time::Instant;

use slo_dataflow::event::{Capsule, EventKind, SpanStatus, TelemetryEvent};
use slo_dataflow::synthetic::SplitMix64;
use slo_storage::catalog::Catalog;
use slo_storage::vector::{VectorIndex, VectorIndexConfig};
use slo_storage::Store;

const T0: u64 = 1_735_689_600_000;
const OPERATIONS: [&str; 8] =
    ["GET /", "GET /product", "POST /cart", "POST /checkout", "GetProduct", "ListProducts", "Charge", "AddItem"];
const SERVICES: [&str; 4] = ["frontend", "catalog", "cart", "payment"];

fn spans(rng: &mut SplitMix64, start: usize, n: usize) -> Vec<TelemetryEvent> {
    (start..start + n)
        .map(|i| {
            let op = OPERATIONS[i % OPERATIONS.len()];
            TelemetryEvent {
                event_id: format!("s{i}"),
                service: SERVICES[i % SERVICES.len()].to_string(),
                environment: "prod".into(),
                kind: EventKind::Span,
                // 10M spans over ~6 hours: ~28k spans per minute.
                timestamp_ms: T0 + (i as u64) * 2,
                trace_id: Some(format!("{:032x}", i / 5)),
                span_id: Some(format!("{i:016x}")),
                parent_span_id: (i % 5 != 0).then(|| format!("{:016x}", i - i % 5)),
                operation: Some(op.to_string()),
                duration_us: Some((1000.0 * (3.0 + rng.normal()).exp()) as u64),
                status: Some(if rng.below(100) == 0 { SpanStatus::Error } else { SpanStatus::Ok }),
                http_status: Some(200),
                ..Default::default()
            }
        })
        .collect()
}

fn capsule(i: usize) -> Capsule {
    Capsule {
        fingerprint: format!("{:064x}", xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes())),
        template: format!("template number {i} with <*> variables"),
        service: format!("svc-{}", i % 10),
        environment: "prod".into(),
        window_start_ms: T0 + ((i / 10) % 24) as u64 * 3_600_000 + ((i / 240) % 10) as u64 * 86_400_000,
        window_end_ms: 0,
        count: (i % 1000) as u64 + 1,
        severity_counts: BTreeMap::from([("INFO".into(), 1)]),
        first_seen_ms: T0,
        last_seen_ms: T0,
        samples: vec![],
        redaction_applied: false,
        redaction_counts: BTreeMap::new(),
        embedding: None,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n_spans = args.first().copied().unwrap_or(10_000_000);
    let n_capsules = args.get(1).copied().unwrap_or(1_000_000);
    let n_vectors = args.get(2).copied().unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path().to_str().unwrap_or("."))?;
    let mut rng = SplitMix64::new(1);
    println!("| measurement | value |\n|---|---|");

    // 1. Span ingest (Parquet encode + zstd + put), excluding generation time.
    let chunk = 500_000;
    let mut write_secs = 0.0;
    let mut written = 0;
    while written < n_spans {
        let n = chunk.min(n_spans - written);
        let batch = spans(&mut rng, written, n);
        let t = Instant::now();
        rt.block_on(store.write_events(&batch, false))?;
        write_secs += t.elapsed().as_secs_f64();
        written += n;
    }
    println!(
        "| span ingest into Parquet ({n_spans} spans) | {:.0} spans/s ({write_secs:.1} s) |",
        n_spans as f64 / write_secs
    );

    // 2. p99 per operation per minute over all spans.
    let catalog = Catalog::open(&store, None)?;
    let sql =
        "SELECT operation, date_trunc('minute', start) AS minute, approx_percentile_cont(duration_us, 0.99) AS p99_us \
               FROM spans GROUP BY operation, date_trunc('minute', start)";
    let t = Instant::now();
    let rows: usize = rt.block_on(catalog.query(sql))?.iter().map(|b| b.num_rows()).sum();
    println!(
        "| p99 per operation per minute over {n_spans} spans (SQL) | {:.2} s ({rows} groups) |",
        t.elapsed().as_secs_f64()
    );

    // 3. Capsule lookup by fingerprint.
    let capsules: Vec<Capsule> = (0..n_capsules).map(capsule).collect();
    let t = Instant::now();
    rt.block_on(store.write_capsules(&capsules))?;
    println!("| capsule upsert ({n_capsules} capsules) | {:.1} s |", t.elapsed().as_secs_f64());
    let catalog = Catalog::open(&store, None)?;
    let mut lookups = Vec::new();
    for i in [7usize, n_capsules / 3, n_capsules - 1] {
        let fp = &capsules[i].fingerprint;
        let t = Instant::now();
        let found: usize = rt
            .block_on(catalog.query(&format!("SELECT template, count FROM capsules WHERE fingerprint = '{fp}'")))?
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(found, 1);
        lookups.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lookups.sort_by(f64::total_cmp);
    println!("| capsule lookup by fingerprint over {n_capsules} capsules (SQL, median of 3) | {:.1} ms |", lookups[1]);

    // 4. Vector index: recall@10 vs exact on 100k, top-10 latency on n_vectors.
    if n_vectors == 0 {
        return Ok(());
    }
    let dim = 384;
    let recall_n = 100_000.min(n_vectors);
    let mut idx = VectorIndex::new(VectorIndexConfig { dimensions: dim, exact_below: 0, ..Default::default() })?;
    let t = Instant::now();
    let mut added = 0;
    while added < n_vectors {
        // Batches (inserted on one thread per core), with a recall check at `recall_n`.
        let end = if added < recall_n { recall_n } else { (added + 100_000).min(n_vectors) };
        let batch: Vec<(String, Vec<f32>)> =
            (added..end).map(|i| (format!("{i:016x}"), rng.unit_vector(dim))).collect();
        idx.upsert_batch(&batch)?;
        added = end;
        if added == recall_n {
            report_vectors(&idx, &mut rng, dim, 100)?;
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "| HNSW build, {n_vectors} vectors ({threads} threads, batches of 100k, with calibrations) | {:.0} s |",
        t.elapsed().as_secs_f64()
    );
    if n_vectors > recall_n {
        report_vectors(&idx, &mut rng, dim, 100)?;
    }
    let calibrated = idx.expansion_search();
    for ef in [64, 1024] {
        if ef < calibrated {
            idx.set_expansion_search(ef);
            report_vectors(&idx, &mut rng, dim, 100)?;
        }
    }
    Ok(())
}

/// Recall@10 vs exact and top-10 latency over `queries` fresh random queries, at the index's
/// current `expansion_search` (with its calibration, when it has one).
fn report_vectors(
    idx: &VectorIndex,
    rng: &mut SplitMix64,
    dim: usize,
    queries: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let queries: Vec<Vec<f32>> = (0..queries).map(|_| rng.unit_vector(dim)).collect();
    let mut hit = 0;
    let mut lat = Vec::with_capacity(queries.len());
    for q in &queries {
        let t = Instant::now();
        let approx = idx.search(q, 10)?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        let exact: std::collections::HashSet<String> =
            idx.exact_search(q, 10)?.into_iter().map(|h| h.capsule_id).collect();
        hit += approx.into_iter().filter(|h| exact.contains(&h.capsule_id)).count();
    }
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    let how = match idx.calibration() {
        Some(c) => format!(
            "calibrated: ef_search {} (sample recall {:.3} at {} vectors)",
            c.expansion_search, c.recall, c.vectors
        ),
        None => format!("fixed ef_search {}", idx.expansion_search()),
    };
    println!(
        "| {} random 384-d vectors, {how} | recall@10 {:.3} on {} fresh queries; top-10 latency p50 {:.2} ms, p99 {:.2} ms |",
        idx.len(),
        hit as f64 / (10 * queries.len()) as f64,
        queries.len(),
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
