//! Trace assembly with DataFusion over the store's `spans` table.
//!
//! [`crate::journeys::summarize`] assembles traces from spans read into Rust values. Here
//! DataFusion does the span-level work instead — the parent/child self-join, the root of each
//! trace (a window function), the distinct operations under it and the services it touched
//! (`array_agg` over a `GROUP BY`), the call graph and the orphan count (`GROUP BY`) — and rolls
//! the traces up as [`TraceRollup`] does (`GROUP BY` shape, start minute, status and DDSketch
//! latency bucket, with counts and sums), streamed. Journey discovery, SLIs and recommendations
//! then run on those rows ([`crate::analyze::analyze_traces`]), whose number follows journeys ×
//! minutes × latency buckets, not requests.
//!
//! DataFusion's memory follows a pass size, not the store: the traces are split into passes by a
//! stable hash of the trace id (each trace whole in one pass), and DataFusion assembles one pass
//! at a time.
//! This is done here rather than by DataFusion's own spilling, which on these plans (a self-join,
//! a window, list aggregations) fails with "resources exhausted" under tight limits instead of
//! finishing more slowly.
//!
//! The rows equal [`crate::journeys::summarize`] over the same spans (tested), so both paths give
//! the same analysis.

use arrow::array::{
    Array, AsArray, BooleanArray, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use slo_storage::catalog::Catalog;
use slo_storage::tables::Table;
use slo_storage::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;

use crate::error::AdvisorError;
use crate::fallback::{ErrorLogs, ErrorRule, FallbackReport};
use crate::journeys::{Edge, TraceRollup, TraceSet, TraceShape, TraceSummary};
use crate::span::{error_signal, ErrorSource};
use crate::sql::{sql_quote, status_of, string_column, typed_column};

/// SQL condition: the span's trace touches `service` (`extra` further restricts the traces).
fn touching(service: &str, extra: &str) -> String {
    format!("trace_id IN (SELECT trace_id FROM spans WHERE CAST(service AS VARCHAR) = {}{extra})", sql_quote(service))
}

/// The spans to assemble (`s`) and each span with its parent's service (`linked`), as SQL CTEs.
/// With `slice = Some((i, n))`, only the traces with `stable_hash(trace_id) % n = i`.
fn base_ctes(service: Option<&str>, slice: Option<(usize, usize)>) -> String {
    // u64 on both sides of `%` (an untyped literal would make it decimal arithmetic)
    let in_slice = match slice {
        Some((i, n)) => {
            format!(" AND stable_hash(trace_id) % CAST({n} AS BIGINT UNSIGNED) = CAST({i} AS BIGINT UNSIGNED)")
        }
        None => String::new(),
    };
    // the slice inside the service semi-join too: it then holds this pass's trace ids only
    let mut filter = service.map_or_else(String::new, |s| format!("AND {}", touching(s, &in_slice)));
    filter.push_str(&in_slice);
    format!(
        "WITH s AS (
            SELECT trace_id, span_id, NULLIF(parent_span_id, '') AS parent, CAST(service AS VARCHAR) AS service,
                   COALESCE(operation, http_route, '') AS operation, start, duration_us, status, http_route, http_status
            FROM spans WHERE trace_id IS NOT NULL AND trace_id <> '' {filter}),
        linked AS (
            SELECT c.trace_id, c.span_id, c.parent, c.service, c.operation, c.start, c.duration_us, c.status,
                   c.http_route, c.http_status, p.span_id IS NOT NULL AS has_parent, p.service AS parent_service
            FROM s c LEFT JOIN s p ON c.trace_id = p.trace_id AND c.parent = p.span_id)"
    )
}

/// SQL condition: the span carries neither a span status nor an HTTP status (as
/// [`crate::span::error_signal`] says [`ErrorSource::None`]).
const WITHOUT_STATUS: &str =
    "((status IS NULL OR status NOT IN ('ok', 'error', 'unset')) AND (http_status IS NULL OR http_status NOT BETWEEN 0 AND 65535))";

