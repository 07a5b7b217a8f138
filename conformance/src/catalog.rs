//! The catalog of cases: which shapes, dtypes and values each op is checked on. Golden
//! files take the small ones; `lockstep conform` and the tests take families of them.
//! Every input comes from [`Gen`] seeded with the FNV-1a hash of the case name, so a
//! case name alone determines its inputs.

use crate::case::{Case, OpSpec};
use crate::gen::Gen;
use crate::tensor::Tensor;
use half::{bf16, f16};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rope::{rope_tables, RopeParams};
use lockstep_reference::{Contract, DType, Element, KStepKind};
use ndarray::{Array1, ArrayD, IxDyn};

/// FNV-1a, 64-bit: the seed of a case's inputs.
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// How inputs are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Values {
    /// Uniform in [-scale, scale).
    Uniform(f32),
    /// Uniform, with about one element in 8 replaced by a special value.
    Specials(f32),
}

pub fn tensor(g: &mut Gen, dtype: DType, shape: &[usize], v: Values) -> Tensor {
    fn arr<T: Element>(g: &mut Gen, shape: &[usize], v: Values) -> ArrayD<T> {
        match v {
            Values::Uniform(s) => g.array::<T>(shape, s),
            Values::Specials(s) => g.array_with_specials::<T>(shape, s, 8),
        }
    }
    match dtype {
        DType::F32 => Tensor::F32(arr(g, shape, v)),
        DType::Bf16 => Tensor::Bf16(arr(g, shape, v)),
        DType::F16 => Tensor::F16(arr(g, shape, v)),
    }
}

/// The input types a contract's matmul accepts.
pub fn matmul_in_dtypes(c: &Contract) -> &'static [DType] {
    match c.kstep {
        KStepKind::Fma => &[DType::F32, DType::Bf16],
        KStepKind::MmaSm90 => &[DType::Bf16, DType::F16],
    }
}

pub fn vname(v: Values) -> &'static str {
    match v {
        Values::Uniform(_) => "rand",
        Values::Specials(_) => "special",
    }
}

/// A matmul case: `mm`, `addmm` (bias) or `bmm` (batch > 0).
#[allow(clippy::too_many_arguments)]
pub fn matmul_case(c: &Contract, op: OpSpec, tin: DType, tout: DType, m: usize, k: usize, n: usize, batch: usize, v: Values) -> Case {
    let name = format!(
        "{}/{}/{}_{}/m{m}_k{k}_n{n}{}/{}",
        c.id(),
        op.name(),
        tin,
        tout,
        if batch > 0 { format!("_b{batch}") } else { String::new() },
        vname(v)
    );
    let mut g = Gen::new(seed_of(&name));
    let mut inputs = Vec::new();
    if batch > 0 {
        inputs.push(("a", tensor(&mut g, tin, &[batch, m, k], v)));
        inputs.push(("b", tensor(&mut g, tin, &[batch, k, n], v)));
    } else {
        inputs.push(("a", tensor(&mut g, tin, &[m, k], v)));
        inputs.push(("b", tensor(&mut g, tin, &[k, n], v)));
    }
    if op == OpSpec::Addmm {
        inputs.push(("bias", tensor(&mut g, DType::F32, &[n], Values::Uniform(1.0))));
    }
    Case::new(name, op, c, tout, inputs)
}

/// A row-op case over `[rows, width]`.
pub fn row_case(c: &Contract, op: OpSpec, tin: DType, tout: DType, rows: usize, width: usize, v: Values) -> Case {
    let name = format!("{}/{}/{}_{}/r{rows}_h{width}/{}", c.id(), op.name(), tin, tout, vname(v));
    let mut g = Gen::new(seed_of(&name));
    // Logits-like scale for softmax, unit scale elsewhere.
    let scale = match (&op, v) {
        (OpSpec::Softmax | OpSpec::LogSoftmax, Values::Uniform(s) | Values::Specials(s)) => 8.0 * s,
        (_, Values::Uniform(s) | Values::Specials(s)) => s,
    };
    let v = match v {
        Values::Uniform(_) => Values::Uniform(scale),
        Values::Specials(_) => Values::Specials(scale),
    };
    let mut inputs = vec![("x", tensor(&mut g, tin, &[rows, width], v))];
    match op {
        OpSpec::Rmsnorm { .. } => inputs.push(("w", tensor(&mut g, tin, &[width], Values::Uniform(2.0)))),
        OpSpec::RmsnormResidual { .. } => {
            inputs.push(("residual", tensor(&mut g, tin, &[rows, width], v)));
            inputs.push(("w", tensor(&mut g, tin, &[width], Values::Uniform(2.0))));
        }
        _ => {}
    }
    Case::new(name, op, c, tout, inputs)
}

