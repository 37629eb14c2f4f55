//! The store: Parquet tables on an object store (a local directory by default, S3 by URL).
//!
//! Write semantics, per table:
//! - `capsules`, `sli_minutes` — *upsert*: a write merges the new rows into the partition's file
//!   by key (the newer row wins) and replaces the file in one `put`. Writing the same key twice
//!   never duplicates it, and the partition is always exactly one file per writer (no small
//!   files).
//! - `spans`, `metric_points`, `raw_events` — *append*: each batch is a new file whose name is the
//!   hash of the batch's keys, so re-writing the same batch (a replay) replaces the same file.
//!   [`Store::compact`] merges a partition's files into one, dropping duplicate keys.
//!
//! Every file is written with a single `put`, which object_store makes atomic (local: write to a
//! temporary name, then rename; S3: a PUT is all-or-nothing): a crash mid-write leaves no
//! half-visible file. Readers skip non-`.parquet` names, so temporaries are never read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::compute::concat_batches;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use slo_dataflow::event::{Capsule, EventKind, EventTime, TelemetryEvent};
use tokio::sync::Mutex;

use crate::error::StorageError;
use crate::tables::{self, date_of, key_columns, Table};

/// Rows per Parquet row group: bounds writer memory and lets readers skip by statistics.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Longest service name used as it is for a partition directory, in bytes (file systems allow
/// 255 per path component, and `service=` and percent-encoding take their share).
pub const MAX_PARTITION_VALUE_BYTES: usize = 120;

/// The partition directory value of a service: the name itself when it is short and made of
/// characters every object store and file system keeps as they are (ASCII letters, digits,
/// `-_.:@`); otherwise its first characters of that kind (at most 64), `+` and a 64-bit hash of
/// the whole name, so a hostile, very long or non-ASCII name still gets a bounded, distinct
/// directory (object stores would percent-encode the rest) and its records are kept. Reads report
/// the directory value as the service.
pub fn partition_value(service: &str) -> std::borrow::Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@');
    let safe = !service.is_empty()
        && service.len() <= MAX_PARTITION_VALUE_BYTES
        && service.chars().all(plain)
        && !service.starts_with('.');
    if safe {
        return std::borrow::Cow::Borrowed(service);
    }
    let prefix: String = service.chars().filter(|c| plain(*c)).take(64).collect();
    let prefix = prefix.trim_start_matches('.');
    std::borrow::Cow::Owned(format!("{prefix}+{:016x}", xxhash_rust::xxh3::xxh3_64(service.as_bytes())))
}

/// Blob recording the window length of the store's capsules ([`Store::claim_window_size`]).
pub const WINDOW_BLOB: &str = "capsules.window.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct WindowRecord {
    window_ms: u64,
}

/// One Parquet file of a table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableFile {
    /// The table.
    pub table: String,
    /// `service` partition value.
    pub service: String,
    /// `date` partition value (`YYYY-MM-DD`).
    pub date: String,
    /// Object path.
    pub path: Path,
    /// Size in bytes.
    pub size: u64,
}

/// Retention per table, in days. Defaults: raw 7, capsules/spans/metrics 90, aggregates 365.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RetentionPolicy {
    /// Days to keep `raw_events`.
    pub raw_days: u64,
    /// Days to keep `capsules`.
    pub capsules_days: u64,
    /// Days to keep `spans` and `metric_points`.
    pub spans_days: u64,
    /// Days to keep `sli_minutes`.
    pub aggregates_days: u64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy { raw_days: 7, capsules_days: 90, spans_days: 90, aggregates_days: 365 }
    }
}

impl RetentionPolicy {
    /// Days to keep a table.
    pub fn days(&self, table: Table) -> u64 {
        match table {
            Table::RawEvents => self.raw_days,
            Table::Capsules => self.capsules_days,
            Table::Spans | Table::MetricPoints => self.spans_days,
            Table::SliMinutes => self.aggregates_days,
        }
    }
}

/// What a maintenance command did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceReport {
    /// Files removed.
    pub files_removed: u64,
    /// Files written.
    pub files_written: u64,
    /// Rows dropped (duplicates on compaction, expired rows on retention).
    pub rows_dropped: u64,
    /// Capsule ids whose rows were deleted (so the vector index can drop them).
    pub deleted_capsule_ids: Vec<String>,
}

