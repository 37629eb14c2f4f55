//! PII and secret redaction: the pure core ([`Redactor`]).
//!
//! The redactor finds personal data and credentials in free-form log text and replaces each
//! finding with a typed placeholder (`<EMAIL>`, `<IP>`, `<PASSWORD>`, ...). It is built for
//! throughput: a line is scanned **once** by a hand-written byte scanner that skips to the
//! words next to a trigger byte (digits, `@`, `+`, `(`, `:`, `-`), plus one pass for trigger
//! keywords (`password`, `token`, `bearer`, `ghp_`, `-----begin`, `user`, `/home/`, ...) that
//! tests the byte pairs at even positions, four per 8-byte load, against a bit filter of each
//! keyword's bytes 0–1 and 1–2, and only the possible starts that pass against the keywords.
//! Validators (Luhn, mod-97, octet ranges, ...) only run on the small window around a trigger,
//! so lines without triggers cost almost nothing.
//!
//! # What is redacted
//!
//! | type | placeholder | notes |
//! |---|---|---|
//! | [`EntityType::Email`] | `<EMAIL>` | `local@domain.tld` |
//! | [`EntityType::Ipv4`] | `<IP>` | dotted quad, octets ≤ 255; *not* when it looks like a version (`v1.2.3.4`, `~~6.1.1.0`, `version=6.1.1.0`, `1.2.3.4.5`, `1.2.3.4-rc1`) |
//! | [`EntityType::Ipv6`] | `<IP>` | 8 groups, or compressed with `::` and at least one digit; `hh:mm:ss` never matches |
//! | [`EntityType::Mac`] | `<MAC>` | 6 groups of 2 hex digits separated by `:` or `-` |
//! | [`EntityType::Phone`] | `<PHONE>` | E.164 (`+49 30 1234567`, `+441614960140`), NANP (`(555) 123-4567`, `555.123.4567`, `001-555-123-4567x12`), national trunk-prefix formats (`020 7946 0093`, `(0116) 4960470`, `0289018221`), any 7–15 digits after a phone-like key (`phone=`, `tel:`) |
//! | [`EntityType::CreditCard`] | `<CREDIT_CARD>` | 13–19 digits, optional ` `/`-` groups, Luhn-checked, known IIN prefixes (incl. 2221–2720 Mastercard) |
//! | [`EntityType::Iban`] | `<IBAN>` | ISO 13616 shape + mod-97 checksum (compact or grouped by 4) |
//! | [`EntityType::UsSsn`] | `<SSN>` | `ddd-dd-dddd` with valid area/group/serial, or 9 digits after `ssn=` |
//! | [`EntityType::Jwt`] | `<JWT>` | `eyJ….….…` |
//! | [`EntityType::AuthHeader`] | `<AUTH_TOKEN>` | the value after `Bearer` / `Basic` (Basic only near `Authorization`) |
//! | [`EntityType::AwsAccessKey`] | `<AWS_ACCESS_KEY>` | `AKIA…`/`ASIA…` (+16 base32 chars) |
//! | [`EntityType::AwsSecretKey`] | `<AWS_SECRET_KEY>` | 40-char base64-ish value next to an `aws`/`secret` key |
//! | [`EntityType::ApiToken`] | `<API_TOKEN>` | GitHub (`ghp_` `gho_` `ghu_` `ghs_` `ghr_` `github_pat_`), GitLab (`glpat-`), Slack (`xox[abeprs]-`), Stripe (`sk_`/`rk_`/`pk_` + `live_`/`test_`), OpenAI-style (`sk-…`) |
//! | [`EntityType::PrivateKey`] | `<PRIVATE_KEY>` | whole PEM `-----BEGIN … PRIVATE KEY-----` block |
//! | [`EntityType::Password`] | `<PASSWORD>` | the password of `scheme://user:pass@host` URLs/DSNs, and values of secret-like keys (`password=`, `passwd`, `pwd`, `secret`, `api_key`, `apikey`, `token`, `access_token`, `client_secret`, ...; `key=value`, `key: value`, JSON `"key":"value"`) |
//! | [`EntityType::Username`] | `<USER>` | `for user X`, `for invalid user X`, `Invalid user X`, `password for X from`, `user=X`, `username=X`, `login=X` |
//! | [`EntityType::HomePath`] | `<HOME_USER>` | **only the user segment** of `/home/alice/...`, `/Users/bob/...`, `C:\Users\x\...` is replaced (the rest of the path is kept) |
//! | [`EntityType::Custom`] | `<LABEL>` | custom rules and gitleaks rule files |
//!
//! Never redacted: trace/span ids (hex), UUIDs, timestamps (ISO-8601, `hh:mm:ss`), versions,
//! durations and plain numbers. Free-text person names are **not** detected (best effort:
//! out of scope for a pattern-based redactor; use a custom rule keyed on your field names).
//!
//! When two detections overlap the one with the higher type priority wins (e.g. a JWT inside an
//! `Authorization: Bearer` header is reported as [`EntityType::Jwt`], an e-mail after
//! `for user` as [`EntityType::Email`]).
//!
//! Error messages and `tracing` events produced here never contain input text: only rule ids,
//! file paths from the configuration and counts.
//!
//! # Known limits
//!
//! * PII glued to other alphanumerics (`x4111111111111111`) is not a separate token and is kept.
//! * Any non-trivial value of a secret-like key is redacted (`token=53b5d9d` window handles in
//!   Android logs included); values `***`, `null`, `<...>`, `true`/`false` are left alone.
//! * `user@host` in URLs without a password is reported as an e-mail address.
//! * Numbers next to id-like keys (`trace_id=`, `span_id=`, `tracking=`, `*_id=`, `size=`,
//!   `time=`, ...) are never treated as cards/phones/SSNs.
//! * Gitleaks rule files: findings are labelled `SECRET`; allowlists, `path` and `stopwords`
//!   are ignored; each rule with keywords runs only when one of its keywords is present.