/// A RoPE case: `[tokens, heads, dim]` at random positions below `max_pos`.
pub fn rope_case(c: &Contract, tin: DType, tout: DType, tokens: usize, heads: usize, dim: usize, max_pos: usize) -> Case {
    let spec = OpSpec::Rope { dim, base: 10000.0 };
    let name = format!("{}/rope/{}_{}/t{tokens}_h{heads}_d{dim}_p{max_pos}/rand", c.id(), tin, tout);
    let mut g = Gen::new(seed_of(&name));
    let x = tensor(&mut g, tin, &[tokens, heads, dim], Values::Uniform(4.0));
    let pos: Array1<i64> = (0..tokens).map(|_| g.below(max_pos as u64) as i64).collect();
    let (cos, sin) = rope_tables(RopeParams { dim, base: 10000.0 }, max_pos).expect("valid rope params");
    Case::new(
        name,
        spec,
        c,
        tout,
        vec![
            ("x", x),
            ("pos", Tensor::I64(pos.into_dyn())),
            ("cos", Tensor::F32(cos.into_dyn())),
            ("sin", Tensor::F32(sin.into_dyn())),
        ],
    )
}

/// An elementwise case: a sweep of interesting inputs plus every special value.
pub fn unary_case(c: &Contract, func: Unary, tin: DType, tout: DType, n: usize) -> Case {
    let name = format!("{}/unary:{}/{}_{}/n{n}/sweep", c.id(), func.name(), tin, tout);
    let mut g = Gen::new(seed_of(&name));
    // Magnitudes spread over many binades: sign * 2^(e) * (1 + u), e in [-30, 30].
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            let e = g.below(61) as i32 - 30;
            let s = if g.below(2) == 0 { 1.0 } else { -1.0 };
            s * 2f32.powi(e) * (1.5 + 0.5 * g.uniform())
        })
        .collect();
    let x = match tin {
        DType::F32 => {
            v.extend(crate::gen::specials::<f32>());
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).unwrap())
        }
        DType::Bf16 => {
            let mut w: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            w.extend(crate::gen::specials::<bf16>());
            Tensor::Bf16(ArrayD::from_shape_vec(IxDyn(&[w.len()]), w).unwrap())
        }
        DType::F16 => {
            let mut w: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            w.extend(crate::gen::specials::<f16>());
            Tensor::F16(ArrayD::from_shape_vec(IxDyn(&[w.len()]), w).unwrap())
        }
    };
    Case::new(name, OpSpec::Unary { func }, c, tout, vec![("x", x)])
}

/// Every row op with its default parameters.
pub fn row_ops() -> Vec<OpSpec> {
    vec![
        OpSpec::Rmsnorm { eps: 1e-6 },
        OpSpec::RmsnormResidual { eps: 1e-5 },
        OpSpec::Softmax,
        OpSpec::LogSoftmax,
        OpSpec::Sum,
        OpSpec::Mean,
    ]
}

/// The golden set: small cases covering every op, both contracts, every dtype pair, odd
/// and power-of-two shapes, batches from 1 to 257, and special values.
pub fn golden_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for c in lockstep_reference::contract::CONTRACTS {
        let kc = c.kc.unwrap_or(256);
        for &tin in matmul_in_dtypes(c) {
            for tout in [DType::F32, tin] {
                for &(m, k, n) in &[
                    (1, 7, 5),
                    (3, kc - 1, 17),
                    (2, kc, 8),
                    (5, kc + 1, 9),
                    (16, 64, 64),
                    (257, 33, 5),
                    (4, 2 * kc + 3, 12),
                ] {
                    v.push(matmul_case(c, OpSpec::Mm, tin, tout, m, k, n, 0, Values::Uniform(1.0)));
                }
                v.push(matmul_case(c, OpSpec::Addmm, tin, tout, 7, kc + 5, 13, 0, Values::Uniform(1.0)));
                v.push(matmul_case(c, OpSpec::Bmm, tin, tout, 5, 40, 6, 3, Values::Uniform(1.0)));
                v.push(matmul_case(c, OpSpec::Mm, tin, tout, 9, 48, 11, 0, Values::Specials(1.0)));
            }
        }
    }
    let c = &lockstep_reference::FMA_V1;
    for op in row_ops() {
        for tin in [DType::F32, DType::Bf16] {
            for tout in [DType::F32, tin] {
                for &(r, h) in &[(1, 1), (3, 7), (2, 1024), (5, 1025), (257, 16), (2, 4096)] {
                    v.push(row_case(c, op.clone(), tin, tout, r, h, Values::Uniform(1.0)));
                }
                v.push(row_case(c, op.clone(), tin, tout, 6, 300, Values::Specials(1.0)));
            }
        }
    }
    for tin in [DType::F32, DType::Bf16] {
        for tout in [DType::F32, tin] {
            v.push(rope_case(c, tin, tout, 9, 2, 64, 4096));
            v.push(rope_case(c, tin, tout, 3, 1, 128, 100));
        }
    }
    for func in Unary::ALL {
        for (tin, tout) in [(DType::F32, DType::F32), (DType::Bf16, DType::Bf16), (DType::Bf16, DType::F32)] {
            v.push(unary_case(c, func, tin, tout, 500));
        }
    }
    v
}
