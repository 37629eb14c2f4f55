//! GitOps: artifacts into a git repository on a new branch, committed and pushed, and an
//! optional pull request (GitHub) or merge request (GitLab) through the REST API.
//!
//! Git runs as the `git` command line. Credentials for HTTPS remotes come from an environment
//! variable through a credential helper that reads the variable inside the git process, so the
//! token is never on a command line, in a remote URL or in the clone's config. API tokens go in
//! headers marked sensitive. Every error message and log line passes through [`Redactor`],
//! which masks the token and the user-info part of URLs (`https://user:pass@host` →
//! `https://***@host`).
//!
//! Request bodies are never logged: this crate caps the `log` facade at `debug`, which drops the
//! HTTP client's trace-level wire dumps at compile time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;
use std::time::Duration;

use serde_json::{json, Value};

use super::policy::{io_err, FileError};

/// Errors of git and forge API calls; their text never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum GitOpsError {
    /// A git command failed.
    #[error("git {command} failed ({status}): {stderr}")]
    Git {
        /// The git subcommand and arguments (redacted).
        command: String,
        /// Exit status.
        status: String,
        /// What git printed (redacted).
        stderr: String,
    },
    /// `git` could not be started.
    #[error("cannot run git: {0}")]
    Spawn(std::io::Error),
    /// A file could not be read, written or copied.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The artifacts are identical to the base branch.
    #[error("nothing to commit: the artifacts equal those on {base}")]
    NothingToCommit {
        /// The base branch.
        base: String,
    },
    /// A branch name git does not accept.
    #[error("invalid branch name {0:?}")]
    BadBranch(String),
    /// `--path` does not name a folder inside the repository.
    #[error("invalid repository path {0:?}: it must be relative, inside the repository and not under .git")]
    BadPath(String),
    /// The token's environment variable is unset or empty.
    #[error("environment variable {0} with the API token is not set")]
    MissingToken(String),
    /// The forge API answered with an error status.
    #[error("{forge} API {method} {url} answered {status}: {body}")]
    Api {
        /// `GitHub` or `GitLab`.
        forge: String,
        /// HTTP method.
        method: String,
        /// Request URL (redacted).
        url: String,
        /// HTTP status.
        status: u16,
        /// Start of the response body (redacted).
        body: String,
    },
    /// The request did not get an answer (connection, TLS, timeout).
    #[error("{forge} API request to {url} failed: {reason}")]
    Http {
        /// `GitHub` or `GitLab`.
        forge: String,
        /// Request URL (redacted).
        url: String,
        /// What went wrong (redacted).
        reason: String,
    },
}

/// A token that prints as `***` (`Debug` and `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Secret(token.into())
    }
    /// Reads a token from an environment variable; unset or empty is an error naming the
    /// variable.
    pub fn from_env(var: &str) -> Result<Self, GitOpsError> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_owned())),
            _ => Err(GitOpsError::MissingToken(var.to_owned())),
        }
    }
    /// The token itself; only for building a request or a child process environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

static URL_USERINFO: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@").expect("static regex"));

/// Masks secrets in text: the given tokens, and the user-info of any URL.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        Redactor { secrets: secrets.into_iter().filter(|s| !s.0.is_empty()).collect() }
    }
    /// Adds a secret.
    pub fn add(&mut self, secret: &Secret) {
        if !secret.0.is_empty() {
            self.secrets.push(secret.clone());
        }
    }
    /// The text with every secret and URL user-info replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = URL_USERINFO.replace_all(text, "${1}***@").into_owned();
        for s in &self.secrets {
            out = out.replace(&s.0, "***");
        }
        out
    }
}

