//! The tensor-core step on crafted cases (the hardware results stated in
//! tests/data/h100-tensor-core/README.md and the shared capture README), and the
//! `mma-sm90-v1` matmul tree built on it: zero padding of a short last step, the fast path
//! equal to the literal one, and batch invariance.

use half::{bf16, f16};
use lockstep_reference::matmul::kstep::{KStep, MmaSm90Step};
use lockstep_reference::matmul::tensor_core::{mma_step, Operand, CANONICAL_NAN};
use lockstep_reference::matmul::{self, addmm, addmm_fast, bmm, bmm_fast, mm, mm_fast};
use lockstep_reference::{Element, MMA_SM90_V1};
use ndarray::{s, Array1, Array2, Array3};

/// A bf16 that must hold `x` exactly (so the case means what it says).
fn bf(x: f32) -> bf16 {
    let b = bf16::from_f32(x);
    assert_eq!(b.to_f32().to_bits(), x.to_bits(), "{x:e} is not a bf16");
    b
}

fn p2(e: i32) -> f32 {
    // 2^e for the exponents used here, built from bits (no libm in the loop).
    if e >= -126 {
        f32::from_bits(((e + 127) as u32) << 23)
    } else {
        f32::from_bits(1 << (e + 149))
    }
}

/// 2^hi − 2^lo, computed exactly without passing through 2^hi (2^128 is not an f32).
fn gap(hi: i32, lo: i32) -> f32 {
    p2(hi - 1) + (p2(hi - 1) - p2(lo))
}

fn step_bits(c: f32, a: &[bf16], b: &[bf16]) -> u32 {
    mma_step(c, a, b).to_bits()
}

fn ones(n: usize) -> Vec<bf16> {
    vec![bf(1.0); n]
}

// ---- Crafted cases measured on H100 and H200 (mma.sync and wgmma), 2026-11-23. ----

#[test]
fn sum_just_below_2_pow_128_truncates_to_max_finite() {
    // (2^128 − 2^120) + (2^120 − 2^112) + (2^112 − 2^104) + 2^103 = 2^128 − 2^103: 25 ones,
    // truncated to 24 bits: 2^128 − 2^104, the largest finite f32 (rounding would give inf).
    let a = [bf(gap(128, 120)), bf(gap(120, 112)), bf(gap(112, 104)), bf(p2(103))];
    assert_eq!(step_bits(0.0, &a, &ones(4)), 0x7F7F_FFFF);
    let neg: Vec<bf16> = a.iter().map(|x| -*x).collect();
    assert_eq!(step_bits(0.0, &neg, &ones(4)), 0xFF7F_FFFF);
    // 2^128 − 2^111: 17 ones then zeros.
    let a = [bf(gap(128, 120)), bf(gap(120, 112)), bf(p2(111))];
    assert_eq!(step_bits(0.0, &a, &ones(3)), 0x7F7F_FF80);
    // 2^128 exactly overflows.
    let a = [bf(p2(127)), bf(p2(127))];
    assert_eq!(step_bits(0.0, &a, &ones(2)), 0x7F80_0000);
    assert_eq!(step_bits(-0.0, &[bf(-p2(127)), bf(-p2(127))], &ones(2)), 0xFF80_0000);
}

#[test]
fn zero_sums_are_positive_zero() {
    let z = vec![bf16::ZERO; 16];
    let nz = vec![bf16::NEG_ZERO; 16];
    // All products −0 and C = −0: IEEE addition would give −0, the tensor core +0.
    assert_eq!(step_bits(-0.0, &nz, &ones(16)), 0);
    assert_eq!(step_bits(-0.0, &z, &ones(16)), 0);
    assert_eq!(step_bits(0.0, &nz, &ones(16)), 0);
    // Exactly cancelling products with C = −0.
    assert_eq!(step_bits(-0.0, &[bf(1.5), bf(-1.5)], &ones(2)), 0);
    // A nonzero sum below 2^-149 truncates to zero, and that zero is +0 (the `tiny` capture).
    assert_eq!(step_bits(0.0, &[bf(-p2(-100))], &[bf(p2(-60))]), 0);
}

