//! Launchers, one file per op stem. Each public method mirrors the reference function of
//! the same name (same generic parameters, same param structs, same error values for bad
//! input) and returns host arrays.

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

use cudarc::driver::LaunchConfig;

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
