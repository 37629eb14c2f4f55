//! GitOps against real git: a local bare repository as the remote, a local HTTP server standing
//! in for a git host and for the GitHub/GitLab APIs. The token must never show up in errors or
//! logs.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use slo_artifacts::gitops::*;

mod common;
use common::serve;

const TOKEN: &str = "tok-5ecret-XYZ";

fn git(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(cwd)
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository with one commit on `main` holding `rules/old.yaml` and `README.md`.
fn seeded_remote(root: &Path) -> String {
    let bare = root.join("remote.git");
    git(root, &["init", "--quiet", "--bare", "-b", "main", bare.to_str().unwrap()]);
    let seed = root.join("seed");
    git(root, &["clone", "--quiet", bare.to_str().unwrap(), seed.to_str().unwrap()]);
    std::fs::create_dir_all(seed.join("rules")).unwrap();
    std::fs::write(seed.join("rules/old.yaml"), "groups: []\n").unwrap();
    std::fs::write(seed.join("README.md"), "SLO artifacts\n").unwrap();
    git(&seed, &["add", "."]);
    git(&seed, &["commit", "--quiet", "-m", "seed"]);
    git(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
    bare.to_str().unwrap().to_owned()
}

fn artifacts(root: &Path) -> std::path::PathBuf {
    let src = root.join("out");
    std::fs::create_dir_all(src.join("rules")).unwrap();
    std::fs::create_dir_all(src.join("dashboards")).unwrap();
    std::fs::write(src.join("rules/checkout.yaml"), "groups:\n- name: g\n  rules: []\n").unwrap();
    std::fs::write(src.join("dashboards/checkout.json"), "{}\n").unwrap();
    src
}

#[test]
fn pushes_a_branch_with_the_artifacts_to_a_bare_repository() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = seeded_remote(tmp.path());
    let src = artifacts(tmp.path());
    let checkout = Checkout::clone_remote(&remote, None, None).unwrap();
    assert_eq!(checkout.base(), Some("main"));
    assert!(checkout.path().join("rules/old.yaml").exists());
    checkout.sync_dir(&src, "").unwrap();
    let author = Author::parse("Ada <ada@example.com>");
    let out = checkout.commit_and_push("slo/checkout-1", "", "SLO artifacts for checkout", &author).unwrap();
    let mut changes = out.changes.clone();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            ('A', "dashboards/checkout.json".into()),
            ('A', "rules/checkout.yaml".into()),
            ('D', "rules/old.yaml".into())
        ]
    );
    let bare = Path::new(&remote);
    let shown = git(bare, &["show", "slo/checkout-1:rules/checkout.yaml"]);
    assert_eq!(shown, "groups:\n- name: g\n  rules: []\n");
    let log = git(bare, &["log", "--format=%an <%ae>|%s|%H", "slo/checkout-1", "-1"]);
    assert_eq!(log.trim(), format!("Ada <ada@example.com>|SLO artifacts for checkout|{}", out.commit));
    // Files outside the synced directories stay; main is untouched.
    assert_eq!(git(bare, &["show", "slo/checkout-1:README.md"]), "SLO artifacts\n");
    assert!(git(bare, &["ls-tree", "-r", "--name-only", "main"]).contains("rules/old.yaml"));

    // The same artifacts again, from the pushed branch: nothing to commit.
    let again = Checkout::clone_remote(&remote, Some("slo/checkout-1"), None).unwrap();
    again.sync_dir(&src, "").unwrap();
    let err = again.commit_and_push("slo/checkout-2", "", "again", &author).unwrap_err();
    assert!(matches!(err, GitOpsError::NothingToCommit { .. }), "{err}");

    // Pushing to an existing branch with other history fails rather than overwriting it.
    let other = Checkout::clone_remote(&remote, None, None).unwrap();
    std::fs::write(src.join("rules/checkout.yaml"), "groups: []\n").unwrap();
    other.sync_dir(&src, "").unwrap();
    assert!(other.commit_and_push("slo/checkout-1", "", "clash", &author).is_err());
    assert!(matches!(other_branch_err(&remote), GitOpsError::BadBranch(_)));
}

fn other_branch_err(remote: &str) -> GitOpsError {
    let c = Checkout::clone_remote(remote, None, None).unwrap();
    c.commit_and_push("bad..name", "", "m", &Author::default()).unwrap_err()
}