#[test]
fn special_values() {
    let nan_c = f32::from_bits(0x7FC0_0123);
    // C = +inf with finite products gives +inf; a NaN C loses its payload.
    assert_eq!(step_bits(f32::INFINITY, &[bf(3.0)], &[bf(5.0)]), 0x7F80_0000);
    assert_eq!(step_bits(nan_c, &[bf(3.0)], &[bf(5.0)]), CANONICAL_NAN);
    let inf = bf16::INFINITY;
    // inf·0 → NaN, whatever else is there.
    assert_eq!(step_bits(0.0, &[inf, bf(1.0)], &[bf16::ZERO, bf(1.0)]), CANONICAL_NAN);
    assert_eq!(step_bits(f32::INFINITY, &[bf16::NEG_ZERO], &[inf]), CANONICAL_NAN);
    // +inf and −inf terms → NaN; infinities of one sign → that infinity.
    assert_eq!(step_bits(f32::NEG_INFINITY, &[inf], &[bf(2.0)]), CANONICAL_NAN);
    assert_eq!(step_bits(0.0, &[inf, inf], &[bf(1.0), bf(-1.0)]), CANONICAL_NAN);
    assert_eq!(step_bits(1.0, &[inf, -inf], &[bf(1.0), bf(-1.0)]), 0x7F80_0000);
    assert_eq!(step_bits(1.0, &[-inf], &[inf]), 0xFF80_0000);
    // A NaN factor, even one multiplied by zero.
    assert_eq!(step_bits(0.0, &[bf16::NAN], &[bf16::ZERO]), CANONICAL_NAN);
    assert_eq!(step_bits(f32::INFINITY, &[bf(1.0)], &[bf16::NAN]), CANONICAL_NAN);
    // Finite products beyond f32 give inf by step 6, not NaN.
    assert_eq!(step_bits(0.0, &[bf16::MAX, bf16::MAX], &[bf16::MAX, bf16::MAX]), 0x7F80_0000);
    assert_eq!(step_bits(0.0, &[bf16::MAX, bf16::MAX], &[bf16::MAX, bf16::MIN]), 0);
}

// ---- The rule's arithmetic on small cases worked by hand. ----

#[test]
fn sum_is_truncated_not_rounded() {
    // 1 + 2^-23 + 2^-24 = 1 + 1.5 ulp: truncation keeps 1 + 2^-23 (0x3F800001); an IEEE
    // chain rounds the tie to even, 1 + 2^-22 (0x3F800002).
    let a = [bf(1.0), bf(p2(-23)), bf(p2(-24))];
    assert_eq!(step_bits(0.0, &a, &ones(3)), 0x3F80_0001);
    let ieee = (1.0f32 + p2(-23)) + p2(-24);
    assert_eq!(ieee.to_bits(), 0x3F80_0002);
}

#[test]
fn terms_are_truncated_at_t_over_2_pow_26() {
    // 1·1 sets T = 2, so every term is cut to a multiple of 2^-25 before the sum. −2^-30
    // becomes 0 and the sum is exactly 1 + 2^-22 (0x3F800002); truncating only the exact
    // sum 1 + 2^-22 − 2^-30 would give 1 + 2^-23 (0x3F800001).
    let a = [bf(1.0), bf(p2(-22)), bf(-p2(-30))];
    assert_eq!(step_bits(0.0, &a, &ones(3)), 0x3F80_0002);
    // Fifteen terms of 1.5·2^-26 = 0.75·2^-25 next to 1 each truncate to 0: the result is
    // 1, although their exact sum 22.5·2^-26 would lift it to 1 + 2·2^-23.
    let mut a = vec![bf(1.0)];
    a.extend(std::iter::repeat_n(bf(1.5 * p2(-26)), 15));
    assert_eq!(step_bits(0.0, &a, &ones(16)), 0x3F80_0000);
    // Without the 1, T = 2^-25 and the fifteen add exactly.
    assert_eq!(mma_step(0.0, &a[1..], &ones(15)), 22.5 * p2(-26));
}

#[test]
fn c_weight_and_subnormal_results() {
    // An f32-subnormal C is used at full value and the result is not flushed.
    let c = f32::from_bits(0x0000_0003);
    assert_eq!(mma_step(c, &[bf16::ZERO], &[bf16::ZERO]).to_bits(), 3);
    // A step with no products returns a finite C unchanged (C has 24 bits, T_c/2^26 is finer).
    for bits in [0x3F80_0001u32, 0x8000_0001, 0x7F7F_FFFF, 0x0080_0000] {
        assert_eq!(mma_step::<bf16>(f32::from_bits(bits), &[], &[]).to_bits(), bits);
    }
    // … except −0, which becomes +0 (an exact zero sum).
    assert_eq!(mma_step::<bf16>(-0.0, &[], &[]).to_bits(), 0);
}