/// Spans with neither a span status nor an HTTP status (the error-signal fallback decides them:
/// [`crate::fallback::apply`] in memory, [`traces_from_store_with_fallback`] here).
pub async fn spans_without_status(store: &Store, service: Option<&str>) -> Result<u64, AdvisorError> {
    if store.list_files(Table::Spans).await?.is_empty() {
        return Ok(0);
    }
    let catalog = Catalog::open(store, None)?;
    let sql = format!("{} SELECT COUNT(*) AS n FROM s WHERE {WITHOUT_STATUS}", base_ctes(service, None));
    let mut n = 0u64;
    for b in &query(&catalog, &sql).await? {
        let col: Int64Array = typed_column(b, "n", &DataType::Int64)?;
        n += col.iter().flatten().map(|v| v.max(0) as u64).sum::<u64>();
    }
    Ok(n)
}

/// The number of spans in the store: all of them, from the Parquet footers (no span is read),
/// or, with `service`, those of the traces that touch it (one scan of the trace id and service
/// columns). Unreadable files are left out with a warning naming them.
pub async fn stored_spans(store: &Store, service: Option<&str>) -> Result<u64, AdvisorError> {
    if store.list_files(Table::Spans).await?.is_empty() {
        return Ok(0);
    }
    count_spans(&Catalog::open(store, None)?, service).await
}

async fn count_spans(catalog: &Catalog, service: Option<&str>) -> Result<u64, AdvisorError> {
    let sql = match service {
        None => "SELECT COUNT(*) AS n FROM spans".to_string(),
        Some(s) => format!("SELECT COUNT(*) AS n FROM spans WHERE {}", touching(s, "")),
    };
    let mut stored = 0u64;
    for b in &query(catalog, &sql).await? {
        let n: Int64Array = typed_column(b, "n", &DataType::Int64)?;
        stored += n.iter().flatten().map(|v| v.max(0) as u64).sum::<u64>();
    }
    Ok(stored)
}

/// Spans one DataFusion pass of [`traces_from_store`] assembles, about (passes split traces by
/// a hash, so pass sizes vary around it), by default: 250,000. Over 1M spans that is 5 passes,
/// 328–333 MB max RSS for the whole `analyze` against 794–800 MB with the in-memory assembly,
/// in 1.7 times its time; over 3M spans 274 MB against 1.9 GB (BENCHMARKS.md).
pub const DEFAULT_SPANS_PER_PASS: usize = 250_000;

/// Assembles the traces of the store's spans (only traces that touch `service`, when given)
/// with DataFusion, about [`DEFAULT_SPANS_PER_PASS`] spans a pass. Unreadable files are left
/// out with a warning naming them.
pub async fn traces_from_store(store: &Store, service: Option<&str>) -> Result<TraceSet, AdvisorError> {
    traces_from_store_in_passes(store, service, DEFAULT_SPANS_PER_PASS).await
}

/// [`traces_from_store`] with the pass size given: about `spans_per_pass` spans are assembled
/// at a time, so memory follows the pass size, not the store's size.
///
/// The traces are split into `ceil(spans / spans_per_pass)` passes by
/// `stable_hash(trace_id) % passes` (every trace whole in one pass; with `service`, `spans`
/// counts only the spans of the traces that touch it). Each pass materialises its self-join,
/// then reads it twice: the call graph, orphans and span count come back aggregated, and the
/// traces come back rolled up, streamed batch by batch into one [`TraceRollup`] for all passes
/// (rows of the same key from different passes add up). What this process holds beyond one
/// pass's DataFusion working memory is the rollup: one row per shape, minute, error signal and
/// latency bucket. Each pass reads the span files again: more passes, less memory, more time.
pub async fn traces_from_store_in_passes(
    store: &Store,
    service: Option<&str>,
    spans_per_pass: usize,
) -> Result<TraceSet, AdvisorError> {
    Ok(traces_from_store_with_fallback(store, service, spans_per_pass, None, None).await?.0)
}

