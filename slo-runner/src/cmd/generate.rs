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
    /// Also run `promtool check rules` on the output (needs -o).
    #[arg(long)]
    check: bool,
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
    let mut written = Vec::new();
    if args.input.is_dir() {
        let Some(out) = &args.out else { bail!("a directory input needs -o DIR") };
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        for file in yaml_files(&args.input)? {
            let target = out.join(file.file_name().expect("a file"));
            std::fs::write(&target, generate_file(&file, &opts)?)?;
            written.push(target);
        }
    } else {
        let text = generate_file(&args.input, &opts)?;
        match &args.out {
            Some(out) => {
                if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
                written.push(out.clone());
            }
            None => print!("{text}"),
        }
    }
    if args.check {
        if written.is_empty() {
            bail!("--check needs -o");
        }
        for file in &written {
            super::validate::check_rule_file(file)?;
            eprintln!("promtool: {} OK", file.display());
        }
    }
    Ok(())
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
    /// SLO spec file (any supported format) or `-` for stdin.
    #[arg(short = 'i', long = "input")]
    input: PathBuf,
    /// Format to write.
    #[arg(long, value_enum)]
    to: SpecFormat,
    /// Output file; stdout when omitted.
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// SLO period of specs that do not set one.
    #[arg(long, default_value = "30d")]
    default_slo_period: String,
}

/// Runs `convert`.
pub(crate) fn convert(args: ConvertArgs) -> anyhow::Result<()> {
    let period: PromDuration =
        args.default_slo_period.parse().map_err(|e: String| anyhow::anyhow!("--default-slo-period: {e}"))?;
    let levels = read_specs(&args.input, period)?;
    let mut text = String::new();
    for level in &levels {
        match args.to {
            SpecFormat::Sloth => {
                text.push_str("---\n");
                text.push_str(&slo::to_sloth_v1(level));
            }
            SpecFormat::Openslo => text.push_str(&slo::to_openslo_v1(level, period)),
        }
    }
    match args.out {
        Some(out) => std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
