//! Precision / recall of the built-in [`Redactor`] on a labelled JSONL file
//! (`{"text": ..., "spans": [{"start","end","label","value"}]}`, offsets in Unicode chars or
//! bytes — both are handled by locating `value` near `start`).
//!
//! ```text
//! cargo run -p slo-operators --release --example bench_pii_eval -- ../shared/datasets/pii/generated_logs.jsonl
//! ```
//!
//! Span-level scoring: a labelled span is *found* if a finding of a compatible type overlaps it;
//! a finding is *correct* if it overlaps a labelled span of a compatible type. `PERSON` labels are
//! excluded (free-text names are out of scope). Findings of types that the dataset never labels
//! (`USERNAME`, `HOME_PATH`, `AWS_SECRET_KEY`, `PRIVATE_KEY`) are listed separately and not scored.

use std::collections::BTreeMap;
use std::time::Instant;

use slo_operators::redact::{EntityType, Redactor};

/// Dataset label -> our entity types that count as a match.
fn compatible(label: &str) -> &'static [EntityType] {
    use EntityType::*;
    match label {
        "EMAIL" => &[Email],
        "IPV4" => &[Ipv4],
        "IPV6" => &[Ipv6],
        "MAC" => &[Mac],
        "PHONE" => &[Phone],
        "CREDIT_CARD" => &[CreditCard],
        "IBAN" => &[Iban],
        "US_SSN" => &[UsSsn],
        "JWT" => &[Jwt, AuthHeader],
        "BEARER_TOKEN" => &[AuthHeader, Jwt, ApiToken],
        "AWS_ACCESS_KEY" => &[AwsAccessKey],
        "GITHUB_TOKEN" | "SLACK_TOKEN" | "STRIPE_KEY" => &[ApiToken],
        "PASSWORD" => &[Password],
        _ => &[],
    }
}

/// Types the dataset never labels: not scored for precision.
fn unscored(e: &EntityType) -> bool {
    matches!(
        e,
        EntityType::Username
            | EntityType::HomePath
            | EntityType::AwsSecretKey
            | EntityType::PrivateKey
            | EntityType::Custom(_)
    )
}

struct Span {
    start: usize,
    end: usize,
    label: String,
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| "../shared/datasets/pii/generated_logs.jsonl".to_string());
    let data = match std::fs::read_to_string(&path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let verbose = std::env::var_os("PII_EVAL_VERBOSE").is_some();
    let redactor = Redactor::with_defaults();
    let mut lines: Vec<(String, Vec<Span>)> = Vec::new();
    for l in data.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(l).expect("valid JSON line");
        let text = v["text"].as_str().unwrap_or_default().to_string();
        let mut spans = Vec::new();
        for s in v["spans"].as_array().into_iter().flatten() {
            let label = s["label"].as_str().unwrap_or_default().to_string();
            let value = s["value"].as_str().unwrap_or_default();
            let start_hint = s["start"].as_u64().unwrap_or(0) as usize;
            // locate the value as bytes (works whether offsets were chars or bytes)
            let start = locate(&text, value, start_hint);
            spans.push(Span { start, end: start + value.len(), label });
        }
        lines.push((text, spans));
    }

    // per label: (support, found); per our type: (findings, correct)
    let mut support: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut scored: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut unscored_counts: BTreeMap<String, u64> = BTreeMap::new();
    for (text, spans) in &lines {
        let red = redactor.redact(text);
        for s in spans.iter().filter(|s| s.label != "PERSON") {
            let comp = compatible(&s.label);
            let found = red.findings.iter().any(|f| comp.contains(&f.entity) && f.start < s.end && s.start < f.end);
            let e = support.entry(s.label.clone()).or_default();
            e.0 += 1;
            if found {
                e.1 += 1;
            } else if verbose {
                eprintln!("MISS {} {:?}\n   {}", s.label, &text[s.start..s.end], text);
            }
        }
        for f in &red.findings {
            if unscored(&f.entity) {
                *unscored_counts.entry(f.entity.as_str().to_string()).or_default() += 1;
                continue;
            }
            let ok =
                spans.iter().any(|s| compatible(&s.label).contains(&f.entity) && f.start < s.end && s.start < f.end);
            let e = scored.entry(f.entity.as_str().to_string()).or_default();
            e.0 += 1;
            if ok {
                e.1 += 1;
            } else if verbose {
                eprintln!("FP {} {:?}\n   {}", f.entity, &text[f.start..f.end], text);
            }
        }
    }

    println!("## PII redaction quality — `{path}`\n");
    println!("Recall per dataset label (PERSON excluded):\n");
    println!("| label | support | found | recall |");
    println!("|---|---:|---:|---:|");
    let (mut ts, mut tf) = (0, 0);
    for (l, (s, f)) in &support {
        ts += s;
        tf += f;
        println!("| {l} | {s} | {f} | {:.4} |", ratio(*f, *s));
    }
    println!("| **all** | **{ts}** | **{tf}** | **{:.4}** |\n", ratio(tf, ts));
    println!("Precision per redactor type:\n");
    println!("| type | findings | correct | precision |");
    println!("|---|---:|---:|---:|");
    let (mut tn, mut tc) = (0, 0);
    for (t, (n, c)) in &scored {
        tn += n;
        tc += c;
        println!("| {t} | {n} | {c} | {:.4} |", ratio(*c, *n));
    }
    println!("| **all** | **{tn}** | **{tc}** | **{:.4}** |\n", ratio(tc, tn));
    if !unscored_counts.is_empty() {
        let list: Vec<String> = unscored_counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!("Unscored findings (types the dataset does not label): {}\n", list.join(", "));
    }
    let p = ratio(tc, tn);
    let r = ratio(tf, ts);
    println!(
        "**Overall: precision {p:.4}, recall {r:.4}, F1 {:.4}** over {} lines\n",
        if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 },
        lines.len()
    );

    // timing on the same lines
    let reps = (200_000 / lines.len().max(1)).max(1);
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0u64;
    for _ in 0..reps {
        for (text, _) in &lines {
            let red = redactor.redact(text);
            bytes += red.text.len() as u64;
            n += 1;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    println!(
        "Throughput on these lines (single thread): {:.0} lines/s ({n} lines, {:.1} MB out)",
        n as f64 / dt,
        bytes as f64 / 1e6
    );
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Byte offset of `value` in `text`, preferring the occurrence nearest to `hint`.
fn locate(text: &str, value: &str, hint: usize) -> usize {
    if text.get(hint..hint + value.len()) == Some(value) {
        return hint;
    }
    text.match_indices(value).map(|(i, _)| i).min_by_key(|i| i.abs_diff(hint)).unwrap_or(hint.min(text.len()))
}
