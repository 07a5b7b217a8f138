//! Launchers, one file per op stem. Each public method mirrors the reference function of
//! the same name (same generic parameters, same param structs, same error values for bad
//! input) and returns host arrays.
//!
//! Every host method is upload → a `*_device` function → download, and the `*_device`
//! function only checks and launches on device buffers: the benchmark (`crate::bench`)
//! times exactly the code the tests check, without host transfers in the timed region.

pub mod attention;
pub mod elementwise;
pub mod matmul;
pub mod matmul_tc;
pub mod mean;
pub mod rmsnorm;
pub mod rope;
pub(crate) mod rowplan;
pub mod sample;
pub mod softmax;

use crate::error::At;
use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig};
use std::sync::Arc;

/// A null device pointer for optional kernel arguments (bias, residual).
pub(crate) const NULL: u64 = 0;

pub(crate) fn grid1(blocks: u32, threads: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (threads as u32, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Rejects contracts whose matmul k-step has no kernel here (an error, never another order).
pub(crate) fn fma_only(op: &'static str, c: &lockstep_reference::Contract) -> crate::Result<()> {
    if c.kstep != lockstep_reference::KStepKind::Fma {
        return Err(lockstep_reference::Error::Unsupported {
            op,
            contract: c.id(),
            detail: "a GPU matmul with the tensor-core k-step (only the fma k-step has kernels in lockstep-gpu)".into(),
        }
        .into());
    }
    Ok(())
}

/// Device scratch a launcher needs besides its inputs and outputs (split-K partials,
/// attention split states). Grown on demand, never shrunk: a caller that keeps one across
/// launches (the benchmark) allocates nothing after the first, while the host API uses a
/// fresh one per call. Every launcher writes each scratch element before reading it, so
/// stale contents from an earlier launch cannot reach an output.
#[derive(Default)]
pub struct Workspace {
    buf: Option<CudaSlice<u8>>,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace::default()
    }

    /// At least `bytes` (≥ 4) of scratch on `s`.
    pub(crate) fn get(&mut self, s: &Arc<CudaStream>, bytes: usize) -> std::result::Result<&CudaSlice<u8>, DriverError> {
        let bytes = bytes.max(4);
        if self.buf.as_ref().is_none_or(|b| b.len() < bytes) {
            self.buf = None; // free the old buffer before allocating the larger one
            self.buf = Some(s.alloc_zeros::<u8>(bytes)?);
        }
        Ok(self.buf.as_ref().expect("allocated above"))
    }
}

/// A device buffer smaller than the launch reads or writes is a shape error, never an
/// out-of-bounds access (the `*_device` functions take buffers from callers).
pub(crate) fn need<T>(at: &At, what: &str, buf: &CudaSlice<T>, bytes: usize) -> crate::Result<()> {
    if buf.num_bytes() < bytes {
        return Err(lockstep_reference::Error::shape(
            at.op,
            format!(
                "{} ({what}): the device buffer holds {} bytes, the launch needs {bytes}",
                at.shape,
                buf.num_bytes()
            ),
        )
        .into());
    }
    Ok(())
}

/// Launches `f` in thread-block clusters of `cluster` CTAs: cudarc's launch builder has no
/// cluster attribute, so this calls `cuLaunchKernelEx` with one.
///
/// # Safety
/// As `LaunchArgs::launch`: `args` points at one value per kernel parameter, in order, each
/// of the parameter's type, and the buffers behind them outlive the kernel's use of them.
pub(crate) unsafe fn launch_clustered(
    stream: &CudaStream,
    f: &CudaFunction,
    cfg: LaunchConfig,
    cluster: (u32, u32, u32),
    args: &mut [*mut std::ffi::c_void],
) -> std::result::Result<(), DriverError> {
    use cudarc::driver::sys;
    stream.context().bind_to_thread()?;
    // SAFETY: an all-zero attribute is a valid value of the C struct; id and value are set below.
    let mut attr: sys::CUlaunchAttribute = unsafe { std::mem::zeroed() };
    attr.id = sys::CUlaunchAttributeID::CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
    attr.value.clusterDim.x = cluster.0;
    attr.value.clusterDim.y = cluster.1;
    attr.value.clusterDim.z = cluster.2;
    let lc = sys::CUlaunchConfig {
        gridDimX: cfg.grid_dim.0,
        gridDimY: cfg.grid_dim.1,
        gridDimZ: cfg.grid_dim.2,
        blockDimX: cfg.block_dim.0,
        blockDimY: cfg.block_dim.1,
        blockDimZ: cfg.block_dim.2,
        sharedMemBytes: cfg.shared_mem_bytes,
        hStream: stream.cu_stream(),
        attrs: &mut attr,
        numAttrs: 1,
    };
    // SAFETY: the caller's contract; `lc` and `attr` live through the call.
    unsafe { sys::cuLaunchKernelEx(&lc, f.cu_function(), args.as_mut_ptr(), std::ptr::null_mut()) }.result()
}

/// One argument of a kernel launched by [`launch_rows`]: a device pointer, an `int` or a `float`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg {
    Ptr(u64),
    I32(i32),
    F32(f32),
}

/// Launches a row kernel (ops/rowplan.rs): in clusters of `plan.cluster` CTAs along x where
/// the plan has them (the `*_wide_*` kernels take their cluster size at launch), else as a
/// plain launch.
///
/// # Safety
/// As [`launch_clustered`]: `args` are the kernel's parameters in order, each of its type,
/// and the buffers behind the pointers outlive the kernel's use of them (the caller holds
/// their stream guards until this returns).
pub(crate) unsafe fn launch_rows(stream: &CudaStream, f: &CudaFunction, plan: &rowplan::RowPlan, args: &[Arg]) -> std::result::Result<(), DriverError> {
    // Each value in an 8-byte slot; the driver reads as many bytes as the parameter has
    // (4 for int and float: the slot's low half, the machine being little-endian).
    let mut slots: Vec<u64> = args
        .iter()
        .map(|a| match *a {
            Arg::Ptr(p) => p,
            Arg::I32(v) => v as u32 as u64,
            Arg::F32(v) => v.to_bits() as u64,
        })
        .collect();
    let mut ptrs: Vec<*mut std::ffi::c_void> = slots.iter_mut().map(|s| (s as *mut u64).cast()).collect();
    if plan.cluster > 1 {
        // SAFETY: the caller's contract; `slots` lives through the call.
        unsafe { launch_clustered(stream, f, plan.cfg, (plan.cluster, 1, 1), &mut ptrs) }
    } else {
        let cfg = plan.cfg;
        stream.context().bind_to_thread()?;
        // SAFETY: the caller's contract; `slots` lives through the call.
        unsafe {
            cudarc::driver::result::launch_kernel(
                f.cu_function(),
                cfg.grid_dim,
                cfg.block_dim,
                cfg.shared_mem_bytes,
                stream.cu_stream(),
                &mut ptrs,
            )
        }
    }
}
