//! Validation with Prometheus' own `promtool`: `promtool check rules` on every rule file, and a
//! generated `promtool test rules` unit test per SLO — one series that must fire the page alert
//! and one that must keep every alert silent.
//!
//! The unit test feeds the recorded SLI series (`slo:sli_error:ratio_rate<window>`) directly
//! and loads the alert rules alone, so it checks what the alert rules promise (windows, factors,
//! severities, labels and annotations) for any SLI query, however it is written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::model::{ServiceLevel, Slo};
use super::rules::{alert_annotations, generate, sli_record_name, GenerateOptions, RuleFile};
use super::windows::AlertWindows;
use super::SpecError;

/// `promtool` could not be run, or it rejected a file.
#[derive(Debug, thiserror::Error)]
pub enum PromtoolError {
    /// No `promtool` binary found.
    #[error(
        "promtool not found (set PROMTOOL or install Debian's `prometheus` package: apt-get install -y prometheus)"
    )]
    NotFound,
    /// Running it failed.
    #[error("cannot run {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// It ran and reported problems.
    #[error("promtool {command} {file} failed:\n{output}")]
    Failed {
        /// `check rules` or `test rules`.
        command: &'static str,
        /// The file it was given.
        file: PathBuf,
        /// Its stdout and stderr.
        output: String,
    },
}

/// The `promtool` binary: `$PROMTOOL`, else `promtool` on `PATH`.
pub fn find_promtool() -> Result<PathBuf, PromtoolError> {
    if let Some(p) = std::env::var_os("PROMTOOL") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|dir| dir.join("promtool")).find(|p| p.is_file()).ok_or(PromtoolError::NotFound)
}

fn run(command: &'static str, file: &Path) -> Result<String, PromtoolError> {
    let bin = find_promtool()?;
    let (sub, what) = command.split_once(' ').expect("two words");
    // promtool resolves a test file's rule_files relative to the working directory.
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = file.file_name().map(PathBuf::from).unwrap_or_else(|| file.to_path_buf());
    let out = Command::new(&bin)
        .args([sub, what])
        .arg(&name)
        .current_dir(dir)
        .output()
        .map_err(|source| PromtoolError::Spawn { path: bin.clone(), source })?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(PromtoolError::Failed { command, file: file.to_path_buf(), output: text })
    }
}

/// `promtool check rules FILE`; Ok holds promtool's report (`SUCCESS: N rules found`).
pub fn check_rules(file: &Path) -> Result<String, PromtoolError> {
    run("check rules", file)
}

/// `promtool test rules FILE` (rule files are resolved relative to the test file's folder).
pub fn test_rules(file: &Path) -> Result<String, PromtoolError> {
    run("test rules", file)
}

#[derive(Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: &'static str,
    tests: Vec<TestCase>,
}

#[derive(Serialize)]
struct TestCase {
    name: String,
    interval: &'static str,
    input_series: Vec<InputSeries>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Serialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Serialize)]
struct AlertTest {
    eval_time: &'static str,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Serialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

/// Expands `{{$labels.x}}` / `{{ $labels.x }}` as Prometheus' alert templating does.
fn expand(template: &str, labels: &BTreeMap<String, String>) -> String {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}").expect("static regex")
    });
    RE.replace_all(template, |c: &regex::Captures| labels.get(&c[1]).cloned().unwrap_or_default()).into_owned()
}

/// The unit tests of one service level's alerts, as a `promtool test rules` file that loads
/// `rules_file`: the rule file that ships (recordings and alerts), so the tests check the
/// thresholds that are deployed, not a copy. The inputs are the recorded SLI series the alerts
/// read; the recording rules over raw metrics find none and stay silent.
///
/// Per SLO with alerts and per alert condition (page quick/slow, ticket quick/slow): the
/// condition's two windows burning at 1.2× its factor must fire that severity, at 0.9× nothing;
/// so a wrong window, factor or severity fails a test.
pub fn unit_tests(level: &ServiceLevel, opts: &GenerateOptions, rules_file: &str) -> Result<String, SpecError> {
    let mut tests = Vec::new();
    for slo in &level.slos {
        if opts.disable_alerts || !slo.alerting.any_enabled() {
            continue;
        }
        let period = slo.period.unwrap_or(opts.default_period);
        let windows = opts.windows.get(period)?;
        for index in 0..windows.conditions().len() {
            tests.push(case(level, slo, windows, index, true));
            tests.push(case(level, slo, windows, index, false));
        }
    }
    let file = TestFile { rule_files: vec![rules_file.to_owned()], evaluation_interval: "1m", tests };
    Ok(serde_yaml_ng::to_string(&file).expect("test file serialises"))
}

