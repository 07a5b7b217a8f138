//! sum and mean (docs/spec/mean.md): the fast CPU path equals the literal reference on the catalog, and rows are
//! batch-invariant.

mod common;

use lockstep_conformance::ops::CpuFast;
use lockstep_reference::FMA_V1;

#[test]
fn mean_fast_matches_literal_across_batches_widths_and_specials() {
    common::assert_matches_reference(&CpuFast, &FMA_V1, "mean");
}

#[test]
fn mean_rows_are_batch_invariant() {
    common::assert_batch_invariant(&FMA_V1, "mean");
}
