//! The GPU backend in the conformance suite: [`GpuOps`] runs every case on `lockstep-gpu`,
//! and [`conform`] adds the GPU rows and the cuBLAS negative control to the report; under
//! `mma-sm90-v1` also the device's single-step check (first) and the informative cuBLAS
//! bf16 row (last), see `lockstep_gpu::mma_probe`.

use crate::case::OpSpec;
use crate::compare::Comparison;
use crate::ops::{OpResult, Ops};
use crate::suite::{self, Report};
use indicatif::ProgressBar;
use lockstep_gpu::mma_probe::{self, CublasBf16Report, StepCheck};
use lockstep_gpu::Gpu;
use lockstep_reference::attention::{AttnParams, KvCache, Span};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::sample::SampleParams;
use lockstep_reference::{Contract, Element, KStepKind, MMA_SM90_V1};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD};
use std::path::Path;

/// Op stems with GPU kernels ("attention" is prefill, chunked prefill, decode and the KV
/// append; `matmul` under `mma-sm90` runs only on sm_90, see [`GpuOps::supports`]).
pub const GPU_STEMS: [&str; 8] = ["matmul", "rmsnorm", "mean", "softmax", "rope", "elementwise", "attention", "sample"];

/// The GPU as a conformance backend.
pub struct GpuOps(pub Gpu);

impl Ops for GpuOps {
    fn name(&self) -> String {
        "gpu".into()
    }
    /// The matmul of an `mma-sm90` contract (the tensor-core kernels) only on compute
    /// capability 9.0; elsewhere it is a typed `Unsupported` error.
    fn supports(&self, op: &OpSpec, c: &Contract) -> bool {
        GPU_STEMS.contains(&op.stem())
            && (op.stem() != "matmul"
                || match c.kstep {
                    KStepKind::Fma => true,
                    // The tensor-core kernels exist for sm_90 only (elsewhere: a typed error).
                    KStepKind::MmaSm90 => c.kc.is_none() && self.0.info().compute_capability == (9, 0),
                })
    }
    fn mm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> OpResult<Array2<O>> {
        Ok(self.0.mm(c, a, b)?)
    }
    fn addmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> OpResult<Array2<O>> {
        Ok(self.0.addmm(c, a, b, bias)?)
    }
    fn bmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> OpResult<Array3<O>> {
        Ok(self.0.bmm(c, a, b)?)
    }
    fn rmsnorm<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> OpResult<Array2<O>> {
        Ok(self.0.rmsnorm(c, x, w, p)?)
    }
    fn rmsnorm_residual<T: Element, O: Element>(
        &self,
        c: &Contract,
        x: ArrayView2<T>,
        r: ArrayView2<T>,
        w: ArrayView1<T>,
        p: RmsnormParams,
    ) -> OpResult<(Array2<O>, Array2<T>)> {
        Ok(self.0.rmsnorm_residual(c, x, r, w, p)?)
    }
    fn softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        Ok(self.0.softmax(c, x)?)
    }
    fn log_softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        Ok(self.0.log_softmax(c, x)?)
    }
    fn sum<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        Ok(self.0.sum(c, x)?)
    }
    fn mean<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        Ok(self.0.mean(c, x)?)
    }
    fn rope<T: Element, O: Element>(&self, x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> OpResult<Array3<O>> {
        Ok(self.0.rope(x, pos, cos, sin)?)
    }
    fn unary<T: Element, O: Element>(&self, op: Unary, x: ArrayViewD<T>) -> OpResult<ArrayD<O>> {
        Ok(self.0.unary(op, x)?)
    }
    fn attn_prefill<T: Element, O: Element>(
        &self,
        c: &Contract,
        q: ArrayView3<T>,
        k: ArrayView3<T>,
        v: ArrayView3<T>,
        seq_lens: ArrayView1<i64>,
        p: &AttnParams,
    ) -> OpResult<Array3<O>> {
        Ok(self.0.attn_prefill(c, q, k, v, seq_lens, p)?)
    }
    fn attn_chunked<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, spans: &[Span], p: &AttnParams) -> OpResult<Array3<O>> {
        Ok(self.0.attn_chunked(c, q, cache, spans, p)?)
    }
    fn attn_decode<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> OpResult<Array3<O>> {
        Ok(self.0.attn_decode(c, q, cache, p)?)
    }
    fn kv_append<T: Element>(
        &self,
        cache: &KvCache<T>,
        k_new: ArrayView3<T>,
        v_new: ArrayView3<T>,
        spans: &[Span],
    ) -> OpResult<(Array4<T>, Array4<T>, Array1<i64>)> {
        Ok(self.0.kv_append(cache, k_new, v_new, spans)?)
    }
    fn sample<T: Element>(&self, c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> OpResult<Array1<i64>> {
        Ok(self.0.sample(c, logits, reqs)?)
    }
}

