//! Property tests for the row ops over random shapes and arbitrary bit patterns (NaN, inf,
//! subnormals included): the fast path equals the literal reference, and a row computed
//! alone equals the same row inside the batch. Failures shrink to a minimal case.

use lockstep_conformance::case::{run_case, Case, OpSpec};
use lockstep_conformance::catalog::row_ops;
use lockstep_conformance::compare::compare;
use lockstep_conformance::ops::{CpuFast, CpuLiteral};
use lockstep_conformance::tensor::Tensor;
use lockstep_reference::{DType, FMA_V1};
use ndarray::{Array1, Array2};
use proptest::prelude::*;

fn case(op: &OpSpec, x: Array2<f32>, r: Array2<f32>, w: Array1<f32>) -> Case {
    let mut inputs = vec![("x", Tensor::F32(x.into_dyn()))];
    match op {
        OpSpec::Rmsnorm { .. } => inputs.push(("w", Tensor::F32(w.into_dyn()))),
        OpSpec::RmsnormResidual { .. } => {
            inputs.push(("residual", Tensor::F32(r.into_dyn())));
            inputs.push(("w", Tensor::F32(w.into_dyn())));
        }
        _ => {}
    }
    Case::new("prop", op.clone(), &FMA_V1, DType::F32, inputs)
}

fn arb_rows() -> impl Strategy<Value = (usize, Array2<f32>, Array2<f32>, Array1<f32>)> {
    (0..row_ops().len(), 1usize..12, 1usize..2100).prop_flat_map(|(op, rows, h)| {
        let bits = prop_oneof![
            any::<u32>(),
            (-30i32..30).prop_map(|e| 2f32.powi(e).to_bits()),
            any::<i16>().prop_map(|v| (v as f32 / 300.0).to_bits())
        ];
        (
            Just(op),
            proptest::collection::vec(bits.clone(), rows * h),
            proptest::collection::vec(bits, rows * h),
            proptest::collection::vec(any::<i8>(), h),
        )
            .prop_map(move |(op, x, r, w)| {
                (
                    op,
                    Array2::from_shape_vec((rows, h), x.into_iter().map(f32::from_bits).collect()).unwrap(),
                    Array2::from_shape_vec((rows, h), r.into_iter().map(f32::from_bits).collect()).unwrap(),
                    w.into_iter().map(|v| v as f32 / 64.0).collect(),
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn row_ops_fast_equals_literal_and_rows_are_batch_invariant((op, x, r, w) in arb_rows()) {
        let op = &row_ops()[op];
        let full = case(op, x, r, w);
        let lit = run_case(&CpuLiteral, &full).unwrap();
        let fast = run_case(&CpuFast, &full).unwrap();
        for (k, t) in &lit {
            let c = compare(t, &fast[k]);
            prop_assert!(c.passed(), "{} fast vs literal, output {k}: {}", op.name(), c.summary());
        }
        let i = full.batch() - 1;
        let one = run_case(&CpuFast, &full.rows(i..i + 1)).unwrap();
        for (k, t) in &lit {
            let c = compare(&t.slice_axis(0, i..i + 1), &one[k]);
            prop_assert!(c.passed(), "{} row {i} alone vs in batch, output {k}: {}", op.name(), c.summary());
        }
    }
}
