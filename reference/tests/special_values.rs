//! Every row of docs/spec/special-values.md, computed with the reference and asserted.
//!
//! The expected values are derived from the spec's rules (IEEE binary32 arithmetic, the
//! lane tree, `max2`, RNE output rounding), not copied from outputs: each test says which
//! rule gives its value. Test names are the table's row ids (`d1_…`, `s1_…`, …). Each
//! op's fast path is run on the same inputs and must give the same bits.

use half::{bf16, f16};
use lockstep_reference::dtype::same_bits;
use lockstep_reference::elementwise::{exp, log};
use lockstep_reference::matmul::{addmm, mm, mm_fast};
use lockstep_reference::mean::{mean, mean_fast, sum, sum_fast};
use lockstep_reference::reduce::{lane_reduce, Max};
use lockstep_reference::rmsnorm::{rmsnorm, rmsnorm_fast, rmsnorm_residual, RmsnormParams};
use lockstep_reference::rope::{rope, rope_fast, rope_tables, RopeParams};
use lockstep_reference::softmax::{log_softmax, log_softmax_fast, softmax, softmax_fast};
use lockstep_reference::{Contract, Element, KStepKind, FMA_V1};
use ndarray::{array, Array1, Array2, Array3};

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;
const MAX: f32 = f32::MAX;
const EPS: RmsnormParams = RmsnormParams { eps: 1e-6 };

/// Bitwise equality under the spec's rule (any NaN equals any NaN), element by element.
#[track_caller]
fn same<T: Element>(got: &[T], want: &[T]) {
    assert_eq!(got.len(), want.len());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(same_bits(g, w), "element {i}: got {g:?} [0x{:08X}], want {w:?} [0x{:08X}]", g.bits(), w.bits());
    }
}

fn p2(x: i32) -> f32 {
    2f32.powi(x)
}

fn row(v: &[f32]) -> Array2<f32> {
    Array2::from_shape_vec((1, v.len()), v.to_vec()).unwrap()
}

fn sum1(v: &[f32]) -> f32 {
    let y: Array2<f32> = sum(&FMA_V1, row(v).view()).unwrap();
    let f: Array2<f32> = sum_fast(&FMA_V1, row(v).view()).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y[[0, 0]]
}

fn mean1(v: &[f32]) -> f32 {
    let y: Array2<f32> = mean(&FMA_V1, row(v).view()).unwrap();
    let f: Array2<f32> = mean_fast(&FMA_V1, row(v).view()).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y[[0, 0]]
}

fn softmax1(v: &[f32]) -> Vec<f32> {
    let y: Array2<f32> = softmax(&FMA_V1, row(v).view()).unwrap();
    let f: Array2<f32> = softmax_fast(&FMA_V1, row(v).view()).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y.into_raw_vec_and_offset().0
}

fn log_softmax1(v: &[f32]) -> Vec<f32> {
    let y: Array2<f32> = log_softmax(&FMA_V1, row(v).view()).unwrap();
    let f: Array2<f32> = log_softmax_fast(&FMA_V1, row(v).view()).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y.into_raw_vec_and_offset().0
}

fn rmsnorm1(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let w = Array1::from_vec(w.to_vec());
    let y: Array2<f32> = rmsnorm(&FMA_V1, row(x).view(), w.view(), RmsnormParams { eps }).unwrap();
    let f: Array2<f32> = rmsnorm_fast(&FMA_V1, row(x).view(), w.view(), RmsnormParams { eps }).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y.into_raw_vec_and_offset().0
}

fn mm_f32(a: Array2<f32>, b: Array2<f32>) -> Vec<f32> {
    let y: Array2<f32> = mm(&FMA_V1, a.view(), b.view()).unwrap();
    let f: Array2<f32> = mm_fast(&FMA_V1, a.view(), b.view()).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y.into_raw_vec_and_offset().0
}

