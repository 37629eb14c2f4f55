//! Checks against the Nezha benchmark's metric tables (`metric/dependency.csv`,
//! `metric/front_service.csv`): call-graph precision/recall and frontend latency percentiles
//! per minute.
//!
//! A checker for one benchmark data set, so it lives beside its users (the `nezha` test and the
//! `eval_nezha` example include it with `#[path]`), not in the library.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use slo_advisor::journeys::trace_roots;
use slo_advisor::sketch::DdSketch;
use slo_advisor::spans::Span;

/// A metric table that cannot be read, naming the file.
#[derive(Debug)]
pub(crate) struct TableError(String);

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TableError {}

fn read_table(path: &Path) -> Result<String, TableError> {
    std::fs::read_to_string(path).map_err(|e| TableError(format!("{}: {e}", path.display())))
}

/// The edges of `metric/dependency.csv` (`Source,Target,Weight`), split into service → service
/// edges and edges to or from other nodes (IP addresses, the load generator).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dependencies {
    /// Edges between two application services.
    pub(crate) service_edges: BTreeSet<(String, String)>,
    /// Edges that involve an IP address or the load generator (not visible in traces).
    pub(crate) other_edges: BTreeSet<(String, String)>,
}

fn is_infra(node: &str) -> bool {
    node.parse::<std::net::IpAddr>().is_ok() || node == "loadgenerator"
}

/// Reads `dependency.csv`.
pub(crate) fn read_dependencies(path: &Path) -> Result<Dependencies, TableError> {
    let text = read_table(path)?;
    let mut deps = Dependencies::default();
    for line in text.lines().skip(1) {
        let mut f = line.split(',');
        let (Some(a), Some(b)) = (f.next(), f.next()) else { continue };
        let (a, b) = (a.trim().to_string(), b.trim().to_string());
        if a.is_empty() || b.is_empty() {
            continue;
        }
        if is_infra(&a) || is_infra(&b) {
            deps.other_edges.insert((a, b));
        } else {
            deps.service_edges.insert((a, b));
        }
    }
    Ok(deps)
}

/// Recovered vs expected edges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct EdgeComparison {
    /// Expected edges.
    pub(crate) expected: usize,
    /// Recovered edges.
    pub(crate) recovered: usize,
    /// Edges in both.
    pub(crate) matched: usize,
    /// `matched / recovered`.
    pub(crate) precision: f64,
    /// `matched / expected`.
    pub(crate) recall: f64,
    /// Expected but not recovered.
    pub(crate) missing: Vec<(String, String)>,
    /// Recovered but not expected.
    pub(crate) extra: Vec<(String, String)>,
}

/// Compares edge sets.
pub(crate) fn compare_edges(
    recovered: &BTreeSet<(String, String)>,
    expected: &BTreeSet<(String, String)>,
) -> EdgeComparison {
    let matched = recovered.intersection(expected).count();
    EdgeComparison {
        expected: expected.len(),
        recovered: recovered.len(),
        matched,
        precision: matched as f64 / recovered.len().max(1) as f64,
        recall: matched as f64 / expected.len().max(1) as f64,
        missing: expected.difference(recovered).cloned().collect(),
        extra: recovered.difference(expected).cloned().collect(),
    }
}

/// One row of `front_service.csv`: latency percentiles in seconds at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FrontRow {
    /// The `Time` column, ms since epoch.
    pub(crate) time_ms: u64,
    /// LatencyP50, LatencyP90, LatencyP95, LatencyP99, seconds.
    pub(crate) latency_s: [f64; 4],
}

/// Reads `front_service.csv` (`Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP50(s),...`),
/// taking time from `Time` (`2022-08-22 03:51:19.573905004 +0000 UTC m=+0.07`). Rows that do
/// not parse are skipped.
pub(crate) fn read_front_service(path: &Path) -> Result<Vec<FrontRow>, TableError> {
    let text = read_table(path)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').map(str::trim).collect();
    let pos = |name: &str| header.iter().position(|h| *h == name);
    let (Some(t), Some(p50), Some(p90), Some(p95), Some(p99)) =
        (pos("Time"), pos("LatencyP50(s)"), pos("LatencyP90(s)"), pos("LatencyP95(s)"), pos("LatencyP99(s)"))
    else {
        return Err(TableError(format!("{}: expected Time and LatencyP50(s)..LatencyP99(s) columns", path.display())));
    };
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let get = |i: usize| f.get(i).and_then(|v| v.trim().parse::<f64>().ok());
        let time = f
            .get(t)
            .map(|v| v.split(" +").next().unwrap_or(v).trim())
            .and_then(|v| slo_dataflow::time::parse_timestamp(v, 1970));
        if let (Some(time_ms), Some(a), Some(b), Some(c), Some(d)) = (time, get(p50), get(p90), get(p95), get(p99)) {
            out.push(FrontRow { time_ms, latency_s: [a, b, c, d] });
        }
    }
    Ok(out)
}

