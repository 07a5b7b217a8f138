//! The innermost step of the matmul tree, the one replaceable part of it
//! (docs/spec/matmul.md, "The k-step"). The tree in [`super::dot`] is written once,
//! generic over `S: KStep`.

use crate::contract::KStepKind;
use crate::dtype::Element;

pub trait KStep {
    const KIND: KStepKind;
    /// Continues the chain `acc` over `a[k]·b[k]` for `k = 0, 1, …` in order, `KIND.width()`
    /// products per step; a last, partial step is padded with zero products.
    fn chain<T: Element>(acc: f32, a: &[T], b: &[T]) -> f32;
}

/// `fma-v1`'s step: `acc = fma(a_k, b_k, acc)`, one rounding per k.
pub struct FmaStep;

impl KStep for FmaStep {
    const KIND: KStepKind = KStepKind::Fma;
    #[inline]
    fn chain<T: Element>(mut acc: f32, a: &[T], b: &[T]) -> f32 {
        for (x, y) in a.iter().zip(b) {
            acc = x.to_f32().mul_add(y.to_f32(), acc);
        }
        acc
    }
}

/// `mma-sm90`'s step: one H100 tensor-core instruction over 16 products and the
/// accumulator, modelled exactly by [`super::tensor_core::mma_step`].
pub struct MmaSm90Step;

impl KStep for MmaSm90Step {
    const KIND: KStepKind = KStepKind::MmaSm90;
    fn chain<T: Element>(mut acc: f32, a: &[T], b: &[T]) -> f32 {
        let w = Self::KIND.width();
        for (sa, sb) in a.chunks(w).zip(b.chunks(w)) {
            acc = super::tensor_core::mma_step(acc, sa, sb);
        }
        acc
    }
}
