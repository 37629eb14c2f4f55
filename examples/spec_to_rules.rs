//! From an SLO spec to Prometheus rules, as `sloth generate` does: read a Sloth (or OpenSLO, or
//! Kubernetes `PrometheusServiceLevel`) spec, generate recording rules and multi-window
//! multi-burn-rate alerts, and print the rule file. Only `slo-artifacts` is needed for this.
//!
//! ```sh
//! cargo run --example spec_to_rules -- examples/slo/checkout-sloth.yaml
//! ```

use slo_artifacts::{generate, parse_documents, render_documents, GenerateOptions, ReadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "examples/slo/checkout-sloth.yaml".into());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // Every document of the file, validated; errors name the document and the field.
    let levels = parse_documents(&text, &ReadOptions::default()).map_err(|e| e.in_file(std::path::Path::new(&path)))?;
    let mut docs = Vec::new();
    for level in &levels {
        let rules = generate(level, &GenerateOptions::default())?;
        eprintln!("{}: {} SLOs -> {} rule groups", level.service, level.slos.len(), rules.groups.len());
        docs.push((rules, level.source.clone()));
    }
    print!("{}", render_documents(&docs));
    Ok(())
}
