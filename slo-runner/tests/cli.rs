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
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let first = input.lines().next().unwrap();
    assert_eq!(lines[0]["text"], "login ok email=<EMAIL> ip=<IP> trace_id=1371c17149d439536b3216fdaeeb9757");
    let findings = lines[0]["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2);
    let spans: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["type"].as_str().unwrap(),
                &first[f["start"].as_u64().unwrap() as usize..f["end"].as_u64().unwrap() as usize],
            )
        })
        .collect();
    assert_eq!(spans, vec![("EMAIL", "ralph@davis.com"), ("IPV4", "10.214.26.169")]);
    assert_eq!(lines[1]["text"], "nothing here at 12:30:45");
    assert!(lines[1]["findings"].as_array().unwrap().is_empty());

    // Invalid UTF-8 is replaced in the text; the offsets still count the input's bytes.
    let mut child = bin().arg("redact").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let input = b"\xff\xfe mail ralph@davis.com\n";
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["text"], "\u{fffd}\u{fffd} mail <EMAIL>");
    assert_eq!((line["findings"][0]["start"].as_u64(), line["findings"][0]["end"].as_u64()), (Some(8), Some(23)));
}

#[test]
fn errors_name_the_cause_once() {
    let out =
        bin().args(["mine", "--input", "/nonexistent/app.log", "--predictions", "/tmp/never.csv"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: /nonexistent/app.log"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
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
        .args(["mine", "--input"])
        .arg(&log)
        .args(["--log-format", "<Date> <Time> <Level> <Component>: <Content>", "--predictions"])
        .arg(&pred)
        .status()
        .unwrap();
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
    let good = |i: u64| {
        format!("{{\"event_id\":\"e{i}\",\"service\":\"api\",\"timestamp_ms\":{},\"body\":\"user bob@example.com fetched item {i}\",\"severity\":\"INFO\"}}\n", 1_735_689_600_000 + i * 1000)
    };
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
    let counts: u64 = capsules
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["count"].as_u64().unwrap())
        .sum();
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
    // Runs in a temp dir: without `--out`, `run` would write to `out/run` under the test's cwd.
    let cwd = tempfile::tempdir().unwrap();
    let out = bin().current_dir(cwd.path()).args(["run", "--input", "/definitely/not/here"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = bin()
        .current_dir(cwd.path())
        .args(["mine", "--input", "x", "--log-format", "<Unclosed", "--predictions", "p.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn example_slo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo/checkout.yaml")
}

fn json_out(args: &[&str]) -> serde_json::Value {
    let out = bin().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn backtest_replays_the_example_slos_on_the_sample_and_from_the_store() {
    let slo = example_slo();
    let slo = slo.to_str().unwrap();
    // The generated sample: checkout fails ~3 % of the time, so a 99 % availability SLO burns
    // about 3x its budget: not met, tickets fire.
    let reports = json_out(&["backtest", "--slo", slo, "--format", "json"]);
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    let av = &reports[0];
    assert_eq!(av["slo"]["journey"], "POST /cart/checkout");
    assert_eq!(av["slo"]["sli"]["kind"], "availability");
    let ratio = av["bad_events"].as_f64().unwrap() / av["requests"].as_f64().unwrap();
    assert!((0.015..0.05).contains(&ratio), "{ratio}");
    assert_eq!(av["met"], false);
    assert!(av["alert_summary"]["tickets"].as_u64().unwrap() >= 1, "{}", av["alert_summary"]);
    let p = av["bootstrap"]["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(reports[1]["slo"]["sli"]["threshold_ms"], 1000.0);
    // What-if: twice the errors, twice the bad events.
    let worse = json_out(&["backtest", "--slo", slo, "--format", "json", "--what-if", "errors=2"]);
    let ratio2 = worse[0]["bad_events"].as_f64().unwrap() / av["bad_events"].as_f64().unwrap();
    assert!((ratio2 - 2.0).abs() < 1e-9, "{ratio2}");
    assert_eq!(worse[0]["what_if"], "errors=2");

    // The same history through the store's sli_minutes table gives the same availability.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = dir.path().join("store");
    let status = bin().args(["sample", "--requests", "20000", "--out"]).arg(&data).status().unwrap();
    assert!(status.success());
    let events = data.join("events.jsonl");
    let out =
        bin().args(["analyze", "--write-sli", "--input"]).arg(&events).arg("--store").arg(&store).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RECOMMENDED SLOs") && text.contains("availability"), "{text}");
    let from_spans = json_out(&["backtest", "--slo", slo, "--format", "json", "--input", events.to_str().unwrap()]);
    let from_store = json_out(&["backtest", "--slo", slo, "--format", "json", "--store", store.to_str().unwrap()]);
    assert_eq!(from_spans[0]["bad_events"], from_store[0]["bad_events"]);
    assert_eq!(from_spans[0]["requests"], from_store[0]["requests"]);
    // Latency from stored percentiles is interpolated, from spans exact: close, not equal.
    let (a, b) = (from_spans[1]["bad_events"].as_f64().unwrap(), from_store[1]["bad_events"].as_f64().unwrap());
    assert!((a - b).abs() <= 0.5 * a.max(b) + 3.0, "{a} vs {b}");

    // A journey that is not in the history is a clear error.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(example_slo()).unwrap().replace("POST /cart/checkout", "GET /nowhere"),
    )
    .unwrap();
    let out = bin().args(["backtest", "--slo"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GET /nowhere") && err.contains("POST /cart/checkout"), "{err}");
}

#[test]
fn analyze_json_includes_recommendations() {
    let a = json_out(&["analyze", "--format", "json", "--requests", "3000"]);
    let recs = a["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), a["journeys"].as_array().unwrap().len());
    let v = &recs[0]["variants"][0];
    assert_eq!(v["sli"]["kind"], "availability");
    let c = &v["confidence"];
    for part in ["score", "volume", "stability", "coverage"] {
        let x = c[part].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{part} {x}");
    }
    assert!(recs[0]["variants"].as_array().unwrap().len() >= 2);
}

#[test]
fn spans_without_status_fall_back_to_error_logs_or_a_rule() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let status = bin().args(["sample", "--requests", "5000", "--out"]).arg(&data).status().unwrap();
    assert!(status.success());
    let events = data.join("events.jsonl");
    // The same events with every span and HTTP status removed.
    let stripped = dir.path().join("stripped.jsonl");
    let mut out = String::new();
    for line in std::fs::read_to_string(&events).unwrap().lines() {
        let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
        e["status"] = serde_json::Value::Null;
        e["http_status"] = serde_json::Value::Null;
        out.push_str(&e.to_string());
        out.push('\n');
    }
    std::fs::write(&stripped, out).unwrap();
    let errors = |a: &serde_json::Value| -> Vec<(String, u64, String)> {
        a["slis"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["journey"].as_str().unwrap().to_string(),
                    s["errors"].as_u64().unwrap(),
                    s["error_source"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let original = json_out(&["analyze", "--format", "json", "--input", events.to_str().unwrap()]);
    let recovered = json_out(&["analyze", "--format", "json", "--input", stripped.to_str().unwrap()]);
    let (o, r) = (errors(&original), errors(&recovered));
    assert!(o.iter().map(|x| x.1).sum::<u64>() > 10);
    assert_eq!(o.len(), r.len());
    for (o, r) in o.iter().zip(&r) {
        assert_eq!((&o.0, o.1, o.2.as_str()), (&r.0, r.1, "span_status"));
        assert_eq!(r.2, "log_trace_ids");
    }
    assert_eq!(recovered["error_fallback"]["source"], "log_trace_ids");
    // Without the logs nothing fails, and the SLIs say why.
    let blind = json_out(&["analyze", "--format", "json", "--no-error-logs", "--input", stripped.to_str().unwrap()]);
    assert!(errors(&blind).iter().all(|(_, n, src)| *n == 0 && src == "none"));
    // A rule: slow requests of the checkout journey.
    let ruled = json_out(&[
        "analyze",
        "--format",
        "json",
        "--error-rule",
        "duration_ms > 600 && route == /cart/checkout",
        "--input",
        stripped.to_str().unwrap(),
    ]);
    let r = errors(&ruled);
    assert!(r.iter().all(|(_, _, src)| src == "rule"));
    assert!(r.iter().any(|(j, n, _)| j == "POST /cart/checkout" && *n > 0), "{r:?}");
    assert!(r.iter().all(|(j, n, _)| j == "POST /cart/checkout" || *n == 0), "{r:?}");
    let table =
        bin().args(["analyze", "--error-rule", "duration_ms > 600", "--input"]).arg(&stripped).output().unwrap();
    assert!(table.status.success());
    assert!(String::from_utf8_lossy(&table.stdout).contains("error rule \"duration_ms > 600\" marked"));
    // A bad rule names itself.
    let bad = bin().args(["analyze", "--error-rule", "attr:x>1", "--input"]).arg(&stripped).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown field"), "{}", String::from_utf8_lossy(&bad.stderr));
    // backtest sees the same bad events with statuses or with the log fallback.
    let slo = example_slo();
    let with = json_out(&[
        "backtest",
        "--slo",
        slo.to_str().unwrap(),
        "--format",
        "json",
        "--input",
        events.to_str().unwrap(),
    ]);
    let without = json_out(&[
        "backtest",
        "--slo",
        slo.to_str().unwrap(),
        "--format",
        "json",
        "--input",
        stripped.to_str().unwrap(),
    ]);
    assert!(with[0]["bad_events"].as_f64().unwrap() > 0.0);
    assert_eq!(with[0]["bad_events"], without[0]["bad_events"]);
    let none = json_out(&[
        "backtest",
        "--slo",
        slo.to_str().unwrap(),
        "--format",
        "json",
        "--no-error-logs",
        "--input",
        stripped.to_str().unwrap(),
    ]);
    assert_eq!(none[0]["bad_events"].as_f64().unwrap(), 0.0);
}

#[test]
fn analyze_llm_rationale_uses_the_configured_model_or_falls_back() {
    use std::io::{BufRead, BufReader, Read};
    // Unconfigured: the statistical rationale, with the reason.
    let out = bin()
        .args(["analyze", "--format", "json", "--requests", "1000", "--llm-rationale"])
        .env_remove("SLO_SCOUT_LLM_BASE_URL")
        .env_remove("SLO_SCOUT_LLM_MODEL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in a["recommendations"].as_array().unwrap() {
        assert_eq!(r["rationale"]["source"]["kind"], "statistical");
        assert!(r["rationale"]["fallback_reason"].as_str().unwrap().contains("SLO_SCOUT_LLM_BASE_URL is not set"));
        assert!(r["rationale"]["text"].as_str().unwrap().starts_with("availability: objective"));
    }
    // A local OpenAI-compatible server: one answer per journey.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let mut auth = Vec::new();
        for _ in 0..5 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end().to_string();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap(),
                        "authorization" => auth.push(v.trim().to_string()),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let text = r#"{"choices":[{"message":{"role":"assistant","content":"Objectives follow the rolling-window history."}}]}"#;
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).unwrap();
        }
        auth
    });
    let out = bin()
        .args(["analyze", "--format", "json", "--requests", "1000", "--llm-rationale"])
        .env("SLO_SCOUT_LLM_BASE_URL", &base)
        .env("SLO_SCOUT_LLM_MODEL", "local-model")
        .env("SLO_SCOUT_LLM_API_KEY", "sk-cli-secret")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let recs = a["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 5);
    for r in recs {
        assert_eq!(r["rationale"]["source"]["model"], "local-model", "{}", r["rationale"]);
        assert_eq!(r["rationale"]["text"], "Objectives follow the rolling-window history.");
    }
    assert_eq!(server.join().unwrap(), vec!["Bearer sk-cli-secret".to_string(); 5]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sk-cli-secret"));
}

/// `query` over a store with a truncated Parquet file: the answer comes from the other files,
/// stderr names the file left out and the exit status says the answer is incomplete
/// (regression, issue 18: it printed `error:` and exited 0); `--strict` fails without answering.
#[test]
fn query_leaves_a_corrupt_file_out_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = bin().args(["run", "--out"]).arg(dir.path().join("out")).arg("--store").arg(&store).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let total = |extra: &[&str]| {
        bin()
            .args(["query", "SELECT COUNT(*) AS n FROM capsules", "--format", "csv", "--store"])
            .arg(&store)
            .args(extra)
            .output()
            .unwrap()
    };
    let before = total(&[]);
    assert!(before.status.success());
    let before: u64 = String::from_utf8_lossy(&before.stdout).lines().nth(1).unwrap().trim().parse().unwrap();
    let files = walk_files(&store.join("capsules"));
    assert!(files.len() >= 2, "{files:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() / 3]).unwrap();
    let name = files[0].strip_prefix(&store).unwrap().to_string_lossy().into_owned();

    let out = total(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an incomplete answer must not exit 0: {stderr}");
    assert!(stderr.contains("unreadable file left out") && stderr.contains(&name), "{stderr}");
    assert!(stderr.contains("the answer above is incomplete"), "{stderr}");
    let after: u64 = String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(after > 0 && after < before, "{after} of {before}");

    let strict = total(&["--strict"]);
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains(&name), "{}", String::from_utf8_lossy(&strict.stderr));
}

#[test]
fn sql_trace_assembly_over_a_store_gives_the_same_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store) = (dir.path().join("data"), dir.path().join("store"));
    assert!(bin().args(["sample", "--requests", "2000", "--out"]).arg(&data).status().unwrap().success());
    let run = bin()
        .args(["run", "--input"])
        .arg(&data)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let store = store.to_str().unwrap();
    let memory = json_out(&["analyze", "--format", "json", "--store", store]);
    let sql = json_out(&["analyze", "--format", "json", "--sql-assembly", "--store", store]);
    assert_eq!(memory["traces"], 2000);
    assert_eq!(memory, sql);
    // Split into passes of at most 2,000 spans (about ten here): the same analysis.
    let passes =
        json_out(&["analyze", "--format", "json", "--sql-assembly", "--sql-spans-per-pass", "2000", "--store", store]);
    assert_eq!(memory, passes);
    // A store over --sql-assembly-above goes to DataFusion by itself, and says so.
    let auto =
        bin().args(["analyze", "--format", "json", "--sql-assembly-above", "1000", "--store", store]).output().unwrap();
    assert!(auto.status.success(), "{}", String::from_utf8_lossy(&auto.stderr));
    assert!(String::from_utf8_lossy(&auto.stderr).contains("trace assembly by DataFusion"));
    assert_eq!(memory, serde_json::from_slice::<serde_json::Value>(&auto.stdout).unwrap());
    let forced = bin()
        .args(["analyze", "--format", "json", "--sql-assembly-above", "1000", "--memory-assembly", "--store", store])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&forced.stderr).contains("DataFusion"));
    assert_eq!(memory, serde_json::from_slice::<serde_json::Value>(&forced.stdout).unwrap());
    let tiny =
        bin().args(["analyze", "--sql-assembly", "--sql-spans-per-pass", "0", "--store", store]).output().unwrap();
    assert!(!tiny.status.success() && String::from_utf8_lossy(&tiny.stderr).contains("--sql-spans-per-pass"));
    let memory = json_out(&["analyze", "--format", "json", "--service", "auth", "--store", store]);
    let sql = json_out(&["analyze", "--format", "json", "--service", "auth", "--sql-assembly", "--store", store]);
    assert_eq!(memory, sql);
    assert_eq!(sql["journeys"].as_array().unwrap().len(), 1);

    // Spans without a status: the SQL assembly decides them by the error logs (or a rule) as the
    // in-memory assembly does, and says what it did.
    let stripped_dir = dir.path().join("stripped");
    std::fs::create_dir_all(&stripped_dir).unwrap();
    let mut lines = String::new();
    for line in std::fs::read_to_string(data.join("events.jsonl")).unwrap().lines() {
        let mut e: serde_json::Value = serde_json::from_str(line).unwrap();
        e["status"] = serde_json::Value::Null;
        e["http_status"] = serde_json::Value::Null;
        lines.push_str(&e.to_string());
        lines.push('\n');
    }
    std::fs::write(stripped_dir.join("events.jsonl"), lines).unwrap();
    let bare = dir.path().join("bare");
    let run = bin()
        .args(["run", "--archive-raw", "--input"])
        .arg(&stripped_dir)
        .arg("--store")
        .arg(&bare)
        .arg("--out")
        .arg(dir.path().join("out2"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    for extra in [&[][..], &["--error-rule", "duration_ms > 200 || op ~= login"][..]] {
        let out = bin()
            .args(["analyze", "--format", "json", "--sql-assembly", "--sql-spans-per-pass", "2000"])
            .args(extra)
            .arg("--store")
            .arg(&bare)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("spans carry no status: "), "{err}");
        let mem = bin()
            .args(["analyze", "--format", "json", "--memory-assembly"])
            .args(extra)
            .arg("--store")
            .arg(&bare)
            .output()
            .unwrap();
        assert!(mem.status.success(), "{}", String::from_utf8_lossy(&mem.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&mem.stdout), "{extra:?}");
        let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let source = if extra.is_empty() { "log_trace_ids" } else { "rule" };
        assert_eq!(a["error_fallback"]["source"], source, "{}", a["error_fallback"]);
        assert!(a["error_fallback"]["failed"].as_u64().unwrap() > 0, "{}", a["error_fallback"]);
    }
}

/// Regression: reading commands created a missing store directory and answered 0 rows with
/// exit 0. They fail, say there is no store, and create nothing.
#[test]
fn reading_commands_refuse_a_store_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nosuchstore");
    let runs: [&[&str]; 4] = [
        &["query", "SELECT COUNT(*) FROM capsules", "--store"],
        &["compact", "--store"],
        &["retention", "--store"],
        &["analyze", "--store"],
    ];
    for args in runs {
        let out = bin().args(args).arg(&missing).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("no store at {}", missing.display())), "{args:?}: {err}");
        assert!(!missing.exists(), "{args:?} created the store directory");
    }
}

/// `retention --dry-run` says what would go and deletes nothing; the real run then removes
/// exactly that.
#[test]
fn retention_dry_run_previews_without_deleting() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let run = bin().args(["run", "--out"]).arg(dir.path().join("out")).arg("--store").arg(&store).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let files = || walk_files(&store);
    let before = files();
    assert!(!before.is_empty());
    let retention = |dry: bool| {
        let mut c = bin();
        c.args(["retention", "--now", "2100-01-01T00:00:00Z", "--store"]).arg(&store);
        if dry {
            c.arg("--dry-run");
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let preview = retention(true);
    assert_eq!(files(), before, "a dry run deleted files");
    let would: usize = preview
        .split("would remove ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{preview}"));
    assert!(would > 0, "{preview}");
    let real = retention(false);
    assert!(real.contains(&format!("files removed {would} ")), "{real}");
    assert_eq!(before.len() - files().len(), would);
}

/// The Parquet files under `dir`, sorted.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Regression: a misspelt section (`[windw]`) or key (`size` for `size_ms`) in `--config` was
/// ignored silently, so the run went on with defaults. Both are errors that name the culprit.
#[test]
fn unknown_config_sections_and_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (text, culprit) in [("[windw]\nsize_ms = 300000\n", "windw"), ("[window]\nsize = \"5m\"\n", "size")] {
        let config = dir.path().join("pipeline.toml");
        std::fs::write(&config, text).unwrap();
        let out =
            bin().args(["run", "--config"]).arg(&config).arg("--out").arg(dir.path().join("out")).output().unwrap();
        assert!(!out.status.success(), "{text:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("unknown field `{culprit}`")), "{text:?}: {err}");
    }
    // The right spelling still works.
    std::fs::write(dir.path().join("ok.toml"), "[window]\nsize_ms = 300000\n").unwrap();
    let out = bin()
        .args(["run", "--config"])
        .arg(dir.path().join("ok.toml"))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
