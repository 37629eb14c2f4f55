//! `slo-runner redact`: stdin lines → `{"text", "findings"}` JSON lines.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use slo_operators::redact::{Redactor, RedactorConfig};

/// Arguments of `redact`.
#[derive(clap::Args)]
pub(crate) struct RedactArgs {
    /// Extra rule files in gitleaks TOML format.
    #[arg(long = "rules")]
    rules: Vec<PathBuf>,
    /// Built-in entity types to disable (repeatable), e.g. `--disable PHONE`.
    #[arg(long = "disable")]
    disable: Vec<String>,
}

#[derive(Serialize)]
struct FindingOut<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    start: usize,
    end: usize,
}

#[derive(Serialize)]
struct LineOut<'a> {
    text: &'a str,
    findings: Vec<FindingOut<'a>>,
}

/// Runs `redact`.
pub(crate) fn run(args: RedactArgs) -> anyhow::Result<()> {
    let cfg = RedactorConfig { rule_files: args.rules, disabled: args.disable, ..Default::default() };
    let redactor = Redactor::new(cfg).context("cannot build the redactor")?;
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut buf = Vec::new();
    let mut reader = std::io::BufReader::new(stdin);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).context("reading stdin")? == 0 {
            break;
        }
        while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            buf.pop();
        }
        // Invalid UTF-8 is replaced (U+FFFD) so that a bad byte never stops the stream; the
        // offsets are still bytes of the input line.
        let (line, runs) = decode_lossy(&buf);
        let r = redactor.redact(&line);
        let findings = r
            .findings
            .iter()
            .map(|f| FindingOut {
                kind: f.entity.as_str(),
                start: input_offset(&runs, f.start),
                end: input_offset(&runs, f.end),
            })
            .collect();
        serde_json::to_writer(&mut out, &LineOut { text: &r.text, findings })?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// A valid UTF-8 run of a decoded line: `(offset in the decoded text, offset in the input, length)`.
type Run = (usize, usize, usize);

/// `bytes` decoded with invalid sequences replaced by U+FFFD (as `String::from_utf8_lossy`
/// does), with the valid runs that map decoded offsets back to input offsets. The last run is an
/// empty one at the end of both.
fn decode_lossy(bytes: &[u8]) -> (String, Vec<Run>) {
    let mut text = String::with_capacity(bytes.len());
    let mut runs = Vec::new();
    let mut input = 0;
    for chunk in bytes.utf8_chunks() {
        runs.push((text.len(), input, chunk.valid().len()));
        text.push_str(chunk.valid());
        input += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            text.push(char::REPLACEMENT_CHARACTER);
            input += chunk.invalid().len();
        }
    }
    runs.push((text.len(), input, 0));
    (text, runs)
}

/// The input offset of an offset in the decoded text. Findings start and end on character
/// boundaries, so an offset is inside a valid run or at one of its ends (a replacement
/// character's start is the end of the run before it, its end the start of the run after it).
fn input_offset(runs: &[Run], decoded: usize) -> usize {
    let i = runs.partition_point(|r| r.0 <= decoded).saturating_sub(1);
    let (at, input, len) = runs[i];
    input + (decoded - at).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_back_to_the_input_bytes() {
        let input = b"\xff\xfe user=bob \xe2\x82 mail bob@example.com\xff";
        let (text, runs) = decode_lossy(input);
        assert_eq!(text, String::from_utf8_lossy(input));
        let at = |needle: &str| text.find(needle).unwrap();
        let find = |needle: &[u8]| input.windows(needle.len()).position(|w| w == needle).unwrap();
        assert_eq!(input_offset(&runs, at("bob")), find(b"bob"));
        assert_eq!(input_offset(&runs, at("bob@")), find(b"bob@"));
        assert_eq!(input_offset(&runs, at("bob@") + "bob@example.com".len()), find(b".com") + 4);
        assert_eq!(input_offset(&runs, 0), 0);
        assert_eq!(input_offset(&runs, text.len()), input.len());
        // valid input: the identity
        let (plain, runs) = decode_lossy(b"user=bob");
        assert_eq!((plain.as_str(), input_offset(&runs, 5)), ("user=bob", 5));
    }
}
