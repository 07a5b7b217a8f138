//! Elementwise math as fixed sequences of IEEE binary32 operations
//! (docs/spec/elementwise.md). Any CUDA/Triton/C implementation that performs the same
//! operations in the same order, with the same constants, gets the same bits; the CUDA
//! mirror is `gpu/kernels/elementwise.cuh`.
//!
//! Primitives used, each correctly rounded (round to nearest even) on every target:
//! `+ - * /`, `sqrt`, `fma` ([`f32::mul_add`] = `__fmaf_rn`), `round_ties_even` (= `rintf`),
//! comparisons, and bit casts with integer arithmetic on the bits. No libm, no f64,
//! subnormal inputs and outputs kept (no flush to zero). Every special value is handled by an
//! explicit branch at the top of each function, so the polynomial paths only ever see
//! finite, in-range arguments. The coefficients come from `elementwise/fit.py` (run once by
//! hand; never at run time); their measured error is in the spec and in [`accuracy`].

pub mod accuracy;

use crate::error::{Error, Result};
use crate::Element;
use ndarray::{ArrayD, ArrayViewD};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Bit patterns of every constant, so that the spec, this file and the CUDA header can be
/// compared literally. The decimal in each comment is the exact value of the f32.
pub mod consts {
    /// 1.44269502162933349609375 = f32(1/ln 2).
    pub const LOG2E: u32 = 0x3FB8_AA3B;
    /// 0.693147182464599609375 = f32(ln 2).
    pub const LN2_HI: u32 = 0x3F31_7218;
    /// -1.904654212125933575630188e-9 = f32(ln 2 - LN2_HI).
    pub const LN2_LO: u32 = 0xB102_E308;
    /// 88.72283172607421875: the largest x whose e^x rounds to a finite f32.
    pub const EXP_X_HI: u32 = 0x42B1_7217;
    /// -103.972076416015625: the most negative x whose e^x rounds to a nonzero f32 (2^-149).
    pub const EXP_X_LO: u32 = 0xC2CF_F1B4;
    /// exp polynomial `e^r ~ 1 + r*(1 + r*(E2 + r*(E3 + r*(E4 + r*(E5 + r*E6)))))`.
    pub const EXP_E2: u32 = 0x3EFF_FFFE; // 0.4999999403953552
    pub const EXP_E3: u32 = 0x3E2A_AA49; // 0.1666652113199234
    pub const EXP_E4: u32 = 0x3D2A_AC7A; // 0.04166839271783829
    pub const EXP_E5: u32 = 0x3C09_1D0D; // 0.008368742652237415
    pub const EXP_E6: u32 = 0x3AB5_119B; // 0.001381445094011724
    /// 0.666666686534881591796875 = f32(2/3): log's reduction puts the significand in
    /// `[2/3, 4/3)`.
    pub const LOG_M_LO: u32 = 0x3F2A_AAAB;
    /// 2^23, to lift subnormal inputs of log into the normal range exactly.
    pub const TWO_P23: u32 = 0x4B00_0000;
    /// log polynomial `log1p(f) ~ f + f^2*(-1/2 + f*(L3 + f*(L4 + ... + f*L10)))`.
    pub const LOG_L3: u32 = 0x3EAA_AA83; // 0.3333321511745453
    pub const LOG_L4: u32 = 0xBE7F_FF78; // -0.24999797344207764
    pub const LOG_L5: u32 = 0x3E4C_E811; // 0.2001040130853653
    pub const LOG_L6: u32 = 0xBE2A_CEE0; // -0.16680479049682617
    pub const LOG_L7: u32 = 0x3E0F_6BBD; // 0.1400594264268875
    pub const LOG_L8: u32 = 0xBDF9_8945; // -0.1218438521027565
    pub const LOG_L9: u32 = 0x3E0F_3250; // 0.13984036445617676
    pub const LOG_L10: u32 = 0xBE04_013E; // -0.12891098856925964
    /// tanh: below this |x| the odd polynomial, above it `1 - 2/(e^(2|x|) + 1)`. 0.55.
    pub const TANH_B: u32 = 0x3F0C_CCCD;
    /// tanh: from this |x| on the result is +-1 (tanh rounds to 1 above 13 ln 2 = 9.0109). 10.0.
    pub const TANH_SAT: u32 = 0x4120_0000;
    /// tanh polynomial `tanh(a) ~ a + a*s*(T3 + s*(T5 + s*(T7 + s*(T9 + s*T11))))`, `s = a*a`.
    pub const TANH_T3: u32 = 0xBEAA_AAA5; // -0.33333316445350647
    pub const TANH_T5: u32 = 0x3E08_8693; // 0.13332585990428925
    pub const TANH_T7: u32 = 0xBD5C_9447; // -0.053852345794439316
    pub const TANH_T9: u32 = 0x3CAC_9ED5; // 0.02107183076441288
    pub const TANH_T11: u32 = 0xBBCD_9A0B; // -0.006274466868489981
    /// x*sigmoid(z): below this z the scaled tail form is used. -80.0.
    pub const XSIG_Z_MID: u32 = 0xC2A0_0000;
    /// x*sigmoid(z) is a signed zero below this z (|x e^z| < 2^-150 for sigmoid, silu, gelu). -120.0.
    pub const XSIG_Z_CUT: u32 = 0xC2F0_0000;
    /// gelu: 0.044715 rounded to f32 (0.0447149984538555145263671875).
    pub const GELU_C: u32 = 0x3D37_2713;
    /// gelu: sqrt(2/pi) rounded to f32 (0.79788458347320556640625).
    pub const GELU_K: u32 = 0x3F4C_422A;
    /// The NaN returned for invalid operations (log of a negative number).
    pub const QNAN: u32 = 0x7FC0_0000;
}

