//! `slo-runner`: the slo-scout command line. Thin by design: every command parses its flags and
//! calls into the libraries.

mod cmd;

use clap::{Parser, Subcommand};

/// Turns raw production telemetry into service-level objectives.
#[derive(Parser)]
#[command(name = "slo-runner", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the capsule pipeline over files (or the bundled sample telemetry); here `-h` is the
    /// timely host file, `--help` prints help.
    Run(cmd::run::RunArgs),
    /// Mine log templates from a file and write `LineId,EventTemplate` predictions.
    Mine(cmd::mine::MineArgs),
    /// Redact PII and secrets from stdin lines; one JSON object per line on stdout:
    /// `{"text": redacted line, "findings": [{"type", "start", "end"}]}`, offsets in bytes of the
    /// input line (invalid UTF-8 is replaced by U+FFFD in `text`; offsets still count input bytes).
    Redact(cmd::redact::RedactArgs),
    /// Write synthetic telemetry with known ground truth.
    Sample(cmd::sample::SampleArgs),
    /// Prometheus rules from SLO specs: a drop-in for `sloth generate` (Sloth prometheus/v1,
    /// Kubernetes PrometheusServiceLevel, OpenSLO v1alpha/v1).
    Generate(cmd::generate::GenerateArgs),
    /// Convert SLO specs between Sloth prometheus/v1 and OpenSLO v1.
    Convert(cmd::generate::ConvertArgs),
    /// Validate SLO artifacts: specs, rule files (promtool check rules), promtool unit tests
    /// (promtool test rules), Grafana dashboards.
    Validate(cmd::validate::ValidateArgs),
    /// Artifacts from SLO specs: Prometheus rules, Grafana dashboards and runbooks (with
    /// evidence from a store).
    Artifacts(cmd::artifacts::ArtifactsArgs),
    /// Publish artifacts: policy guard against the base branch, audit log, new branch pushed,
    /// optionally a GitHub pull request or GitLab merge request.
    Publish(cmd::publish::PublishArgs),
    /// Read-only SQL over the store (tables capsules, spans, sli_minutes, metric_points,
    /// raw_events; vector search with nearest_capsules('text', k)).
    Query(cmd::query::QueryArgs),
    /// User journeys, the service call graph and per-journey SLIs with PromQL, from span files,
    /// the store or the generated sample.
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Replay SLOs over a journey's history: error budget, breach windows, burn-rate alerts,
    /// the chance to meet the SLO next period, optionally under a what-if scenario.
    Backtest(cmd::backtest::BacktestArgs),
    /// Merge small files of the append tables, dropping duplicate rows.
    Compact(cmd::maintain::CompactArgs),
    /// Delete partitions past their retention (and their vectors).
    Retention(cmd::maintain::RetentionArgs),
    /// Replay files into a Kafka topic as Avro `TelemetryEvent`s keyed by service.
    Produce(cmd::kafka_produce::ProduceArgs),
    /// Kafka topic administration (`--create` makes the runner's topics).
    KafkaTopics(cmd::kafka::TopicsArgs),
}

fn main() {
    use std::io::IsTerminal;
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLO_SCOUT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    install_panic_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Mine(args) => cmd::mine::run(args),
        Command::Redact(args) => cmd::redact::run(args),
        Command::Sample(args) => cmd::sample::run(args),
        Command::Generate(args) => cmd::generate::run(args),
        Command::Convert(args) => cmd::generate::convert(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Artifacts(args) => cmd::artifacts::run(args),
        Command::Publish(args) => cmd::publish::run(args),
        Command::Query(args) => cmd::query::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Backtest(args) => cmd::backtest::run(args),
        Command::Compact(args) => cmd::maintain::compact(args),
        Command::Retention(args) => cmd::maintain::retention(args),
        Command::Produce(args) => cmd::kafka_produce::run(args),
        Command::KafkaTopics(args) => cmd::kafka::topics(args),
    };
    if let Err(e) = result {
        eprintln!("error: {}", error_line(&e));
        std::process::exit(1);
    }
}

/// A panic is a bug, but its message may quote input (a value in an `expect`, a slice of a
/// line): the message goes through the PII/secret redactor before it reaches stderr, with the
/// location kept for the bug report.
fn install_panic_hook() {
    let redactor = slo_operators::redact::Redactor::new(Default::default()).ok();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        // Long payloads are cut: a slice of input is never needed whole to find a bug.
        let cut: String = payload.chars().take(300).collect();
        let message = match &redactor {
            Some(r) => r.redact(&cut).text,
            None => "(message withheld)".to_owned(),
        };
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        // A cluster peer that died (kill -9, crash, host lost) breaks timely's connections to
        // it; every process of the cluster then stops. That is an operating event, not a bug.
        if payload.contains("timely communication error") || payload.contains("MergeQueue poisoned") {
            eprintln!(
                "cluster: the connection to a peer process was lost ({message}); this process stops too. \
                 Restart every process of the cluster with the same -n/-w/-h layout: it resumes from the store's checkpoints"
            );
            return;
        }
        eprintln!("internal error (a bug; please report it) at {location}: {message}");
    }));
}

/// The error and its causes on one line, like `{:#}`, except that a cause the line already ends
/// with is not repeated (library errors often end their message with their source's).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.ends_with(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}
