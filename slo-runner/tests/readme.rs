//! The README, run as written: every command of its `sh` and `console` blocks, in order, in one
//! scratch directory, with `slo-runner` the binary under test. Commands that need what a test
//! machine does not have (a Kafka broker, S3, a git remote, the network, a file of the reader's
//! own) are left out by the patterns below, each with its reason; everything else must succeed,
//! or fail with the error the README shows after it. No command may contain a `>` that the
//! shell would take as a redirection inside a word (`replicas=3->2` once wrote a file named
//! `2,workers=4` and cut the command).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Commands the test does not run, with why.
const LEFT_OUT: &[(&str, &str)] = &[
    ("cargo ", "builds the binary the test already has"),
    ("scripts/", "installs or starts services (the test script runs them itself)"),
    ("eval ", "sets up the shell"),
    ("alias ", "sets up the shell"),
    ("--kafka", "needs a Kafka broker"),
    ("slo-runner produce", "needs a Kafka broker"),
    ("kafka-topics", "needs a Kafka broker"),
    ("s3://", "needs S3"),
    ("slo-runner publish", "pushes to a git remote"),
    ("/var/log/app.log", "the reader's own log file"),
    ("printf '10.0.0.1", "host file for a cluster on other machines"),
    ("--llm-rationale", "calls a chat model"),
];

/// Commands that need promtool.
const NEEDS_PROMTOOL: &[&str] = &["--check", "slo-runner validate"];

#[derive(Debug)]
struct ReadmeCommand {
    /// 1-based README line of the command's first line.
    line: usize,
    text: String,
    /// The `error: …` line the README shows after it, if any.
    expected_error: Option<String>,
}

/// Whether `text` has an unclosed quote (apostrophes in a `#` comment do not count).
fn open_quote(text: &str) -> bool {
    let (mut single, mut double, mut comment, mut word_start) = (false, false, false, true);
    for c in text.chars() {
        if comment {
            comment = c != '\n';
        } else {
            match c {
                '\'' if !double => single = !single,
                '"' if !single => double = !double,
                '#' if !single && !double && word_start => comment = true,
                _ => {}
            }
        }
        word_start = c.is_whitespace();
    }
    single || double
}

/// The commands of the README's `sh` and `console` blocks.
fn commands(readme: &str) -> Vec<ReadmeCommand> {
    let mut out: Vec<ReadmeCommand> = Vec::new();
    let mut block: Option<&str> = None;
    let mut pending: Option<ReadmeCommand> = None;
    for (i, line) in readme.lines().enumerate() {
        if let Some(tag) = line.strip_prefix("```") {
            block = match block {
                Some(_) => None,
                None => Some(if tag == "sh" || tag == "console" { tag } else { "other" }),
            };
            if let Some(p) = pending.take() {
                out.push(p);
            }
            continue;
        }
        let Some(kind) = block.filter(|k| *k != "other") else { continue };
        if let Some(p) = pending.as_mut() {
            if open_quote(&p.text) || p.text.ends_with('\\') {
                p.text = format!("{}\n{line}", p.text.trim_end_matches('\\'));
                continue;
            }
        }
        let command = match kind {
            "console" => line.strip_prefix("$ "),
            _ => Some(line).filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')),
        };
        match command {
            Some(c) => {
                if let Some(p) = pending.take() {
                    out.push(p);
                }
                pending = Some(ReadmeCommand { line: i + 1, text: c.to_owned(), expected_error: None });
            }
            None => {
                if let Some(p) = pending.as_mut() {
                    if p.expected_error.is_none() && line.starts_with("error: ") {
                        p.expected_error = Some(line.to_owned());
                    }
                }
            }
        }
    }
    out.extend(pending);
    out
}

