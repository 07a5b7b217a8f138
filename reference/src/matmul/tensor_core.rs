//! The H100 tensor-core step, as exact integer arithmetic (docs/spec/mma-sm90.md).
//!
//! One sm_90 tensor-core instruction (`mma.sync` or `wgmma`, bf16 or f16 inputs, f32
//! accumulate) computes, for each output element, `D = Σ_k a_k·b_k + C` over 16 products.
//! It does *not* do this with IEEE operations. The rule below was fitted to, and matches
//! bit for bit, every bf16 and f16 element captured on an H100 and an H200
//! (`reference/tests/data/h100-tensor-core/README.md`):
//!
//! 1. Every product `a_k·b_k` is exact. Its nominal top weight is `T_k = 2^(Ea + Eb + 1)`,
//!    `Ea`, `Eb` the unbiased exponents of the factors (subnormals: the format's minimum
//!    normal exponent), as if every significand product lay in [2, 4).
//! 2. C's nominal top weight is `T_c = 2^(Ec + 1)` (same convention; an f32-subnormal C
//!    is used at its full value).
//! 3. `T` is the largest of these over the *nonzero* terms.
//! 4. Every term is truncated toward zero to a multiple of `max(T / 2^26, 2^-158)`. (The
//!    floor only acts when every term is below 2^-132, which bf16 products can be; it was
//!    found and measured for this crate: the `deep` category of the `tiny` capture.)
//! 5. The truncated terms are added exactly.
//! 6. The exact sum is truncated toward zero to 24 significant bits, and in the subnormal
//!    range to a multiple of 2^-149 (nothing is flushed). A truncated magnitude of 2^128
//!    or more is ±inf.
//! 7. Special values come first: a NaN factor or C, a product inf·0, or infinite terms of
//!    both signs give the canonical NaN `0x7FFFFFFF`; otherwise any infinite term gives
//!    that infinity. An exact zero sum is +0 whatever the signs of the zero terms, and so
//!    is a nonzero sum that step 6 truncates to zero (below 2^-149 in magnitude).
//!
//! Everything here is integer arithmetic on bit fields: there is no floating-point
//! operation anywhere in this file, so the model cannot inherit a rounding from the CPU.

use crate::dtype::{Class, Element};

/// The canonical NaN the tensor core returns (step 7): a NaN in C keeps no payload.
pub const CANONICAL_NAN: u32 = 0x7FFF_FFFF;

/// Fraction bits kept below the top weight `T` when terms are aligned (step 4).
pub const ALIGN_BITS: i32 = 26;

/// The finest alignment the step ever uses: terms are never kept below 2^-158 (step 4),
/// even when `T / 2^26` is smaller. Measured: 2^-157 and 2^-159 both mismatch the capture.
pub const MIN_LSB: i32 = -158;

/// A bf16 or f16 factor (or the f32 accumulator C) decomposed once, as the step sees it:
/// `value = sig · 2^(exp − M)`, `M` the format's explicit significand bits.
///
/// `sig` is signed and carries the implicit bit; `exp` is the *nominal* unbiased exponent
/// (subnormals at the minimum normal exponent, which is what steps 1–3 need; an f16
/// subnormal is not an f32 subnormal, so this is read from the format's own bit fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operand {
    /// Signed significand; 0 for ±0; for ±inf its sign is that of ±1.
    pub sig: i32,
    /// Nominal unbiased exponent (meaningless for zero and the special kinds).
    pub exp: i32,
    /// [`Operand::FINITE`], [`Operand::INF`] or [`Operand::NAN`].
    pub kind: u8,
}

impl Operand {
    pub const FINITE: u8 = 0;
    pub const INF: u8 = 1;
    pub const NAN: u8 = 2;

