//! Progress on stderr and short-history caveats (issue "The newcomer's path"), through the
//! binary as a user runs it: stderr is a pipe here, not a terminal, so progress comes as plain
//! lines.

use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slo-runner"));
    // The tests choose the progress settings themselves.
    c.env_remove("SLO_SCOUT_PROGRESS").env_remove("SLO_SCOUT_PROGRESS_INTERVAL_MS");
    c
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn example_slo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo/checkout.yaml")
}

/// Regression: `analyze` ran silently however long it took. With stderr not a terminal it
/// writes progress lines (every `SLO_SCOUT_PROGRESS_INTERVAL_MS`; 0: every update) to stderr,
/// never to stdout, without colour or carriage returns.
#[test]
fn analyze_writes_progress_lines_to_stderr_and_nothing_extra_to_stdout() {
    let args = ["analyze", "--format", "json", "--requests", "1500"];
    let lines = run(bin().args(args).env("SLO_SCOUT_PROGRESS_INTERVAL_MS", "0").env("NO_COLOR", "1"));
    let err = String::from_utf8_lossy(&lines.stderr);
    for stage in ["analyze: loading spans (", "analyze: analysing traces (", "analyze: recommending SLOs (0/"] {
        assert!(err.lines().any(|l| l.starts_with(stage)), "no {stage:?} line in {err}");
    }
    let done = err.lines().find(|l| l.starts_with("analyze: done (")).unwrap_or_else(|| panic!("{err}"));
    assert!(done.ends_with(" s)"), "{done}");
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");

    // stdout is the JSON alone, the same as with progress off.
    let json: serde_json::Value = serde_json::from_slice(&lines.stdout).unwrap();
    assert!(!json["journeys"].as_array().unwrap().is_empty());
    let off = run(bin().args(args).env("SLO_SCOUT_PROGRESS", "off").env("SLO_SCOUT_PROGRESS_INTERVAL_MS", "0"));
    assert_eq!(String::from_utf8_lossy(&off.stdout), String::from_utf8_lossy(&lines.stdout));
    assert!(!String::from_utf8_lossy(&off.stderr).contains("analyze:"), "{}", String::from_utf8_lossy(&off.stderr));
    // The default interval (5 s) is longer than this run: no lines at all.
    let quick = run(bin().args(args));
    assert!(!String::from_utf8_lossy(&quick.stderr).contains("analyze:"), "{}", String::from_utf8_lossy(&quick.stderr));
    // A table goes to stdout with no progress line in it either.
    let table = run(bin().args(["analyze", "--requests", "1500"]).env("SLO_SCOUT_PROGRESS_INTERVAL_MS", "0"));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("JOURNEYS") && !text.contains("analyze:"), "{text}");
    assert!(String::from_utf8_lossy(&table.stderr).contains("analyze: done ("));
}

/// Regression: a 30-minute history printed `1 tickets (336.00/week, ...)` as if measured, and
/// `--frequencies-out` handed that on to the policy guard unmarked. Now the rates are marked
/// low-confidence in the table, the JSON and the frequencies, and stderr warns.
#[test]
fn backtest_marks_rates_from_a_short_history_low_confidence() {
    let dir = tempfile::tempdir().unwrap();
    let freq = dir.path().join("frequencies.json");
    let slo = example_slo();
    // 2,000 generated requests: about 30 minutes of history.
    let out = run(bin()
        .args(["backtest", "--requests", "2000", "--format", "json", "--slo"])
        .arg(&slo)
        .arg("--frequencies-out")
        .arg(&freq)
        .env("SLO_SCOUT_PROGRESS_INTERVAL_MS", "0"));
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let av = &reports[0];
    let minutes = av["minutes"].as_u64().unwrap();
    assert!(minutes < 7 * 1440, "{minutes}");
    let a = &av["alert_summary"];
    assert_eq!(a["low_confidence"], true, "{a}");
    assert_eq!(a["history_minutes"].as_u64(), Some(minutes));
    assert_eq!(av["covers_period"], false);
    assert!(av["warnings"][0].as_str().unwrap().contains("low confidence"), "{}", av["warnings"]);

    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: SLO shop-checkout-availability: alert rates per week are extrapolated from"),
        "{err}"
    );
    assert!(err.contains("shorter than the SLO period 30d"), "{err}");
    // Progress of the replay, one SLO at a time, on stderr.
    assert!(err.contains("backtest: replaying shop-checkout-availability (0/2"), "{err}");
    assert!(err.contains("backtest: done (2/2, 100 %"), "{err}");

    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&freq).unwrap()).unwrap();
    for entry in f.as_array().unwrap() {
        assert_eq!(entry["low_confidence"], true, "{entry}");
        assert_eq!(entry["history_minutes"].as_u64(), Some(minutes), "{entry}");
    }

    let table = run(bin().args(["backtest", "--requests", "2000", "--slo"]).arg(&slo));
    let text = String::from_utf8_lossy(&table.stdout);
    let alerts = text.lines().find(|l| l.trim_start().starts_with("alerts:")).unwrap();
    assert!(
        alerts.contains(&format!("[low confidence: extrapolated from {minutes} minutes of history, less than a week]")),
        "{alerts}"
    );
    assert!(!text.contains("warning:") && !text.contains("backtest:"), "{text}");
}
