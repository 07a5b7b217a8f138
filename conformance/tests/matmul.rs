//! matmul: the fast CPU path equals the literal reference, and every row of a batch equals
//! its batch-1 result (docs/spec/matmul.md).

mod common;

use half::bf16;
use lockstep_conformance::compare::assert_bits;
use lockstep_conformance::ops::CpuFast;
use lockstep_conformance::tensor::Tensor;
use lockstep_reference::{matmul, Contract, KStepKind, FMA_V1};
use ndarray::Array2;
use proptest::prelude::*;

#[test]
fn matmul_fma_fast_matches_literal_across_batches_widths_and_kc_edges() {
    common::assert_matches_reference(&CpuFast, &FMA_V1, "matmul");
}

#[test]
fn matmul_fma_rows_are_batch_invariant() {
    common::assert_batch_invariant(&FMA_V1, "matmul");
}

#[test]
fn matmul_kc_chunking_is_observable() {
    // The tree is not "any order": a different KC gives different bits on ill-conditioned
    // data, so a kernel that ignored KC would be caught.
    let k = 1000;
    let a = Array2::from_shape_fn((1, k), |(_, j)| if j % 2 == 0 { 1e4f32 + j as f32 } else { -1e4f32 - j as f32 + 0.37 });
    let b = Array2::from_shape_fn((k, 1), |(j, _)| 1.0 + (j % 7) as f32 * 1e-3);
    let c64 = Contract::custom(KStepKind::Fma, Some(64), 1024, 64, 256).unwrap();
    let x: Array2<f32> = matmul::mm(&FMA_V1, a.view(), b.view()).unwrap();
    let y: Array2<f32> = matmul::mm(&c64, a.view(), b.view()).unwrap();
    assert_ne!(x[[0, 0]].to_bits(), y[[0, 0]].to_bits());
}

#[test]
fn matmul_bf16_output_is_round_to_nearest_even_of_f32_result() {
    let a = Array2::from_shape_fn((5, 300), |(i, j)| bf16::from_f32(((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5));
    let b = Array2::from_shape_fn((300, 6), |(i, j)| bf16::from_f32(((i * 13 + j * 7) % 89) as f32 / 89.0 - 0.5));
    let f: Array2<f32> = matmul::mm(&FMA_V1, a.view(), b.view()).unwrap();
    let h: Array2<bf16> = matmul::mm(&FMA_V1, a.view(), b.view()).unwrap();
    assert_bits("bf16 out", &Tensor::Bf16(f.mapv(bf16::from_f32).into_dyn()), &Tensor::Bf16(h.into_dyn()));
}

fn arb_matrix(max_m: usize, max_k: usize, max_n: usize) -> impl Strategy<Value = (Array2<f32>, Array2<f32>)> {
    (1..=max_m, 1..=max_k, 1..=max_n).prop_flat_map(|(m, k, n)| {
        // Arbitrary bit patterns: NaN, inf, subnormals and all.
        (proptest::collection::vec(any::<u32>(), m * k), proptest::collection::vec(any::<u32>(), k * n)).prop_map(move |(a, b)| {
            (
                Array2::from_shape_vec((m, k), a.into_iter().map(f32::from_bits).collect()).unwrap(),
                Array2::from_shape_vec((k, n), b.into_iter().map(f32::from_bits).collect()).unwrap(),
            )
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn matmul_fast_equals_literal_on_arbitrary_bits((a, b) in arb_matrix(9, 600, 40)) {
        let lit: Array2<f32> = matmul::mm(&FMA_V1, a.view(), b.view()).unwrap();
        let fast: Array2<f32> = matmul::mm_fast(&FMA_V1, a.view(), b.view()).unwrap();
        let c = lockstep_conformance::compare::compare(&Tensor::F32(lit.into_dyn()), &Tensor::F32(fast.into_dyn()));
        prop_assert!(c.passed(), "{}", c.summary());
    }

    #[test]
    fn matmul_row_alone_equals_row_in_batch((a, b) in arb_matrix(40, 300, 20), pick in any::<prop::sample::Index>()) {
        let full: Array2<f32> = matmul::mm_fast(&FMA_V1, a.view(), b.view()).unwrap();
        let i = pick.index(a.nrows());
        let one: Array2<f32> = matmul::mm_fast(&FMA_V1, a.slice(ndarray::s![i..i + 1, ..]), b.view()).unwrap();
        let c = lockstep_conformance::compare::compare(&Tensor::F32(full.slice(ndarray::s![i..i + 1, ..]).to_owned().into_dyn()), &Tensor::F32(one.into_dyn()));
        prop_assert!(c.passed(), "row {i}: {}", c.summary());
    }
}