mod detect;
mod gitleaks;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::Deserialize;

/// The kind of sensitive value a [`Finding`] refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityType {
    /// E-mail address.
    Email,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// MAC (EUI-48) address.
    Mac,
    /// Telephone number.
    Phone,
    /// Payment card number (Luhn-valid).
    CreditCard,
    /// International bank account number (mod-97 valid).
    Iban,
    /// US social security number.
    UsSsn,
    /// JSON web token.
    Jwt,
    /// Credential in an `Authorization: Bearer/Basic` header.
    AuthHeader,
    /// AWS access key id (`AKIA…`, `ASIA…`).
    AwsAccessKey,
    /// AWS secret access key.
    AwsSecretKey,
    /// Vendor API token (GitHub, GitLab, Slack, Stripe, OpenAI-style).
    ApiToken,
    /// PEM private key block.
    PrivateKey,
    /// Password or secret in a URL, DSN or key/value pair.
    Password,
    /// User name in an authentication message.
    Username,
    /// User segment of a home-directory path.
    HomePath,
    /// A finding from a custom rule or a gitleaks rule file; the label is upper-case.
    Custom(Arc<str>),
}

/// All built-in entity types (everything except [`EntityType::Custom`]).
pub const BUILTIN_TYPES: [EntityType; 17] = [
    EntityType::Email,
    EntityType::Ipv4,
    EntityType::Ipv6,
    EntityType::Mac,
    EntityType::Phone,
    EntityType::CreditCard,
    EntityType::Iban,
    EntityType::UsSsn,
    EntityType::Jwt,
    EntityType::AuthHeader,
    EntityType::AwsAccessKey,
    EntityType::AwsSecretKey,
    EntityType::ApiToken,
    EntityType::PrivateKey,
    EntityType::Password,
    EntityType::Username,
    EntityType::HomePath,
];

impl EntityType {
    /// Stable upper-case name (`"EMAIL"`, `"IPV4"`, `"CREDIT_CARD"`, ...; custom: its label).
    pub fn as_str(&self) -> &str {
        match self {
            EntityType::Email => "EMAIL",
            EntityType::Ipv4 => "IPV4",
            EntityType::Ipv6 => "IPV6",
            EntityType::Mac => "MAC",
            EntityType::Phone => "PHONE",
            EntityType::CreditCard => "CREDIT_CARD",
            EntityType::Iban => "IBAN",
            EntityType::UsSsn => "US_SSN",
            EntityType::Jwt => "JWT",
            EntityType::AuthHeader => "AUTH_HEADER",
            EntityType::AwsAccessKey => "AWS_ACCESS_KEY",
            EntityType::AwsSecretKey => "AWS_SECRET_KEY",
            EntityType::ApiToken => "API_TOKEN",
            EntityType::PrivateKey => "PRIVATE_KEY",
            EntityType::Password => "PASSWORD",
            EntityType::Username => "USERNAME",
            EntityType::HomePath => "HOME_PATH",
            EntityType::Custom(label) => label,
        }
    }

