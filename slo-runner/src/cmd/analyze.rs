//! `slo-runner analyze`: user journeys, the service call graph and per-journey SLIs with their
//! PromQL, from span files (JSON lines, OTLP/JSON, Nezha span CSV tables), from the store, or
//! from the generated sample.
//!
//! Progress (loading, analysing, recommending per journey, capsule evidence, rationales, writing
//! `sli_minutes`) goes to stderr through [`super::progress`]: a bar on a terminal, a line every
//! few seconds otherwise.

use std::path::PathBuf;

use anyhow::Context;
use slo_advisor::analyze::{analyze_traces, traces_touching, AnalyzeConfig};
use slo_advisor::fallback::{apply as apply_fallback, needs_fallback, ErrorLogs, ErrorRule, FallbackReport};
use slo_advisor::history::SliKind;
use slo_advisor::journeys::{summarize, TraceSet};
use slo_advisor::promql::MetricConvention;
use slo_advisor::rationale::{rationale, LlmConfig, RationaleSource};
use slo_advisor::recommend::{
    attach_capsules, recommend_analysis_with_progress, JourneyRecommendations, RecommendConfig,
};
use slo_advisor::report::AnalysisReport;
use slo_advisor::spans::{from_events, from_store, read_path_with_logs, ErrorSource, Span};
use slo_advisor::store_traces::{spans_without_status, stored_spans, traces_from_store_with_fallback};
use slo_dataflow::synthetic::{generate, SyntheticConfig};
use slo_operators::redact::Redactor;
use slo_storage::Store;

use super::progress::Progress;

/// Output formats of `analyze`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum AnalyzeFormat {
    /// Aligned text tables.
    Table,
    /// One JSON document with everything (journeys, call graph, SLIs, PromQL, minute rows).
    Json,
}

/// Where spans come from (shared by `analyze` and `backtest`).
#[derive(clap::Args)]
pub(crate) struct SpanSourceArgs {
    /// Span input: a file or directory of JSON lines / OTLP/JSON, or Nezha span tables
    /// (`DIR/trace/*.csv`, `DIR/*/trace/*.csv` or a directory of such CSVs).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Store location (a directory or `s3://bucket/prefix`) whose `spans` table is analysed
    /// (`backtest`: whose `sli_minutes` are replayed, else its spans).
    /// With neither --input nor --store, a generated sample is analysed.
    #[arg(long)]
    pub store: Option<String>,
    /// Only traces that touch this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Error rule for spans that carry no span or HTTP status, e.g.
    /// `duration_ms > 5000 || operation ~= Error` (fields duration_ms, operation, service, route;
    /// ops > >= < <= == != ~= !~; `&&` binds tighter than `||`). Repeatable: any rule matching
    /// marks the span failed. Wins over error logs.
    #[arg(long = "error-rule", value_name = "RULE")]
    pub error_rule: Vec<String>,
    /// With --store: assemble traces with DataFusion SQL over the span files, whatever the
    /// store's size (see --sql-assembly-above). Traces reach the advisor rolled up (one row per
    /// trace shape, minute, error signal and 2 % latency bucket), and
    /// DataFusion assembles about --sql-spans-per-pass spans at a time (traces split into
    /// passes by a hash of the trace id), so memory follows the pass size, not the store
    /// (BENCHMARKS.md has memory and time against the in-memory assembly). Same results, the
    /// error-signal fallback for spans without a status included (done in the SQL).
    #[arg(long, conflicts_with = "memory_assembly")]
    pub sql_assembly: bool,
    /// With --store: read every span into memory and assemble traces there, whatever the
    /// store's size (faster while the spans fit in memory).
    #[arg(long)]
    pub memory_assembly: bool,
    /// With --store and neither --sql-assembly nor --memory-assembly: when the spans to analyse
    /// (those of the traces touching --service, when given) number more than this, traces are
    /// assembled with DataFusion.
    #[arg(long, value_name = "SPANS", default_value_t = 2_000_000)]
    pub sql_assembly_above: u64,
    /// With DataFusion assembly: about how many spans each pass assembles (at least 1,000;
    /// fewer: less memory, more passes over the files).
    #[arg(long, value_name = "N", default_value_t = slo_advisor::store_traces::DEFAULT_SPANS_PER_PASS as u64,
          value_parser = clap::value_parser!(u64).range(1_000..))]
    pub sql_spans_per_pass: u64,
    /// Do not fall back to error logs linked by trace id (from the input's log events, the
    /// store's `raw_events`, else its capsule samples) for spans without a status.
    #[arg(long)]
    pub no_error_logs: bool,
}