/// The statement that reads a pass's `linked` spans with a `fallback_failed` column: whether
/// `rule` (as SQL), or else the error logs, mark the span failed (`FALSE` when neither
/// applies); with the source the verdicts come from.
fn fallback_sql(
    catalog: &Catalog,
    rule: Option<&ErrorRule>,
    logs: Option<&ErrorLogs>,
) -> Result<(String, Option<ErrorSource>), AdvisorError> {
    if let Some(rule) = rule {
        // only spans without a status take the rule's verdict (as in memory)
        let select = format!(
            "SELECT *, CASE WHEN {WITHOUT_STATUS} THEN {} ELSE FALSE END AS fallback_failed FROM linked",
            rule.to_sql()
        );
        return Ok((select, Some(ErrorSource::Rule)));
    }
    let Some(logs) = logs.filter(|l| l.usable()) else {
        return Ok(("SELECT *, FALSE AS fallback_failed FROM linked".into(), None));
    };
    // The error logs' ids as two small tables (their size follows the error logs, not the spans).
    let traces: StringArray = logs.failed_trace_ids().map(Some).collect();
    let (span_traces, span_ids): (Vec<&str>, Vec<&str>) = logs.failed_span_ids().unzip();
    let text = |name: &str| Field::new(name, DataType::Utf8, false);
    let traces = RecordBatch::try_new(Arc::new(Schema::new(vec![text("trace_id")])), vec![Arc::new(traces)])?;
    let spans = RecordBatch::try_new(
        Arc::new(Schema::new(vec![text("trace_id"), text("span_id")])),
        vec![Arc::new(StringArray::from(span_traces)), Arc::new(StringArray::from(span_ids))],
    )?;
    catalog.register_batches("error_traces", vec![traces])?;
    catalog.register_batches("error_spans", vec![spans])?;
    // as crate::fallback::apply: a root fails when an error log carries its trace id, another
    // span when one carries its span id (both id sets are distinct: the joins add no rows)
    let select = "SELECT l.*, CASE WHEN l.has_parent THEN es.span_id IS NOT NULL ELSE et.trace_id IS NOT NULL END AS fallback_failed
        FROM linked l
        LEFT JOIN error_spans es ON l.trace_id = es.trace_id AND l.span_id = es.span_id
        LEFT JOIN error_traces et ON l.trace_id = et.trace_id";
    Ok((select.to_string(), Some(logs.source())))
}

/// What the passes of [`traces_from_store_with_fallback`] add up.
#[derive(Default)]
struct Assembly {
    set: TraceSet,
    edges: BTreeMap<(String, String), u64>,
    rollup: TraceRollup,
    /// Spans without a status, and those of them the fallback marked failed.
    without_status: u64,
    failed_without_status: u64,
}

/// [`traces_from_store_in_passes`] with the error-signal fallback of [`crate::fallback::apply`]
/// done in the SQL: spans without a status are decided by `rule` if given, else by `logs` if
/// they are usable, with the same verdicts and the same report. The report is `None` when every
/// span carries a status (as the in-memory path, which applies no fallback then).
pub async fn traces_from_store_with_fallback(
    store: &Store,
    service: Option<&str>,
    spans_per_pass: usize,
    rule: Option<&ErrorRule>,
    logs: Option<&ErrorLogs>,
) -> Result<(TraceSet, Option<FallbackReport>), AdvisorError> {
    if store.list_files(Table::Spans).await?.is_empty() {
        return Ok((TraceSet::default(), None));
    }
    let catalog = Catalog::open(store, None)?;
    let (select_linked, fallback) = fallback_sql(&catalog, rule, logs)?;
    // Files whose footer cannot be read are found (and left out) here already; other damage
    // is found by the first pass, and the file stays left out for the passes after it.
    let stored = count_spans(&catalog, service).await?;
    let passes = (stored as usize).div_ceil(spans_per_pass.max(1)).max(1);
    if passes > 1 {
        // Late materialisation: each pass decodes the trace id column, keeps its slice, and
        // decodes the other columns only for the rows kept.
        catalog.context().state_ref().write().config_mut().options_mut().execution.parquet.pushdown_filters = true;
    }
    let mut acc = Assembly::default();
    for pass in 0..passes {
        let slice = (passes > 1).then_some((pass, passes));
        assemble_pass(&catalog, service, slice, (&select_linked, fallback), &mut acc).await?;
        // before the next pass builds its own: one pass's self-join in memory at a time
        catalog.deregister("linked")?;
    }
    if passes > 1 {
        tracing::info!(spans = stored, passes, "trace assembly split into passes by trace id");
    }
    let Assembly { mut set, edges, rollup, without_status, failed_without_status } = acc;
    tracing::info!(
        rows = rollup.len(),
        shapes = rollup.shapes(),
        "traces rolled up by shape, minute, error signal and latency bucket"
    );
    set.call_graph = edges.into_iter().map(|((caller, callee), calls)| Edge { caller, callee, calls }).collect();
    (set.shapes, set.traces) = rollup.finish();
    let report = (without_status > 0).then(|| {
        let mut r = FallbackReport { spans_without_status: without_status as usize, ..Default::default() };
        if let Some(source) = fallback {
            r.source = source;
            r.decided = r.spans_without_status;
            r.failed = failed_without_status as usize;
            // a source means the rule decided, or else the (usable) logs did
            match (rule, logs) {
                (Some(rule), _) => r.rule = Some(rule.to_string()),
                (None, Some(logs)) => (r.linked_logs, r.failed_traces) = (logs.linked_logs(), logs.failed_traces()),
                (None, None) => {}
            }
        }
        tracing::info!(
            without_status = r.spans_without_status,
            decided = r.decided,
            failed = r.failed,
            source = r.source.as_str(),
            "error-signal fallback (SQL)"
        );
        r
    });
    Ok((set, report))
}

