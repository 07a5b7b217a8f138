//! RMSNorm, with and without a fused residual add (docs/spec/rmsnorm.md).
//!
//! For a row `x` of width `H`, weight `w`, epsilon `eps`:
//! 1. (residual form only) `h_i = round_T(x_i + r_i)`: one f32 add, rounded to the storage
//!    type `T`; `h` is returned as the new residual stream and normalised below.
//! 2. `ss = lane_reduce::<SumSq>(L, x)`: each lane `fma(x_i, x_i, acc)`.
//! 3. `ms = ss / H` (IEEE division by `H` converted to f32).
//! 4. `r = rsqrt(ms + eps)` with [`crate::elementwise::rsqrt`] (`1 / sqrt`, two roundings).
//! 5. `y_i = (x_i * r) * w_i`: two roundings, in that order.
//! 6. `y_i` rounded to the output type.

use crate::elementwise::rsqrt;
use crate::error::{Error, Result};
use crate::reduce::{check_rows, widen2, Path, SumSq};
use crate::{Contract, Element};
use ndarray::{Array2, ArrayView1, ArrayView2};

/// Parameters of [`rmsnorm`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsnormParams {
    pub eps: f32,
}

/// The input checks of both forms; public so that other backends (lockstep-gpu) reject the
/// same inputs with the same errors.
pub fn check<T: Element>(op: &'static str, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> Result<()> {
    check_rows(op, c, x.nrows(), x.ncols())?;
    if w.len() != x.ncols() {
        return Err(Error::shape(
            op,
            format!("input is {}×{} but weight has {} elements", x.nrows(), x.ncols(), w.len()),
        ));
    }
    if p.eps.is_nan() || p.eps < 0.0 || !p.eps.is_finite() {
        return Err(Error::param(op, format!("eps = {} must be finite and ≥ 0", p.eps)));
    }
    Ok(())
}

fn run(path: Path, c: &Contract, x: ArrayView2<f32>, w: &[f32], eps: f32) -> Array2<f32> {
    let h = x.ncols() as f32;
    path.map_rows(x, x.ncols(), |_, xr, yr| {
        let ss = path.reduce::<SumSq>(c.lanes, xr);
        let r = rsqrt(ss / h + eps);
        for ((y, &xi), &wi) in yr.iter_mut().zip(xr).zip(w) {
            *y = (xi * r) * wi;
        }
    })
}

fn rmsnorm_path<T: Element, O: Element>(path: Path, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> Result<Array2<O>> {
    check("rmsnorm", c, x, w, p)?;
    let w: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
    Ok(run(path, c, widen2(x).view(), &w, p.eps).mapv(O::from_f32))
}

fn rmsnorm_residual_path<T: Element, O: Element>(
    path: Path,
    c: &Contract,
    x: ArrayView2<T>,
    residual: ArrayView2<T>,
    w: ArrayView1<T>,
    p: RmsnormParams,
) -> Result<(Array2<O>, Array2<T>)> {
    check("rmsnorm_residual", c, x, w, p)?;
    if residual.dim() != x.dim() {
        return Err(Error::shape(
            "rmsnorm_residual",
            format!("input is {:?} but residual is {:?}", x.dim(), residual.dim()),
        ));
    }
    let mut h = Array2::<T>::from_elem(x.dim(), T::from_f32(0.0));
    ndarray::Zip::from(&mut h)
        .and(&x)
        .and(&residual)
        .for_each(|h, &a, &b| *h = T::from_f32(a.to_f32() + b.to_f32()));
    let w: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
    let y = run(path, c, widen2(h.view()).view(), &w, p.eps).mapv(O::from_f32);
    Ok((y, h))
}

/// RMSNorm of every row: the definition.
pub fn rmsnorm<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> Result<Array2<O>> {
    rmsnorm_path(Path::Literal, c, x, w, p)
}

/// [`rmsnorm`] with rows in parallel; equal bit for bit.
pub fn rmsnorm_fast<T: Element, O: Element>(c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> Result<Array2<O>> {
    rmsnorm_path(Path::Fast, c, x, w, p)
}

/// Fused residual add + RMSNorm: returns `(y, h)` with `h = round_T(x + residual)`.
pub fn rmsnorm_residual<T: Element, O: Element>(
    c: &Contract,
    x: ArrayView2<T>,
    residual: ArrayView2<T>,
    w: ArrayView1<T>,
    p: RmsnormParams,
) -> Result<(Array2<O>, Array2<T>)> {
    rmsnorm_residual_path(Path::Literal, c, x, residual, w, p)
}

/// [`rmsnorm_residual`] with rows in parallel; equal bit for bit.
pub fn rmsnorm_residual_fast<T: Element, O: Element>(
    c: &Contract,
    x: ArrayView2<T>,
    residual: ArrayView2<T>,
    w: ArrayView1<T>,
    p: RmsnormParams,
) -> Result<(Array2<O>, Array2<T>)> {
    rmsnorm_residual_path(Path::Fast, c, x, residual, w, p)
}