    /// The text that replaces a finding of this type: `<EMAIL>`, `<IP>` (v4 and v6), `<MAC>`,
    /// `<PHONE>`, `<CREDIT_CARD>`, `<IBAN>`, `<SSN>`, `<JWT>`, `<AUTH_TOKEN>`,
    /// `<AWS_ACCESS_KEY>`, `<AWS_SECRET_KEY>`, `<API_TOKEN>`, `<PRIVATE_KEY>`, `<PASSWORD>`,
    /// `<USER>`, `<HOME_USER>`, custom: `<LABEL>`.
    pub fn placeholder(&self) -> String {
        self.placeholder_str().to_string()
    }

    fn placeholder_str(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::Borrowed;
        match self {
            EntityType::Email => Borrowed("<EMAIL>"),
            EntityType::Ipv4 | EntityType::Ipv6 => Borrowed("<IP>"),
            EntityType::Mac => Borrowed("<MAC>"),
            EntityType::Phone => Borrowed("<PHONE>"),
            EntityType::CreditCard => Borrowed("<CREDIT_CARD>"),
            EntityType::Iban => Borrowed("<IBAN>"),
            EntityType::UsSsn => Borrowed("<SSN>"),
            EntityType::Jwt => Borrowed("<JWT>"),
            EntityType::AuthHeader => Borrowed("<AUTH_TOKEN>"),
            EntityType::AwsAccessKey => Borrowed("<AWS_ACCESS_KEY>"),
            EntityType::AwsSecretKey => Borrowed("<AWS_SECRET_KEY>"),
            EntityType::ApiToken => Borrowed("<API_TOKEN>"),
            EntityType::PrivateKey => Borrowed("<PRIVATE_KEY>"),
            EntityType::Password => Borrowed("<PASSWORD>"),
            EntityType::Username => Borrowed("<USER>"),
            EntityType::HomePath => Borrowed("<HOME_USER>"),
            EntityType::Custom(label) => std::borrow::Cow::Owned(format!("<{label}>")),
        }
    }

    /// Parses a built-in type name as returned by [`EntityType::as_str`] (case-insensitive;
    /// `IP` means both IPv4 and IPv6 and is handled by the config, `SSN` is accepted for
    /// `US_SSN`). Returns `None` for unknown names.
    pub fn from_name(name: &str) -> Option<EntityType> {
        let up = name.trim().to_ascii_uppercase();
        if up == "SSN" {
            return Some(EntityType::UsSsn);
        }
        BUILTIN_TYPES.iter().find(|t| t.as_str() == up).cloned()
    }

    /// Index in [`BUILTIN_TYPES`] (custom types: `None`).
    fn bit(&self) -> Option<u32> {
        BUILTIN_TYPES.iter().position(|t| t == self).map(|p| p as u32)
    }

    /// Overlap-resolution priority: higher wins.
    fn priority(&self) -> u8 {
        match self {
            EntityType::PrivateKey => 100,
            EntityType::Jwt => 90,
            EntityType::ApiToken => 86,
            EntityType::AwsAccessKey => 85,
            EntityType::AwsSecretKey => 80,
            EntityType::Password => 75,
            EntityType::AuthHeader => 72,
            EntityType::Custom(_) => 65,
            EntityType::Iban => 60,
            EntityType::CreditCard => 55,
            EntityType::Email => 50,
            EntityType::UsSsn => 45,
            EntityType::Ipv6 => 42,
            EntityType::Mac => 41,
            EntityType::Ipv4 => 40,
            EntityType::Phone => 35,
            EntityType::HomePath => 30,
            EntityType::Username => 20,
        }
    }
}

impl std::fmt::Display for EntityType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detected sensitive value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was found.
    pub entity: EntityType,
    /// Byte offset of the first byte of the value in the **input** text (a char boundary).
    pub start: usize,
    /// Byte offset one past the last byte of the value in the input text (a char boundary).
    pub end: usize,
}

