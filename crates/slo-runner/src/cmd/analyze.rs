//! `slo-runner analyze`: user journeys, the service call graph and per-journey SLIs with their
//! PromQL, from span files (JSON lines, OTLP/JSON, Nezha span CSV tables), from the store, or
//! from the generated sample.

use std::path::PathBuf;

use anyhow::Context;
use slo_advisor::analyze::{analyze, traces_touching, AnalyzeConfig, Analysis};
use slo_advisor::promql::MetricConvention;
use slo_advisor::spans::{from_events, from_store, read_path, Span};
use slo_dataflow::synthetic::{generate, SyntheticConfig};
use slo_storage::Store;

/// Output formats of `analyze`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AnalyzeFormat {
    /// Aligned text tables.
    Table,
    /// One JSON document with everything (journeys, call graph, SLIs, PromQL, minute rows).
    Json,
}

/// Arguments of `analyze`.
#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// Span input: a file or directory of JSON lines / OTLP/JSON, or Nezha span tables
    /// (`DIR/trace/*.csv`, `DIR/*/trace/*.csv` or a directory of such CSVs).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Store location (a directory or `s3://bucket/prefix`) whose `spans` table is analysed.
    /// With neither --input nor --store, a generated sample is analysed.
    #[arg(long)]
    store: Option<String>,
    /// Only traces that touch this service.
    #[arg(long)]
    service: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    format: AnalyzeFormat,
    /// Metric convention of the PromQL: `otel-http` (default) or `spanmetrics`.
    #[arg(long, default_value = "otel-http")]
    convention: String,
    /// Rate window of the PromQL.
    #[arg(long, default_value = "5m")]
    window: String,
    /// Requests of the generated sample (when neither --input nor --store is given).
    #[arg(long, default_value_t = 2_000)]
    requests: usize,
    /// Also upsert the per-minute SLI rows into the store's `sli_minutes` table (needs --store).
    #[arg(long)]
    write_sli: bool,
}

fn ms(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else if v >= 10.0 { format!("{v:.1}") } else { format!("{v:.2}") }
}

fn print_table(a: &Analysis, source: &str) {
    println!("{source}: {} spans, {} traces, {} orphan spans", a.spans, a.traces, a.orphan_spans);
    if !a.generic_roots.is_empty() {
        println!("generic roots (journeys split by the operations under them): {}", a.generic_roots.join("; "));
    }
    println!();
    println!("JOURNEYS (most critical first)");
    println!("{:>4}  {:<28} {:<36} {:>8} {:>7} {:>9} {:>9} {:>9} {:>7} {:>6}", "rank", "name", "entry", "requests", "error%", "p50 ms", "p95 ms", "p99 ms", "fan-out", "score");
    for j in &a.journeys {
        let entry = format!("{}: {}", j.entry_service, j.entry_operation);
        println!(
            "{:>4}  {:<28} {:<36} {:>8} {:>7.2} {:>9} {:>9} {:>9} {:>7.1} {:>6.3}",
            j.rank,
            truncate(&j.name, 28),
            truncate(&entry, 36),
            j.requests,
            100.0 * j.error_ratio,
            ms(j.p50_ms),
            ms(j.p95_ms),
            ms(j.p99_ms),
            j.fan_out,
            j.criticality
        );
    }
    println!();
    println!("CALL GRAPH ({} edges)", a.call_graph.len());
    for e in &a.call_graph {
        println!("  {} -> {}  ({} calls)", e.caller, e.callee, e.calls);
    }
    println!();
    println!("SLIs (whole period; per-minute rows in --format json)");
    println!("{:<28} {:>8} {:>10} {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}", "journey", "requests", "avail %", "error src", "p50", "p90", "p95", "p99", "p99.9", "rps");
    for s in &a.slis {
        let l = &s.latency;
        println!(
            "{:<28} {:>8} {:>10.3} {:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.3}",
            truncate(&s.journey, 28),
            s.requests,
            100.0 * s.availability,
            s.error_source.as_str(),
            ms(l.p50_ms),
            ms(l.p90_ms),
            ms(l.p95_ms),
            ms(l.p99_ms),
            ms(l.p999_ms),
            s.mean_throughput_rps
        );
    }
    println!();
    println!("PromQL ({} convention)", a.promql.first().map(|q| q.convention.as_str()).unwrap_or("-"));
    for q in &a.promql {
        println!("- {}", q.journey);
        println!("    throughput:   {}", q.throughput);
        println!("    availability: {}", q.availability);
        for (name, query) in &q.latency {
            println!("    {name:<13} {query}");
        }
        if let Some(c) = &q.caveat {
            println!("    note: {c}");
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Runs `analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let mut convention = MetricConvention::by_name(&args.convention)
        .with_context(|| format!("unknown metric convention {:?} (use otel-http or spanmetrics)", args.convention))?;
    convention.window = args.window.clone();
    let cfg = AnalyzeConfig { convention, ..Default::default() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let store = args.store.as_deref().map(Store::open).transpose()?;
    let (spans, source): (Vec<Span>, String) = match (&args.input, &store) {
        (Some(path), _) => {
            let (spans, report) = read_path(path).with_context(|| format!("reading spans from {}", path.display()))?;
            if report.skipped > 0 {
                eprintln!("skipped {} malformed records in {} files", report.skipped, report.files);
            }
            let spans = match &args.service {
                Some(s) => traces_touching(spans, s),
                None => spans,
            };
            (spans, path.display().to_string())
        }
        (None, Some(store)) => (rt.block_on(from_store(store, args.service.as_deref()))?, format!("store {}", store.base_url())),
        (None, None) => {
            let (events, _) = generate(&SyntheticConfig { requests: args.requests, ..Default::default() });
            let spans = from_events(&events);
            let spans = match &args.service {
                Some(s) => traces_touching(spans, s),
                None => spans,
            };
            (spans, format!("generated sample ({} requests)", args.requests))
        }
    };
    if spans.is_empty() {
        anyhow::bail!("no spans found in {source}");
    }
    let analysis = analyze(&spans, &cfg);
    if args.write_sli {
        let store = store.as_ref().context("--write-sli needs --store")?;
        let files = rt.block_on(slo_advisor::sli::write_to_store(store, &analysis.minutes))?;
        eprintln!("wrote {} sli_minutes rows in {files} files", analysis.minutes.len());
    }
    match args.format {
        AnalyzeFormat::Table => print_table(&analysis, &source),
        AnalyzeFormat::Json => println!("{}", serde_json::to_string_pretty(&analysis)?),
    }
    Ok(())
}
