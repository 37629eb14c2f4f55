//! `slo-runner validate PATH...`: checks every SLO artifact it finds — SLO specs (Sloth,
//! Kubernetes, OpenSLO; like `sloth validate`), alert-window files, Prometheus rule files and
//! `PrometheusRule` objects (`promtool check rules`), promtool unit tests (`promtool test
//! rules`) and Grafana dashboards (structural check) — and fails if any is wrong.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use slo_artifacts::promtool::{check_rules, test_rules};
use slo_artifacts::{self as slo, AlertWindows, PromDuration, ReadOptions};

/// Arguments of `validate`.
#[derive(clap::Args)]
pub(crate) struct ValidateArgs {
    /// Files or directories (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// SLO period of specs that do not set one.
    #[arg(long, default_value = "30d")]
    default_slo_period: String,
}

/// What a file was recognised as.
enum Kind {
    Spec,
    AlertWindows,
    Rules,
    PrometheusRule,
    RuleTest,
    Dashboard,
    /// A YAML file whose documents do not parse: invalid, whatever it was meant to be.
    BrokenYaml(String),
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("reading {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            // Skip VCS metadata.
            if e.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            walk(&e, out)?;
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    } else {
        bail!("{} does not exist", path.display());
    }
    Ok(())
}

fn classify(path: &Path, text: &str) -> Option<Kind> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => {
            let v: serde_json::Value = serde_json::from_str(text).ok()?;
            v.get("panels").is_some().then_some(Kind::Dashboard)
        }
        Some("yaml" | "yml") => {
            if let Err(e) = slo::check_yaml_nesting(text) {
                return Some(Kind::BrokenYaml(e.to_string()));
            }
            // The first document that is not empty. A syntax error ends the search: the
            // deserializer repeats its error forever, so it must not be skipped over.
            let mut first = None;
            for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                match <serde_yaml_ng::Value as serde::Deserialize>::deserialize(de) {
                    Ok(v) if v.is_null() => continue,
                    Ok(v) => {
                        first = Some(v);
                        break;
                    }
                    Err(e) => return Some(Kind::BrokenYaml(format!("document {}: {e}", i + 1))),
                }
            }
            let first = first?;
            let s = |k: &str| first.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            if first.get("rule_files").is_some() && first.get("tests").is_some() {
                Some(Kind::RuleTest)
            } else if first.get("groups").is_some() {
                Some(Kind::Rules)
            } else if s("kind") == "PrometheusRule" {
                Some(Kind::PrometheusRule)
            } else if s("kind") == "AlertWindows" {
                Some(Kind::AlertWindows)
            } else if first.get("version").is_some()
                || s("apiVersion").starts_with("openslo/")
                || s("apiVersion").starts_with("sloth.slok.dev/")
                || first.is_sequence()
            {
                Some(Kind::Spec)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `promtool check rules` on every document of a rule file: plain rule files and the `spec` of
/// `PrometheusRule` objects (promtool reads one plain document per file, so each is checked on
/// its own).
pub(crate) fn check_rule_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let dir = tempfile::tempdir()?;
    let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let mut reports = Vec::new();
    for (n, rules) in rule_documents(path, &text)? {
        let tmp = dir.path().join(format!("{stem}.document{n}.yaml"));
        std::fs::write(&tmp, serde_yaml_ng::to_string(&rules)?)?;
        let report = check_rules(&tmp).map_err(|e| anyhow::anyhow!("{}: document {n}: {e}", path.display()))?;
        reports.push(format!("document {n}: {}", report.trim()));
    }
    Ok(reports.join("; "))
}

/// The non-empty documents of a rule file as plain rule files, with their 1-based numbers: a
/// `PrometheusRule` object stands for its `spec` (promtool reads plain rule files only).
fn rule_documents(path: &Path, text: &str) -> anyhow::Result<Vec<(usize, serde_yaml_ng::Value)>> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let mut v: serde_yaml_ng::Value =
            serde::Deserialize::deserialize(de).with_context(|| format!("{}: document {}", path.display(), i + 1))?;
        if v.is_null() {
            continue;
        }
        if v.get("kind").and_then(|k| k.as_str()) == Some("PrometheusRule") {
            v = v["spec"].clone();
        }
        docs.push((i + 1, v));
    }
    Ok(docs)
}

