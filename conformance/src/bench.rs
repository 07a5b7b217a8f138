//! `lockstep bench --cpu`: the fast CPU matmul beside `matrixmultiply::sgemm`, same
//! process, same shapes, same threads (matrixmultiply's `threading` feature uses the
//! physical cores; ours uses rayon's pool). Medians of several runs.
//!
//! `lockstep bench [--gpu]`: the CLI around [`lockstep_gpu::bench`] (method there).

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

/// What `lockstep bench --gpu` says on a machine without a GPU (and exits non-zero).
pub fn no_gpu_message(e: &lockstep_gpu::Error) -> String {
    format!("the GPU benchmark needs a CUDA GPU: {e} (`lockstep bench --cpu` runs the CPU benchmark)")
}

/// The GPU of `lockstep bench`; without one, the message that points at `bench --cpu`.
fn open_gpu() -> Result<lockstep_gpu::Gpu, String> {
    lockstep_gpu::Gpu::open().map_err(|e| if e.is_no_gpu() { no_gpu_message(&e) } else { e.to_string() })
}

/// Writes the report (complete or not) as JSON.
fn write_json(p: &std::path::Path, r: &lockstep_gpu::bench::Report) -> Result<(), String> {
    let text = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()))
}

/// The progress line of the newest row of `r` (row i of `total`, seconds since `started`):
/// its time, its ratio where it has a baseline, its status where it is not ok; `None`
/// before the first row.
fn progress_line(r: &lockstep_gpu::bench::Report, total: usize, started: Instant) -> Option<String> {
    let row = r.rows.last()?;
    Some(format!(
        "[{}/{} {:>5.0} s] {} {} {}: {} ms{}{}",
        r.rows.len(),
        total,
        started.elapsed().as_secs_f64(),
        row.family,
        row.op,
        row.shape,
        row.ours.as_ref().map_or("-".into(), |t| format!("{:.4}", t.median_ms)),
        row.ratio.map_or(String::new(), |x| format!(", {x:.2}x")),
        if row.ok() { String::new() } else { format!(" ({})", row.status) }
    ))
}

/// Writes the finished report to `json`, then returns the first error of the writes made
/// after each row (so a full disk is reported, and the final file still attempted).
fn write_final_json(json: Option<&std::path::Path>, report: &lockstep_gpu::bench::Report, earlier: Option<String>) -> Result<(), String> {
    if let Some(p) = json {
        write_json(p, report)?;
    }
    earlier.map_or(Ok(()), Err)
}

/// `lockstep bench --gpu`: opens the GPU, prints progress to stderr and the table to
/// stdout, rewrites `json` after every row. `Ok(false)` when a row failed (an error, not a
/// skip); `Err` without a GPU.
pub fn run_gpu(settings: lockstep_gpu::bench::Settings, command_line: Vec<String>, json: Option<&std::path::Path>) -> Result<bool, String> {
    use lockstep_gpu::bench;
    let gpu = open_gpu()?;
    let jobs = bench::jobs(&settings);
    eprintln!("{}", gpu.info());
    eprintln!(
        "lockstep bench: {} rows, {} runs each (median), row budget {} s, time limit {} s; measuring ceilings …",
        jobs.len(),
        settings.runs,
        settings.row_budget_s,
        settings.time_limit_s
    );
    let started = Instant::now();
    let mut write_err = None;
    let mut on_row = |r: &bench::Report, next: Option<&bench::Job>| {
        eprintln!(
            "{}",
            progress_line(r, jobs.len(), started).unwrap_or_else(|| bench::table(&r.ceilings, &[]).lines().next().unwrap_or_default().to_string())
        );
        if let Some(j) = next {
            eprintln!("  … {}", j.label());
        }
        if let Some(Err(e)) = json.map(|p| write_json(p, r)) {
            write_err = Some(e);
        }
    };
    let report = bench::run(&gpu, settings, &jobs, command_line, &mut on_row).map_err(|e| e.to_string())?;
    write_final_json(json, &report, write_err)?;
    println!(
        "lockstep bench on {} ({}), {}",
        report.device.name,
        report.date_utc,
        report.command_line.join(" ")
    );
    print!("{}", bench::table(&report.ceilings, &report.rows));
    let failed = report.rows.iter().filter(|r| r.failed()).count();
    let skipped = report.rows.iter().filter(|r| r.status.starts_with("skipped")).count();
    println!(
        "{} rows: {} measured, {skipped} skipped, {failed} failed. Ratio = baseline time / ours (above 1: we are faster).",
        report.rows.len(),
        report.rows.len() - skipped - failed
    );
    Ok(failed == 0)
}

/// `lockstep bench --sweep`: the contract-constant sweep (issue #5) on the GPU; progress on
/// stderr, one table per family on stdout, `json` rewritten after every row. `Ok(false)`
/// when a row failed; `Err` without a GPU.
pub fn run_gpu_sweep(settings: lockstep_gpu::bench::Settings, command_line: Vec<String>, json: Option<&std::path::Path>) -> Result<bool, String> {
    use lockstep_gpu::bench;
    let gpu = open_gpu()?;
    let (jobs, skips) = bench::sweep_jobs(settings.quick, settings.filter.as_deref());
    eprintln!("{}", gpu.info());
    eprintln!(
        "lockstep bench --sweep: {} rows under {} contracts, {} runs each (median); compiling every contract ({} at once) …",
        jobs.len(),
        bench::sweep_contracts(&jobs).len(),
        settings.runs,
        bench::SWEEP_COMPILE_THREADS
    );
    let started = Instant::now();
    let mut write_err = None;
    let mut on_row = |r: &bench::Report, _: Option<&bench::Job>| {
        eprintln!(
            "{}",
            progress_line(r, jobs.len(), started).unwrap_or_else(|| format!("[{:>5.0} s] compiled; measuring rows", started.elapsed().as_secs_f64()))
        );
        if let Some(Err(e)) = json.map(|p| write_json(p, r)) {
            write_err = Some(e);
        }
    };
    let report = bench::run_sweep(&gpu, settings, &jobs, command_line, &mut on_row).map_err(|e| e.to_string())?;
    write_final_json(json, &report, write_err)?;
    println!(
        "lockstep bench --sweep on {} ({}), {}, {:.0} s",
        report.device.name,
        report.date_utc,
        report.command_line.join(" "),
        started.elapsed().as_secs_f64()
    );
    print!("{}", bench::sweep_table(&report.ceilings, &jobs, &report.rows, &skips));
    let failed = report.rows.iter().filter(|r| r.failed()).count();
    println!("{} rows, {failed} failed, {} combinations skipped.", report.rows.len(), skips.len());
    Ok(failed == 0)
}
