//! The families of checks `lockstep conform` runs on every backend, and their report.
//!
//! - `golden`: the backend reproduces every golden file output.
//! - `vs-reference`: the backend equals the literal reference on the catalog below
//!   (batch sizes, widths, KC and lane edges, special values).
//! - `batch-invariance`: for a large batch, rows `0..B'` computed alone equal the same
//!   rows of the full batch for every `B'` in [`BATCHES`], and single rows at the far end
//!   equal their batch-1 results.

use crate::case::{run_case, Case, OpSpec};
use crate::catalog::{attention_cases, matmul_case, matmul_in_dtypes, rope_case, row_case, row_ops, sample_cases, unary_case, Values};
use crate::compare::{compare, Comparison};
use crate::golden::{self, Source};
use crate::ops::{CpuLiteral, Ops};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::{Contract, DType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Batch sizes every batch-invariance check covers.
pub const BATCHES: [usize; 12] = [1, 2, 3, 7, 8, 16, 33, 64, 127, 128, 257, 1024];
/// Model widths (hidden sizes) plus odd and power-of-two ones.
pub const WIDTHS: [usize; 10] = [1, 7, 300, 896, 1024, 2048, 4096, 5120, 14336, 1025];

/// One line of the report: a backend's verdict on one op and one family.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub backend: String,
    pub contract: String,
    pub op: String,
    pub family: String,
    pub cases: usize,
    pub failed_cases: usize,
    pub comparison: Comparison,
    /// First failing case and why.
    pub first_failure: Option<String>,
    /// Set when the family could not run at all on this backend (reported, never a pass).
    pub skipped: Option<String>,
    /// Set on a row that reports a finding without a verdict (e.g. cuBLAS against the
    /// tensor-core tree, or the step check on a GPU the contract was not measured on):
    /// never a pass and never a failure.
    pub informative: Option<String>,
}

impl Row {
    fn new(backend: &str, contract: &str, op: &str, family: &str) -> Row {
        Row {
            backend: backend.into(),
            contract: contract.into(),
            op: op.into(),
            family: family.into(),
            cases: 0,
            failed_cases: 0,
            comparison: Comparison::empty(),
            first_failure: None,
            skipped: None,
            informative: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.skipped.is_none() && self.informative.is_none() && self.failed_cases == 0
    }

    /// Neither a pass nor a failure: skipped or informative.
    fn counts(&self) -> bool {
        self.skipped.is_none() && self.informative.is_none()
    }
}

/// Accumulates case results into rows keyed by (backend, contract, op, family).
#[derive(Default)]
pub struct Report {
    rows: BTreeMap<(String, String, String, String), Row>,
}

impl Report {
    pub fn add(&mut self, backend: &str, contract: &str, op: &str, family: &str, case: &str, c: Result<Comparison, String>) {
        let key = (backend.to_string(), contract.to_string(), op.to_string(), family.to_string());
        let row = self.rows.entry(key).or_insert_with(|| Row::new(backend, contract, op, family));
        row.cases += 1;
        let failure = match c {
            Ok(c) => {
                let f = (!c.passed()).then(|| c.summary());
                row.comparison.merge(c);
                f
            }
            Err(e) => Some(format!("error: {e}")),
        };
        if let Some(f) = failure {
            row.failed_cases += 1;
            if row.first_failure.is_none() {
                row.first_failure = Some(format!("{case}: {f}"));
            }
        }
    }

    pub fn skip(&mut self, backend: &str, contract: &str, op: &str, family: &str, why: &str) {
        self.put(Row {
            skipped: Some(why.into()),
            ..Row::new(backend, contract, op, family)
        });
    }

    /// A row decided outside the case machinery (one check of `cases` parts, `failed` of
    /// them failing), with its own description of the first failure.
    /// `at` is (backend, contract, op, family).
    pub fn record(&mut self, at: (&str, &str, &str, &str), cases: usize, failed: usize, c: Comparison, first_failure: Option<String>) {
        let (backend, contract, op, family) = at;
        self.put(Row {
            cases,
            failed_cases: failed,
            comparison: c,
            first_failure,
            ..Row::new(backend, contract, op, family)
        });
    }

    /// An informative row: what was found, never a pass or a failure.
    pub fn inform(&mut self, at: (&str, &str, &str, &str), cases: usize, c: Comparison, text: &str) {
        let (backend, contract, op, family) = at;
        self.put(Row {
            cases,
            comparison: c,
            informative: Some(text.into()),
            ..Row::new(backend, contract, op, family)
        });
    }

    /// Sets a whole row, under the key its own names make.
    fn put(&mut self, row: Row) {
        let key = (row.backend.clone(), row.contract.clone(), row.op.clone(), row.family.clone());
        self.rows.insert(key, row);
    }

