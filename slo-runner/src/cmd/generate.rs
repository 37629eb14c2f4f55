//! `slo-runner generate`: a drop-in for `sloth generate` — Prometheus rules from Sloth
//! `prometheus/v1`, Kubernetes `PrometheusServiceLevel` (→ `PrometheusRule`) and OpenSLO specs,
//! with the same options. Also `slo-runner convert` between spec formats.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use slo_artifacts::{self as slo, GenerateOptions, PromDuration, ReadOptions, ServiceLevel, WindowCatalog};

/// Arguments of `generate`.
#[derive(clap::Args)]
pub(crate) struct GenerateArgs {
    /// SLO spec file (multi-document YAML allowed), a directory of them, or `-` for stdin.
    #[arg(short = 'i', long = "input")]
    input: PathBuf,
    /// Output file (or directory when the input is one); stdout when omitted.
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// Extra labels added to every SLO, `key=value` (repeatable).
    #[arg(short = 'l', long = "extra-labels", value_parser = parse_label)]
    extra_labels: Vec<(String, String)>,
    /// SLO period of specs that do not set one.
    #[arg(long, default_value = "30d")]
    default_slo_period: String,
    /// Directory of Sloth `AlertWindows` files adding (or replacing) alert windows per period.
    #[arg(long)]
    slo_period_windows_path: Option<PathBuf>,
    /// Do not generate recording rules.
    #[arg(long)]
    disable_recordings: bool,
    /// Do not generate alerts.
    #[arg(long)]
    disable_alerts: bool,
    /// Weight the period SLI by request volume (errors over requests across the period) instead
    /// of averaging 5-minute ratios. Needs events or latency SLIs.
    #[arg(long)]
    weighted_period_sli: bool,
    /// Run `promtool check rules` on the output. Without -o the rules are checked in a
    /// temporary directory and only the check report is printed (on stdout), not the rules.
    #[arg(long)]
    check: bool,
    /// Keep spec labels named `slo_scout_*` (`slo_scout_journey`, `slo_scout_latency_ms`: read
    /// only by `slo-runner backtest`) on the generated series; by default they are left out.
    #[arg(long)]
    keep_internal_labels: bool,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?} is not key=value"))?;
    Ok((k.trim().to_owned(), v.trim().to_owned()))
}

/// Reads a spec input (`-` is stdin).
pub(crate) fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Parses one spec file, naming the file in errors.
pub(crate) fn read_specs(path: &Path, default_period: PromDuration) -> anyhow::Result<Vec<ServiceLevel>> {
    let text = read_input(path)?;
    slo::parse_documents(&text, &ReadOptions { default_period }).map_err(|e| anyhow::anyhow!(e.in_file(path)))
}

fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    Ok(files)
}

/// Generation options from the flags.
fn options(args: &GenerateArgs) -> anyhow::Result<GenerateOptions> {
    let default_period: PromDuration =
        args.default_slo_period.parse().map_err(|e: String| anyhow::anyhow!("--default-slo-period: {e}"))?;
    let windows = match &args.slo_period_windows_path {
        Some(dir) => WindowCatalog::with_dir(dir)?,
        None => WindowCatalog::default(),
    };
    Ok(GenerateOptions {
        extra_labels: args.extra_labels.iter().cloned().collect::<BTreeMap<_, _>>(),
        default_period,
        windows,
        disable_recordings: args.disable_recordings,
        disable_alerts: args.disable_alerts,
        weighted_period_sli: args.weighted_period_sli,
        keep_internal_labels: args.keep_internal_labels,
        ..Default::default()
    })
}

fn generate_file(input: &Path, opts: &GenerateOptions) -> anyhow::Result<String> {
    let levels = read_specs(input, opts.default_period)?;
    let docs = levels
        .iter()
        .map(|l| Ok((slo::generate(l, opts).map_err(|e| e.in_file(input))?, l.source.clone())))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(slo::render_documents(&docs))
}

