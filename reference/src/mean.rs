//! sum and mean over the last dimension (docs/spec/mean.md).
//!
//! `s = lane_reduce::<Sum>(L, x)`; sum: `y = s`; mean: `y = s / H` (IEEE division by the
//! width converted to f32). Rounded to the output type. Output shape `[rows, 1]`.

use crate::error::Result;
use crate::reduce::{check_rows, widen2, Path, Sum};
use crate::{Contract, Element};
use ndarray::{Array2, ArrayView2};

fn mean_path<T: Element, O: Element>(path: Path, op: &'static str, c: &Contract, x: ArrayView2<T>, divide: bool) -> Result<Array2<O>> {
    check_rows(op, c, x.nrows(), x.ncols())?;
    let h = x.ncols() as f32;
    Ok(path
        .map_rows(widen2(x).view(), 1, |_, xr, yr| {
            let s = path.reduce::<Sum>(c.lanes, xr);
            yr[0] = if divide { s / h } else { s };
        })
        .mapv(O::from_f32))
}

/// Row sums: the definition.
pub fn sum<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    mean_path(Path::Literal, "sum", c, x, false)
}
/// [`sum`] with rows in parallel; equal bit for bit.
pub fn sum_fast<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    mean_path(Path::Fast, "sum", c, x, false)
}
/// Row means: the definition.
pub fn mean<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    mean_path(Path::Literal, "mean", c, x, true)
}
/// [`mean`] with rows in parallel; equal bit for bit.
pub fn mean_fast<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    mean_path(Path::Fast, "mean", c, x, true)
}
