//! The SQL catalog: every table of the store registered in one DataFusion `SessionContext`, plus
//! `nearest_capsules(text, k)`, a table function for vector search usable in joins:
//!
//! ```sql
//! SELECT c.template, c.count, n.distance
//! FROM nearest_capsules('connection refused to database', 10) n
//! JOIN capsules c USING (capsule_id)
//! ORDER BY n.distance
//! ```
//!
//! `stable_hash(text)` is a fixed hash (the same in every process) for splitting work by key:
//! `WHERE stable_hash(trace_id) % 4 = 0` is a quarter of the traces, each trace whole.
//!
//! A file that cannot be read (corrupt or truncated Parquet) does not take its table down:
//! [`Catalog::query_skipping`] leaves it out, names it with the reason, and answers from the
//! other files; [`Catalog::query`] fails naming it.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::context::{SQLOptions, SessionContext};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionConfig;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
use slo_dataflow::embed::Embedder;

use crate::error::StorageError;
use crate::store::Store;
use crate::tables::Table;
use crate::vector::VectorIndex;

fn sql_err(e: impl std::fmt::Display) -> StorageError {
    StorageError::Sql(e.to_string())
}

/// Text embedder shared by SQL sessions (the same embedder that embedded the capsules).
pub type SharedEmbedder = Arc<Mutex<Box<dyn Embedder>>>;

/// `nearest_capsules(text, k)`: embeds `text` and returns the `k` nearest capsules as rows
/// `(capsule_id, distance, rank)`.
#[derive(Clone)]
pub struct NearestCapsules {
    embedder: SharedEmbedder,
    index: Arc<VectorIndex>,
}

impl std::fmt::Debug for NearestCapsules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearestCapsules").field("vectors", &self.index.len()).finish()
    }
}

impl NearestCapsules {
    /// The function over an index, embedding query text with `embedder`: the embedder must be
    /// the one that built the index ([`StorageError::EmbedderMismatch`] otherwise, naming both).
    pub fn new(embedder: SharedEmbedder, index: Arc<VectorIndex>) -> Result<Self, StorageError> {
        if let Some(built) = index.embedder() {
            let query = embedder.lock().map_err(|_| StorageError::Index("embedder lock poisoned".into()))?.id();
            if let Some(why) = built.mismatch(&query) {
                return Err(StorageError::EmbedderMismatch(format!(
                    "{why}; query with the store's embedder (`--embedder {}`)",
                    if built.name.starts_with("hashing") { "hashing" } else { "minilm" }
                )));
            }
        }
        Ok(NearestCapsules { embedder, index })
    }

    /// The rows for a query, as a record batch.
    pub fn search(&self, text: &str, k: usize) -> Result<RecordBatch, StorageError> {
        if self.index.is_empty() {
            return Err(StorageError::EmptyIndex);
        }
        let vector = {
            let mut e = self.embedder.lock().map_err(|_| StorageError::Index("embedder lock poisoned".into()))?;
            e.embed_batch(&[text]).map_err(|e| StorageError::Index(e.to_string()))?.pop().unwrap_or_default()
        };
        let hits = self.index.search(&vector, k)?;
        let schema = nearest_schema();
        Ok(RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(hits.iter().map(|h| h.capsule_id.clone()))),
                Arc::new(Float32Array::from_iter_values(hits.iter().map(|h| h.distance))),
                Arc::new(UInt32Array::from_iter_values(1..=hits.len() as u32)),
            ],
        )?)
    }
}

fn nearest_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("capsule_id", DataType::Utf8, false),
        Field::new("distance", DataType::Float32, false),
        Field::new("rank", DataType::UInt32, false),
    ]))
}

/// The most rows `nearest_capsules(text, k)` answers: evidence for a person or a model, never a
/// table scan (a larger `k` is refused with an error that says so).
pub const MAX_NEAREST_K: usize = 10_000;

