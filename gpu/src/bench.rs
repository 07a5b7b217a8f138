//! `lockstep bench` on the GPU: lockstep's kernels beside cuBLAS and the device's copy
//! bandwidth, in one process and one run (issue #5's benchmark, issue #7's speed rows).
//!
//! Method (each choice keeps a number from flattering us):
//! - Every kernel runs through the same `*_device` launcher the tests check (upload and
//!   download are outside the timed region; scratch comes from a [`Workspace`] that the
//!   warm-up grows, so no allocation is timed).
//! - Inputs are random, never zero (±[0.5, 1), filled on the device). Each configuration
//!   keeps enough distinct copies of its inputs and outputs that one rotation cycle touches
//!   more than twice the L2 cache ([`rotation_copies`]); where the copy cap (memory, or 512
//!   copies of a tiny set) keeps the cycle below that, the L2 is also overwritten before
//!   every timed run (`l2_flush`).
//! - Times are CUDA events around each call, after warm-up; the median of `runs` calls.
//!   A short spin kernel before the timed calls lets the host queue them all, so launch
//!   latency is not counted as kernel time.
//! - After timing, every output buffer that was checked must be all finite and not all zero
//!   ([`Runner`] counts both on the device): a broken launch cannot be reported as fast.
//! - Ceilings are measured in the same run: a large device-to-device copy (bytes read +
//!   written per second) and cuBLAS at 8192³ (sgemm in pedantic math: no TF32; bf16
//!   GemmEx with f32 compute, default algorithm).

use crate::cublas;
use crate::device::{Gpu, GpuInfo};
use crate::error::{Error, Result};
use crate::ops::matmul::MmShape;
use crate::ops::matmul_tc::choose;
use crate::ops::Workspace;
use cudarc::driver::sys::{CUdevice_attribute, CUevent_flags};
use cudarc::driver::{CudaEvent, CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};
use half::bf16;
use lockstep_reference::attention::{AttnParams, Plan, PlanMap};
use lockstep_reference::contract::{Contract, KStepKind, ATTN_BLOCK_V1, ATTN_SPLIT_V1, FMA_V1_KC, LANES_V1};
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::{DType, FMA_V1, MMA_SM90_V1};
use serde::Serialize;
use std::time::Instant;

/// Matmul M of the issue.
pub const MATMUL_M: [usize; 14] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
/// Matmul (N, K) of the issue: a Llama-3-8B-like layer and its vocabulary projection.
pub const MATMUL_NK: [(usize, usize); 4] = [(4096, 4096), (14336, 4096), (4096, 14336), (151936, 4096)];
/// Row widths H of rmsnorm, softmax and log_softmax.
pub const ROW_H: [usize; 3] = [4096, 8192, 151936];
/// Rows M of the row ops.
pub const ROW_M: [usize; 6] = [1, 8, 64, 256, 1024, 4096];
/// Attention decode: (sequences, cached tokens per sequence), one query token each.
pub const DECODE: [(usize, usize); 9] = [
    (1, 1024),
    (1, 8192),
    (1, 32768),
    (16, 4096),
    (16, 32768),
    (64, 2048),
    (64, 8192),
    (256, 1024),
    (256, 4096),
];
/// Attention prefill: tokens of one sequence, causal.
pub const PREFILL: [usize; 4] = [1024, 2048, 4096, 8192];
/// Query heads, KV heads, head dim and page size of every attention row.
pub const ATTN_HQ: usize = 32;
pub const ATTN_HKV: usize = 8;
pub const ATTN_D: usize = 128;
pub const ATTN_PAGE: usize = 16;
/// `--quick`: a subset of each grid.
pub const QUICK_M: [usize; 5] = [1, 16, 128, 1024, 4096];
/// Most copies kept of one input set (tiny sets: the L2 flush takes over).
pub const MAX_COPIES: usize = 512;

#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    /// Timed calls per configuration (the median is reported).
    pub runs: usize,
    /// Calls before the timed ones (they also grow the workspace and load modules); the
    /// last of them is timed to check the row budget.
    pub warmup: usize,
    pub quick: bool,
    /// Only matmul and row-op shapes with M ≤ this.
    pub max_m: Option<usize>,
    /// Only rows whose label (`family op shape`) contains this.
    pub filter: Option<String>,
    /// A configuration whose estimated `runs` calls take longer is skipped (and says so).
    pub row_budget_s: f64,
    /// Once the run has taken this long, the remaining rows are skipped (and say so).
    pub time_limit_s: f64,
    /// Side of the cuBLAS ceiling GEMMs and bytes of the copy ceiling.
    pub ceiling_gemm: usize,
    pub ceiling_copy_bytes: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            runs: 20,
            warmup: 2,
            quick: false,
            max_m: None,
            filter: None,
            row_budget_s: 10.0,
            time_limit_s: 480.0,
            ceiling_gemm: 8192,
            ceiling_copy_bytes: 1 << 30,
        }
    }
}

/// The three matmul rows of every shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum MmKind {
    /// fma-v1, f32 × f32 → f32, against cuBLAS sgemm (pedantic).
    FmaF32,
    /// fma-v1, bf16 × bf16 → bf16 (f32 accumulation), against cuBLAS bf16 GemmEx (B K×N).
    FmaBf16,
    /// mma-sm90-v1 tensor-core kernels, bf16 → bf16, against cuBLAS bf16 GemmEx (W N×K).
    MmaBf16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RowOp {
    Rmsnorm,
    Softmax,
    LogSoftmax,
}

/// One row of the benchmark, before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    Matmul { kind: MmKind, m: usize, n: usize, k: usize },
    Row { op: RowOp, m: usize, h: usize },
    Decode { seqs: usize, tokens: usize },
    Prefill { tokens: usize },
}

impl Job {
    pub fn family(&self) -> &'static str {
        match self {
            Job::Matmul { .. } => "matmul",
            Job::Row { op: RowOp::Rmsnorm, .. } => "rmsnorm",
            Job::Row { op: RowOp::Softmax, .. } => "softmax",
            Job::Row { op: RowOp::LogSoftmax, .. } => "log_softmax",
            Job::Decode { .. } => "attn_decode",
            Job::Prefill { .. } => "attn_prefill",
        }
    }

    /// Contract and types.
    pub fn op(&self) -> String {
        match self {
            Job::Matmul { kind: MmKind::FmaF32, .. } => "fma-v1 f32→f32".into(),
            Job::Matmul { kind: MmKind::FmaBf16, .. } => "fma-v1 bf16→bf16".into(),
            Job::Matmul { kind: MmKind::MmaBf16, .. } => "mma-sm90-v1 bf16→bf16".into(),
            Job::Row { op: RowOp::Rmsnorm, .. } => "fma-v1 bf16→bf16".into(),
            Job::Row { .. } => "fma-v1 f32→f32".into(),
            Job::Decode { .. } | Job::Prefill { .. } => "fma-v1 bf16→bf16".into(),
        }
    }

    pub fn shape(&self) -> String {
        match *self {
            Job::Matmul { m, n, k, .. } => format!("M={m} N={n} K={k}"),
            Job::Row { m, h, .. } => format!("[{m}, {h}]"),
            Job::Decode { seqs, tokens } => format!("{seqs}×{tokens} tok, paged {ATTN_PAGE}"),
            Job::Prefill { tokens } => format!("{tokens} tok, causal"),
        }
    }

    /// What `--filter` matches: `family op shape`.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.family(), self.op(), self.shape())
    }
}

/// The grid of the issue under `s` (M cap, quick subset, filter), cheapest families first
/// so that a time limit cuts the most expensive matmul rows: row ops, decode, prefill,
/// then matmul by increasing M.
pub fn jobs(s: &Settings) -> Vec<Job> {
    let m_ok = |m: usize| s.max_m.is_none_or(|x| m <= x);
    let mm_m: Vec<usize> = if s.quick { QUICK_M.to_vec() } else { MATMUL_M.to_vec() };
    let row_m: Vec<usize> = if s.quick { vec![1, 64, 1024] } else { ROW_M.to_vec() };
    let decode: Vec<(usize, usize)> = if s.quick { vec![(1, 8192), (64, 2048), (256, 4096)] } else { DECODE.to_vec() };
    let prefill: Vec<usize> = if s.quick { vec![1024, 4096] } else { PREFILL.to_vec() };
    let mut v = Vec::new();
    for op in [RowOp::Rmsnorm, RowOp::Softmax, RowOp::LogSoftmax] {
        for &h in &ROW_H {
            v.extend(row_m.iter().filter(|&&m| m_ok(m)).map(|&m| Job::Row { op, m, h }));
        }
    }
    v.extend(decode.iter().map(|&(seqs, tokens)| Job::Decode { seqs, tokens }));
    v.extend(prefill.iter().map(|&tokens| Job::Prefill { tokens }));
    for &m in mm_m.iter().filter(|&&m| m_ok(m)) {
        for &(n, k) in &MATMUL_NK {
            for kind in [MmKind::MmaBf16, MmKind::FmaBf16, MmKind::FmaF32] {
                v.push(Job::Matmul { kind, m, n, k });
            }
        }
    }
    v.retain(|j| s.filter.as_ref().is_none_or(|f| j.label().contains(f.as_str())));
    v
}

