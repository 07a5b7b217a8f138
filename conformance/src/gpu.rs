//! The GPU backend in the conformance suite: [`GpuOps`] runs every case on `lockstep-gpu`,
//! and [`conform`] adds the GPU rows and the cuBLAS negative control to the report.

use crate::case::OpSpec;
use crate::ops::{OpResult, Ops};
use crate::suite::{self, Report};
use indicatif::ProgressBar;
use lockstep_gpu::Gpu;
use lockstep_reference::attention::{AttnParams, KvCache, Span};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::sample::SampleParams;
use lockstep_reference::{Contract, Element, KStepKind};
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
}
