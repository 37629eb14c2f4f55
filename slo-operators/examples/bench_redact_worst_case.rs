//! Redaction time on adversarial lines: each pattern repeated into one line of 20 kB and of
//! 200 kB. Linear work takes about 10 times as long on the longer line; quadratic work about 100
//! times. Prints the ratio per pattern and exits non-zero when one exceeds 30.
//!
//! ```text
//! cargo run --release -p slo-operators --example bench_redact_worst_case
//! ```

use std::time::Instant;

use slo_operators::redact::Redactor;

const PATTERNS: &[&str] = &[
    "password=",
    "password",
    "passwordx ",
    "token:",
    "api_key=\"",
    "secret='",
    "user=",
    "user",
    "login ",
    "for user ",
    "bearer ",
    "Authorization: Basic ",
    "AKIA",
    "aws",
    "awsA",
    "ghp_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "sk_live_",
    "sk-",
    "eyJ",
    "eyJa.",
    "-----BEGIN RSA PRIVATE KEY-----",
    "://",
    "a://b:c@",
    "/home/",
    "/Users/",
    "\\Users\\",
    "a@",
    "@a.",
    "1",
    "1 ",
    "12 ",
    "1.",
    "1-",
    "+1",
    "+1 ",
    "(1",
    "(12) ",
    "1:",
    "::",
    "a:",
    "ab:",
    "ab-",
    "AB12",
    "DE89",
    "4111 ",
    "123-45-",
    "1.2.3.4 ",
    "version 1.",
    "a",
    "a ",
    "ab12cd ",
    "=",
    "\"",
    "'",
    "key=\"",
];

fn time(redactor: &Redactor, line: &str) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        std::hint::black_box(redactor.redact(line));
        best = best.min(start.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let redactor = Redactor::with_defaults();
    let mut worst = 0.0f64;
    for p in PATTERNS {
        let line = |bytes: usize| p.repeat(bytes / p.len() + 1);
        let (short, long) = (time(&redactor, &line(20_000)), time(&redactor, &line(200_000)));
        let ratio = long / short.max(1e-7);
        worst = worst.max(ratio);
        println!(
            "{:<36} 20 kB {:>9.3} ms  200 kB {:>9.3} ms  ratio {:>6.1}",
            format!("{p:?}"),
            short * 1e3,
            long * 1e3,
            ratio
        );
    }
    println!("worst ratio {worst:.1} (linear ≈ 10, quadratic ≈ 100)");
    if worst > 30.0 {
        std::process::exit(1);
    }
}
