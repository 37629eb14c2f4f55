//! Helpers for the SQL the advisor runs over the store (DataFusion): quoting literals and
//! reading typed columns of the result batches.

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use slo_dataflow::event::SpanStatus;

use crate::error::AdvisorError;

/// A SQL string literal: single-quoted, inner quotes doubled.
pub(crate) fn sql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The span status of the store's `status` column value.
pub(crate) fn status_of(s: &str) -> Option<SpanStatus> {
    match s {
        "ok" => Some(SpanStatus::Ok),
        "error" => Some(SpanStatus::Error),
        "unset" => Some(SpanStatus::Unset),
        _ => None,
    }
}

/// A result column as strings (cast when it is another type); all nulls when the cast gives none.
pub(crate) fn string_column(batch: &RecordBatch, name: &str) -> Result<StringArray, AdvisorError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| slo_storage::StorageError::Schema(format!("spans query: column {name} missing")))?;
    let cast: ArrayRef = arrow::compute::cast(col, &DataType::Utf8)?;
    Ok(cast
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .unwrap_or_else(|| StringArray::from(vec![None::<&str>; batch.num_rows()])))
}

/// A result column cast to `ty` and taken as the array type `T`.
pub(crate) fn typed_column<T: Array + Clone + 'static>(
    batch: &RecordBatch,
    name: &str,
    ty: &DataType,
) -> Result<T, AdvisorError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| slo_storage::StorageError::Schema(format!("spans query: column {name} missing")))?;
    let cast = arrow::compute::cast(col, ty)?;
    cast.as_any().downcast_ref::<T>().cloned().ok_or_else(|| {
        AdvisorError::from(slo_storage::StorageError::Schema(format!(
            "spans query: column {name} has type {}",
            col.data_type()
        )))
    })
}
