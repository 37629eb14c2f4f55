//! The SQL catalog: every table of the store registered in one DataFusion `SessionContext`, plus
//! `nearest_capsules(text, k)`, a table function for vector search usable in joins:
//!
//! ```sql
//! SELECT c.template, c.count, n.distance
//! FROM nearest_capsules('connection refused to database', 10) n
//! JOIN capsules c USING (capsule_id)
//! ORDER BY n.distance
//! ```

use std::sync::{Arc, Mutex};

use arrow::array::{Float32Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::{MemTable, TableProvider};
use datafusion::execution::context::{SQLOptions, SessionContext};
use datafusion::logical_expr::Expr;
use slo_operators::embed::Embedder;

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
    /// The function over an index, embedding query text with `embedder`.
    pub fn new(embedder: SharedEmbedder, index: Arc<VectorIndex>) -> Self {
        NearestCapsules { embedder, index }
    }

    /// The rows for a query, as a record batch.
    pub fn search(&self, text: &str, k: usize) -> Result<RecordBatch, StorageError> {
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

impl TableFunctionImpl for NearestCapsules {
    fn call_with_args(&self, args: TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let usage = || datafusion::error::DataFusionError::Plan("usage: nearest_capsules('text', k)".into());
        let text = match exprs.first() {
            Some(Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)), _)) => s.clone(),
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
        let batch = self.search(&text, k).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        Ok(Arc::new(MemTable::try_new(nearest_schema(), vec![vec![batch]])?))
    }
}

/// A SQL session over a store.
pub struct Catalog {
    ctx: SessionContext,
    store: Store,
}

impl Catalog {
    /// Registers every table of `store` (Hive partitions `service`, `date` as columns) and, when
    /// given, the `nearest_capsules` function.
    pub fn open(store: &Store, nearest: Option<NearestCapsules>) -> Result<Catalog, StorageError> {
        let ctx = SessionContext::new();
        // Local paths go through DataFusion's own file:// store (our store is rooted at the
        // directory, DataFusion passes absolute paths); S3 keys are the same in both.
        if store.base_url().scheme() != "file" {
            ctx.register_object_store(store.base_url(), store.object_store());
        }
        for table in Table::ALL {
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(vec![("service".into(), DataType::Utf8), ("date".into(), DataType::Utf8)]);
            let url = ListingTableUrl::parse(store.table_url(table)).map_err(sql_err)?;
            let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(table.schema());
            let provider = ListingTable::try_new(config).map_err(sql_err)?;
            ctx.register_table(table.name(), Arc::new(provider)).map_err(sql_err)?;
        }
        if let Some(n) = nearest {
            ctx.register_udtf("nearest_capsules", Arc::new(n));
        }
        Ok(Catalog { ctx, store: store.clone() })
    }

    /// The DataFusion session, for callers that want the full API.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs a read-only statement (SELECT, SHOW, EXPLAIN, DESCRIBE); DDL and DML are refused
    /// with a clear message.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>, StorageError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| {
            let msg = e.to_string();
            if msg.contains("not supported") && (msg.contains("DDL") || msg.contains("DML") || msg.contains("Statement")) {
                StorageError::ReadOnly(msg)
            } else {
                sql_err(msg)
            }
        })?;
        match df.collect().await {
            Ok(batches) => Ok(batches),
            Err(e) => {
                // Name the file: DataFusion's Parquet errors do not always carry the path.
                let mut corrupt = Vec::new();
                for table in Table::ALL {
                    if sql.contains(table.name()) {
                        corrupt.extend(self.store.verify(table).await.unwrap_or_default());
                    }
                }
                if corrupt.is_empty() {
                    Err(sql_err(e))
                } else {
                    let files: Vec<String> = corrupt.iter().map(|(path, why)| format!("{path} ({why})")).collect();
                    Err(StorageError::Sql(format!("{e}; unreadable files: {}", files.join(", "))))
                }
            }
        }
    }
}