/// The result of [`Redactor::redact`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redaction {
    /// The redacted text (each finding replaced by its type's placeholder).
    pub text: String,
    /// The findings, sorted by `start`, non-overlapping, offsets into the input text.
    pub findings: Vec<Finding>,
}

impl Redaction {
    /// `true` when at least one value was redacted.
    pub fn applied(&self) -> bool {
        !self.findings.is_empty()
    }

    /// Number of findings per type name ([`EntityType::as_str`]).
    pub fn counts(&self) -> BTreeMap<&str, u64> {
        let mut m = BTreeMap::new();
        for f in &self.findings {
            *m.entry(f.entity.as_str()).or_insert(0u64) += 1;
        }
        m
    }
}

/// A user-defined detection rule.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CustomRule {
    /// Rule name, used in error messages (required).
    pub name: String,
    /// Regular expression (Rust `regex` syntax, RE2-compatible).
    pub regex: String,
    /// Prefilter: the regex only runs on texts that contain one of these keywords
    /// (ASCII case-insensitive). Empty: the regex runs on every text (slow; avoid).
    pub keywords: Vec<String>,
    /// Label of the findings, upper-cased (`<LABEL>` placeholder). Default: the rule name.
    /// A built-in type name (`EMAIL`, `PASSWORD`, ...) maps to that built-in type.
    pub entity: Option<String>,
    /// Capture group that holds the secret (0 or absent: the whole match).
    pub secret_group: Option<usize>,
    /// Minimum Shannon entropy (bits per char) of the secret; lower values are ignored.
    pub entropy: Option<f64>,
}

/// Configuration of a [`Redactor`]. Every field has a default (`RedactorConfig::default()`
/// enables all built-in types, no custom rules, no rule files).
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedactorConfig {
    /// Built-in types to switch off, by name (`"EMAIL"`, `"PHONE"`, `"IP"` = IPv4+IPv6, ...).
    /// Default: none.
    pub disabled: Vec<String>,
    /// When non-empty, **only** these built-in types are enabled (then `disabled` is applied
    /// on top). Default: empty = all built-in types.
    pub enabled: Vec<String>,
    /// Extra rules. Default: none.
    pub custom_rules: Vec<CustomRule>,
    /// Gitleaks-format TOML rule files to load at construction. Default: none.
    pub rule_files: Vec<PathBuf>,
    /// When `true`, a gitleaks rule whose regex does not compile is an error
    /// ([`RedactError::InvalidRule`] naming the rule id). Default `false`: such rules are
    /// skipped, counted and listed in [`Redactor::skipped_rules`].
    pub strict_rule_files: bool,
}

/// Errors from building a [`Redactor`]. Messages never contain input text.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A type name in `enabled`/`disabled` is unknown.
    #[error("unknown entity type name `{0}`")]
    UnknownType(String),
    /// A custom or gitleaks rule is invalid (bad regex, missing field, ...).
    #[error("invalid rule `{id}`: {reason}")]
    InvalidRule {
        /// The rule's id / name.
        id: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A rule file could not be read.
    #[error("cannot read rule file {path}: {source}")]
    Io {
        /// The configured path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A rule file is not valid gitleaks TOML.
    #[error("invalid gitleaks TOML: {0}")]
    Toml(String),
}

/// A compiled regex rule (custom or gitleaks).
#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) id: String,
    pub(crate) regex: Regex,
    pub(crate) entity: EntityType,
    pub(crate) secret_group: usize,
    pub(crate) entropy: Option<f64>,
    pub(crate) has_keywords: bool,
}

#[derive(Debug, Clone)]
struct Inner {
    enabled_mask: u32,
    keywords: detect::KeywordMatcher,
    rules: Vec<CompiledRule>,
    /// keyword automaton over all rule keywords; pattern id -> rule index
    rule_kw: Option<AhoCorasick>,
    rule_kw_map: Vec<usize>,
    /// keyword list per rule (parallel to `rules`)
    kw_lists: Vec<Vec<String>>,
    /// (rule id, reason) of gitleaks rules that were skipped
    skipped: Vec<(String, String)>,
}

/// The PII / secret redactor. Cheap to clone (an `Arc` inside), `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

