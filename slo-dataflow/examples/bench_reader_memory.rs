//! Peak memory of each input reader against input size: the readers must stay within a constant
//! whatever the file's size (issue 17). For every format it writes a small and a large file,
//! reads each in a child process of its own (so one peak cannot hide another) and prints the
//! peak resident set (`VmHWM`) of each, and the large-to-small ratio. A ratio near 1 means
//! memory does not grow with the input.
//!
//! ```sh
//! cargo run --release -p slo-dataflow --example bench_reader_memory -- --sizes 100M,1G
//! # or, after `cargo test --workspace --all-targets --no-run`, the debug build:
//! target/debug/examples/bench_reader_memory --sizes 100M,1G --dir /tmp/reader-memory
//! ```
//!
//! Formats: `jsonl` (one event per line), `plain` (a Loghub-style log), `otlp-lines` (one OTLP
//! logs export request of 100 records per line, as the Collector's file exporter writes) and
//! `otlp-doc` (one pretty-printed request holding every record, in resources of 100 records).
//! Files are kept in `--dir` (default a folder under the temp dir) and reused when present.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use slo_dataflow::source::{open_file, OpenOptions};

const FORMATS: [&str; 4] = ["jsonl", "plain", "otlp-lines", "otlp-doc"];

fn parse_size(s: &str) -> u64 {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('G' | 'g') => (&s[..s.len() - 1], 1u64 << 30),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('K' | 'k') => (&s[..s.len() - 1], 1 << 10),
        _ => (s, 1),
    };
    num.parse::<u64>().expect("a size such as 100M or 1G") * mult
}

fn record(i: u64) -> String {
    format!("request {i} for /api/cart/{} took {} ms user u{} region eu-{}", i % 977, i % 1500, i % 10_000, i % 7)
}

/// Writes a file of about `bytes` bytes in `format`.
fn generate(format: &str, bytes: u64, path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("partial");
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
    let written = std::cell::Cell::new(0u64);
    let mut i = 0u64;
    let t0 = 1_735_689_600_000u64;
    let put = |w: &mut BufWriter<std::fs::File>, s: &str| -> std::io::Result<()> {
        written.set(written.get() + s.len() as u64);
        w.write_all(s.as_bytes())
    };
    let log = |i: u64| {
        format!(
            r#"{{"timeUnixNano":"{}","severityText":"INFO","body":{{"stringValue":"{}"}},"attributes":[{{"key":"i","value":{{"intValue":"{i}"}}}}]}}"#,
            (t0 + i) * 1_000_000,
            record(i)
        )
    };
    let resource = |i: u64| {
        let records: Vec<String> = (i..i + 100).map(log).collect();
        format!(
            r#"{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc-{}"}}}}]}},"scopeLogs":[{{"logRecords":[{}]}}]}}"#,
            i % 7,
            records.join(",")
        )
    };
    if format == "otlp-doc" {
        put(&mut w, "{\n  \"resourceLogs\": [\n")?;
    }
    while written.get() < bytes {
        match format {
            "jsonl" => put(
                &mut w,
                &format!(
                    "{{\"event_id\":\"e{i}\",\"service\":\"svc-{}\",\"timestamp_ms\":{},\"severity\":\"INFO\",\"body\":\"{}\"}}\n",
                    i % 7,
                    t0 + i,
                    record(i)
                ),
            )?,
            "plain" => put(&mut w, &format!("2025-01-01 00:{:02}:{:02} INFO Worker: {}\n", (i / 60) % 60, i % 60, record(i)))?,
            "otlp-lines" => put(&mut w, &format!("{{\"resourceLogs\":[{}]}}\n", resource(i)))?,
            "otlp-doc" => {
                let sep = if i == 0 { "    " } else { ",\n    " };
                put(&mut w, &format!("{sep}{}", resource(i)))?
            }
            other => panic!("unknown format {other}"),
        }
        i += if format.starts_with("otlp") { 100 } else { 1 };
    }
    if format == "otlp-doc" {
        put(&mut w, "\n  ]\n}\n")?;
    }
    w.flush()?;
    drop(w);
    std::fs::rename(&tmp, path)
}

/// The process's peak resident set, kB (`VmHWM` of /proc/self/status).
fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Child: read one file, print `events dead peak_kb`.
fn child(path: &Path) {
    let (mut events, mut dead) = (0u64, 0u64);
    for item in open_file(path, &OpenOptions::default()).expect("open") {
        match item {
            Ok(_) => events += 1,
            Err(_) => dead += 1,
        }
    }
    println!("{events} {dead} {}", peak_kb());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(Path::new(&args[2]));
        return;
    }
    let mut sizes = vec![100u64 << 20, 1 << 30];
    let mut dir = std::env::temp_dir().join("slo-scout-reader-memory");
    let mut formats: Vec<String> = FORMATS.iter().map(|s| s.to_string()).collect();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--sizes" => sizes = it.next().expect("--sizes A,B").split(',').map(parse_size).collect(),
            "--dir" => dir = PathBuf::from(it.next().expect("--dir DIR")),
            "--formats" => formats = it.next().expect("--formats a,b").split(',').map(str::to_owned).collect(),
            other => panic!("unknown argument {other} (--sizes, --dir, --formats)"),
        }
    }
    std::fs::create_dir_all(&dir).expect("create --dir");
    let exe = std::env::current_exe().expect("own path");
    println!(
        "{:<11} {:>10} {:>12} {:>6} {:>12} {:>10}",
        "format", "file MB", "events", "dead", "peak RSS MB", "vs first"
    );
    for format in &formats {
        let mut first: Option<u64> = None;
        for &size in &sizes {
            let path = dir.join(format!("{format}-{size}.{}", if format == "plain" { "log" } else { "json" }));
            if !path.exists() {
                generate(format, size, &path).expect("write the input");
            }
            let out = Command::new(&exe).arg("--child").arg(&path).output().expect("run the child");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8_lossy(&out.stdout);
            let v: Vec<u64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            let (events, dead, peak) = (v[0], v[1], v[2]);
            let ratio = first.map_or(1.0, |f| peak as f64 / f as f64);
            first.get_or_insert(peak);
            let file_mb = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;
            println!(
                "{format:<11} {file_mb:>10.0} {events:>12} {dead:>6} {:>12.1} {ratio:>9.2}x",
                peak as f64 / 1024.0
            );
        }
    }
}