/// rope of one token, one head, at `pos`, with tables of dimension `x.len()`.
fn rope1(x: &[f32], pos: i64) -> Vec<f32> {
    let (c, s) = rope_tables(RopeParams { dim: x.len(), base: 10000.0 }, 4).unwrap();
    let x3 = Array3::from_shape_vec((1, 1, x.len()), x.to_vec()).unwrap();
    let y: Array3<f32> = rope(x3.view(), array![pos].view(), c.view(), s.view()).unwrap();
    let f: Array3<f32> = rope_fast(x3.view(), array![pos].view(), c.view(), s.view()).unwrap();
    same(f.as_slice().unwrap(), y.as_slice().unwrap());
    y.into_raw_vec_and_offset().0
}

// ---------------------------------------------------------------- dtypes (dtypes.md)

#[test]
fn d1_nan_stays_nan_even_with_a_low_payload() {
    // A payload only in the low 16 bits must not be truncated into an infinity.
    let x = f32::from_bits(0x7F80_0001);
    assert!(x.is_nan());
    assert!(bf16::from_f32(x).is_nan());
    assert!(f16::from_f32(x).is_nan());
    assert!(bf16::from_f32(-NAN).is_nan());
}

#[test]
fn d2_overflow_rounds_to_inf() {
    // bf16: f32::MAX is above the midpoint 0x7F7F8000 between bf16's largest finite and 2^128.
    assert_eq!(bf16::from_f32(MAX).to_bits(), 0x7F80);
    assert_eq!(bf16::from_f32(-MAX).to_bits(), 0xFF80);
    assert_eq!(bf16::from_f32(f32::from_bits(0x7F7F_8000)).to_bits(), 0x7F80); // the tie itself: to even = inf
    assert_eq!(bf16::from_f32(f32::from_bits(0x7F7F_7FFF)).to_bits(), 0x7F7F);
    // f16: the midpoint between 65504 and 65536 is 65520.
    assert_eq!(f16::from_f32(65520.0).to_bits(), 0x7C00);
    assert_eq!(f16::from_f32(65519.0).to_bits(), 0x7BFF);
}

#[test]
fn d3_signed_zero_is_kept() {
    assert_eq!(bf16::from_f32(-0.0).to_bits(), 0x8000);
    assert_eq!(f16::from_f32(-0.0).to_bits(), 0x8000);
    assert_eq!(bf16::from_bits(0x8000).to_f32().to_bits(), 0x8000_0000);
}

#[test]
fn d4_subnormals_are_produced_and_ties_go_to_even() {
    assert_eq!(bf16::from_f32(p2(-133)).to_bits(), 0x0001); // bf16's smallest subnormal
    assert_eq!(bf16::from_f32(p2(-134)).to_bits(), 0x0000); // half of it: tie, even is 0
    assert_eq!(bf16::from_f32(-p2(-134)).to_bits(), 0x8000); // sign kept
    assert_eq!(bf16::from_f32(3.0 * p2(-134)).to_bits(), 0x0002); // 1.5 ulp: tie, even is 2
    assert_eq!(f16::from_f32(p2(-24)).to_bits(), 0x0001);
    assert_eq!(f16::from_f32(p2(-25)).to_bits(), 0x0000);
    assert_eq!(f16::from_f32(3.0 * p2(-26)).to_bits(), 0x0001);
}

#[test]
fn d5_widening_is_exact_for_every_bit_pattern() {
    // Exact widening means rounding back gives the same bits (NaNs stay NaN).
    for b in 0..=u16::MAX {
        let x = bf16::from_bits(b);
        assert!(same_bits(bf16::from_f32(x.to_f32()), x), "bf16 0x{b:04X}");
        let y = f16::from_bits(b);
        assert!(same_bits(f16::from_f32(y.to_f32()), y), "f16 0x{b:04X}");
    }
    assert_eq!(bf16::from_bits(1).to_f32(), p2(-133));
    assert_eq!(f16::from_bits(1).to_f32(), p2(-24));
}

// ------------------------------------------------------------ sum, mean (mean.md, reduce.md)

#[test]
fn s1_nan_gives_nan() {
    let mut v = vec![1.0f32; 3000];
    v[2047] = NAN;
    assert!(sum1(&v).is_nan());
    assert!(mean1(&v).is_nan());
}