/// How many copies of an input set of `set_bytes` one rotation cycles through so that a
/// cycle touches more than `2 × l2` bytes, at most [`MAX_COPIES`] and `cap_bytes` in all
/// (at least one); and whether the L2 must also be flushed before each run because the
/// cap kept the cycle at or below `2 × l2`.
pub fn rotation_copies(set_bytes: usize, l2: usize, cap_bytes: usize) -> (usize, bool) {
    let set = set_bytes.max(1);
    let want = (2 * l2 + 1).div_ceil(set).max(1);
    let copies = want.min(MAX_COPIES).min(cap_bytes / set).max(1);
    (copies, copies * set <= 2 * l2)
}

/// Medians of the timed calls of one configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub runs: usize,
}

impl Timing {
    pub fn from_ms(mut v: Vec<f64>) -> Option<Timing> {
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(Timing {
            median_ms: v[v.len() / 2],
            min_ms: v[0],
            max_ms: v[v.len() - 1],
            runs: v.len(),
        })
    }
}

/// The ceilings of this run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ceilings {
    /// Bytes of one device-to-device copy; GB/s counts them twice (read + written).
    pub copy_bytes: usize,
    pub copy_gbps: Option<f64>,
    /// Side of the cuBLAS GEMMs.
    pub gemm: usize,
    pub sgemm_tflops: Option<f64>,
    pub bf16_tflops: Option<f64>,
}

/// One row of the table and of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct BenchRow {
    pub family: String,
    pub op: String,
    pub shape: String,
    /// The kernel the dispatcher chose (tensor-core matmul), else empty.
    pub kernel: String,
    /// `ok`, `skipped: why` or `error: what`.
    pub status: String,
    pub ours: Option<Timing>,
    pub baseline: String,
    pub baseline_ms: Option<f64>,
    /// baseline time / our time: above 1, we are faster.
    pub ratio: Option<f64>,
    pub flops: Option<f64>,
    pub tflops: Option<f64>,
    /// Matmul and prefill: TFLOP/s as % of the cuBLAS ceiling of the same input type.
    pub pct_gemm_ceiling: Option<f64>,
    /// Bytes per call the GB/s counts (memory-bound rows: read + written; matmul with
    /// M ≤ 16: the weight bytes K × N × sizeof).
    pub bytes: Option<f64>,
    pub gbps: Option<f64>,
    /// GB/s as % of the copy ceiling.
    pub pct_copy: Option<f64>,
    /// Distinct input sets rotated, and whether the L2 was flushed before each run.
    pub copies: usize,
    pub l2_flush: bool,
}

impl BenchRow {
    fn new(job: &Job) -> BenchRow {
        BenchRow {
            family: job.family().into(),
            op: job.op(),
            shape: job.shape(),
            status: "ok".into(),
            ..BenchRow::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.status == "ok"
    }

    pub fn failed(&self) -> bool {
        self.status.starts_with("error")
    }

    /// Fills the derived columns from the timings, the work and the ceilings;
    /// `copy_baseline`: a row without a measured baseline is compared with the time the copy
    /// ceiling needs for its bytes.
    fn derive(&mut self, c: &Ceilings, gemm_ceiling: Option<f64>, copy_baseline: bool) {
        if !self.ok() {
            return; // a row whose output check failed reports its time, never a speed
        }
        let Some(t) = self.ours.as_ref().map(|t| t.median_ms * 1e-3).filter(|&t| t > 0.0) else {
            return;
        };
        if let Some(f) = self.flops {
            self.tflops = Some(f / t / 1e12);
            self.pct_gemm_ceiling = gemm_ceiling.map(|g| 100.0 * f / t / 1e12 / g);
        }
        if let Some(b) = self.bytes {
            self.gbps = Some(b / t / 1e9);
            self.pct_copy = c.copy_gbps.map(|g| 100.0 * b / t / 1e9 / g);
            if copy_baseline && self.baseline_ms.is_none() {
                self.baseline_ms = c.copy_gbps.map(|g| b / (g * 1e9) * 1e3);
            }
        }
        self.ratio = self.baseline_ms.map(|b| b / (t * 1e3));
    }
}

/// Everything `lockstep bench --json` writes.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub lockstep_version: String,
    pub device: GpuInfo,
    pub l2_bytes: usize,
    pub date_utc: String,
    pub command_line: Vec<String>,
    pub settings: Settings,
    pub ceilings: Ceilings,
    pub rows: Vec<BenchRow>,
    /// False while rows are still being measured (the file is rewritten after each).
    pub complete: bool,
}

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (no date crate: days to civil date, Hinnant's
/// algorithm).
pub fn utc_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

/// The table `lockstep bench` prints.
pub fn table(c: &Ceilings, rows: &[BenchRow]) -> String {
    let mut s = format!(
        "ceilings: copy {} GB/s ({} MiB, read + written), cuBLAS {}³ sgemm (pedantic) {} TFLOP/s, bf16 GemmEx {} TFLOP/s\n",
        opt(c.copy_gbps, 0),
        c.copy_bytes >> 20,
        c.gemm,
        opt(c.sgemm_tflops, 1),
        opt(c.bf16_tflops, 1)
    );
    s += &format!(
        "{:<12} {:<22} {:<26} {:>10} {:>10} {:>7} {:>8} {:>6} {:>8} {:>6}  {:<24} {}\n",
        "family", "op", "shape", "ours ms", "base ms", "ratio", "TFLOP/s", "%gemm", "GB/s", "%copy", "baseline", "note"
    );
    for r in rows {
        let note = match (r.kernel.is_empty(), r.ok()) {
            (true, true) => String::new(),
            (false, true) => r.kernel.clone(),
            (true, false) => r.status.clone(),
            (false, false) => format!("{} {}", r.kernel, r.status),
        };
        s += &format!(
            "{:<12} {:<22} {:<26} {:>10} {:>10} {:>7} {:>8} {:>6} {:>8} {:>6}  {:<24} {}\n",
            r.family,
            r.op,
            r.shape,
            opt(r.ours.as_ref().map(|t| t.median_ms), 4),
            opt(r.baseline_ms, 4),
            r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
            opt(r.tflops, 2),
            opt(r.pct_gemm_ceiling, 1),
            opt(r.gbps, 0),
            opt(r.pct_copy, 1),
            r.baseline,
            note
        );
    }
    s
}

/// The benchmark's own small CUDA program: random fill, output check, spin.
const PROGRAM: &str = r#"
typedef unsigned long long u64;
__device__ __forceinline__ unsigned int bench_hash(u64 i, unsigned int seed) {
    u64 z = i * 0x9E3779B97F4A7C15ull + (u64)seed * 0xD1B54A32D192ED03ull + 1ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (unsigned int)(z ^ (z >> 31));
}
// ±[0.5, 1): never zero, never subnormal, exact in bf16 after truncation.
__device__ __forceinline__ unsigned int bench_value(u64 i, unsigned int seed) {
    const unsigned int h = bench_hash(i, seed);
    return ((h & 1u) << 31) | (126u << 23) | (h >> 9);
}
extern "C" __global__ void bench_fill_f32(unsigned int* x, u64 n, unsigned int seed) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) x[i] = bench_value(i, seed);
}
extern "C" __global__ void bench_fill_bf16(unsigned short* x, u64 n, unsigned int seed) {
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x)
        x[i] = (unsigned short)(bench_value(i, seed) >> 16);
}
// counts[0] += non-finite elements, counts[1] += non-zero elements. dtype: 0 f32, 1 bf16, 2 f16.
extern "C" __global__ void bench_check(const unsigned char* x, u64 n, int dtype, u64* counts) {
    u64 bad = 0, nonzero = 0;
    for (u64 i = blockIdx.x * (u64)blockDim.x + threadIdx.x; i < n; i += (u64)gridDim.x * blockDim.x) {
        if (dtype == 0) {
            const unsigned int b = ((const unsigned int*)x)[i];
            bad += ((b >> 23) & 0xffu) == 0xffu;
            nonzero += (b & 0x7fffffffu) != 0u;
        } else {
            const unsigned int b = ((const unsigned short*)x)[i];
            bad += dtype == 1 ? ((b >> 7) & 0xffu) == 0xffu : ((b >> 10) & 0x1fu) == 0x1fu;
            nonzero += (b & 0x7fffu) != 0u;
        }
    }
    if (bad) atomicAdd(&counts[0], bad);
    if (nonzero) atomicAdd(&counts[1], nonzero);
}
// Keeps the stream busy while the host queues the timed calls behind it.
extern "C" __global__ void bench_spin(u64 ns) {
    u64 t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < ns);
}
"#;

struct Program {
    fill_f32: CudaFunction,
    fill_bf16: CudaFunction,
    check: CudaFunction,
    spin: CudaFunction,
}

fn dev(what: &'static str) -> impl Fn(cudarc::driver::DriverError) -> Error {
    move |e| Error::Device {
        op: "bench",
        shape: what.into(),
        detail: e.to_string(),
    }
}

