//! Accuracy of the elementwise ops against an f64 reference, in units in the last place
//! (docs/spec/elementwise.md, "Accuracy").
//!
//! Definitions (for one f32 input `x`, our result `y` and the f64 reference `t`):
//! - `t` is the libm (musl port, pure Rust, so the same on every host) f64 function at the
//!   exactly widened `x`; its own error (< 1 f64 ulp) is 2^-29 f32 ulps, negligible here.
//! - If `t` is NaN, `y` must be NaN; if `t` is +-inf (an exact special, e.g. log(0)), `y` must
//!   be that inf; if `y` is +-inf while `t` is finite, `t` rounded to f32 (RNE) must be that
//!   same inf (overflow); if `y` is NaN, `t` must be NaN; if `t` and `y` are both zero their
//!   signs must agree. A violation is a *special failure*, counted separately, never an ulp
//!   number.
//! - Otherwise the error is `|y - t| / ulp(t)` (computed in f64) where `ulp(t)` is the spacing
//!   of f32 values in the binade that contains `t`: `2^(max(e, -126) - 23)` with
//!   `e = floor(log2 |t|)` (capped at 127), and `2^-149` for `t = 0`. So a correctly rounded
//!   result has error <= 0.5, and a subnormal result is measured in units of 2^-149.

use super::Unary;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The f64 reference of each op: the mathematical function, evaluated in f64 by formulas
/// that have no cancellation (so their error stays near 1e-16 relative everywhere).
pub fn reference_f64(op: Unary, x: f32) -> f64 {
    let x = x as f64;
    // x * sigmoid(z) without cancellation or premature overflow.
    let x_sig = |x: f64, z: f64| {
        if z >= 0.0 {
            x / (1.0 + libm::exp(-z))
        } else {
            let e = libm::exp(z);
            if e == 0.0 {
                // The limit, also for x = -inf (where x * e would be NaN).
                return 0.0f64.copysign(x);
            }
            x * e / (1.0 + e)
        }
    };
    match op {
        Unary::Exp => libm::exp(x),
        Unary::Log => libm::log(x),
        Unary::Rsqrt => 1.0 / libm::sqrt(x),
        Unary::Tanh => libm::tanh(x),
        Unary::Sigmoid => x_sig(1.0, x),
        Unary::Silu => {
            if x.is_nan() {
                x
            } else {
                x_sig(x, x)
            }
        }
        Unary::Gelu => {
            if x.is_nan() {
                return x;
            }
            // 0.5 x (1 + tanh(u)) = x sigmoid(2u), with the exact constants.
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let u = k * (x + 0.044715 * x * x * x);
            x_sig(x, 2.0 * u)
        }
    }
}

/// Outcome of comparing one result with its reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Check {
    /// Finite comparison: error in f32 ulps of the reference.
    Ulps(f64),
    /// Both special and in agreement (NaN/NaN, same inf, same-signed zeros, correct overflow).
    SpecialOk,
    /// A special-value rule above was violated.
    SpecialFail,
}

/// The f32 ulp of the binade holding `t` (finite), as defined in the module docs.
pub fn ulp_f32_at(t: f64) -> f64 {
    let a = t.abs();
    if a == 0.0 {
        return 2f64.powi(-149);
    }
    let e = (((a.to_bits() >> 52) & 0x7FF) as i32 - 1023).clamp(-126, 127);
    2f64.powi(e - 23)
}

/// Compares our `y` with the reference `t` (module docs).
pub fn check(y: f32, t: f64) -> Check {
    if t.is_nan() || y.is_nan() {
        return if t.is_nan() && y.is_nan() { Check::SpecialOk } else { Check::SpecialFail };
    }
    if t.is_infinite() || y.is_infinite() {
        // Covers exact infinities and overflow: `t as f32` rounds to nearest even.
        return if (t as f32) == y && y.is_infinite() {
            Check::SpecialOk
        } else {
            Check::SpecialFail
        };
    }
    if t == 0.0 && y == 0.0 {
        return if t.is_sign_negative() == y.is_sign_negative() {
            Check::SpecialOk
        } else {
            Check::SpecialFail
        };
    }
    Check::Ulps((y as f64 - t).abs() / ulp_f32_at(t))
}

