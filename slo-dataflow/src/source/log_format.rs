//! Loghub-style `log_format` header parsing.
//!
//! The notation is the one used by logpai's `logparser` benchmarks (and by the Loghub data
//! sets' `settings.json`): `<Field>` placeholders with literal text between them, for example
//! `<Date> <Time> <Level> <Component>: <Content>`. It is compiled into an anchored regex exactly
//! the way logpai does it:
//!
//! * each `<Field>` becomes a lazy named group `(?P<Field>.*?)`;
//! * the literal text between placeholders is kept *as a regex fragment* (so formats may carry
//!   escapes such as `\[` or optional groups such as `(\[<PID>\])?`), with every run of spaces
//!   replaced by `\s+`;
//! * the whole pattern is anchored `^...$`.
//!
//! Lines are matched after stripping surrounding whitespace (logpai calls `line.strip()`).
//! The field that carries the free-text message is conventionally called `Content`.

use regex::Regex;

/// Name of the field that holds the free-text message in Loghub formats.
pub const CONTENT_FIELD: &str = "Content";

/// Errors raised while compiling a `log_format` string.
#[derive(Debug, thiserror::Error)]
pub enum LogFormatError {
    /// The format contains no `<Field>` placeholder.
    #[error("log format {0:?} has no <Field> placeholder")]
    NoFields(String),
    /// A placeholder name is not a valid identifier (`[A-Za-z_][A-Za-z0-9_]*`).
    #[error("invalid field name {0:?} in log format")]
    InvalidFieldName(String),
    /// The same field appears twice.
    #[error("duplicate field {0:?} in log format")]
    DuplicateField(String),
    /// The literal fragments do not form a valid regex.
    #[error("log format does not compile to a valid regex: {0}")]
    Regex(#[from] regex::Error),
}

/// A compiled Loghub `log_format`: splits a raw log line into its header fields and content.
#[derive(Debug, Clone)]
pub struct LogFormat {
    source: String,
    fields: Vec<String>,
    regex: Regex,
    content_index: Option<usize>,
}

/// One line split into `(field, value)` pairs, in the order the fields appear in the format.
pub type SplitLine<'f, 'l> = Vec<(&'f str, &'l str)>;

fn valid_field_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Appends a literal fragment, turning every run of spaces into `\s+`.
fn push_literal(regex: &mut String, literal: &str) {
    let mut in_spaces = false;
    for c in literal.chars() {
        if c == ' ' {
            if !in_spaces {
                regex.push_str(r"\s+");
                in_spaces = true;
            }
        } else {
            in_spaces = false;
            regex.push(c);
        }
    }
}

impl LogFormat {
    /// Compiles a `log_format` string such as `<Date> <Time> <Level> <Component>: <Content>`.
    pub fn parse(fmt: &str) -> Result<LogFormat, LogFormatError> {
        let mut regex = String::with_capacity(fmt.len() * 2 + 8);
        regex.push('^');
        let mut fields: Vec<String> = Vec::new();
        let mut rest = fmt;
        // A placeholder is `<` + one or more chars other than `<`/`>` + `>` (logpai: `<[^<>]+>`).
        loop {
            let Some(open) = rest.find('<') else {
                push_literal(&mut regex, rest);
                break;
            };
            let after = &rest[open + 1..];
            let close = after.find(['<', '>']);
            match close {
                Some(c) if after.as_bytes()[c] == b'>' && c > 0 => {
                    push_literal(&mut regex, &rest[..open]);
                    let name = &after[..c];
                    if !valid_field_name(name) {
                        return Err(LogFormatError::InvalidFieldName(name.to_string()));
                    }
                    if fields.iter().any(|f| f == name) {
                        return Err(LogFormatError::DuplicateField(name.to_string()));
                    }
                    regex.push_str("(?P<");
                    regex.push_str(name);
                    regex.push_str(">.*?)");
                    fields.push(name.to_string());
                    rest = &after[c + 1..];
                }
                _ => {
                    // Not a placeholder: keep the `<` literally and go on.
                    push_literal(&mut regex, &rest[..open + 1]);
                    rest = after;
                }
            }
        }
        regex.push('$');
        if fields.is_empty() {
            return Err(LogFormatError::NoFields(fmt.to_string()));
        }
        let regex = Regex::new(&regex)?;
        let content_index = fields.iter().position(|f| f == CONTENT_FIELD);
        Ok(LogFormat { source: fmt.to_string(), fields, regex, content_index })
    }

