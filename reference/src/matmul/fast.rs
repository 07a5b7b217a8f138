//! The fast CPU matmul: blocked, rayon-parallel, SIMD across output columns.
//!
//! It computes the tree of [`super::dot`] exactly. The K blocking *is* the contract's
//! `KC`: a chunk's chain lives in registers (`MR × NR` accumulators from +0, one fma per
//! k in order), and its partial is then added to the running total of that output, which
//! lives in the f32 result buffer. Vectorisation is across columns `j`, parallelism across
//! column blocks, so no reduction is ever reordered.
//!
//! The tensor-core step has no SIMD form here. Its fast path decomposes every element of A
//! and B once ([`Operand::of`]) instead of once per output, and runs the tree of
//! [`super::dot`] per output over those operands, parallel across outputs.

use super::tensor_core::{mma_step_ops, Operand};
use super::{check, round_out};
use crate::contract::{Contract, KStepKind};
use crate::dtype::Element;
use crate::error::Result;
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

/// Rows per micro-tile (the kernel is instantiated for 1..=MR).
const MR: usize = 6;
/// Columns per micro-tile: two 512-bit (or four 256-bit) registers.
const NR: usize = 32;
/// Columns per parallel task.
const NC: usize = 256;
/// Rows per L2 block (a multiple of MR).
const MC: usize = 240;

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
    super::bmm_with(c, a, b, |a, b| run(c, a, b, None))
}

