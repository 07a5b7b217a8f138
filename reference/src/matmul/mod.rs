//! The matmul family: `mm`, `addmm`, `bmm` (docs/spec/matmul.md).
//!
//! For every output element `C[i, j]` the tree is:
//! 1. K is cut into chunks of `KC` (the contract's `kc`; `None`: one chunk of all of K).
//! 2. Each chunk is a chain over its k in order, from `acc = +0`, through the contract's
//!    k-step ([`kstep::FmaStep`] or [`kstep::MmaSm90Step`]).
//! 3. Chunk partials are added left to right with IEEE `+`: `t = p0; t = t + p1; …`.
//! 4. With a bias: `t = t + bias[j]` (one IEEE add).
//! 5. The f32 `t` is rounded once to the output type, to nearest even.
//!
//! `mm`/`addmm`/`bmm` here are the literal definition; `*_fast` are the blocked, rayon
//! paths, equal to them bit for bit.

pub mod fast;
pub mod kstep;
pub mod tensor_core;

use crate::contract::{Contract, KStepKind};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use kstep::{FmaStep, KStep, MmaSm90Step};
use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};

pub use fast::{addmm_fast, bmm_fast, mm_fast};

/// The tree for one output element over a row of A and a column of B (both length K).
pub fn dot<S: KStep, T: Element>(kc: Option<usize>, a: &[T], b: &[T]) -> f32 {
    let kc = kc.unwrap_or(a.len()).max(1);
    let mut total: Option<f32> = None;
    for (ca, cb) in a.chunks(kc).zip(b.chunks(kc)) {
        let partial = S::chain(0.0, ca, cb);
        total = Some(match total {
            None => partial,
            Some(t) => t + partial,
        });
    }
    total.unwrap_or(0.0)
}

/// Checks shared by every entry point (and by lockstep-gpu, so both backends reject the same
/// inputs with the same errors); returns (M, K, N).
pub fn check<T: Element>(op: &'static str, c: &Contract, a: (usize, usize), b: (usize, usize), bias: Option<usize>) -> Result<(usize, usize, usize)> {
    c.validate()?;
    let ((m, k), (k2, n)) = (a, b);
    if k != k2 {
        return Err(Error::shape(op, format!("A is {m}×{k} but B is {k2}×{n}: inner dimensions differ")));
    }
    if m == 0 || k == 0 || n == 0 {
        return Err(Error::empty(op, format!("A is {m}×{k}, B is {k2}×{n}: M, K and N must be at least 1")));
    }
    if let Some(len) = bias {
        if len != n {
            return Err(Error::shape(op, format!("bias has {len} elements but B has N = {n} columns")));
        }
    }
    if c.kstep == KStepKind::MmaSm90 && T::DTYPE == DType::F32 {
        return Err(Error::Unsupported {
            op,
            contract: c.id(),
            detail: "f32 inputs (the tensor-core step takes bf16 or f16)".into(),
        });
    }
    Ok((m, k, n))
}

/// Literal tree over a (M×K), B transposed (N×K), optional bias; the f32 results.
fn literal<S: KStep, T: Element>(kc: Option<usize>, a: ArrayView2<T>, bt: &Array2<T>, bias: Option<ArrayView1<f32>>) -> Array2<f32> {
    let a = a.as_standard_layout();
    Array2::from_shape_fn((a.nrows(), bt.nrows()), |(i, j)| {
        let t = dot::<S, T>(kc, a.row(i).as_slice().unwrap(), bt.row(j).as_slice().unwrap());
        match bias {
            Some(b) => t + b[j],
            None => t,
        }
    })
}

fn literal_any<T: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: Option<ArrayView1<f32>>) -> Array2<f32> {
    let bt = b.t().as_standard_layout().into_owned();
    match c.kstep {
        KStepKind::Fma => literal::<FmaStep, T>(c.kc, a, &bt, bias),
        KStepKind::MmaSm90 => literal::<MmaSm90Step, T>(c.kc, a, &bt, bias),
    }
}

/// Rounds the f32 results to the output type (nearest even).
pub fn round_out<O: Element, D: ndarray::Dimension>(x: ndarray::Array<f32, D>) -> ndarray::Array<O, D> {
    x.mapv(O::from_f32)
}

