//! Bad input is an `Error` value that names the shape or parameter, never a panic.

use lockstep_reference::rmsnorm::{rmsnorm, rmsnorm_residual, RmsnormParams};
use lockstep_reference::rope::{rope, rope_tables, RopeParams};
use lockstep_reference::{matmul, mean, softmax, Contract, Error, KStepKind, FMA_V1, MMA_SM90_V1};
use ndarray::{Array1, Array2, Array3};

fn msg<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    r.expect_err("must be an error").to_string()
}

#[test]
fn matmul_rejects_bad_shapes_and_contracts() {
    let a = Array2::<f32>::zeros((2, 3));
    let b = Array2::<f32>::zeros((4, 5));
    assert!(msg(matmul::mm::<f32, f32>(&FMA_V1, a.view(), b.view())).contains("2×3"));
    assert!(msg(matmul::mm_fast::<f32, f32>(&FMA_V1, a.view(), b.view())).contains("4×5"));
    let k0 = Array2::<f32>::zeros((2, 0));
    assert!(matches!(
        matmul::mm::<f32, f32>(&FMA_V1, k0.view(), Array2::<f32>::zeros((0, 3)).view()),
        Err(Error::Empty { .. })
    ));
    let sq = Array2::<f32>::zeros((3, 3));
    assert!(msg(matmul::addmm::<f32, f32>(&FMA_V1, sq.view(), sq.view(), Array1::zeros(4).view())).contains("bias has 4"));
    let a3 = Array3::<f32>::zeros((2, 3, 3));
    let b3 = Array3::<f32>::zeros((3, 3, 3));
    assert!(msg(matmul::bmm::<f32, f32>(&FMA_V1, a3.view(), b3.view())).contains("batch"));
    // f32 inputs are not tensor-core inputs.
    assert!(matches!(
        matmul::mm::<f32, f32>(&MMA_SM90_V1, sq.view(), sq.view()),
        Err(Error::Unsupported { .. })
    ));
    // A contract built by hand with KC = 0 is caught by every op, not just by `custom`.
    let bad = Contract { kc: Some(0), ..FMA_V1.clone() };
    assert!(msg(matmul::mm::<f32, f32>(&bad, sq.view(), sq.view())).contains("KC = 0"));
    assert!(msg(matmul::mm_fast::<f32, f32>(&bad, sq.view(), sq.view())).contains("KC = 0"));
    assert!(Contract::custom(KStepKind::Fma, Some(0), 4, 4, 8).is_err());
}

#[test]
fn row_ops_reject_bad_shapes_and_params() {
    let x = Array2::<f32>::ones((2, 8));
    let w = Array1::<f32>::ones(7);
    assert!(msg(rmsnorm::<f32, f32>(&FMA_V1, x.view(), w.view(), RmsnormParams { eps: 1e-6 })).contains("weight has 7"));
    let w8 = Array1::<f32>::ones(8);
    assert!(msg(rmsnorm::<f32, f32>(&FMA_V1, x.view(), w8.view(), RmsnormParams { eps: -1.0 })).contains("eps"));
    assert!(msg(rmsnorm::<f32, f32>(&FMA_V1, x.view(), w8.view(), RmsnormParams { eps: f32::NAN })).contains("eps"));
    let r = Array2::<f32>::ones((3, 8));
    assert!(msg(rmsnorm_residual::<f32, f32>(
        &FMA_V1,
        x.view(),
        r.view(),
        w8.view(),
        RmsnormParams { eps: 1e-6 }
    ))
    .contains("residual"));
    let empty = Array2::<f32>::zeros((0, 8));
    assert!(matches!(softmax::softmax::<f32, f32>(&FMA_V1, empty.view()), Err(Error::Empty { .. })));
    assert!(matches!(
        mean::mean::<f32, f32>(&FMA_V1, Array2::<f32>::zeros((2, 0)).view()),
        Err(Error::Empty { .. })
    ));
    let bad_lanes = Contract { lanes: 6, ..FMA_V1.clone() };
    assert!(msg(softmax::log_softmax::<f32, f32>(&bad_lanes, x.view())).contains("L = 6"));
}

#[test]
fn rope_rejects_bad_tables_and_positions() {
    assert!(rope_tables(RopeParams { dim: 7, base: 10000.0 }, 4).is_err());
    assert!(rope_tables(RopeParams { dim: 8, base: 0.5 }, 4).is_err());
    let (c, s) = rope_tables(RopeParams { dim: 8, base: 10000.0 }, 4).unwrap();
    let x = Array3::<f32>::ones((2, 1, 8));
    assert!(msg(rope::<f32, f32>(x.view(), Array1::from(vec![0i64, 4]).view(), c.view(), s.view())).contains("position 4"));
    assert!(msg(rope::<f32, f32>(x.view(), Array1::from(vec![-1i64, 0]).view(), c.view(), s.view())).contains("position -1"));
    assert!(msg(rope::<f32, f32>(x.view(), Array1::from(vec![0i64]).view(), c.view(), s.view())).contains("2 tokens"));
    let x6 = Array3::<f32>::ones((1, 1, 6));
    assert!(msg(rope::<f32, f32>(x6.view(), Array1::from(vec![0i64]).view(), c.view(), s.view())).contains("head dim 6"));
}
