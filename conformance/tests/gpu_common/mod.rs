//! Shared by the GPU conformance tests: the GPU as an [`Ops`] backend, and how a test gets
//! the GPU (a visible skip without one, a failure with `LOCKSTEP_REQUIRE_GPU=1`).
#![allow(dead_code)]

pub use lockstep_conformance::gpu::{GpuOps, GPU_STEMS};
use lockstep_gpu::Gpu;

/// The GPU for test `name`, or `None` after printing the skip line. With
/// `LOCKSTEP_REQUIRE_GPU=1` a missing GPU fails the test instead.
pub fn gpu(name: &str) -> Option<Gpu> {
    lockstep_gpu::testing::open_or_skip(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}