#[test]
fn s2_infinities() {
    same(&[sum1(&[INF, 1.0, -INF])], &[NAN]); // inf + -inf
    same(&[sum1(&[INF, 1.0])], &[INF]);
    same(&[mean1(&[-INF, 1.0])], &[-INF]);
}

#[test]
fn s3_sum_of_negative_zeros_is_positive_zero() {
    // Every lane starts at +0, and +0 + -0 = +0 under RNE.
    same(&[sum1(&[-0.0, -0.0, -0.0])], &[0.0]);
    same(&[mean1(&[-0.0, -0.0])], &[0.0]);
    // Exact cancellation also gives +0.
    same(&[sum1(&[1.5, -1.5])], &[0.0]);
}

#[test]
fn s4_overflow_of_the_tree_is_inf_even_if_the_mean_is_finite() {
    same(&[sum1(&[MAX, MAX])], &[INF]);
    same(&[mean1(&[MAX, MAX])], &[INF]);
}

#[test]
fn s5_whether_a_sum_overflows_depends_on_the_tree() {
    // L = 1024: lanes 0, 1, 2; stride 2: lane0 = MAX + -MAX = +0; stride 1: +0 + MAX = MAX.
    same(&[sum1(&[MAX, MAX, -MAX])], &[MAX]);
    // Left to right it would overflow: the lane tree is not that order.
    assert_eq!((MAX + MAX) + -MAX, INF);
}

#[test]
fn s6_subnormals_are_kept() {
    same(&[sum1(&[p2(-149), p2(-149)])], &[p2(-148)]);
    same(&[mean1(&[p2(-149), p2(-149)])], &[p2(-149)]);
    // s / H below half the smallest subnormal rounds to +0.
    same(&[mean1(&[p2(-149), 0.0, 0.0, 0.0])], &[0.0]);
}

#[test]
fn s7_finite_f32_result_overflows_the_output_type() {
    let y: Array2<bf16> = sum(&FMA_V1, row(&[MAX]).view()).unwrap();
    assert_eq!(y[[0, 0]].to_bits(), 0x7F80);
    let y: Array2<f16> = mean(&FMA_V1, row(&[70000.0, 70000.0]).view()).unwrap();
    assert_eq!(y[[0, 0]].to_bits(), 0x7C00);
}

// ----------------------------------------------------------------------- max (reduce.md)

#[test]
fn m1_max_ties_between_zeros_keep_the_left_one() {
    same(&[lane_reduce::<Max>(1024, &[-0.0, 0.0])], &[-0.0]);
    same(&[lane_reduce::<Max>(1024, &[0.0, -0.0])], &[0.0]);
    // Lanes 0 and 4 of L = 4: lane0 folds -0 then +0; +0 > -0 is false, so -0 stays.
    same(&[lane_reduce::<Max>(4, &[-0.0, -1.0, -1.0, -1.0, 0.0])], &[-0.0]);
}

#[test]
fn m2_max_propagates_nan_from_anywhere() {
    for at in [0usize, 1, 1023, 1024, 1999] {
        let mut v = vec![1.0f32; 2000];
        v[at] = NAN;
        assert!(lane_reduce::<Max>(1024, &v).is_nan(), "NaN at {at}");
    }
}

#[test]
fn m3_max_of_all_neg_inf_is_neg_inf() {
    same(&[lane_reduce::<Max>(1024, &[-INF; 5])], &[-INF]);
    same(&[lane_reduce::<Max>(1024, &[-INF, 7.0, -INF])], &[7.0]);
}

// ------------------------------------------------------------------- softmax (softmax.md)

#[test]
fn x1_nan_makes_the_whole_row_nan() {
    same(&softmax1(&[1.0, NAN, 2.0]), &[NAN; 3]);
    same(&log_softmax1(&[1.0, NAN, 2.0]), &[NAN; 3]);
}