/// Runs every family on the GPU when one is present; otherwise records a visible skip.
pub fn conform(golden: Option<&Path>, contracts: &[&Contract], report: &mut Report, spinner: &dyn Fn(&str) -> ProgressBar) {
    let gpu = match Gpu::open() {
        Ok(g) => g,
        Err(e) => {
            println!("gpu: skipped: {e}");
            report.skip("gpu", "-", "all", "all", &format!("no CUDA device ({e})"));
            return;
        }
    };
    println!("gpu: {}", gpu.info());
    let tc = contracts.iter().any(|c| c.id() == MMA_SM90_V1.id());
    if tc {
        // First, before any tensor-core kernel: does this device's step follow the rule?
        let cc = gpu.info().compute_capability;
        let r = mma_probe::check_steps(&gpu).map_err(|e| e.to_string());
        println!("\nmma-sm90 on this device: {}", record_step_check(report, cc, r));
    }
    let pb = spinner("gpu");
    let ops = GpuOps(gpu.clone());
    suite::run_backend(&ops, golden, contracts, report, &|n| pb.set_message(n.to_string()));
    pb.finish_and_clear();
    // Negative control: cuBLAS through the same batch-invariance question. It is expected to
    // fail where cuBLAS changes strategy with M; lockstep's own kernel on the same data must not.
    let (m, k, n) = (2048, 4096, 4096);
    let batches = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048];
    println!("\nnegative control: f32 matmul of linspace(-1000, 1000) {m}×{k} by {k}×{n}, rows 0..B alone vs inside the batch of {m}:");
    for (who, r) in [
        ("cuBLAS sgemm", lockstep_gpu::cublas::invariance_probe(&gpu, m, k, n, &batches)),
        ("lockstep fma-v1", lockstep_gpu::cublas::lockstep_probe(&gpu, m, k, n, &batches)),
    ] {
        match r {
            Ok(r) => println!("  {who:<16} {}", r.summary()),
            Err(e) => println!("  {who:<16} could not run: {e}"),
        }
    }
    if tc {
        use mma_probe::{CUBLAS_BF16_K, CUBLAS_BF16_MS, CUBLAS_BF16_N, CUBLAS_BF16_ROWS};
        println!(
            "\ninformative: cuBLAS bf16 GEMM (cublasGemmEx, f32 compute, default algorithm) vs the {} reference, first {CUBLAS_BF16_ROWS} rows and the last of each M:",
            MMA_SM90_V1.id()
        );
        let r = mma_probe::cublas_bf16_check(&gpu, CUBLAS_BF16_K, CUBLAS_BF16_N, &CUBLAS_BF16_MS, CUBLAS_BF16_ROWS).map_err(|e| e.to_string());
        println!("  {}", record_cublas_bf16(report, r));
    }
}

/// Adds the step check's row and returns its line. On compute capability 9.0 (where the
/// rule was measured) it is a check like any other; elsewhere it is informative: it is run
/// and reported, never a failure (mma.sync m16n8k16 exists from sm_80 on, with its own
/// tensor core).
pub fn record_step_check(report: &mut Report, cc: (i32, i32), r: Result<StepCheck, String>) -> String {
    let contract = MMA_SM90_V1.id();
    let at = ("gpu", contract.as_str(), "mma-step", "device-step");
    let line = match &r {
        Ok(c) => c.summary(),
        Err(e) => format!("could not run: {e}"),
    };
    let comparison = |c: &StepCheck| Comparison {
        elements: c.elements,
        mismatches: c.mismatches,
        first: None,
        incompatible: None,
    };
    if cc == (9, 0) {
        match &r {
            Ok(c) => report.record(at, c.steps, c.failed_steps, comparison(c), (!c.conforms()).then(|| line.clone())),
            Err(_) => report.record(at, 1, 1, Comparison::empty(), Some(line.clone())),
        }
        line
    } else {
        let line = format!("{line} (informative on sm_{}{}: the rule was measured on sm_90 only)", cc.0, cc.1);
        let (cases, c) = match &r {
            Ok(c) => (c.steps, comparison(c)),
            Err(_) => (0, Comparison::empty()),
        };
        report.inform(at, cases, c, &line);
        line
    }
}

