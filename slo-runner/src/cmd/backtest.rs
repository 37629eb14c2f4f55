//! `slo-runner backtest`: replay the SLOs of a Sloth `prometheus/v1` (or Kubernetes / OpenSLO)
//! spec over a journey's per-minute history — budget over time, breach windows, the burn-rate
//! alerts that would have fired, the chance to meet the SLO next period — optionally under a
//! what-if scenario.
//!
//! Each SLO names its journey with the label `slo_scout_journey` and, for a latency SLO, its
//! threshold with `slo_scout_latency_ms`. History comes from the store's `sli_minutes` table
//! (with `--store` and no `--input`, when it has rows), else from spans as `analyze` reads them
//! (`--input`, the store's `spans`, or the generated sample).
//!
//! A history shorter than a week makes the per-week alert rates extrapolations: they are marked
//! low-confidence in the table, the JSON (`alert_summary.low_confidence`, `history_minutes`) and
//! `--frequencies-out` (which the policy guard then does not reject on), and a warning goes to
//! stderr, as it does for a history shorter than the SLO period. Progress goes to stderr
//! ([`super::progress`]).

use std::path::PathBuf;

use anyhow::Context;
use slo_advisor::analyze::{analyze_traces, AnalyzeConfig};
use slo_advisor::backtest::{backtest, history_for, BacktestConfig, BacktestReport, SloTarget};
use slo_advisor::history::JourneyHistory;
use slo_advisor::whatif::WhatIf;
use slo_artifacts::policy::{minutes_words, ExpectedFrequency};
use slo_artifacts::spec::ReadOptions;
use slo_artifacts::{parse_documents, PromDuration, WindowCatalog};
use slo_storage::Store;

use super::analyze::{load_traces, range, AnalyzeFormat, SpanSourceArgs};
use super::progress::Progress;

/// Arguments of `backtest`.
#[derive(clap::Args)]
pub(crate) struct BacktestArgs {
    /// SLO spec file (Sloth `prometheus/v1`, `sloth.slok.dev/v1` or OpenSLO); every SLO is
    /// replayed. SLOs name their journey with the label `slo_scout_journey`. (`--input` is the
    /// history's span files here, so the spec has no `-i`.)
    #[arg(long)]
    slo: PathBuf,
    #[command(flatten)]
    source: SpanSourceArgs,
    /// What-if scenario, e.g. `traffic=2,errors=1.5,latency+=20ms,replicas=3->2,workers=4`.
    #[arg(long = "what-if")]
    what_if: Option<String>,
    /// SLO period when the spec sets none.
    #[arg(long, default_value = "30d")]
    period: String,
    /// Directory of Sloth `AlertWindows` files for periods other than 30d/28d.
    #[arg(long)]
    windows_dir: Option<PathBuf>,
    /// Rolling window of breach detection.
    #[arg(long, default_value = "1h")]
    breach_window: String,
    /// Requests of the generated sample (when neither --input nor --store is given).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    format: AnalyzeFormat,
    /// Also write the expected pages and tickets per week of every SLO as JSON, the input of
    /// `slo-runner publish --frequencies` (the policy guard's alert budget), with the minutes of
    /// history behind them and `low_confidence: true` when that is less than a week.
    #[arg(long)]
    frequencies_out: Option<PathBuf>,
}

fn print_report(r: &BacktestReport) {
    let s = &r.slo;
    println!(
        "BACKTEST {}: journey {:?}, {}, objective {} %, period {}, what-if {}",
        s.name,
        s.journey,
        s.sli.label(),
        s.objective_percent,
        s.period,
        r.what_if
    );
    println!(
        "  history {} ({} minutes), {:.0} requests, {:.1} bad",
        range(r.from_ms, r.to_ms),
        r.minutes,
        r.requests,
        r.bad_events
    );
    let budget = r
        .budget_consumed
        .map_or("no budget at 100 %".to_string(), |c| format!("{:.1} % of the error budget consumed", 100.0 * c));
    println!("  attainment {:.4} % -> {}; {budget}", r.attainment_percent, if r.met { "MET" } else { "NOT MET" });
    let a = &r.alert_summary;
    let caveat = if a.low_confidence {
        format!(
            " [low confidence: extrapolated from {} of history, less than a week]",
            minutes_words(a.history_minutes as u64)
        )
    } else {
        String::new()
    };
    println!(
        "  alerts: {} pages ({:.2}/week, {} minutes firing), {} tickets ({:.2}/week, {} minutes firing){caveat}",
        a.pages, a.pages_per_week, a.page_minutes, a.tickets, a.tickets_per_week, a.ticket_minutes
    );
    for al in r.alerts.iter().take(10) {
        let burn = al.peak_burn_rate.map_or("-".to_string(), |b| format!("{b:.1}"));
        println!(
            "    {:<6} {}  windows {} factor {} peak burn {burn}",
            al.severity,
            range(al.start_ms, al.end_ms),
            al.windows,
            al.factor
        );
    }
    if r.alerts.len() > 10 {
        println!("    ... {} more", r.alerts.len() - 10);
    }
    println!("  breach windows: {}", r.breaches.len());
    for b in r.breaches.iter().take(10) {
        println!(
            "    {}  attainment {:.3} %, {:.1} bad",
            range(b.start_ms, b.end_ms),
            b.attainment_percent,
            b.bad_events
        );
    }
    let step = r.budget.len().div_ceil(8).max(1);
    let points: Vec<String> = r
        .budget
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == step - 1 || *i + 1 == r.budget.len())
        .map(|(_, p)| {
            let t = chrono::DateTime::from_timestamp_millis(p.t_ms as i64)
                .map(|d| d.format("%m-%d %H:%M").to_string())
                .unwrap_or_default();
            match p.consumed {
                Some(c) => format!("{t} {:.0}%", 100.0 * c),
                None => format!("{t} {:.3}% att", p.attainment_percent),
            }
        })
        .collect();
    println!("  budget consumed over time (rolling period): {}", points.join(", "));
    match &r.bootstrap {
        Some(b) => println!(
            "  chance to meet the SLO next period: {:.1} % (90 % interval {:.1} – {:.1} %); simulated attainment p5/p50/p95 {:.3}/{:.3}/{:.3} % ({} blocks of {} min, {} per period, {} periods)",
            100.0 * b.probability,
            100.0 * b.low,
            100.0 * b.high,
            b.attainment_percentiles[0],
            b.attainment_percentiles[1],
            b.attainment_percentiles[2],
            b.blocks,
            b.block_minutes,
            b.blocks_per_period,
            b.resamples
        ),
        None => println!("  chance to meet the SLO next period: not estimated (fewer than two blocks of history)"),
    }
}

