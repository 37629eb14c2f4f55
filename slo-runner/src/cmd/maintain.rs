//! `slo-runner compact` and `slo-runner retention`: store maintenance.

use anyhow::Context;
use slo_storage::store::RetentionPolicy;
use slo_storage::tables::Table;
use slo_storage::vector::{VectorIndex, VectorIndexConfig};
use slo_storage::Store;

/// Arguments of `compact`.
#[derive(clap::Args)]
pub(crate) struct CompactArgs {
    /// Store location.
    #[arg(long, default_value = "out/store", env = "SLO_SCOUT_STORE")]
    store: String,
}

/// Arguments of `retention`.
#[derive(clap::Args)]
pub(crate) struct RetentionArgs {
    /// Store location.
    #[arg(long, default_value = "out/store", env = "SLO_SCOUT_STORE")]
    store: String,
    /// Days to keep raw events.
    #[arg(long, default_value_t = 7)]
    raw_days: u64,
    /// Days to keep capsules.
    #[arg(long, default_value_t = 90)]
    capsules_days: u64,
    /// Days to keep spans and metric points.
    #[arg(long, default_value_t = 90)]
    spans_days: u64,
    /// Days to keep aggregates (sli_minutes).
    #[arg(long, default_value_t = 365)]
    aggregates_days: u64,
    /// The current time (RFC 3339), default now: lets you preview or test retention.
    #[arg(long)]
    now: Option<String>,
    /// Print what would be deleted, and delete nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Runs `compact` over every append table.
pub(crate) fn compact(args: CompactArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.store)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    for table in [Table::Spans, Table::MetricPoints, Table::RawEvents] {
        let r = rt.block_on(store.compact(table))?;
        println!(
            "{:<14} files written {:>4}  removed {:>4}  duplicate rows dropped {}",
            table.name(),
            r.files_written,
            r.files_removed,
            r.rows_dropped
        );
    }
    Ok(())
}

/// Runs `retention`.
pub(crate) fn retention(args: RetentionArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.store)?;
    let now = match &args.now {
        Some(t) => {
            slo_dataflow::time::parse_timestamp(t, slo_dataflow::time::current_year()).context("invalid --now")?
        }
        None => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as u64,
    };
    let policy = RetentionPolicy {
        raw_days: args.raw_days,
        capsules_days: args.capsules_days,
        spans_days: args.spans_days,
        aggregates_days: args.aggregates_days,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        if args.dry_run {
            let report = store.preview_retention(now, &policy).await?;
            println!(
                "dry run: would remove {} files, {} rows, {} capsules; nothing deleted",
                report.files_removed,
                report.rows_dropped,
                report.deleted_capsule_ids.len()
            );
            return anyhow::Ok(());
        }
        let report = store.apply_retention(now, &policy).await?;
        let mut index = VectorIndex::load(&store, VectorIndexConfig::default()).await?;
        let removed = index.remove(&report.deleted_capsule_ids)?;
        if removed > 0 {
            index.save(&store).await?;
        }
        println!(
            "files removed {}  rows dropped {}  vectors removed {}",
            report.files_removed, report.rows_dropped, removed
        );
        anyhow::Ok(())
    })
}
