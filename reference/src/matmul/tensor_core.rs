//! The H100 tensor-core step, as exact integer arithmetic (docs/spec/mma-sm90.md).

use crate::dtype::Element;

/// One tensor-core step: `D = sum_k a[k]·b[k] + c` under the measured sm_90 rule.
/// `a` and `b` hold at most 16 values each; missing products are zero.
pub fn mma_step<T: Element>(c: f32, a: &[T], b: &[T]) -> f32 {
    let _ = (c, a, b);
    todo!("tensor-core step model")
}