/// One test: the two windows of alert condition `index` burn at 1.2× (`above`) or 0.9× its
/// factor, every other window at zero, so exactly that condition decides.
fn case(level: &ServiceLevel, slo: &Slo, windows: &AlertWindows, index: usize, above: bool) -> TestCase {
    let budget = slo.error_budget_ratio();
    let (severity, cond) = windows.conditions()[index];
    let threshold = cond.factor(windows.period) * budget;
    // Capped at 1: an error ratio above 100 % cannot happen.
    let ratio = (if above { 1.2 } else { 0.9 } * threshold).min(1.0);
    let fires = ratio > threshold;
    let id = slo.id(&level.service);
    let series_labels = BTreeMap::from([
        ("sloth_id".to_owned(), id.clone()),
        ("sloth_service".to_owned(), level.service.clone()),
        ("sloth_slo".to_owned(), slo.name.clone()),
    ]);
    let input_series = windows
        .sli_windows()
        .into_iter()
        .map(|w| {
            let mut labels = series_labels.clone();
            labels.insert("sloth_window".into(), w.to_string());
            let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let value = if w == cond.short || w == cond.long { ratio } else { 0.0 };
            InputSeries {
                series: format!("{}{{{}}}", sli_record_name(w), inner.join(", ")),
                values: format!("{value}x30"),
            }
        })
        .collect();
    let mut exp_alerts = Vec::new();
    let meta = if severity == "page" { &slo.alerting.page } else { &slo.alerting.ticket };
    if fires && !meta.disable {
        let mut labels = series_labels.clone();
        labels.extend(slo.alerting.labels.clone());
        labels.extend(meta.labels.clone());
        labels.insert("sloth_severity".into(), severity.into());
        // Annotations as generated, then templated with the alert's labels.
        let annotations = alert_annotations(slo, severity, meta);
        let annotations = annotations.into_iter().map(|(k, v)| (k, expand(&v, &labels))).collect();
        exp_alerts.push(ExpAlert { exp_labels: labels, exp_annotations: annotations });
    }
    TestCase {
        name: format!(
            "{id}: {severity} {}/{} at {}x the {} burn rate {}",
            cond.short,
            cond.long,
            if above { "1.2" } else { "0.9" },
            cond.factor(windows.period),
            if exp_alerts.is_empty() { "stays silent" } else { "fires" }
        ),
        interval: "1m",
        input_series,
        alert_rule_test: vec![AlertTest { eval_time: "10m", alertname: slo.alerting.name.clone(), exp_alerts }],
    }
}

/// What [`write_rules_and_tests`] wrote.
#[derive(Debug, Clone)]
pub struct ValidatedRules {
    /// The rule file (`<name>.yaml`).
    pub rules: PathBuf,
    /// The unit-test file (`<name>.test.yaml`) over the rule file, if any alert exists.
    pub tests: Option<PathBuf>,
}

/// Writes a service level's rules and their unit tests into `dir` as `<name>.yaml` and
/// `<name>.test.yaml` (the latter only when an alert is generated); the tests load the rule file
/// itself. Rules for Kubernetes specs are written as plain rule files here, because promtool
/// reads rule files, not `PrometheusRule` objects.
pub fn write_rules_and_tests(
    level: &ServiceLevel,
    opts: &GenerateOptions,
    dir: &Path,
    name: &str,
) -> Result<ValidatedRules, std::io::Error> {
    let to_io = |e: SpecError| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string());
    std::fs::create_dir_all(dir)?;
    let rules: RuleFile = generate(level, opts).map_err(to_io)?;
    let rules_name = format!("{name}.yaml");
    let rules_path = dir.join(&rules_name);
    std::fs::write(&rules_path, serde_yaml_ng::to_string(&rules).expect("rules serialise"))?;
    let has_alerts = rules.groups.iter().any(|g| g.rules.iter().any(|r| r.alert.is_some()));
    if !has_alerts || opts.disable_alerts {
        return Ok(ValidatedRules { rules: rules_path, tests: None });
    }
    let tests_path = dir.join(format!("{name}.test.yaml"));
    std::fs::write(&tests_path, unit_tests(level, opts, &rules_name).map_err(to_io)?)?;
    Ok(ValidatedRules { rules: rules_path, tests: Some(tests_path) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{parse_documents, ReadOptions};

    #[test]
    fn label_templates_expand() {
        let labels = BTreeMap::from([("sloth_service".to_owned(), "api".to_owned())]);
        assert_eq!(
            expand("{{$labels.sloth_service}} / {{ $labels.sloth_service }} {{$labels.x}}", &labels),
            "api / api "
        );
    }

    #[test]
    fn cases_straddle_each_condition() {
        let text = r#"
version: prometheus/v1
service: api
slos:
  - name: avail
    objective: 99.9
    sli: {raw: {error_ratio_query: 'avg_over_time(err_ratio[{{.window}}])'}}
    alerting: {name: ApiAvail, annotations: {runbook: 'see {{$labels.sloth_slo}}'}, ticket_alert: {disable: true}}
"#;
        let level = parse_documents(text, &ReadOptions::default()).unwrap().remove(0);
        let yaml = unit_tests(&level, &GenerateOptions::default(), "a.yaml").unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        let tests = v["tests"].as_sequence().unwrap();
        assert_eq!(tests.len(), 8);
        let fired: Vec<usize> =
            tests.iter().map(|t| t["alert_rule_test"][0]["exp_alerts"].as_sequence().unwrap().len()).collect();
        // Page conditions fire above their factor; the ticket alert is disabled.
        assert_eq!(fired, vec![1, 0, 1, 0, 0, 0, 0, 0]);
        let first = &tests[0]["alert_rule_test"][0]["exp_alerts"][0];
        assert_eq!(first["exp_annotations"]["runbook"].as_str(), Some("see avail"));
        let value = |t: &serde_yaml_ng::Value, i: usize| -> f64 {
            t["input_series"][i]["values"].as_str().unwrap().split('x').next().unwrap().parse().unwrap()
        };
        // Window order is 5m, 30m, 1h, ...: the page-quick case drives 5m and 1h only.
        assert!((value(&tests[0], 0) - 1.2 * 14.4 * 0.001).abs() < 1e-9);
        assert_eq!(value(&tests[0], 1), 0.0);
    }
}