/// A store rooted at a local directory or an S3 prefix.
#[derive(Clone)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    root: Path,
    url: url::Url,
    writer_id: String,
    /// Serialises read-modify-write of upsert partitions within this process.
    upsert_lock: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("url", &self.url.as_str()).field("writer_id", &self.writer_id).finish()
    }
}

/// Rows of a keyed table that [`Store::upsert`] merges: where a row goes (its service and the
/// time that picks its date partition), the key a newer row replaces an older one by, and the
/// table's record-batch layout (without the `service`/`date` partition columns).
pub trait UpsertRows: Clone {
    /// The table the rows live in.
    const TABLE: Table;
    /// The key within a partition.
    type Key: Ord;
    /// The `service` partition.
    fn service(&self) -> &str;
    /// The time, ms since the epoch, whose UTC date is the `date` partition.
    fn time_ms(&self) -> EventTime;
    /// The key.
    fn key(&self) -> Self::Key;
    /// The rows as one record batch in the table's schema.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, StorageError>;
    /// The rows of a batch read back from a file of the `service` partition.
    fn from_batch(batch: &RecordBatch, service: &str) -> Result<Vec<Self>, StorageError>;
}

impl UpsertRows for Capsule {
    const TABLE: Table = Table::Capsules;
    type Key = String;
    fn service(&self) -> &str {
        &self.service
    }
    fn time_ms(&self) -> EventTime {
        self.window_start_ms
    }
    fn key(&self) -> String {
        self.capsule_id()
    }
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, StorageError> {
        tables::capsules_to_batch(rows)
    }
    fn from_batch(batch: &RecordBatch, service: &str) -> Result<Vec<Self>, StorageError> {
        tables::batch_to_capsules(batch, service)
    }
}