#[test]
fn f16_subnormals_use_the_f16_minimum_exponent() {
    // An f16 subnormal is not an f32 subnormal: 0x0001 is 2^-24 with nominal exponent −14.
    let tiny = f16::from_bits(0x0001);
    assert_eq!(
        Operand::of(tiny),
        Operand {
            sig: 1,
            exp: -14,
            kind: Operand::FINITE
        }
    );
    assert_eq!(
        Operand::of(bf16::from_bits(0x8001)),
        Operand {
            sig: -1,
            exp: -126,
            kind: Operand::FINITE
        }
    );
    // 2^-24 · 2^-24 = 2^-48, exact (T = 2^-27).
    assert_eq!(mma_step(0.0, &[tiny], &[tiny]), p2(-48));
    // Next to 1·1 (T = 2) it is far below T/2^26 = 2^-25 and vanishes.
    let one = f16::from_f32(1.0);
    assert_eq!(mma_step(0.0, &[one, tiny], &[one, tiny]), 1.0);
}

// ---- The matmul tree of mma-sm90-v1 on top of the step. ----

/// Deterministic finite values with a moderate exponent spread and some zeros.
fn values<T: Element>(n: usize, seed: u64) -> Vec<T> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if s.is_multiple_of(11) {
                return T::from_f32(0.0);
            }
            let mant = ((s >> 20) & 0xFFFF) as f32 / 65536.0 + 1.0;
            let e = ((s >> 40) % 13) as i32 - 6;
            let v = mant * p2(e);
            T::from_f32(if (s >> 60) & 1 == 1 { -v } else { v })
        })
        .collect()
}

fn mat<T: Element>(r: usize, c: usize, seed: u64) -> Array2<T> {
    Array2::from_shape_vec((r, c), values(r * c, seed)).unwrap()
}

fn same<D: ndarray::Dimension>(x: &ndarray::Array<f32, D>, y: &ndarray::Array<f32, D>) -> bool {
    x.shape() == y.shape() && x.iter().zip(y.iter()).all(|(p, q)| p.to_bits() == q.to_bits())
}

#[test]
fn k_not_a_multiple_of_16_is_zero_padded() {
    fn check<T: Element>() {
        for &(m, k, n) in &[(3, 1, 2), (2, 20, 5), (4, 47, 3), (1, 100, 7)] {
            let a = mat::<T>(m, k, 1);
            let b = mat::<T>(k, n, 2);
            let kp = k.div_ceil(16) * 16;
            let mut ap = Array2::from_elem((m, kp), T::from_f32(0.0));
            let mut bp = Array2::from_elem((kp, n), T::from_f32(0.0));
            ap.slice_mut(s![.., ..k]).assign(&a);
            bp.slice_mut(s![..k, ..]).assign(&b);
            let short: Array2<f32> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
            let padded: Array2<f32> = mm(&MMA_SM90_V1, ap.view(), bp.view()).unwrap();
            assert!(same(&short, &padded), "{:?} {m}x{k}x{n}", T::DTYPE);
            // And the chain itself, from a nonzero accumulator.
            let (r, c) = (a.row(0).to_vec(), b.column(0).to_vec());
            let (rp, cp) = (ap.row(0).to_vec(), bp.column(0).to_vec());
            assert_eq!(MmaSm90Step::chain(0.375, &r, &c).to_bits(), MmaSm90Step::chain(0.375, &rp, &cp).to_bits());
        }
    }
    check::<bf16>();
    check::<f16>();
}

#[test]
fn fast_path_equals_literal_on_ragged_shapes() {
    fn check<T: Element>() {
        for &(m, k, n) in &[(1, 1, 1), (3, 17, 5), (7, 100, 33), (16, 257, 9), (2, 1000, 17)] {
            let a = mat::<T>(m, k, 3);
            let b = mat::<T>(k, n, 4);
            let lit: Array2<f32> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
            let fast: Array2<f32> = mm_fast(&MMA_SM90_V1, a.view(), b.view()).unwrap();
            assert!(same(&lit, &fast), "{:?} {m}x{k}x{n}", T::DTYPE);
            // Transposed (non-standard-layout) inputs give the same bits.
            let bt = b.t().as_standard_layout().into_owned();
            let fast_t: Array2<f32> = mm_fast(&MMA_SM90_V1, a.view(), bt.t()).unwrap();
            assert!(same(&lit, &fast_t));
            // Output rounding: bf16 results are the f32 results rounded once.
            let lo: Array2<bf16> = mm_fast(&MMA_SM90_V1, a.view(), b.view()).unwrap();
            assert!(lo.iter().zip(lit.iter()).all(|(x, y)| x.to_bits() == bf16::from_f32(*y).to_bits()));
            let bias = Array1::from_vec(values::<f32>(n, 5));
            let la: Array2<f32> = addmm(&MMA_SM90_V1, a.view(), b.view(), bias.view()).unwrap();
            let fa: Array2<f32> = addmm_fast(&MMA_SM90_V1, a.view(), b.view(), bias.view()).unwrap();
            assert!(same(&la, &fa));
            // The bias is one IEEE add after the whole chain.
            let want = Array2::from_shape_fn((m, n), |(i, j)| lit[[i, j]] + bias[j]);
            assert!(same(&la, &want));
        }
        let a3 = Array3::from_shape_vec((3, 4, 40), values::<T>(480, 6)).unwrap();
        let b3 = Array3::from_shape_vec((3, 40, 5), values::<T>(600, 7)).unwrap();
        let l3: Array3<f32> = bmm(&MMA_SM90_V1, a3.view(), b3.view()).unwrap();
        let f3: Array3<f32> = bmm_fast(&MMA_SM90_V1, a3.view(), b3.view()).unwrap();
        assert!(same(&l3, &f3));
    }
    check::<bf16>();
    check::<f16>();
}