/// Runs `backtest`.
pub(crate) fn run(args: BacktestArgs) -> anyhow::Result<()> {
    let default_period: PromDuration = args.period.parse().map_err(|e: String| anyhow::anyhow!("--period: {e}"))?;
    let breach: PromDuration =
        args.breach_window.parse().map_err(|e: String| anyhow::anyhow!("--breach-window: {e}"))?;
    let what_if: WhatIf = match &args.what_if {
        Some(w) => w.parse().map_err(|e: String| anyhow::anyhow!("--what-if: {e}"))?,
        None => WhatIf::default(),
    };
    let text = std::fs::read_to_string(&args.slo).with_context(|| format!("reading {}", args.slo.display()))?;
    let levels = parse_documents(&text, &ReadOptions { default_period }).map_err(|e| e.in_file(&args.slo))?;
    let mut targets = Vec::new();
    // (service, SLO name) of each target, as the generated rules label them.
    let mut keys = Vec::new();
    for l in &levels {
        for slo in &l.slos {
            targets.push(SloTarget::from_spec(&l.service, &l.labels, slo, default_period)?);
            keys.push((l.service.clone(), slo.name.clone()));
        }
    }
    let catalog = match &args.windows_dir {
        Some(d) => WindowCatalog::with_dir(d)?,
        None => WindowCatalog::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let src = &args.source;
    let store = src.store.as_deref().map(Store::open_existing).transpose()?;
    let progress = Progress::new("backtest", None);
    let mut histories: Vec<JourneyHistory> = Vec::new();
    if let (Some(store), None) = (&store, &src.input) {
        progress.stage("reading sli_minutes", None);
        let rows = rt.block_on(slo_advisor::sli::read_from_store(store))?;
        tracing::info!(rows = rows.len(), "sli_minutes rows");
        histories = JourneyHistory::from_minutes(&rows);
        if !histories.is_empty() && !src.error_rule.is_empty() {
            progress.note("note: history comes from the store's sli_minutes (errors decided when they were written); --error-rule applies to spans only (give --input)");
        }
    }
    if histories.is_empty() {
        progress.stage("loading spans", None);
        let loaded = load_traces(src, store.as_ref(), args.requests, &rt, &progress)?;
        let traces: u64 = loaded.traces.traces.iter().map(|t| t.requests).sum();
        tracing::info!(spans = loaded.traces.spans, traces, rows = loaded.traces.traces.len(), source = %loaded.source, "history from spans");
        progress.stage("analysing traces", None);
        histories = JourneyHistory::from_analysis(&analyze_traces(&loaded.traces, &AnalyzeConfig::default()));
    }
    let cfg = BacktestConfig { breach_window_minutes: (breach.seconds() / 60).max(1) as usize, ..Default::default() };
    let mut reports = Vec::new();
    progress.stage("replaying SLOs", Some(targets.len() as u64));
    for t in &targets {
        progress.set_message(format!("replaying {}", t.name));
        let h = history_for(&histories, t)?;
        let windows = catalog.get(t.period).map_err(|e| anyhow::anyhow!("SLO {}: {e}", t.name))?;
        reports.push(backtest(h, t, windows, &what_if, &cfg));
        progress.inc(1);
    }
    progress.finish();
    for r in &reports {
        for w in &r.warnings {
            eprintln!("warning: SLO {}: {w}", r.slo.name);
        }
    }
    match args.format {
        AnalyzeFormat::Table => {
            for (i, r) in reports.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                print_report(r);
            }
        }
        AnalyzeFormat::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
    }
    if let Some(path) = &args.frequencies_out {
        let frequencies: Vec<ExpectedFrequency> =
            keys.iter().zip(&reports).map(|((service, slo), r)| r.expected_frequency(service, slo)).collect();
        std::fs::write(path, serde_json::to_string_pretty(&frequencies)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