impl TableFunctionImpl for NearestCapsules {
    fn call_with_args(&self, args: TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let usage = || datafusion::error::DataFusionError::Plan("usage: nearest_capsules('text', k)".into());
        let text = match exprs.first() {
            Some(Expr::Literal(
                ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)),
                _,
            )) => s.clone(),
            _ => return Err(usage()),
        };
        let k = match exprs.get(1) {
            None => 10,
            Some(Expr::Literal(v, _)) => match v {
                ScalarValue::Int64(Some(k)) if *k > 0 => *k as usize,
                ScalarValue::Int32(Some(k)) if *k > 0 => *k as usize,
                ScalarValue::UInt64(Some(k)) if *k > 0 => *k as usize,
                _ => return Err(usage()),
            },
            _ => return Err(usage()),
        };
        if k > MAX_NEAREST_K {
            return Err(datafusion::error::DataFusionError::Plan(format!(
                "nearest_capsules: k = {k} is above the limit of {MAX_NEAREST_K} rows"
            )));
        }
        let batch = self.search(&text, k).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(MemTable::try_new(nearest_schema(), vec![vec![batch]])?))
    }
}

/// FNV-1a over the bytes: fixed, so a key lands in the same bucket in every process.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// `stable_hash(text) -> UBIGINT`: [`stable_hash`] of a string (NULL for NULL; other types are
/// cast to text first, so `stable_hash(42)` hashes `'42'`), for splitting work by key into passes
/// or partitions that do not depend on the process:
/// `WHERE stable_hash(trace_id) % 4 = 0` is one quarter of the traces, each trace whole.
fn stable_hash_udf() -> datafusion::logical_expr::ScalarUDF {
    use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
    let fun = Arc::new(|args: &[ColumnarValue]| -> datafusion::error::Result<ColumnarValue> {
        let hash = |s: Option<&str>| s.map(|s| stable_hash(s.as_bytes()));
        Ok(match &args[0] {
            ColumnarValue::Array(a) => {
                let strings = a.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                    datafusion::error::DataFusionError::Execution(format!(
                        "stable_hash takes text, not {}",
                        a.data_type()
                    ))
                })?;
                ColumnarValue::Array(Arc::new(strings.iter().map(hash).collect::<UInt64Array>()))
            }
            ColumnarValue::Scalar(ScalarValue::Utf8(s)) => {
                ColumnarValue::Scalar(ScalarValue::UInt64(hash(s.as_deref())))
            }
            ColumnarValue::Scalar(other) => {
                return Err(datafusion::error::DataFusionError::Execution(format!(
                    "stable_hash takes text, not {}",
                    other.data_type()
                )))
            }
        })
    });
    create_udf("stable_hash", vec![DataType::Utf8], DataType::UInt64, Volatility::Immutable, fun)
}

/// The memory pool of a catalog's SQL session (2 GiB): buffering operators beyond it fail with a
/// "resources exhausted" error instead of growing the process.
pub const SQL_MEMORY_LIMIT_BYTES: usize = 2 << 30;

/// A SQL session over a store.
pub struct Catalog {
    ctx: SessionContext,
    store: Store,
    /// Files left out of listings because they cannot be read.
    skipped: Arc<RwLock<HashSet<Path>>>,
}

/// The rows of a query and the files it had to leave out.
#[derive(Debug, Default)]
pub struct QueryOutput {
    /// The result.
    pub batches: Vec<RecordBatch>,
    /// Unreadable files left out of the answer: `(path, reason)`.
    pub skipped: Vec<(String, String)>,
}

/// Hides files from listings: DataFusion lists a table's files through this store, so a hidden
/// file is simply not part of any table. Everything else goes to the wrapped store.
#[derive(Debug)]
struct SkippingStore {
    inner: Arc<dyn ObjectStore>,
    hidden: Arc<RwLock<HashSet<Path>>>,
}

