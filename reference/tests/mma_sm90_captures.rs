//! The tensor-core step model against real H100 outputs (tests/data/h100-tensor-core/).
//!
//! Every element of every bf16 and f16 capture must match bit for bit, NaN included: the
//! rule says the hardware returns the canonical NaN `0x7FFFFFFF`, and so must the model.
//! The negative controls at the end show that these tests can fail: models that differ
//! from the rule in one detail mismatch on the same files.

use half::{bf16, f16};
use lockstep_reference::matmul::kstep::{KStep, MmaSm90Step};
use lockstep_reference::matmul::tensor_core::{mma_step, mma_step_with, MIN_LSB};
use lockstep_reference::Element;
use ndarray::{Array3, ArrayView1};
use ndarray_npy::NpzReader;
use std::fs::File;
use std::path::PathBuf;

fn data(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/h100-tensor-core").join(file)
}

/// One input category of a capture file: A (tile, row, k), B (tile, k, col) as raw
/// bf16/f16 bits, C and D (tile, row, col) as f32 bits.
struct Category {
    name: String,
    a: Array3<u16>,
    b: Array3<u16>,
    c: Array3<u32>,
    d: Array3<u32>,
}

/// Loads the named categories of a capture file; with `exact`, also checks that the file
/// holds no other arrays (so nothing in it goes unchecked).
fn load(file: &str, categories: &[&str], exact: bool) -> Vec<Category> {
    let path = data(file);
    let mut npz = NpzReader::new(File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    if exact {
        let mut names = npz.names().unwrap();
        names.sort();
        let mut expected: Vec<String> = categories.iter().flat_map(|c| ["A", "B", "C", "D"].map(|x| format!("{c}_{x}"))).collect();
        expected.sort();
        assert_eq!(names, expected, "{file}: unexpected arrays");
    }
    categories
        .iter()
        .map(|&cat| {
            let cat_ = Category {
                name: cat.to_string(),
                a: npz.by_name(&format!("{cat}_A")).unwrap(),
                b: npz.by_name(&format!("{cat}_B")).unwrap(),
                c: npz.by_name(&format!("{cat}_C")).unwrap(),
                d: npz.by_name(&format!("{cat}_D")).unwrap(),
            };
            let (t, m, k) = cat_.a.dim();
            let (t2, k2, n) = cat_.b.dim();
            assert!(
                t == t2 && k == k2 && cat_.c.dim() == (t, m, n) && cat_.d.dim() == (t, m, n),
                "{file}/{cat}: shapes"
            );
            cat_
        })
        .collect()
}

/// Runs `model(C, A row, B column)` on every element and lists the mismatches.
fn mismatches<T: Element>(cat: &Category, model: impl Fn(f32, &[T], &[T]) -> f32) -> (usize, Vec<String>) {
    let (tiles, m, k) = cat.a.dim();
    let n = cat.b.dim().2;
    let to_t = |v: ArrayView1<u16>| v.iter().map(|&x| T::from_bits_u32(x as u32)).collect::<Vec<T>>();
    let mut bad = Vec::new();
    let mut count = 0;
    for t in 0..tiles {
        let cols: Vec<Vec<T>> = (0..n).map(|j| to_t(cat.b.slice(ndarray::s![t, .., j]))).collect();
        for i in 0..m {
            let row = to_t(cat.a.slice(ndarray::s![t, i, ..]));
            assert_eq!(row.len(), k);
            for (j, col) in cols.iter().enumerate() {
                let c = cat.c[[t, i, j]];
                let want = cat.d[[t, i, j]];
                let got = model(f32::from_bits(c), &row, col).to_bits();
                count += 1;
                if got != want {
                    bad.push(format!(
                        "{}: tile {t} row {i} col {j}: C = {c:#010x}: hardware {want:#010x}, model {got:#010x}",
                        cat.name
                    ));
                }
            }
        }
    }
    (count, bad)
}

/// Checks every element of the file; `per_category` is the element count its README states.
fn check_file<T: Element>(file: &str, categories: &[&str], steps: usize, per_category: usize) {
    let mut total = 0;
    for cat in load(file, categories, true) {
        assert_eq!(cat.a.dim().2, 16 * steps, "{file}/{}: K", cat.name);
        let (count, bad) = mismatches::<T>(&cat, |c, a, b| MmaSm90Step::chain(c, a, b));
        assert_eq!(count, per_category, "{file}/{}: element count", cat.name);
        assert!(
            bad.is_empty(),
            "{file}: {} of {count} elements differ from the hardware; first ones:\n{}",
            bad.len(),
            bad[..bad.len().min(10)].join("\n")
        );
        eprintln!("{file}/{}: {count} elements, all bit-identical", cat.name);
        total += count;
    }
    assert!(total > 0);
}

const ALL: [&str; 5] = ["wide", "special", "underflow", "overflow", "subnormal"];
const TWO: [&str; 2] = ["wide", "special"];

#[test]
fn bf16_mma_sync_m16n8k16() {
    check_file::<bf16>("bf16_mma_sync_m16n8k16.npz", &ALL, 1, 512 * 16 * 16);
}

#[test]
fn bf16_wgmma_m64n64k16() {
    check_file::<bf16>("bf16_wgmma_m64n64k16.npz", &ALL, 1, 48 * 64 * 64);
}

/// Two instructions chained through the accumulator (k = 0..15, then 16..31): the step
/// applied twice, D of the first as C of the second, which is what `chain` does.
#[test]
fn bf16_wgmma_m64n64k16_x2_chains_through_the_accumulator() {
    check_file::<bf16>("bf16_wgmma_m64n64k16_x2.npz", &TWO, 2, 24 * 64 * 64);
}

#[test]
fn f16_mma_sync_m16n8k16() {
    check_file::<f16>("f16_mma_sync_m16n8k16.npz", &TWO, 1, 512 * 16 * 16);
}

#[test]
fn f16_wgmma_m64n64k16() {
    check_file::<f16>("f16_wgmma_m64n64k16.npz", &TWO, 1, 24 * 64 * 64);
}

/// Sums near and below 2^-149 (captured for this crate, see the data README): subnormal
/// results are truncated, not flushed; a sum that truncates to zero is +0 (`tiny`); and
/// terms are never aligned below 2^-158 (`deep`: every term below 2^-132).
#[test]
fn bf16_mma_sync_m16n8k16_tiny() {
    check_file::<bf16>("bf16_mma_sync_m16n8k16_tiny.npz", &["deep", "tiny"], 1, 1024 * 16 * 8);
}

/// The single step, called directly, is what `chain` does for K = 16.
#[test]
fn chain_of_one_step_is_the_step() {
    let cat = load("bf16_wgmma_m64n64k16.npz", &["special"], false).swap_remove(0);
    let (count, bad) = mismatches::<bf16>(&cat, mma_step);
    assert!(count > 0 && bad.is_empty(), "{}", bad.len());
}

// ---- Negative controls: each simpler model must fail somewhere on the captures. ----

/// Mismatch count of `model` over the given categories of a file.
fn failures<T: Element>(file: &str, cats: &[&str], model: impl Fn(f32, &[T], &[T]) -> f32 + Copy) -> (usize, usize) {
    load(file, cats, false).iter().fold((0, 0), |(n, b), cat| {
        let (count, bad) = mismatches::<T>(cat, model);
        (n + count, b + bad.len())
    })
}

/// `acc = fma(a_k, b_k, acc)` from C. (A bf16 or f16 product is exact in f32, so a plain
/// multiply-then-add chain gives the same bits.)
fn fma_chain<T: Element>(c: f32, a: &[T], b: &[T]) -> f32 {
    a.iter().zip(b).fold(c, |acc, (x, y)| x.to_f32().mul_add(y.to_f32(), acc))
}

/// The exact sum (f64 holds every bf16 product and a 17-term sum of them exactly when the
/// exponents are close, as in `wide`), rounded once to nearest.
fn exact_rne<T: Element>(c: f32, a: &[T], b: &[T]) -> f32 {
    exact_f64(c, a, b) as f32
}

fn exact_f64<T: Element>(c: f32, a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).fold(c as f64, |acc, (x, y)| acc + x.to_f32() as f64 * y.to_f32() as f64)
}