#[test]
fn first_push_to_an_empty_repository_and_into_a_subdirectory() {
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("empty.git");
    git(tmp.path(), &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
    let src = artifacts(tmp.path());
    let checkout = Checkout::clone_remote(bare.to_str().unwrap(), None, None).unwrap();
    assert_eq!(checkout.base(), None);
    checkout.sync_dir(&src, "slo/generated").unwrap();
    let out = checkout.commit_and_push("slo/first", "slo/generated", "first", &Author::default()).unwrap();
    assert_eq!(out.changes.len(), 2);
    let files = git(&bare, &["ls-tree", "-r", "--name-only", "slo/first"]);
    assert_eq!(files, "slo/generated/dashboards/checkout.json\nslo/generated/rules/checkout.yaml\n");
}

/// Captures every `log` record (the HTTP client logs through `log`), at every level.
struct Capture(Mutex<String>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0.lock().unwrap().push_str(&format!("{} {}\n", record.target(), record.args()));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(String::new()));

fn capture_logs() {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
}

fn spec(forge: Forge, api_url: String, project: &str) -> PullRequestSpec {
    PullRequestSpec {
        forge,
        api_url,
        project: project.into(),
        head: "slo/checkout-1".into(),
        base: "main".into(),
        title: "SLO artifacts for checkout".into(),
        body: "Policy: approve".into(),
    }
}

#[test]
fn opens_a_github_pull_request() {
    capture_logs();
    let (addr, seen, handle) =
        serve(1, |_| (201, vec![], r#"{"number": 42, "html_url": "https://github.example/o/r/pull/42"}"#.into()));
    let pr = open_pull_request(&spec(Forge::GitHub, format!("{addr}/api/v3/"), "o/r"), &Secret::new(TOKEN)).unwrap();
    handle.join().unwrap();
    assert_eq!(pr, PullRequest { number: 42, url: "https://github.example/o/r/pull/42".into() });
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v3/repos/o/r/pulls");
    assert_eq!(req.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(req.header("accept"), Some("application/vnd.github+json"));
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"title": "SLO artifacts for checkout", "head": "slo/checkout-1", "base": "main", "body": "Policy: approve"})
    );
    let logs = CAPTURE.0.lock().unwrap().clone();
    // The capture works: the client's debug lines (with the request headers) are there.
    assert!(logs.contains("ureq::run Request {"), "{logs}");
    assert!(!logs.contains(TOKEN), "token in logs:\n{logs}");
}

#[test]
fn opens_a_gitlab_merge_request() {
    capture_logs();
    let (addr, seen, handle) =
        serve(1, |_| (201, vec![], r#"{"iid": 7, "web_url": "https://gitlab.example/g/p/-/merge_requests/7"}"#.into()));
    let pr =
        open_pull_request(&spec(Forge::GitLab, format!("{addr}/api/v4"), "group/proj"), &Secret::new(TOKEN)).unwrap();
    handle.join().unwrap();
    assert_eq!(pr.number, 7);
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/api/v4/projects/group%2Fproj/merge_requests"));
    assert_eq!(req.header("private-token"), Some(TOKEN));
    assert_eq!(req.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["source_branch"], "slo/checkout-1");
    assert_eq!(body["target_branch"], "main");
    assert_eq!(body["description"], "Policy: approve");
    let logs = CAPTURE.0.lock().unwrap().clone();
    assert!(!logs.contains(TOKEN), "token in logs:\n{logs}");
}

#[test]
fn failing_api_calls_never_show_the_token() {
    capture_logs();
    // The server echoes the token back, as some error pages do.
    let (addr, _, handle) = serve(1, |req| {
        (401, vec![], format!(r#"{{"message": "Bad credentials: {}"}}"#, req.header("authorization").unwrap_or("")))
    });
    let err = open_pull_request(&spec(Forge::GitHub, addr, "o/r"), &Secret::new(TOKEN)).unwrap_err();
    handle.join().unwrap();
    let text = format!("{err} {err:?}");
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("Bad credentials"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    // No server at all.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err =
        open_pull_request(&spec(Forge::GitLab, format!("http://{closed}"), "g/p"), &Secret::new(TOKEN)).unwrap_err();
    assert!(matches!(err, GitOpsError::Http { .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    let logs = CAPTURE.0.lock().unwrap().clone();
    assert!(!logs.contains(TOKEN), "token in logs:\n{logs}");
}

#[test]
fn git_over_http_sends_the_token_from_the_helper_and_never_shows_it() {
    // A git host that asks for credentials, then refuses: the push/clone fails after git sent
    // Basic credentials produced by the helper.
    let (addr, seen, handle) = serve(4, |req| match req.header("authorization") {
        None => (401, vec![("WWW-Authenticate".into(), "Basic realm=\"git\"".into())], "auth required".into()),
        Some(_) => (500, vec![], format!("internal error for {}", req.header("authorization").unwrap())),
    });
    let remote = format!("{addr}/o/r.git");
    let auth = GitAuth { username: Forge::GitHub.git_username().into(), token: Secret::new(TOKEN) };
    let err = Checkout::clone_remote(&remote, None, Some(auth)).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "{text}");
    let requests = seen.lock().unwrap().clone();
    let basic = requests.iter().find_map(|r| r.header("authorization").map(str::to_owned));
    assert_eq!(basic.as_deref(), Some("Basic eC1hY2Nlc3MtdG9rZW46dG9rLTVlY3JldC1YWVo="), "{requests:#?}");
    drop(requests);
    // A token written into the URL by hand is masked too.
    let with_userinfo = format!("http://bob:{TOKEN}@127.0.0.1:1/o/r.git");
    let err = Checkout::clone_remote(&with_userinfo, None, None).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("http://***@127.0.0.1:1/o/r.git"), "{text}");
    drop(handle);
}