/// One pass of [`traces_from_store_in_passes`]: the traces with `stable_hash(trace_id) % n = i`
/// for `slice = Some((i, n))`, all of them for `None`. Adds to `set` and `edges`.
async fn assemble_pass(
    catalog: &Catalog,
    service: Option<&str>,
    slice: Option<(usize, usize)>,
    (select_linked, fallback): (&str, Option<ErrorSource>),
    acc: &mut Assembly,
) -> Result<(), AdvisorError> {
    // The pass's self-join once, with each span's fallback verdict, kept columnar (its size
    // follows the pass size); the two statements below read it.
    let linked = query(catalog, &format!("{} {select_linked}", base_ctes(service, slice))).await?;
    if linked.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    catalog.register_batches("linked", linked)?;

    // Call graph, orphans, the span count and the spans the fallback decided.
    let graph_sql = format!(
        "SELECT parent_service, service, has_parent, parent IS NOT NULL AS has_parent_id, COUNT(*) AS n,
                SUM(CASE WHEN {WITHOUT_STATUS} THEN 1 ELSE 0 END) AS unset,
                SUM(CASE WHEN {WITHOUT_STATUS} AND fallback_failed THEN 1 ELSE 0 END) AS unset_failed
         FROM linked GROUP BY parent_service, service, has_parent, parent IS NOT NULL"
    );
    let set = &mut acc.set;
    for b in &query(catalog, &graph_sql).await? {
        let caller = string_column(b, "parent_service")?;
        let callee = string_column(b, "service")?;
        let has_parent = bool_column(b, "has_parent")?;
        let has_parent_id = bool_column(b, "has_parent_id")?;
        let n: Int64Array = typed_column(b, "n", &DataType::Int64)?;
        let unset: Int64Array = typed_column(b, "unset", &DataType::Int64)?;
        let unset_failed: Int64Array = typed_column(b, "unset_failed", &DataType::Int64)?;
        acc.without_status += unset.iter().flatten().map(|v| v.max(0) as u64).sum::<u64>();
        acc.failed_without_status += unset_failed.iter().flatten().map(|v| v.max(0) as u64).sum::<u64>();
        for i in 0..b.num_rows() {
            let count = n.value(i).max(0) as u64;
            set.spans += count as usize;
            let linked = has_parent.value(i);
            if !linked && has_parent_id.value(i) {
                set.orphan_spans += count as usize;
            }
            if linked && !caller.is_null(i) && caller.value(i) != callee.value(i) {
                *acc.edges.entry((caller.value(i).to_string(), callee.value(i).to_string())).or_default() += count;
            }
        }
    }

    // Per trace: its root (earliest, then longest, then smallest span id), the distinct
    // operations directly under the root, its span count and services; then the traces rolled
    // up as TraceRollup does (same root, operations, services, status, minute, latency bucket),
    // so what comes back follows journeys x minutes x buckets, not requests. Distinct values
    // come from a GROUP BY below the array_agg: `array_agg(DISTINCT ..)` is ~15x slower here.
    let ln_gamma = crate::journeys::default_ln_gamma();
    let max_us = crate::journeys::MAX_DURATION_US;
    let traces_sql = format!(
        "WITH roots AS (
            SELECT * FROM (
                SELECT trace_id, span_id, service, operation, start, duration_us, status, http_route, http_status, fallback_failed,
                       ROW_NUMBER() OVER (PARTITION BY trace_id ORDER BY start ASC NULLS FIRST, duration_us DESC NULLS LAST, span_id) AS rn
                FROM linked WHERE NOT has_parent) ranked
            WHERE rn = 1),
        kids AS (
            SELECT trace_id, array_sort(array_agg(operation)) AS child_operations FROM (
                SELECT DISTINCT l.trace_id, l.operation
                FROM linked l JOIN roots r ON l.trace_id = r.trace_id AND l.parent = r.span_id) k
            GROUP BY trace_id),
        per_trace AS (
            SELECT trace_id, SUM(n) AS n_spans, array_sort(array_agg(service)) AS services FROM (
                SELECT trace_id, service, COUNT(*) AS n FROM linked GROUP BY trace_id, service) t
            GROUP BY trace_id),
        capped AS (
            SELECT r.trace_id, r.service, r.operation, r.start, r.http_route, r.status, r.http_status, r.fallback_failed,
                   k.child_operations, t.n_spans, t.services,
                   CASE WHEN r.duration_us > {max_us} THEN {max_us} WHEN r.duration_us > 0 THEN r.duration_us ELSE 0 END AS duration_us,
                   date_trunc('minute', r.start) AS minute
            FROM roots r LEFT JOIN kids k ON r.trace_id = k.trace_id JOIN per_trace t ON r.trace_id = t.trace_id),
        traces AS (
            SELECT *, CASE WHEN duration_us > 0
                           THEN CAST(CEIL(LN(CAST(duration_us AS DOUBLE) / 1000.0) / {ln_gamma:?}) AS INT) END AS bucket
            FROM capped)
        SELECT MIN(trace_id) AS trace_id, service, operation, MIN(start) AS start, http_route, status, http_status, fallback_failed,
               child_operations, services, bucket, COUNT(*) AS n, SUM(duration_us) AS duration_sum_us,
               MIN(duration_us) AS min_duration_us, MAX(duration_us) AS max_duration_us, SUM(n_spans) AS n_spans
        FROM traces
        GROUP BY service, operation, http_route, status, http_status, fallback_failed, child_operations, services, minute, bucket"
    );
    let mut rows = catalog.query_stream(&traces_sql).await?;
    while let Some(batch) = rows.next().await {
        let batch = batch.map_err(|e| AdvisorError::Storage(slo_storage::StorageError::Sql(e.to_string())))?;
        append_groups(&batch, fallback, &mut acc.rollup)?;
    }
    Ok(())
}

