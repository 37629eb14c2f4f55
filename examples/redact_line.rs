//! Redacting one line: PII and secrets replaced by typed placeholders, with the byte offsets of
//! what was found (in the input text).
//!
//! ```sh
//! cargo run --example redact_line -- 'login bob@example.com from 10.1.2.3 with card 4111 1111 1111 1111'
//! ```

use slo_operators::redact::Redactor;

fn main() {
    let line = std::env::args().nth(1).unwrap_or_else(|| {
        "user alice@example.com paid with 4111-1111-1111-1111 from 192.168.7.20, token ghp_0123456789abcdefghijABCDEFGHIJ012345"
            .to_string()
    });
    // The built-in detectors (emails, cards, IPs, phones, keys, ...) and gitleaks-style rules.
    let redactor = Redactor::with_defaults();
    let redaction = redactor.redact(&line);
    println!("{}", redaction.text);
    for f in &redaction.findings {
        // Offsets only: printing the value itself would leak what was just redacted.
        println!("  {:<14} bytes {}..{}", f.entity.as_str(), f.start, f.end);
    }
}