    /// Decomposes one element by its bit fields ([`Element::class`]).
    #[inline]
    pub fn of<T: Element>(x: T) -> Operand {
        match x.class() {
            Class::Zero => Operand {
                sig: 0,
                exp: 0,
                kind: Self::FINITE,
            },
            Class::Finite(p) => Operand {
                sig: if p.neg { -(p.sig as i32) } else { p.sig as i32 },
                exp: p.exp,
                kind: Self::FINITE,
            },
            Class::Inf { neg } => Operand {
                sig: if neg { -1 } else { 1 },
                exp: 0,
                kind: Self::INF,
            },
            Class::Nan => Operand {
                sig: 0,
                exp: 0,
                kind: Self::NAN,
            },
        }
    }
}

/// One tensor-core step: `D = Σ_k a[k]·b[k] + c` under the measured sm_90 rule (module
/// docs, steps 1–7). `a` and `b` hold the step's products in order, at most 16 of them;
/// missing products are zero (a short slice *is* the zero-padded step, since zero
/// products take no part in `T` and add nothing). Only `min(a.len(), b.len())` products
/// are read.
pub fn mma_step<T: Element>(c: f32, a: &[T], b: &[T]) -> f32 {
    let n = a.len().min(b.len());
    step_with::<T>(c, n, ALIGN_BITS, MIN_LSB, |k| (Operand::of(a[k]), Operand::of(b[k])))
}

/// The same step with other constants in place of the measured `ALIGN_BITS` = 26 and
/// `MIN_LSB` = −158 (step 4). Not part of any contract: it exists so that tests can show
/// that neighbouring models fail on the hardware captures, i.e. that those tests can fail.
/// `align_bits` is clamped to 0..=40 and `min_lsb` to −1000..=1000.
pub fn mma_step_with<T: Element>(c: f32, a: &[T], b: &[T], align_bits: u32, min_lsb: i32) -> f32 {
    let n = a.len().min(b.len());
    step_with::<T>(c, n, align_bits.min(40) as i32, min_lsb.clamp(-1000, 1000), |k| {
        (Operand::of(a[k]), Operand::of(b[k]))
    })
}

/// [`mma_step`] over operands decomposed beforehand with [`Operand::of`] (the fast path
/// decomposes each element of A and B once per matmul rather than once per output).
#[inline]
pub fn mma_step_ops<T: Element>(c: f32, a: &[Operand], b: &[Operand]) -> f32 {
    let n = a.len().min(b.len());
    step_with::<T>(c, n, ALIGN_BITS, MIN_LSB, |k| (a[k], b[k]))
}

/// The rule, written once. `get(k)` yields the two factors of product `k`; it is called
/// twice per product (one pass finds the specials and `T`, the other adds), which keeps
/// the step free of allocation for any `n`.
#[inline(always)]
fn step_with<T: Element>(c: f32, n: usize, align_bits: i32, min_lsb: i32, get: impl Fn(usize) -> (Operand, Operand)) -> f32 {
    let m = T::MANT_BITS as i32;
    let c = Operand::of(c);

    // Step 7 (specials) and steps 1–3 (T over the nonzero terms), in one pass.
    let mut nan = c.kind == Operand::NAN;
    let (mut pos_inf, mut neg_inf) = (false, false);
    if c.kind == Operand::INF {
        pos_inf |= c.sig > 0;
        neg_inf |= c.sig < 0;
    }
    // `top` is log2 T; i32::MIN while every term seen is zero.
    let mut top = if c.kind == Operand::FINITE && c.sig != 0 { c.exp + 1 } else { i32::MIN };
    for k in 0..n {
        let (x, y) = get(k);
        if (x.kind | y.kind) != Operand::FINITE {
            if x.kind == Operand::NAN || y.kind == Operand::NAN || x.sig == 0 || y.sig == 0 {
                // NaN factor, or inf·0 (an infinite factor has sig ±1, so sig == 0 is a zero).
                nan = true;
            } else if (x.sig < 0) != (y.sig < 0) {
                neg_inf = true;
            } else {
                pos_inf = true;
            }
        } else if x.sig != 0 && y.sig != 0 {
            top = top.max(x.exp + y.exp + 1);
        }
    }
    if nan || (pos_inf && neg_inf) {
        return f32::from_bits(CANONICAL_NAN);
    }
    if pos_inf {
        return f32::INFINITY;
    }
    if neg_inf {
        return f32::NEG_INFINITY;
    }
    if top == i32::MIN {
        return 0.0; // every term is ±0: the sum is +0 (step 7).
    }

    // Steps 4–5: every term as a signed integer count of `2^lsb = max(T / 2^26, 2^-158)`,
    // truncated toward zero, summed exactly. A product is < 2T and C < T, so each term is below
    // 2^27 units and 17 of them fit an i64 with room to spare (with `align_bits` ≤ 40, as
    // `mma_step_with` allows, below 2^41 units: an i64 still holds 2^22 such terms).
    let lsb = (top - align_bits).max(min_lsb);
    // C = sig · 2^(exp − 23).
    let mut sum = if c.sig != 0 { align(c.sig as i64, c.exp - 23 - lsb) } else { 0 };
    for k in 0..n {
        let (x, y) = get(k);
        // Product = (sig_a · sig_b) · 2^(Ea + Eb − 2M), exact in an i64 (≤ 22 bits).
        if x.sig != 0 && y.sig != 0 {
            sum += align(x.sig as i64 * y.sig as i64, x.exp + y.exp - 2 * m - lsb);
        }
    }

    // Step 6.
    round_sum(sum, lsb)
}