/// Runs `generate`.
pub(crate) fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let opts = options(&args)?;
    // `--check` without -o: write into a temporary directory, print only the check report.
    let scratch = match (&args.out, args.check) {
        (None, true) => Some(tempfile::tempdir().context("creating a temporary directory for --check")?),
        _ => None,
    };
    // (file written, name to report it by)
    let mut written: Vec<(PathBuf, PathBuf)> = Vec::new();
    if args.input.is_dir() {
        let out = match (&args.out, &scratch) {
            (Some(out), _) => out.clone(),
            (None, Some(tmp)) => tmp.path().to_owned(),
            (None, None) => bail!("a directory input needs -o DIR (or --check)"),
        };
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        for file in yaml_files(&args.input)? {
            let Some(name) = file.file_name() else { continue };
            let target = out.join(name);
            std::fs::write(&target, generate_file(&file, &opts)?)
                .with_context(|| format!("writing {}", target.display()))?;
            let shown = if scratch.is_some() { file.clone() } else { target.clone() };
            written.push((target, shown));
        }
    } else {
        let text = generate_file(&args.input, &opts)?;
        match (&args.out, &scratch) {
            (Some(out), _) => {
                if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
                written.push((out.clone(), out.clone()));
            }
            (None, Some(tmp)) => {
                let target = tmp.path().join(scratch_name(&args.input));
                std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
                let shown = if args.input == Path::new("-") { PathBuf::from("<stdin>") } else { args.input.clone() };
                written.push((target, shown));
            }
            (None, None) => print!("{text}"),
        }
    }
    if args.check {
        for (file, shown) in &written {
            let report = super::validate::check_rule_file(file).map_err(|e| {
                // Name what the user gave, not the temporary file.
                anyhow::anyhow!("{}", e.to_string().replace(&file.display().to_string(), &shown.display().to_string()))
            })?;
            let line = format!("promtool: {} OK ({})", shown.display(), report.trim().replace('\n', " "));
            if scratch.is_some() {
                println!("{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    Ok(())
}

/// File name for the rules of `input` checked in a temporary directory (`-` is stdin).
fn scratch_name(input: &Path) -> PathBuf {
    match input.file_name() {
        Some(name) if input != Path::new("-") => PathBuf::from(name),
        _ => PathBuf::from("stdin.yaml"),
    }
}

/// Spec formats `convert` writes.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum SpecFormat {
    /// Sloth `prometheus/v1`.
    Sloth,
    /// OpenSLO v1 `SLO` documents.
    Openslo,
}

/// Arguments of `convert`.
#[derive(clap::Args)]
pub(crate) struct ConvertArgs {
    /// SLO spec file (any supported format), a directory of them, or `-` for stdin.
    #[arg(short = 'i', long = "input")]
    input: PathBuf,
    /// Format to write.
    #[arg(long, value_enum)]
    to: SpecFormat,
    /// Output file (or directory when the input is one); stdout when omitted.
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// SLO period of specs that do not set one.
    #[arg(long, default_value = "30d")]
    default_slo_period: String,
}

/// Converts one spec input into `to`: the text, and one warning line per field `to` cannot hold.
fn convert_file(input: &Path, to: SpecFormat, period: PromDuration) -> anyhow::Result<(String, Vec<String>)> {
    let format = match to {
        SpecFormat::Sloth => slo::spec::SpecFormat::SlothV1,
        SpecFormat::Openslo => slo::spec::SpecFormat::OpenSloV1,
    };
    // OpenSLO holds one SLO per document: put a service's SLOs back together.
    let levels = slo::spec::merge_services(read_specs(input, period)?);
    let mut text = String::new();
    let mut warnings = Vec::new();
    for level in &levels {
        let written = slo::spec::write(level, format, period);
        text.push_str(&written.text);
        warnings.extend(
            written.dropped.iter().map(|d| format!("warning: {}: not in the {format} output: {d}", input.display())),
        );
    }
    Ok((text, warnings))
}

/// Runs `convert`. Fields the target format cannot hold are named on stderr, one line each
/// (service, SLO, field, why); the conversion still succeeds.
pub(crate) fn convert(args: ConvertArgs) -> anyhow::Result<()> {
    let period: PromDuration =
        args.default_slo_period.parse().map_err(|e: String| anyhow::anyhow!("--default-slo-period: {e}"))?;
    let mut outputs = Vec::new();
    if args.input.is_dir() {
        let Some(out) = &args.out else { bail!("a directory input needs -o DIR") };
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        for file in yaml_files(&args.input)? {
            let Some(name) = file.file_name() else { continue };
            outputs.push((Some(out.join(name)), convert_file(&file, args.to, period)?));
        }
    } else {
        outputs.push((args.out.clone(), convert_file(&args.input, args.to, period)?));
    }
    for (target, (text, warnings)) in outputs {
        for w in &warnings {
            eprintln!("{w}");
        }
        match target {
            Some(out) => {
                if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?
            }
            None => print!("{text}"),
        }
    }
    Ok(())
}
