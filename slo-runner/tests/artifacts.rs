//! `slo-runner artifacts` and `slo-runner publish`, end to end: spec → rules, dashboard and
//! runbooks → policy guard, audit log → a branch in a bare repository (→ a pull request).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use slo_artifacts::policy::verify_audit_log;

const SPEC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/slo/checkout-sloth.yaml");
const TOKEN: &str = "ghp_n0t-a-real-t0ken-42";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_slo-runner"))
}

fn git(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("git").current_dir(cwd).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `artifacts` for a spec text, into `dir`.
fn artifacts(spec: &str, dir: &Path) {
    let spec_path = dir.with_extension("yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let out = bin().args(["artifacts", "--slo"]).arg(&spec_path).arg("--out").arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// A bare repository whose `main` holds a README.
fn bare_repo(root: &Path) -> std::path::PathBuf {
    let bare = root.join("slos.git");
    git(root, &["init", "--quiet", "--bare", "-b", "main", bare.to_str().unwrap()]);
    let seed = root.join("seed");
    git(root, &["clone", "--quiet", bare.to_str().unwrap(), seed.to_str().unwrap()]);
    std::fs::write(seed.join("README.md"), "SLOs\n").unwrap();
    git(&seed, &["add", "README.md"]);
    git(&seed, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "init"]);
    git(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
    bare
}

fn publish(bare: &Path, branch: &str, dir: &Path, audit: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["publish", "--repo", bare.to_str().unwrap(), "--branch", branch, "--dir"])
        .arg(dir)
        .args(["--author", "Ada Lovelace <ada@example.com>", "--message", "SLOs for checkout", "--audit-log"])
        .arg(audit)
        .args(extra)
        .env_remove("GITHUB_TOKEN")
        .env_remove("SLO_SCOUT_GIT_TOKEN")
        .output()
        .unwrap()
}

fn branches(bare: &Path) -> String {
    git(bare, &["branch", "--list", "--format=%(refname:short)"])
}

#[test]
fn artifacts_then_publish_with_the_policy_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = std::fs::read_to_string(SPEC).unwrap();
    let out = tmp.path().join("out");
    artifacts(&spec, &out);
    for f in [
        "rules/checkout.yaml",
        "dashboards/checkout.json",
        "runbooks/checkout-requests-availability.md",
        "runbooks/checkout-requests-latency.md",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("dashboards/checkout.json")).unwrap()).unwrap();
    slo_artifacts::dashboard::check_dashboard(&dash).unwrap();
    let rules = std::fs::read_to_string(out.join("rules/checkout.yaml")).unwrap();
    assert!(rules.contains("alert: CheckoutAvailability") && rules.contains("slo:period_error_budget_remaining:ratio"));
    let runbook = std::fs::read_to_string(out.join("runbooks/checkout-requests-latency.md")).unwrap();
    assert!(runbook.contains("### CheckoutLatency (page)"), "{runbook}");
    assert!(out.join("tests/checkout.test.yaml").is_file() && !out.join("tests/checkout.alerts.yaml").exists());
    // Everything generated validates: specs, promtool check + unit tests, dashboards.
    let promtool = std::env::var_os("PROMTOOL").is_some()
        || std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join("promtool").is_file());
    assert!(promtool || std::env::var("SLO_SCOUT_REQUIRE_PROMTOOL").as_deref() != Ok("1"), "no promtool");
    if promtool {
        let v = bin().arg("validate").arg(&out).output().unwrap();
        let report = text(&v);
        assert!(v.status.success(), "{report}");
        assert!(report.contains("checkout.test.yaml: Unit Testing") && report.contains("0 invalid"), "{report}");
        assert!(report.contains("rules/checkout.yaml)"), "the tests run over the shipped rules: {report}");
        // Regression (issue 18): an edited page threshold in the deployed rule file validated,
        // because the unit tests loaded a separate copy of the alerts.
        let edited = tmp.path().join("edited");
        copy_dir(&out, &edited);
        let rules_path = edited.join("rules/checkout.yaml");
        let deployed = std::fs::read_to_string(&rules_path).unwrap();
        assert!(deployed.contains("(14.4 * "), "{deployed}");
        std::fs::write(&rules_path, deployed.replacen("(14.4 * ", "(144 * ", 1)).unwrap();
        let v = bin().arg("validate").arg(&edited).output().unwrap();
        assert!(!v.status.success(), "{}", text(&v));
        assert!(text(&v).contains("FAIL") && text(&v).contains("checkout.test.yaml"), "{}", text(&v));
    }

    let bare = bare_repo(tmp.path());
    let audit = tmp.path().join("audit.jsonl");
    let first = publish(&bare, "slo/checkout", &out, &audit, &[]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("decision: approve"), "{}", text(&first));
    assert_eq!(git(&bare, &["show", "slo/checkout:rules/checkout.yaml"]), rules);
    let files = git(&bare, &["ls-tree", "-r", "--name-only", "slo/checkout"]);
    assert_eq!(
        files,
        "README.md\ndashboards/checkout.json\nrules/checkout.yaml\nrunbooks/checkout-requests-availability.md\nrunbooks/checkout-requests-latency.md\ntests/checkout.test.yaml\n"
    );
    let log = git(&bare, &["log", "-1", "--format=%an <%ae>%n%B", "slo/checkout"]);
    assert!(log.starts_with("Ada Lovelace <ada@example.com>\nSLOs for checkout\n"), "{log}");
    assert!(log.contains("Policy-Decision: approve") && log.contains("Audit-Entry: 1"), "{log}");
    assert_eq!(git(&bare, &["ls-tree", "--name-only", "main"]), "README.md\n", "main is untouched");

    // The branch is merged: the guard now compares against these artifacts.
    git(&bare, &["update-ref", "refs/heads/main", "refs/heads/slo/checkout"]);
    let again = publish(&bare, "slo/same", &out, &audit, &[]);
    assert!(!again.status.success());
    assert!(text(&again).contains("nothing to commit"), "{}", text(&again));

    // A higher objective needs a second approval: pushed, but refused with --require-approved.
    let strict = tmp.path().join("strict");
    artifacts(&spec.replace("objective: 99.5", "objective: 99.95"), &strict);
    let refused = publish(&bare, "slo/strict-required", &strict, &audit, &["--require-approved", "--approver", "bob"]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("decision: needs-approval"), "{}", text(&refused));
    assert!(text(&refused).contains("needs a second approval"), "{}", text(&refused));
    let approved = publish(
        &bare,
        "slo/strict",
        &strict,
        &audit,
        &["--require-approved", "--approver", "bob", "--approver", "carol"],
    );
    assert!(approved.status.success(), "{}", text(&approved));
    assert!(text(&approved).contains("decision: approve"));

    // Removing the page alert is rejected and nothing is pushed.
    let quiet = tmp.path().join("quiet");
    artifacts(&spec.replace("page_alert:\n        labels: {severity: critical}\n      ticket_alert:\n        labels: {severity: warning}\n  - name: \"requests-latency\"", "page_alert:\n        disable: true\n      ticket_alert:\n        labels: {severity: warning}\n  - name: \"requests-latency\""), &quiet);
    let quiet_rules = std::fs::read_to_string(quiet.join("rules/checkout.yaml")).unwrap();
    assert_eq!(quiet_rules.matches("alert: CheckoutAvailability").count(), 1, "only the ticket alert is left");
    let rejected = publish(&bare, "slo/quiet", &quiet, &audit, &[]);
    assert!(!rejected.status.success());
    assert!(text(&rejected).contains("removes the page alert CheckoutAvailability"), "{}", text(&rejected));
    let b = branches(&bare);
    assert!(
        b.contains("slo/strict\n")
            && !b.contains("slo/quiet")
            && !b.contains("slo/strict-required")
            && !b.contains("slo/same"),
        "{b}"
    );

    let entries = verify_audit_log(&audit).unwrap();
    let decisions: Vec<String> = entries.iter().map(|e| e.decision.to_string()).collect();
    assert_eq!(decisions, ["approve", "approve", "needs-approval", "approve", "reject"]);
    assert_eq!(entries[3].approved_by, ["bob", "carol"]);
    assert_eq!(entries[0].who, "Ada Lovelace <ada@example.com>");
    assert_eq!(entries[0].what["branch"], "slo/checkout");
}

