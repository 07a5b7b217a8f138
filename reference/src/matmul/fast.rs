//! The fast CPU matmul: blocked, rayon-parallel, SIMD across output columns.
//!
//! It computes the tree of [`super::dot`] exactly. The K blocking *is* the contract's
//! `KC`: a chunk's chain lives in registers (`MR × NR` accumulators from +0, one fma per
//! k in order), and its partial is then added to the running total of that output, which
//! lives in the f32 result buffer. Vectorisation is across columns `j`, parallelism across
//! column blocks, so no reduction is ever reordered.
//!
//! The tensor-core step has no SIMD form here; its fast path runs the literal per-output
//! chain in parallel across rows.

use super::kstep::{KStep, MmaSm90Step};
use super::{check, dot, round_out};
use crate::contract::{Contract, KStepKind};
use crate::dtype::Element;
use crate::error::{Error, Result};
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

const MR: usize = 4;
const NR: usize = 16;
/// Columns per parallel task.
const NC: usize = 128;

/// `C = A·B`, equal to [`super::mm`] bit for bit.
pub fn mm_fast<T: Element, O: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> Result<Array2<O>> {
    check::<T>("mm", c, a.dim(), b.dim(), None)?;
    Ok(round_out(run(c, a, b, None)))
}

/// `C = A·B + bias`, equal to [`super::addmm`] bit for bit.
pub fn addmm_fast<T: Element, O: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> Result<Array2<O>> {
    check::<T>("addmm", c, a.dim(), b.dim(), Some(bias.len()))?;
    Ok(round_out(run(c, a, b, Some(bias))))
}

/// `C[p] = A[p]·B[p]`, equal to [`super::bmm`] bit for bit.
pub fn bmm_fast<T: Element, O: Element>(c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> Result<Array3<O>> {
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
        let r = run(c, a.index_axis(Axis(0), p), b.index_axis(Axis(0), p), None);
        out.index_axis_mut(Axis(0), p).assign(&round_out::<O, _>(r));
    }
    Ok(out)
}

fn run<T: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: Option<ArrayView1<f32>>) -> Array2<f32> {
    let mut out = match c.kstep {
        KStepKind::Fma => fma_blocked(c.kc, a, b),
        KStepKind::MmaSm90 => per_output::<MmaSm90Step, T>(c.kc, a, b),
    };
    if let Some(bias) = bias {
        out.axis_iter_mut(Axis(0)).into_par_iter().for_each(|mut row| {
            for (t, &bj) in row.iter_mut().zip(bias.iter()) {
                *t += bj;
            }
        });
    }
    out
}

fn per_output<S: KStep, T: Element>(kc: Option<usize>, a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<f32> {
    let a = a.as_standard_layout();
    let bt = b.t().as_standard_layout().into_owned();
    let (m, n) = (a.nrows(), b.ncols());
    let mut out = Array2::<f32>::zeros((m, n));
    out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(i, mut row)| {
        let ai = a.row(i);
        let ai = ai.as_slice().unwrap();
        for (j, o) in row.iter_mut().enumerate() {
            *o = dot::<S, T>(kc, ai, bt.row(j).as_slice().unwrap());
        }
    });
    out
}

/// The blocked fma tree. `out` holds running totals between chunks.
fn fma_blocked<T: Element>(kc: Option<usize>, a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<f32> {
    let (m, k) = a.dim();
    let n = b.ncols();
    let kc = kc.unwrap_or(k).max(1);
    // Widen once (exact) into row-major f32.
    let a32: Vec<f32> = a.iter().map(|x| x.to_f32()).collect();
    let b32: Vec<f32> = b.iter().map(|x| x.to_f32()).collect();
    let blocks: Vec<usize> = (0..n).step_by(NC).collect();
    let cols: Vec<Vec<f32>> = blocks
        .par_iter()
        .map(|&j0| {
            let nc = NC.min(n - j0);
            let mut tot = vec![0.0f32; m * nc];
            let panels = nc.div_ceil(NR);
            let mut pack = vec![0.0f32; panels * kc * NR];
            for (ci, k0) in (0..k).step_by(kc).enumerate() {
                let kl = kc.min(k - k0);
                // Pack B[k0..k0+kl, j0..j0+nc] as NR-wide panels, zero-padded on the right.
                for p in 0..panels {
                    for kk in 0..kl {
                        let dst = &mut pack[(p * kc + kk) * NR..(p * kc + kk + 1) * NR];
                        let src = (k0 + kk) * n + j0 + p * NR;
                        let w = NR.min(nc - p * NR);
                        dst[..w].copy_from_slice(&b32[src..src + w]);
                        dst[w..].fill(0.0);
                    }
                }
                let mut i = 0;
                while i < m {
                    let mr = MR.min(m - i);
                    for p in 0..panels {
                        let w = NR.min(nc - p * NR);
                        let acc = chunk_kernel(&a32, k, i, mr, k0, kl, &pack[p * kc * NR..]);
                        for r in 0..mr {
                            let t = &mut tot[(i + r) * nc + p * NR..(i + r) * nc + p * NR + w];
                            for (tv, &av) in t.iter_mut().zip(&acc[r][..w]) {
                                *tv = if ci == 0 { av } else { *tv + av };
                            }
                        }
                    }
                    i += mr;
                }
            }
            tot
        })
        .collect();
    let mut out = Array2::<f32>::zeros((m, n));
    for (&j0, tot) in blocks.iter().zip(&cols) {
        let nc = NC.min(n - j0);
        for i in 0..m {
            out.row_mut(i).as_slice_mut().unwrap()[j0..j0 + nc].copy_from_slice(&tot[i * nc..(i + 1) * nc]);
        }
    }
    out
}

/// One chunk's chains for `mr ≤ MR` rows × `NR` columns, from +0.
fn chunk_kernel(a: &[f32], k: usize, i: usize, mr: usize, k0: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { chunk_kernel_avx2(a, k, i, mr, k0, kl, panel) };
        }
    }
    chunk_kernel_generic(a, k, i, mr, k0, kl, panel)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_kernel_avx2(a: &[f32], k: usize, i: usize, mr: usize, k0: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    chunk_kernel_generic(a, k, i, mr, k0, kl, panel)
}

#[inline(always)]
fn chunk_kernel_generic(a: &[f32], k: usize, i: usize, mr: usize, k0: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    let rows: [&[f32]; MR] = std::array::from_fn(|r| {
        let row = i + r.min(mr - 1);
        &a[row * k + k0..row * k + k0 + kl]
    });
    for kk in 0..kl {
        let bv: &[f32; NR] = panel[kk * NR..(kk + 1) * NR].try_into().unwrap();
        for r in 0..MR {
            let av = rows[r][kk];
            for c in 0..NR {
                acc[r][c] = av.mul_add(bv[c], acc[r][c]);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::FMA_V1;

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn fast_fma_equals_literal_on_ragged_shapes() {
        for &(m, k, n) in &[(1, 1, 1), (3, 257, 17), (5, 513, 130), (9, 255, 33), (1, 1000, 300)] {
            let a = Array2::from_shape_vec((m, k), pseudo(m * k, 1)).unwrap();
            let b = Array2::from_shape_vec((k, n), pseudo(k * n, 2)).unwrap();
            let bias = ndarray::Array1::from_vec(pseudo(n, 3));
            let lit: Array2<f32> = super::super::addmm(&FMA_V1, a.view(), b.view(), bias.view()).unwrap();
            let fast: Array2<f32> = addmm_fast(&FMA_V1, a.view(), b.view(), bias.view()).unwrap();
            assert!(lit.iter().zip(fast.iter()).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n}");
        }
    }
}