fn run<T: Element>(c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: Option<ArrayView1<f32>>) -> Array2<f32> {
    let mut out = match c.kstep {
        KStepKind::Fma => fma_blocked(c.kc, a, b),
        KStepKind::MmaSm90 => mma_per_output::<T>(c.kc, a, b),
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

/// The `mma-sm90` tree, as in [`super::dot`]: K in chunks of `KC` (`None`: one chunk), each
/// chunk a chain from +0 of tensor-core steps over 16 k at a time in order (the last one
/// short, i.e. zero-padded), the chunk partials added left to right with IEEE `+`.
fn mma_per_output<T: Element>(kc: Option<usize>, a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<f32> {
    let (m, k) = a.dim();
    let n = b.ncols();
    let kc = kc.unwrap_or(k).max(1);
    let w = KStepKind::MmaSm90.width();
    // Row i of A and column j of B, each decomposed once and contiguous (`iter` walks the
    // logical row-major order whatever the memory layout).
    let ad: Vec<Operand> = a.iter().map(|&x| Operand::of(x)).collect();
    let bd: Vec<Operand> = b.t().iter().map(|&x| Operand::of(x)).collect();
    let mut out = vec![0.0f32; m * n];
    out.par_iter_mut().enumerate().with_min_len(16).for_each(|(ij, o)| {
        let (i, j) = (ij / n, ij % n);
        let (ai, bj) = (&ad[i * k..(i + 1) * k], &bd[j * k..(j + 1) * k]);
        let mut total: Option<f32> = None;
        for (ca, cb) in ai.chunks(kc).zip(bj.chunks(kc)) {
            let mut acc = 0.0f32;
            for (sa, sb) in ca.chunks(w).zip(cb.chunks(w)) {
                acc = mma_step_ops::<T>(acc, sa, sb);
            }
            total = Some(match total {
                None => acc,
                Some(t) => t + acc,
            });
        }
        *o = total.unwrap_or(0.0);
    });
    Array2::from_shape_vec((m, n), out).expect("m × n")
}

/// The blocked fma tree. `tot` holds each output's running total between chunks.
fn fma_blocked<T: Element>(kc: Option<usize>, a: ArrayView2<T>, b: ArrayView2<T>) -> Array2<f32> {
    let (m, k) = a.dim();
    let n = b.ncols();
    let kc = kc.unwrap_or(k).max(1);
    // A widened once (exact) into row-major f32; B is widened while packing.
    let a32: Vec<f32> = a.iter().map(|x| x.to_f32()).collect();
    let b = b.as_standard_layout();
    let bs = b.as_slice().expect("standard layout");
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
                for kk in 0..kl {
                    let src = &bs[(k0 + kk) * n + j0..(k0 + kk) * n + j0 + nc];
                    for (p, seg) in src.chunks(NR).enumerate() {
                        let dst = &mut pack[(p * kc + kk) * NR..(p * kc + kk + 1) * NR];
                        for (d, s) in dst.iter_mut().zip(seg) {
                            *d = s.to_f32();
                        }
                        dst[seg.len()..].fill(0.0);
                    }
                }
                // Rows in blocks of MC (their A chunk stays in L2), then panel outer, rows
                // inner: the panel (kl × NR) stays in L1 while the block's rows stream past.
                for i0 in (0..m).step_by(MC) {
                    let i1 = (i0 + MC).min(m);
                    for p in 0..panels {
                        let w = NR.min(nc - p * NR);
                        let panel = &pack[p * kc * NR..(p * kc + kl) * NR];
                        let mut i = i0;
                        while i < i1 {
                            let mr = MR.min(i1 - i);
                            let acc = chunk_kernel(&a32[i * k + k0..], k, mr, kl, panel);
                            for (r, accr) in acc.iter().enumerate().take(mr) {
                                let t = &mut tot[(i + r) * nc + p * NR..(i + r) * nc + p * NR + w];
                                for (tv, &av) in t.iter_mut().zip(&accr[..w]) {
                                    *tv = if ci == 0 { av } else { *tv + av };
                                }
                            }
                            i += mr;
                        }
                    }
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

/// One chunk's chains for `mr ≤ MR` rows × `NR` columns, each from +0 and in k order.
/// `a` starts at the first row's chunk start, rows `lda` apart; `panel` is `kl × NR`.
fn chunk_kernel(a: &[f32], lda: usize, mr: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { chunk_kernel_avx512(a, lda, mr, kl, panel) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { chunk_kernel_avx2(a, lda, mr, kl, panel) };
        }
    }
    chunk_kernel_rows(a, lda, mr, kl, panel)
}

/// The same chains with explicit 512-bit fused multiply-adds (`vfmadd231ps`: one rounding,
/// as `f32::mul_add`), 16 columns per register, rows broadcast from A.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn chunk_kernel_avx512(a: &[f32], lda: usize, mr: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    use std::arch::x86_64::*;
    const _: () = assert!(NR == 32 && MR == 6);
    assert!(panel.len() >= kl * NR && a.len() >= (mr - 1) * lda + kl);
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    let ap = a.as_ptr();
    let bp = panel.as_ptr();
    macro_rules! body {
        ($r:literal) => {{
            for kk in 0..kl {
                let b0 = _mm512_loadu_ps(bp.add(kk * NR));
                let b1 = _mm512_loadu_ps(bp.add(kk * NR + 16));
                for r in 0..$r {
                    let av = _mm512_set1_ps(*ap.add(r * lda + kk));
                    acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
                }
            }
        }};
    }
    match mr {
        1 => body!(1),
        2 => body!(2),
        3 => body!(3),
        4 => body!(4),
        5 => body!(5),
        _ => body!(6),
    }
    let mut out = [[0.0f32; NR]; MR];
    for r in 0..mr {
        _mm512_storeu_ps(out[r].as_mut_ptr(), acc[r][0]);
        _mm512_storeu_ps(out[r].as_mut_ptr().add(16), acc[r][1]);
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk_kernel_avx2(a: &[f32], lda: usize, mr: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    chunk_kernel_rows(a, lda, mr, kl, panel)
}

#[inline(always)]
fn chunk_kernel_rows(a: &[f32], lda: usize, mr: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; MR] {
    let mut out = [[0.0f32; NR]; MR];
    macro_rules! rows {
        ($r:literal) => {{
            let acc = kernel::<$r>(a, lda, kl, panel);
            out[..$r].copy_from_slice(&acc);
        }};
    }
    match mr {
        1 => rows!(1),
        2 => rows!(2),
        3 => rows!(3),
        4 => rows!(4),
        5 => rows!(5),
        _ => rows!(6),
    }
    out
}

#[inline(always)]
fn kernel<const R: usize>(a: &[f32], lda: usize, kl: usize, panel: &[f32]) -> [[f32; NR]; R] {
    let mut acc = [[0.0f32; NR]; R];
    let rows: [&[f32]; R] = std::array::from_fn(|r| &a[r * lda..r * lda + kl]);
    for (kk, bv) in panel.chunks_exact(NR).enumerate().take(kl) {
        let bv: &[f32; NR] = bv.try_into().unwrap();
        for r in 0..R {
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

    #[test]
    fn every_kernel_variant_gives_the_same_bits() {
        // The dispatcher picks AVX-512, AVX2 or portable code by CPU; all must agree.
        let (kl, lda) = (300, 301);
        let a = pseudo(MR * lda, 7);
        let panel = pseudo(kl * NR, 8);
        for mr in 1..=MR {
            let portable = chunk_kernel_rows(&a, lda, mr, kl, &panel);
            let dispatched = chunk_kernel(&a, lda, mr, kl, &panel);
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                let avx2 = unsafe { chunk_kernel_avx2(&a, lda, mr, kl, &panel) };
                assert_eq!(
                    portable[..mr].iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    avx2[..mr].iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>()
                );
            }
            assert_eq!(
                portable[..mr].iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>(),
                dispatched[..mr].iter().flatten().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "mr = {mr}"
            );
        }
    }
}