/// Answers one HTTP request with `status` and `body` (`{auth}` replaced by the request's
/// Authorization header); returns the raw request.
fn one_request(status: u16, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then as many body bytes as Content-Length says.
        while let Ok(n) = stream.read(&mut buf) {
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if raw.len() >= end + 4 + len || n == 0 {
                    break;
                }
            }
        }
        let request = String::from_utf8_lossy(&raw).to_string();
        let auth =
            request.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization:")).unwrap_or("").to_owned();
        let body = body.replace("{auth}", &auth);
        let reply = format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        stream.write_all(reply.as_bytes()).unwrap();
        request
    });
    (url, handle)
}

#[test]
fn publish_opens_a_pull_request_and_never_prints_the_token() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    artifacts(&std::fs::read_to_string(SPEC).unwrap(), &out);
    let bare = bare_repo(tmp.path());
    let audit = tmp.path().join("audit.jsonl");

    let (api, server) = one_request(201, r#"{"number": 12, "html_url": "https://github.example/o/r/pull/12"}"#);
    let run = |branch: &str, api: &str| {
        bin()
            .args(["publish", "--repo", bare.to_str().unwrap(), "--branch", branch, "--dir"])
            .arg(&out)
            .arg("--audit-log")
            .arg(&audit)
            .args(["--open-pr", "github", "--project", "o/r", "--api-url", api])
            .env("GITHUB_TOKEN", TOKEN)
            .env("SLO_SCOUT_LOG", "trace")
            .output()
            .unwrap()
    };
    let ok = run("slo/pr", &api);
    let request = server.join().unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("pull request #12: https://github.example/o/r/pull/12"), "{}", text(&ok));
    assert!(!text(&ok).contains(TOKEN), "{}", text(&ok));
    assert!(request.starts_with("POST /repos/o/r/pulls HTTP/1.1\r\n"), "{request}");
    assert!(
        request.to_ascii_lowercase().contains(&format!("authorization: bearer {}", TOKEN.to_ascii_lowercase())),
        "{request}"
    );
    let body: serde_json::Value = serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["head"], "slo/pr");
    assert_eq!(body["base"], "main");
    assert_eq!(body["title"], "Update SLO artifacts");
    assert!(body["body"].as_str().unwrap().contains("**Policy decision: approve**"), "{body}");

    // The API refuses and echoes the credentials back: the error must not show them.
    let (api, server) = one_request(401, r#"{"message": "Bad credentials ({auth})"}"#);
    let failed = run("slo/pr-2", &api);
    let request = server.join().unwrap();
    assert!(request.contains(TOKEN), "the server did get the token");
    assert!(!failed.status.success());
    let all = text(&failed);
    assert!(all.contains("401") && all.contains("Bad credentials"), "{all}");
    assert!(!all.contains(TOKEN), "{all}");
    // Trace logging was on for both runs: the log lines are there, the token is not.
    assert!(all.contains("TRACE") || all.contains("DEBUG") || all.contains("INFO"), "{all}");

    // Without the token variable, --open-pr stops before touching anything.
    let missing = bin()
        .args(["publish", "--repo", bare.to_str().unwrap(), "--branch", "slo/pr-3", "--dir"])
        .arg(&out)
        .args(["--open-pr", "github", "--project", "o/r"])
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(text(&missing).contains("GITHUB_TOKEN"), "{}", text(&missing));
}