#[test]
fn x2_pos_inf_makes_the_whole_row_nan() {
    // m = +inf; d = inf - inf = NaN for the infinite element, so s is NaN.
    same(&softmax1(&[1.0, INF, 2.0]), &[NAN; 3]);
    same(&log_softmax1(&[1.0, INF, 2.0]), &[NAN; 3]);
}

#[test]
fn x3_neg_inf_elements_are_masked() {
    let y = softmax1(&[0.5, -INF, 0.5]);
    same(&y, &[0.5, 0.0, 0.5]); // e = [1, +0, 1], s = 2
    let ly = log_softmax1(&[0.5, -INF, 0.5]);
    let ls = log(2.0);
    same(&ly, &[0.0 - ls, -INF, 0.0 - ls]);
}

#[test]
fn x4_a_fully_masked_row_is_nan() {
    // m = -inf; d = -inf - (-inf) = NaN.
    same(&softmax1(&[-INF; 4]), &[NAN; 4]);
    same(&log_softmax1(&[-INF; 4]), &[NAN; 4]);
}

#[test]
fn x5_huge_spread_is_harmless() {
    // d_1 = -MAX - MAX overflows to -inf; exp(-inf) = +0; s = exp(+0) = 1.
    assert_eq!(exp(0.0), 1.0);
    assert_eq!(log(1.0).to_bits(), 0);
    same(&softmax1(&[MAX, -MAX]), &[1.0, 0.0]);
    same(&log_softmax1(&[MAX, -MAX]), &[0.0, -INF]);
}

#[test]
fn x6_subnormal_probabilities_are_kept() {
    let e = exp(-100.0);
    assert!(e.is_subnormal() && e > 0.0, "exp(-100) = {e:e} should be subnormal");
    // s = 1 + e rounds to 1, so y = [1/1, e/1].
    same(&softmax1(&[0.0, -100.0]), &[1.0, e]);
}

#[test]
fn x7_signed_zero_inputs() {
    // m = max2 over [-0, +0] = -0; d = [-0 - -0, +0 - -0] = [+0, +0]; y = [1/2, 1/2].
    same(&softmax1(&[-0.0, 0.0]), &[0.5, 0.5]);
    // log_softmax of a single element: d = +0, s = 1, y = +0 - log(1) = +0.
    same(&log_softmax1(&[-0.0]), &[0.0]);
}

// ------------------------------------------------------------------- rmsnorm (rmsnorm.md)

#[test]
fn r1_nan() {
    same(&rmsnorm1(&[1.0, NAN, 2.0], &[1.0; 3], 1e-6), &[NAN; 3]);
    // A NaN weight poisons only its own element.
    let y = rmsnorm1(&[3.0, 4.0], &[NAN, 1.0], 1e-6);
    assert!(y[0].is_nan() && y[1].is_finite());
}

#[test]
fn r2_an_infinite_element_zeroes_the_row_and_is_itself_nan() {
    // ss = +inf, r = 1 / sqrt(inf) = +0; y_i = (x_i * +0) * w_i.
    let y = rmsnorm1(&[INF, 2.0, -3.0, 0.0], &[1.0, 1.0, 1.0, -1.0], 1e-6);
    same(&y, &[NAN, 0.0, -0.0, -0.0]);
}

#[test]
fn r3_overflowing_sum_of_squares_zeroes_the_row() {
    // (2^64)^2 = 2^128 overflows: ss = +inf, r = +0.
    same(&rmsnorm1(&[p2(64), 1.0], &[1.0, 1.0], 1e-6), &[0.0, 0.0]);
}

#[test]
fn r4_zero_rows() {
    // eps > 0: r = 1/sqrt(eps) finite; y = sign(x*w) 0.
    same(&rmsnorm1(&[0.0, -0.0, 0.0], &[1.0, 1.0, -1.0], 1e-6), &[0.0, -0.0, -0.0]);
    // eps = 0: r = 1 / sqrt(+0) = +inf; y = 0 * inf = NaN.
    same(&rmsnorm1(&[0.0, -0.0], &[1.0, 1.0], 0.0), &[NAN, NAN]);
}

