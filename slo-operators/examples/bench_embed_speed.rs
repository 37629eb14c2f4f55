//! Embedding throughput: templates/s for MiniLM (batch 32 and 100, 1 and 2 threads) and for the
//! hashing embedder.
//!
//! ```sh
//! eval "$(scripts/setup-model.sh)"
//! cargo run --release -p slo-operators --example bench_embed_speed [-- N_TEMPLATES]
//! ```
//!
//! The corpus is the ground-truth templates of all Loghub-2k sets in
//! `../shared/datasets/loghub2k/*/*_templates.csv` (synthetic templates when absent), repeated or
//! cut to N (default 1000). Each run embeds the whole corpus through a fresh [`EmbeddingCache`]
//! (as the pipeline does: misses sorted by length, chunked by the batch size) and, for
//! comparison, as plain `embed_batch` chunks in corpus order. Without the model (env unset) only
//! the hashing embedder is measured.

use std::path::{Path, PathBuf};
use std::time::Instant;

use slo_operators::embed::{EmbedConfig, Embedder, EmbedderKind, EmbeddingCache, HashingEmbedder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let corpus = load_corpus(n);
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let avg_chars = texts.iter().map(|t| t.len()).sum::<usize>() as f64 / texts.len().max(1) as f64;
    println!("corpus: {} templates, {avg_chars:.1} bytes on average", texts.len());
    println!();
    println!("| embedder | threads | batch | path | templates/s | ms/template |");
    println!("|---|---|---|---|---|---|");

    let mut hashing = HashingEmbedder::default();
    for batch in [32usize, 100] {
        report(&mut hashing, "-", batch, &texts)?;
    }

    let cfg = EmbedConfig::from_env()?;
    if cfg.model_dir.is_none() || cfg.ort_dylib.is_none() {
        eprintln!("MiniLM not configured: run `eval \"$(scripts/setup-model.sh)\"` to measure it");
        return Ok(());
    }
    for threads in [1usize, 2] {
        let cfg = EmbedConfig { kind: EmbedderKind::MiniLm, threads, ..cfg.clone() };
        let t0 = Instant::now();
        let mut e = cfg.build()?;
        let load_s = t0.elapsed().as_secs_f64();
        eprintln!("MiniLM with {threads} thread(s) loaded in {load_s:.2} s");
        for batch in [32usize, 100] {
            report(e.as_mut(), &threads.to_string(), batch, &texts)?;
        }
    }
    Ok(())
}

fn report(e: &mut dyn Embedder, threads: &str, batch: usize, texts: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    // warm-up
    e.embed_batch(&texts[..batch.min(texts.len())])?;

    let items: Vec<(usize, &str)> = texts.iter().copied().enumerate().collect();
    let mut cache = EmbeddingCache::<usize>::new(texts.len(), batch);
    let t0 = Instant::now();
    let out = cache.get_or_embed_batch(e, &items)?;
    let cached = t0.elapsed().as_secs_f64();
    assert_eq!(out.len(), texts.len());

    let t0 = Instant::now();
    for chunk in texts.chunks(batch) {
        e.embed_batch(chunk)?;
    }
    let plain = t0.elapsed().as_secs_f64();

    for (path, secs) in [("cache (length-sorted)", cached), ("plain chunks", plain)] {
        println!(
            "| {} | {threads} | {batch} | {path} | {:.0} | {:.3} |",
            e.name(),
            texts.len() as f64 / secs,
            secs * 1000.0 / texts.len() as f64
        );
    }
    Ok(())
}

fn load_corpus(n: usize) -> Vec<String> {
    let root: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/loghub2k");
    let mut templates = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(&root) {
        let mut dirs: Vec<_> = dirs.flatten().map(|d| d.path()).collect();
        dirs.sort();
        for dir in dirs {
            let Some(name) = dir.file_name().and_then(|s| s.to_str()).map(str::to_string) else { continue };
            let file = dir.join(format!("{name}_2k.log_templates.csv"));
            let Ok(raw) = std::fs::read_to_string(&file) else { continue };
            for line in raw.lines().skip(1) {
                if let Some((_, t)) = line.split_once(',') {
                    let t = t.trim();
                    let t = t
                        .strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'))
                        .map(|s| s.replace("\"\"", "\""))
                        .unwrap_or_else(|| t.to_string());
                    if !t.is_empty() {
                        templates.push(t);
                    }
                }
            }
        }
    }
    if templates.is_empty() {
        eprintln!("{} not found: using synthetic templates", root.display());
        let verbs = ["Received", "Sent", "Failed to open", "Closed", "Timeout waiting for", "Retrying"];
        let nouns = ["block <*> from <*>", "connection to <*>:<*>", "session <*> for user <*>", "file <*> (size <*>)"];
        for v in verbs {
            for o in nouns {
                templates.push(format!("{v} {o}"));
            }
        }
    }
    templates.sort();
    templates.dedup();
    let base = templates.len();
    // Repeat with a suffix so that every text is distinct (the cache would skip duplicates).
    (0..n)
        .map(|i| if i < base { templates[i].clone() } else { format!("{} #{}", templates[i % base], i / base) })
        .collect()
}
