//! `slo-runner query`: read-only SQL over the store.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use arrow::array::RecordBatch;
use slo_operators::embed::EmbedConfig;
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
    /// Embedder for `nearest_capsules` text: must match the one that embedded the capsules
    /// (`hashing` or `minilm`; default from SLO_SCOUT_EMBEDDER, else minilm when installed,
    /// else hashing).
    #[arg(long)]
    embedder: Option<String>,
    /// Fail when a file cannot be read instead of answering from the other files.
    #[arg(long)]
    strict: bool,
}

/// Builds the embedder used for query text.
pub(crate) fn query_embedder(choice: Option<&str>) -> anyhow::Result<EmbedConfig> {
    let mut cfg = EmbedConfig::from_env().unwrap_or_else(|_| EmbedConfig::hashing());
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

/// Runs `query`.
pub(crate) fn run(args: QueryArgs) -> anyhow::Result<()> {
    let store = Store::open_existing(&args.store)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let batches = rt.block_on(async {
        let index = VectorIndex::load(&store, VectorIndexConfig::default()).await?;
        let nearest = if args.sql.contains("nearest_capsules") {
            let cfg = query_embedder(args.embedder.as_deref())?;
            let embedder = cfg.build().context("building the query embedder")?;
            Some(NearestCapsules::new(Arc::new(Mutex::new(embedder)), Arc::new(index)))
        } else {
            None
        };
        let catalog = Catalog::open(&store, nearest)?;
        if args.strict {
            return anyhow::Ok(catalog.query(&args.sql).await?);
        }
        let out = catalog.query_skipping(&args.sql).await?;
        // The answer stands without these files: say so loudly, on stderr, naming each one.
        for (path, why) in &out.skipped {
            eprintln!("error: unreadable file left out of the result: {path}: {why}");
        }
        anyhow::Ok(out.batches)
    })?;
    print_batches(&batches, args.format)
}