    /// The format string this was compiled from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Field names in the order they appear in the format.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The compiled, anchored regex (one named group per field).
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Splits a line into `(field, value)` pairs; `None` when the line does not match the
    /// format. Fields inside an optional fragment that did not participate map to `""`.
    pub fn split<'l>(&self, line: &'l str) -> Option<SplitLine<'_, 'l>> {
        let caps = self.regex.captures(line.trim())?;
        Some(self.fields.iter().map(|f| (f.as_str(), caps.name(f).map_or("", |m| m.as_str()))).collect())
    }

    /// The `Content` field of a line; `None` when the format has no `Content` field or the line
    /// does not match.
    pub fn content<'l>(&self, line: &'l str) -> Option<&'l str> {
        let idx = self.content_index?;
        let caps = self.regex.captures(line.trim())?;
        Some(caps.name(&self.fields[idx]).map_or("", |m| m.as_str()))
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

impl std::str::FromStr for LogFormat {
    type Err = LogFormatError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogFormat::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_format_splits_fields() {
        let f = LogFormat::parse("<Date> <Time> <Level> <Component>: <Content>").unwrap();
        assert_eq!(f.fields(), ["Date", "Time", "Level", "Component", "Content"]);
        let line = "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers for [TERM, HUP, INT]";
        let parts = f.split(line).unwrap();
        assert_eq!(parts[0], ("Date", "17/06/09"));
        assert_eq!(parts[3], ("Component", "executor.CoarseGrainedExecutorBackend"));
        assert_eq!(f.content(line), Some("Registered signal handlers for [TERM, HUP, INT]"));
    }

    #[test]
    fn escaped_brackets_and_optional_groups() {
        let f = LogFormat::parse(r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>").unwrap();
        let with_pid = "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0";
        let parts = f.split(with_pid).unwrap();
        assert_eq!(parts[4], ("Component", "sshd(pam_unix)"));
        assert_eq!(parts[5], ("PID", "19939"));
        assert_eq!(f.content(with_pid), Some("authentication failure; logname= uid=0"));
        let without = "Jun 15 04:06:18 combo su(pam_unix): session opened for user cyrus by (uid=0)";
        let parts = f.split(without).unwrap();
        assert_eq!(parts[5], ("PID", ""));
        assert_eq!(f.content(without), Some("session opened for user cyrus by (uid=0)"));
    }

    #[test]
    fn runs_of_spaces_match_any_whitespace() {
        let f = LogFormat::parse("<Date> <Time>, <Level>                  <Component>    <Content>").unwrap();
        let line = "2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack v6.1";
        assert_eq!(f.content(line), Some("Loaded Servicing Stack v6.1"));
        let f = LogFormat::parse(r"\[<Time>\] <Program> - <Content>").unwrap();
        let line = "[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy";
        assert_eq!(f.split(line).unwrap()[1], ("Program", "chrome.exe"));
        assert_eq!(f.content(line), Some("proxy.cse.cuhk.edu.hk:5070 open through proxy"));
    }

    #[test]
    fn non_matching_line_is_none() {
        let f = LogFormat::parse("<Date> <Time> <Level> <Component>: <Content>").unwrap();
        assert!(f.content("garbage").is_none());
        assert!(f.split("garbage").is_none());
    }

    #[test]
    fn errors() {
        assert!(matches!(LogFormat::parse("no fields"), Err(LogFormatError::NoFields(_))));
        assert!(matches!(LogFormat::parse("<A> <A>"), Err(LogFormatError::DuplicateField(_))));
        assert!(matches!(LogFormat::parse("<1x> <B>"), Err(LogFormatError::InvalidFieldName(_))));
        assert!(matches!(LogFormat::parse(r"<A> ( <B>"), Err(LogFormatError::Regex(_))));
        let f: LogFormat = "<A> <Content>".parse().unwrap();
        assert_eq!(f.to_string(), "<A> <Content>");
        assert!(f.content("x").is_none());
        assert_eq!(f.content("x y z"), Some("y z"));
    }
}
