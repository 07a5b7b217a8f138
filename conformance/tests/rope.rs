//! RoPE (docs/spec/rope.md): the fast CPU path equals the literal reference on the catalog, and rows are
//! batch-invariant.

mod common;

use lockstep_conformance::ops::CpuFast;
use lockstep_reference::FMA_V1;

#[test]
fn rope_fast_matches_literal_across_batches_widths_and_specials() {
    common::assert_matches_reference(&CpuFast, &FMA_V1, "rope");
}

#[test]
fn rope_rows_are_batch_invariant() {
    common::assert_batch_invariant(&FMA_V1, "rope");
}
