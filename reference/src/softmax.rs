//! softmax and log_softmax over the last dimension (docs/spec/softmax.md).
//!
//! For a row `x` of width `H`:
//! 1. `m = lane_reduce::<Max>(L, x)` (NaN if any element is NaN).
//! 2. `d_i = x_i - m` (one IEEE subtraction).
//! 3. `e_i = exp(d_i)` with [`crate::elementwise::exp`].
//! 4. `s = lane_reduce::<Sum>(L, e)`.
//! 5. softmax: `y_i = e_i / s`; log_softmax: `y_i = d_i - log(s)` with
//!    [`crate::elementwise::log`] (log(s) computed once per row).
//! 6. `y_i` rounded to the output type.

use crate::elementwise::{exp, log};
use crate::error::Result;
use crate::reduce::{check_rows, widen2, Max, Path, Sum};
use crate::{Contract, Element};
use ndarray::{Array2, ArrayView2};

fn run(path: Path, c: &Contract, x: ArrayView2<f32>, log_form: bool) -> Array2<f32> {
    path.map_rows(x, x.ncols(), |_, xr, yr| {
        let m = path.reduce::<Max>(c.lanes, xr);
        for (y, &xi) in yr.iter_mut().zip(xr) {
            *y = exp(xi - m);
        }
        let s = path.reduce::<Sum>(c.lanes, yr);
        if log_form {
            let ls = log(s);
            for (y, &xi) in yr.iter_mut().zip(xr) {
                *y = (xi - m) - ls;
            }
        } else {
            for y in yr.iter_mut() {
                *y /= s;
            }
        }
    })
}

fn softmax_path<T: Element, O: Element>(path: Path, op: &'static str, c: &Contract, x: ArrayView2<T>, log_form: bool) -> Result<Array2<O>> {
    check_rows(op, c, x.nrows(), x.ncols())?;
    Ok(run(path, c, widen2(x).view(), log_form).mapv(O::from_f32))
}

/// softmax of every row: the definition.
pub fn softmax<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    softmax_path(Path::Literal, "softmax", c, x, false)
}
/// [`softmax`] with rows in parallel; equal bit for bit.
pub fn softmax_fast<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    softmax_path(Path::Fast, "softmax", c, x, false)
}
/// log_softmax of every row: the definition.
pub fn log_softmax<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    softmax_path(Path::Literal, "log_softmax", c, x, true)
}
/// [`log_softmax`] with rows in parallel; equal bit for bit.
pub fn log_softmax_fast<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
    softmax_path(Path::Fast, "log_softmax", c, x, true)
}