/// `promtool test rules` on a unit-test file, over the rule files it names as they are: each is
/// resolved against the test's folder, and a `PrometheusRule` object is handed to promtool as its
/// `spec` (promtool reads plain rule files only). The report names the rule files tested.
pub(crate) fn test_rule_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut test: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).with_context(|| format!("{}: not a promtool test file", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let dir = tempfile::tempdir()?;
    let mut tested = Vec::new();
    let files = test.get_mut("rule_files").and_then(|f| f.as_sequence_mut()).map(std::mem::take).unwrap_or_default();
    let mut plain = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let name = f.as_str().with_context(|| format!("{}: rule_files[{i}] is not a path", path.display()))?;
        let rules_path = base.join(name);
        let rules_text = std::fs::read_to_string(&rules_path)
            .with_context(|| format!("{}: rule file {}", path.display(), rules_path.display()))?;
        let mut groups = Vec::new();
        for (_, rules) in rule_documents(&rules_path, &rules_text)? {
            if let Some(g) = rules.get("groups").and_then(|g| g.as_sequence()) {
                groups.extend(g.iter().cloned());
            }
        }
        let tmp = dir.path().join(format!("rules{i}.yaml"));
        let mut doc = serde_yaml_ng::Mapping::new();
        doc.insert("groups".into(), serde_yaml_ng::Value::Sequence(groups));
        std::fs::write(&tmp, serde_yaml_ng::to_string(&doc)?)?;
        plain.push(serde_yaml_ng::Value::String(tmp.display().to_string()));
        tested.push(rules_path.display().to_string());
    }
    test["rule_files"] = serde_yaml_ng::Value::Sequence(plain);
    let file_name = path.file_name().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("test.yaml"));
    let tmp_test = dir.path().join(file_name);
    std::fs::write(&tmp_test, serde_yaml_ng::to_string(&test)?)?;
    let report = test_rules(&tmp_test).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(format!("{} (rules: {})", report.trim().replace('\n', " "), tested.join(", ")))
}

fn validate_one(path: &Path, kind: &Kind, period: PromDuration) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)?;
    Ok(match kind {
        Kind::Spec => {
            let levels =
                slo::parse_documents(&text, &ReadOptions { default_period: period }).map_err(|e| e.in_file(path))?;
            format!("{} service level(s), {} SLO(s)", levels.len(), levels.iter().map(|l| l.slos.len()).sum::<usize>())
        }
        Kind::BrokenYaml(why) => anyhow::bail!("not valid YAML: {why}"),
        Kind::AlertWindows => {
            let w = AlertWindows::from_yaml(&text).map_err(|e| e.in_file(path))?;
            format!("alert windows for {}", w.period)
        }
        Kind::Rules | Kind::PrometheusRule => check_rule_file(path)?.trim().replace('\n', " "),
        Kind::RuleTest => test_rule_file(path)?,
        Kind::Dashboard => {
            let v: serde_json::Value = serde_json::from_str(&text)?;
            slo::dashboard::check_dashboard(&v).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            format!(
                "dashboard {:?}, {} panels",
                v["title"].as_str().unwrap_or(""),
                v["panels"].as_array().map_or(0, Vec::len)
            )
        }
    })
}

/// Runs `validate`.
pub(crate) fn run(args: ValidateArgs) -> anyhow::Result<()> {
    let period: PromDuration =
        args.default_slo_period.parse().map_err(|e: String| anyhow::anyhow!("--default-slo-period: {e}"))?;
    let mut files = Vec::new();
    for p in &args.paths {
        walk(p, &mut files)?;
    }
    let (mut ok, mut failed, mut skipped) = (0, 0, 0);
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(_) => {
                skipped += 1;
                continue;
            }
        };
        let Some(kind) = classify(file, &text) else {
            skipped += 1;
            continue;
        };
        match validate_one(file, &kind, period) {
            Ok(report) => {
                ok += 1;
                println!("ok    {}: {report}", file.display());
            }
            Err(e) => {
                failed += 1;
                println!("FAIL  {}: {e:#}", file.display());
            }
        }
    }
    println!("{ok} valid, {failed} invalid, {skipped} not SLO artifacts");
    if failed > 0 {
        bail!("{failed} file(s) failed validation");
    }
    if ok == 0 {
        bail!("no SLO artifacts found in {:?}", args.paths);
    }
    Ok(())
}
