//! Generated Grafana dashboards validate against Grafana's own JSON Schema for the classic
//! dashboard model (`../shared/datasets/grafana-schema/dashboard.jsonschema.json`, draft-07).

use std::path::PathBuf;

use serde_json::Value;
use slo_artifacts::dashboard::{check_dashboard, dashboard};
use slo_artifacts::{parse_documents, GenerateOptions, ReadOptions};

fn schema() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/datasets/grafana-schema/dashboard.jsonschema.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("schema is JSON")),
        Err(e) => {
            eprintln!("skipping: Grafana dashboard schema not available at {} ({e})", path.display());
            None
        }
    }
}

/// The example spec plus a raw-SLI service without alerts.
fn spec() -> String {
    let example = include_str!("../../examples/slo/checkout-sloth.yaml");
    format!(
        "{example}---\n{}",
        r#"
version: "prometheus/v1"
service: "search"
slos:
  - name: "ratio"
    objective: 99.95
    sli:
      raw:
        error_ratio_query: sum(rate(search_errors_total[{{.window}}])) / sum(rate(search_requests_total[{{.window}}]))
    alerting:
      page_alert: {disable: true}
      ticket_alert: {disable: true}
"#
    )
}

#[test]
fn generated_dashboards_validate_against_grafana_schema() {
    let Some(schema) = schema() else { return };
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    let levels = parse_documents(&spec(), &ReadOptions::default()).unwrap();
    assert_eq!(levels.len(), 2);
    for level in &levels {
        let d = dashboard(level, &GenerateOptions::default()).unwrap();
        check_dashboard(&d).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(&d).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", level.service);
    }
}

#[test]
fn the_schema_rejects_what_grafana_would_reject() {
    // Guards the test above: the validator really checks panels, not just the top level.
    let Some(schema) = schema() else { return };
    let validator = jsonschema::draft7::new(&schema).expect("schema compiles");
    let level = parse_documents(&spec(), &ReadOptions::default()).unwrap().remove(0);
    let mut d = dashboard(&level, &GenerateOptions::default()).unwrap();
    d["panels"][1]["gridPos"]["w"] = Value::from(30);
    assert!(!validator.is_valid(&d), "a panel 30 columns wide must not validate");
    let mut d = dashboard(&level, &GenerateOptions::default()).unwrap();
    d["panels"][1]["fieldConfig"]["defaults"]["unknownOption"] = Value::from(1);
    assert!(!validator.is_valid(&d));
    let mut d = dashboard(&level, &GenerateOptions::default()).unwrap();
    d.as_object_mut().unwrap().remove("templating");
    assert!(!validator.is_valid(&d));
}