async fn query(catalog: &Catalog, sql: &str) -> Result<Vec<RecordBatch>, AdvisorError> {
    let out = catalog.query_skipping(sql).await?;
    for (path, why) in &out.skipped {
        tracing::warn!(file = %path, reason = %why, "unreadable span file left out of the analysis");
    }
    Ok(out.batches)
}

fn bool_column(batch: &RecordBatch, name: &str) -> Result<BooleanArray, AdvisorError> {
    typed_column(batch, name, &DataType::Boolean)
}

/// The sorted strings of each row of a list column (empty for a null row).
fn string_lists(batch: &RecordBatch, name: &str) -> Result<Vec<Vec<String>>, AdvisorError> {
    let list_of_utf8 = DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let lists: ListArray = typed_column(batch, name, &list_of_utf8)?;
    let mut out = Vec::with_capacity(lists.len());
    for i in 0..lists.len() {
        let mut row: Vec<String> = Vec::new();
        if !lists.is_null(i) {
            let values = lists.value(i);
            let strings: &StringArray = values.as_string::<i32>();
            row.extend(strings.iter().flatten().map(str::to_string));
        }
        row.sort_unstable();
        row.dedup();
        out.push(row);
    }
    Ok(out)
}

/// Adds the rolled-up rows of `b` (see `assemble_pass`) to `rollup`; a root without a status
/// takes the fallback's verdict when there is a `fallback` source.
fn append_groups(b: &RecordBatch, fallback: Option<ErrorSource>, rollup: &mut TraceRollup) -> Result<(), AdvisorError> {
    let trace = string_column(b, "trace_id")?;
    let service = string_column(b, "service")?;
    let op = string_column(b, "operation")?;
    let status = string_column(b, "status")?;
    let route = string_column(b, "http_route")?;
    let start: TimestampMillisecondArray = typed_column(b, "start", &DataType::Timestamp(TimeUnit::Millisecond, None))?;
    let dur: Int64Array = typed_column(b, "duration_sum_us", &DataType::Int64)?;
    let n: Int64Array = typed_column(b, "n", &DataType::Int64)?;
    let min_dur: Int64Array = typed_column(b, "min_duration_us", &DataType::Int64)?;
    let max_dur: Int64Array = typed_column(b, "max_duration_us", &DataType::Int64)?;
    let fallback_failed = bool_column(b, "fallback_failed")?;
    let bucket: Int32Array = typed_column(b, "bucket", &DataType::Int32)?;
    let http: Int32Array = typed_column(b, "http_status", &DataType::Int32)?;
    let n_spans: Int64Array = typed_column(b, "n_spans", &DataType::Int64)?;
    let kids = string_lists(b, "child_operations")?;
    let services = string_lists(b, "services")?;
    let get = |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    for (i, (child_operations, services)) in kids.into_iter().zip(services).enumerate() {
        let st = get(&status, i).and_then(|s| status_of(&s));
        let hs = (!http.is_null(i)).then(|| u16::try_from(http.value(i)).ok()).flatten();
        let (error, error_source) = match (error_signal(st, hs), fallback) {
            ((_, ErrorSource::None), Some(source)) => (fallback_failed.value(i), source),
            (signal, _) => signal,
        };
        let duration_sum_us = if dur.is_null(i) { 0 } else { dur.value(i).max(0) as u128 };
        let shape = TraceShape {
            service: get(&service, i).unwrap_or_default(),
            operation: get(&op, i).unwrap_or_default(),
            http_route: get(&route, i),
            child_operations,
            services,
        };
        let t = TraceSummary {
            trace_id: get(&trace, i).unwrap_or_default(),
            shape: 0,
            start_ms: if start.is_null(i) { 0 } else { start.value(i).max(0) as u64 },
            duration_us: 0,
            min_duration_us: min_dur.value(i).max(0) as u64,
            max_duration_us: max_dur.value(i).max(0) as u64,
            error,
            error_source,
            spans: n_spans.value(i).max(0) as u64,
            requests: n.value(i).max(0) as u64,
        };
        rollup.add_group(&shape, t, duration_sum_us, (!bucket.is_null(i)).then(|| bucket.value(i)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::{analyze, analyze_traces, AnalyzeConfig};
    use crate::journeys::summarize;
    use crate::spans::{from_events, from_store};
    use slo_dataflow::synthetic::{generate, SyntheticConfig};

    #[tokio::test]
    async fn sql_trace_assembly_equals_the_in_memory_one() {
        let (mut events, _) = generate(&SyntheticConfig { requests: 2_000, seed: 5, ..Default::default() });
        // An orphan (its parent is missing) and a trace whose two roots tie on start time.
        let mut orphan = events.iter().find(|e| e.parent_span_id.is_some()).unwrap().clone();
        orphan.trace_id = Some("ffffffffffffffffffffffffffffff01".into());
        orphan.span_id = Some("00000000000000aa".into());
        orphan.parent_span_id = Some("00000000000000bb".into());
        events.push(orphan);
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(traces_from_store(&store, None).await.unwrap(), TraceSet::default());
        store.write_events(&events, false).await.unwrap();

        let spans = from_events(&events);
        let memory = summarize(&spans);
        let sql = traces_from_store(&store, None).await.unwrap();
        assert_eq!(sql.spans, spans.len());
        assert_eq!(sql.orphan_spans, 1);
        assert_eq!(sql.call_graph, memory.call_graph);
        assert_eq!(sql.traces.len(), memory.traces.len());
        assert_eq!(sql, memory);
        // In one pass and split into many passes: the same.
        assert_eq!(traces_from_store_in_passes(&store, None, usize::MAX).await.unwrap(), memory);
        assert_eq!(traces_from_store_in_passes(&store, None, 1_000).await.unwrap(), memory);

        // The whole analysis is the same either way, and the service filter keeps whole traces.
        let cfg = AnalyzeConfig::default();
        let a = analyze(&spans, &cfg);
        let b = analyze_traces(&sql, &cfg);
        assert_eq!(serde_json::to_value(&a).unwrap(), serde_json::to_value(&b).unwrap());
        assert_eq!(a.requests, b.requests);
        let auth = traces_from_store(&store, Some("auth")).await.unwrap();
        assert_eq!(auth, summarize(&from_store(&store, Some("auth")).await.unwrap()));
        assert_eq!(traces_from_store_in_passes(&store, Some("auth"), 500).await.unwrap(), auth);
        assert!(!auth.traces.is_empty() && auth.traces.len() < sql.traces.len());
        assert_eq!(spans_without_status(&store, None).await.unwrap(), 0);
        assert_eq!(stored_spans(&store, None).await.unwrap(), spans.len() as u64);
        let auth_spans = from_store(&store, Some("auth")).await.unwrap().len() as u64;
        assert_eq!(stored_spans(&store, Some("auth")).await.unwrap(), auth_spans);
    }

    #[tokio::test]
    async fn the_fallback_in_sql_decides_as_the_in_memory_one() {
        use crate::fallback::apply;
        let (events, _) = generate(&SyntheticConfig { requests: 1_500, seed: 9, ..Default::default() });
        // Spans of every other trace lose their status: both kinds in one store.
        let mut flip = false;
        let mut last: Option<String> = None;
        let stripped: Vec<_> = events
            .into_iter()
            .map(|mut e| {
                if e.trace_id != last {
                    last = e.trace_id.clone();
                    flip = !flip;
                }
                if flip && e.kind == slo_dataflow::event::EventKind::Span {
                    e.status = None;
                    e.http_status = None;
                }
                e
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        store.write_events(&stripped, true).await.unwrap();
        let logs = ErrorLogs::from_store(&store).await.unwrap();
        assert!(logs.usable() && logs.failed_traces() > 0);
        let rule: ErrorRule =
            "duration_ms > 150 && route ~= '^/cart' || op == 'POST /login' || service != frontend && route !~ x"
                .parse()
                .unwrap();
        let cases: [(Option<&ErrorRule>, Option<&ErrorLogs>); 3] =
            [(Some(&rule), Some(&logs)), (None, Some(&logs)), (None, None)];
        for (rule, logs) in cases {
            let mut spans = from_store(&store, None).await.unwrap();
            let want_report = apply(&mut spans, rule, logs);
            let want = summarize(&spans);
            assert!(want_report.spans_without_status > 0);
            assert_eq!(want_report.failed > 0, rule.is_some() || logs.is_some());
            for per_pass in [usize::MAX, 2_000] {
                let (got, report) = traces_from_store_with_fallback(&store, None, per_pass, rule, logs).await.unwrap();
                assert_eq!(report.as_ref(), Some(&want_report), "{rule:?} {per_pass}");
                assert_eq!(got, want, "{rule:?} {per_pass}");
            }
        }
        let failed: u64 = summarize(&{
            let mut spans = from_store(&store, None).await.unwrap();
            apply(&mut spans, None, Some(&logs));
            spans
        })
        .traces
        .iter()
        .filter(|t| t.error && t.error_source == ErrorSource::LogTraceIds)
        .map(|t| t.requests)
        .sum();
        assert!(failed > 0, "the logs decide some requests failed");
        // With every span carrying a status there is no report, as in memory.
        let dir = tempfile::tempdir().unwrap();
        let plain = Store::open(dir.path().to_str().unwrap()).unwrap();
        let (events, _) = generate(&SyntheticConfig { requests: 50, ..Default::default() });
        plain.write_events(&events, true).await.unwrap();
        assert_eq!(traces_from_store_with_fallback(&plain, None, 1_000, Some(&rule), None).await.unwrap().1, None);
    }

    #[tokio::test]
    async fn spans_without_status_are_counted() {
        let (events, _) = generate(&SyntheticConfig { requests: 20, ..Default::default() });
        let stripped: Vec<_> = events
            .into_iter()
            .map(|mut e| {
                e.status = None;
                e.http_status = None;
                e
            })
            .collect();
        let spans = from_events(&stripped).len() as u64;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(spans_without_status(&store, None).await.unwrap(), 0);
        store.write_events(&stripped, false).await.unwrap();
        assert_eq!(spans_without_status(&store, None).await.unwrap(), spans);
    }
}
