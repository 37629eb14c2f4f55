//! SLO specs: Sloth `prometheus/v1`, Kubernetes `PrometheusServiceLevel` and OpenSLO
//! (`slo_artifacts::parse_documents`), and the rules generated from them (`generate`).
//!
//! Contract checked: any text (bytes taken as UTF-8, invalid sequences replaced) parses to
//! `Ok` or `Err` without a panic; an `Ok` is at least one service level, each with at least one
//! SLO, and generating its rules with the default options is `Ok` or `Err` without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use slo_artifacts::{generate, parse_documents, GenerateOptions, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(levels) = parse_documents(&text, &ReadOptions::default()) else { return };
    assert!(!levels.is_empty(), "Ok without a service level");
    let opts = GenerateOptions::default();
    for level in &levels {
        assert!(!level.slos.is_empty(), "a service level without SLOs");
        let _ = generate(level, &opts);
    }
});