/// Writes `text` with each finding replaced into a new buffer: replacing in place moves the
/// rest of the text each time, so with many findings this keeps a long text linear. Out of
/// line: lines with that many findings are rare.
#[cold]
#[inline(never)]
fn rewrite(text: &mut String, findings: &[Finding]) {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for f in findings {
        out.push_str(&text[last..f.start]);
        out.push_str(&f.entity.placeholder_str());
        last = f.end;
    }
    out.push_str(&text[last..]);
    *text = out;
}

/// Up to this many findings are replaced in the text's own buffer; more are written into a
/// new one (see [`Redactor::redact_in_place_with`]).
const IN_PLACE_MAX: usize = 8;

/// A detection before overlap resolution: the same shape as a [`Finding`], so that the
/// candidates are resolved into the findings in the same buffer.
pub(crate) type Cand = Finding;

impl Default for Redactor {
    fn default() -> Self {
        Self::with_defaults()
    }
}

fn type_mask(names: &[String]) -> Result<u32, RedactError> {
    let mut m = 0u32;
    for n in names {
        if n.trim().eq_ignore_ascii_case("IP") {
            m |= 1 << EntityType::Ipv4.bit().unwrap_or(0);
            m |= 1 << EntityType::Ipv6.bit().unwrap_or(0);
            continue;
        }
        let t = EntityType::from_name(n).ok_or_else(|| RedactError::UnknownType(n.clone()))?;
        if let Some(b) = t.bit() {
            m |= 1 << b;
        }
    }
    Ok(m)
}

/// Compiles one rule; errors name the rule id only.
pub(crate) fn compile_rule(
    id: &str,
    regex: &str,
    entity: EntityType,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    has_keywords: bool,
) -> Result<CompiledRule, RedactError> {
    if id.is_empty() {
        return Err(RedactError::InvalidRule { id: "<unnamed>".into(), reason: "missing rule name/id".into() });
    }
    let re = regex::RegexBuilder::new(regex).size_limit(64 << 20).build().map_err(|e| RedactError::InvalidRule {
        id: id.to_string(),
        reason: format!("regex does not compile: {}", first_line(&e.to_string())),
    })?;
    let group = secret_group.unwrap_or(0);
    Ok(CompiledRule {
        id: id.to_string(),
        secret_group: if group < re.captures_len() { group } else { 0 },
        regex: re,
        entity,
        entropy,
        has_keywords,
    })
}

fn first_line(s: &str) -> String {
    // regex errors quote the pattern (config, not input) – keep only the summary line
    s.lines().last().unwrap_or("").trim().to_string()
}

fn label_entity(label: &str) -> EntityType {
    EntityType::from_name(label).unwrap_or_else(|| EntityType::Custom(Arc::from(label.trim().to_ascii_uppercase())))
}

impl Redactor {
    /// Builds a redactor from a configuration (compiles custom rules, loads rule files).
    pub fn new(cfg: RedactorConfig) -> Result<Self, RedactError> {
        let all = (1u32 << BUILTIN_TYPES.len()) - 1;
        let mut mask = if cfg.enabled.is_empty() { all } else { type_mask(&cfg.enabled)? };
        mask &= !type_mask(&cfg.disabled)?;
        let mut r = Redactor {
            inner: Arc::new(Inner {
                enabled_mask: mask,
                keywords: detect::KeywordMatcher::new(),
                rules: Vec::new(),
                rule_kw: None,
                rule_kw_map: Vec::new(),
                kw_lists: Vec::new(),
                skipped: Vec::new(),
            }),
        };
        let mut rules = Vec::new();
        let mut kws = Vec::new();
        for c in &cfg.custom_rules {
            let entity = label_entity(c.entity.as_deref().unwrap_or(&c.name));
            let rule = compile_rule(&c.name, &c.regex, entity, c.secret_group, c.entropy, !c.keywords.is_empty())?;
            kws.push(c.keywords.clone());
            rules.push(rule);
        }
        r.add_rules(rules, kws);
        for p in &cfg.rule_files {
            let text = std::fs::read_to_string(p).map_err(|source| RedactError::Io { path: p.clone(), source })?;
            let n = r.load_gitleaks_toml_opts(&text, cfg.strict_rule_files)?;
            tracing::debug!(path = %p.display(), rules = n, "loaded gitleaks rule file");
        }
        Ok(r)
    }