#[test]
fn artifacts_with_a_store_attach_evidence_capsules_and_trace_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, store, out) = (tmp.path().join("data"), tmp.path().join("store"), tmp.path().join("out"));
    let sample = bin().args(["sample", "--requests", "3000", "--out"]).arg(&data).output().unwrap();
    assert!(sample.status.success(), "{}", text(&sample));
    let run = bin()
        .args(["run", "--input"])
        .arg(&data)
        .arg("--store")
        .arg(&store)
        .arg("--out")
        .arg(tmp.path().join("run"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    // The sample directory holds events and a hidden ground truth: nothing in it is malformed.
    assert!(text(&run).contains("malformed:     0 (dead letters)"), "{}", text(&run));
    let done = bin().args(["artifacts", "--slo", SPEC, "--out"]).arg(&out).arg("--store").arg(&store).output().unwrap();
    assert!(done.status.success(), "{}", text(&done));
    let md = std::fs::read_to_string(out.join("runbooks/checkout-requests-availability.md")).unwrap();
    let evidence = &md[md.find("## Evidence").unwrap()..md.find("## First checks").unwrap()];
    // The sample's checkout service logs this error template; its samples carry trace ids.
    assert!(
        evidence.contains("| checkout |") && evidence.contains("`order <*> failed: upstream returned status <*>`"),
        "{evidence}"
    );
    let traces: Vec<&str> = evidence.lines().filter_map(|l| l.strip_prefix("- `")?.strip_suffix('`')).collect();
    assert!(
        !traces.is_empty() && traces.iter().all(|t| t.len() == 32 && t.chars().all(|c| c.is_ascii_hexdigit())),
        "{evidence}"
    );
    assert!(!md.contains("No evidence was attached"));
}

/// The backtest's expected alert frequency feeds the policy guard: the example SLOs on the
/// generated sample (checkout fails ~3 % of the time against 99 % objectives) would open tickets
/// every few hours, so the change needs approval and `--require-approved` refuses to push it.
#[test]
fn backtest_frequencies_drive_the_policy_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/slo/checkout.yaml");
    let freq = tmp.path().join("frequencies.json");
    let out = bin().args(["backtest", "--slo"]).arg(&spec).arg("--frequencies-out").arg(&freq).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let f: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&freq).unwrap()).unwrap();
    let f = f.as_array().unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["service"], "shop");
    assert_eq!(f[0]["slo"], "checkout-availability");
    assert!(f[0]["tickets_per_week"].as_f64().unwrap() > 10.0, "{f:?}");

    let dir = tmp.path().join("out");
    artifacts(&std::fs::read_to_string(&spec).unwrap(), &dir);
    let bare = bare_repo(tmp.path());
    let audit = tmp.path().join("audit.jsonl");
    let strict =
        publish(&bare, "slo/strict", &dir, &audit, &["--frequencies", freq.to_str().unwrap(), "--require-approved"]);
    assert!(!strict.status.success(), "{}", text(&strict));
    let report = text(&strict);
    assert!(report.contains("needs-approval") && report.contains("tickets a week"), "{report}");
    assert!(!branches(&bare).contains("slo/strict"));
    // Without the frequencies the same change is approved.
    let plain = publish(&bare, "slo/plain", &dir, &audit, &[]);
    assert!(plain.status.success() && text(&plain).contains("decision: approve"), "{}", text(&plain));
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Regression (issue 17, defect 13): `publish --path` could point outside the clone and wrote
/// there before git refused; and the audit entry was written before a push that then failed.
#[test]
fn publish_stays_inside_the_clone_and_audits_only_what_happened() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    artifacts(&std::fs::read_to_string(SPEC).unwrap(), &out);
    let bare = bare_repo(tmp.path());
    let audit = tmp.path().join("audit.jsonl");
    for bad in ["../escaped", "/tmp/escaped", "a/../../escaped", ".git/hooks"] {
        let o = publish(&bare, "slo/x", &out, &audit, &["--path", bad]);
        assert!(!o.status.success(), "{bad}: {}", text(&o));
        assert!(text(&o).contains("invalid repository path"), "{}", text(&o));
    }
    assert!(!tmp.path().join("escaped").exists() && !Path::new("/tmp/escaped/rules").exists());
    assert!(!audit.exists(), "nothing was decided, nothing audited");

    // A remote that refuses every push: the entry records the failure, not a publish.
    let hook = bare.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho refused by policy >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = publish(&bare, "slo/y", &out, &audit, &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("nothing was published"), "{}", text(&o));
    let entries = verify_audit_log(&audit).unwrap();
    assert_eq!(entries.len(), 1);
    let outcome = entries[0].what["outcome"].as_str().unwrap();
    assert!(outcome.starts_with("push failed"), "{outcome}");
    assert!(!branches(&bare).contains("slo/y"));
    std::fs::remove_file(&hook).unwrap();
    let o = publish(&bare, "slo/y", &out, &audit, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let entries = verify_audit_log(&audit).unwrap();
    assert_eq!(entries[1].what["outcome"], "pushed");
    let log = git(&bare, &["log", "-1", "--format=%B", "slo/y"]);
    assert!(log.contains("Audit-Entry: 2"), "{log}");
}

