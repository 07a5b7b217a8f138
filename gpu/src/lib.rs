//! # lockstep-gpu
//!
//! CUDA kernels compiled at run time with NVRTC (through `cudarc`) that implement the
//! trees of `lockstep-reference` bit for bit.
//!
//! Guarantees:
//! - Every kernel performs the reference's sequence of IEEE binary32 operations, each an
//!   explicitly rounded intrinsic (`__fmaf_rn`, `__fadd_rn`, `__fmul_rn`, `__fdiv_rn`,
//!   `__fsqrt_rn`), compiled with `--fmad=false --ftz=false --prec-div=true
//!   --prec-sqrt=true` (see [`kernels::compile_options`]).
//! - The launch configuration may depend on the shape (e.g. a small-M matmul spreads its
//!   KC chunks over CTAs); the tree never does, so every row of a batch equals its batch-1
//!   result. No atomics, no data-dependent order.
//! - Tree constants (KC, L, …) come only from the Rust [`lockstep_reference::Contract`], as
//!   a generated header ([`kernels::header`]); kernels are compiled once per process and
//!   contract, and every symbol is loaded at startup into a typed table. The tensor-core
//!   matmul (`mma-sm90`, sm_90 only) is a separate program, compiled and loaded whole when
//!   it is first used ([`ops::matmul_tc`]).
//! - No driver, no device, a compile failure, a bad shape or a CUDA error is an [`Error`]
//!   value naming what failed; nothing panics, and no shape falls back to another order.
//!
//! | op | method | kernel | fma-v1 | mma-sm90-v1 |
//! |---|---|---|---|---|
//! | mm, addmm, bmm | [`Gpu::mm`], [`Gpu::addmm`], [`Gpu::bmm`] | kernels/matmul.cu; kernels/matmul_tc.cu | yes (f32, bf16, f16 in; any out) | sm_90 only: tensor-core kernels (bf16, f16 in; any out); elsewhere `Unsupported` |
//! | rmsnorm (+ residual) | [`Gpu::rmsnorm`], [`Gpu::rmsnorm_residual`] | kernels/rmsnorm.cu | lane tree, L from contract | same |
//! | sum, mean | [`Gpu::sum`], [`Gpu::mean`] | kernels/mean.cu | lane tree | same |
//! | softmax, log_softmax | [`Gpu::softmax`], [`Gpu::log_softmax`] | kernels/softmax.cu | lane trees + elementwise.cuh | same |
//! | exp, log, rsqrt, tanh, sigmoid, silu, gelu | [`Gpu::unary`] | kernels/elementwise.cu(h) | fixed polynomials | same |
//! | rope | [`Gpu::rope`] | kernels/rope.cu | host f64 tables, 3 roundings | same |
//! | attention prefill, chunked prefill, decode | [`Gpu::attn_prefill`], [`Gpu::attn_chunked`], [`Gpu::attn_decode`] | kernels/attention.cu | splits of S, blocks of BN from the contract; contiguous and paged | same |
//! | KV-cache append | [`Gpu::kv_append`] | kernels/attention.cu | a copy | same |
//! | sample | [`Gpu::sample`] | kernels/sample.cu | Philox on device, lane-tree softmax | same |
//! | cuBLAS negative control | [`cublas::invariance_probe`] | cuBLAS sgemm | — | — |
//! | the device's tensor-core step vs the rule | [`mma_probe::check_steps`] | kernels/mma_step.cu | — | sm_80 and later; a verdict on sm_90 |
//! | cuBLAS bf16 vs the tree (informative) | [`mma_probe::cublas_bf16_check`] | cuBLAS GemmEx | — | compared with the CPU reference |
//!
//! Without a GPU, [`Gpu::open`] returns [`Error::NoDriver`] or [`Error::NoDevice`];
//! [`testing::open_or_skip`] turns that into a visible skip unless
//! `LOCKSTEP_REQUIRE_GPU=1`.
//!
//! Every kernel has run on an H100 against the CPU reference bit for bit (docs/gpu.md,
//! docs/gpu-runs/); without a GPU, CI checks them by NVRTC compilation and by running the
//! CUDA program on the CPU (`scripts/gpu-emulate`).

pub mod bench;
pub mod cublas;
pub mod device;
pub mod error;
pub mod kernels;
pub mod mma_probe;
pub mod ops;
pub mod testing;

pub use device::{Gpu, GpuInfo};
pub use error::{Error, Result};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_is_a_value_with_or_without_a_gpu() {
        // On a machine without libcuda this must be an error value, not a panic; on a GPU
        // machine it must open.
        match Gpu::open() {
            Ok(g) => eprintln!("{}", g.info()),
            Err(e) => {
                assert!(e.is_no_gpu() || testing::gpu_required(), "unexpected error: {e}");
                assert!(!testing::gpu_required(), "{}=1 but no GPU: {e}", testing::REQUIRE_GPU_ENV);
                eprintln!("skipped: no CUDA device ({e})");
            }
        }
    }
}
