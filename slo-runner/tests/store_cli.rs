//! The store's promises on the command line: one embedder and one window length per store, a
//! damaged vector index reported and rebuilt, an empty one said to be empty, and directories of
//! mixed files read for their telemetry only.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slo-runner"))
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(dir: &Path, store: &Path, extra: &[&str]) -> Output {
    bin().args(["run", "--out"]).arg(dir.join("out")).arg("--store").arg(store).args(extra).output().unwrap()
}

fn query(store: &Path, sql: &str, extra: &[&str]) -> Output {
    bin().args(["query", sql, "--format", "csv", "--store"]).arg(store).args(extra).output().unwrap()
}

const NEAREST: &str =
    "SELECT c.template FROM nearest_capsules('payment gateway timed out', 1) n JOIN capsules c USING (capsule_id)";

/// Regression (issue 18): the store did not record which embedder built its index, so a query
/// embedded with another one answered unrelated capsules and exited 0.
#[test]
fn the_store_records_its_embedder_and_query_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = run(dir.path(), &store, &["--embedder", "hashing"]);
    assert!(out.status.success(), "{}", text(&out));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("_index/capsules.index.json")).unwrap()).unwrap();
    assert_eq!(manifest["embedder"]["name"], "hashing-384", "{manifest}");
    // Without --embedder the query uses the store's embedder, whatever is installed.
    let hit = query(&store, NEAREST, &[]);
    assert!(hit.status.success(), "{}", text(&hit));
    assert!(String::from_utf8_lossy(&hit.stdout).contains("payment gateway"), "{}", text(&hit));
    // Another embedder is refused (or, without the model, cannot even be built).
    let other = query(&store, NEAREST, &["--embedder", "minilm"]);
    assert!(!other.status.success(), "{}", text(&other));
    let err = text(&other);
    assert!(
        err.contains("embedder mismatch: the vectors were built by hashing-384") || err.contains("setup-model"),
        "{err}"
    );
}

/// Regression (issue 18): a second run with another window length added capsules that counted
/// the same events again (226 events for a service that had 224).
#[test]
fn a_store_keeps_one_window_length() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert!(run(dir.path(), &store, &["--embedder", "none"]).status.success());
    let count = |store: &Path| {
        let o = query(store, "SELECT SUM(count) AS n FROM capsules", &[]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).lines().nth(1).unwrap().to_owned()
    };
    let before = count(&store);
    let second = run(dir.path(), &store, &["--embedder", "none", "--window", "5m"]);
    assert!(!second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("holds capsules of 1h windows and this run's window is 5m"), "{}", text(&second));
    assert_eq!(count(&store), before, "nothing was added");
    assert!(run(dir.path(), &store, &["--embedder", "none", "--window", "1h"]).status.success());
    assert_eq!(count(&store), before, "the same window length upserts in place");
}

/// Regression (issue 17, defect 3): a damaged index file segfaulted vector search and failed even
/// plain SQL. It is now checked before loading, reported with the way out, and rebuilt.
#[test]
fn a_damaged_index_is_reported_plain_sql_still_answers_and_a_rebuild_restores_search() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert!(run(dir.path(), &store, &["--embedder", "hashing"]).status.success());
    let index = store.join("_index/capsules.usearch");
    let mut bytes = std::fs::read(&index).unwrap();
    for i in (64..bytes.len()).step_by(97) {
        bytes[i] ^= 0x5a;
    }
    std::fs::write(&index, &bytes).unwrap();
    let plain = query(&store, "SELECT COUNT(*) AS n FROM capsules", &[]);
    assert!(plain.status.success(), "{}", text(&plain));
    let search = query(&store, NEAREST, &[]);
    assert!(!search.status.success());
    assert!(
        text(&search).contains("vector index is damaged") && text(&search).contains("--rebuild-index"),
        "{}",
        text(&search)
    );
    // Truncated to its first bytes: the same.
    std::fs::write(&index, &bytes[..16]).unwrap();
    assert!(text(&query(&store, NEAREST, &[])).contains("vector index is damaged"));
    let rebuild = bin().args(["compact", "--rebuild-index", "--store"]).arg(&store).output().unwrap();
    assert!(rebuild.status.success(), "{}", text(&rebuild));
    assert!(text(&rebuild).contains("rebuilt: ") && text(&rebuild).contains("hashing-384"), "{}", text(&rebuild));
    let search = query(&store, NEAREST, &[]);
    assert!(search.status.success(), "{}", text(&search));
    assert!(String::from_utf8_lossy(&search.stdout).contains("payment gateway"), "{}", text(&search));
}

/// Regression (issue 18): a store without vectors answered `nearest_capsules` with zero rows.
#[test]
fn vector_search_on_a_store_without_vectors_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    assert!(run(dir.path(), &store, &["--embedder", "none"]).status.success());
    let out = query(&store, NEAREST, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the store has no capsule vectors to search"), "{}", text(&out));
}

/// Regression (issue 18): `run --input DIR` read a LICENSE file as logs, stamped with the wall
/// clock. Files that are not telemetry are left out with a warning naming them.
#[test]
fn run_over_a_directory_leaves_out_what_is_not_telemetry() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = bin().args(["sample", "--requests", "200", "--out"]).arg(&data).output().unwrap();
    assert!(s.status.success(), "{}", text(&s));
    std::fs::write(data.join("LICENSE"), "MIT License\n\nPermission is hereby granted, free of charge\n").unwrap();
    let out = bin().args(["run", "--input"]).arg(&data).arg("--out").arg(dir.path().join("out")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("LICENSE") && text(&out).contains("not telemetry"), "{}", text(&out));
    // Not a terminal: the warning carries no colour codes.
    assert!(!text(&out).contains('\u{1b}'), "{:?}", text(&out));
    let capsules = std::fs::read_to_string(dir.path().join("out/capsules.jsonl")).unwrap();
    assert!(!capsules.contains("\"service\":\"LICENSE\""), "the LICENSE became capsules");
    // Named explicitly, the file is read.
    let named = bin()
        .args(["run", "--input"])
        .arg(data.join("LICENSE"))
        .arg("--out")
        .arg(dir.path().join("o2"))
        .output()
        .unwrap();
    assert!(named.status.success(), "{}", text(&named));
    assert!(std::fs::read_to_string(dir.path().join("o2/capsules.jsonl")).unwrap().contains("\"service\":\"LICENSE\""));
}

/// The reference config runs as shipped.
#[test]
fn the_reference_config_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pipeline.toml");
    let out = bin().args(["run", "--config"]).arg(&config).arg("--out").arg(dir.path().join("out")).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // `-i/-o` wherever a command reads a spec and writes files.
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo/checkout-sloth.yaml");
    let art = bin().args(["artifacts", "-i"]).arg(&spec).arg("-o").arg(dir.path().join("art")).output().unwrap();
    assert!(art.status.success(), "{}", text(&art));
    assert!(dir.path().join("art/rules/checkout.yaml").is_file());
    // `-h` is help on every command but `run` (timely's host file there).
    for cmd in ["query", "analyze", "backtest", "generate", "convert", "validate", "artifacts", "compact", "retention"]
    {
        let h = bin().args([cmd, "-h"]).output().unwrap();
        assert!(h.status.success() && String::from_utf8_lossy(&h.stdout).contains("Usage:"), "{cmd}: {}", text(&h));
    }
    let help = bin().args(["run", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("examples/pipeline.toml"), "{}", text(&help));
    assert!(String::from_utf8_lossy(&help.stdout).lines().next().unwrap().contains("`-h` is the timely host file"));
}