/// `text` cut to at most `max` bytes (on a character boundary), with `…` when cut: keeps error
/// messages that quote an answer short.
pub fn clip(mut text: String, max: usize) -> String {
    if text.len() > max {
        let cut = (0..=max).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A commit author, `Name <email>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

impl Author {
    /// Parses `Name <email>`; a bare name gets `<name@localhost>`.
    pub fn parse(text: &str) -> Self {
        let text = text.trim();
        match (text.find('<'), text.rfind('>')) {
            (Some(l), Some(r)) if l < r => {
                Author { name: text[..l].trim().to_owned(), email: text[l + 1..r].trim().to_owned() }
            }
            _ => {
                Author { name: text.to_owned(), email: format!("{}@localhost", text.replace(char::is_whitespace, ".")) }
            }
        }
    }
}

impl Default for Author {
    fn default() -> Self {
        Author { name: "slo-scout".into(), email: "slo-scout@localhost".into() }
    }
}

/// HTTPS credentials for git: a user name and the environment variable holding the token.
#[derive(Debug, Clone)]
pub struct GitAuth {
    /// User name sent with the token (`x-access-token` for GitHub, `oauth2` for GitLab).
    pub username: String,
    /// The token.
    pub token: Secret,
}

/// The environment variable the credential helper reads inside git.
const HELPER_TOKEN_VAR: &str = "SLO_SCOUT_GIT_PASSWORD";
const HELPER_USER_VAR: &str = "SLO_SCOUT_GIT_USERNAME";

/// A fresh clone of a remote in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct Checkout {
    dir: tempfile::TempDir,
    remote: String,
    base: Option<String>,
    auth: Option<GitAuth>,
    redactor: Redactor,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq)]
pub struct PushOutcome {
    /// The branch pushed.
    pub branch: String,
    /// The commit id.
    pub commit: String,
    /// Changed paths with git's status letter (`A`, `M`, `D`), relative to the repository root.
    pub changes: Vec<(char, String)>,
}

impl Checkout {
    /// Clones `remote` (a path or URL) at `base` (default: the remote's default branch). An
    /// empty remote gives a checkout without a base branch.
    pub fn clone_remote(remote: &str, base: Option<&str>, auth: Option<GitAuth>) -> Result<Self, GitOpsError> {
        let dir = tempfile::tempdir().map_err(io_err(Path::new("(temporary directory)")))?;
        let mut redactor = Redactor::default();
        if let Some(a) = &auth {
            redactor.add(&a.token);
        }
        let mut checkout = Checkout { dir, remote: remote.to_owned(), base: None, auth, redactor };
        let target = checkout.dir.path().join("repo");
        let mut args = vec!["clone".to_owned(), "--quiet".to_owned(), "--no-tags".to_owned()];
        if let Some(b) = base {
            args.extend(["--branch".to_owned(), b.to_owned()]);
        }
        args.extend([remote.to_owned(), target.to_string_lossy().into_owned()]);
        checkout.run(checkout.dir.path(), &args)?;
        checkout.base = match base {
            Some(b) => Some(b.to_owned()),
            None => checkout
                .git(&["symbolic-ref", "--quiet", "--short", "HEAD"])
                .ok()
                .filter(|_| checkout.git(&["rev-parse", "--verify", "--quiet", "HEAD"]).is_ok()),
        };
        tracing::info!(remote = %checkout.remote_display(), base = ?checkout.base, "cloned");
        Ok(checkout)
    }

    /// The working tree.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The base branch, `None` for an empty remote.
    pub fn base(&self) -> Option<&str> {
        self.base.as_deref()
    }

    /// The remote as it may be shown (user-info and token masked).
    pub fn remote_display(&self) -> String {
        self.redactor.redact(&self.remote)
    }

    /// The redactor for this checkout's secrets.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    fn git(&self, args: &[&str]) -> Result<String, GitOpsError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run(&self.path(), &args)
    }

    fn run(&self, cwd: &Path, args: &[String]) -> Result<String, GitOpsError> {
        let mut cmd = Command::new("git");
        cmd.current_dir(cwd)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            // Never pick up a user's global identity or hooks for generated commits.
            .args(["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false"]);
        if let Some(auth) = &self.auth {
            // The helper reads the token from its own environment; an empty `credential.helper`
            // first drops any configured helper, so nothing stores the token.
            cmd.env(HELPER_TOKEN_VAR, auth.token.expose())
                .env(HELPER_USER_VAR, &auth.username)
                .args(["-c", "credential.helper="])
                .args([
                    "-c",
                    &format!(
                        "credential.helper=!f() {{ test \"$1\" = get && printf 'username=%s\\npassword=%s\\n' \"${HELPER_USER_VAR}\" \"${HELPER_TOKEN_VAR}\"; }}; f"
                    ),
                ]);
        }
        cmd.args(args);
        let shown = self.redactor.redact(&args.join(" "));
        tracing::debug!(command = %shown, "git");
        let out = cmd.output().map_err(GitOpsError::Spawn)?;
        if !out.status.success() {
            return Err(GitOpsError::Git {
                command: shown,
                status: out.status.to_string(),
                stderr: self.redactor.redact(String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Replaces `target` (relative to the repository root, `""` for the root) with the contents
    /// of `src`, directory by directory: every top-level directory of `src` replaces the
    /// directory of the same name (so files of removed SLOs go away), top-level files are
    /// copied over. Other content of the repository is left alone.
    pub fn sync_dir(&self, src: &Path, target: &str) -> Result<(), GitOpsError> {
        let dest = self.path().join(repo_subdir(target)?);
        std::fs::create_dir_all(&dest).map_err(io_err(&dest))?;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(src)
            .map_err(io_err(src))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n != ".git"))
            .collect();
        entries.sort();
        for entry in entries {
            let name = entry.file_name().expect("listed entries have names");
            let to = dest.join(name);
            if entry.is_dir() {
                if to.exists() {
                    std::fs::remove_dir_all(&to).map_err(io_err(&to))?;
                }
                copy_tree(&entry, &to)?;
            } else {
                std::fs::copy(&entry, &to).map_err(io_err(&entry))?;
            }
        }
        Ok(())
    }

    /// Commits everything under `target` on a new branch `branch` (from the base branch) and
    /// pushes it to the remote. Fails when nothing changed.
    pub fn commit_and_push(
        &self,
        branch: &str,
        target: &str,
        message: &str,
        author: &Author,
    ) -> Result<PushOutcome, GitOpsError> {
        repo_subdir(target)?;
        if self.git(&["check-ref-format", "--branch", branch]).is_err() || branch.starts_with('-') {
            return Err(GitOpsError::BadBranch(branch.to_owned()));
        }
        match &self.base {
            Some(_) => self.git(&["checkout", "--quiet", "-b", branch])?,
            None => self.git(&["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")])?,
        };
        let pathspec = if target.is_empty() { "." } else { target };
        self.git(&["add", "--all", "--", pathspec])?;
        let status = self.git(&["diff", "--cached", "--name-status", "--no-renames"])?;
        let changes: Vec<(char, String)> = status
            .lines()
            .filter_map(|l| {
                let (s, p) = l.split_once('\t')?;
                Some((s.chars().next()?, p.to_owned()))
            })
            .collect();
        if changes.is_empty() {
            return Err(GitOpsError::NothingToCommit {
                base: self.base.clone().unwrap_or_else(|| "(empty repository)".into()),
            });
        }
        let name = format!("user.name={}", author.name);
        let email = format!("user.email={}", author.email);
        self.git(&["-c", &name, "-c", &email, "commit", "--quiet", "--no-verify", "-m", message])?;
        let commit = self.git(&["rev-parse", "HEAD"])?;
        self.git(&["push", "--quiet", "--porcelain", "origin", &format!("refs/heads/{branch}:refs/heads/{branch}")])?;
        tracing::info!(remote = %self.remote_display(), %branch, %commit, files = changes.len(), "pushed");
        Ok(PushOutcome { branch: branch.to_owned(), commit, changes })
    }
}

/// Checks a folder path inside a repository (`""` is its root): relative, made of normal
/// components only (no `..`, no root, no `.git`), so nothing is ever written outside the clone.
///
/// ```
/// use slo_artifacts::gitops::repo_subdir;
/// assert!(repo_subdir("slos/prod").is_ok() && repo_subdir("").is_ok());
/// for bad in ["../x", "/etc", "a/../../b", ".git/hooks", "a/.git"] {
///     assert!(repo_subdir(bad).is_err(), "{bad}");
/// }
/// ```
pub fn repo_subdir(path: &str) -> Result<PathBuf, GitOpsError> {
    let p = Path::new(path);
    let ok = p.components().all(|c| match c {
        std::path::Component::Normal(n) => n != ".git",
        std::path::Component::CurDir => true,
        _ => false,
    });
    if ok {
        Ok(p.to_path_buf())
    } else {
        Err(GitOpsError::BadPath(path.to_owned()))
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), GitOpsError> {
    std::fs::create_dir_all(to).map_err(io_err(to))?;
    for entry in std::fs::read_dir(from).map_err(io_err(from))? {
        let entry = entry.map_err(io_err(from))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// Where pull requests are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// GitHub (`POST /repos/{owner}/{repo}/pulls`, bearer token).
    GitHub,
    /// GitLab (`POST /projects/{id}/merge_requests`, `PRIVATE-TOKEN`).
    GitLab,
}

impl Forge {
    /// The public API base URL.
    pub fn default_api_url(self) -> &'static str {
        match self {
            Forge::GitHub => "https://api.github.com",
            Forge::GitLab => "https://gitlab.com/api/v4",
        }
    }
    /// User name to send with a token over git HTTPS.
    pub fn git_username(self) -> &'static str {
        match self {
            Forge::GitHub => "x-access-token",
            Forge::GitLab => "oauth2",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
        }
    }
}

impl std::str::FromStr for Forge {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "github" => Ok(Forge::GitHub),
            "gitlab" => Ok(Forge::GitLab),
            other => Err(format!("unknown forge {other:?} (github or gitlab)")),
        }
    }
}

