//! The golden files are the reference's outputs, and say so: the literal and fast paths
//! reproduce every case, regenerating them changes nothing, the manifest is snapshotted
//! for review, and `verify --outputs` catches a single flipped bit in a third party's file.

use lockstep_conformance::catalog::golden_cases;
use lockstep_conformance::golden::{self, read_manifest, Source, Store};
use lockstep_conformance::ops::{CpuFast, CpuLiteral};
use lockstep_conformance::tensor::{write_safetensors, Tensor};
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden")
}

fn assert_all_pass(verdicts: &[golden::Verdict], what: &str) {
    assert!(!verdicts.is_empty(), "{what}: no cases");
    let bad: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.passed())
        .map(|v| format!("{}: {:?} {}", v.case, v.error, v.comparison.summary()))
        .collect();
    assert!(bad.is_empty(), "{what}: {} of {} cases fail:\n{}", bad.len(), verdicts.len(), bad.join("\n"));
}

#[test]
fn golden_files_are_reproduced_by_the_literal_reference() {
    let v = golden::verify(&dir(), Source::Backend(&CpuLiteral), None, |_, _, _| {}).unwrap();
    assert_all_pass(&v, "cpu-literal");
}

#[test]
fn golden_files_are_reproduced_by_the_fast_path() {
    let v = golden::verify(&dir(), Source::Backend(&CpuFast), None, |_, _, _| {}).unwrap();
    assert_all_pass(&v, "cpu-fast");
}

#[test]
fn golden_generation_reproduces_the_committed_manifest() {
    let tmp = std::env::temp_dir().join(format!("lockstep-golden-{}", std::process::id()));
    let fresh = golden::generate(&tmp, &golden_cases(), |_, _| {}).unwrap();
    let committed = read_manifest(&dir()).unwrap();
    assert_eq!(fresh.cases.len(), committed.cases.len(), "case list changed: run `lockstep golden generate`");
    for (f, c) in fresh.cases.iter().zip(&committed.cases) {
        assert_eq!(
            f, c,
            "case {} differs from the committed golden file: run `lockstep golden generate` and review",
            c.name
        );
    }
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn golden_manifest_snapshot() {
    // One line per case: name and the SHA-256 of each output. Any change of a reference
    // output shows up in review as a snapshot diff.
    let m = read_manifest(&dir()).unwrap();
    let lines: Vec<String> = m
        .cases
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c.name,
                c.outputs
                    .iter()
                    .map(|o| format!("{}={}", o.name, &o.sha256.as_deref().unwrap_or("?")[..16]))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect();
    insta::assert_snapshot!("golden_manifest", lines.join("\n"));
}

#[test]
fn golden_directory_stays_small() {
    let total: u64 = std::fs::read_dir(dir()).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(total < 20 << 20, "golden/ is {total} bytes; the budget is 20 MB");
}

#[test]
fn verify_outputs_reports_a_single_flipped_bit() {
    let m = read_manifest(&dir()).unwrap();
    let store = Store::open(&dir(), None).unwrap();
    let target = m.cases.iter().find(|c| c.name.contains("fma-v1/mm/f32_f32/m3_")).expect("an f32 mm case");
    // A third party's outputs: every golden output, one element of one case off by 1 ulp.
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for c in &m.cases {
        for o in &c.outputs {
            let mut t = store.get(&o.tensor, &o.dtype).unwrap();
            if c.name == target.name {
                if let Tensor::F32(a) = &mut t {
                    let v = a.iter_mut().nth(5).unwrap();
                    *v = f32::from_bits(v.to_bits() + 1);
                }
            }
            tensors.push((o.tensor.clone(), t));
        }
    }
    let out = std::env::temp_dir().join(format!("lockstep-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let refs: Vec<(String, &Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
    write_safetensors(&out.join("mine.safetensors"), &refs).unwrap();
    let theirs = Store::open(&out, None).unwrap();
    let v = golden::verify::<CpuLiteral>(&dir(), Source::Outputs(&theirs), None, |_, _, _| {}).unwrap();
    let failed: Vec<&golden::Verdict> = v.iter().filter(|v| !v.passed()).collect();
    assert_eq!(failed.len(), 1, "exactly the tampered case fails");
    let first = failed[0].comparison.first.as_ref().unwrap();
    assert_eq!(
        (failed[0].case.as_str(), first.index, first.ulps, failed[0].comparison.mismatches),
        (target.name.as_str(), 5, Some(1), 1)
    );
    std::fs::remove_dir_all(&out).ok();
}
