//! The command-line entry points, called exactly as outside evaluators call them.

use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slo-runner"))
}

#[test]
fn redact_reads_stdin_and_writes_findings_with_byte_offsets() {
    let mut child = bin().arg("redact").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let input = "login ok email=ralph@davis.com ip=10.214.26.169 trace_id=1371c17149d439536b3216fdaeeb9757\nnothing here at 12:30:45\n";
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let first = input.lines().next().unwrap();
    assert_eq!(lines[0]["text"], "login ok email=<EMAIL> ip=<IP> trace_id=1371c17149d439536b3216fdaeeb9757");
    let findings = lines[0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    let spans: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f["type"].as_str().unwrap(), &first[f["start"].as_u64().unwrap() as usize..f["end"].as_u64().unwrap() as usize]))
        .collect();
    assert_eq!(spans, vec![("EMAIL", "ralph@davis.com"), ("IPV4", "10.214.26.169")]);
    assert_eq!(lines[1]["text"], "nothing here at 12:30:45");
    assert!(lines[1]["findings"].as_array().unwrap().is_empty());
}

#[test]
fn mine_writes_line_ids_and_templates_in_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!("2025-01-01 10:00:{:02} INFO worker: job {} finished in {} ms\n", i, 1000 + i, i * 7));
        text.push_str(&format!("2025-01-01 10:00:{:02} WARN pool: connection to db-{} lost\n", i, i % 3));
    }
    std::fs::write(&log, text).unwrap();
    let pred = dir.path().join("pred.csv");
    let status = bin()
        .args(["mine", "--input"]).arg(&log)
        .args(["--log-format", "<Date> <Time> <Level> <Component>: <Content>", "--predictions"]).arg(&pred)
        .status().unwrap();
    assert!(status.success());
    let csv = std::fs::read_to_string(&pred).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "LineId,EventTemplate");
    assert_eq!(rows.len(), 101);
    assert_eq!(rows[1], "1,job <*> finished in <*> ms");
    assert_eq!(rows[2], "2,connection to db-<*> lost");
    assert_eq!(rows[100], "100,connection to db-<*> lost");
}

#[test]
fn run_counts_malformed_records_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    let good = |i: u64| format!("{{\"event_id\":\"e{i}\",\"service\":\"api\",\"timestamp_ms\":{},\"body\":\"user bob@example.com fetched item {i}\",\"severity\":\"INFO\"}}\n", 1_735_689_600_000 + i * 1000);
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&good(i));
        if i == 5 {
            text.push_str("{\"event_id\": \"broken\", \"body\": \"secret=hunter2 and carol@example.com\"\n");
        }
        if i == 9 {
            text.push_str("{\"service\":\"api\",\"body\":\"no timestamp for dave@example.com\"}\n");
        }
        if i == 12 {
            // serde_json quotes the bad value in its error message: the reason must be redacted.
            text.push_str("{\"service\":\"api\",\"timestamp_ms\":\"erin@example.com\"}\n");
        }
    }
    std::fs::write(&input, text).unwrap();
    let out_dir = dir.path().join("out");
    let out = bin().args(["run", "--input"]).arg(&input).arg("--out").arg(&out_dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(summary.contains("events:        20"), "{summary}");
    assert!(summary.contains("malformed:     3"), "{summary}");
    let capsules = std::fs::read_to_string(out_dir.join("capsules.jsonl")).unwrap();
    let dead = std::fs::read_to_string(out_dir.join("dead_letters.jsonl")).unwrap();
    let counts: u64 = capsules.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["count"].as_u64().unwrap()).sum();
    assert_eq!(counts, 20);
    assert_eq!(dead.lines().count(), 3);
    assert!(dead.contains("\"line\":7") && dead.contains("missing timestamp"), "{dead}");
    for leaked in ["bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com", "hunter2"] {
        assert!(!capsules.contains(leaked) && !dead.contains(leaked), "{leaked} leaked");
    }
}

#[test]
fn run_on_embedded_defaults_produces_capsules() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin().args(["run", "-w", "2", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let capsules = std::fs::read_to_string(dir.path().join("capsules.jsonl")).unwrap();
    assert!(capsules.lines().count() >= 20);
    assert!(String::from_utf8_lossy(&out.stdout).contains("redactions:    "));
}

#[test]
fn bad_flags_get_a_clear_error() {
    let out = bin().args(["run", "--input", "/definitely/not/here"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = bin().args(["mine", "--input", "x", "--log-format", "<Unclosed", "--predictions", "p.csv"]).output().unwrap();
    assert!(!out.status.success());
}
