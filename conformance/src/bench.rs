//! `lockstep bench --cpu`: the fast CPU matmul beside `matrixmultiply::sgemm`, same
//! process, same shapes, same threads (matrixmultiply's `threading` feature uses the
//! physical cores; ours uses rayon's pool). Medians of several runs.

use crate::gen::Gen;
use lockstep_reference::{matmul, FMA_V1};
use ndarray::Array2;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct CpuBenchRow {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub ours_s: f64,
    pub matrixmultiply_s: f64,
    /// ours / matrixmultiply in throughput (>1: we are faster).
    pub ratio: f64,
    pub ours_gflops: f64,
    pub matrixmultiply_gflops: f64,
}

/// The shapes of the canonical-reference issue: M in {1, 16, 128, 512} with N = K = 4096, and 4096³.
pub const SHAPES: [(usize, usize, usize); 5] = [(1, 4096, 4096), (16, 4096, 4096), (128, 4096, 4096), (512, 4096, 4096), (4096, 4096, 4096)];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

pub fn run_cpu(shapes: &[(usize, usize, usize)], runs: usize, progress: &dyn Fn(&str)) -> Vec<CpuBenchRow> {
    let mut out = Vec::new();
    for &(m, n, k) in shapes {
        progress(&format!("{m}x{n}x{k}"));
        let mut g = Gen::new(42);
        let a: Array2<f32> = g.array::<f32>(&[m, k], 1.0).into_dimensionality().unwrap();
        let b: Array2<f32> = g.array::<f32>(&[k, n], 1.0).into_dimensionality().unwrap();
        let runs = if m * n * k > 1 << 33 { runs.min(3) } else { runs };
        let ours = time(runs, || {
            let c: Array2<f32> = matmul::mm_fast(&FMA_V1, a.view(), b.view()).unwrap();
            std::hint::black_box(c);
        });
        let mut c = Array2::<f32>::zeros((m, n));
        let theirs = time(runs, || unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr(),
                k as isize,
                1,
                b.as_ptr(),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr(),
                n as isize,
                1,
            );
            std::hint::black_box(&c);
        });
        let flops = 2.0 * (m * n * k) as f64;
        out.push(CpuBenchRow {
            m,
            n,
            k,
            ours_s: ours,
            matrixmultiply_s: theirs,
            ratio: theirs / ours,
            ours_gflops: flops / ours / 1e9,
            matrixmultiply_gflops: flops / theirs / 1e9,
        });
    }
    out
}

pub fn table(rows: &[CpuBenchRow]) -> String {
    let mut s = format!(
        "{:>5} {:>5} {:>5} {:>11} {:>11} {:>9} {:>9} {:>7}\n",
        "M", "N", "K", "ours ms", "mm ms", "ours GF/s", "mm GF/s", "ratio"
    );
    for r in rows {
        s += &format!(
            "{:>5} {:>5} {:>5} {:>11.2} {:>11.2} {:>9.1} {:>9.1} {:>6.2}x\n",
            r.m,
            r.n,
            r.k,
            r.ours_s * 1e3,
            r.matrixmultiply_s * 1e3,
            r.ours_gflops,
            r.matrixmultiply_gflops,
            r.ratio
        );
    }
    s
}
