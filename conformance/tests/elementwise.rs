//! the elementwise functions (docs/spec/elementwise.md): the fast CPU path equals the literal reference on the catalog, and rows are
//! batch-invariant.

mod common;

use lockstep_conformance::ops::CpuFast;
use lockstep_reference::FMA_V1;

#[test]
fn elementwise_fast_matches_literal_across_batches_widths_and_specials() {
    common::assert_matches_reference(&CpuFast, &FMA_V1, "elementwise");
}