impl Program {
    fn load(gpu: &Gpu) -> Result<Program> {
        let arch = gpu.info().arch.clone();
        let ptx = crate::kernels::nvrtc_compile("lockstep_bench.cu", PROGRAM.into(), crate::kernels::compile_options(&arch), "bench", &arch)?;
        let m = gpu.context().load_module(cudarc::nvrtc::Ptx::from_src(ptx)).map_err(dev("load bench module"))?;
        let f = |name: &str| {
            m.load_function(name).map_err(|e| Error::MissingKernel {
                symbol: name.into(),
                contract: "bench".into(),
                detail: e.to_string(),
            })
        };
        Ok(Program {
            fill_f32: f("bench_fill_f32")?,
            fill_bf16: f("bench_fill_bf16")?,
            check: f("bench_check")?,
            spin: f("bench_spin")?,
        })
    }
}

fn flat_grid(n: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (n.div_ceil(256).clamp(1, 16384) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// One buffer of an input set: its bytes and what it starts as.
#[derive(Clone, Copy, Debug)]
struct Buf {
    bytes: usize,
    /// Random of this type, or `None`: zeros (an output).
    fill: Option<DType>,
}

fn input(elems: usize, t: DType) -> Buf {
    Buf {
        bytes: elems * t.size_bytes(),
        fill: Some(t),
    }
}

fn output(elems: usize, t: DType) -> Buf {
    Buf {
        bytes: elems * t.size_bytes(),
        fill: None,
    }
}

/// What a row's timed call does with one input set (its buffers in [`Buf`] order) and the
/// row's workspace.
type Call<'a> = dyn FnMut(&mut [CudaSlice<u8>], &mut Workspace) -> Result<()> + 'a;

/// Runs the benchmark on one GPU.
pub struct Runner<'g> {
    gpu: &'g Gpu,
    prog: Program,
    pub l2_bytes: usize,
    pub settings: Settings,
    pub ceilings: Ceilings,
    start: Instant,
}

impl<'g> Runner<'g> {
    pub fn new(gpu: &'g Gpu, settings: Settings) -> Result<Runner<'g>> {
        let l2 = gpu
            .context()
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)
            .map_err(dev("L2 size"))?;
        Ok(Runner {
            gpu,
            prog: Program::load(gpu)?,
            l2_bytes: if l2 > 0 { l2 as usize } else { 50 << 20 },
            settings,
            ceilings: Ceilings::default(),
            start: Instant::now(),
        })
    }

    fn free_bytes(&self) -> usize {
        self.gpu.context().mem_get_info().map(|(free, _)| free).unwrap_or(0)
    }

    fn fill(&self, buf: &mut CudaSlice<u8>, t: DType, seed: u32) -> Result<()> {
        let n = buf.len() / t.size_bytes();
        let (f, n64) = (if t == DType::F32 { &self.prog.fill_f32 } else { &self.prog.fill_bf16 }, n as u64);
        let mut l = self.gpu.stream().launch_builder(f);
        l.arg(&*buf).arg(&n64).arg(&seed);
        // SAFETY: `bench_fill_*(x, n, seed)` writes n elements of the buffer's type.
        unsafe { l.launch(flat_grid(n)) }.map_err(dev("fill"))?;
        Ok(())
    }

    /// (non-finite, non-zero) element counts of the first `elems` elements of `buf`.
    fn check(&self, buf: &CudaSlice<u8>, t: DType, elems: usize) -> Result<(u64, u64)> {
        let s = self.gpu.stream();
        let counts = s.alloc_zeros::<u64>(2).map_err(dev("check"))?;
        let (n64, code) = (
            elems.min(buf.len() / t.size_bytes()) as u64,
            match t {
                DType::F32 => 0i32,
                DType::Bf16 => 1,
                DType::F16 => 2,
            },
        );
        let mut l = s.launch_builder(&self.prog.check);
        l.arg(buf).arg(&n64).arg(&code).arg(&counts);
        // SAFETY: `bench_check(x, n, dtype, counts)` reads n elements, adds to 2 counters.
        unsafe { l.launch(flat_grid(n64 as usize)) }.map_err(dev("check"))?;
        let v = s.clone_dtoh(&counts).map_err(dev("check"))?;
        s.synchronize().map_err(dev("check"))?;
        Ok((v[0], v[1]))
    }

    fn sets(&self, layout: &[Buf], copies: usize) -> Result<Vec<Vec<CudaSlice<u8>>>> {
        let s = self.gpu.stream();
        let mut sets = Vec::with_capacity(copies);
        for c in 0..copies {
            let mut set = Vec::with_capacity(layout.len());
            for (i, b) in layout.iter().enumerate() {
                let mut buf = s.alloc_zeros::<u8>(b.bytes.max(4)).map_err(dev("allocate inputs"))?;
                if let Some(t) = b.fill {
                    self.fill(&mut buf, t, (c * 64 + i) as u32 + 1)?;
                }
                set.push(buf);
            }
            sets.push(set);
        }
        self.gpu.synchronize()?;
        Ok(sets)
    }

    fn event(&self) -> Result<CudaEvent> {
        self.gpu.context().new_event(Some(CUevent_flags::CU_EVENT_DEFAULT)).map_err(dev("event"))
    }

    /// Warm-up, a budget check, then `runs` timed calls over the rotated sets. `Ok(Err(why))`:
    /// skipped for the budget.
    fn time(
        &self,
        sets: &mut [Vec<CudaSlice<u8>>],
        flush: Option<&mut CudaSlice<u8>>,
        ws: &mut Workspace,
        call: &mut Call<'_>,
    ) -> Result<std::result::Result<Timing, String>> {
        let s = self.gpu.stream();
        let n = sets.len().max(1);
        let mut next = 0usize;
        // The last warm-up call is timed: the budget estimate (the first may compile or
        // load modules and grows the workspace).
        for _ in 1..self.settings.warmup.max(1) {
            call(sets[next % n].as_mut_slice(), ws)?;
            next += 1;
        }
        self.gpu.synchronize()?;
        let (e0, e1) = (self.event()?, self.event()?);
        e0.record(s).map_err(dev("event"))?;
        call(sets[next % n].as_mut_slice(), ws)?;
        next += 1;
        e1.record(s).map_err(dev("event"))?;
        let est = e0.elapsed_ms(&e1).map_err(dev("event"))? as f64 * 1e-3;
        let runs = self.settings.runs.max(1);
        if est * runs as f64 > self.settings.row_budget_s {
            return Ok(Err(format!(
                "skipped: one call took {est:.3} s, {runs} runs exceed the row budget of {} s (--row-budget-s)",
                self.settings.row_budget_s
            )));
        }
        let starts = (0..runs).map(|_| self.event()).collect::<Result<Vec<_>>>()?;
        let ends = (0..runs).map(|_| self.event()).collect::<Result<Vec<_>>>()?;
        let spin_ns = ((runs as f64 * (est + 100e-6)).clamp(1e-3, 20e-3) * 1e9) as u64;
        let mut l = s.launch_builder(&self.prog.spin);
        l.arg(&spin_ns);
        // SAFETY: `bench_spin(ns)` touches no memory.
        unsafe {
            l.launch(LaunchConfig {
                grid_dim: (1, 1, 1),
                block_dim: (32, 1, 1),
                shared_mem_bytes: 0,
            })
        }
        .map_err(dev("spin"))?;
        let mut flush = flush;
        for r in 0..runs {
            if let Some(f) = flush.as_deref_mut() {
                s.memset_zeros(f).map_err(dev("L2 flush"))?;
            }
            starts[r].record(s).map_err(dev("event"))?;
            call(sets[next % n].as_mut_slice(), ws)?;
            next += 1;
            ends[r].record(s).map_err(dev("event"))?;
        }
        self.gpu.synchronize()?;
        let ms = starts
            .iter()
            .zip(&ends)
            .map(|(a, b)| a.elapsed_ms(b).map(|x| x as f64).map_err(dev("event")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Ok(Timing::from_ms(ms).expect("runs ≥ 1")))
    }

    /// Times `ours` (and `base`, if any) on rotated sets of `layout`; checks output buffer
    /// `out` (elements of type `t`) of the sets `ours` wrote last and first.
    #[allow(clippy::too_many_arguments)]
    fn measure(&self, row: &mut BenchRow, layout: &[Buf], out: (usize, DType, usize), ours: &mut Call<'_>, base: Option<&mut Call<'_>>) -> Result<()> {
        let set_bytes: usize = layout.iter().map(|b| b.bytes).sum();
        let free = self.free_bytes();
        if set_bytes as f64 > free as f64 * 0.85 {
            row.status = format!("skipped: needs {:.1} GiB, {:.1} GiB free", gib(set_bytes), gib(free));
            return Ok(());
        }
        let (copies, flush) = rotation_copies(set_bytes, self.l2_bytes, (4usize << 30).min(free / 4).max(set_bytes));
        row.copies = copies;
        row.l2_flush = flush;
        let mut sets = self.sets(layout, copies)?;
        let mut flush_buf = if flush {
            Some(
                self.gpu
                    .stream()
                    .alloc_zeros::<u8>(2 * self.l2_bytes + (1 << 20))
                    .map_err(dev("L2 flush buffer"))?,
            )
        } else {
            None
        };
        let mut ws = Workspace::new();
        match self.time(&mut sets, flush_buf.as_mut(), &mut ws, ours)? {
            Ok(t) => {
                let written = (self.settings.warmup.max(1) + t.runs).min(copies);
                for idx in [0, written - 1] {
                    let (bad, nonzero) = self.check(&sets[idx][out.0], out.1, out.2)?;
                    if bad > 0 || nonzero == 0 {
                        row.status = format!("error: output check failed on set {idx}: {bad} non-finite, {nonzero} non-zero of {}", out.2);
                    }
                }
                row.ours = Some(t);
            }
            Err(why) => {
                row.status = why;
                return Ok(());
            }
        }
        if let Some(base) = base {
            match self.time(&mut sets, flush_buf.as_mut(), &mut ws, base)? {
                Ok(t) => row.baseline_ms = Some(t.median_ms),
                Err(why) => row.baseline += &format!(" ({why})"),
            }
        }
        Ok(())
    }

    /// The copy and cuBLAS ceilings.
    pub fn measure_ceilings(&mut self) -> Result<()> {
        let s = self.gpu.stream();
        let bytes = self.settings.ceiling_copy_bytes.min(self.free_bytes() / 4).max(1 << 20);
        let mut set = vec![
            s.alloc_zeros::<u8>(bytes).map_err(dev("copy ceiling"))?,
            s.alloc_zeros::<u8>(bytes).map_err(dev("copy ceiling"))?,
        ];
        self.fill(&mut set[0], DType::F32, 7)?;
        let mut copy = |b: &mut [CudaSlice<u8>], _: &mut Workspace| -> Result<()> {
            let (src, dst) = b.split_at_mut(1);
            s.memcpy_dtod(&src[0], &mut dst[0]).map_err(dev("copy ceiling"))
        };
        let mut ws = Workspace::new();
        let budget = self.settings.row_budget_s;
        self.settings.row_budget_s = f64::INFINITY; // ceilings are never skipped
        let t = self.time(std::slice::from_mut(&mut set), None, &mut ws, &mut copy);
        drop(set);
        let g = self.settings.ceiling_gemm;
        let gemm = |pedantic: bool| -> Result<Option<f64>> {
            let blas = cublas::handle(self.gpu, pedantic)?;
            let t = if pedantic { DType::F32 } else { DType::Bf16 };
            let layout = [input(g * g, t), input(g * g, t), output(g * g, t)];
            let mut sets = self.sets(&layout, 1)?;
            let mut call = |b: &mut [CudaSlice<u8>], _: &mut Workspace| -> Result<()> {
                let (ins, outs) = b.split_at_mut(2);
                if pedantic {
                    cublas::sgemm_device(self.gpu, &blas, &ins[0], &ins[1], &mut outs[0], g, g, g)
                } else {
                    cublas::gemm_bf16_device(self.gpu, &blas, &ins[0], &ins[1], &mut outs[0], g, g, g, true)
                }
            };
            let t = self.time(&mut sets, None, &mut Workspace::new(), &mut call)?;
            Ok(t.ok().map(|t| 2.0 * (g as f64).powi(3) / (t.median_ms * 1e-3) / 1e12))
        };
        let (sg, bf) = (gemm(true), gemm(false));
        self.settings.row_budget_s = budget;
        self.ceilings = Ceilings {
            copy_bytes: bytes,
            copy_gbps: t?.ok().map(|t| 2.0 * bytes as f64 / (t.median_ms * 1e-3) / 1e9),
            gemm: g,
            sgemm_tflops: sg?,
            bf16_tflops: bf?,
        };
        Ok(())
    }

    /// Measures one row; every failure becomes the row's status (a sticky CUDA error will
    /// then fail the rows after it too, each saying so).
    pub fn run_job(&self, job: &Job) -> BenchRow {
        self.run_job_under(job, &FMA_V1, true)
    }

    /// [`Runner::run_job`] with the fma kernels compiled for `contract` (the tensor-core
    /// row keeps mma-sm90-v1); `baseline`: also time cuBLAS (a sweep compares contracts
    /// with each other and skips it).
    pub fn run_job_under(&self, job: &Job, contract: &Contract, baseline: bool) -> BenchRow {
        let mut row = BenchRow::new(job);
        if self.start.elapsed().as_secs_f64() > self.settings.time_limit_s {
            row.status = format!("skipped: the run passed its time limit of {} s (--time-limit-s)", self.settings.time_limit_s);
            return row;
        }
        if let Err(e) = self.run_inner(job, &mut row, contract, baseline) {
            row.status = match &e {
                Error::Reference(lockstep_reference::Error::Unsupported { .. }) => format!("skipped: {e}"),
                _ => format!("error: {e}"),
            };
        }
        row
    }

    fn run_inner(&self, job: &Job, row: &mut BenchRow, contract: &Contract, baseline: bool) -> Result<()> {
        let gpu = self.gpu;
        let c = self.ceilings.clone();
        match *job {
            Job::Matmul { kind, m, n, k } => {
                let (t, gemm_ceiling) = match kind {
                    MmKind::FmaF32 => (DType::F32, c.sgemm_tflops),
                    _ => (DType::Bf16, c.bf16_tflops),
                };
                if kind == MmKind::MmaBf16 {
                    if gpu.info().compute_capability != (9, 0) {
                        row.status = "skipped: the tensor-core kernels run on compute capability 9.0 only".into();
                        return Ok(());
                    }
                    row.kernel = choose(m, n, k, gpu.info().sm_count.max(1) as usize).name().into();
                }
                let layout = [input(m * k, t), input(k * n, t), output(m * n, t)];
                let sh = MmShape { batch: 1, m, k, n };
                if kind != MmKind::MmaBf16 {
                    let plan = if kind == MmKind::FmaF32 {
                        gpu.matmul_fma_plan::<f32>(contract, sh)
                    } else {
                        gpu.matmul_fma_plan::<bf16>(contract, sh)
                    };
                    row.kernel = plan.map_or_else(String::new, |p| p.name());
                }
                let blas = cublas::handle(gpu, kind == MmKind::FmaF32)?;
                let mut ours = |b: &mut [CudaSlice<u8>], ws: &mut Workspace| -> Result<()> {
                    let (ins, outs) = b.split_at_mut(2);
                    match kind {
                        MmKind::FmaF32 => gpu.matmul_fma_device::<f32, f32>("mm", contract, &ins[0], &ins[1], None, &mut outs[0], sh, ws),
                        MmKind::FmaBf16 => gpu.matmul_fma_device::<bf16, bf16>("mm", contract, &ins[0], &ins[1], None, &mut outs[0], sh, ws),
                        MmKind::MmaBf16 => gpu
                            .matmul_tc_device::<bf16, bf16>("mm", &MMA_SM90_V1, &ins[0], &ins[1], None, &mut outs[0], (m, k, n), None)
                            .map(drop),
                    }
                };
                let mut base = |b: &mut [CudaSlice<u8>], _: &mut Workspace| -> Result<()> {
                    let (ins, outs) = b.split_at_mut(2);
                    match kind {
                        MmKind::FmaF32 => cublas::sgemm_device(gpu, &blas, &ins[0], &ins[1], &mut outs[0], m, k, n),
                        MmKind::FmaBf16 => cublas::gemm_bf16_device(gpu, &blas, &ins[0], &ins[1], &mut outs[0], m, k, n, false),
                        MmKind::MmaBf16 => cublas::gemm_bf16_device(gpu, &blas, &ins[0], &ins[1], &mut outs[0], m, k, n, true),
                    }
                };
                row.baseline = match kind {
                    MmKind::FmaF32 => "cuBLAS sgemm pedantic",
                    MmKind::FmaBf16 => "cuBLAS bf16 GemmEx NN",
                    MmKind::MmaBf16 => "cuBLAS bf16 GemmEx TN",
                }
                .into();
                row.flops = Some(2.0 * (m * n * k) as f64);
                if m <= 16 {
                    row.bytes = Some((k * n * t.size_bytes()) as f64);
                }
                let base: Option<&mut Call<'_>> = if baseline { Some(&mut base) } else { None };
                if !baseline {
                    row.baseline = "-".into();
                }
                self.measure(row, &layout, (2, t, m * n), &mut ours, base)?;
                row.derive(&c, gemm_ceiling, false);
            }
            Job::Row { op, m, h } => {
                let (t, name) = match op {
                    RowOp::Rmsnorm => (DType::Bf16, "rmsnorm"),
                    RowOp::Softmax => (DType::F32, "softmax"),
                    RowOp::LogSoftmax => (DType::F32, "log_softmax"),
                };
                let layout = match op {
                    RowOp::Rmsnorm => vec![input(m * h, t), input(h, t), output(m * h, t)],
                    _ => vec![input(m * h, t), output(m * h, t)],
                };
                let p = RmsnormParams { eps: 1e-6 };
                let mut ours = |b: &mut [CudaSlice<u8>], _: &mut Workspace| -> Result<()> {
                    match op {
                        RowOp::Rmsnorm => {
                            let (ins, outs) = b.split_at_mut(2);
                            gpu.rmsnorm_device::<bf16, bf16>(name, contract, &ins[0], None, &ins[1], &mut outs[0], None, (m, h), p)
                        }
                        _ => {
                            let (ins, outs) = b.split_at_mut(1);
                            gpu.softmax_device::<f32, f32>(name, contract, &ins[0], &mut outs[0], (m, h), op == RowOp::LogSoftmax)
                        }
                    }
                };
                // Baseline: a device copy of the same tensor (x → y: the bytes ours reads and
                // writes, less rmsnorm's weight), which at small sizes shows the fixed cost
                // of any launch that moves this much.
                let mut base = |b: &mut [CudaSlice<u8>], _: &mut Workspace| -> Result<()> {
                    let (ins, outs) = b.split_at_mut(b.len() - 1);
                    gpu.stream().memcpy_dtod(&ins[0], &mut outs[0]).map_err(dev("copy baseline"))
                };
                row.baseline = if baseline { "copy, same tensor".into() } else { "-".into() };
                row.bytes = Some(layout.iter().map(|b| b.bytes).sum::<usize>() as f64);
                let base: Option<&mut Call<'_>> = if baseline { Some(&mut base) } else { None };
                self.measure(row, &layout, (layout.len() - 1, t, m * h), &mut ours, base)?;
                row.derive(&c, None, true);
            }
            Job::Decode { seqs, tokens } => {
                let pps = tokens.div_ceil(ATTN_PAGE);
                let pages = seqs * pps;
                // Pages of a sequence scattered over the pool (7919 is prime, so the map is
                // a permutation unless the pool is a multiple of it).
                let scatter = |i: usize| if pages % 7919 == 0 { i } else { i * 7919 % pages };
                let plan = Plan {
                    rows: (0..seqs).map(|s| (s, tokens - 1)).collect(),
                    hq: ATTN_HQ,
                    hkv: ATTN_HKV,
                    d: ATTN_D,
                    map: PlanMap::Paged {
                        page: ATTN_PAGE,
                        table: (0..seqs).map(|s| (0..pps).map(|j| scatter(s * pps + j)).collect()).collect(),
                    },
                };
                let kv = pages * ATTN_PAGE * ATTN_HKV * ATTN_D;
                self.attention(row, contract, &plan, seqs, kv, (seqs * tokens * ATTN_HKV * ATTN_D * 2 * 2) as f64, None)?;
                row.derive(&c, None, true);
            }
            Job::Prefill { tokens } => {
                let plan = Plan {
                    rows: (0..tokens).map(|t| (0, t)).collect(),
                    hq: ATTN_HQ,
                    hkv: ATTN_HKV,
                    d: ATTN_D,
                    map: PlanMap::Base(vec![0]),
                };
                let kv = tokens * ATTN_HKV * ATTN_D;
                // QKᵀ and PV over the causal triangle: 2 · 2 · Hq · D per (query, key) pair.
                let pairs = (tokens * (tokens + 1) / 2) as f64;
                let flops = 4.0 * (ATTN_HQ * ATTN_D) as f64 * pairs;
                self.attention(row, contract, &plan, tokens, kv, (2 * kv * 2) as f64, Some(flops))?;
                row.derive(&c, c.bf16_tflops, false);
            }
        }
        Ok(())
    }

    /// An attention row: bf16 q (n × Hq × D), K and V storage of `kv` elements each, bf16 y.
    #[allow(clippy::too_many_arguments)]
    fn attention(&self, row: &mut BenchRow, contract: &Contract, plan: &Plan, n: usize, kv: usize, kv_bytes_read: f64, flops: Option<f64>) -> Result<()> {
        let gpu = self.gpu;
        let p = AttnParams::for_head_dim(ATTN_D);
        let op = if flops.is_some() { "attention_prefill" } else { "attention_decode" };
        let staged = gpu.attn_stage::<bf16, bf16>(op, contract, plan, &p)?;
        row.kernel = staged.kernel_name().into();
        let q = n * ATTN_HQ * ATTN_D;
        let layout = [input(q, DType::Bf16), input(kv, DType::Bf16), input(kv, DType::Bf16), output(q, DType::Bf16)];
        let mut ours = |b: &mut [CudaSlice<u8>], ws: &mut Workspace| -> Result<()> {
            let (ins, outs) = b.split_at_mut(3);
            gpu.attn_device::<bf16, bf16>(&staged, &ins[0], &ins[1], &ins[2], &mut outs[0], ws)
        };
        // Decode baseline: a device copy of K into V's buffer, which moves (reads + writes)
        // as many bytes as the kernel reads of K and V: at small sizes it shows the fixed
        // cost of any launch that moves this much.
        let mut base = |b: &mut [CudaSlice<u8>], _: &mut Workspace| -> Result<()> {
            let (k, v) = b[1..3].split_at_mut(1);
            gpu.stream().memcpy_dtod(&k[0], &mut v[0]).map_err(dev("copy baseline"))
        };
        let base: Option<&mut Call<'_>> = if flops.is_some() { None } else { Some(&mut base) };
        row.baseline = if flops.is_some() { "-".into() } else { "copy, K into V".into() };
        row.flops = flops;
        // KV bytes read, plus q read and y written.
        row.bytes = Some(kv_bytes_read + (2 * q * 2) as f64);
        self.measure(row, &layout, (3, DType::Bf16, q), &mut ours, base)
    }
}

fn gib(b: usize) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// A report with no rows yet: the device, the date, the command, and the ceilings, measured now.
fn start_report(gpu: &Gpu, r: &mut Runner, command_line: Vec<String>) -> Result<Report> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    r.measure_ceilings()?;
    Ok(Report {
        lockstep_version: env!("CARGO_PKG_VERSION").into(),
        device: gpu.info().clone(),
        l2_bytes: r.l2_bytes,
        date_utc: utc_date(secs),
        command_line,
        settings: r.settings.clone(),
        ceilings: r.ceilings.clone(),
        rows: Vec::new(),
        complete: false,
    })
}

/// The whole benchmark: ceilings, then every job; `on_row` sees the report after each row
/// (for progress and for rewriting the JSON), with `complete` false until the end.
pub fn run(gpu: &Gpu, settings: Settings, jobs: &[Job], command_line: Vec<String>, on_row: &mut dyn FnMut(&Report, Option<&Job>)) -> Result<Report> {
    let mut r = Runner::new(gpu, settings)?;
    let mut report = start_report(gpu, &mut r, command_line)?;
    on_row(&report, jobs.first());
    for (i, job) in jobs.iter().enumerate() {
        report.rows.push(r.run_job(job));
        on_row(&report, jobs.get(i + 1));
    }
    report.complete = true;
    Ok(report)
}

/// `lockstep bench --sweep` (issue #5): each contract constant varied alone around fma-v1 on
/// the shapes it governs, so the published values are a measured choice. Matmul: KC.
pub const SWEEP_KC: [Option<usize>; 6] = [Some(64), Some(128), Some(256), Some(512), Some(1024), None];
/// (M, N, K) of the KC sweep (fma f32 → f32): a decode-sized and a prefill-sized product.
pub const SWEEP_MM: [(usize, usize, usize); 2] = [(16, 4096, 4096), (4096, 4096, 4096)];
/// L of the rmsnorm (bf16) and softmax (f32) sweep.
pub const SWEEP_LANES: [usize; 4] = [256, 512, 1024, 2048];
/// [M, H] of the L sweep: many mid-width rows, and a few vocabulary-wide ones.
pub const SWEEP_ROWS: [(usize, usize); 2] = [(4096, 8192), (64, 151936)];
/// (BN, S) of the attention-decode sweep.
pub const SWEEP_ATTN: [(usize, usize); 6] = [(64, 128), (64, 256), (64, 512), (128, 512), (64, 1024), (32, 256)];
/// Contracts NVRTC compiles at once before a sweep (each already compiles its 4 parts in
/// parallel: 4 × 4 threads fill a 16-core host).
pub const SWEEP_COMPILE_THREADS: usize = 4;

/// One row of the sweep: a job under one contract.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepJob {
    pub job: Job,
    pub contract: Contract,
    /// The varied constant, as the table prints it (`KC=64`, `L=2048`, `BN=64 S=256`).
    pub constant: String,
    /// The constants are fma-v1's: the row the others are compared with.
    pub published: bool,
}

