//! Elementwise math as fixed sequences of IEEE binary32 operations
//! (docs/spec/elementwise.md). Any CUDA/Triton/C implementation that performs the same
//! operations in the same order, with the same constants, gets the same bits.
//!
//! PLACEHOLDER: `exp`, `log` and `tanh` still call `libm`; the spec'd range reduction +
//! polynomial versions replace them.

use crate::error::{Error, Result};
use crate::Element;
use ndarray::{ArrayD, ArrayViewD};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// e^x.
pub fn exp(x: f32) -> f32 {
    libm::expf(x)
}

/// Natural logarithm.
pub fn log(x: f32) -> f32 {
    libm::logf(x)
}

/// Hyperbolic tangent.
pub fn tanh(x: f32) -> f32 {
    libm::tanhf(x)
}

/// `1 / sqrt(x)`: IEEE square root, then IEEE division (two roundings). Chosen over a
/// Newton-iterated approximation because both steps are correctly rounded everywhere.
pub fn rsqrt(x: f32) -> f32 {
    1.0 / x.sqrt()
}

/// `1 / (1 + exp(-x))`: negate (exact), exp, add, divide.
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `x / (1 + exp(-x))`: negate (exact), exp, add, divide.
pub fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}

/// GELU, tanh form: `u = x * x; u = u * x; u = fma(0.044715, u, x); u = u * sqrt(2/pi);
/// t = tanh(u); y = (0.5 * x) * (1 + t)`.
pub fn gelu(x: f32) -> f32 {
    const C: f32 = 0.044715;
    const K: f32 = 0.797_884_6; // sqrt(2/pi) rounded to f32: 0x3F4C422A
    let mut u = x * x;
    u *= x;
    u = C.mul_add(u, x);
    u *= K;
    let t = tanh(u);
    (0.5 * x) * (1.0 + t)
}

/// The elementwise ops by name (golden manifests and the CLI use these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unary {
    Exp,
    Log,
    Rsqrt,
    Tanh,
    Sigmoid,
    Silu,
    Gelu,
}

impl Unary {
    pub const ALL: [Unary; 7] = [Unary::Exp, Unary::Log, Unary::Rsqrt, Unary::Tanh, Unary::Sigmoid, Unary::Silu, Unary::Gelu];

    pub fn name(self) -> &'static str {
        match self {
            Unary::Exp => "exp",
            Unary::Log => "log",
            Unary::Rsqrt => "rsqrt",
            Unary::Tanh => "tanh",
            Unary::Sigmoid => "sigmoid",
            Unary::Silu => "silu",
            Unary::Gelu => "gelu",
        }
    }

    pub fn parse(s: &str) -> Result<Unary> {
        Unary::ALL
            .into_iter()
            .find(|u| u.name() == s)
            .ok_or_else(|| Error::param("unary", format!("unknown elementwise op {s:?}")))
    }

    pub fn eval(self, x: f32) -> f32 {
        match self {
            Unary::Exp => exp(x),
            Unary::Log => log(x),
            Unary::Rsqrt => rsqrt(x),
            Unary::Tanh => tanh(x),
            Unary::Sigmoid => sigmoid(x),
            Unary::Silu => silu(x),
            Unary::Gelu => gelu(x),
        }
    }
}

/// Applies `op` to every element (widened exactly), rounding to the output type.
pub fn unary<T: Element, O: Element>(op: Unary, x: ArrayViewD<T>) -> ArrayD<O> {
    x.mapv(|v| O::from_f32(op.eval(v.to_f32())))
}

/// [`unary`] in parallel; equal bit for bit (no reduction involved).
pub fn unary_fast<T: Element, O: Element>(op: Unary, x: ArrayViewD<T>) -> ArrayD<O> {
    let x = x.as_standard_layout();
    let v: Vec<O> = x.as_slice().unwrap().par_iter().map(|&v| O::from_f32(op.eval(v.to_f32()))).collect();
    ArrayD::from_shape_vec(x.raw_dim(), v).unwrap()
}