impl Store {
    /// Opens a store: a directory path (created if missing), `file:///...`, or
    /// `s3://bucket/prefix` (credentials, region and endpoint from the standard `AWS_*`
    /// environment variables, e.g. `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP=true` for a local
    /// S3-compatible server).
    pub fn open(location: &str) -> Result<Store, StorageError> {
        let bad = |reason: String| StorageError::Location { location: location.to_string(), reason };
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("missing bucket name".into()));
            }
            let s3 = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            let url = url::Url::parse(&format!("s3://{bucket}/")).map_err(|e| bad(e.to_string()))?;
            return Ok(Store {
                inner: Arc::new(s3),
                root: Path::from(prefix),
                url,
                writer_id: "0".into(),
                upsert_lock: Arc::default(),
            });
        }
        let dir = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
        let abs = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
        let fs = LocalFileSystem::new_with_prefix(&abs).map_err(|e| bad(e.to_string()))?;
        let url = url::Url::from_directory_path(&abs).map_err(|_| bad("not an absolute directory".into()))?;
        Ok(Store {
            inner: Arc::new(fs),
            root: Path::default(),
            url,
            writer_id: "0".into(),
            upsert_lock: Arc::default(),
        })
    }

    /// Opens a store that must already exist, for commands that only read or maintain it: a
    /// local directory that is not there is [`StorageError::NoStore`] and is not created (an
    /// S3 prefix is opened as by [`Store::open`]: it has no existence of its own).
    pub fn open_existing(location: &str) -> Result<Store, StorageError> {
        if !location.starts_with("s3://") {
            let dir = location.strip_prefix("file://").unwrap_or(location);
            if !std::path::Path::new(dir).is_dir() {
                return Err(StorageError::NoStore(location.to_owned()));
            }
        }
        Store::open(location)
    }

    /// Sets the writer id (the process index in cluster mode): upsert files are per writer so
    /// processes never overwrite each other's rows.
    pub fn with_writer_id(mut self, id: impl Into<String>) -> Self {
        self.writer_id = id.into();
        self
    }

    /// The object store.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.inner.clone()
    }

    /// The store's base URL (`file:///...` or `s3://bucket/`), for registering with DataFusion.
    pub fn base_url(&self) -> &url::Url {
        &self.url
    }

    /// The object path of a table's root.
    pub fn table_path(&self, table: Table) -> Path {
        self.root.clone().join(table.name())
    }

    /// URL of a table's root directory (with trailing slash).
    pub fn table_url(&self, table: Table) -> String {
        let mut s = self.url.to_string();
        for part in self.table_path(table).parts() {
            s.push_str(part.as_ref());
            s.push('/');
        }
        s
    }

    fn partition(&self, table: Table, service: &str, date: &str) -> Path {
        self.table_path(table).join(format!("service={}", partition_value(service))).join(format!("date={date}"))
    }

    /// Lists a table's Parquet files, sorted.
    pub async fn list_files(&self, table: Table) -> Result<Vec<TableFile>, StorageError> {
        let prefix = self.table_path(table);
        let metas: Vec<_> = self.inner.list(Some(&prefix)).try_collect().await.map_err(StorageError::os(&prefix))?;
        let mut files = Vec::new();
        for meta in metas {
            let name = meta.location.filename().unwrap_or_default();
            if !name.ends_with(".parquet") {
                continue;
            }
            let mut service = String::new();
            let mut date = String::new();
            for part in meta.location.parts() {
                let p = part.as_ref();
                if let Some(v) = p.strip_prefix("service=") {
                    service = v.to_string();
                } else if let Some(v) = p.strip_prefix("date=") {
                    date = v.to_string();
                }
            }
            files.push(TableFile { table: table.name().into(), service, date, path: meta.location, size: meta.size });
        }
        files.sort();
        Ok(files)
    }

    async fn read_file(&self, path: &Path) -> Result<Vec<RecordBatch>, StorageError> {
        let bytes = self
            .inner
            .get(path)
            .await
            .map_err(StorageError::os(path))?
            .bytes()
            .await
            .map_err(StorageError::os(path))?;
        check_footer(&bytes).map_err(|why| StorageError::Parquet {
            path: path.to_string(),
            source: parquet::errors::ParquetError::General(why),
        })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(StorageError::pq(path))?
            .build()
            .map_err(StorageError::pq(path))?;
        let mut out = Vec::new();
        for batch in reader {
            out.push(batch.map_err(|e| StorageError::Parquet { path: path.to_string(), source: e.into() })?);
        }
        Ok(out)
    }

    async fn write_file(&self, path: &Path, batch: &RecordBatch) -> Result<(), StorageError> {
        self.put_file(path, encode_parquet(path, batch)?).await
    }

    /// One atomic put of an encoded file.
    async fn put_file(&self, path: &Path, bytes: Bytes) -> Result<(), StorageError> {
        self.inner.put(path, PutPayload::from(bytes)).await.map_err(StorageError::os(path))?;
        Ok(())
    }

    /// Upserts capsules: merged by capsule key into their partitions' files.
    pub async fn write_capsules(&self, capsules: &[Capsule]) -> Result<usize, StorageError> {
        self.upsert(capsules).await
    }

    /// Upserts rows of a keyed table (capsules, `sli_minutes`, or rows of a type of yours that
    /// implements [`UpsertRows`]): grouped by `(service, date)` partition, merged by key with the
    /// rows already in this writer's file of the partition (the new row wins), and each file
    /// rewritten with one atomic put. Writes of one process are serialised by the store's lock;
    /// processes write their own files (the writer id), so they never overwrite each other.
    /// Returns the number of files written.
    pub async fn upsert<R: UpsertRows>(&self, rows: &[R]) -> Result<usize, StorageError> {
        let mut by_partition: BTreeMap<(String, String), Vec<&R>> = BTreeMap::new();
        for r in rows {
            by_partition.entry((r.service().to_owned(), date_of(r.time_ms()))).or_default().push(r);
        }
        let _guard = self.upsert_lock.lock().await;
        let mut files = 0;
        for ((service, date), new) in by_partition {
            let path = self.partition(R::TABLE, &service, &date).join(format!("data-{}.parquet", self.writer_id));
            let mut merged: BTreeMap<R::Key, R> = BTreeMap::new();
            match self.read_file(&path).await {
                Ok(batches) => {
                    for b in batches {
                        for r in R::from_batch(&b, &service)? {
                            merged.insert(r.key(), r);
                        }
                    }
                }
                Err(StorageError::ObjectStore { source: object_store::Error::NotFound { .. }, .. }) => {}
                Err(e) => return Err(e),
            }
            for r in new {
                merged.insert(r.key(), r.clone());
            }
            let rows: Vec<R> = merged.into_values().collect();
            self.write_file(&path, &R::to_batch(&rows)?).await?;
            files += 1;
        }
        Ok(files)
    }

    /// Replaces this writer's file of one `(service, date)` partition of a keyed table with
    /// exactly `rows` (one atomic put; no rows: the file is deleted). For a writer that owns its
    /// rows outright and rewrites them as they change — the live SLI roll-up, whose journeys can
    /// be renamed, so an upsert would leave rows under old names behind. Every row must belong to
    /// the partition.
    pub async fn replace_partition<R: UpsertRows>(
        &self,
        service: &str,
        date: &str,
        rows: &[R],
    ) -> Result<(), StorageError> {
        if let Some(r) = rows.iter().find(|r| r.service() != service || date_of(r.time_ms()) != date) {
            return Err(StorageError::Schema(format!(
                "{}: a row of ({}, {}) given for partition ({service}, {date})",
                R::TABLE.name(),
                r.service(),
                date_of(r.time_ms())
            )));
        }
        let path = self.partition(R::TABLE, service, date).join(format!("data-{}.parquet", self.writer_id));
        let _guard = self.upsert_lock.lock().await;
        if rows.is_empty() {
            return match self.inner.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(StorageError::os(&path)(e)),
            };
        }
        self.write_file(&path, &R::to_batch(rows)?).await
    }

    /// Reads one file of a table (as [`Store::list_files`] lists it). A corrupt file is an error
    /// naming it.
    pub async fn read_table_file(&self, file: &TableFile) -> Result<Vec<RecordBatch>, StorageError> {
        self.read_file(&file.path).await
    }

    /// Reads capsules, optionally of one service. A corrupt file is an error naming it.
    pub async fn read_capsules(&self, service: Option<&str>) -> Result<Vec<Capsule>, StorageError> {
        let mut out: BTreeMap<String, Capsule> = BTreeMap::new();
        let wanted = service.map(partition_value);
        for f in self.list_files(Table::Capsules).await? {
            if wanted.as_ref().is_some_and(|s| *s != f.service) {
                continue;
            }
            for b in self.read_file(&f.path).await? {
                for c in tables::batch_to_capsules(&b, &f.service)? {
                    out.insert(c.capsule_id(), c);
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Appends spans, metric points and (when `archive_raw`) all events to their tables. Returns
    /// the number of files written. Re-writing the same batch replaces the same files.
    pub async fn write_events(&self, events: &[TelemetryEvent], archive_raw: bool) -> Result<usize, StorageError> {
        self.write_event_files(events, archive_raw, |rows| {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for e in rows {
                h.update(e.event_id.as_bytes());
                h.update(&[0]);
            }
            format!("{:016x}", h.digest())
        })
        .await
    }

    /// Like [`Store::write_events`], but every file is named `part-{stem}.parquet` (one per
    /// table and partition): a writer that names its batches (the Kafka runner: partition and
    /// offset range) can find and delete a batch it wrote but did not record
    /// ([`Store::delete_event_files`]). `stem` is made of `[A-Za-z0-9_-]` only.
    pub async fn write_events_named(
        &self,
        events: &[TelemetryEvent],
        archive_raw: bool,
        stem: &str,
    ) -> Result<usize, StorageError> {
        if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(StorageError::Schema(format!("invalid file stem {stem:?}")));
        }
        self.write_event_files(events, archive_raw, |_| stem.to_string()).await
    }

    /// Deletes the files of the event tables (spans, metric points, raw events) whose file name
    /// (`part-….parquet`) satisfies `doomed`; returns how many.
    pub async fn delete_event_files(&self, doomed: impl Fn(&str) -> bool) -> Result<usize, StorageError> {
        let mut n = 0;
        for table in [Table::Spans, Table::MetricPoints, Table::RawEvents] {
            for f in self.list_files(table).await? {
                if doomed(f.path.filename().unwrap_or_default()) {
                    self.inner.delete(&f.path).await.map_err(StorageError::os(&f.path))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    async fn write_event_files(
        &self,
        events: &[TelemetryEvent],
        archive_raw: bool,
        name: impl Fn(&[&TelemetryEvent]) -> String,
    ) -> Result<usize, StorageError> {
        let mut groups: BTreeMap<(Table, String, String), Vec<&TelemetryEvent>> = BTreeMap::new();
        for e in events {
            let part = (e.service.clone(), date_of(e.timestamp_ms));
            match e.kind {
                EventKind::Span => groups.entry((Table::Spans, part.0.clone(), part.1.clone())).or_default().push(e),
                EventKind::Metric => {
                    groups.entry((Table::MetricPoints, part.0.clone(), part.1.clone())).or_default().push(e)
                }
                _ => {}
            }
            if archive_raw {
                groups.entry((Table::RawEvents, part.0, part.1)).or_default().push(e);
            }
        }
        let jobs: Vec<(Table, Path, Vec<&TelemetryEvent>)> = groups
            .into_iter()
            .map(|((table, service, date), rows)| {
                let path = self.partition(table, &service, &date).join(format!("part-{}.parquet", name(&rows)));
                (table, path, rows)
            })
            .collect();
        // Encoding and compression dominate: partitions are encoded in parallel, one thread
        // per core, then put one after the other.
        let encoded = parallel_map(&jobs, |(table, path, rows)| {
            let batch = match table {
                Table::Spans => tables::spans_to_batch(rows)?,
                Table::MetricPoints => tables::metrics_to_batch(rows)?,
                _ => tables::raw_to_batch(rows)?,
            };
            encode_parquet(path, &batch)
        });
        let mut files = 0;
        for ((_, path, _), bytes) in jobs.iter().zip(encoded) {
            self.put_file(path, bytes?).await?;
            files += 1;
        }
        Ok(files)
    }

    /// Merges each partition of an append table into one file, dropping rows whose key was seen
    /// already (the first occurrence, in file order, wins).
    pub async fn compact(&self, table: Table) -> Result<MaintenanceReport, StorageError> {
        let mut report = MaintenanceReport::default();
        let files = self.list_files(table).await?;
        let mut by_partition: BTreeMap<(String, String), Vec<TableFile>> = BTreeMap::new();
        for f in files {
            by_partition.entry((f.service.clone(), f.date.clone())).or_default().push(f);
        }
        for ((service, date), files) in by_partition {
            if files.len() < 2 {
                continue;
            }
            let mut batches = Vec::new();
            for f in &files {
                batches.extend(self.read_file(&f.path).await?);
            }
            let schema = table.schema();
            let all = concat_batches(&schema, &batches)?;
            let (deduped, dropped) = dedupe(&all, key_columns(table))?;
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for f in &files {
                h.update(f.path.as_ref().as_bytes());
            }
            let target = self.partition(table, &service, &date).join(format!("compacted-{:016x}.parquet", h.digest()));
            // Write the merged file first, then remove the inputs: a crash in between leaves
            // duplicates (removed by the next compaction), never a loss.
            self.write_file(&target, &deduped).await?;
            report.files_written += 1;
            for f in files.iter().filter(|f| f.path != target) {
                self.inner.delete(&f.path).await.map_err(StorageError::os(&f.path))?;
                report.files_removed += 1;
            }
            report.rows_dropped += dropped as u64;
        }
        Ok(report)
    }

    /// Deletes partitions older than the policy allows, as of `now_ms` (pass the clock in, so it
    /// can be tested). A partition expires when its whole day is older than the retention.
    pub async fn apply_retention(
        &self,
        now_ms: EventTime,
        policy: &RetentionPolicy,
    ) -> Result<MaintenanceReport, StorageError> {
        self.retention(now_ms, policy, true).await
    }

    /// What [`Store::apply_retention`] would delete, as the same report, deleting nothing.
    pub async fn preview_retention(
        &self,
        now_ms: EventTime,
        policy: &RetentionPolicy,
    ) -> Result<MaintenanceReport, StorageError> {
        self.retention(now_ms, policy, false).await
    }

    async fn retention(
        &self,
        now_ms: EventTime,
        policy: &RetentionPolicy,
        delete: bool,
    ) -> Result<MaintenanceReport, StorageError> {
        let mut report = MaintenanceReport::default();
        for table in Table::ALL {
            // Saturating: a retention longer than the clock keeps everything (a wrapped product
            // once deleted every file).
            let keep_ms = policy.days(table).saturating_mul(86_400_000);
            let cutoff = date_of(now_ms.saturating_sub(keep_ms));
            for f in self.list_files(table).await? {
                // ISO dates compare lexicographically.
                if f.date.as_str() >= cutoff.as_str() {
                    continue;
                }
                let batches = self.read_file(&f.path).await.unwrap_or_default();
                report.rows_dropped += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                if table == Table::Capsules {
                    for b in &batches {
                        if let Some(ids) =
                            b.column_by_name("capsule_id").and_then(|c| c.as_any().downcast_ref::<StringArray>())
                        {
                            report.deleted_capsule_ids.extend(ids.iter().flatten().map(str::to_string));
                        }
                    }
                }
                if delete {
                    self.inner.delete(&f.path).await.map_err(StorageError::os(&f.path))?;
                }
                report.files_removed += 1;
            }
        }
        Ok(report)
    }

    /// Reads every row of a table (all partitions), with `service` and `date` added from the
    /// path. Meant for tests and small tables; use the SQL catalog for queries.
    pub async fn read_table(&self, table: Table) -> Result<Vec<(TableFile, RecordBatch)>, StorageError> {
        let mut out = Vec::new();
        for f in self.list_files(table).await? {
            for b in self.read_file(&f.path).await? {
                out.push((f.clone(), b));
            }
        }
        Ok(out)
    }

    /// Reads every file of a table and returns the ones that fail, with the reason. Used to name
    /// the culprit when a query over the table fails.
    pub async fn verify(&self, table: Table) -> Result<Vec<(String, String)>, StorageError> {
        let mut bad = Vec::new();
        for f in self.list_files(table).await? {
            if let Err(e) = self.read_file(&f.path).await {
                bad.push((f.path.to_string(), e.to_string()));
            }
        }
        Ok(bad)
    }

    /// Ties the store's capsules to one window length: the first writer records `size_ms`
    /// (blob [`WINDOW_BLOB`]); a later run with another length is
    /// [`StorageError::WindowMismatch`], naming the store's, since capsules of two window
    /// lengths over the same events would count them twice. A store written before the blob
    /// existed takes the length of its capsules.
    pub async fn claim_window_size(&self, size_ms: u64) -> Result<(), StorageError> {
        let store_ms = match self.get_blob(WINDOW_BLOB).await? {
            Some(bytes) => {
                let record = serde_json::from_slice::<WindowRecord>(&bytes)
                    .map_err(|e| StorageError::Schema(format!("{WINDOW_BLOB}: {e}")))?;
                if record.window_ms != size_ms {
                    return Err(StorageError::WindowMismatch { store_ms: record.window_ms, run_ms: size_ms });
                }
                return Ok(());
            }
            None => self.read_capsules(None).await?.first().map(|c| c.window_end_ms.saturating_sub(c.window_start_ms)),
        };
        if let Some(store_ms) = store_ms.filter(|ms| *ms != size_ms) {
            return Err(StorageError::WindowMismatch { store_ms, run_ms: size_ms });
        }
        let record = serde_json::to_vec(&WindowRecord { window_ms: size_ms })
            .map_err(|e| StorageError::Schema(e.to_string()))?;
        self.put_blob(WINDOW_BLOB, record).await
    }

    /// Stores an opaque blob (the vector index) under `_index/NAME`.
    pub async fn put_blob(&self, name: &str, data: Vec<u8>) -> Result<(), StorageError> {
        let path = self.root.clone().join("_index").join(name);
        self.inner.put(&path, PutPayload::from(Bytes::from(data))).await.map_err(StorageError::os(&path))?;
        Ok(())
    }

    /// Deletes a blob; absent is fine.
    pub async fn delete_blob(&self, name: &str) -> Result<(), StorageError> {
        let path = self.root.clone().join("_index").join(name);
        match self.inner.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::ObjectStore { path: path.to_string(), source: e }),
        }
    }

    /// Names of the blobs whose name starts with `prefix`, sorted.
    pub async fn list_blobs(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let dir = self.root.clone().join("_index");
        let metas: Vec<_> = match self.inner.list(Some(&dir)).try_collect().await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(StorageError::ObjectStore { path: dir.to_string(), source: e }),
        };
        let mut names: Vec<String> = metas
            .iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Reads a blob stored with [`Store::put_blob`]; `None` when absent.
    pub async fn get_blob(&self, name: &str) -> Result<Option<Bytes>, StorageError> {
        let path = self.root.clone().join("_index").join(name);
        match self.inner.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(StorageError::os(&path))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::ObjectStore { path: path.to_string(), source: e }),
        }
    }
}

/// Encodes one batch as a Parquet file: zstd, bounded row groups, bloom filters on the lookup
/// keys, and no dictionary for the (unique) id columns, where it only costs time.
fn encode_parquet(path: &Path, batch: &RecordBatch) -> Result<Bytes, StorageError> {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(StorageError::pq(path))?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Point lookups (a capsule by fingerprint, a trace by id) skip row groups by bloom
        // filter; columns absent from a table are ignored.
        .set_column_bloom_filter_enabled(ColumnPath::from("fingerprint"), true)
        .set_column_bloom_filter_enabled(ColumnPath::from("trace_id"), true);
    for id in ["span_id", "parent_span_id", "event_id", "capsule_id"] {
        props = props.set_column_dictionary_enabled(ColumnPath::from(id), false);
    }
    let mut writer =
        ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props.build())).map_err(StorageError::pq(path))?;
    writer.write(batch).map_err(StorageError::pq(path))?;
    Ok(Bytes::from(writer.into_inner().map_err(StorageError::pq(path))?))
}

