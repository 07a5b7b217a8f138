//! The `lockstep` command as a user runs it: `ref mm` writes the reference's bits,
//! `golden verify` passes on the committed files, `conform --json` writes its report.

use half::bf16;
use lockstep_reference::{matmul, FMA_V1, MMA_SM90_V1};
use ndarray::{Array1, Array2};
use ndarray_npy::{read_npy, write_npy};
use std::process::Command;

fn lockstep(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lockstep {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tmp(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("lockstep-cli-{}-{name}", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn ref_mm_writes_the_reference_bits_for_f32_and_bf16() {
    let a = Array2::from_shape_fn((5, 37), |(i, k)| ((i * 37 + k) % 23) as f32 / 7.0 - 1.5);
    let b = Array2::from_shape_fn((37, 4), |(k, j)| ((k * 5 + j) % 11) as f32 / 3.0 - 1.7);
    let bias = Array1::from(vec![0.25f32, -1.0, 3.0, 0.0]);
    let (pa, pb, pbias, pc) = (tmp("a.npy"), tmp("b.npy"), tmp("bias.npy"), tmp("c.npy"));
    write_npy(&pa, &a).unwrap();
    write_npy(&pb, &b).unwrap();
    write_npy(&pbias, &bias).unwrap();
    lockstep(&["ref", "mm", "--a", &pa, "--b", &pb, "--bias", &pbias, "-o", &pc]);
    let got: Array2<f32> = read_npy(&pc).unwrap();
    let want: Array2<f32> = matmul::addmm(&FMA_V1, a.view(), b.view(), bias.view()).unwrap();
    assert_eq!(got.mapv(f32::to_bits), want.mapv(f32::to_bits));

    // bf16 in and out as uint16 bit patterns, under the tensor-core contract.
    let (ah, bh) = (a.mapv(bf16::from_f32), b.mapv(bf16::from_f32));
    write_npy(&pa, &ah.mapv(|x| x.to_bits())).unwrap();
    write_npy(&pb, &bh.mapv(|x| x.to_bits())).unwrap();
    lockstep(&[
        "ref",
        "mm",
        "--contract",
        "mma-sm90",
        "--a",
        &pa,
        "--b",
        &pb,
        "--in-dtype",
        "bf16",
        "--out-dtype",
        "bf16",
        "-o",
        &pc,
    ]);
    let got: Array2<u16> = read_npy(&pc).unwrap();
    let want: Array2<bf16> = matmul::mm(&MMA_SM90_V1, ah.view(), bh.view()).unwrap();
    assert_eq!(got, want.mapv(|x| x.to_bits()));
    for p in [pa, pb, pbias, pc] {
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn golden_verify_and_conform_json_succeed_on_this_build() {
    let out = lockstep(&["golden", "verify", "--filter", "fma-v1/mm/"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" passed, 0 failed"), "{text}");
    let json = tmp("conform.json");
    lockstep(&["conform", "--backend", "cpu-fast", "--contract", "fma-v1", "--json", &json]);
    let rows: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["family"] == "batch-invariance" && r["backend"] == "cpu-fast" && r["failed_cases"] == 0));
    assert!(rows.iter().all(|r| r["failed_cases"] == 0));
    std::fs::remove_file(json).ok();
}
