//! `generate` (the Sloth drop-in), `convert` and `validate`, called as a user calls them.
//! promtool-backed checks skip when promtool is absent unless `SLO_SCOUT_REQUIRE_PROMTOOL=1`.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slo-runner"))
}

fn have_promtool() -> bool {
    let found = std::env::var_os("PROMTOOL").is_some()
        || std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join("promtool").is_file());
    assert!(
        found || std::env::var("SLO_SCOUT_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
        "SLO_SCOUT_REQUIRE_PROMTOOL=1 but no promtool"
    );
    if !found {
        eprintln!("skipping promtool part: promtool not found");
    }
    found
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

const SPEC: &str = r#"version: "prometheus/v1"
service: "checkout"
labels: {team: payments}
slos:
  - name: "availability"
    objective: 99.9
    description: "Checkout requests succeed."
    sli:
      events:
        error_query: sum(rate(http_server_request_duration_seconds_count{service_name="checkout",http_response_status_code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_server_request_duration_seconds_count{service_name="checkout"}[{{.window}}]))
    alerting:
      name: CheckoutAvailability
      page_alert: {labels: {severity: critical}}
      ticket_alert: {labels: {severity: warning}}
---
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: cart-slos, namespace: shop}
spec:
  service: cart
  slos:
    - name: latency
      objective: 99
      sli:
        latency: {histogram: http_server_request_duration_seconds, selector: 'service_name="cart"', threshold: 0.3}
      alerting: {name: CartLatency}
"#;

fn docs(text: &str) -> Vec<serde_yaml_ng::Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_yaml_ng::Value| !v.is_null())
        .collect()
}

fn rules_of(doc: &serde_yaml_ng::Value) -> Vec<serde_yaml_ng::Value> {
    let groups = if doc.get("kind").is_some() { &doc["spec"]["groups"] } else { &doc["groups"] };
    groups.as_sequence().unwrap().iter().flat_map(|g| g["rules"].as_sequence().unwrap().clone()).collect()
}

#[test]
fn generate_is_a_sloth_drop_in() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("slos.yaml");
    std::fs::write(&spec, SPEC).unwrap();

    let out = bin()
        .args(["generate", "-i"])
        .arg(&spec)
        .args(["-l", "env=prod", "--extra-labels", "region=eu"])
        .output()
        .unwrap();
    let text = ok(&out, "generate");
    assert!(text.contains("# DO NOT EDIT."));
    let d = docs(&text);
    assert_eq!(d.len(), 2, "one output document per input document");
    assert!(d[0].get("groups").is_some());
    assert_eq!(d[1]["kind"].as_str(), Some("PrometheusRule"));
    assert_eq!(d[1]["metadata"]["namespace"].as_str(), Some("shop"));
    let first = rules_of(&d[0]);
    let rec = first.iter().find(|r| r["record"].as_str() == Some("slo:sli_error:ratio_rate5m")).unwrap();
    assert_eq!(rec["labels"]["env"].as_str(), Some("prod"));
    assert_eq!(rec["labels"]["region"].as_str(), Some("eu"));
    assert_eq!(rec["labels"]["team"].as_str(), Some("payments"));
    assert_eq!(first.iter().filter(|r| r.get("alert").is_some()).count(), 2);

    // --disable-alerts / --disable-recordings / --default-slo-period
    let text = ok(&bin().args(["generate", "-i"]).arg(&spec).arg("--disable-alerts").output().unwrap(), "no alerts");
    assert!(docs(&text).iter().flat_map(rules_of).all(|r| r.get("alert").is_none()));
    let text =
        ok(&bin().args(["generate", "-i"]).arg(&spec).arg("--disable-recordings").output().unwrap(), "no recordings");
    assert!(docs(&text).iter().flat_map(rules_of).all(|r| r.get("record").is_none()));
    let text =
        ok(&bin().args(["generate", "-i"]).arg(&spec).args(["--default-slo-period", "28d"]).output().unwrap(), "28d");
    assert!(text.contains("slo:sli_error:ratio_rate4w") && text.contains("13.44"));

    // A windows file for a 7-day period.
    let windows = dir.path().join("windows");
    std::fs::create_dir(&windows).unwrap();
    std::fs::write(
        windows.join("7d.yaml"),
        "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec:\n  sloPeriod: 7d\n  page:\n    quick: {errorBudgetPercent: 8, shortWindow: 5m, longWindow: 1h}\n    slow: {errorBudgetPercent: 12.5, shortWindow: 30m, longWindow: 6h}\n  ticket:\n    quick: {errorBudgetPercent: 20, shortWindow: 2h, longWindow: 1d}\n    slow: {errorBudgetPercent: 42, shortWindow: 6h, longWindow: 3d}\n",
    )
    .unwrap();
    let out = bin().args(["generate", "-i"]).arg(&spec).args(["--default-slo-period", "7d"]).output().unwrap();
    assert!(!out.status.success(), "7d has no built-in windows");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no alert windows for an SLO period of 1w"));
    let text = ok(
        &bin()
            .args(["generate", "-i"])
            .arg(&spec)
            .args(["--default-slo-period", "7d", "--slo-period-windows-path"])
            .arg(&windows)
            .output()
            .unwrap(),
        "7d windows",
    );
    assert!(
        text.contains("ratio_rate1w") && text.contains("(13.44 * 0.0009999999999999432)"),
        "8% of 168h over 1h = 13.44"
    );

    // Directory in, directory out, then promtool on every output.
    let out_dir = dir.path().join("rules");
    ok(&bin().args(["generate", "-i"]).arg(dir.path()).arg("-o").arg(&out_dir).output().unwrap(), "dir");
    assert!(out_dir.join("slos.yaml").is_file());
    if have_promtool() {
        let out = bin()
            .args(["generate", "-i"])
            .arg(&spec)
            .arg("-o")
            .arg(dir.path().join("checked.yaml"))
            .arg("--check")
            .output()
            .unwrap();
        ok(&out, "generate --check");
        assert!(String::from_utf8_lossy(&out.stderr).contains("OK"));
    }
}

