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
use cudarc::driver::{CudaSlice, CudaStream, DriverError, LaunchConfig};
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