#[test]
fn special_values_flow_through_both_paths() {
    let mut a = mat::<bf16>(4, 37, 8);
    let b = mat::<bf16>(37, 6, 9);
    a[[0, 3]] = bf16::NAN;
    a[[1, 20]] = bf16::INFINITY;
    a[[2, 36]] = bf16::MAX;
    a[[3, 0]] = bf16::from_bits(0x0001);
    let lit: Array2<f32> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
    let fast: Array2<f32> = mm_fast(&MMA_SM90_V1, a.view(), b.view()).unwrap();
    assert!(same(&lit, &fast));
    assert!(lit.row(0).iter().all(|x| x.to_bits() == CANONICAL_NAN));
}

#[test]
fn a_row_does_not_depend_on_the_batch() {
    fn check<T: Element>() {
        let (m, k, n) = (9, 300, 21);
        let a = mat::<T>(m, k, 10);
        let b = mat::<T>(k, n, 11);
        let full: Array2<f32> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
        let full_fast: Array2<f32> = mm_fast(&MMA_SM90_V1, a.view(), b.view()).unwrap();
        assert!(same(&full, &full_fast));
        for i in 0..m {
            let one = a.slice(s![i..i + 1, ..]);
            let r: Array2<f32> = mm(&MMA_SM90_V1, one, b.view()).unwrap();
            let rf: Array2<f32> = mm_fast(&MMA_SM90_V1, one, b.view()).unwrap();
            assert!(same(&r.row(0).to_owned(), &full.row(i).to_owned()), "row {i}");
            assert!(same(&rf.row(0).to_owned(), &full.row(i).to_owned()), "row {i} (fast)");
        }
    }
    check::<bf16>();
    check::<f16>();
}

#[test]
fn the_tree_is_one_chain_from_plus_zero() {
    // mma-sm90-v1 does not split K: each output is the chain from +0 over all of K.
    let a = mat::<bf16>(2, 70, 12);
    let b = mat::<bf16>(70, 3, 13);
    let out: Array2<f32> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
    for i in 0..2 {
        for j in 0..3 {
            let want = MmaSm90Step::chain(0.0, &a.row(i).to_vec(), &b.column(j).to_vec());
            assert_eq!(out[[i, j]].to_bits(), want.to_bits());
            assert_eq!(
                matmul::dot::<MmaSm90Step, bf16>(None, &a.row(i).to_vec(), &b.column(j).to_vec()).to_bits(),
                want.to_bits()
            );
        }
    }
}

// ---- The spec page's worked example is this crate's output. ----

#[allow(dead_code)]
#[path = "../examples/mma_sm90.rs"]
mod example;

mod common;
use common::hex_tokens;

/// docs/spec/mma-sm90.md quotes in its worked example only bit patterns that
/// `cargo run --example mma_sm90` prints (and that program asserts its step-by-step
/// numbers equal `mma_step` and `mm`), so the page cannot keep stale numbers.
#[test]
fn spec_worked_example_is_printed_by_the_example() {
    let page = include_str!("../../docs/spec/mma-sm90.md");
    let start = page.find("## Worked example").expect("page has a worked example");
    let rest = &page[start..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3)];
    let printed = hex_tokens(&example::printed());
    let quoted = hex_tokens(section);
    assert!(quoted.len() >= 10, "the worked example quotes only {} bit patterns", quoted.len());
    let stale: Vec<&String> = quoted.difference(&printed).collect();
    assert!(stale.is_empty(), "mma-sm90.md quotes bit patterns the example does not print: {stale:?}");
}
