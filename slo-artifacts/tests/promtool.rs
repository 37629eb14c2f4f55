//! Generated rules against the real `promtool` (Debian's `prometheus` package): every rule file
//! passes `promtool check rules`, every generated unit test passes `promtool test rules`, a
//! broken alert fails its unit test, and Sloth's own behavioural test passes on our rules.
//!
//! Skips when promtool is absent unless `SLO_SCOUT_REQUIRE_PROMTOOL=1` (set by `scripts/test.sh`).

use std::path::Path;

use slo_artifacts::promtool::{check_rules, find_promtool, test_rules, write_rules_and_tests, PromtoolError};
use slo_artifacts::{self as slo, GenerateOptions, PromDuration, ReadOptions};

fn have_promtool() -> bool {
    match find_promtool() {
        Ok(_) => true,
        Err(e) => {
            assert!(
                std::env::var("SLO_SCOUT_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
                "SLO_SCOUT_REQUIRE_PROMTOOL=1 but {e}"
            );
            eprintln!("skipping: {e}");
            false
        }
    }
}

const SPECS: &str = r#"
version: prometheus/v1
service: checkout
labels: {team: payments}
slos:
  - name: availability
    objective: 99.9
    sli:
      events:
        error_query: sum(rate(http_server_request_duration_seconds_count{service_name="checkout",http_response_status_code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_server_request_duration_seconds_count{service_name="checkout"}[{{.window}}]))
    alerting:
      name: CheckoutAvailability
      annotations: {runbook_url: 'https://runbooks.example/{{$labels.sloth_slo}}'}
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
  - name: latency-500ms
    objective: 99
    sli:
      latency: {histogram: http_server_request_duration_seconds, selector: 'service_name="checkout"', threshold: 0.5}
    alerting:
      name: CheckoutLatency
      ticket_alert: {disable: true}
  - name: quiet
    objective: 95
    sli: {raw: {error_ratio_query: '1 - avg_over_time(up{job="checkout"}[{{.window}}])'}}
    alerting: {page_alert: {disable: true}, ticket_alert: {disable: true}}
---
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: cart, namespace: shop}
spec:
  service: cart
  slos:
    - name: availability
      objective: 99.95
      sli:
        events:
          errorQuery: sum(rate(rpc_server_duration_milliseconds_count{service_name="cart",rpc_grpc_status_code!="0"}[{{.window}}]))
          totalQuery: sum(rate(rpc_server_duration_milliseconds_count{service_name="cart"}[{{.window}}]))
      alerting:
        name: CartAvailability
"#;

#[test]
fn generated_rules_pass_promtool_checks_and_unit_tests() {
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let levels = slo::parse_documents(SPECS, &ReadOptions::default()).unwrap();
    for (period, opts) in [
        ("30d", GenerateOptions::default()),
        ("28d", GenerateOptions { default_period: PromDuration::days(28), ..Default::default() }),
        ("weighted", GenerateOptions { weighted_period_sli: true, ..Default::default() }),
    ] {
        let mut levels = levels.clone();
        if period == "weighted" {
            levels[0].slos.retain(|s| !matches!(s.sli, slo::Sli::Raw { .. }));
        }
        for level in &levels {
            let name = format!("{}-{period}", level.service);
            let out = write_rules_and_tests(level, &opts, dir.path(), &name).unwrap();
            let report = check_rules(&out.rules).unwrap_or_else(|e| panic!("{e}"));
            assert!(report.contains("SUCCESS"), "{report}");
            let tests = out.tests.expect("alerts exist");
            let report = test_rules(&tests).unwrap_or_else(|e| panic!("{e}"));
            assert!(report.contains("SUCCESS"), "{report}");
        }
    }
}

#[test]
fn a_wrong_burn_factor_fails_its_unit_test() {
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let level = slo::parse_documents(SPECS, &ReadOptions::default()).unwrap().remove(0);
    let out = write_rules_and_tests(&level, &GenerateOptions::default(), dir.path(), "checkout").unwrap();
    // A page alert that needs ten times the burn no longer fires in the fast-burn case: the tests
    // load the rule file itself, so an edit to it is what they check.
    let text = std::fs::read_to_string(&out.rules).unwrap();
    assert!(text.contains("(14.4 *"), "{text}");
    std::fs::write(&out.rules, text.replace("(14.4 *", "(144 *")).unwrap();
    match test_rules(&out.tests.unwrap()) {
        Err(PromtoolError::Failed { output, .. }) => assert!(output.contains("CheckoutAvailability"), "{output}"),
        other => panic!("expected a failing unit test, got {other:?}"),
    }
}

#[test]
fn broken_rule_file_is_reported_with_its_name() {
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, "groups:\n- name: g\n  rules:\n  - record: x\n    expr: sum(rate(y[5m])\n").unwrap();
    let err = check_rules(&path).unwrap_err().to_string();
    assert!(err.contains("broken.yaml"), "{err}");
}