    pub fn rows(&self) -> Vec<&Row> {
        self.rows.values().collect()
    }

    pub fn passed(&self) -> bool {
        self.rows.values().all(|r| r.passed() || !r.counts())
    }

    pub fn failures(&self) -> usize {
        self.rows.values().filter(|r| r.counts() && !r.passed()).count()
    }

    /// The table, one line per row.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<12} {:<12} {:<18} {:<17} {:>6} {:>12}  {}\n",
            "backend", "contract", "op", "family", "cases", "elements", "verdict"
        );
        for r in self.rows.values() {
            let verdict = if let Some(why) = &r.skipped {
                format!("SKIPPED: {why}")
            } else if let Some(what) = &r.informative {
                format!("INFO: {what}")
            } else if r.passed() {
                "pass".to_string()
            } else {
                format!("FAIL {}/{} cases: {}", r.failed_cases, r.cases, r.first_failure.as_deref().unwrap_or(""))
            };
            s += &format!(
                "{:<12} {:<12} {:<18} {:<17} {:>6} {:>12}  {}\n",
                r.backend, r.contract, r.op, r.family, r.cases, r.comparison.elements, verdict
            );
        }
        s
    }
}

/// Compares every output a case expects (a missing one counts as a mismatch).
pub fn compare_outputs(expected: &BTreeMap<String, crate::tensor::Tensor>, got: &BTreeMap<String, crate::tensor::Tensor>) -> Comparison {
    let mut c = Comparison::empty();
    for (name, e) in expected {
        match got.get(name) {
            Some(g) => c.merge(compare(e, g)),
            None => c.merge(Comparison {
                elements: e.len(),
                mismatches: e.len(),
                first: None,
                incompatible: Some(format!("no output {name}")),
            }),
        }
    }
    c
}

/// Cases a backend must reproduce against the literal reference, per contract.
pub fn reference_cases(c: &Contract) -> Vec<(&'static str, Case)> {
    let mut v = Vec::new();
    let kc = c.kc.unwrap_or(16);
    for &tin in matmul_in_dtypes(c) {
        let tout = tin;
        for &m in &BATCHES {
            v.push(("batch-sizes", matmul_case(c, OpSpec::Mm, tin, DType::F32, m, 300, 24, 0, Values::Uniform(1.0))));
        }
        for &k in &WIDTHS {
            v.push(("widths", matmul_case(c, OpSpec::Mm, tin, tout, 3, k, 8, 0, Values::Uniform(1.0))));
        }
        for k in [kc - 1, kc, kc + 1, 2 * kc + 1, 15, 16, 17] {
            v.push(("k-edges", matmul_case(c, OpSpec::Addmm, tin, DType::F32, 5, k, 19, 0, Values::Uniform(1.0))));
        }
        v.push(("specials", matmul_case(c, OpSpec::Mm, tin, DType::F32, 17, 64, 33, 0, Values::Specials(1.0))));
        v.push(("bmm", matmul_case(c, OpSpec::Bmm, tin, tout, 9, 70, 10, 4, Values::Uniform(1.0))));
    }
    if c.kstep == lockstep_reference::KStepKind::Fma {
        for op in row_ops() {
            for &r in &BATCHES {
                v.push(("batch-sizes", row_case(c, op.clone(), DType::F32, DType::F32, r, 300, Values::Uniform(1.0))));
            }
            for &h in WIDTHS.iter().chain(&[1023, 151936]) {
                v.push(("widths", row_case(c, op.clone(), DType::Bf16, DType::Bf16, 2, h, Values::Uniform(1.0))));
            }
            v.push(("specials", row_case(c, op.clone(), DType::F32, DType::F32, 16, 777, Values::Specials(1.0))));
        }
        for d in [64, 128, 256] {
            v.push(("rope", rope_case(c, DType::F32, DType::F32, 33, 4, d, 16384)));
            v.push(("rope", rope_case(c, DType::Bf16, DType::Bf16, 7, 8, d, 4096)));
        }
        for func in Unary::ALL {
            v.push(("sweep", unary_case(c, func, DType::F32, DType::F32, 20000)));
            v.push(("sweep", unary_case(c, func, DType::Bf16, DType::Bf16, 2000)));
        }
    }
    // Attention and sampling keep the fma-v1 trees under every contract.
    for case in attention_cases(c) {
        v.push(("entry-points", case));
    }
    for case in sample_cases(c) {
        v.push(("requests", case));
    }
    v
}

