//! `slo-runner query`: read-only SQL over the store.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use arrow::array::RecordBatch;
use slo_dataflow::embed::EmbedderId;
use slo_operators::embed::{EmbedConfig, EmbedderKind};
use slo_storage::catalog::{Catalog, NearestCapsules};
use slo_storage::vector::{VectorIndex, VectorIndexConfig};
use slo_storage::Store;

/// Output formats of `query`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum Format {
    /// An aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    Json,
}

/// Arguments of `query`.
#[derive(clap::Args)]
pub(crate) struct QueryArgs {
    /// The SQL statement (SELECT, SHOW, EXPLAIN, DESCRIBE; DDL/DML are refused).
    sql: String,
    /// Store location: a directory or `s3://bucket/prefix`.
    #[arg(long, default_value = "out/store", env = "SLO_SCOUT_STORE")]
    store: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Embedder for `nearest_capsules` text (`hashing` or `minilm`). Default: the one the store
    /// records as having built its index; a different one is refused.
    #[arg(long)]
    embedder: Option<String>,
    /// Fail when a file cannot be read instead of answering from the other files.
    #[arg(long)]
    strict: bool,
}

/// The embedder for query text: `choice` when given, else the kind the store's index was built
/// with (`built`), else [`EmbedConfig::auto`].
pub(crate) fn query_embedder(choice: Option<&str>, built: Option<&EmbedderId>) -> anyhow::Result<EmbedConfig> {
    let mut cfg = match built {
        Some(_) => EmbedConfig::from_env().map_err(|e| anyhow::anyhow!("{e}"))?,
        None => EmbedConfig::auto().map_err(|e| anyhow::anyhow!("{e}"))?.0,
    };
    if let Some(id) = built {
        if id.name.starts_with("hashing") {
            cfg.kind = EmbedderKind::Hashing;
            cfg.hashing_dim = id.dim;
        } else {
            cfg.kind = EmbedderKind::MiniLm;
        }
    }
    if let Some(kind) = choice {
        cfg.kind = kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(cfg)
}

/// Prints record batches in a format.
pub(crate) fn print_batches(batches: &[RecordBatch], format: Format) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    match format {
        Format::Table => println!("{}", arrow::util::pretty::pretty_format_batches(batches)?),
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(stdout.lock());
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(stdout.lock());
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

/// Runs `query`. Files that cannot be read are left out of the answer, named on stderr, and
/// make the command fail after printing it (`--strict`: fail without an answer).
pub(crate) fn run(args: QueryArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.store)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (batches, skipped) = rt.block_on(async {
        // The index is read only for vector search: plain SQL never depends on it.
        let nearest = if args.sql.contains("nearest_capsules") {
            let index = VectorIndex::load(&store, VectorIndexConfig::default()).await?;
            let cfg = query_embedder(args.embedder.as_deref(), index.embedder())?;
            let embedder = cfg.build().context("building the query embedder")?;
            Some(NearestCapsules::new(Arc::new(Mutex::new(embedder)), Arc::new(index))?)
        } else {
            None
        };
        let catalog = Catalog::open(&store, nearest)?;
        if args.strict {
            return anyhow::Ok((catalog.query(&args.sql).await?, Vec::new()));
        }
        let out = catalog.query_skipping(&args.sql).await?;
        anyhow::Ok((out.batches, out.skipped))
    })?;
    print_batches(&batches, args.format)?;
    if !skipped.is_empty() {
        // The answer stands without these files: say so loudly, naming each one, and fail.
        for (path, why) in &skipped {
            eprintln!("error: unreadable file left out of the result: {path}: {why}");
        }
        anyhow::bail!(
            "{} unreadable file(s) left out: the answer above is incomplete (--strict refuses to answer)",
            skipped.len()
        );
    }
    Ok(())
}
