//! The suite can fail: a backend that picks its split by batch size, as vendor libraries
//! do, must be caught by the batch-invariance checks (and a correct one must not).

use lockstep_conformance::case::OpSpec;
use lockstep_conformance::catalog::{matmul_case, row_case, Values};
use lockstep_conformance::ops::{CpuFast, OpResult, Ops};
use lockstep_conformance::suite::batch_invariance;
use lockstep_reference::attention::{AttnParams, KvCache, Span};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::sample::SampleParams;
use lockstep_reference::{Contract, DType, Element, KStepKind, FMA_V1};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD};

/// Chooses KC and the lane count from the number of rows: exactly the heuristic that
/// makes real libraries non-invariant. Everything else is the fast reference.
struct Heuristic;

fn by_rows(c: &Contract, rows: usize) -> Contract {
    let (kc, lanes) = if rows <= 16 { (Some(64), 32) } else { (c.kc, c.lanes) };
    Contract::custom(KStepKind::Fma, kc, lanes, c.attn_block, c.attn_split).unwrap()
}

impl Ops for Heuristic {
    fn name(&self) -> String {
        "heuristic".into()
    }
    fn mm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> OpResult<Array2<O>> {
        CpuFast.mm(&by_rows(c, a.nrows()), a, b)
    }
    fn addmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> OpResult<Array2<O>> {
        CpuFast.addmm(&by_rows(c, a.nrows()), a, b, bias)
    }
    fn bmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> OpResult<Array3<O>> {
        CpuFast.bmm(c, a, b)
    }
    fn rmsnorm<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> OpResult<Array2<O>> {
        CpuFast.rmsnorm(&by_rows(c, x.nrows()), x, w, p)
    }
    fn rmsnorm_residual<T: Element, O: Element>(
        &self,
        c: &Contract,
        x: ArrayView2<T>,
        r: ArrayView2<T>,
        w: ArrayView1<T>,
        p: RmsnormParams,
    ) -> OpResult<(Array2<O>, Array2<T>)> {
        CpuFast.rmsnorm_residual(&by_rows(c, x.nrows()), x, r, w, p)
    }
    fn softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        CpuFast.softmax(&by_rows(c, x.nrows()), x)
    }
    fn log_softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        CpuFast.log_softmax(&by_rows(c, x.nrows()), x)
    }
    fn sum<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        CpuFast.sum(&by_rows(c, x.nrows()), x)
    }
    fn mean<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> OpResult<Array2<O>> {
        CpuFast.mean(&by_rows(c, x.nrows()), x)
    }
    fn rope<T: Element, O: Element>(&self, x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> OpResult<Array3<O>> {
        CpuFast.rope(x, pos, cos, sin)
    }
    fn unary<T: Element, O: Element>(&self, op: Unary, x: ArrayViewD<T>) -> OpResult<ArrayD<O>> {
        CpuFast.unary(op, x)
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
        CpuFast.attn_prefill(c, q, k, v, seq_lens, p)
    }
    fn attn_chunked<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, spans: &[Span], p: &AttnParams) -> OpResult<Array3<O>> {
        CpuFast.attn_chunked(c, q, cache, spans, p)
    }
    fn attn_decode<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> OpResult<Array3<O>> {
        CpuFast.attn_decode(c, q, cache, p)
    }
    fn kv_append<T: Element>(
        &self,
        cache: &KvCache<T>,
        k_new: ArrayView3<T>,
        v_new: ArrayView3<T>,
        spans: &[Span],
    ) -> OpResult<(Array4<T>, Array4<T>, Array1<i64>)> {
        CpuFast.kv_append(cache, k_new, v_new, spans)
    }
    fn sample<T: Element>(&self, c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> OpResult<Array1<i64>> {
        CpuFast.sample(c, logits, reqs)
    }
}

#[test]
fn batch_invariance_check_catches_a_split_chosen_by_batch_size() {
    let mm = matmul_case(&FMA_V1, OpSpec::Addmm, DType::F32, DType::F32, 300, 1000, 16, 0, Values::Uniform(1.0));
    let c = batch_invariance(&Heuristic, &mm).unwrap();
    assert!(!c.passed(), "a KC chosen by M must be caught: {}", c.summary());
    assert!(batch_invariance(&CpuFast, &mm).unwrap().passed());

    for op in [OpSpec::Rmsnorm { eps: 1e-6 }, OpSpec::Softmax, OpSpec::Sum] {
        let rows = row_case(&FMA_V1, op.clone(), DType::F32, DType::F32, 300, 3000, Values::Uniform(1.0));
        let c = batch_invariance(&Heuristic, &rows).unwrap();
        assert!(!c.passed(), "{}: lanes chosen by batch size must be caught: {}", op.name(), c.summary());
        assert!(batch_invariance(&CpuFast, &rows).unwrap().passed());
    }
}
