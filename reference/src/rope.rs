//! Rotary position embedding, "rotate-half" layout (docs/spec/rope.md).
//!
//! Tables: for `i < d/2`, `theta_i = base^(-2i/d)` and `angle = pos · theta_i`, both in
//! binary64 with the `libm` crate's `pow`, `cos` and `sin` (a pure-Rust libm, so the table
//! is the same on every platform), each value then rounded once to f32.
//!
//! Application to a head vector `x` of dimension `d`, with `c = cos[pos][i]`,
//! `s = sin[pos][i]`, `a = x_i`, `b = x_{i+d/2}`:
//! `y_i = (a*c) - (b*s)` and `y_{i+d/2} = (b*c) + (a*s)`: two products, one add, each
//! rounded (no fma).

use crate::error::{Error, Result};
use crate::Element;
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

/// Parameters of the rotary tables.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeParams {
    /// Head dimension `d` (even).
    pub dim: usize,
    /// `base` (10000 for Llama 2, 500000 for Llama 3).
    pub base: f64,
}

/// `(cos, sin)`, each `[max_pos, d/2]`.
pub fn rope_tables(p: RopeParams, max_pos: usize) -> Result<(Array2<f32>, Array2<f32>)> {
    if p.dim == 0 || !p.dim.is_multiple_of(2) {
        return Err(Error::param("rope", format!("head dimension {} must be even and positive", p.dim)));
    }
    if p.base.is_nan() || p.base <= 1.0 || !p.base.is_finite() {
        return Err(Error::param("rope", format!("base {} must be finite and > 1", p.base)));
    }
    let half = p.dim / 2;
    let theta: Vec<f64> = (0..half).map(|i| libm::pow(p.base, -((2 * i) as f64) / p.dim as f64)).collect();
    let cos = Array2::from_shape_fn((max_pos, half), |(t, i)| libm::cos(t as f64 * theta[i]) as f32);
    let sin = Array2::from_shape_fn((max_pos, half), |(t, i)| libm::sin(t as f64 * theta[i]) as f32);
    Ok((cos, sin))
}

fn rotate(x: &[f32], c: &[f32], s: &[f32], y: &mut [f32]) {
    let h = x.len() / 2;
    for i in 0..h {
        let (a, b) = (x[i], x[i + h]);
        y[i] = (a * c[i]) - (b * s[i]);
        y[i + h] = (b * c[i]) + (a * s[i]);
    }
}

fn rope_path<T: Element, O: Element>(parallel: bool, x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> Result<Array3<O>> {
    let (tokens, heads, d) = x.dim();
    if tokens == 0 || heads == 0 || d == 0 {
        return Err(Error::empty(
            "rope",
            format!("x is {tokens}×{heads}×{d}: tokens, heads and head dim must be at least 1"),
        ));
    }
    if pos.len() != tokens {
        return Err(Error::shape("rope", format!("x has {tokens} tokens but {} positions were given", pos.len())));
    }
    if d % 2 != 0 || cos.ncols() * 2 != d || cos.dim() != sin.dim() {
        return Err(Error::shape(
            "rope",
            format!("x has head dim {d} but the tables are {:?} and {:?}", cos.dim(), sin.dim()),
        ));
    }
    if let Some(&bad) = pos.iter().find(|&&p| p < 0 || p as usize >= cos.nrows()) {
        return Err(Error::param("rope", format!("position {bad} outside the table of {} positions", cos.nrows())));
    }
    let mut out = Array3::<O>::from_elem((tokens, heads, d), O::from_f32(0.0));
    let body = |(t, mut ot): (usize, ndarray::ArrayViewMut2<O>)| {
        let p = pos[t] as usize;
        let (c, s) = (cos.row(p).to_vec(), sin.row(p).to_vec());
        let mut xv = vec![0.0f32; d];
        let mut yv = vec![0.0f32; d];
        for h in 0..heads {
            for (dst, v) in xv.iter_mut().zip(x.slice(ndarray::s![t, h, ..])) {
                *dst = v.to_f32();
            }
            rotate(&xv, &c, &s, &mut yv);
            for (o, &y) in ot.row_mut(h).iter_mut().zip(&yv) {
                *o = O::from_f32(y);
            }
        }
    };
    if parallel {
        out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(body);
    } else {
        out.axis_iter_mut(Axis(0)).enumerate().for_each(body);
    }
    Ok(out)
}

/// RoPE on `x: [tokens, heads, d]` at positions `pos`: the definition.
pub fn rope<T: Element, O: Element>(x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> Result<Array3<O>> {
    rope_path(false, x, pos, cos, sin)
}

/// [`rope`] with tokens in parallel; equal bit for bit.
pub fn rope_fast<T: Element, O: Element>(x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> Result<Array3<O>> {
    rope_path(true, x, pos, cos, sin)
}
