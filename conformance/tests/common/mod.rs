//! Shared test helpers: run a suite family for one op stem and fail with the full report.
#![allow(dead_code)]

use lockstep_conformance::case::Case;
use lockstep_conformance::ops::{CpuFast, CpuLiteral, Ops};
use lockstep_conformance::suite::{self, Report};
use lockstep_reference::Contract;

/// `backend` equals the literal reference on every catalog case of `stem`.
pub fn assert_matches_reference<B: Ops>(b: &B, c: &Contract, stem: &str) {
    let mut report = Report::default();
    let mut n = 0;
    for (family, case) in suite::reference_cases(c).into_iter().filter(|(_, k)| k.spec.stem() == stem) {
        let expected = lockstep_conformance::case::run_case(&CpuLiteral, &case).expect("reference runs");
        let got = lockstep_conformance::case::run_case(b, &case).map_err(|e| e.to_string());
        let cmp = got.map(|g| suite::compare_outputs(&expected, &g));
        report.add(&b.name(), &c.id(), &case.spec.name(), family, &case.name, cmp);
        n += 1;
    }
    assert!(n > 0, "no catalog cases for {stem} under {}", c.id());
    assert!(report.passed(), "\n{}", report.table());
}

/// Every batch-invariance case of `stem` holds on both CPU paths.
pub fn assert_batch_invariant(c: &Contract, stem: &str) {
    let cases: Vec<Case> = suite::invariance_cases(c).into_iter().filter(|k| k.spec.stem() == stem).collect();
    assert!(!cases.is_empty(), "no invariance cases for {stem} under {}", c.id());
    let mut report = Report::default();
    for case in &cases {
        report.add(
            "cpu-literal",
            &c.id(),
            &case.spec.name(),
            "batch-invariance",
            &case.name,
            suite::batch_invariance(&CpuLiteral, case),
        );
        report.add(
            "cpu-fast",
            &c.id(),
            &case.spec.name(),
            "batch-invariance",
            &case.name,
            suite::batch_invariance(&CpuFast, case),
        );
    }
    assert!(report.passed(), "\n{}", report.table());
}
