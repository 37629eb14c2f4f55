//! `slo-runner redact`: stdin lines → `{"text", "findings"}` JSON lines.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use slo_operators::redact::{Redactor, RedactorConfig};

/// Arguments of `redact`.
#[derive(clap::Args)]
pub struct RedactArgs {
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
pub fn run(args: RedactArgs) -> anyhow::Result<()> {
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
        // Offsets are bytes of the input line; invalid UTF-8 is replaced (and then offsets refer
        // to the replaced text), so a bad byte never stops the stream.
        let line = String::from_utf8_lossy(&buf);
        let r = redactor.redact(&line);
        let findings = r.findings.iter().map(|f| FindingOut { kind: f.entity.as_str(), start: f.start, end: f.end }).collect();
        serde_json::to_writer(&mut out, &LineOut { text: &r.text, findings })?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