/// Large-batch cases for the batch-invariance family.
pub fn invariance_cases(c: &Contract) -> Vec<Case> {
    let mut v = Vec::new();
    let big = *BATCHES.last().unwrap();
    for &tin in matmul_in_dtypes(c) {
        v.push(matmul_case(c, OpSpec::Addmm, tin, tin, big, 600, 40, 0, Values::Uniform(1.0)));
    }
    if c.kstep == lockstep_reference::KStepKind::Fma {
        for op in row_ops() {
            v.push(row_case(c, op, DType::Bf16, DType::Bf16, big, 1500, Values::Uniform(1.0)));
        }
        v.push(rope_case(c, DType::Bf16, DType::Bf16, big, 2, 64, 8192));
    }
    // Decode over both layouts: each sequence alone equals itself inside the batch.
    v.extend(attention_cases(c).into_iter().filter(|k| matches!(k.spec, OpSpec::AttnDecode { .. })));
    v
}

/// Runs one case-level check, turning errors into failures.
fn check_against<B: Ops>(b: &B, case: &Case, expected: &BTreeMap<String, crate::tensor::Tensor>) -> Result<Comparison, String> {
    let got = run_case(b, case).map_err(|e| e.to_string())?;
    Ok(compare_outputs(expected, &got))
}

/// Batch invariance of one case on one backend.
pub fn batch_invariance<B: Ops>(b: &B, case: &Case) -> Result<Comparison, String> {
    let full = run_case(b, case).map_err(|e| e.to_string())?;
    let n = case.batch();
    let slice = |outs: &BTreeMap<String, crate::tensor::Tensor>, r: std::ops::Range<usize>| -> BTreeMap<String, crate::tensor::Tensor> {
        let ax = case.batched_inputs().expect("an op with a batch axis")[0].1;
        outs.iter().map(|(k, t)| (k.clone(), t.slice_axis(ax, r.clone()))).collect()
    };
    let mut c = Comparison::empty();
    let mut ranges: Vec<std::ops::Range<usize>> = BATCHES.iter().filter(|&&b| b < n).map(|&b| 0..b).collect();
    ranges.extend([n - 1..n, n / 2..n / 2 + 1, n - 7.min(n)..n]);
    for r in ranges {
        let part = run_case(b, &case.rows(r.clone())).map_err(|e| e.to_string())?;
        c.merge(compare_outputs(&slice(&full, r), &part));
    }
    Ok(c)
}

fn unsupported<B: Ops>(b: &B, op: &OpSpec, contract: &str) -> Option<String> {
    let c = Contract::by_id(contract).ok()?;
    (!b.supports(op, c)).then(|| format!("{} has no {} kernel for {contract}", b.name(), op.name()))
}

/// Runs every family on one backend. `progress(done, total, label)` is called per case.
pub fn run_backend<B: Ops>(b: &B, golden_dir: Option<&Path>, contracts: &[&Contract], report: &mut Report, progress: &dyn Fn(&str)) {
    let name = b.name();
    let is_reference = name == CpuLiteral.name();
    if let Some(dir) = golden_dir {
        match golden::verify(dir, Source::Backend(b), None, |_, _, n| progress(n)) {
            Ok(verdicts) => {
                for v in verdicts.into_iter().filter(|v| contracts.iter().any(|c| c.id() == v.contract)) {
                    if let Some(why) = unsupported(b, &v.spec, &v.contract) {
                        report.skip(&name, &v.contract, &v.op, "golden", &why);
                        continue;
                    }
                    let r = match &v.error {
                        Some(e) => Err(e.clone()),
                        None => Ok(v.comparison.clone()),
                    };
                    report.add(&name, &v.contract, &v.op, "golden", &v.case, r);
                }
            }
            Err(e) => report.add(&name, "-", "all", "golden", "manifest", Err(e)),
        }
    }
    for &c in contracts {
        if !is_reference {
            for (family, case) in reference_cases(c) {
                if let Some(why) = unsupported(b, &case.spec, &c.id()) {
                    report.skip(&name, &c.id(), &case.spec.name(), &format!("vs-ref:{family}"), &why);
                    continue;
                }
                progress(&case.name);
                let r = run_case(&CpuLiteral, &case)
                    .map_err(|e| format!("reference failed: {e}"))
                    .and_then(|exp| check_against(b, &case, &exp));
                report.add(&name, &c.id(), &case.spec.name(), &format!("vs-ref:{family}"), &case.name, r);
            }
        }
        for case in invariance_cases(c) {
            if let Some(why) = unsupported(b, &case.spec, &c.id()) {
                report.skip(&name, &c.id(), &case.spec.name(), "batch-invariance", &why);
                continue;
            }
            progress(&case.name);
            report.add(&name, &c.id(), &case.spec.name(), "batch-invariance", &case.name, batch_invariance(b, &case));
        }
    }
}