/// Adds the informative cuBLAS bf16 row and returns its line (never a failure: cuBLAS
/// promises no tree).
pub fn record_cublas_bf16(report: &mut Report, r: Result<CublasBf16Report, String>) -> String {
    let (line, cases, c) = match &r {
        Ok(r) => (
            r.summary(),
            r.rows.len(),
            Comparison {
                elements: r.rows.iter().map(|x| x.elements).sum(),
                mismatches: r.rows.iter().map(|x| x.differing).sum(),
                first: None,
                incompatible: None,
            },
        ),
        Err(e) => (format!("cuBLAS bf16: could not run: {e}"), 0, Comparison::empty()),
    };
    report.inform(("cublas", &MMA_SM90_V1.id(), "mm bf16", "vs-ref"), cases, c, &line);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_gpu::mma_probe::{compare_steps, compared_rows, step_vectors, CublasBf16Row};

    fn check(flip: bool) -> StepCheck {
        let v = step_vectors();
        let mut d: Vec<u32> = v.iter().flat_map(|s| s.model()).collect();
        if flip {
            d[7] ^= 1;
        }
        compare_steps("sm_90a", &v, &d)
    }

    #[test]
    fn step_check_is_a_verdict_on_sm_90_and_informative_elsewhere() {
        let mut r = Report::default();
        let line = record_step_check(&mut r, (9, 0), Ok(check(false)));
        assert!(line.starts_with("conforms (144 steps, 18432 elements)"), "{line}");
        assert!(r.passed() && r.rows()[0].passed() && r.rows()[0].cases == 144);

        let mut r = Report::default();
        let line = record_step_check(&mut r, (9, 0), Ok(check(true)));
        assert!(line.starts_with("does not conform: 1 of 18432 elements differ"), "{line}");
        assert!(line.contains("first mismatching step: #0 (bf16 normal), element (0, 7)"), "{line}");
        assert!(!r.passed() && r.failures() == 1);
        assert_eq!(r.rows()[0].first_failure.as_deref(), Some(line.as_str()));
        assert!(r.table().contains("FAIL 1/144 cases: does not conform"));

        let mut r = Report::default();
        record_step_check(&mut r, (9, 0), Err("no NVRTC".into()));
        assert!(!r.passed(), "a step check that cannot run on sm_90 is a failure");

        // Another architecture: run and reported, never a failure, even when it differs.
        for res in [Ok(check(true)), Err("mma.sync needs sm_80".to_string())] {
            let mut r = Report::default();
            let line = record_step_check(&mut r, (8, 0), res);
            assert!(line.ends_with("(informative on sm_80: the rule was measured on sm_90 only)"), "{line}");
            assert!(r.passed() && r.failures() == 0);
            assert!(r.table().contains("INFO: "), "{}", r.table());
        }
    }

    #[test]
    fn cublas_bf16_row_is_informative_and_in_the_json() {
        let rows = [(1, 5), (128, 0)]
            .map(|(m, differing)| CublasBf16Row {
                m,
                rows: compared_rows(m, 16),
                elements: compared_rows(m, 16).len() * 8,
                differing,
            })
            .to_vec();
        let mut r = Report::default();
        let line = record_cublas_bf16(&mut r, Ok(CublasBf16Report { k: 64, n: 8, rows }));
        assert_eq!(line, "cuBLAS bf16 (K = 64, N = 8): conforms at M ∈ {128}; differs at M ∈ {1} (5 of 8 elements)");
        assert!(r.passed(), "informative rows never fail the run");
        let json = serde_json::to_value(r.rows()).unwrap();
        assert_eq!(json[0]["informative"], line.as_str());
        assert_eq!(
            (json[0]["backend"].as_str(), json[0]["comparison"]["mismatches"].as_u64()),
            (Some("cublas"), Some(5))
        );
        let mut r = Report::default();
        assert!(record_cublas_bf16(&mut r, Err("no libcublas".into())).contains("could not run: no libcublas"));
        assert!(r.passed());
    }
}
