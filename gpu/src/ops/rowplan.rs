//! Launch plan of the row kernels (rmsnorm, softmax, sum/mean): how many CTAs serve a
//! row, and how much dynamic shared memory they get. Launch configuration only: every
//! plan computes the same lane tree (gpu/kernels/reduce.cuh, "row engine").

use crate::kernels::{ROW_CACHE_MAX, ROW_CLUSTER, ROW_THREADS};
use cudarc::driver::LaunchConfig;

/// Where a plan puts a row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowPlan {
    /// Run the `*_wide` kernel: a cluster of [`ROW_CLUSTER`] CTAs per row.
    pub wide: bool,
    pub cfg: LaunchConfig,
}

/// Bytes in front of the slice cache: `lanes` lane values and a 16-byte broadcast slot
/// (`ls_row_head_bytes` in reduce.cuh).
fn head_bytes(lanes: usize) -> usize {
    lanes * 4 + 16
}

/// Bytes of one CTA's slice cache (`ls_row_cache_bytes` in reduce.cuh): ceil(h / lanes)
/// chunks of the CTA's `lanes / parts` lanes.
fn cache_bytes(h: usize, lanes: usize, parts: usize, elem: usize) -> usize {
    h.div_ceil(lanes) * (lanes / parts) * elem
}

/// The most dynamic shared memory any plan asks for under a contract with `lanes` lanes;
/// the row kernels are allowed that much when loaded.
pub(crate) fn max_smem_bytes(lanes: usize) -> usize {
    head_bytes(lanes) + ROW_CACHE_MAX
}

/// The plan for `rows` rows of width `h` stored in `elem`-byte elements.
///
/// * A cluster per row (`wide`) when the device has clusters (`clusters`, sm_90+) and the
///   row is too wide to cache in one CTA, or the rows are fewer than the SMs (`sm_count`)
///   and at least 8 lanes' chunks wide: then one CTA per row would leave SMs idle and
///   its loads too few to cover DRAM latency.
/// * The slice cache (read DRAM once, later passes from shared memory) when `cache` (the
///   op makes more than one pass) and the slice fits in [`ROW_CACHE_MAX`].
pub(crate) fn row_plan(rows: usize, h: usize, lanes: usize, elem: usize, cache: bool, clusters: bool, sm_count: usize) -> RowPlan {
    let row_bytes = h * elem;
    let few_rows = rows < sm_count && h >= 8 * lanes;
    let wide =
        clusters && lanes >= ROW_CLUSTER && rows.checked_mul(ROW_CLUSTER).is_some_and(|g| g <= i32::MAX as usize) && (row_bytes > ROW_CACHE_MAX || few_rows);
    let parts = if wide { ROW_CLUSTER } else { 1 };
    let slice = cache_bytes(h, lanes, parts, elem);
    let smem = head_bytes(lanes) + if cache && slice <= ROW_CACHE_MAX { slice } else { 0 };
    RowPlan {
        wide,
        cfg: LaunchConfig {
            grid_dim: ((rows * parts) as u32, 1, 1),
            block_dim: (ROW_THREADS as u32, 1, 1),
            shared_mem_bytes: smem as u32,
        },
    }
}

impl crate::device::Gpu {
    /// [`row_plan`] on this device for input storage `tin`; `cache`: the op makes more
    /// than one pass over the row.
    pub(crate) fn row_plan(&self, c: &lockstep_reference::Contract, rows: usize, h: usize, tin: lockstep_reference::DType, cache: bool) -> RowPlan {
        let info = self.info();
        row_plan(
            rows,
            h,
            c.lanes,
            tin.size_bytes(),
            cache,
            info.compute_capability.0 >= 9,
            info.sm_count.max(1) as usize,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_for_the_target_shapes() {
        // H100: 132 SMs, clusters.
        let p = row_plan(64, 4096, 1024, 4, true, true, 132);
        assert!(!p.wide);
        assert_eq!(p.cfg.grid_dim.0, 64);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 4096 * 4);
        // 8192 f32 at 64 rows: a cluster per row, each CTA caching 1/8 of the row.
        let p = row_plan(64, 8192, 1024, 4, true, true, 132);
        assert!(p.wide);
        assert_eq!(p.cfg.grid_dim.0, 64 * 8);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 1024 * 4);
        // Many rows: one CTA per row.
        assert!(!row_plan(4096, 8192, 1024, 4, true, true, 132).wide);
        // Vocabulary rows: always a cluster; the f32 slice (75968 B) still fits the cache.
        let p = row_plan(4096, 151936, 1024, 4, true, true, 132);
        assert!(p.wide);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 149 * 128 * 4);
        assert!(p.cfg.shared_mem_bytes as usize <= max_smem_bytes(1024));
        // No clusters (before sm_90): one CTA per row, re-reading a row too wide to cache.
        let p = row_plan(64, 151936, 1024, 4, true, false, 132);
        assert!(!p.wide);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16);
        // sum/mean never cache.
        assert_eq!(row_plan(64, 4096, 1024, 2, false, true, 132).cfg.shared_mem_bytes as usize, 1024 * 4 + 16);
        // Fewer lanes than cluster CTAs: never wide.
        assert!(!row_plan(1, 1 << 20, 4, 4, true, true, 132).wide);
    }
}