/// One minute compared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct MinuteComparison {
    /// The `Time` of the metric row, ms since epoch.
    pub(crate) time_ms: u64,
    /// Frontend requests in the window.
    pub(crate) requests: u64,
    /// Trace-derived p50, p90, p95, p99, ms.
    pub(crate) traces_ms: [f64; 4],
    /// Metric p50, p90, p95, p99, ms.
    pub(crate) metric_ms: [f64; 4],
}

/// Trace-derived vs metric latency percentiles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct LatencyComparison {
    /// Minutes with both a metric row and traced requests.
    pub(crate) minutes: Vec<MinuteComparison>,
    /// Median over minutes of `|traces − metric| / metric`, for p50, p90, p95, p99.
    pub(crate) median_relative_error: [f64; 4],
    /// Median over minutes of `traces / metric`, for p50, p90, p95, p99.
    pub(crate) median_ratio: [f64; 4],
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Compares the latency of requests entering at `service` (traces whose root span is in it) in
/// the `window_ms` before each metric row's `Time` with that row's percentiles. Only windows
/// fully inside traced time count. Reads the root spans themselves: the windows are not
/// minute-aligned, so the analysis' per-minute rollup would not do.
pub(crate) fn compare_latency(spans: &[Span], rows: &[FrontRow], service: &str, window_ms: u64) -> LatencyComparison {
    let mut reqs: Vec<(u64, f64)> = trace_roots(spans)
        .into_iter()
        .filter(|r| r.service == service)
        .map(|r| (r.start_ms, r.duration_us as f64 / 1000.0))
        .collect();
    reqs.sort_by_key(|r| r.0);
    // Contiguous stretches of traced time (a gap of more than two minutes ends one): a window
    // is compared only when it lies inside one, so partly traced minutes do not count.
    let mut segments: Vec<(u64, u64)> = Vec::new();
    for r in &reqs {
        match segments.last_mut() {
            Some(seg) if r.0 <= seg.1 + 120_000 => seg.1 = r.0,
            _ => segments.push((r.0, r.0)),
        }
    }
    let mut minutes = Vec::new();
    for row in rows {
        let from = row.time_ms.saturating_sub(window_ms);
        if !segments.iter().any(|&(a, b)| a <= from && row.time_ms <= b) {
            continue;
        }
        let lo = reqs.partition_point(|r| r.0 < from);
        let hi = reqs.partition_point(|r| r.0 < row.time_ms);
        if hi <= lo {
            continue;
        }
        let mut s = DdSketch::default();
        for r in &reqs[lo..hi] {
            s.add(r.1);
        }
        let q = |q| s.quantile(q).unwrap_or(0.0);
        minutes.push(MinuteComparison {
            time_ms: row.time_ms,
            requests: s.count(),
            traces_ms: [q(0.5), q(0.9), q(0.95), q(0.99)],
            metric_ms: row.latency_s.map(|v| v * 1000.0),
        });
    }
    let per = |f: &dyn Fn(&MinuteComparison, usize) -> Option<f64>| -> [f64; 4] {
        std::array::from_fn(|i| median(minutes.iter().filter_map(|m| f(m, i)).collect()))
    };
    let median_relative_error =
        per(&|m, i| (m.metric_ms[i] > 0.0).then(|| (m.traces_ms[i] - m.metric_ms[i]).abs() / m.metric_ms[i]));
    let median_ratio = per(&|m, i| (m.metric_ms[i] > 0.0).then(|| m.traces_ms[i] / m.metric_ms[i]));
    LatencyComparison { minutes, median_relative_error, median_ratio }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_tables_parse() {
        let dir = tempfile::tempdir().unwrap();
        let dep = dir.path().join("dependency.csv");
        std::fs::write(
            &dep,
            "Source,Target,Weight\nfrontend,cart,1\ncart,33.33.33.80,1\nloadgenerator,frontend,1\nbad\n",
        )
        .unwrap();
        let d = read_dependencies(&dep).unwrap();
        assert_eq!(d.service_edges.len(), 1);
        assert_eq!(d.other_edges.len(), 2);
        let front = dir.path().join("front_service.csv");
        std::fs::write(
            &front,
            "Time,TimeStamp,ServiceName,SuccessRate(%),LatencyP50(s),LatencyP90(s),LatencyP95(s),LatencyP99(s)\n\
             2022-08-22 03:51:19.573905004 +0000 UTC m=+0.079858984,1661140279,Frontend,100,0.24,1.1,1.8,2.3\nbroken\n",
        )
        .unwrap();
        let rows = read_front_service(&front).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].time_ms, 1_661_140_279_573);
        assert!(read_front_service(&dep).is_err());
        let c = compare_edges(&d.service_edges, &d.service_edges);
        assert_eq!((c.precision, c.recall), (1.0, 1.0));
        assert!(compare_edges(&BTreeSet::new(), &d.service_edges).recall == 0.0);
    }
}