/// Regression (issue 17, defect 13): services `a/b` and `a_b` wrote the same file names (6 files
/// reported, 3 existed). Distinct names now get distinct files.
#[test]
fn distinct_services_never_share_artifact_files() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(SPEC).unwrap();
    let spec = format!(
        "{}\n---\n{}",
        base.replace("service: \"checkout\"", "service: \"a/b\"").replace("service: checkout", "service: \"a/b\""),
        base.replace("service: \"checkout\"", "service: \"a_b\"").replace("service: checkout", "service: \"a_b\"")
    );
    let out = tmp.path().join("out");
    let spec_path = tmp.path().join("two.yaml");
    std::fs::write(&spec_path, spec).unwrap();
    let o = bin().args(["artifacts", "-i"]).arg(&spec_path).arg("-o").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect();
    let mut on_disk = Vec::new();
    for dir in ["rules", "tests", "dashboards", "runbooks"] {
        for e in std::fs::read_dir(out.join(dir)).unwrap() {
            on_disk.push(e.unwrap().path());
        }
    }
    assert_eq!(listed.len(), on_disk.len(), "every file reported exists once: {listed:?}");
    assert!(out.join("rules/a_b.yaml").is_file());
    assert!(on_disk.iter().all(|p| p.starts_with(&out)));
}