    /// A redactor with every built-in type enabled and no custom rules.
    pub fn with_defaults() -> Self {
        Self::new(RedactorConfig::default()).expect("default configuration is valid")
    }

    /// Loads rules from a gitleaks-format TOML text (`[[rules]]` with `id`, `regex`,
    /// `keywords`, `secretGroup`, `entropy`; `description` is ignored, rules without `regex`
    /// (path-only) are skipped). Findings get the label `SECRET` (placeholder `<SECRET>`). Rules whose regex does not compile with the
    /// Rust `regex` crate are skipped and listed in [`Redactor::skipped_rules`]
    /// (use [`RedactorConfig::strict_rule_files`] to make that an error).
    /// Returns the number of rules added.
    pub fn load_gitleaks_toml(&mut self, toml_text: &str) -> Result<usize, RedactError> {
        self.load_gitleaks_toml_opts(toml_text, false)
    }

    /// Like [`Redactor::load_gitleaks_toml`]; with `strict` a rule that does not compile is an
    /// error naming the rule id.
    pub fn load_gitleaks_toml_opts(&mut self, toml_text: &str, strict: bool) -> Result<usize, RedactError> {
        let (rules, kws, skipped) = gitleaks::parse(toml_text, strict)?;
        let n = rules.len();
        if !skipped.is_empty() {
            tracing::warn!(skipped = skipped.len(), loaded = n, "gitleaks rules skipped");
        }
        Arc::make_mut(&mut self.inner).skipped.extend(skipped);
        self.add_rules(rules, kws);
        Ok(n)
    }

    /// Gitleaks rules that were skipped while loading: `(rule id, reason)`.
    pub fn skipped_rules(&self) -> &[(String, String)] {
        &self.inner.skipped
    }

