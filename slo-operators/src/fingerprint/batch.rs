//! Batch mining of a whole log file into Loghub-style predictions (`LineId,EventTemplate`).
//!
//! This is the standard way Drain-like parsers are benchmarked: every line is mined in input
//! order, then each line is labelled with the *final* template of its cluster.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use slo_dataflow::source::log_format::LogFormat;

use super::{ClusterId, MinerConfig, TemplateMiner};

/// Errors of [`mine_file`].
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Reading the input or writing the predictions failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// What [`mine_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MineSummary {
    /// Lines read (and written).
    pub lines: u64,
    /// Lines that did not match the header format (their whole text was mined).
    pub unmatched_header: u64,
    /// Clusters held at the end.
    pub templates: usize,
    /// Clusters evicted while mining.
    pub evictions: u64,
    /// Time spent mining (header splitting included, I/O of the output excluded).
    pub elapsed: Duration,
}

/// Writes one CSV field, quoting it when needed (RFC 4180).
pub fn write_csv_field<W: Write>(w: &mut W, field: &str) -> std::io::Result<()> {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ') {
        w.write_all(b"\"")?;
        w.write_all(field.replace('"', "\"\"").as_bytes())?;
        w.write_all(b"\"")
    } else {
        w.write_all(field.as_bytes())
    }
}

/// The content to mine for one raw line: the `Content` field when `format` matches, otherwise
/// the whole (trimmed) line. The flag tells whether the header matched.
pub fn content_of<'l>(line: &'l str, format: Option<&LogFormat>) -> (&'l str, bool) {
    match format {
        None => (line.trim(), true),
        Some(f) => match f.content(line) {
            Some(c) => (c, true),
            None => (line.trim(), false),
        },
    }
}

/// Mines `input` line by line and writes `LineId,EventTemplate` rows (LineId from 1, input
/// order) to `out`, each line labelled with the final template of its cluster.
pub fn mine_file(
    input: &Path,
    format: Option<&LogFormat>,
    out: &Path,
    cfg: &MinerConfig,
) -> Result<MineSummary, BatchError> {
    let io_err = |p: &Path| {
        let path = p.display().to_string();
        move |source| BatchError::Io { path, source }
    };
    let file = std::fs::File::open(input).map_err(io_err(input))?;
    let mut reader = BufReader::new(file);
    let mut miner = TemplateMiner::new(cfg.clone());
    let mut assigned: Vec<ClusterId> = Vec::new();
    // template of clusters at the time they were last seen, kept only for evicted clusters
    let mut last_template: HashMap<ClusterId, String> = HashMap::new();
    let mut unmatched = 0u64;
    let mut raw = Vec::new();
    let start = Instant::now();
    loop {
        raw.clear();
        let n = reader.read_until(b'\n', &mut raw).map_err(io_err(input))?;
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&raw);
        let line = line.trim_end_matches(['\n', '\r']);
        let (content, matched) = content_of(line, format);
        unmatched += u64::from(!matched);
        let before = miner.evictions();
        let r = miner.mine(content);
        if miner.evictions() != before || r.is_new {
            // keep a fallback label for clusters that may be evicted later
            last_template.insert(r.cluster, r.template);
        } else if let Some(t) = last_template.get_mut(&r.cluster) {
            if *t != r.template {
                *t = r.template;
            }
        }
        assigned.push(r.cluster);
    }
    let elapsed = start.elapsed();
    let f = std::fs::File::create(out).map_err(io_err(out))?;
    let mut w = BufWriter::new(f);
    let write = |w: &mut BufWriter<std::fs::File>| -> std::io::Result<()> {
        w.write_all(b"LineId,EventTemplate\n")?;
        for (i, id) in assigned.iter().enumerate() {
            let t = miner.template_of(*id).or_else(|| last_template.get(id).map(String::as_str)).unwrap_or("");
            write!(w, "{},", i + 1)?;
            write_csv_field(w, t)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    };
    write(&mut w).map_err(io_err(out))?;
    Ok(MineSummary {
        lines: assigned.len() as u64,
        unmatched_header: unmatched,
        templates: miner.len(),
        evictions: miner.evictions(),
        elapsed,
    })
}