impl SweepJob {
    /// What `lockstep bench --sweep --filter` matches: `family constant shape`.
    pub fn label(&self) -> String {
        format!("{} {} {}", self.job.family(), self.constant, self.job.shape())
    }
}

/// A combination of constants the sweep leaves out, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepSkip {
    pub family: String,
    pub constant: String,
    pub why: String,
}

/// fma-v1 itself where the constants are its own (the published row times the published
/// program), else a custom fma contract; `Err`: the contract's own validation message.
pub fn sweep_contract(kc: Option<usize>, lanes: usize, bn: usize, s: usize) -> std::result::Result<Contract, String> {
    let c = Contract::custom(KStepKind::Fma, kc, lanes, bn, s).map_err(|e| e.to_string())?;
    Ok(if (kc, lanes, bn, s) == (FMA_V1.kc, FMA_V1.lanes, FMA_V1.attn_block, FMA_V1.attn_split) {
        FMA_V1
    } else {
        c
    })
}

/// The contract as an op label: `fma-v1`, or the constants of a custom one (every custom
/// contract's id is `custom-v0`).
pub fn contract_label(c: &Contract) -> String {
    if *c == FMA_V1 {
        return c.id();
    }
    let kc = c.kc.map_or("whole".into(), |k| k.to_string());
    format!("custom KC={kc} L={} BN={} S={}", c.lanes, c.attn_block, c.attn_split)
}