#[test]
fn simpler_models_fail_on_the_captures() {
    let file = "bf16_mma_sync_m16n8k16.npz";
    let wide = ["wide"];
    let mut report = Vec::new();
    let mut check = |name: &str, (count, bad): (usize, usize)| {
        report.push(format!("{name}: {bad} of {count} wrong"));
        assert!(bad > 0, "{name} matched every element: the capture tests could not tell it apart");
    };
    check("f32 fma chain", failures::<bf16>(file, &wide, fma_chain));
    check("f16, f32 fma chain", failures::<f16>("f16_mma_sync_m16n8k16.npz", &wide, fma_chain));
    check("exact sum rounded to nearest", failures::<bf16>(file, &wide, exact_rne));
    for bits in [24, 25, 27, 28] {
        check(
            &format!("terms aligned to T/2^{bits}"),
            failures::<bf16>(file, &wide, move |c, a, b| mma_step_with(c, a, b, bits, MIN_LSB)),
        );
    }
    check(
        "f16, terms aligned to T/2^25",
        failures::<f16>("f16_mma_sync_m16n8k16.npz", &wide, |c, a, b| mma_step_with(c, a, b, 25, MIN_LSB)),
    );
    check(
        "f16, terms aligned to T/2^27",
        failures::<f16>("f16_mma_sync_m16n8k16.npz", &wide, |c, a, b| mma_step_with(c, a, b, 27, MIN_LSB)),
    );
    check(
        "exact sum, truncated once (no term alignment)",
        failures::<bf16>(file, &wide, |c, a, b| mma_step_with(c, a, b, 40, MIN_LSB)),
    );
    let tiny = "bf16_mma_sync_m16n8k16_tiny.npz";
    for floor in [-157, -159, -1000] {
        check(
            &format!("terms never aligned below 2^{floor} (deep)"),
            failures::<bf16>(tiny, &["deep"], move |c, a, b| mma_step_with(c, a, b, 26, floor)),
        );
    }
    // Keeping the sign of a negative sum that truncates to zero (IEEE-style −0), judged by
    // the sign of the exact sum (f64 holds these tiny products exactly enough for a sign).
    check(
        "underflow to −0 for negative sums (tiny)",
        failures::<bf16>(tiny, &["tiny"], |c, a, b| {
            let d = mma_step(c, a, b);
            let exact = exact_f64(c, a, b);
            if d.to_bits() == 0 && exact < 0.0 {
                -0.0
            } else {
                d
            }
        }),
    );
    // The measured 26 through the same entry point matches: the controls differ from the
    // model in exactly one number.
    assert_eq!(failures::<bf16>(file, &wide, |c, a, b| mma_step_with(c, a, b, 26, MIN_LSB)).1, 0);
    eprintln!("{}", report.join("\n"));
}