/// A `>` outside quotes right after a character of a word (other than a file-descriptor
/// number): the shell would redirect there, cutting the argument.
fn redirect_inside_a_word(text: &str) -> Option<usize> {
    let (mut single, mut double) = (false, false);
    let mut word_start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            c if c.is_whitespace() && !single && !double => word_start = i + 1,
            '>' if !single && !double => {
                let word = &text[word_start..i];
                if !word.is_empty() && !word.chars().all(|c| c.is_ascii_digit()) {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn have_promtool() -> bool {
    std::env::var_os("PROMTOOL").is_some()
        || std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join("promtool").is_file())
}

#[test]
fn readme_commands_run_as_written() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let commands = commands(&readme);
    assert!(commands.len() > 20, "too few commands found: {commands:#?}");
    let shared = repo.join("../shared");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo.join("examples"), dir.path().join("examples")).unwrap();
    let promtool = have_promtool();
    assert!(promtool || std::env::var("SLO_SCOUT_REQUIRE_PROMTOOL").as_deref() != Ok("1"), "no promtool");

    let (mut ran, mut failures) = (0, Vec::new());
    for c in &commands {
        if let Some(at) = redirect_inside_a_word(&c.text) {
            failures.push(format!("README line {}: the shell redirects at byte {at}: {}", c.line, c.text));
            continue;
        }
        if let Some((_, why)) = LEFT_OUT.iter().find(|(p, _)| c.text.contains(p)) {
            eprintln!("left out (README line {}: {why}): {}", c.line, c.text);
            continue;
        }
        if !promtool && NEEDS_PROMTOOL.iter().any(|p| c.text.contains(p)) {
            eprintln!("left out (README line {}: no promtool): {}", c.line, c.text);
            continue;
        }
        let mut text = c.text.clone();
        if text.contains("../shared") {
            if !shared.is_dir() {
                eprintln!("left out (README line {}: ../shared absent): {}", c.line, c.text);
                continue;
            }
            text = text.replace("../shared", &shared.canonicalize().unwrap().display().to_string());
        }
        let bin: PathBuf = PathBuf::from(env!("CARGO_BIN_EXE_slo-runner"));
        let script = format!("slo-runner() {{ {:?} \"$@\"; }}\n{text}", bin.display().to_string());
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("SLO_SCOUT_STORE")
            .output()
            .unwrap();
        ran += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        match (&c.expected_error, out.status.success()) {
            (None, true) => {}
            (None, false) => failures.push(format!("README line {}: {}\n  failed: {stderr}", c.line, c.text)),
            (Some(e), false) => {
                // The README's error line, up to its first detail, is what the command says.
                let head: String = e.chars().take(40).collect();
                if !stderr.contains(&head) {
                    failures.push(format!("README line {}: {}\n  expected {e:?}\n  got: {stderr}", c.line, c.text));
                }
            }
            (Some(e), true) => {
                failures.push(format!("README line {}: {} succeeded, README shows {e:?}", c.line, c.text))
            }
        }
    }
    assert!(failures.is_empty(), "{} of {ran} README commands failed:\n{}", failures.len(), failures.join("\n"));
    assert!(ran > 15, "only {ran} README commands ran");
}

#[test]
fn the_parser_finds_commands_errors_and_redirections() {
    let readme = "text\n```console\n$ slo-runner query \"SELECT 1\n  FROM t\"\n+---+\n$ slo-runner query \"DROP\"\nerror: read-only: no\n```\n```sh\nslo-runner run \\\n  --window 5m   # note\n# comment\n```\n```rust\nlet x = 1;\n```\n";
    let c = commands(readme);
    assert_eq!(c.len(), 3, "{c:#?}");
    assert_eq!(c[0].text, "slo-runner query \"SELECT 1\n  FROM t\"");
    assert_eq!(c[1].expected_error.as_deref(), Some("error: read-only: no"));
    assert_eq!(c[2].text, "slo-runner run \n  --window 5m   # note");
    assert_eq!(redirect_inside_a_word("backtest --what-if replicas=3->2,workers=4"), Some(30));
    assert_eq!(redirect_inside_a_word("backtest --what-if 'replicas=3->2'"), None);
    assert_eq!(redirect_inside_a_word("printf 'a' > hosts 2>&1"), None);
    assert!(!open_quote("printf 'a' > hosts   # timely's own links"));
    assert!(open_quote("query \"SELECT 'x' # not a comment"));
}
