//! Recall@10 of the HNSW index vs exact search for several fixed `expansion_search` values
//! (calibration off).
//!
//! ```sh
//! cargo run --release -p slo-storage --example bench_recall_probe -- [VECTORS] [DIM] [CONNECTIVITY]
//! ```

use std::collections::HashSet;
use std::time::Instant;

use slo_dataflow::synthetic::SplitMix64;
use slo_storage::vector::{VectorIndex, VectorIndexConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (n, dim) = (args.first().copied().unwrap_or(20_000), args.get(1).copied().unwrap_or(384));
    let connectivity = args.get(2).copied().unwrap_or(VectorIndexConfig::default().connectivity);
    let mut rng = SplitMix64::new(3);
    let mut idx = VectorIndex::new(VectorIndexConfig {
        dimensions: dim,
        connectivity,
        target_recall: 0.0,
        exact_below: 0, // measure HNSW at every size
        ..Default::default()
    })?;
    let t = Instant::now();
    for i in 0..n {
        idx.upsert(&format!("{i:016x}"), &rng.unit_vector(dim))?;
    }
    println!("built {n} x {dim} (M = {connectivity}) in {:.1} s", t.elapsed().as_secs_f64());
    let queries: Vec<Vec<f32>> = (0..100).map(|_| rng.unit_vector(dim)).collect();
    let exact: Vec<HashSet<String>> = queries
        .iter()
        .map(|q| idx.exact_search(q, 10).map(|h| h.into_iter().map(|h| h.capsule_id).collect()))
        .collect::<Result<_, _>>()?;
    for ef in [64, 256, 1024, 4096] {
        idx.set_expansion_search(ef);
        let t = Instant::now();
        let mut hit = 0;
        for (q, e) in queries.iter().zip(&exact) {
            hit += idx.search(q, 10)?.into_iter().filter(|h| e.contains(&h.capsule_id)).count();
        }
        println!(
            "ef_search {ef:>5}: recall@10 {:.3}, {:.0} µs/query",
            hit as f64 / 1000.0,
            t.elapsed().as_secs_f64() * 1e6 / 100.0
        );
    }
    Ok(())
}