/// Whether a listing shows `location` (a poisoned lock hides nothing).
fn visible(hidden: &RwLock<HashSet<Path>>, location: &Path) -> bool {
    hidden.read().map(|h| !h.contains(location)).unwrap_or(true)
}

impl std::fmt::Display for SkippingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Skipping({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for SkippingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let hidden = self.hidden.clone();
        self.inner
            .list(prefix)
            .filter(move |m| futures::future::ready(m.as_ref().map_or(true, |meta| visible(&hidden, &meta.location))))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        result.objects.retain(|m| visible(&self.hidden, &m.location));
        Ok(result)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

impl Catalog {
    /// Registers every table of `store` (Hive partitions `service`, `date` as columns) and, when
    /// given, the `nearest_capsules` function.
    pub fn open(store: &Store, nearest: Option<NearestCapsules>) -> Result<Catalog, StorageError> {
        // No listing cache: a catalog sees files written after it was opened (a running
        // pipeline keeps writing) and files hidden after a read failure.
        // A memory pool bounds what sorts, joins and aggregations buffer (they spill or fail
        // with "resources exhausted"); string functions that size their output from an argument
        // are bounded separately (`sql_limits`).
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .with_memory_limit(SQL_MEMORY_LIMIT_BYTES, 1.0)
            .build_arc()
            .map_err(sql_err)?;
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        crate::sql_limits::bound_string_functions(&ctx).map_err(sql_err)?;
        // Local paths are absolute in DataFusion (our store is rooted at the directory); S3 keys
        // are the same in both.
        let inner: Arc<dyn ObjectStore> = if store.base_url().scheme() == "file" {
            Arc::new(object_store::local::LocalFileSystem::new())
        } else {
            store.object_store()
        };
        let skipped: Arc<RwLock<HashSet<Path>>> = Arc::default();
        ctx.register_object_store(store.base_url(), Arc::new(SkippingStore { inner, hidden: skipped.clone() }));
        for table in Table::ALL {
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("service".into(), DataType::Utf8), ("date".into(), DataType::Utf8)]);
            let url = ListingTableUrl::parse(store.table_url(table)).map_err(sql_err)?;
            let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(table.schema());
            let provider = ListingTable::try_new(config).map_err(sql_err)?;
            ctx.register_table(table.name(), Arc::new(provider)).map_err(sql_err)?;
        }
        ctx.register_udf(stable_hash_udf());
        if let Some(n) = nearest {
            ctx.register_udtf("nearest_capsules", Arc::new(n));
        }
        Ok(Catalog { ctx, store: store.clone(), skipped })
    }

    /// The DataFusion session, for callers that want the full API.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Registers `batches` as an in-memory table `name` (replacing one of that name), split
    /// into one partition per core: intermediate results that several later statements read —
    /// computed once, kept columnar. An empty `batches` is refused.
    pub fn register_batches(&self, name: &str, batches: Vec<RecordBatch>) -> Result<(), StorageError> {
        let schema = batches
            .first()
            .map(|b| b.schema())
            .ok_or_else(|| StorageError::Sql(format!("no rows to register as {name}")))?;
        let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(batches.len()).max(1);
        let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); n];
        for (i, b) in batches.into_iter().enumerate() {
            partitions[i % n].push(b);
        }
        let table = MemTable::try_new(schema, partitions).map_err(sql_err)?;
        self.ctx.deregister_table(name).map_err(sql_err)?;
        self.ctx.register_table(name, Arc::new(table)).map_err(sql_err)?;
        Ok(())
    }

    /// Drops the table `name` registered with [`Catalog::register_batches`], freeing its rows
    /// (nothing happens when there is none).
    pub fn deregister(&self, name: &str) -> Result<(), StorageError> {
        self.ctx.deregister_table(name).map_err(sql_err)?;
        Ok(())
    }

    /// Runs a read-only statement (SELECT, SHOW, EXPLAIN, DESCRIBE); DDL and DML are refused
    /// with a clear message. A file that cannot be read fails the query with an error naming it
    /// (unless an earlier [`Catalog::query_skipping`] on this catalog left it out already); use
    /// that to answer from the readable files.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, StorageError> {
        match self.run(sql).await? {
            Ok(batches) => Ok(batches),
            Err(e) => {
                let corrupt = self.unreadable(sql).await;
                if corrupt.is_empty() {
                    Err(sql_err(e))
                } else {
                    let files: Vec<String> = corrupt.iter().map(|(path, why)| format!("{path} ({why})")).collect();
                    Err(StorageError::Sql(format!("{e}; unreadable files: {}", files.join(", "))))
                }
            }
        }
    }

    /// Like [`Catalog::query`], but a file that cannot be read (corrupt, truncated) is left out:
    /// the answer comes from every other file, and [`QueryOutput::skipped`] names the files left
    /// out and why. Left-out files stay out for the rest of this catalog's life.
    pub async fn query_skipping(&self, sql: &str) -> Result<QueryOutput, StorageError> {
        let mut skipped: BTreeMap<String, String> = BTreeMap::new();
        loop {
            match self.run(sql).await? {
                Ok(batches) => return Ok(QueryOutput { batches, skipped: skipped.into_iter().collect() }),
                Err(e) => {
                    let mut fresh = 0;
                    for (path, why) in self.unreadable(sql).await {
                        let location = self.absolute(&path);
                        if let Ok(mut hidden) = self.skipped.write() {
                            if hidden.insert(location) {
                                fresh += 1;
                            }
                        }
                        skipped.insert(path, why);
                    }
                    if fresh == 0 {
                        // Not a file problem (or nothing more to leave out): the real error.
                        return Err(sql_err(e));
                    }
                    tracing::warn!(files = fresh, "leaving unreadable files out of the query");
                }
            }
        }
    }

    /// Runs a read-only statement like [`Catalog::query`], handing its rows back as a stream of
    /// batches instead of collecting them, so a large answer can be consumed batch by batch.
    /// Files left out by an earlier [`Catalog::query_skipping`] on this catalog stay out; an
    /// unreadable file fails the stream with DataFusion's error (which may not name the file).
    pub async fn query_stream(
        &self,
        sql: &str,
    ) -> Result<datafusion::execution::SendableRecordBatchStream, StorageError> {
        self.plan(sql).await?.execute_stream().await.map_err(sql_err)
    }

    /// Plans a read-only statement; DDL, DML and other statements are refused as read-only.
    async fn plan(&self, sql: &str) -> Result<datafusion::dataframe::DataFrame, StorageError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        self.ctx.sql_with_options(sql, options).await.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("not supported")
                && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement"))
            {
                StorageError::ReadOnly(msg)
            } else {
                sql_err(msg)
            }
        })
    }

    /// Plans (errors here are final) and executes (errors returned inside) a statement.
    async fn run(
        &self,
        sql: &str,
    ) -> Result<Result<Vec<RecordBatch>, datafusion::error::DataFusionError>, StorageError> {
        Ok(self.plan(sql).await?.collect().await)
    }

    /// Unreadable files of the tables a statement names: `(store path, reason)`. DataFusion's
    /// Parquet errors do not always carry the path, so the files are checked one by one.
    async fn unreadable(&self, sql: &str) -> Vec<(String, String)> {
        let mut corrupt = Vec::new();
        for table in Table::ALL {
            if sql.contains(table.name()) {
                corrupt.extend(self.store.verify(table).await.unwrap_or_default());
            }
        }
        corrupt
    }

    /// The object path DataFusion lists for a store path (absolute for local directories).
    fn absolute(&self, store_path: &str) -> Path {
        let url = self.store.base_url();
        if url.scheme() == "file" {
            let base = url.path().trim_end_matches('/');
            Path::from(format!("{base}/{store_path}").trim_start_matches('/'))
        } else {
            Path::from(store_path)
        }
    }
}
