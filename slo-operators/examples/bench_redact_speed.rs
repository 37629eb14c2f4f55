//! Single-threaded throughput of the built-in [`Redactor`] on Loghub-2k lines.
//!
//! ```text
//! cargo run -p slo-operators --release --example bench_redact_speed -- ../shared/datasets/loghub2k
//! ```
//!
//! Reads every `*/*_2k.log`, repeats the lines until at least 1M lines were redacted, prints
//! lines/s and MB/s, plus what was found in one pass (to eyeball false positives; set
//! `REDACT_SHOW=TYPE` to print the redacted lines that contain that type).

use std::collections::BTreeMap;
use std::time::Instant;

use slo_operators::redact::Redactor;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "../shared/datasets/loghub2k".to_string());
    let mut lines: Vec<String> = Vec::new();
    let mut sets = Vec::new();
    let Ok(rd) = std::fs::read_dir(&dir) else {
        eprintln!("cannot read {dir}");
        std::process::exit(2);
    };
    let mut dirs: Vec<_> = rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for d in dirs {
        let Some(name) = d.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        let f = d.join(format!("{name}_2k.log"));
        if let Ok(t) = std::fs::read_to_string(&f) {
            sets.push(name);
            lines.extend(t.lines().map(str::to_string));
        }
    }
    if lines.is_empty() {
        eprintln!("no *_2k.log files under {dir}");
        std::process::exit(2);
    }
    let redactor = Redactor::with_defaults();
    let show = std::env::var("REDACT_SHOW").ok();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut changed = 0u64;
    for l in &lines {
        let r = redactor.redact(l);
        if r.applied() {
            changed += 1;
        }
        for (k, v) in r.counts() {
            *counts.entry(k.to_string()).or_default() += v;
            if show.as_deref() == Some(k) {
                println!("{}", r.text);
            }
        }
    }
    let bytes: usize = lines.iter().map(|l| l.len()).sum();
    let reps = 1_000_000usize.div_ceil(lines.len());
    // warm-up
    for l in lines.iter().take(5000) {
        std::hint::black_box(redactor.redact(l));
    }
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut n = 0u64;
    for _ in 0..reps {
        for l in &lines {
            std::hint::black_box(redactor.redact(l));
            n += 1;
        }
    }
    let dt = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    println!("## Redactor throughput (single thread, release)\n");
    println!("- data: {} lines from {} Loghub-2k sets ({})", lines.len(), sets.len(), sets.join(", "));
    println!("- lines redacted: {n} ({reps} passes), {:.2} s", dt);
    println!("- **{:.0} lines/s**, {:.1} MB/s", n as f64 / dt, (bytes * reps) as f64 / dt / 1e6);
    if let Some(c) = cpu {
        println!(
            "- on-CPU time of the thread {:.2} s: **{:.0} lines per CPU-second** (excludes time the \
             thread waited for a core on a busy machine)",
            c,
            n as f64 / c
        );
    }
    println!("- lines with a finding: {changed} of {}", lines.len());
    let list: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("- findings per type (one pass): {}", list.join(", "));
}

/// Time this thread has spent on a CPU (Linux `/proc/thread-self/schedstat`), in ns.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
