//! The GPU backend in the conformance suite.

use crate::suite::Report;
use indicatif::ProgressBar;
use lockstep_reference::Contract;
use std::path::Path;

/// Runs every family on the GPU when one is present; otherwise records a visible skip.
pub fn conform(_golden: Option<&Path>, _contracts: &[&Contract], report: &mut Report, _spinner: &dyn Fn(&str) -> ProgressBar) {
    println!("gpu: skipped: this build has no GPU backend yet");
    report.skip("gpu", "-", "all", "all", "no GPU backend in this build");
}