/// `C = A·B`. The definition of the matmul tree.
pub fn mm<T: Element, O: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> Result<Array2<O>> {
    check::<T>("mm", c, a.dim(), b.dim(), None)?;
    Ok(round_out(literal_any(c, a, b, None)))
}

/// `C = A·B + bias` (bias broadcast over rows, added after the whole chain).
pub fn addmm<T: Element, O: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> Result<Array2<O>> {
    check::<T>("addmm", c, a.dim(), b.dim(), Some(bias.len()))?;
    Ok(round_out(literal_any(c, a, b, Some(bias))))
}

/// `C[p] = A[p]·B[p]` for every batch entry p.
pub fn bmm<T: Element, O: Element>(c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> Result<Array3<O>> {
    bmm_with(c, a, b, |a, b| literal_any(c, a, b, None))
}

/// Checks a batched product and runs `product` (one matrix's f32 results) on every entry.
pub(crate) fn bmm_with<T: Element, O: Element>(
    c: &Contract,
    a: ArrayView3<T>,
    b: ArrayView3<T>,
    product: impl Fn(ArrayView2<T>, ArrayView2<T>) -> Array2<f32>,
) -> Result<Array3<O>> {
    let (ba, m, k) = a.dim();
    let (bb, k2, n) = b.dim();
    if ba != bb {
        return Err(Error::shape("bmm", format!("A has batch {ba} but B has batch {bb}")));
    }
    if ba == 0 {
        return Err(Error::empty("bmm", "batch of 0 matrices"));
    }
    check::<T>("bmm", c, (m, k), (k2, n), None)?;
    let mut out = Array3::<O>::from_elem((ba, m, n), O::from_f32(0.0));
    for p in 0..ba {
        let r = product(a.index_axis(Axis(0), p), b.index_axis(Axis(0), p));
        out.index_axis_mut(Axis(0), p).assign(&round_out::<O, _>(r));
    }
    Ok(out)
}

/// Convenience: a bias of the input type, widened exactly.
pub fn widen<T: Element>(v: ArrayView1<T>) -> Array1<f32> {
    v.mapv(T::to_f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Contract, FMA_V1};
    use ndarray::array;

    #[test]
    fn chunks_are_summed_left_to_right() {
        let c = Contract::custom(KStepKind::Fma, Some(2), 4, 4, 8).unwrap();
        let a = [1e8f32, 1.0, -1e8, 1.0];
        let b = [1.0f32; 4];
        // chunks: (1e8 + 1) = 1e8, (-1e8 + 1) = -1e8 + 1 rounded = -1e8 (ulp 8); sum 0.
        assert_eq!(dot::<FmaStep, f32>(c.kc, &a, &b), 0.0);
        // One chain: ((1e8 + 1) - 1e8) + 1 = 1.
        assert_eq!(dot::<FmaStep, f32>(None, &a, &b), 1.0);
    }

    #[test]
    fn shape_errors_name_the_shape() {
        let a = Array2::<f32>::zeros((2, 3));
        let b = Array2::<f32>::zeros((4, 5));
        let e = mm::<f32, f32>(&FMA_V1, a.view(), b.view()).unwrap_err();
        assert!(e.to_string().contains("2×3"), "{e}");
        let z = Array2::<f32>::zeros((0, 3));
        assert!(matches!(mm::<f32, f32>(&FMA_V1, z.view(), a.t()), Err(Error::Empty { .. })));
        let bias = array![1.0f32];
        assert!(addmm::<f32, f32>(&FMA_V1, a.view(), a.t(), bias.view()).is_err());
    }

    #[test]
    fn small_product_matches_hand_computation() {
        let a = array![[1.0f32, 2.0], [3.0, 4.0]];
        let b = array![[5.0f32, 6.0], [7.0, 8.0]];
        let c: Array2<f32> = addmm(&FMA_V1, a.view(), b.view(), array![0.5f32, -0.5].view()).unwrap();
        assert_eq!(c, array![[19.5f32, 21.5], [43.5, 49.5]]);
    }
}