/// The sweep over the given constants (`quick`: the first shape of each family only);
/// combinations `Contract::custom` rejects are listed with its reason, not run.
pub fn sweep_grid(kcs: &[Option<usize>], lanes: &[usize], attn: &[(usize, usize)], quick: bool) -> (Vec<SweepJob>, Vec<SweepSkip>) {
    let take = |n: usize| if quick { 1 } else { n };
    let (mut jobs, mut skips) = (Vec::new(), Vec::new());
    let mut add = |family: &str, constant: String, c: std::result::Result<Contract, String>, js: Vec<Job>| match c {
        Ok(contract) => jobs.extend(js.into_iter().map(|job| SweepJob {
            job,
            published: contract == FMA_V1,
            contract: contract.clone(),
            constant: constant.clone(),
        })),
        Err(why) => skips.push(SweepSkip {
            family: family.into(),
            constant,
            why,
        }),
    };
    for &kc in kcs {
        let js = SWEEP_MM[..take(SWEEP_MM.len())]
            .iter()
            .map(|&(m, n, k)| Job::Matmul { kind: MmKind::FmaF32, m, n, k })
            .collect();
        let constant = format!("KC={}", kc.map_or("whole K".into(), |k| k.to_string()));
        add("matmul", constant, sweep_contract(kc, LANES_V1, ATTN_BLOCK_V1, ATTN_SPLIT_V1), js);
    }
    for op in [RowOp::Rmsnorm, RowOp::Softmax] {
        for &l in lanes {
            let js = SWEEP_ROWS[..take(SWEEP_ROWS.len())].iter().map(|&(m, h)| Job::Row { op, m, h }).collect();
            let family = Job::Row { op, m: 1, h: 1 }.family();
            add(family, format!("L={l}"), sweep_contract(Some(FMA_V1_KC), l, ATTN_BLOCK_V1, ATTN_SPLIT_V1), js);
        }
    }
    for &(bn, sp) in attn {
        // The bench's whole decode grid: S trades CTAs on short sequences against splits to
        // combine on long ones (docs/perf.md).
        let js = DECODE[..take(DECODE.len())]
            .iter()
            .map(|&(seqs, tokens)| Job::Decode { seqs, tokens })
            .collect();
        add("attn_decode", format!("BN={bn} S={sp}"), sweep_contract(Some(FMA_V1_KC), LANES_V1, bn, sp), js);
    }
    (jobs, skips)
}