/// A pull/merge request to open.
#[derive(Debug, Clone)]
pub struct PullRequestSpec {
    /// Where.
    pub forge: Forge,
    /// API base URL (`https://api.github.com`, `https://gitlab.example.com/api/v4`).
    pub api_url: String,
    /// `owner/repo` (GitHub) or `group/project` or a numeric id (GitLab).
    pub project: String,
    /// Branch with the changes.
    pub head: String,
    /// Branch to merge into.
    pub base: String,
    /// Title.
    pub title: String,
    /// Description (Markdown).
    pub body: String,
}

/// An opened pull/merge request.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequest {
    /// Number (GitHub) or `iid` (GitLab).
    pub number: u64,
    /// Web URL.
    pub url: String,
}

/// Percent-encodes everything but unreserved characters (GitLab project paths).
fn encode_path_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The method, URL, auth header and JSON body of the request that opens `spec`.
pub fn pull_request_call(spec: &PullRequestSpec) -> (&'static str, String, &'static str, Value) {
    let base = spec.api_url.trim_end_matches('/');
    match spec.forge {
        Forge::GitHub => (
            "POST",
            format!("{base}/repos/{}/pulls", spec.project.trim_matches('/')),
            "Authorization",
            json!({"title": spec.title, "head": spec.head, "base": spec.base, "body": spec.body}),
        ),
        Forge::GitLab => (
            "POST",
            format!("{base}/projects/{}/merge_requests", encode_path_segment(spec.project.trim_matches('/'))),
            "PRIVATE-TOKEN",
            json!({
                "source_branch": spec.head,
                "target_branch": spec.base,
                "title": spec.title,
                "description": spec.body,
                "remove_source_branch": true,
            }),
        ),
    }
}