/// What a sweep found for one op.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccuracyReport {
    pub op: Unary,
    /// Inputs evaluated.
    pub inputs: u64,
    /// Largest ulp error over the finite comparisons.
    pub max_ulp: f64,
    /// Bits of an input that attains `max_ulp` (the smallest such bit pattern).
    pub worst_input: u32,
    /// Bits of our result at `worst_input`.
    pub worst_output: u32,
    /// Inputs whose results are not within 0.5 ulp (i.e. not correctly rounded) .
    pub not_correctly_rounded: u64,
    /// Special-value rule violations (module docs); must be 0.
    pub special_failures: u64,
    /// Bits of the first input (smallest bit pattern) with a special failure.
    pub first_special_failure: Option<u32>,
}

impl AccuracyReport {
    fn empty(op: Unary) -> Self {
        AccuracyReport {
            op,
            inputs: 0,
            max_ulp: 0.0,
            worst_input: 0,
            worst_output: op.eval(0.0).to_bits(),
            not_correctly_rounded: 0,
            special_failures: 0,
            first_special_failure: None,
        }
    }

    fn add(&mut self, x_bits: u32) {
        let x = f32::from_bits(x_bits);
        let y = self.op.eval(x);
        self.inputs += 1;
        match check(y, reference_f64(self.op, x)) {
            Check::Ulps(u) => {
                if u > 0.5 {
                    self.not_correctly_rounded += 1;
                }
                if u > self.max_ulp || (u == self.max_ulp && x_bits < self.worst_input) {
                    self.max_ulp = u;
                    self.worst_input = x_bits;
                    self.worst_output = y.to_bits();
                }
            }
            Check::SpecialOk => {}
            Check::SpecialFail => {
                self.special_failures += 1;
                self.first_special_failure = Some(self.first_special_failure.map_or(x_bits, |b| b.min(x_bits)));
            }
        }
    }

    /// Combines the reports of two disjoint sets of inputs (order independent).
    fn merge(mut self, o: Self) -> Self {
        self.inputs += o.inputs;
        self.not_correctly_rounded += o.not_correctly_rounded;
        self.special_failures += o.special_failures;
        self.first_special_failure = match (self.first_special_failure, o.first_special_failure) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if o.max_ulp > self.max_ulp || (o.max_ulp == self.max_ulp && o.worst_input < self.worst_input) {
            self.max_ulp = o.max_ulp;
            self.worst_input = o.worst_input;
            self.worst_output = o.worst_output;
        }
        self
    }
}

impl std::fmt::Display for AccuracyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} inputs, max error {:.4} ulp at x = {:e} (0x{:08X}) -> 0x{:08X}, {} not correctly rounded, {} special failures",
            self.op.name(),
            self.inputs,
            self.max_ulp,
            f32::from_bits(self.worst_input),
            self.worst_input,
            self.worst_output,
            self.not_correctly_rounded,
            self.special_failures
        )?;
        if let Some(b) = self.first_special_failure {
            write!(f, " (first at 0x{b:08X})")?;
        }
        Ok(())
    }
}

/// Measures `op` on the input bit patterns `start, start + stride, ...` up to and including
/// `end` (all as u32 bit patterns; both signs are just different bit ranges), in parallel.
/// `stride = 0` is treated as 1. The result does not depend on the thread count.
pub fn sweep(op: Unary, start: u32, end: u32, stride: u32) -> AccuracyReport {
    let stride = stride.max(1) as u64;
    if end < start {
        return AccuracyReport::empty(op);
    }
    let n = (end - start) as u64 / stride + 1;
    const CHUNK: u64 = 1 << 16;
    let chunks = n.div_ceil(CHUNK);
    (0..chunks)
        .into_par_iter()
        .map(|ci| {
            let mut r = AccuracyReport::empty(op);
            for i in ci * CHUNK..((ci + 1) * CHUNK).min(n) {
                r.add((start as u64 + i * stride) as u32);
            }
            r
        })
        .reduce(|| AccuracyReport::empty(op), AccuracyReport::merge)
}

/// All 2^32 inputs (the `lockstep ulp` subcommand). Minutes per op on a few cores.
pub fn exhaustive(op: Unary) -> AccuracyReport {
    sweep(op, 0, u32::MAX, 1)
}

/// The error bound the spec states for each op: the exhaustive maximum over all 2^32
/// inputs (docs/spec/elementwise.md, "Accuracy"), rounded up to two decimals. CI checks
/// samples and dense sub-ranges against it; `lockstep ulp` reproduces the exhaustive number.
pub fn stated_bound(op: Unary) -> f64 {
    match op {
        Unary::Exp => 0.90,
        Unary::Log => 0.95,
        Unary::Rsqrt => 1.50,
        Unary::Tanh => 1.57,
        Unary::Sigmoid => 2.49,
        Unary::Silu => 2.40,
        Unary::Gelu => 180.0,
    }
}