/// Traces as loaded by [`load_traces`].
pub(crate) struct LoadedTraces {
    /// The assembled traces, error signals decided.
    pub traces: TraceSet,
    /// Where they came from, in words.
    pub source: String,
    /// What the error-signal fallback did, when some spans carried no status.
    pub fallback: Option<FallbackReport>,
}

/// Arguments of `analyze`.
#[derive(clap::Args)]
pub(crate) struct AnalyzeArgs {
    #[command(flatten)]
    source: SpanSourceArgs,
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
    /// Have an OpenAI-compatible chat model write each journey's rationale from the redacted
    /// evidence (SLO_SCOUT_LLM_BASE_URL, SLO_SCOUT_LLM_MODEL, SLO_SCOUT_LLM_API_KEY,
    /// SLO_SCOUT_LLM_TIMEOUT_SECS); on any failure the statistical rationale is used and the
    /// reason shown.
    #[arg(long)]
    llm_rationale: bool,
}

/// A latency in ms with sensible digits.
pub(crate) fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn print_table(report: &AnalysisReport, source: &str) {
    let a = &report.analysis;
    println!("{source}: {} spans, {} traces, {} orphan spans", a.spans, a.traces, a.orphan_spans);
    if !a.generic_roots.is_empty() {
        println!("generic roots (journeys split by the operations under them): {}", a.generic_roots.join("; "));
    }
    println!();
    println!("JOURNEYS (most critical first)");
    println!(
        "{:>4}  {:<28} {:<36} {:>8} {:>7} {:>9} {:>9} {:>9} {:>7} {:>6}",
        "rank", "name", "entry", "requests", "error%", "p50 ms", "p95 ms", "p99 ms", "fan-out", "score"
    );
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
    println!(
        "{:<28} {:>8} {:>10} {:<17} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "journey", "requests", "avail %", "error src", "p50", "p90", "p95", "p99", "p99.9", "rps"
    );
    for s in &a.slis {
        let l = &s.latency;
        println!(
            "{:<28} {:>8} {:>10.3} {:<17} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.3}",
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
    if let Some(f) = &report.error_fallback {
        println!("error signal: {}", describe_fallback(f));
    }
    print_recommendations(&report.recommendations);
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

fn print_recommendations(recommendations: &[JourneyRecommendations]) {
    let Some(first) = recommendations.first() else { return };
    println!();
    println!(
        "RECOMMENDED SLOs (objective: 5th percentile of attainment over rolling {}-minute windows, rounded down; confidence = volume·stability·coverage)",
        first.window_minutes
    );
    println!(
        "{:<28} {:<18} {:>9} {:>9} {:>9} {:>10}  {:<16} {:>8}",
        "journey", "slo", "objective", "overall%", "worst%", "confidence", "vol/stab/cov", "breaches"
    );
    for r in recommendations {
        for v in &r.variants {
            let slo = match v.sli {
                SliKind::Availability => "availability".to_string(),
                SliKind::Latency { threshold_ms } => format!("latency<={}ms", ms(threshold_ms)),
            };
            let c = &v.confidence;
            println!(
                "{:<28} {:<18} {:>9} {:>9.3} {:>9.3} {:>10.2}  {:<16} {:>8}",
                truncate(&r.journey, 28),
                slo,
                format!("{}%", v.objective_percent),
                v.overall_attainment_percent,
                v.worst_window_percent,
                c.score,
                format!("{:.2}/{:.2}/{:.2}", c.volume, c.stability, c.coverage),
                v.evidence.breaches.len()
            );
            let mut ev = Vec::new();
            if let Some(b) = v.evidence.breaches.iter().max_by(|x, y| x.bad_events.total_cmp(&y.bad_events)) {
                ev.push(format!("worst breach {} ({:.2}%)", range(b.start_ms, b.end_ms), b.attainment_percent));
            }
            if let Some(t) = v.evidence.bad_trace_ids.first() {
                ev.push(format!("bad trace {t} (+{})", v.evidence.bad_trace_ids.len() - 1));
            }
            if let Some(c) = v.evidence.capsules.first() {
                ev.push(format!("top capsule {}: {:?} ({} errors)", c.service, truncate(&c.template, 50), c.errors));
            }
            if !ev.is_empty() {
                println!("    evidence: {}", ev.join("; "));
            }
        }
        // The statistical text repeats the table: shown only when an LLM was asked for.
        if let Some(why) =
            r.rationale.as_ref().filter(|w| w.source != RationaleSource::Statistical || w.fallback_reason.is_some())
        {
            let by = match &why.source {
                RationaleSource::Llm { model } => format!("written by {model} from redacted evidence"),
                RationaleSource::Statistical => match &why.fallback_reason {
                    Some(reason) => format!("statistical; LLM not used: {reason}"),
                    None => "statistical".to_string(),
                },
            };
            println!("    rationale ({by}): {}", why.text);
        }
    }
}

/// `HH:MM–HH:MM` (UTC) of a time range, with the date when it is not the same day.
pub(crate) fn range(start_ms: u64, end_ms: u64) -> String {
    let f = |t: u64, fmt: &str| {
        chrono::DateTime::from_timestamp_millis(t as i64).map(|d| d.format(fmt).to_string()).unwrap_or_default()
    };
    let same_day = f(start_ms, "%F") == f(end_ms, "%F");
    format!("{} – {}", f(start_ms, "%F %H:%M"), if same_day { f(end_ms, "%H:%M") } else { f(end_ms, "%F %H:%M") })
}

/// `s` cut to `n` characters (with an ellipsis).
pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Traces from `--input` (files), else from the store's `spans` table, else from a generated
/// sample of `requests` requests, optionally only traces touching `--service`; with a
/// description of the source. Spans without a status are decided by `--error-rule`, else by the
/// error logs of the same source (unless `--no-error-logs`). No spans is an error.
///
/// With `--sql-assembly`, or without `--memory-assembly` when the store holds more than
/// `--sql-assembly-above` spans, a store is assembled by DataFusion in passes and rolled up in
/// SQL, the error-signal fallback decided there too ([`traces_from_store_with_fallback`]);
/// otherwise the spans are read whole.
///
/// Notes on stderr go through `progress` (so they do not tear its bar); it is not advanced.
pub(crate) fn load_traces(
    args: &SpanSourceArgs,
    store: Option<&Store>,
    requests: usize,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> anyhow::Result<LoadedTraces> {
    let sql = match (args.input.as_deref(), store) {
        (None, Some(store)) if !args.memory_assembly => {
            args.sql_assembly
                || {
                    let stored = rt.block_on(stored_spans(store, args.service.as_deref()))?;
                    let big = stored > args.sql_assembly_above;
                    if big {
                        progress.note(&format!(
                        "{stored} spans to analyse (more than --sql-assembly-above {}): trace assembly by DataFusion, about {} spans a pass",
                        args.sql_assembly_above, args.sql_spans_per_pass
                    ));
                    }
                    big
                }
        }
        _ => false,
    };
    if let (None, Some(store), true) = (args.input.as_deref(), store, sql) {
        let rule = error_rule(args)?;
        // the error logs are read only when spans without a status need them
        let logs = if rule.is_none()
            && !args.no_error_logs
            && rt.block_on(spans_without_status(store, args.service.as_deref()))? > 0
        {
            Some(rt.block_on(ErrorLogs::from_store(store))?)
        } else {
            None
        };
        let per_pass = usize::try_from(args.sql_spans_per_pass).unwrap_or(usize::MAX);
        let (traces, fallback) = rt.block_on(traces_from_store_with_fallback(
            store,
            args.service.as_deref(),
            per_pass,
            rule.as_ref(),
            logs.as_ref(),
        ))?;
        let source = format!("store {}", store.base_url());
        if traces.spans == 0 {
            anyhow::bail!("no spans found in {source}");
        }
        if let Some(f) = &fallback {
            progress.note(&describe_fallback(f));
        }
        return Ok(LoadedTraces { traces, source, fallback });
    }
    let (spans, source, fallback) = load_spans(args, store, requests, rt, progress)?;
    Ok(LoadedTraces { traces: summarize(&spans), source, fallback })
}

/// The `--error-rule`s as one rule (alternatives), if any.
fn error_rule(args: &SpanSourceArgs) -> anyhow::Result<Option<ErrorRule>> {
    Ok(match args.error_rule.as_slice() {
        [] => None,
        rules => Some(rules.join(" || ").parse().context("--error-rule")?),
    })
}

/// Spans, read whole: what [`load_traces`] does for files, the generated sample, and a store
/// assembled in memory.
fn load_spans(
    args: &SpanSourceArgs,
    store: Option<&Store>,
    requests: usize,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> anyhow::Result<(Vec<Span>, String, Option<FallbackReport>)> {
    let rule = error_rule(args)?;
    let service = args.service.as_deref();
    let only_service = |spans: Vec<Span>| match service {
        Some(s) => traces_touching(spans, s),
        None => spans,
    };
    let (mut spans, logs, source): (Vec<Span>, Option<ErrorLogs>, String) = match (args.input.as_deref(), store) {
        (Some(path), _) => {
            let (spans, logs, report) =
                read_path_with_logs(path).with_context(|| format!("reading spans from {}", path.display()))?;
            if report.skipped > 0 {
                progress.note(&format!("skipped {} malformed records in {} files", report.skipped, report.files));
            }
            (only_service(spans), Some(logs), path.display().to_string())
        }
        (None, Some(store)) => {
            let spans = rt.block_on(from_store(store, service))?;
            let logs = if needs_fallback(&spans) && rule.is_none() && !args.no_error_logs {
                Some(rt.block_on(ErrorLogs::from_store(store))?)
            } else {
                None
            };
            (spans, logs, format!("store {}", store.base_url()))
        }
        (None, None) => {
            let (events, _) = generate(&SyntheticConfig { requests, ..Default::default() });
            let logs = ErrorLogs::from_events(&events);
            (only_service(from_events(&events)), Some(logs), format!("generated sample ({requests} requests)"))
        }
    };
    if spans.is_empty() {
        anyhow::bail!("no spans found in {source}");
    }
    let logs = logs.filter(|_| !args.no_error_logs);
    let fallback = needs_fallback(&spans).then(|| apply_fallback(&mut spans, rule.as_ref(), logs.as_ref()));
    if let Some(f) = &fallback {
        progress.note(&describe_fallback(f));
    }
    Ok((spans, source, fallback))
}

/// One line on what the error-signal fallback did.
pub(crate) fn describe_fallback(f: &FallbackReport) -> String {
    match f.source {
        ErrorSource::Rule => format!(
            "{} spans carry no status: error rule {:?} marked {} of them failed",
            f.spans_without_status,
            f.rule.as_deref().unwrap_or_default(),
            f.failed
        ),
        ErrorSource::LogTraceIds | ErrorSource::CapsuleTraceIds => format!(
            "{} spans carry no status: decided by error logs linked by trace id ({}; {} linked logs, {} traces with an error log), {} spans marked failed{}",
            f.spans_without_status,
            f.source.as_str(),
            f.linked_logs,
            f.failed_traces,
            f.failed,
            if f.source == ErrorSource::CapsuleTraceIds { " — capsule samples only: a lower bound" } else { "" }
        ),
        _ => format!(
            "{} spans carry no status and no error logs link to them (give --error-rule): their availability says nothing",
            f.spans_without_status
        ),
    }
}

/// Runs `analyze`.
pub(crate) fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    let mut convention = MetricConvention::by_name(&args.convention)
        .with_context(|| format!("unknown metric convention {:?} (use otel-http or spanmetrics)", args.convention))?;
    convention.window = args.window.clone();
    let cfg = AnalyzeConfig { convention, ..Default::default() };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // Reading needs a store that exists; `--write-sli` may start one.
    let open = if args.write_sli { Store::open } else { Store::open_existing };
    let store = args.source.store.as_deref().map(open).transpose()?;
    let progress = Progress::new("analyze", None);
    progress.stage("loading spans", None);
    let LoadedTraces { traces, source, fallback } =
        load_traces(&args.source, store.as_ref(), args.requests, &rt, &progress)?;
    progress.stage("analysing traces", None);
    let analysis = analyze_traces(&traces, &cfg);
    drop(traces);
    let rec_cfg = RecommendConfig::default();
    let journeys = analysis.journeys.len() as u64;
    progress.stage("recommending SLOs", Some(journeys));
    let mut recommendations = recommend_analysis_with_progress(&analysis, &rec_cfg, |_| progress.inc(1));
    if let Some(store) = &store {
        progress.stage("capsule evidence", Some(journeys));
        for rec in recommendations.iter_mut() {
            rt.block_on(attach_capsules(std::slice::from_mut(rec), store, &rec_cfg))?;
            progress.inc(1);
        }
    }
    let llm = args.llm_rationale.then(LlmConfig::from_env);
    progress.stage(if llm.is_some() { "rationales (LLM)" } else { "rationales" }, Some(journeys));
    let redactor = Redactor::with_defaults();
    for rec in recommendations.iter_mut() {
        progress.set_message(format!("rationale of {}", truncate(&rec.journey, 40)));
        rec.rationale = Some(rationale(llm.as_ref(), rec, &redactor));
        progress.inc(1);
    }
    if args.write_sli {
        let store = store.as_ref().context("--write-sli needs --store")?;
        progress.stage(format!("writing {} sli_minutes rows", analysis.minutes.len()), None);
        let files = rt.block_on(slo_advisor::sli::write_to_store(store, &analysis.minutes))?;
        progress.note(&format!("wrote {} sli_minutes rows in {files} files", analysis.minutes.len()));
    }
    progress.finish();
    let report = AnalysisReport { analysis, recommendations, error_fallback: fallback };
    match args.format {
        AnalyzeFormat::Table => print_table(&report, &source),
        AnalyzeFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(())
}