    /// Ids of the regex rules (custom + gitleaks) in use, in evaluation order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.inner.rules.iter().map(|r| r.id.as_str())
    }

    /// Number of regex rules (custom + gitleaks) in use.
    pub fn rule_count(&self) -> usize {
        self.inner.rules.len()
    }

    fn add_rules(&mut self, rules: Vec<CompiledRule>, kws: Vec<Vec<String>>) {
        if rules.is_empty() {
            return;
        }
        let inner = Arc::make_mut(&mut self.inner);
        inner.rules.extend(rules);
        inner.kw_lists.extend(kws);
        let mut pats: Vec<String> = Vec::new();
        let mut map = Vec::new();
        for (i, ks) in inner.kw_lists.iter().enumerate() {
            for k in ks.iter().filter(|k| !k.is_empty()) {
                pats.push(k.to_ascii_lowercase());
                map.push(i);
            }
        }
        inner.rule_kw =
            if pats.is_empty() { None } else { AhoCorasick::builder().ascii_case_insensitive(true).build(&pats).ok() };
        inner.rule_kw_map = map;
    }

    /// Redacts one text (typically a log line; multi-line texts work too).
    pub fn redact(&self, text: &str) -> Redaction {
        let mut text = text.to_string();
        let findings = self.redact_in_place(&mut text);
        Redaction { text, findings }
    }

    /// Redacts `text` in place and returns what was found. A text without findings is left
    /// untouched, with no allocation or copy, which is the common case on the hot path (most
    /// log lines carry no PII).
    ///
    /// ```
    /// use slo_operators::redact::Redactor;
    /// let r = Redactor::with_defaults();
    /// let mut line = String::from("login failed for alice@example.com");
    /// let findings = r.redact_in_place(&mut line);
    /// assert_eq!(line, "login failed for <EMAIL>");
    /// assert_eq!(findings.len(), 1);
    /// ```
    pub fn redact_in_place(&self, text: &mut String) -> Vec<Finding> {
        let mut findings = Vec::new();
        self.redact_in_place_with(text, &mut findings);
        findings
    }

    /// [`redact_in_place`](Self::redact_in_place) with the findings written into a buffer the
    /// caller keeps (cleared first), so that a loop over many texts allocates nothing for them;
    /// this is what the [`Redact`] operator calls.
    ///
    /// ```
    /// use slo_operators::redact::{EntityType, Redactor};
    /// let r = Redactor::with_defaults();
    /// let mut findings = Vec::new();
    /// for line in ["ok from 10.1.2.3", "no pii here"] {
    ///     let mut text = line.to_string();
    ///     r.redact_in_place_with(&mut text, &mut findings);
    ///     if line.starts_with("ok") {
    ///         assert_eq!(text, "ok from <IP>");
    ///         assert_eq!(findings[0].entity, EntityType::Ipv4);
    ///     } else {
    ///         assert!(findings.is_empty());
    ///     }
    /// }
    /// ```
    pub fn redact_in_place_with(&self, text: &mut String, findings: &mut Vec<Finding>) {
        self.find_into(text, findings);
        if findings.len() <= IN_PLACE_MAX {
            // from the back, so that the offsets of the findings before stay valid; the line
            // keeps its buffer (no allocation unless the placeholders make it longer than it
            // has room for)
            for f in findings.iter().rev() {
                text.replace_range(f.start..f.end, &f.entity.placeholder_str());
            }
        } else {
            rewrite(text, findings);
        }
    }

    /// The resolved, non-overlapping findings in `text`, in order, into `out` (cleared first):
    /// the detectors push their candidates there and they are resolved in place.
    fn find_into(&self, text: &str, out: &mut Vec<Finding>) {
        let inner = &*self.inner;
        out.clear();
        detect::scan(text, inner.enabled_mask, &inner.keywords, out);
        if !inner.rules.is_empty() {
            self.run_rules(text, out);
        }
        if !out.is_empty() {
            resolve(text, out);
        }
    }

    fn run_rules(&self, text: &str, cands: &mut Vec<Cand>) {
        let inner = &*self.inner;
        let mut hit = vec![false; inner.rules.len()];
        if let Some(ac) = &inner.rule_kw {
            for m in ac.find_overlapping_iter(text) {
                if let Some(&ri) = inner.rule_kw_map.get(m.pattern().as_usize()) {
                    hit[ri] = true;
                }
            }
        }
        for (i, rule) in inner.rules.iter().enumerate() {
            if rule.has_keywords && !hit[i] {
                continue;
            }
            for caps in rule.regex.captures_iter(text) {
                let Some(m) = caps.get(rule.secret_group).or_else(|| caps.get(0)) else {
                    continue;
                };
                if m.start() == m.end() {
                    continue;
                }
                if let Some(min) = rule.entropy {
                    if shannon_entropy(m.as_str()) < min {
                        continue;
                    }
                }
                cands.push(Cand { entity: rule.entity.clone(), start: m.start(), end: m.end() });
            }
        }
    }
}

/// Shannon entropy in bits per character.
pub(crate) fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let b = s.as_bytes();
    for &c in b {
        counts[c as usize] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Overlap resolution, in place: higher priority wins, then longer, then earlier.
fn resolve(text: &str, cands: &mut Vec<Cand>) {
    // snap to char boundaries (detectors are byte-based; never cut a UTF-8 char)
    for c in cands.iter_mut() {
        while c.start > 0 && !text.is_char_boundary(c.start) {
            c.start -= 1;
        }
        while c.end < text.len() && !text.is_char_boundary(c.end) {
            c.end += 1;
        }
    }
    cands.retain(|c| c.end > c.start);
    // The common case: the candidates do not overlap, and all of them are the findings.
    cands.sort_by_key(|c| (c.start, c.end)); // stable: ties keep detection order
    if cands.windows(2).all(|w| w[0].end <= w[1].start) {
        return;
    }
    cands.sort_by(|a, b| {
        b.entity
            .priority()
            .cmp(&a.entity.priority())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    // Accepted findings are disjoint, keyed by start: a candidate overlaps one of them exactly
    // when the last one starting before its end reaches past its start (log time per candidate,
    // so lines with very many findings stay linear-ish).
    let mut acc: std::collections::BTreeMap<usize, Finding> = std::collections::BTreeMap::new();
    for c in cands.drain(..) {
        if acc.range(..c.end).next_back().is_some_and(|(_, f)| f.end > c.start) {
            continue;
        }
        acc.insert(c.start, c);
    }
    cands.extend(acc.into_values());
}

mod operator;
pub use operator::{redact_event, CarriesEvent, Redact, RedactCarried};