#[test]
fn sloth_behavioural_test_passes_on_our_rules() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/sloth");
    if !shared.is_dir() {
        eprintln!("skipping: {} not found", shared.display());
        return;
    }
    if !have_promtool() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(shared.join("in-base.yaml")).unwrap();
    let levels = slo::parse_documents(&text, &ReadOptions::default()).unwrap();
    let docs: Vec<_> =
        levels.iter().map(|l| (slo::generate(l, &GenerateOptions::default()).unwrap(), l.source.clone())).collect();
    std::fs::create_dir_all(dir.path().join("rendered")).unwrap();
    std::fs::write(dir.path().join("rendered/out-base.yaml"), slo::render_documents(&docs)).unwrap();
    let test = dir.path().join("sloth-test.yaml");
    std::fs::copy(shared.join("promtool-test-out-base.yaml"), &test).unwrap();
    let report = test_rules(&test).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.contains("SUCCESS"), "{report}");
}

/// The latency SLI end to end in Prometheus itself: histogram series in, the recorded error
/// ratio equals the share of requests above the threshold, and the burn-rate alerts fire.
#[test]
fn latency_sli_records_the_slow_share_and_alerts() {
    if !have_promtool() {
        return;
    }
    let spec = r#"
version: prometheus/v1
service: checkout
slos:
  - name: latency-500ms
    objective: 99
    sli:
      latency: {histogram: http_server_request_duration_seconds, selector: 'service_name="checkout"', threshold: 0.5}
    alerting: {name: CheckoutLatency}
"#;
    let level = slo::parse_documents(spec, &ReadOptions::default()).unwrap().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let rules = slo::generate(&level, &GenerateOptions::default()).unwrap();
    std::fs::write(dir.path().join("rules.yaml"), serde_yaml_ng::to_string(&rules).unwrap()).unwrap();
    // 100 requests a minute, 90 of them within 0.5 s: a 10 % error ratio, above the page
    // slow-burn threshold (6 x 1 %) but below the fast one (14.4 x 1 %).
    let labels = r#"sloth_id="checkout-latency-500ms",sloth_service="checkout",sloth_slo="latency-500ms""#;
    let test = format!(
        r#"rule_files: [rules.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'http_server_request_duration_seconds_bucket{{service_name="checkout",le="0.5"}}'
        values: '0+90x120'
      - series: 'http_server_request_duration_seconds_bucket{{service_name="checkout",le="+Inf"}}'
        values: '0+100x120'
      - series: 'http_server_request_duration_seconds_count{{service_name="checkout"}}'
        values: '0+100x120'
    promql_expr_test:
      # Rounded: Prometheus' float arithmetic gives 0.10000000000000003.
      - expr: round(slo:sli_error:ratio_rate5m * 1000)
        eval_time: 40m
        exp_samples:
          - labels: '{{{labels},sloth_window="5m"}}'
            value: 100
    alert_rule_test:
      - eval_time: 40m
        alertname: CheckoutLatency
        exp_alerts:
          - exp_labels: {{sloth_id: checkout-latency-500ms, sloth_service: checkout, sloth_slo: latency-500ms, sloth_severity: page}}
            exp_annotations:
              summary: 'checkout latency-500ms SLO error budget burn rate is over expected.'
              title: '(page) checkout latency-500ms SLO error budget burn rate is too fast.'
          - exp_labels: {{sloth_id: checkout-latency-500ms, sloth_service: checkout, sloth_slo: latency-500ms, sloth_severity: ticket}}
            exp_annotations:
              summary: 'checkout latency-500ms SLO error budget burn rate is over expected.'
              title: '(ticket) checkout latency-500ms SLO error budget burn rate is too fast.'
"#
    );
    let path = dir.path().join("latency.test.yaml");
    std::fs::write(&path, test).unwrap();
    let report = test_rules(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.contains("SUCCESS"), "{report}");
}
