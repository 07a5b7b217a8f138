//! Shared by the GPU conformance tests: the GPU as an [`Ops`] backend, and how a test gets
//! the GPU (a visible skip without one, a failure with `LOCKSTEP_REQUIRE_GPU=1`).
#![allow(dead_code)]

use lockstep_conformance::ops::{OpResult, Ops};
use lockstep_gpu::Gpu;
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::{Contract, Element};
use ndarray::{Array2, Array3, ArrayD, ArrayView1, ArrayView2, ArrayView3, ArrayViewD};

/// Op stems with GPU kernels (attention and sampling have none yet).
pub const GPU_STEMS: [&str; 6] = ["matmul", "rmsnorm", "mean", "softmax", "rope", "elementwise"];

/// The GPU for test `name`, or `None` after printing the skip line. With
/// `LOCKSTEP_REQUIRE_GPU=1` a missing GPU fails the test instead.
pub fn gpu(name: &str) -> Option<Gpu> {
    lockstep_gpu::testing::open_or_skip(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The GPU as a conformance backend.
pub struct GpuOps(pub Gpu);

impl Ops for GpuOps {
    fn name(&self) -> String {
        "gpu".into()
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
}
