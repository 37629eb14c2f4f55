//! Conformance with Sloth v0.16 on its own fixtures (`../shared/datasets/sloth`): same groups,
//! rule names, labels, annotations, windows, factors and PromQL after parsing and normalising.
//! Skips (and says so) when the shared datasets are absent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slo_artifacts::{self as slo, GenerateOptions, PromDuration, ReadOptions, RuleFile, WindowCatalog};

fn sloth_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/sloth");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} not found (shared datasets absent)", dir.display());
        None
    }
}

/// Canonical PromQL text with numbers cut out (compared separately, with a tolerance, because
/// Sloth prints float artefacts such as 0.9990000000000001).
fn normalise(expr: &str) -> (String, Vec<f64>) {
    let parsed = promql_parser::parser::parse(expr).unwrap_or_else(|e| panic!("unparsable PromQL {expr:?}: {e}"));
    let text = parsed.to_string();
    let num = regex::Regex::new(r"(?:^|[^\w.\]])(\d+(?:\.\d+)?(?:e[-+]?\d+)?)").unwrap();
    let mut numbers = Vec::new();
    let mut skeleton = String::new();
    let mut last = 0;
    for c in num.captures_iter(&text) {
        let m = c.get(1).unwrap();
        // Durations such as [5m] stay in the skeleton.
        if text[m.end()..].starts_with(|ch: char| ch.is_ascii_alphabetic()) {
            continue;
        }
        skeleton.push_str(&text[last..m.start()]);
        skeleton.push('#');
        numbers.push(m.as_str().parse().unwrap());
        last = m.end();
    }
    skeleton.push_str(&text[last..]);
    (skeleton, numbers)
}

fn same_expr(ours: &str, theirs: &str, ctx: &str) {
    let (a, an) = normalise(ours);
    let (b, bn) = normalise(theirs);
    assert_eq!(a, b, "{ctx}: PromQL differs\n ours:   {ours}\n sloth:  {theirs}");
    assert_eq!(an.len(), bn.len(), "{ctx}");
    for (x, y) in an.iter().zip(&bn) {
        assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{ctx}: number {x} vs {y}");
    }
}

fn strip_version(mut labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.remove("sloth_version");
    labels
}

fn expected_docs(path: &Path) -> Vec<RuleFile> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .filter_map(|de| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(de).unwrap();
            (!v.is_null()).then(|| serde_yaml_ng::from_value(v).unwrap())
        })
        .collect()
}

fn compare(ours: &RuleFile, theirs: &RuleFile, ctx: &str) {
    let names = |f: &RuleFile| f.groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(ours), names(theirs), "{ctx}: groups");
    for (g, h) in ours.groups.iter().zip(&theirs.groups) {
        assert_eq!(g.rules.len(), h.rules.len(), "{ctx}: rules in {}", g.name);
        for (r, s) in g.rules.iter().zip(&h.rules) {
            let rctx = format!("{ctx}: {} {:?}{:?}", g.name, r.record, r.alert);
            assert_eq!((&r.record, &r.alert), (&s.record, &s.alert), "{rctx}");
            assert_eq!(strip_version(r.labels.clone()), strip_version(s.labels.clone()), "{rctx}: labels");
            assert_eq!(r.annotations, s.annotations, "{rctx}: annotations");
            same_expr(&r.expr, &s.expr, &rctx);
        }
    }
}

fn check_pair(input: &Path, expected: &Path, opts: &GenerateOptions) {
    let text = std::fs::read_to_string(input).unwrap();
    let read = ReadOptions { default_period: opts.default_period };
    let levels = slo::parse_documents(&text, &read).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
    let want = expected_docs(expected);
    assert_eq!(levels.len(), want.len(), "{}: documents", input.display());
    for (level, theirs) in levels.iter().zip(&want) {
        let ours = slo::generate(level, opts).unwrap();
        compare(&ours, theirs, &format!("{} -> {}", input.display(), expected.display()));
        // Our YAML parses back to the same rules.
        let back: RuleFile = serde_yaml_ng::from_str(&ours.to_yaml(&level.source)).unwrap();
        assert_eq!(back, ours);
    }
}

#[test]
fn base_pairs_match_sloth() {
    let Some(dir) = sloth_dir() else { return };
    let input = dir.join("in-base.yaml");
    check_pair(&input, &dir.join("out-base.yaml"), &GenerateOptions::default());
    check_pair(
        &input,
        &dir.join("out-base-no-alerts.yaml"),
        &GenerateOptions { disable_alerts: true, ..Default::default() },
    );
    check_pair(
        &input,
        &dir.join("out-base-no-recordings.yaml"),
        &GenerateOptions { disable_recordings: true, ..Default::default() },
    );
    check_pair(
        &input,
        &dir.join("out-base-28d.yaml"),
        &GenerateOptions { default_period: PromDuration::days(28), ..Default::default() },
    );
}

#[test]
fn windows_files_give_the_same_rules_as_builtins() {
    let Some(dir) = sloth_dir() else { return };
    let catalog = WindowCatalog::with_dir(&dir.join("windows")).unwrap();
    check_pair(
        &dir.join("in-base.yaml"),
        &dir.join("out-base-28d.yaml"),
        &GenerateOptions { default_period: PromDuration::days(28), windows: catalog, ..Default::default() },
    );
}

#[test]
fn openslo_pair_matches_sloth() {
    let Some(dir) = sloth_dir() else { return };
    check_pair(&dir.join("in-openslo.yaml"), &dir.join("out-openslo.yaml"), &GenerateOptions::default());
}

#[test]
fn examples_match_sloth() {
    let Some(dir) = sloth_dir() else { return };
    let opts = GenerateOptions {
        extra_labels: BTreeMap::from([("cmd".to_owned(), "examplesgen.sh".to_owned())]),
        ..Default::default()
    };
    let mut n = 0;
    for entry in std::fs::read_dir(dir.join("examples/in")).unwrap() {
        let input = entry.unwrap().path();
        let expected = dir.join("examples/out").join(input.file_name().unwrap());
        check_pair(&input, &expected, &opts);
        n += 1;
    }
    assert!(n >= 4, "only {n} examples");
}

#[test]
fn validation_fixtures() {
    let Some(dir) = sloth_dir() else { return };
    let read = ReadOptions::default();
    for entry in std::fs::read_dir(dir.join("validate/good")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let levels = slo::parse_documents(&text, &read).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for level in &levels {
            slo::generate(level, &GenerateOptions::default()).unwrap();
        }
    }
    let expect_field = [
        ("bad-aa.yaml", "slos[1].objective"),
        ("bad-ab.yaml", "slos[1].objective"),
        ("bad-ba.yaml", "slos[1].objective"),
        ("bad-k8s.yaml", "spec.service"),
        ("bad-multi-k8s.yaml", "spec.slos[0].alerting.name"),
        ("bad-multi.yaml", "sli"),
        ("bad-openslo.yaml", "spec.timeWindows[0].count"),
    ];
    for (file, field) in expect_field {
        let text = std::fs::read_to_string(dir.join("validate/bad").join(file)).unwrap();
        let err = slo::parse_documents(&text, &read).expect_err(file);
        assert!(err.field.contains(field), "{file}: error {err} does not name {field}");
    }
    let text = std::fs::read_to_string(dir.join("in-invalid-version.yaml")).unwrap();
    let err = slo::parse_documents(&text, &read).unwrap_err();
    assert_eq!(err.field, "version", "{err}");
    assert!(err.to_string().contains("prometheus/v999"), "{err}");
}
