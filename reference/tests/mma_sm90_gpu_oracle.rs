//! The mma-sm90 matmul tree against whole GPU matmuls (tests/data/h100-tensor-core/gpu_oracle_cases.txt).
//!
//! The captures in `mma_sm90_captures.rs` pin down one or two tensor-core steps. These cases
//! are complete products from the GPU oracle kernel of `gpu/kernels/matmul_tc.cu` (K up to
//! 256, so chains of up to 16 steps, and K = 1, 33, 40, 100: a zero-padded last step), on
//! normal, wide-range and special inputs (±0, subnormals, huge values, ±inf, NaN), bf16 and
//! f16. `mm` and `mm_fast` under `MMA_SM90_V1` must give every output bit, NaN counted equal
//! to NaN. The negative control shows the comparison can fail: the same cases under `FMA_V1`
//! (IEEE fma chains) differ.

use half::{bf16, f16};
use lockstep_reference::dtype::same_bits;
use lockstep_reference::matmul::{mm, mm_fast};
use lockstep_reference::{Contract, Element, FMA_V1, MMA_SM90_V1};
use ndarray::Array2;
use std::path::PathBuf;

struct Case {
    dtype: String,
    category: String,
    m: usize,
    n: usize,
    k: usize,
    a: Vec<u16>,
    w: Vec<u16>,
    c: Vec<u32>,
}

fn hex_line<T>(line: &str, tag: &str, len: usize, parse: fn(&str) -> T) -> Vec<T> {
    let rest = line.strip_prefix(tag).unwrap_or_else(|| panic!("expected a line starting {tag:?}"));
    let v: Vec<T> = rest.split_whitespace().map(parse).collect();
    assert_eq!(v.len(), len, "line {tag:?}: {} values, expected {len}", v.len());
    v
}

fn load() -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/h100-tensor-core/gpu_oracle_cases.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let mut cases = Vec::new();
    while let Some(head) = lines.next() {
        let f: Vec<&str> = head.split_whitespace().collect();
        assert!(f.len() == 6 && f[0] == "case", "bad case line {head:?}");
        let (m, n, k) = (f[3].parse().unwrap(), f[4].parse().unwrap(), f[5].parse().unwrap());
        let h16 = |s: &str| u16::from_str_radix(s, 16).unwrap();
        let h32 = |s: &str| u32::from_str_radix(s, 16).unwrap();
        cases.push(Case {
            dtype: f[1].to_string(),
            category: f[2].to_string(),
            m,
            n,
            k,
            a: hex_line(lines.next().unwrap(), "A", m * k, h16),
            w: hex_line(lines.next().unwrap(), "W", n * k, h16),
            c: hex_line(lines.next().unwrap(), "C", m * n, h32),
        });
    }
    cases
}

/// Mismatching elements of `mm` and `mm_fast` under contract `c` against the GPU's output.
fn mismatches<T: Element>(c: &Contract, case: &Case, from_bits: fn(u16) -> T) -> (usize, usize) {
    let a = Array2::from_shape_fn((case.m, case.k), |(i, k)| from_bits(case.a[i * case.k + k]));
    // The GPU computes A·Wᵀ with W stored N×K; the reference takes B = Wᵀ (K×N).
    let b = Array2::from_shape_fn((case.k, case.n), |(k, j)| from_bits(case.w[j * case.k + k]));
    let lit: Array2<f32> = mm(c, a.view(), b.view()).unwrap();
    let fast: Array2<f32> = mm_fast(c, a.view(), b.view()).unwrap();
    let count = |out: &Array2<f32>| {
        out.indexed_iter()
            .filter(|((i, j), v)| !same_bits(**v, f32::from_bits(case.c[i * case.n + j])))
            .count()
    };
    (count(&lit), count(&fast))
}

fn check(c: &Contract, case: &Case) -> (usize, usize) {
    match case.dtype.as_str() {
        "bf16" => mismatches(c, case, bf16::from_bits),
        "f16" => mismatches(c, case, f16::from_bits),
        d => panic!("unknown dtype {d}"),
    }
}

#[test]
fn mma_sm90_matmul_matches_gpu_oracle_bitwise() {
    let cases = load();
    assert_eq!(cases.len(), 36, "the file holds 2 dtypes x 3 categories x 6 shapes");
    let mut elements = 0;
    for case in &cases {
        let (lit, fast) = check(&MMA_SM90_V1, case);
        assert!(
            lit == 0 && fast == 0,
            "{} {} M={} N={} K={}: mm {lit}, mm_fast {fast} mismatches of {}",
            case.dtype,
            case.category,
            case.m,
            case.n,
            case.k,
            case.m * case.n
        );
        elements += case.m * case.n;
    }
    assert_eq!(elements, 2856);
}

/// Negative control: IEEE fma chains (fma-v1) do not reproduce the tensor core's bits.
#[test]
fn fma_contract_does_not_match_gpu_oracle() {
    let differ: usize = load().iter().filter(|c| c.category == "normal" && c.k >= 16).map(|c| check(&FMA_V1, c).0).sum();
    assert!(differ > 100, "only {differ} elements differ under fma-v1");
}
