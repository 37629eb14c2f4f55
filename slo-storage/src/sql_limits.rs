//! Memory bounds for SQL that a memory pool cannot see.
//!
//! DataFusion's memory pool accounts for operators that buffer (sorts, joins, aggregations),
//! not for the values a scalar function returns: `SELECT repeat('x', 1e9)` allocated 3.9 GB
//! before anything was accounted. The string functions whose output size is an argument
//! (`repeat`, `lpad`, `rpad`) are therefore wrapped: before the built-in runs, the size it would
//! produce is computed from its arguments, and a value over [`MAX_SQL_VALUE_BYTES`] or a batch
//! over [`MAX_SQL_BATCH_BYTES`] is an error that says so.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array};
use arrow::datatypes::{DataType, FieldRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

/// The largest string one call of a bounded function may return (64 MiB).
pub const MAX_SQL_VALUE_BYTES: u64 = 64 << 20;
/// The most bytes one call of a bounded function may return over a batch (256 MiB).
pub const MAX_SQL_BATCH_BYTES: u64 = 256 << 20;

/// How a function's output size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Size {
    /// `repeat(text, n)`: `len(text) × n` bytes.
    Repeat,
    /// `lpad/rpad(text, n [, fill])`: `n` characters (at most 4 bytes each).
    Pad,
}

/// A built-in function behind a size check.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: ScalarUDF,
    size: Size,
}

/// Per-row values of an argument as `i64` (strings: their byte length), `None` for NULL.
fn per_row(arg: &ColumnarValue, rows: usize, lengths: bool) -> Result<Vec<Option<i64>>> {
    let array: ArrayRef = match arg {
        ColumnarValue::Array(a) => a.clone(),
        ColumnarValue::Scalar(s) => s.to_array_of_size(1)?,
    };
    let values = if lengths { arrow::compute::kernels::length::length(&array)? } else { array };
    let values = arrow::compute::cast(&values, &DataType::Int64)?;
    let values = values
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| DataFusionError::Internal("cast to Int64 failed".into()))?;
    let get = |i: usize| (!values.is_null(i)).then(|| values.value(i));
    Ok(match arg {
        ColumnarValue::Scalar(_) => vec![get(0); rows.max(1)],
        ColumnarValue::Array(_) => (0..values.len()).map(get).collect(),
    })
}

impl Bounded {
    fn check(&self, args: &ScalarFunctionArgs) -> Result<()> {
        let (Some(text), Some(n)) = (args.args.first(), args.args.get(1)) else { return Ok(()) };
        let counts = per_row(n, args.number_rows, false)?;
        let lens = match self.size {
            Size::Repeat => per_row(text, args.number_rows, true)?,
            Size::Pad => vec![Some(4); counts.len()],
        };
        let mut total: u64 = 0;
        for (len, n) in lens.iter().zip(&counts) {
            let (Some(len), Some(n)) = (len, n) else { continue };
            let bytes = (*len).max(0).unsigned_abs().saturating_mul(n.max(&0).unsigned_abs());
            total = total.saturating_add(bytes);
            if bytes > MAX_SQL_VALUE_BYTES || total > MAX_SQL_BATCH_BYTES {
                return Err(DataFusionError::ResourcesExhausted(format!(
                    "{}: the result would take {} bytes{}, above the limit of {} bytes per value and {} per batch",
                    self.inner.name(),
                    bytes.max(total),
                    if bytes > MAX_SQL_VALUE_BYTES { "" } else { " over the batch" },
                    MAX_SQL_VALUE_BYTES,
                    MAX_SQL_BATCH_BYTES
                )));
            }
        }
        Ok(())
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.check(&args)?;
        self.inner.invoke_with_args(args)
    }
}

/// Replaces the session's `repeat`, `lpad` and `rpad` with size-checked versions.
pub(crate) fn bound_string_functions(ctx: &datafusion::execution::context::SessionContext) -> Result<()> {
    use datafusion::execution::FunctionRegistry;
    for (name, size) in [("repeat", Size::Repeat), ("lpad", Size::Pad), ("rpad", Size::Pad)] {
        let inner = ctx.udf(name)?;
        ctx.register_udf(ScalarUDF::new_from_impl(Bounded { inner: Arc::unwrap_or_clone(inner), size }));
    }
    Ok(())
}