/// `f` over `items` on up to one thread per core (at most one per item), results in order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let f = &f;
    let mut slots: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    items.iter().enumerate().skip(t).step_by(threads).map(|(i, item)| (i, f(item))).collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("a parallel_map thread panicked") {
                slots[i] = Some(r);
            }
        }
    });
    slots.into_iter().map(|r| r.expect("every item mapped")).collect()
}

/// Checks the Parquet trailer (metadata length + `PAR1`) before the decoder sees the file: a
/// corrupt length field must be an error naming the file, never an arithmetic overflow inside
/// the decoder.
fn check_footer(bytes: &[u8]) -> Result<(), String> {
    let n = bytes.len();
    if n < 12 || &bytes[..4] != b"PAR1" || &bytes[n - 4..] != b"PAR1" {
        return Err("not a Parquet file (missing PAR1 magic): truncated or corrupt".into());
    }
    let len = u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]) as usize;
    if len + 12 > n {
        return Err(format!("footer claims {len} bytes of metadata in a {n}-byte file: truncated or corrupt"));
    }
    Ok(())
}

/// Keeps the first row of each key; returns the rows kept and the number dropped.
fn dedupe(batch: &RecordBatch, keys: &[&str]) -> Result<(RecordBatch, usize), StorageError> {
    let cols: Vec<&dyn Array> = keys
        .iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .map(|c| c.as_ref())
                .ok_or_else(|| StorageError::Schema(format!("key column {k} missing")))
        })
        .collect::<Result<_, _>>()?;
    let mut seen = BTreeSet::new();
    let mut keep = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let key: Vec<String> = cols
            .iter()
            .map(|c| {
                if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
                    s.value(i).to_string()
                } else if let Some(t) = c.as_any().downcast_ref::<TimestampMillisecondArray>() {
                    t.value(i).to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        keep.push(seen.insert(key));
    }
    let mask = arrow::array::BooleanArray::from(keep);
    let kept = arrow::compute::filter_record_batch(batch, &mask)?;
    let dropped = batch.num_rows() - kept.num_rows();
    Ok((kept, dropped))
}
