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
    /// Also rebuild the vector index from the embeddings kept in the `capsules` table (after
    /// damage, or to drop vectors of deleted capsules).
    #[arg(long)]
    rebuild_index: bool,
    /// With --rebuild-index: the embedder that built the capsules' vectors (`hashing` or
    /// `minilm`), when the index's own record of it is unreadable.
    #[arg(long)]
    embedder: Option<String>,
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
    let tables = [Table::Spans, Table::MetricPoints, Table::RawEvents];
    let progress = super::progress::Progress::new("compact", Some(tables.len() as u64));
    let mut reports = Vec::new();
    for table in tables {
        progress.set_message(format!("compacting {}", table.name()));
        reports.push((table, rt.block_on(store.compact(table))?));
        progress.inc(1);
    }
    if args.rebuild_index {
        progress.stage("rebuilding the vector index", None);
    }
    let rebuilt = if args.rebuild_index { Some(rebuild_index(&store, &rt, args.embedder.as_deref())?) } else { None };
    progress.finish();
    for (table, r) in reports {
        println!(
            "{:<14} files written {:>4}  removed {:>4}  duplicate rows dropped {}",
            table.name(),
            r.files_written,
            r.files_removed,
            r.rows_dropped
        );
    }
    if let Some((vectors, id, left_out)) = rebuilt {
        println!(
            "vector index   rebuilt: {vectors} vectors by {id}; {left_out} capsules of another dimension left out"
        );
    }
    Ok(())
}

/// Rebuilds the vector index from the capsules' embeddings, for the embedder the index records
/// (or `choice` when its record is unreadable or another is named): vectors, embedder, left out.
fn rebuild_index(
    store: &Store,
    rt: &tokio::runtime::Runtime,
    choice: Option<&str>,
) -> anyhow::Result<(usize, slo_dataflow::embed::EmbedderId, usize)> {
    let built = match rt.block_on(VectorIndex::manifest(store)) {
        Ok(m) => m.and_then(|m| m.embedder),
        Err(e) => {
            eprintln!("warning: {e}");
            None
        }
    };
    let id = match (&built, choice) {
        (Some(id), None) => id.clone(),
        (_, choice) => {
            let cfg = super::query::query_embedder(choice, built.as_ref())?;
            cfg.build().context("building the embedder")?.id()
        }
    };
    let (index, left_out) = rt.block_on(VectorIndex::rebuild(store, VectorIndexConfig::default(), &id))?;
    Ok((index.len(), id, left_out))
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
        let removed = match VectorIndex::load(&store, VectorIndexConfig::default()).await {
            Ok(mut index) => {
                let removed = index.remove(&report.deleted_capsule_ids)?;
                if removed > 0 {
                    index.save(&store).await?;
                }
                removed
            }
            // The files go regardless; a rebuild afterwards indexes only what is left.
            Err(e @ slo_storage::StorageError::DamagedIndex(_)) => {
                eprintln!("warning: {e}");
                0
            }
            Err(e) => return Err(e.into()),
        };
        println!(
            "files removed {}  rows dropped {}  vectors removed {}",
            report.files_removed, report.rows_dropped, removed
        );
        anyhow::Ok(())
    })
}