/// The sweep of issue #5: [`SWEEP_KC`], [`SWEEP_LANES`], [`SWEEP_ATTN`]; `filter`: only the
/// rows whose `family constant shape` contains it (`attn_decode`, `S=1024`), so that a run
/// compiles only the contracts it times.
pub fn sweep_jobs(quick: bool, filter: Option<&str>) -> (Vec<SweepJob>, Vec<SweepSkip>) {
    let (mut jobs, mut skips) = sweep_grid(&SWEEP_KC, &SWEEP_LANES, &SWEEP_ATTN, quick);
    if let Some(f) = filter {
        jobs.retain(|j| j.label().contains(f));
        skips.retain(|k| format!("{} {}", k.family, k.constant).contains(f));
    }
    (jobs, skips)
}

/// The distinct contracts of `jobs`, in order of first use.
pub fn sweep_contracts(jobs: &[SweepJob]) -> Vec<Contract> {
    let mut v: Vec<Contract> = Vec::new();
    for j in jobs {
        if !v.contains(&j.contract) {
            v.push(j.contract.clone());
        }
    }
    v
}

/// Compiles (NVRTC, `threads` contracts at once) and loads every contract's program before
/// anything is timed; the failures, by contract (their rows then say so instead of running).
pub fn precompile(gpu: &Gpu, contracts: &[Contract], threads: usize) -> Vec<(Contract, String)> {
    let arch = gpu.info().arch.clone();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let compiled: Vec<(usize, Result<()>)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads.max(1))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(c) = contracts.get(i) else { break done };
                        done.push((i, crate::kernels::ptx_for(c, &arch).map(drop)));
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut failed = Vec::new();
    for (i, r) in compiled {
        // Module loads are quick and take the device's kernel table lock: one at a time.
        if let Err(e) = r.and_then(|()| gpu.kernels(&contracts[i]).map(drop)) {
            failed.push((contracts[i].clone(), e.to_string()));
        }
    }
    failed
}

/// Sets every sweep row's baseline to the published row of its family and shape: ratio =
/// published time / this time (above 1: these constants are faster than fma-v1's).
pub fn sweep_compare(jobs: &[SweepJob], rows: &mut [BenchRow]) {
    let n = rows.len().min(jobs.len());
    for i in 0..n {
        let key = (jobs[i].job.family(), jobs[i].job.shape());
        let published = (0..n)
            .find(|&p| jobs[p].published && (jobs[p].job.family(), jobs[p].job.shape()) == key)
            .and_then(|p| rows[p].ours.as_ref().filter(|_| rows[p].ok()).map(|t| t.median_ms));
        let r = &mut rows[i];
        r.baseline = "fma-v1 (published)".into();
        r.baseline_ms = published;
        r.ratio = match (published, r.ours.as_ref().filter(|_| r.ok())) {
            (Some(p), Some(t)) if t.median_ms > 0.0 => Some(p / t.median_ms),
            _ => None,
        };
    }
}

/// The sweep: compile every contract, measure the ceilings, then each row; `on_row` as in
/// [`run`]. Row `op` labels name the contract ([`contract_label`]).
pub fn run_sweep(gpu: &Gpu, settings: Settings, jobs: &[SweepJob], command_line: Vec<String>, on_row: &mut dyn FnMut(&Report, Option<&Job>)) -> Result<Report> {
    let failed = precompile(gpu, &sweep_contracts(jobs), SWEEP_COMPILE_THREADS);
    let mut r = Runner::new(gpu, settings)?;
    let mut report = start_report(gpu, &mut r, command_line)?;
    on_row(&report, jobs.first().map(|j| &j.job));
    for (i, j) in jobs.iter().enumerate() {
        let mut row = match failed.iter().find(|(c, _)| *c == j.contract) {
            Some((_, e)) => BenchRow {
                status: format!("error: {e}"),
                ..BenchRow::new(&j.job)
            },
            None => r.run_job_under(&j.job, &j.contract, false),
        };
        row.op = row.op.replacen("fma-v1", &contract_label(&j.contract), 1);
        report.rows.push(row);
        sweep_compare(jobs, &mut report.rows);
        on_row(&report, jobs.get(i + 1).map(|j| &j.job));
    }
    report.complete = true;
    Ok(report)
}