/// `v · 2^shift` truncated toward zero to an integer (step 4). `shift` is at most
/// `align_bits − 1` here (products) or `align_bits − 24` (C), so a left shift cannot overflow.
#[inline(always)]
fn align(v: i64, shift: i32) -> i64 {
    if shift >= 0 {
        v << shift
    } else if shift > -63 {
        let mag = v.unsigned_abs() >> (-shift);
        if v < 0 {
            -(mag as i64)
        } else {
            mag as i64
        }
    } else {
        0
    }
}

/// Step 6: the exact value `sum · 2^lsb` truncated toward zero to 24 significant bits,
/// and to a multiple of 2^-149; ±inf from 2^128 up. Builds the f32 bits directly.
#[inline(always)]
fn round_sum(sum: i64, lsb: i32) -> f32 {
    if sum == 0 {
        return 0.0; // an exact zero sum is +0 (step 7).
    }
    let sign = if sum < 0 { 0x8000_0000u32 } else { 0 };
    let mag = sum.unsigned_abs();
    // Weight of the most significant bit of the sum.
    let msb = 63 - mag.leading_zeros() as i32 + lsb;
    if msb >= 128 {
        // Truncation keeps the msb, so the truncated magnitude is ≥ 2^128.
        return f32::from_bits(sign | 0x7F80_0000);
    }
    // Weight of the last kept bit: 24 significant bits, but never below 2^-149.
    let q_lsb = (msb - 23).max(-149);
    let shift = q_lsb - lsb;
    let q = if shift >= 64 {
        0
    } else if shift >= 0 {
        mag >> shift
    } else {
        mag << (-shift) // exact: the sum has fewer than 24 bits
    };
    if q == 0 {
        // A nonzero sum below 2^-149 truncates to zero, and that zero is +0 whatever the
        // sum's sign (measured: tests/data/h100-tensor-core, the `tiny` capture).
        return 0.0;
    }
    // q < 2^24 counts units of 2^q_lsb. With q_lsb = -149 and q < 2^23 this is the
    // subnormal encoding; otherwise q's bit 23 is set and adding it to the exponent field
    // (q_lsb + 149) supplies the implicit bit's +1.
    f32::from_bits(sign | ((((q_lsb + 149) as u32) << 23) + q as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    fn bf(x: f32) -> bf16 {
        let b = bf16::from_f32(x);
        assert_eq!(b.to_f32(), x, "{x} is not a bf16");
        b
    }

    #[test]
    fn exact_small_sums_are_exact() {
        let a = [bf(1.0), bf(2.0), bf(-3.0)];
        let b = [bf(4.0), bf(0.5), bf(1.0)];
        assert_eq!(mma_step(0.25, &a, &b), 2.25);
        assert_eq!(mma_step(0.0, &[bf16::ZERO], &[bf16::ZERO]).to_bits(), 0);
    }
}