#[test]
fn invalid_specs_are_rejected_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, field) in [
        (SPEC.replace("objective: 99.9", "objective: 100.5"), "slos[0].objective"),
        (SPEC.replace("prometheus/v1", "prometheus/v2"), "version"),
        (SPEC.replace("service: cart", "service: \"\""), "document 2: spec.service"),
    ] {
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, bad).unwrap();
        let out = bin().args(["generate", "-i"]).arg(&path).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.yaml") && err.contains(field), "{err}");
        let out = bin().args(["validate"]).arg(&path).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("FAIL  {}", path.display())));
    }
}

/// Regression: a YAML syntax error made `validate` loop forever (the document iterator repeats
/// its error). It must end, fail, and name the file.
#[test]
fn validate_fails_on_broken_yaml_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("b.yaml", "a: [unclosed\n"), ("c.yml", "---\n---\nversion: x\n  bad: [indent\n")] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut child = bin()
            .arg("validate")
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("validate {name} still running after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&format!("FAIL  {}: not valid YAML", path.display())), "{stdout}");
    }
}

#[test]
fn convert_to_openslo_and_back_generates_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("slos.yaml");
    std::fs::write(&spec, SPEC.split("---").next().unwrap()).unwrap();
    let openslo = dir.path().join("openslo.yaml");
    ok(
        &bin().args(["convert", "--to", "openslo", "-i"]).arg(&spec).arg("-o").arg(&openslo).output().unwrap(),
        "convert",
    );
    let text = std::fs::read_to_string(&openslo).unwrap();
    assert!(text.contains("apiVersion: openslo/v1") && text.contains("target: 0.999"), "{text}");
    let a = ok(&bin().args(["generate", "--disable-alerts", "-i"]).arg(&spec).output().unwrap(), "a");
    let b = ok(&bin().args(["generate", "--disable-alerts", "-i"]).arg(&openslo).output().unwrap(), "b");
    // Service labels (`team`) travel in an OpenSLO `Service` document: the rules are the same.
    assert!(text.contains("kind: Service") && text.contains("team: payments"), "{text}");
    let strip = |t: &str| -> Vec<serde_yaml_ng::Value> {
        docs(t).iter().flat_map(rules_of).filter(|r| r["record"].as_str() != Some("sloth_slo_info")).collect()
    };
    assert_eq!(strip(&a), strip(&b));
}