#[test]
fn r5_subnormal_rows_are_not_flushed() {
    let x = [p2(-140), -p2(-140)];
    // Each x*x rounds to +0, so ss = +0, ms = +0, r = 1 / sqrt(eps).
    let r = 1.0f32 / (0.0f32 / 2.0 + 1e-6f32).sqrt();
    let want = [(x[0] * r) * 1.0, (x[1] * r) * 1.0];
    assert!(want[0].is_subnormal());
    same(&rmsnorm1(&x, &[1.0, 1.0], 1e-6), &want);
}

#[test]
fn r6_residual_overflow_in_the_storage_type() {
    let m = bf16::MAX;
    let x = array![[m, bf16::from_f32(1.0)]];
    let res = array![[m, bf16::from_f32(0.0)]];
    let w = array![bf16::from_f32(1.0), bf16::from_f32(1.0)];
    let (y, h): (Array2<f32>, Array2<bf16>) = rmsnorm_residual(&FMA_V1, x.view(), res.view(), w.view(), EPS).unwrap();
    // h = round_bf16(MAX + MAX) = +inf; the row then has an infinity (r2).
    assert_eq!(h[[0, 0]].to_bits(), 0x7F80);
    assert_eq!(h[[0, 1]].to_bits(), bf16::from_f32(1.0).to_bits());
    same(&y.into_raw_vec_and_offset().0, &[NAN, 0.0]);
}

#[test]
fn r7_output_overflow() {
    // r = 1/sqrt(1 + eps) rounds to just below 1; y_0 = 1e5 * ~1 is finite in f32, inf in f16.
    let x = row(&[1.0, 1.0]);
    let w = array![1.0e5f32, 1.0];
    let y: Array2<f16> = rmsnorm(&FMA_V1, x.view(), w.view(), EPS).unwrap();
    assert_eq!(y[[0, 0]].to_bits(), 0x7C00);
    assert!(y[[0, 1]].to_f32().is_finite());
}

// ------------------------------------------------------------------------- rope (rope.md)

#[test]
fn p1_nan_poisons_its_pair_only() {
    let y = rope1(&[NAN, 1.0, 2.0, 3.0], 1);
    assert!(y[0].is_nan() && y[2].is_nan());
    assert!(y[1].is_finite() && y[3].is_finite());
}

#[test]
fn p2_inf_at_position_zero_meets_sin_zero() {
    // pos 0: c = 1, s = +0. y_0 = inf*1 - 1*0 = inf; y_1 = 1*1 + inf*0 = NaN.
    same(&rope1(&[INF, 1.0], 0), &[INF, NAN]);
}

#[test]
fn p3_position_zero_is_the_identity_except_signed_zeros() {
    let (c, s) = rope_tables(RopeParams { dim: 8, base: 10000.0 }, 1).unwrap();
    assert!(c.iter().all(|v| v.to_bits() == 1.0f32.to_bits()));
    assert!(s.iter().all(|v| v.to_bits() == 0));
    same(&rope1(&[1.5, -2.5], 0), &[1.5, -2.5]);
    same(&rope1(&[p2(-149), -MAX], 0), &[p2(-149), -MAX]);
    // a = -0, b = -0: y_0 = -0 - (-0 * +0) = -0 - -0 = +0; y_1 = -0 + (-0 * +0) = -0.
    same(&rope1(&[-0.0, -0.0], 0), &[0.0, -0.0]);
    // a = +0, b = -0: y_0 = +0 - -0 = +0; y_1 = -0 + +0 = +0.
    same(&rope1(&[0.0, -0.0], 0), &[0.0, 0.0]);
}

#[test]
fn p4_rotation_of_huge_values_can_overflow() {
    // d = 2: theta_0 = 1, position 1: c = cos 1 ≈ 0.54, s = sin 1 ≈ 0.84.
    let y = rope1(&[MAX, MAX], 1);
    same(&[y[1]], &[INF]); // MAX*c + MAX*s > MAX
    assert!(y[0].is_finite() && y[0] < 0.0); // MAX*c - MAX*s
}

// --------------------------------------------------------------------- matmul (matmul.md)