/// Opens a pull request (GitHub) or merge request (GitLab).
pub fn open_pull_request(spec: &PullRequestSpec, token: &Secret) -> Result<PullRequest, GitOpsError> {
    let redactor = Redactor::new([token.clone()]);
    let (method, url, auth_header, body) = pull_request_call(spec);
    let shown_url = redactor.redact(&url);
    let forge = spec.forge.name().to_owned();
    let http_err = |reason: String| GitOpsError::Http {
        forge: forge.clone(),
        url: shown_url.clone(),
        reason: redactor.redact(&reason),
    };
    let auth_value = match spec.forge {
        Forge::GitHub => format!("Bearer {}", token.expose()),
        Forge::GitLab => token.expose().to_owned(),
    };
    let mut auth = ureq::http::HeaderValue::from_str(&auth_value)
        .map_err(|_| http_err("the token holds characters not allowed in an HTTP header".into()))?;
    auth.set_sensitive(true);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("slo-scout/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    tracing::info!(forge = %forge, url = %shown_url, head = %spec.head, base = %spec.base, "opening pull request");
    let payload = serde_json::to_vec(&body).expect("request body serialises");
    let mut request = agent.post(&url).header(auth_header, auth).header("Content-Type", "application/json");
    if spec.forge == Forge::GitHub {
        request = request.header("Accept", "application/vnd.github+json").header("X-GitHub-Api-Version", "2022-11-28");
    }
    let response = request.send(&payload[..]).map_err(|e| http_err(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().map_err(|e| http_err(e.to_string()))?;
    if !(200..300).contains(&status) {
        let body = clip(redactor.redact(&text), 500);
        return Err(GitOpsError::Api { forge, method: method.to_owned(), url: shown_url, status, body });
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| http_err(format!("answer is not JSON: {e}")))?;
    let (number_key, url_key) = match spec.forge {
        Forge::GitHub => ("number", "html_url"),
        Forge::GitLab => ("iid", "web_url"),
    };
    let number = v.get(number_key).and_then(Value::as_u64);
    let web = v.get(url_key).and_then(Value::as_str);
    match (number, web) {
        (Some(number), Some(web)) => {
            tracing::info!(number, url = %web, "pull request opened");
            Ok(PullRequest { number, url: web.to_owned() })
        }
        _ => Err(http_err(format!("answer lacks {number_key}/{url_key}: {}", redactor.redact(&text)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_masks_tokens_and_url_userinfo() {
        let r = Redactor::new([Secret::new("ghp_s3cr3t")]);
        let text = "fatal: https://bob:ghp_s3cr3t@example.com/a.git: token ghp_s3cr3t rejected; see http://x@h/p";
        let out = r.redact(text);
        assert!(!out.contains("ghp_s3cr3t"), "{out}");
        assert!(!out.contains("bob"), "{out}");
        assert!(out.contains("https://***@example.com/a.git"), "{out}");
        assert!(out.contains("http://***@h/p"), "{out}");
        assert_eq!(format!("{:?} {}", Secret::new("x"), Secret::new("x")), "Secret(***) ***");
    }

    #[test]
    fn authors_parse() {
        assert_eq!(
            Author::parse("Ada Lovelace <ada@example.com>"),
            Author { name: "Ada Lovelace".into(), email: "ada@example.com".into() }
        );
        assert_eq!(Author::parse("ci bot").email, "ci.bot@localhost");
    }

    #[test]
    fn request_shapes() {
        let spec = PullRequestSpec {
            forge: Forge::GitLab,
            api_url: "https://gitlab.example/api/v4/".into(),
            project: "group/sub/proj".into(),
            head: "slo/x".into(),
            base: "main".into(),
            title: "t".into(),
            body: "b".into(),
        };
        let (m, url, h, body) = pull_request_call(&spec);
        assert_eq!((m, h), ("POST", "PRIVATE-TOKEN"));
        assert_eq!(url, "https://gitlab.example/api/v4/projects/group%2Fsub%2Fproj/merge_requests");
        assert_eq!(body["source_branch"], "slo/x");
        let (_, url, h, body) = pull_request_call(&PullRequestSpec {
            forge: Forge::GitHub,
            api_url: "https://api.github.com".into(),
            project: "o/r".into(),
            ..spec
        });
        assert_eq!(url, "https://api.github.com/repos/o/r/pulls");
        assert_eq!(h, "Authorization");
        assert_eq!(body["head"], "slo/x");
        assert_eq!("GitHub".parse::<Forge>().unwrap(), Forge::GitHub);
        assert!("bitbucket".parse::<Forge>().is_err());
    }
}
