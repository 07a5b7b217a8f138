//! One interface over every implementation of the trees, so that each check is written
//! once and runs on every backend (the reference's literal and fast CPU paths, the GPU).

use lockstep_reference::attention::{self, AttnParams, KvCache, Span};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::sample::{self, SampleParams};
use lockstep_reference::{elementwise, matmul, mean, rmsnorm, rope, softmax, Contract, Element};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD};

pub type OpResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The ops of the dense trees, with the reference's signatures.
pub trait Ops: Sync {
    /// Short name for reports: `cpu-literal`, `cpu-fast`, `gpu`.
    fn name(&self) -> String;
    /// Whether this backend implements `op` under contract `c`. An op it does not implement
    /// is reported as SKIPPED (visibly), never run and never counted as a pass.
    fn supports(&self, _op: &crate::case::OpSpec, _c: &Contract) -> bool {
        true
    }
    fn mm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> OpResult<Array2<O>>;
    fn addmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> OpResult<Array2<O>>;
    fn bmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> OpResult<Array3<O>>;
    fn rmsnorm<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> OpResult<Array2<O>>;
    #[allow(clippy::type_complexity)]
    fn rmsnorm_residual<T: Element, O: Element>(
        &self,
        c: &Contract,
        x: ArrayView2<T>,
        r: ArrayView2<T>,
        w: ArrayView1<T>,
        p: RmsnormParams,
    ) -> OpResult<(Array2<O>, Array2<T>)>;
    fn softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>>;
    fn log_softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>>;
    fn sum<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>>;
    fn mean<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>>;
    fn rope<T: Element, O: Element>(&self, x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> OpResult<Array3<O>>;
    fn unary<T: Element, O: Element>(&self, op: Unary, x: ArrayViewD<T>) -> OpResult<ArrayD<O>>;
    #[allow(clippy::too_many_arguments)]
    fn attn_prefill<T: Element, O: Element>(
        &self,
        c: &Contract,
        q: ArrayView3<T>,
        k: ArrayView3<T>,
        v: ArrayView3<T>,
        seq_lens: ArrayView1<i64>,
        p: &AttnParams,
    ) -> OpResult<Array3<O>>;
    fn attn_chunked<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, spans: &[Span], p: &AttnParams) -> OpResult<Array3<O>>;
    fn attn_decode<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> OpResult<Array3<O>>;
    #[allow(clippy::type_complexity)]
    fn kv_append<T: Element>(
        &self,
        cache: &KvCache<T>,
        k_new: ArrayView3<T>,
        v_new: ArrayView3<T>,
        spans: &[Span],
    ) -> OpResult<(Array4<T>, Array4<T>, Array1<i64>)>;
    fn sample<T: Element>(&self, c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> OpResult<Array1<i64>>;
}

/// The literal, single-threaded reference: the definition.
pub struct CpuLiteral;
/// The reference's rayon/SIMD fast path.
pub struct CpuFast;

macro_rules! cpu_ops {
    ($ty:ty, $name:expr, $mm:path, $addmm:path, $bmm:path, $rms:path, $rmsr:path, $sm:path, $lsm:path, $sum:path, $mean:path, $rope:path, $un:path, $pre:path, $chk:path, $dec:path, $samp:path) => {
        impl Ops for $ty {
            fn name(&self) -> String {
                $name.into()
            }
            fn mm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> OpResult<Array2<O>> {
                Ok($mm(c, a, b)?)
            }
            fn addmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> OpResult<Array2<O>> {
                Ok($addmm(c, a, b, bias)?)
            }
            fn bmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> OpResult<Array3<O>> {
                Ok($bmm(c, a, b)?)
            }
            fn rmsnorm<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> OpResult<Array2<O>> {
                Ok($rms(c, x, w, p)?)
            }
            fn rmsnorm_residual<T: Element, O: Element>(
                &self,
                c: &Contract,
                x: ArrayView2<T>,
                r: ArrayView2<T>,
                w: ArrayView1<T>,
                p: RmsnormParams,
            ) -> OpResult<(Array2<O>, Array2<T>)> {
                Ok($rmsr(c, x, r, w, p)?)
            }
            fn softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
                Ok($sm(c, x)?)
            }
            fn log_softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
                Ok($lsm(c, x)?)
            }
            fn sum<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
                Ok($sum(c, x)?)
            }
            fn mean<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
                Ok($mean(c, x)?)
            }
            fn rope<T: Element, O: Element>(&self, x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> OpResult<Array3<O>> {
                Ok($rope(x, pos, cos, sin)?)
            }
            fn unary<T: Element, O: Element>(&self, op: Unary, x: ArrayViewD<T>) -> OpResult<ArrayD<O>> {
                Ok($un(op, x))
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
                Ok($pre(c, q, k, v, seq_lens, p)?)
            }
            fn attn_chunked<T: Element, O: Element>(
                &self,
                c: &Contract,
                q: ArrayView3<T>,
                cache: &KvCache<T>,
                spans: &[Span],
                p: &AttnParams,
            ) -> OpResult<Array3<O>> {
                Ok($chk(c, q, cache, spans, p)?)
            }
            fn attn_decode<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> OpResult<Array3<O>> {
                Ok($dec(c, q, cache, p)?)
            }
            fn kv_append<T: Element>(
                &self,
                cache: &KvCache<T>,
                k_new: ArrayView3<T>,
                v_new: ArrayView3<T>,
                spans: &[Span],
            ) -> OpResult<(Array4<T>, Array4<T>, Array1<i64>)> {
                Ok(attention::appended(cache, k_new, v_new, spans)?)
            }
            fn sample<T: Element>(&self, c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> OpResult<Array1<i64>> {
                Ok($samp(c, logits, reqs)?)
            }
        }
    };
}

cpu_ops!(
    CpuLiteral,
    "cpu-literal",
    matmul::mm,
    matmul::addmm,
    matmul::bmm,
    rmsnorm::rmsnorm,
    rmsnorm::rmsnorm_residual,
    softmax::softmax,
    softmax::log_softmax,
    mean::sum,
    mean::mean,
    rope::rope,
    elementwise::unary,
    attention::prefill,
    attention::chunked_prefill,
    attention::decode,
    sample::sample
);
cpu_ops!(
    CpuFast,
    "cpu-fast",
    matmul::mm_fast,
    matmul::addmm_fast,
    matmul::bmm_fast,
    rmsnorm::rmsnorm_fast,
    rmsnorm::rmsnorm_residual_fast,
    softmax::softmax_fast,
    softmax::log_softmax_fast,
    mean::sum_fast,
    mean::mean_fast,
    rope::rope_fast,
    elementwise::unary_fast,
    attention::prefill_fast,
    attention::chunked_prefill_fast,
    attention::decode_fast,
    sample::sample_fast
);