fn example(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo").join(name)
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Regression: `convert` dropped labels, alert names, severities and runbook annotations
/// silently. It must name, per SLO, every field the target format cannot hold, and nothing when
/// nothing is lost.
#[test]
fn convert_names_on_stderr_what_the_target_format_cannot_hold() {
    let dir = tempfile::tempdir().unwrap();
    let openslo = dir.path().join("nested/openslo.yaml");
    let out = bin()
        .args(["convert", "--to", "openslo", "-i"])
        .arg(example("checkout-sloth.yaml"))
        .arg("-o")
        .arg(&openslo)
        .output()
        .unwrap();
    ok(&out, "convert --to openslo");
    let err = stderr_of(&out);
    for (slo, field) in [
        ("requests-availability", "alerting.name"),
        ("requests-availability", "alerting.annotations.runbook"),
        ("requests-availability", "alerting.page_alert.labels.severity"),
        ("requests-availability", "alerting.ticket_alert.labels.severity"),
        ("requests-availability", "alerting.labels.category"),
        ("requests-availability", "alerting.page_alert"),
        ("requests-latency", "alerting.name"),
        ("requests-latency", "sli.latency"),
    ] {
        let line = format!("SLO \"{slo}\": {field}: ");
        assert!(
            err.lines().any(|l| l.starts_with("warning: ") && l.contains("checkout-sloth.yaml") && l.contains(&line)),
            "no warning for {slo} {field}:\n{err}"
        );
    }
    assert!(err.contains("OpenSLO v1"), "{err}");
    // Field names, never values.
    assert!(!err.contains("runbooks/checkout-requests-availability.md") && !err.contains("critical"), "{err}");
    // What OpenSLO holds is carried: service labels, SLO fields.
    let text = std::fs::read_to_string(&openslo).unwrap();
    assert!(text.contains("team: payments") && text.contains("journey: checkout"), "{text}");
    assert!(text.contains("target: 0.995") && !text.contains("0.99499"), "{text}");

    // Back to Sloth: nothing more is lost, and one document holds both SLOs again.
    let out = bin().args(["convert", "--to", "sloth", "-i"]).arg(&openslo).output().unwrap();
    let sloth = ok(&out, "convert --to sloth");
    assert!(!stderr_of(&out).contains("warning"), "{}", stderr_of(&out));
    let d = docs(&sloth);
    assert_eq!(d.len(), 1, "{sloth}");
    assert_eq!(d[0]["service"].as_str(), Some("checkout"));
    assert_eq!(d[0]["labels"]["team"].as_str(), Some("payments"));
    assert_eq!(d[0]["slos"].as_sequence().unwrap().len(), 2);
    assert_eq!(d[0]["slos"][0]["objective"].as_f64(), Some(99.5));
    assert_eq!(d[0]["slos"][0]["description"].as_str(), Some("Checkout requests that do not fail with a 5xx."));

    // OpenSLO → Sloth loses a period other than the default, and says how to keep it.
    let four_weeks = dir.path().join("28d.yaml");
    std::fs::write(&four_weeks, std::fs::read_to_string(&openslo).unwrap().replace("duration: 30d", "duration: 28d"))
        .unwrap();
    let out = bin()
        .args(["convert", "--to", "sloth", "--default-slo-period", "28d", "-i"])
        .arg(&four_weeks)
        .output()
        .unwrap();
    ok(&out, "28d unchanged");
    assert!(!stderr_of(&out).contains("warning"), "{}", stderr_of(&out));
    let out = bin().args(["convert", "--to", "sloth", "-i"]).arg(&four_weeks).output().unwrap();
    ok(&out, "28d with the 30d default");
    let err = stderr_of(&out);
    for slo in ["requests-availability", "requests-latency"] {
        let line = format!("SLO \"{slo}\": spec.timeWindow: ");
        assert!(err.lines().any(|l| l.contains(&line) && l.contains("--default-slo-period 4w")), "{err}");
    }
    let out = bin().args(["generate", "--default-slo-period", "28d", "-i"]).arg(&four_weeks).output().unwrap();
    ok(&out, "generate from 28d OpenSLO");

    // Sloth → Sloth: nothing to report.
    let out = bin().args(["convert", "--to", "sloth", "-i"]).arg(example("checkout-sloth.yaml")).output().unwrap();
    ok(&out, "sloth to sloth");
    assert!(!stderr_of(&out).contains("warning"), "{}", stderr_of(&out));
}

/// `-i/-o` on `convert` work as on `generate`: short flags, stdin, directory in → directory out.
#[test]
fn convert_takes_input_and_output_like_generate() {
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs");
    std::fs::create_dir(&specs).unwrap();
    std::fs::copy(example("checkout-sloth.yaml"), specs.join("a.yaml")).unwrap();
    std::fs::copy(example("checkout.yaml"), specs.join("b.yml")).unwrap();
    let out_dir = dir.path().join("out");
    ok(&bin().args(["convert", "--to", "openslo", "-i"]).arg(&specs).arg("-o").arg(&out_dir).output().unwrap(), "dir");
    for name in ["a.yaml", "b.yml"] {
        let text = std::fs::read_to_string(out_dir.join(name)).unwrap();
        assert!(text.contains("apiVersion: openslo/v1"), "{name}: {text}");
    }
    let out = bin().args(["convert", "--to", "openslo", "-i"]).arg(&specs).output().unwrap();
    assert!(!out.status.success() && stderr_of(&out).contains("-o DIR"), "{}", stderr_of(&out));

    // `-i -` reads stdin, `--input`/`--out` are the long forms.
    let mut child = bin()
        .args(["convert", "--to", "sloth", "-i", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), SPEC.split("---").next().unwrap().as_bytes()).unwrap();
    let text = ok(&child.wait_with_output().unwrap(), "stdin");
    assert!(text.contains("version: prometheus/v1") && text.contains("CheckoutAvailability"), "{text}");
    let long = dir.path().join("long.yaml");
    ok(
        &bin()
            .args(["convert", "--to", "sloth", "--input"])
            .arg(example("checkout.yaml"))
            .arg("--out")
            .arg(&long)
            .output()
            .unwrap(),
        "long flags",
    );
    assert!(std::fs::read_to_string(&long).unwrap().contains("slo_scout_journey"), "spec labels are kept in specs");
}

/// Regression: `generate --check` without -o printed the rules, then failed with "--check
/// needs -o". It checks the rules in a temporary file and prints only the check report.
#[test]
fn generate_check_without_out_prints_only_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("slos.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = bin().args(["generate", "--check", "-i"]).arg(&spec).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("groups") && !stdout.contains("record:") && !stdout.contains("DO NOT EDIT"), "{stdout}");
    assert!(!dir.path().join("rules.yaml").exists());
    if have_promtool() {
        let text = ok(&out, "generate --check");
        assert!(text.starts_with(&format!("promtool: {} OK", spec.display())), "{text}");
        assert!(text.contains("SUCCESS"), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        // A directory: one report line per spec file, nothing written anywhere.
        let text = ok(&bin().args(["generate", "--check", "-i"]).arg(dir.path()).output().unwrap(), "dir --check");
        assert!(text.contains(&format!("promtool: {} OK", spec.display())), "{text}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    } else {
        assert!(!out.status.success());
    }
}

/// Regression: `slo_scout_journey` / `slo_scout_latency_ms` (there only for the backtest) were
/// copied onto every generated series.
#[test]
fn generate_leaves_out_internal_labels_unless_asked() {
    let text = ok(&bin().args(["generate", "-i"]).arg(example("checkout.yaml")).output().unwrap(), "generate");
    assert!(!text.contains("slo_scout_"), "{text}");
    assert!(text.contains("team: checkout"), "other spec labels stay: {text}");
    let text = ok(
        &bin().args(["generate", "--keep-internal-labels", "-i"]).arg(example("checkout.yaml")).output().unwrap(),
        "--keep-internal-labels",
    );
    assert!(text.contains("slo_scout_journey: POST /cart/checkout") && text.contains("slo_scout_latency_ms"), "{text}");
}

#[test]
fn validate_checks_a_directory_of_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("slos.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an artifact").unwrap();
    let with_promtool = have_promtool();
    if with_promtool {
        ok(
            &bin().args(["generate", "-i"]).arg(&spec).arg("-o").arg(dir.path().join("rules.yaml")).output().unwrap(),
            "gen",
        );
    }
    let out = bin().arg("validate").arg(dir.path()).output().unwrap();
    let text = ok(&out, "validate");
    assert!(text.contains("ok    ") && text.contains("slos.yaml: 2 service level(s), 2 SLO(s)"), "{text}");
    if with_promtool {
        assert!(text.contains("rules.yaml: ") && text.contains("SUCCESS"), "{text}");
        // Break a rule: validate fails and names the file.
        let rules = dir.path().join("rules.yaml");
        let broken = std::fs::read_to_string(&rules).unwrap().replacen("expr: vector(1)", "expr: vector(1", 1);
        std::fs::write(&rules, broken).unwrap();
        let out = bin().arg("validate").arg(dir.path()).output().unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("FAIL  {}", rules.display())));
    }
    assert!(!Path::new(&dir.path().join("missing")).exists());
    let out = bin().arg("validate").arg(dir.path().join("missing")).output().unwrap();
    assert!(!out.status.success());
}