#[test]
fn g1_nan_poisons_its_row_of_c() {
    let a = array![[1.0f32, NAN], [1.0, 2.0]];
    let b = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
    let y = mm_f32(a, b);
    assert!(y[..3].iter().all(|v| v.is_nan()));
    same(&y[3..], &[9.0, 12.0, 15.0]);
}

#[test]
fn g2_inf_times_zero_is_nan() {
    same(&mm_f32(array![[INF, 1.0]], array![[0.0], [1.0]]), &[NAN]);
}

#[test]
fn g3_infinities() {
    same(&mm_f32(array![[INF, 1.0]], array![[2.0], [1.0]]), &[INF]);
    same(&mm_f32(array![[INF, -INF]], array![[1.0], [1.0]]), &[NAN]);
}

#[test]
fn g4_zero_products_give_positive_zero() {
    // fma(-0, 1, +0) = +0: chains start at +0.
    same(&mm_f32(array![[-0.0, -0.0]], array![[1.0], [1.0]]), &[0.0]);
}

#[test]
fn g5_an_underflowing_negative_product_gives_negative_zero() {
    // fma(-2^-100, 2^-100, +0): exact -2^-200 rounds to -0 (sign of the exact result).
    same(&mm_f32(array![[-p2(-100)]], array![[p2(-100)]]), &[-0.0]);
    // addmm: -0 + bias(+0) = +0.
    let y: Array2<f32> = addmm(&FMA_V1, array![[-p2(-100)]].view(), array![[p2(-100)]].view(), array![0.0f32].view()).unwrap();
    same(&[y[[0, 0]]], &[0.0]);
}

#[test]
fn g6_subnormals_are_kept() {
    same(&mm_f32(array![[p2(-149)]], array![[1.0]]), &[p2(-149)]);
    let a = array![[bf16::from_bits(0x0001)]];
    let b = array![[bf16::from_f32(1.0)]];
    let y: Array2<f32> = mm(&FMA_V1, a.view(), b.view()).unwrap();
    same(&[y[[0, 0]]], &[p2(-133)]);
}

#[test]
fn g7_overflow() {
    same(&mm_f32(array![[MAX, MAX]], array![[1.0], [1.0]]), &[INF]);
    let y: Array2<bf16> = mm(&FMA_V1, array![[MAX]].view(), array![[1.0f32]].view()).unwrap();
    assert_eq!(y[[0, 0]].to_bits(), 0x7F80);
}

#[test]
fn g8_partials_are_summed_from_the_first_partial_not_from_zero() {
    // KC = 1: p0 = p1 = -0 (g5); t = p0 + p1 = -0 + -0 = -0. Starting from +0 would give +0.
    let c = Contract::custom(KStepKind::Fma, Some(1), 4, 4, 8).unwrap();
    let a = array![[-p2(-100), -p2(-100)]];
    let b = array![[p2(-100)], [p2(-100)]];
    let y: Array2<f32> = mm(&c, a.view(), b.view()).unwrap();
    same(&[y[[0, 0]]], &[-0.0]);
}

// ------------------------------------------------------------- the table and these tests

#[test]
fn every_table_row_has_a_test_and_every_test_a_row() {
    let page = include_str!("../../docs/spec/special-values.md");
    let src = include_str!("special_values.rs");
    let mut rows: Vec<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|id| id.len() == 2 && id.as_bytes()[0].is_ascii_lowercase() && id.as_bytes()[1].is_ascii_digit())
        .map(str::to_string)
        .collect();
    let mut tests: Vec<String> = src
        .lines()
        .filter_map(|l| l.strip_prefix("fn "))
        .filter(|n| n.len() > 3 && n.as_bytes()[2] == b'_' && n.as_bytes()[1].is_ascii_digit())
        .map(|n| n[..2].to_string())
        .collect();
    rows.sort();
    tests.sort();
    assert!(rows.len() >= 40, "parsed only {} rows from special-values.md", rows.len());
    assert_eq!(rows, tests, "docs/spec/special-values.md rows vs tests in special_values.rs");
}