/// One table per family: the shape, the varied constant (`*`: the published value), our
/// time, published time / ours, and the speed column of the family.
pub fn sweep_table(c: &Ceilings, jobs: &[SweepJob], rows: &[BenchRow], skips: &[SweepSkip]) -> String {
    let mut s = table(c, &[]).lines().next().unwrap_or_default().to_string() + "\n";
    let mut families: Vec<&str> = Vec::new();
    for f in jobs.iter().map(|j| j.job.family()).chain(skips.iter().map(|k| k.family.as_str())) {
        if !families.contains(&f) {
            families.push(f);
        }
    }
    for f in families {
        let what = match f {
            "matmul" => "matmul fma f32→f32, KC",
            "rmsnorm" => "rmsnorm bf16→bf16, L",
            "softmax" => "softmax f32→f32, L",
            "attn_decode" => "attention decode bf16 (32/8 heads, D 128, page 16), BN and S",
            _ => f,
        };
        s += &format!(
            "\n{what} (* = published, fma-v1; ratio = published time / this, above 1: faster)\n{:<28} {:<14} {:>10} {:>8} {:>8} {:>8} {:>6}  {}\n",
            "shape", "constant", "ms", "ratio", "TFLOP/s", "GB/s", "%copy", "note"
        );
        for (j, r) in jobs.iter().zip(rows).filter(|(j, _)| j.job.family() == f) {
            s += &format!(
                "{:<28} {:<14} {:>10} {:>8} {:>8} {:>8} {:>6}  {}\n",
                r.shape,
                format!("{}{}", j.constant, if j.published { " *" } else { "" }),
                opt(r.ours.as_ref().map(|t| t.median_ms), 4),
                r.ratio.map_or("-".into(), |x| format!("{x:.2}x")),
                opt(r.tflops, 2),
                opt(r.gbps, 0),
                opt(r.pct_copy, 1),
                if r.ok() { "" } else { r.status.as_str() }
            );
        }
        for k in skips.iter().filter(|k| k.family == f) {
            s += &format!("{:<28} {:<14} skipped: {}\n", "-", k.constant, k.why);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_issues() {
        let all = jobs(&Settings::default());
        let mm: Vec<_> = all.iter().filter(|j| matches!(j, Job::Matmul { .. })).collect();
        assert_eq!(mm.len(), 14 * 4 * 3);
        assert_eq!(MATMUL_M.to_vec(), (0..14).map(|i| 1usize << i).collect::<Vec<_>>());
        for m in MATMUL_M {
            for (n, k) in MATMUL_NK {
                for kind in [MmKind::FmaF32, MmKind::FmaBf16, MmKind::MmaBf16] {
                    assert!(all.contains(&Job::Matmul { kind, m, n, k }), "{m} {n} {k} {kind:?}");
                }
            }
        }
        for op in [RowOp::Rmsnorm, RowOp::Softmax, RowOp::LogSoftmax] {
            for h in [4096, 8192, 151936] {
                for m in [1, 64, 256, 1024, 4096] {
                    assert!(all.contains(&Job::Row { op, m, h }), "{op:?} {m} {h}");
                }
            }
        }
        let decode: Vec<_> = all
            .iter()
            .filter_map(|j| if let Job::Decode { seqs, tokens } = *j { Some((seqs, tokens)) } else { None })
            .collect();
        assert!(decode.iter().all(|&(s, t)| (1..=256).contains(&s) && (1024..=32768).contains(&t)));
        for want in [1, 256] {
            assert!(decode.iter().any(|&(s, _)| s == want));
        }
        for want in [1024, 32768] {
            assert!(decode.iter().any(|&(_, t)| t == want));
        }
        let prefill: Vec<_> = all
            .iter()
            .filter_map(|j| if let Job::Prefill { tokens } = *j { Some(tokens) } else { None })
            .collect();
        assert_eq!(prefill, vec![1024, 2048, 4096, 8192]);
        assert_eq!((ATTN_HQ, ATTN_HKV, ATTN_D, ATTN_PAGE), (32, 8, 128, 16));
        // Cheap families first, matmul last by increasing M.
        let first_mm = all.iter().position(|j| matches!(j, Job::Matmul { .. })).unwrap();
        assert!(all[first_mm..].iter().all(|j| matches!(j, Job::Matmul { .. })));
        let ms: Vec<usize> = mm.iter().map(|j| if let Job::Matmul { m, .. } = j { *m } else { 0 }).collect();
        assert!(ms.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn filter_max_m_and_quick_narrow_the_grid() {
        let s = Settings {
            max_m: Some(16),
            filter: Some("mma-sm90".into()),
            ..Settings::default()
        };
        let v = jobs(&s);
        assert_eq!(v.len(), 5 * 4);
        assert!(v.iter().all(|j| matches!(j, Job::Matmul { kind: MmKind::MmaBf16, m, .. } if *m <= 16)));
        let q = jobs(&Settings {
            quick: true,
            ..Settings::default()
        });
        assert!(q.len() < jobs(&Settings::default()).len() / 2);
        assert!(jobs(&Settings {
            filter: Some("attn_decode".into()),
            ..Settings::default()
        })
        .iter()
        .all(|j| matches!(j, Job::Decode { .. })));
    }

    #[test]
    fn the_sweep_grid_varies_one_constant_around_fma_v1() {
        let (jobs, skips) = sweep_jobs(false, None);
        assert!(skips.is_empty(), "{skips:?}");
        assert!(SWEEP_KC.contains(&FMA_V1.kc) && SWEEP_KC.contains(&None));
        assert!(SWEEP_LANES.contains(&FMA_V1.lanes));
        assert!(SWEEP_ATTN.contains(&(FMA_V1.attn_block, FMA_V1.attn_split)));
        assert_eq!(jobs.len(), 6 * 2 + 2 * 4 * 2 + 6 * DECODE.len());
        for j in &jobs {
            let c = &j.contract;
            c.validate().unwrap();
            assert_eq!(j.published, *c == FMA_V1);
            // Exactly one constant differs from fma-v1, the one the family governs.
            match j.job {
                Job::Matmul { kind, .. } => {
                    assert_eq!(kind, MmKind::FmaF32);
                    assert_eq!((c.lanes, c.attn_block, c.attn_split), (LANES_V1, ATTN_BLOCK_V1, ATTN_SPLIT_V1));
                    assert!(j.constant.starts_with("KC="));
                }
                Job::Row { op, .. } => {
                    assert!(matches!(op, RowOp::Rmsnorm | RowOp::Softmax));
                    assert_eq!((c.kc, c.attn_block, c.attn_split), (FMA_V1.kc, ATTN_BLOCK_V1, ATTN_SPLIT_V1));
                    assert_eq!(j.constant, format!("L={}", c.lanes));
                }
                Job::Decode { .. } => {
                    assert_eq!((c.kc, c.lanes), (FMA_V1.kc, LANES_V1));
                    assert_eq!(j.constant, format!("BN={} S={}", c.attn_block, c.attn_split));
                }
                Job::Prefill { .. } => panic!("no prefill in the sweep"),
            }
        }
        // Every (family, shape) has exactly one published row.
        for j in &jobs {
            let n = jobs
                .iter()
                .filter(|p| p.published && p.job.family() == j.job.family() && p.job.shape() == j.job.shape())
                .count();
            assert_eq!(n, 1, "{}", j.job.label());
        }
        assert!(jobs.iter().any(|j| j.contract.kc.is_none() && j.constant == "KC=whole K"));
        for (m, n, k) in SWEEP_MM {
            assert!(jobs.iter().any(|j| j.job == Job::Matmul { kind: MmKind::FmaF32, m, n, k }));
        }
        for (seqs, tokens) in DECODE {
            assert!(jobs.iter().any(|j| j.job == Job::Decode { seqs, tokens }));
        }
        // Contracts: 6 KC + 4 L + 6 (BN, S), fma-v1 counted once.
        assert_eq!(sweep_contracts(&jobs).len(), 6 + 4 + 6 - 2);
        let (q, _) = sweep_jobs(true, None);
        assert_eq!(q.len(), 6 + 2 * 4 + 6);
        assert_eq!(sweep_contracts(&q).len(), sweep_contracts(&jobs).len());
    }

    #[test]
    fn a_sweep_filter_keeps_its_rows_and_only_their_contracts() {
        let (jobs, skips) = sweep_jobs(false, Some("attn_decode"));
        assert_eq!(jobs.len(), SWEEP_ATTN.len() * DECODE.len());
        assert!(jobs.iter().all(|j| j.job.family() == "attn_decode") && skips.is_empty());
        assert_eq!(sweep_contracts(&jobs).len(), SWEEP_ATTN.len());
        let (s1024, _) = sweep_jobs(false, Some("S=1024"));
        assert_eq!(s1024.len(), DECODE.len());
        assert!(s1024.iter().all(|j| j.contract.attn_split == 1024));
        assert!(sweep_jobs(true, Some("no such row")).0.is_empty());
    }

    #[test]
    fn invalid_sweep_constants_are_skipped_with_the_reason() {
        let (jobs, skips) = sweep_grid(&[Some(256), Some(0)], &[1024, 768], &[(64, 256), (96, 256), (64, 0)], true);
        assert_eq!(jobs.len(), 1 + 2 + 1);
        assert_eq!(skips.len(), 1 + 2 + 2, "{skips:?}");
        assert!(skips.iter().any(|k| k.family == "matmul" && k.constant == "KC=0" && k.why.contains("KC = 0")));
        assert!(skips
            .iter()
            .any(|k| k.family == "softmax" && k.constant == "L=768" && k.why.contains("power of two")));
        assert!(skips.iter().any(|k| k.constant == "BN=96 S=256" && k.why.contains("multiple of BN")));
        assert!(jobs.iter().all(|j| j.published));
        let t = sweep_table(&Ceilings::default(), &jobs, &[], &skips);
        assert!(t.contains("skipped: ") && t.contains("BN=96 S=256"), "{t}");
    }

    #[test]
    fn sweep_rows_compare_with_the_published_row() {
        let (jobs, skips) = sweep_jobs(true, None);
        let mut rows: Vec<BenchRow> = jobs
            .iter()
            .map(|j| {
                let mut r = BenchRow::new(&j.job);
                r.op = r.op.replacen("fma-v1", &contract_label(&j.contract), 1);
                r.ours = Timing::from_ms(vec![if j.published { 2.0 } else { 1.0 }]);
                r
            })
            .collect();
        rows[1].status = "error: synthetic".into();
        sweep_compare(&jobs, &mut rows);
        for (j, r) in jobs.iter().zip(&rows) {
            assert_eq!(r.baseline_ms, Some(2.0), "{}", j.job.label());
            if !r.ok() {
                assert_eq!(r.ratio, None);
            } else {
                assert_eq!(r.ratio, Some(if j.published { 1.0 } else { 2.0 }), "{}", j.job.label());
            }
            assert_eq!(r.op.starts_with("fma-v1"), j.published, "{}", r.op);
        }
        assert!(rows.iter().any(|r| r.op.contains("custom KC=whole L=1024 BN=64 S=256")));
        let t = sweep_table(&Ceilings::default(), &jobs, &rows, &skips);
        for want in [
            "matmul fma f32→f32, KC",
            "rmsnorm bf16→bf16, L",
            "softmax f32→f32, L",
            "BN and S",
            "KC=256 *",
            "L=1024 *",
            "BN=64 S=256 *",
            "2.00x",
            "error: synthetic",
        ] {
            assert!(t.contains(want), "{want} missing from:\n{t}");
        }
    }

    #[test]
    fn rotation_covers_twice_the_l2_or_flushes() {
        let l2 = 50 << 20;
        // 32 MiB of bf16 weights: 4 copies, 128 MiB a cycle.
        assert_eq!(rotation_copies(32 << 20, l2, 4 << 30), (4, false));
        // A set larger than 2 × L2 is not copied.
        assert_eq!(rotation_copies(1 << 30, l2, 4 << 30), (1, false));
        // Exactly 2 × L2: two copies (the cycle must exceed it).
        assert_eq!(rotation_copies(100 << 20, l2, 4 << 30), (2, false));
        // Tiny sets: capped at MAX_COPIES, then flushed.
        assert_eq!(rotation_copies(16 << 10, l2, 4 << 30), (MAX_COPIES, true));
        // Memory cap.
        assert_eq!(rotation_copies(30 << 20, l2, 40 << 20), (1, true));
        for set in [1usize, 4096, 1 << 20, 7 << 20, 33 << 20, 101 << 20] {
            let (c, flush) = rotation_copies(set, l2, usize::MAX / 2);
            assert!(flush || c * set > 2 * l2, "{set}");
        }
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    fn synthetic() -> (Ceilings, Vec<BenchRow>) {
        let c = Ceilings {
            copy_bytes: 1 << 30,
            copy_gbps: Some(3000.0),
            gemm: 8192,
            sgemm_tflops: Some(50.0),
            bf16_tflops: Some(600.0),
        };
        let mut mm = BenchRow::new(&Job::Matmul {
            kind: MmKind::MmaBf16,
            m: 1,
            n: 4096,
            k: 4096,
        });
        mm.kernel = "gemv_w2_k256_m8".into();
        mm.baseline = "cuBLAS bf16 GemmEx TN".into();
        mm.ours = Timing::from_ms(vec![0.02, 0.01, 0.03]);
        mm.baseline_ms = Some(0.02);
        mm.flops = Some(2.0 * 4096.0 * 4096.0);
        mm.bytes = Some(4096.0 * 4096.0 * 2.0);
        mm.derive(&c, c.bf16_tflops, false);
        let mut rms = BenchRow::new(&Job::Row {
            op: RowOp::Rmsnorm,
            m: 64,
            h: 4096,
        });
        rms.baseline = "copy ceiling".into();
        rms.ours = Timing::from_ms(vec![0.01; 20]);
        rms.bytes = Some(3e7);
        rms.derive(&c, None, true);
        let mut skipped = BenchRow::new(&Job::Prefill { tokens: 8192 });
        skipped.status = "skipped: budget".into();
        (c, vec![mm, rms, skipped])
    }

    #[test]
    fn derived_columns() {
        let (_, rows) = synthetic();
        let mm = &rows[0];
        assert_eq!(mm.ours.as_ref().unwrap().median_ms, 0.02);
        assert!((mm.ratio.unwrap() - 1.0).abs() < 1e-12);
        assert!((mm.tflops.unwrap() - 2.0 * 4096.0 * 4096.0 / 2e-5 / 1e12).abs() < 1e-9);
        assert!((mm.gbps.unwrap() - 4096.0 * 4096.0 * 2.0 / 2e-5 / 1e9).abs() < 1e-6);
        assert!((mm.pct_copy.unwrap() - 100.0 * mm.gbps.unwrap() / 3000.0).abs() < 1e-9);
        assert!((mm.pct_gemm_ceiling.unwrap() - 100.0 * mm.tflops.unwrap() / 600.0).abs() < 1e-9);
        let rms = &rows[1];
        // 3e7 bytes in 10 µs: 3000 GB/s, the copy ceiling; the copy baseline takes as long.
        assert!((rms.gbps.unwrap() - 3000.0).abs() < 1e-6);
        assert!((rms.pct_copy.unwrap() - 100.0).abs() < 1e-6);
        assert!((rms.ratio.unwrap() - 1.0).abs() < 1e-9);
        assert!(rows[2].ours.is_none() && rows[2].ratio.is_none());
    }

    #[test]
    fn table_and_json_formatting() {
        let (c, rows) = synthetic();
        let t = table(&c, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + rows.len());
        assert!(
            lines[0].contains("copy 3000 GB/s") && lines[0].contains("bf16 GemmEx 600.0 TFLOP/s"),
            "{}",
            lines[0]
        );
        for col in [
            "family", "op", "shape", "ours ms", "base ms", "ratio", "TFLOP/s", "%gemm", "GB/s", "%copy", "baseline",
        ] {
            assert!(lines[1].contains(col), "{col}");
        }
        assert!(lines[2].contains("mma-sm90-v1 bf16→bf16") && lines[2].contains("M=1 N=4096 K=4096") && lines[2].contains("1.00x"));
        assert!(lines[2].contains("gemv_w2_k256_m8"));
        assert!(lines[3].contains("rmsnorm") && lines[3].contains("100.0"));
        assert!(lines[4].contains("skipped: budget"));
        let info = GpuInfo {
            ordinal: 0,
            name: "synthetic".into(),
            compute_capability: (9, 0),
            arch: "sm_90a".into(),
            sm_count: 132,
            smem_per_block_optin: 227 << 10,
            smem_per_sm: 228 << 10,
            total_memory_bytes: 80 << 30,
            driver_cuda_version: (13, 0),
            nvrtc_version: (13, 0),
            driver_version: Some("580.159.04".into()),
        };
        let report = Report {
            lockstep_version: "0".into(),
            device: info,
            l2_bytes: 50 << 20,
            date_utc: utc_date(0),
            command_line: vec!["lockstep".into(), "bench".into()],
            settings: Settings::default(),
            ceilings: c,
            rows,
            complete: true,
        };
        let j = serde_json::to_value(&report).unwrap();
        for key in ["device", "date_utc", "command_line", "ceilings", "rows", "settings", "l2_bytes"] {
            assert!(j.get(key).is_some(), "{key}");
        }
        for key in ["name", "compute_capability", "driver_cuda_version", "nvrtc_version", "sm_count"] {
            assert!(j["device"].get(key).is_some(), "{key}");
        }
        assert_eq!(j["rows"].as_array().unwrap().len(), 3);
        assert_eq!(j["rows"][0]["kernel"], "gemv_w2_k256_m8");
        assert_eq!(j["rows"][1]["ours"]["runs"], 20);
        assert!(j["rows"][2]["ours"].is_null());
    }

    #[test]
    fn bench_program_compiles_where_nvrtc_exists() {
        // SAFETY: only probes whether the shared library can be opened.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipped: no libnvrtc here (NVRTC compile check of the bench program)");
            return;
        }
        let opts = cudarc::nvrtc::CompileOptions {
            options: crate::kernels::compile_options("sm_90a"),
            ..Default::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(PROGRAM, opts).unwrap_or_else(|e| panic!("{e}")).to_src();
        for sym in ["bench_fill_f32", "bench_fill_bf16", "bench_check", "bench_spin"] {
            assert!(ptx.contains(&format!(".entry {sym}(")), "{sym}");
        }
        assert!(ptx.contains("globaltimer"));
    }

    #[test]
    fn smoke_on_small_shapes_where_a_gpu_exists() {
        let Some(gpu) = crate::testing::open_or_skip("bench smoke").unwrap_or_else(|e| panic!("{e}")) else {
            return;
        };
        let s = Settings {
            runs: 3,
            ceiling_gemm: 1024,
            ceiling_copy_bytes: 64 << 20,
            ..Settings::default()
        };
        let jobs = [
            Job::Matmul {
                kind: MmKind::FmaF32,
                m: 4,
                n: 256,
                k: 512,
            },
            Job::Matmul {
                kind: MmKind::FmaBf16,
                m: 70,
                n: 256,
                k: 512,
            },
            Job::Matmul {
                kind: MmKind::MmaBf16,
                m: 8,
                n: 512,
                k: 512,
            },
            Job::Row {
                op: RowOp::Rmsnorm,
                m: 3,
                h: 4096,
            },
            Job::Row {
                op: RowOp::LogSoftmax,
                m: 2,
                h: 8192,
            },
            Job::Decode { seqs: 2, tokens: 300 },
            Job::Prefill { tokens: 128 },
        ];
        let report = run(&gpu, s, &jobs, vec!["test".into()], &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("{}", table(&report.ceilings, &report.rows));
        assert!(report.ceilings.copy_gbps.is_some_and(|g| g > 0.0));
        assert_eq!(report.rows.len(), jobs.len());
        for r in &report.rows {
            assert!(r.ok() || r.status.starts_with("skipped: the tensor-core"), "{}: {}", r.shape, r.status);
            if r.ok() {
                assert!(r.ours.as_ref().is_some_and(|t| t.median_ms > 0.0 && t.runs == 3), "{r:?}");
            }
        }
    }
}