#[inline(always)]
fn c(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// `2^j` for `j` in `[-126, 127]`, built from its bits (exact).
#[inline(always)]
fn pow2(j: i32) -> f32 {
    f32::from_bits(((j + 127) as u32) << 23)
}

/// `q * 2^k` for `k` in `[-252, 254]`, in two steps `(q * 2^(k>>1)) * 2^(k - (k>>1))`
/// (`>>` arithmetic) so that neither power of two leaves the normal range. Where it
/// matters the first product is exact and the second rounds once, so a subnormal result
/// is rounded once, correctly, from `q`.
#[inline(always)]
fn scale(q: f32, k: i32) -> f32 {
    let k1 = k >> 1;
    (q * pow2(k1)) * pow2(k - k1)
}

/// The finite part of exp shared by [`exp`], [`silu`] and [`gelu`]: `e^x = p * 2^k` with
/// `p` in about `[0.707, 1.415]`. No special cases: callers keep `x` in `[-120, 88.73]`.
///
/// `k = rint(x * LOG2E)`; `r = fma(-k, LN2_LO, fma(-k, LN2_HI, x))` (Cody-Waite with fma);
/// `p = fma(fma(P, r, 1), r, 1)` with `P` the degree-4 Horner chain in `E6..E2`.
#[inline(always)]
fn exp_core(x: f32) -> (f32, i32) {
    use consts::*;
    let kf = (x * c(LOG2E)).round_ties_even();
    let nk = -kf;
    let r = nk.mul_add(c(LN2_HI), x);
    let r = nk.mul_add(c(LN2_LO), r);
    let mut p = c(EXP_E6);
    p = p.mul_add(r, c(EXP_E5));
    p = p.mul_add(r, c(EXP_E4));
    p = p.mul_add(r, c(EXP_E3));
    p = p.mul_add(r, c(EXP_E2));
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    (p, kf as i32)
}

/// e^x (spec: elementwise.md, "exp").
///
/// Specials first: NaN -> x; `x > EXP_X_HI` (incl. +inf) -> +inf; `x < EXP_X_LO`
/// (incl. -inf) -> +0. Otherwise `(p, k) = exp_core(x)` and the result is
/// `scale(p, k) = (p * 2^(k>>1)) * 2^(k - (k>>1))`, which rounds subnormal results once.
pub fn exp(x: f32) -> f32 {
    use consts::*;
    if x.is_nan() {
        return x;
    }
    if x > c(EXP_X_HI) {
        return f32::INFINITY;
    }
    if x < c(EXP_X_LO) {
        return 0.0;
    }
    let (p, k) = exp_core(x);
    scale(p, k)
}

/// Natural logarithm (spec: elementwise.md, "log").
///
/// Specials first: NaN -> x; `x < 0` (incl. -inf) -> NaN (`0x7FC00000`); `x == +-0` -> -inf;
/// `x == +inf` -> +inf. Subnormal `x` is multiplied by 2^23 (exact) and `e` corrected by -23.
/// Then, on the bits: `t = bits - 0x3F2AAAAB`, `e = t >> 23` (arithmetic),
/// `m = from_bits(bits - (e << 23))` in `[2/3, 4/3)`, `f = m - 1` (exact), `s = f * f`,
/// `P` = Horner chain `L10..L3, -0.5` in `f`, `r = fma(P, s, f)`,
/// `r = fma(e, LN2_LO, r)`, `r = fma(e, LN2_HI, r)`.
pub fn log(x: f32) -> f32 {
    use consts::*;
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return c(QNAN);
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    let mut bits = x.to_bits();
    let mut e_adj = 0i32;
    if bits < 0x0080_0000 {
        bits = (x * c(TWO_P23)).to_bits();
        e_adj = -23;
    }
    let t = bits.wrapping_sub(LOG_M_LO) as i32;
    let e = t >> 23;
    let m = f32::from_bits(bits.wrapping_sub((e << 23) as u32));
    let f = m - 1.0;
    let s = f * f;
    let mut p = c(LOG_L10);
    p = p.mul_add(f, c(LOG_L9));
    p = p.mul_add(f, c(LOG_L8));
    p = p.mul_add(f, c(LOG_L7));
    p = p.mul_add(f, c(LOG_L6));
    p = p.mul_add(f, c(LOG_L5));
    p = p.mul_add(f, c(LOG_L4));
    p = p.mul_add(f, c(LOG_L3));
    p = p.mul_add(f, -0.5);
    let r = p.mul_add(s, f);
    let ef = (e + e_adj) as f32;
    let r = ef.mul_add(c(LN2_LO), r);
    ef.mul_add(c(LN2_HI), r)
}

/// Hyperbolic tangent (spec: elementwise.md, "tanh"). Odd: computed on `a = |x|` (bit
/// clear) and the sign bit of `x` is OR-ed back, so tanh(-0) = -0.
///
/// NaN -> x. `a < TANH_B` (0.55): `s = a*a`, `q` = Horner chain `T11..T3` in `s`,
/// `q = q * s`, `r = fma(q, a, a)`. `TANH_B <= a < TANH_SAT` (10): `e = exp(a + a)`,
/// `d = e + 1`, `q = 2 / d`, `r = 1 - q`. `a >= TANH_SAT` (incl. inf): `r = 1`.
pub fn tanh(x: f32) -> f32 {
    use consts::*;
    if x.is_nan() {
        return x;
    }
    let sign = x.to_bits() & 0x8000_0000;
    let a = f32::from_bits(x.to_bits() & 0x7FFF_FFFF);
    let r = if a < c(TANH_B) {
        let s = a * a;
        let mut q = c(TANH_T11);
        q = q.mul_add(s, c(TANH_T9));
        q = q.mul_add(s, c(TANH_T7));
        q = q.mul_add(s, c(TANH_T5));
        q = q.mul_add(s, c(TANH_T3));
        q *= s;
        q.mul_add(a, a)
    } else if a < c(TANH_SAT) {
        let e = exp(a + a);
        let d = e + 1.0;
        let q = 2.0 / d;
        1.0 - q
    } else {
        1.0
    };
    f32::from_bits(r.to_bits() | sign)
}

/// `1 / sqrt(x)`: IEEE square root, then IEEE division (two roundings). Chosen over a
/// Newton-iterated approximation because both steps are correctly rounded everywhere.
/// rsqrt(+0) = +inf, rsqrt(-0) = -inf, rsqrt(x < 0) = NaN, rsqrt(+inf) = +0.
pub fn rsqrt(x: f32) -> f32 {
    1.0 / x.sqrt()
}

/// Logistic sigmoid `1 / (1 + e^-x)` (spec: elementwise.md, "sigmoid"). NaN -> x;
/// otherwise `x_sigmoid(1, x)`: `1 / (1 + exp(-x))` for `x >= -80`, and below that the
/// scaled form, which keeps the subnormal results of the far negative tail (the plain
/// formula flushes them to 0 once `exp(-x)` overflows, at x < -88.72).
pub fn sigmoid(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    x_sigmoid(1.0, x)
}

/// `x * sigmoid(z)` for `z` of the sign of `x` (or zero, or `x = 1`), shared by [`sigmoid`]
/// (`x = 1`), [`silu`] (`z = x`) and [`gelu`] (`z = 2u`). Caller has handled NaN.
///
/// - `z >= XSIG_Z_MID` (-80; incl. +-0 and +inf): `x / (1 + exp(-z))`.
/// - `z < XSIG_Z_CUT` (-120; incl. -inf): zero with the sign of `x` (|x e^z| < 2^-150 there).
/// - otherwise `(p, k) = exp_core(z)`, `e = scale(p, k)` (= e^z), `n = x * p`, `d = 1 + e`,
///   `q = n / d`, result `scale(q, k)`. The factor `2^k` comes last so that the tail, where
///   `x e^z` is tiny or subnormal, keeps the bits a subnormal `e^z` lacks, and nothing
///   overflows. (For `z >= -80`, `e^-z <= 5.6e34` cannot overflow.)
#[inline(always)]
fn x_sigmoid(x: f32, z: f32) -> f32 {
    use consts::*;
    if z >= c(XSIG_Z_MID) {
        return x / (1.0 + exp(-z));
    }
    if z < c(XSIG_Z_CUT) {
        return f32::from_bits(x.to_bits() & 0x8000_0000);
    }
    let (p, k) = exp_core(z);
    let e = scale(p, k);
    let n = x * p;
    let d = 1.0 + e;
    let q = n / d;
    scale(q, k)
}

/// SiLU, `x * sigmoid(x)` (spec: elementwise.md, "silu"). NaN -> x; otherwise
/// `x_sigmoid(x, x)`: `x / (1 + exp(-x))` for `x >= -80`, the scaled tail form below.
pub fn silu(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    x_sigmoid(x, x)
}

/// GELU, tanh form `0.5 x (1 + tanh(u))`, `u = sqrt(2/pi) (x + 0.044715 x^3)`
/// (spec: elementwise.md, "gelu"). Evaluated through the identity
/// `0.5 (1 + tanh(u)) = sigmoid(2u)`, which avoids the cancellation in `1 + tanh(u)`
/// for x < -3: NaN -> x; `u = x * x; u = u * x; u = fma(GELU_C, u, x); u = u * GELU_K;
/// z = u + u;` result `x_sigmoid(x, z)`.
pub fn gelu(x: f32) -> f32 {
    use consts::*;
    if x.is_nan() {
        return x;
    }
    let mut u = x * x;
    u *= x;
    u = c(GELU_C).mul_add(u, x);
    u *= c(GELU_K);
    let z = u + u;
    x_sigmoid(x, z)
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
