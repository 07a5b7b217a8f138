//! Launch plan of the row kernels (rmsnorm, softmax, sum/mean): which engine serves a row
//! (gpu/kernels/reduce.cuh: the block engine, one CTA or a cluster per row; the warp
//! engine, persistent CTAs of up to 4 warps, one row at a time), and how much dynamic
//! shared memory it gets.
//! Launch configuration only: every plan computes the same lane tree.

use crate::kernels::{large_clusters, ROW_CACHE_MAX, ROW_CLUSTER, ROW_CLUSTER_LARGE, ROW_REG_QUADS, ROW_STAGE_BYTES, ROW_THREADS};
use cudarc::driver::LaunchConfig;

/// The kernel a plan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RowKernel {
    /// `*_*`: the block engine, one CTA of [`ROW_THREADS`] per row.
    Block,
    /// `*_wide_*`: the block engine, a cluster of [`ROW_CLUSTER`] or [`ROW_CLUSTER_LARGE`]
    /// CTAs per row ([`cluster_size`]).
    Wide,
    /// `*_warps_*`: the warp engine, persistent CTAs of [`warp_threads`], each row cached
    /// in shared memory and the next one prefetched.
    Warps,
    /// `*_regs_*`: the register engine (reduce.cuh `LsRegRow`; softmax and rmsnorm), one
    /// CTA of [`ROW_THREADS`] per row, the row held in registers (up to [`ROW_REG_QUADS`]
    /// quads per thread).
    Regs,
    /// `*_regs4_*`: the same for rows of up to half as many quads (fewer registers, 4 CTAs
    /// per SM instead of 3).
    Regs4,
}

/// The register-engine kernel for a row of width `h` under `lanes` lanes, if one holds it:
/// lanes a multiple of 4 × [`ROW_THREADS`] (each thread then owns whole quads of lanes),
/// and ceil(h / lanes) chunks of lanes / (4 × ROW_THREADS) quads each within
/// [`ROW_REG_QUADS`] ([`RowKernel::Regs`]) or half of it ([`RowKernel::Regs4`], whose 62
/// registers let 4 CTAs share an SM: the 8-quad kernel's 80 at H = 4096 measured 0.84–0.89×
/// of the block engine on the H200, docs/perf.md).
pub(crate) fn regs_kernel(h: usize, lanes: usize) -> Option<RowKernel> {
    let quad_lanes = 4 * ROW_THREADS;
    let quads = h.div_ceil(lanes) * (lanes / quad_lanes);
    match quads {
        _ if !lanes.is_multiple_of(quad_lanes) => None,
        q if q <= ROW_REG_QUADS / 2 => Some(RowKernel::Regs4),
        q if q <= ROW_REG_QUADS => Some(RowKernel::Regs),
        _ => None,
    }
}

/// Where a plan puts a row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowPlan {
    pub kernel: RowKernel,
    pub cfg: LaunchConfig,
    /// CTAs per cluster along x (1: no cluster), given at launch (ops/mod.rs `launch_rows`).
    pub cluster: u32,
}

/// Threads of a warp-engine CTA (`LS_WARP_THREADS` in reduce.cuh): min(4, lanes / 128)
/// warps; `None` where the engine does not apply (lanes not a multiple of 128).
pub(crate) fn warp_threads(lanes: usize) -> Option<usize> {
    (lanes >= 128 && lanes.is_multiple_of(128)).then(|| 32 * (lanes / 128).min(4))
}

/// Dynamic shared memory of a warp-engine CTA (`ls_warp_smem_bytes` in reduce.cuh): the
/// warp exchange and result, then the op's buffers, ceil(h / lanes) chunks of `lanes`
/// elements of `elem_bytes` bytes in all.
pub(crate) fn warp_smem_bytes(h: usize, lanes: usize, elem_bytes: usize) -> usize {
    warp_head_bytes(lanes) + h.div_ceil(lanes) * lanes * elem_bytes
}

fn warp_head_bytes(lanes: usize) -> usize {
    (lanes / 128).clamp(1, 4) * 128 * 4 + 16
}

/// The most dynamic shared memory a warp-engine plan asks for on a device without limits.
fn max_warp_smem_bytes(lanes: usize) -> usize {
    warp_head_bytes(lanes) + ROW_CACHE_MAX
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

/// Bytes of a cached CTA with the staging buffer (`ls_row_stage_offset` in reduce.cuh, +
/// [`ROW_STAGE_BYTES`]): the buffer starts at the next 16-byte boundary behind the cache.
fn staged_bytes(cached: usize) -> usize {
    cached.next_multiple_of(16) + ROW_STAGE_BYTES
}

/// The most dynamic shared memory a block-engine plan asks for under a contract with `lanes`
/// lanes on a device without limits.
fn max_smem_bytes(lanes: usize) -> usize {
    staged_bytes(head_bytes(lanes) + ROW_CACHE_MAX)
}

/// What a row plan depends on of the device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RowDevice {
    /// Thread-block clusters (sm_90 and later).
    pub clusters: bool,
    pub sm_count: usize,
    /// The most shared memory a CTA may opt into ([`crate::device::GpuInfo::smem_per_block_optin`]).
    pub smem_optin: usize,
    /// Shared memory of one SM ([`crate::device::GpuInfo::smem_per_sm`]).
    pub smem_per_sm: usize,
    /// Clusters of [`ROW_CLUSTER_LARGE`] CTAs run here ([`large_clusters`]: sm_90a).
    pub large_clusters: bool,
    /// CTAs per row of every cluster plan where [`ROW_CLUSTER_ENV`] sets it; else the plan
    /// picks ([`cluster_size`]).
    pub row_cluster: Option<usize>,
}

/// Shared memory the driver reserves per resident CTA (1 KiB on sm_80 and later).
const SMEM_RESERVED_PER_CTA: usize = 1024;

/// Set to 2, 4, 8 or 16 (16 on sm_90a only, a "non-portable" cluster size), every cluster
/// plan of the row kernels takes that many CTAs per row instead of its own [`cluster_size`]: for
/// measuring the constant (`scripts/gpu-session` `ROW_SCAN`). Like the constant, it changes
/// which CTA folds which lanes, never a bit.
pub const ROW_CLUSTER_ENV: &str = "LOCKSTEP_ROW_CLUSTER";

fn row_cluster_override(arch: &str) -> Option<usize> {
    parse_row_cluster(&std::env::var(ROW_CLUSTER_ENV).ok()?, arch)
}

/// A cluster size [`ROW_CLUSTER_ENV`] may set on a device of `arch`; `None` for anything else.
fn parse_row_cluster(text: &str, arch: &str) -> Option<usize> {
    let n: usize = text.trim().parse().ok()?;
    (n.is_power_of_two() && (2..=ROW_CLUSTER).contains(&n) || n == ROW_CLUSTER_LARGE && large_clusters(arch)).then_some(n)
}

impl RowDevice {
    pub(crate) fn of(info: &crate::device::GpuInfo) -> RowDevice {
        RowDevice {
            clusters: info.compute_capability.0 >= 9,
            sm_count: info.sm_count.max(1) as usize,
            smem_optin: info.smem_per_block_optin,
            smem_per_sm: info.smem_per_sm,
            large_clusters: large_clusters(&info.arch),
            row_cluster: row_cluster_override(&info.arch),
        }
    }

    /// The dynamic shared memory the block-engine kernels are allowed when loaded, and the
    /// most any of their plans asks for: less than the largest plan where the device has
    /// less (99 KiB on sm_86 and sm_89 against 100 KiB for an f32 vocabulary slice and its
    /// staging buffer); such a plan then goes without staging, or without the slice cache.
    /// The kernel reads which from the size it was given (reduce.cuh `ls_row_begin`), so
    /// the tree is the same.
    pub(crate) fn smem_max(&self, lanes: usize) -> usize {
        max_smem_bytes(lanes).min(self.smem_optin)
    }

    /// The same for the warp-engine kernels; a plan whose buffers do not fit takes the
    /// block engine.
    pub(crate) fn warp_smem_max(&self, lanes: usize) -> usize {
        max_warp_smem_bytes(lanes).min(self.smem_optin)
    }
}

/// The plan for `rows` rows of width `h` stored in `elem`-byte elements.
///
/// * A cluster per row ([`RowKernel::Wide`]) when the device has clusters (`dev.clusters`,
///   sm_90+) and the row is too wide to cache in one CTA, or the rows are fewer than the
///   SMs (`dev.sm_count`) and at least 8 lanes' chunks wide: then one CTA per row would leave
///   SMs idle and its loads too few to cover DRAM latency.
/// * Else the register engine ([`RowKernel::Regs`], [`RowKernel::Regs4`]) where the op has
///   one (`regs`) and the row fits it ([`regs_kernel`]): the row is read once into
///   registers, no shared memory, every load of the row in flight at once.
/// * Else the warp engine ([`RowKernel::Warps`]) where the op has one (`warp_cache`: the
///   bytes per element of its buffers, double buffering included), the lanes suit it and
///   the buffers fit in [`ROW_CACHE_MAX`] and the device ([`RowDevice::warp_smem_max`]): its combine costs two barriers (the block
///   engine's, one per level), and it loads the next row while it works on this one. The
///   grid is one CTA per row here; the launcher caps it at what fits on the device
///   ([`crate::device::Gpu::warp_grid`]).
/// * Else one CTA per row ([`RowKernel::Block`]), with the slice cache (read DRAM once,
///   later passes from shared memory) when `cache` (the op makes more than one pass) and
///   the slice fits in [`ROW_CACHE_MAX`] and the device ([`RowDevice::smem_max`]).
///
/// A cached block-engine plan (one CTA or a cluster per row) of an op with `stage`
/// (softmax: an exp per element in a fold) also gets [`ROW_STAGE_BYTES`] of staging, where
/// every thread computes the values that the CTA's lanes then fold, where the device has
/// room for it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn row_plan(
    rows: usize,
    h: usize,
    lanes: usize,
    elem: usize,
    cache: bool,
    stage: bool,
    warp_cache: Option<usize>,
    regs: bool,
    dev: RowDevice,
) -> RowPlan {
    let row_bytes = h * elem;
    let few_rows = rows < dev.sm_count && h >= 8 * lanes;
    let least = dev.row_cluster.unwrap_or(ROW_CLUSTER);
    let wide = dev.clusters
        && lanes >= least
        && rows.checked_mul(ROW_CLUSTER_LARGE.max(least)).is_some_and(|g| g <= i32::MAX as usize)
        && (row_bytes > ROW_CACHE_MAX || few_rows);
    if let Some(kernel) = regs_kernel(h, lanes).filter(|_| regs && !wide) {
        return RowPlan {
            kernel,
            cfg: LaunchConfig {
                grid_dim: (rows as u32, 1, 1),
                block_dim: (ROW_THREADS as u32, 1, 1),
                shared_mem_bytes: 0,
            },
            cluster: 1,
        };
    }
    if !wide {
        if let (Some(ce), Some(threads)) = (warp_cache, warp_threads(lanes)) {
            // Within warp_smem_max: the buffers within ROW_CACHE_MAX and the device's limit.
            if warp_smem_bytes(h, lanes, ce) <= dev.warp_smem_max(lanes) {
                return RowPlan {
                    kernel: RowKernel::Warps,
                    cfg: LaunchConfig {
                        grid_dim: (rows as u32, 1, 1),
                        block_dim: (threads as u32, 1, 1),
                        shared_mem_bytes: warp_smem_bytes(h, lanes, ce) as u32,
                    },
                    cluster: 1,
                };
            }
        }
    }
    let smem = |parts| block_smem(h, lanes, parts, elem, cache, stage, dev.smem_max(lanes));
    let parts = match (wide, dev.row_cluster) {
        (false, _) => 1,
        (true, Some(n)) => n,
        (true, None) => cluster_size(rows, lanes, row_bytes > ROW_CACHE_MAX, smem, dev),
    };
    RowPlan {
        kernel: if wide { RowKernel::Wide } else { RowKernel::Block },
        cfg: LaunchConfig {
            grid_dim: ((rows * parts) as u32, 1, 1),
            block_dim: (ROW_THREADS as u32, 1, 1),
            shared_mem_bytes: smem(parts) as u32,
        },
        cluster: parts as u32,
    }
}

/// Dynamic shared memory of a block-engine CTA owning `lanes / parts` lanes: the lanes, then
/// the slice cache when `cache` (the op makes more than one pass) and the slice fits in
/// [`ROW_CACHE_MAX`] and `max`, then [`ROW_STAGE_BYTES`] of staging when `stage` and it fits.
fn block_smem(h: usize, lanes: usize, parts: usize, elem: usize, cache: bool, stage: bool, max: usize) -> usize {
    let slice = cache_bytes(h, lanes, parts, elem);
    let cached = cache && slice <= ROW_CACHE_MAX && head_bytes(lanes) + slice <= max;
    let staged = cached && stage && staged_bytes(head_bytes(lanes) + slice) <= max;
    match (cached, staged) {
        (false, _) => head_bytes(lanes),
        (true, false) => head_bytes(lanes) + slice,
        (true, true) => staged_bytes(head_bytes(lanes) + slice),
    }
}

/// CTAs per row of a cluster plan: [`ROW_CLUSTER`], or [`ROW_CLUSTER_LARGE`] for rows
/// too wide for one CTA's cache (`too_wide`) where the device runs it and either
///   - every CTA of the grid still has an SM of its own (`rows` × 16 ≤ SMs): twice the SMs
///     pull the row in (vocabulary rows at M ≤ 8, 1.10–1.32× on the H100), or
///   - the lanes folding at once on an SM grow: CTAs per SM (counted by shared memory,
///     `smem(parts)` each; registers and threads may allow fewer) × lanes per CTA. At
///     151936: f32 softmax 2 CTAs of 128 lanes at 8, 5 of 64 at 16 (1.20–1.22× from 64
///     rows on); log_softmax (staged) 2 of 128 against 3 of 64, rmsnorm bf16 5 of 128
///     against 9 of 64 (0.89–1.02× and 0.69–0.94× at 16: 8 it is).
///
/// Measured: docs/perf.md, sixteenth session. At [M ≤ 64, 8192] (few rows, not too wide)
/// 16 lost (0.65–0.94×): the slice per CTA is small and the cluster's combine dominates.
fn cluster_size(rows: usize, lanes: usize, too_wide: bool, smem: impl Fn(usize) -> usize, dev: RowDevice) -> usize {
    let (a, b) = (ROW_CLUSTER, ROW_CLUSTER_LARGE);
    if !(dev.large_clusters && too_wide && lanes >= b) {
        return a;
    }
    let per_sm = |parts: usize| dev.smem_per_sm / (smem(parts) + SMEM_RESERVED_PER_CTA);
    let lanes_per_sm = |parts: usize| per_sm(parts) * (lanes / parts);
    if rows * b <= dev.sm_count || lanes_per_sm(b) > lanes_per_sm(a) {
        b
    } else {
        a
    }
}

impl crate::device::Gpu {
    /// The grid of a warp-engine launch of `f`: persistent CTAs, as many as the device holds
    /// at once, never more than `rows` (each CTA then serves every grid-th row).
    pub(crate) fn warp_grid(&self, f: &cudarc::driver::CudaFunction, cfg: &LaunchConfig, rows: usize) -> u32 {
        let per_sm = f
            .occupancy_max_active_blocks_per_multiprocessor(cfg.block_dim.0, cfg.shared_mem_bytes as usize, None)
            .unwrap_or(1)
            .max(1) as usize;
        (per_sm * self.info().sm_count.max(1) as usize).min(rows).max(1) as u32
    }

    /// [`row_plan`] on this device for input storage `tin`; `cache`: the op makes more
    /// than one pass over the row; `stage`, `warp_cache`, `regs`: as in [`row_plan`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn row_plan(
        &self,
        c: &lockstep_reference::Contract,
        rows: usize,
        h: usize,
        tin: lockstep_reference::DType,
        cache: bool,
        stage: bool,
        warp_cache: Option<usize>,
        regs: bool,
    ) -> RowPlan {
        row_plan(rows, h, c.lanes, tin.size_bytes(), cache, stage, warp_cache, regs, RowDevice::of(self.info()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H100: RowDevice = RowDevice {
        clusters: true,
        sm_count: 132,
        smem_optin: 227 * 1024,
        smem_per_sm: 228 * 1024,
        large_clusters: true,
        row_cluster: None,
    };
    const NO_CLUSTERS: RowDevice = RowDevice { clusters: false, ..H100 };

    #[test]
    fn plans_for_the_target_shapes() {
        // H100: 132 SMs, clusters. `warp`: the warp engine's bytes per element (rmsnorm
        // bf16: two x buffers, 2 × 2; the f32 cases below: 2 × 4).
        let plan = |rows, h, elem, warp| row_plan(rows, h, 1024, elem, true, false, warp, false, H100);
        // Enough rows: the warp engine, CTAs of 4 warps, the row in its cache.
        let p = plan(64, 4096, 4, Some(8));
        assert_eq!(p.kernel, RowKernel::Warps);
        assert_eq!((p.cfg.grid_dim.0, p.cfg.block_dim.0), (64, 128));
        assert_eq!(p.cfg.shared_mem_bytes as usize, 4 * 128 * 4 + 16 + 4096 * 8);
        let p = plan(4096, 8192, 2, Some(4));
        assert_eq!(p.kernel, RowKernel::Warps);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 2064 + 8192 * 4);
        // A partial last chunk is cached whole: 1000 → 1024 elements.
        assert_eq!(plan(5, 1000, 4, Some(8)).cfg.shared_mem_bytes as usize, 2064 + 1024 * 8);
        // Buffers over ROW_CACHE_MAX: not the warp engine.
        assert_ne!(plan(4096, 8192, 4, Some(12)).kernel, RowKernel::Warps);
        // 8192 f32 at 64 rows: a cluster per row, each CTA caching 1/8 of the row.
        let p = plan(64, 8192, 4, Some(4));
        assert_eq!(p.kernel, RowKernel::Wide);
        assert_eq!(p.cfg.grid_dim.0, 64 * 8);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 1024 * 4);
        // Many rows of 8192 f32: the warp engine (two 32 KiB buffers).
        assert_eq!(plan(4096, 8192, 4, Some(8)).kernel, RowKernel::Warps);
        // Vocabulary rows: always a cluster; unstaged f32 (softmax) takes 16 CTAs per row
        // (cluster_size), each caching 1/16 of the row.
        let p = plan(4096, 151936, 4, Some(4));
        assert_eq!((p.kernel, p.cluster), (RowKernel::Wide, 16));
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 149 * 64 * 4);
        assert!(p.cfg.shared_mem_bytes as usize <= H100.smem_max(1024));
        // No warp engine for the op (sum/mean): one CTA per row, never cached.
        let p = row_plan(4096, 4096, 1024, 2, false, false, None, false, H100);
        assert_eq!(p.kernel, RowKernel::Block);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16);
        // No clusters (before sm_90): a row too wide for any cache re-reads global memory.
        let p = row_plan(64, 151936, 1024, 4, true, false, Some(4), false, NO_CLUSTERS);
        assert_eq!(p.kernel, RowKernel::Block);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16);
        // Lanes not a multiple of 128: the block engine.
        assert_eq!(row_plan(4096, 64, 32, 4, true, false, Some(4), false, H100).kernel, RowKernel::Block);
        // Fewer lanes than cluster CTAs: never wide.
        assert_ne!(row_plan(1, 1 << 20, 4, 4, true, false, Some(4), false, H100).kernel, RowKernel::Wide);
        // Every warp plan fits what the kernels are allowed.
        for lanes in [128, 256, 512, 1024, 2048] {
            for h in [1, 127, 4096, 20000] {
                let p = row_plan(4096, h, lanes, 4, true, false, Some(4), false, H100);
                if p.kernel == RowKernel::Warps {
                    assert!(p.cfg.shared_mem_bytes as usize <= H100.warp_smem_max(lanes));
                    assert_eq!(p.cfg.block_dim.0 as usize, warp_threads(lanes).unwrap());
                }
            }
        }
        assert_eq!(warp_threads(256), Some(64));
        assert_eq!(warp_threads(128), Some(32));
        assert_eq!(warp_threads(64), None);
    }

    #[test]
    fn softmax_rows_of_up_to_8192_take_the_register_engine() {
        // log_softmax f32 (no warp engine, a register engine, staged), H100: 132 SMs, clusters.
        let plan = |rows, h, lanes| row_plan(rows, h, lanes, 4, true, true, None, true, H100);
        for (h, k) in [
            (1, RowKernel::Regs4),
            (4096, RowKernel::Regs4),
            (4097, RowKernel::Regs),
            (8192, RowKernel::Regs),
        ] {
            let p = plan(4096, h, 1024);
            assert_eq!(p.kernel, k, "h {h}");
            assert_eq!((p.cfg.grid_dim.0, p.cfg.block_dim.0, p.cfg.shared_mem_bytes), (4096, ROW_THREADS as u32, 0));
        }
        // 8193 needs a ninth chunk; 2048 lanes hold chunks of two quads.
        assert_eq!(plan(4096, 8193, 1024).kernel, RowKernel::Block);
        assert_eq!(plan(4096, 8192, 2048).kernel, RowKernel::Regs);
        assert_eq!(plan(4096, 4096, 2048).kernel, RowKernel::Regs4);
        assert_eq!(plan(4096, 8193, 2048).kernel, RowKernel::Block);
        // Lanes that are not whole quads per thread: never.
        assert_eq!((regs_kernel(6000, 512), regs_kernel(6000, 32)), (None, None));
        // Few wide rows still get a cluster per row (more CTAs than rows).
        assert_eq!(plan(64, 8192, 1024).kernel, RowKernel::Wide);
        assert_eq!(plan(64, 6000, 1024).kernel, RowKernel::Regs);
        // Vocabulary rows: a cluster, each CTA with its 1/8 of the row cached and the
        // staging buffer behind it (16-byte aligned), within what the kernels are allowed.
        let p = plan(4096, 151936, 1024);
        assert_eq!(p.kernel, RowKernel::Wide);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 149 * 128 * 4 + ROW_STAGE_BYTES);
        assert!(p.cfg.shared_mem_bytes as usize <= H100.smem_max(1024));
        // Two of them still share an SM (228 KiB of shared memory on sm_90).
        assert!(2 * (p.cfg.shared_mem_bytes as usize + 1024) <= 228 * 1024);
        // A cached slice that ends off a 16-byte boundary (bf16, 4 lanes per CTA at L = 32):
        // the staging buffer starts at the next one.
        let p = row_plan(2, 990, 32, 2, true, true, None, false, H100);
        assert_eq!(p.kernel, RowKernel::Wide);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 32 * 4 + 16 + 31 * 4 * 2 + 8 + ROW_STAGE_BYTES);
        // Uncached (no clusters, too wide): no staging either.
        assert_eq!(
            row_plan(64, 151936, 1024, 4, true, true, None, true, NO_CLUSTERS).cfg.shared_mem_bytes as usize,
            1024 * 4 + 16
        );
    }

    #[test]
    fn cluster_plans_pick_their_size() {
        // (rows, h, elem, stage, warp cache): f32 softmax (unstaged), log_softmax (staged),
        // rmsnorm bf16 (warp engine), on the H100.
        let plan = |dev: RowDevice, rows, h, elem, stage, warp| row_plan(rows, h, 1024, elem, true, stage, warp, true, dev);
        let softmax = |dev, rows| plan(dev, rows, 151936, 4, false, None);
        let log_softmax = |dev, rows| plan(dev, rows, 151936, 4, true, None);
        let rmsnorm = |dev, rows| plan(dev, rows, 151936, 2, false, Some(4));
        let size = |p: RowPlan| {
            assert_eq!(p.kernel, RowKernel::Wide);
            assert_eq!(p.cfg.grid_dim.0 % p.cluster, 0);
            p.cluster as usize
        };
        // Many vocabulary rows: 16 where more lanes fold at once on an SM (softmax: 5 CTAs
        // of 64 lanes against 2 of 128), else 8 (log_softmax 3 of 64, rmsnorm 9 of 64 against
        // 2 and 5 of 128).
        assert_eq!(size(softmax(H100, 4096)), ROW_CLUSTER_LARGE);
        assert_eq!(size(log_softmax(H100, 4096)), ROW_CLUSTER);
        assert_eq!(size(rmsnorm(H100, 4096)), ROW_CLUSTER);
        assert_eq!(size(log_softmax(H100, 64)), ROW_CLUSTER);
        // Few: 16 while every CTA has an SM of its own (8 × 16 ≤ 132 < 9 × 16).
        for rows in [1, 8] {
            assert_eq!([softmax(H100, rows), log_softmax(H100, rows), rmsnorm(H100, rows)].map(size), [16; 3]);
        }
        assert_eq!([log_softmax(H100, 9), rmsnorm(H100, 9)].map(size), [8; 2]);
        // Few rows that are not too wide for one CTA's cache: 8 (16 lost there).
        assert_eq!(size(plan(H100, 8, 8192, 4, true, None)), ROW_CLUSTER);
        // Where the device does not run 16 (not sm_90a): 8.
        let sm90 = RowDevice { large_clusters: false, ..H100 };
        assert_eq!([softmax(sm90, 4096), softmax(sm90, 1)].map(size), [8; 2]);
        // LOCKSTEP_ROW_CLUSTER: every cluster plan, whatever the shape.
        let forced = |n| RowDevice { row_cluster: Some(n), ..H100 };
        assert_eq!(
            [softmax(forced(8), 1), rmsnorm(forced(16), 4096), log_softmax(forced(4), 64)].map(size),
            [8, 16, 4]
        );
        let p = rmsnorm(forced(16), 4096);
        assert_eq!(p.cfg.grid_dim.0, 4096 * 16);
        assert_eq!(p.cfg.shared_mem_bytes as usize, 1024 * 4 + 16 + 149 * 64 * 2);
        // Every other plan is one CTA per row, or persistent: no cluster.
        for (rows, h) in [(4096, 4096), (4096, 20000), (64, 6000)] {
            let p = row_plan(rows, h, 1024, 4, true, true, Some(8), true, H100);
            assert_ne!(p.kernel, RowKernel::Wide);
            assert_eq!(p.cluster, 1);
        }
        // The override: powers of two from 2 to 8 anywhere, 16 on sm_90a only.
        for (text, arch, want) in [
            ("16", "sm_90a", Some(16)),
            (" 8\n", "sm_80", Some(8)),
            ("2", "sm_90a", Some(2)),
            ("16", "sm_80", None),
            ("1", "sm_90a", None),
            ("12", "sm_90a", None),
            ("32", "sm_90a", None),
            ("eight", "sm_90a", None),
        ] {
            assert_eq!(parse_row_cluster(text, arch), want, "{text:?} on {arch}");
        }
    }

    #[test]
    fn plans_stay_within_the_shared_memory_of_smaller_devices() {
        // sm_86 / sm_89 (99 KiB per CTA, no clusters) and a 64 KiB device.
        let sm86 = RowDevice {
            clusters: false,
            sm_count: 128,
            smem_optin: 99 * 1024,
            smem_per_sm: 100 * 1024,
            large_clusters: false,
            row_cluster: None,
        };
        let small = RowDevice { smem_optin: 64 * 1024, ..sm86 };
        assert_eq!(sm86.smem_max(1024), 99 * 1024);
        // log_softmax f32 over 20480 (an 80 KiB slice): staged on the H100; cached but not
        // staged on sm_86, which lacks the staging buffer's 16 KiB; uncached at 64 KiB.
        let ls = |dev| row_plan(4096, 20480, 1024, 4, true, true, None, true, dev);
        let head = 1024 * 4 + 16;
        assert_eq!(ls(H100).cfg.shared_mem_bytes as usize, head + 80 * 1024 + ROW_STAGE_BYTES);
        assert_eq!(ls(sm86).cfg.shared_mem_bytes as usize, head + 80 * 1024);
        assert_eq!(ls(small).cfg.shared_mem_bytes as usize, head);
        assert!([ls(H100), ls(sm86), ls(small)].iter().all(|p| p.kernel == RowKernel::Block));
        // rmsnorm bf16 over 16384 (warp buffers of 64 KiB): the warp engine where they fit.
        let rms = |dev| row_plan(4096, 16384, 1024, 2, true, false, Some(4), true, dev).kernel;
        assert_eq!((rms(H100), rms(sm86), rms(small)), (RowKernel::Warps, RowKernel::Warps, RowKernel::Block));
        // Every plan of every op on every device within what its kernels are allowed.
        for dev in [H100, NO_CLUSTERS, sm86, small] {
            for (lanes, h, elem) in [
                (1024, 4096, 4),
                (1024, 20480, 4),
                (1024, 151936, 4),
                (1024, 151936, 2),
                (2048, 30000, 4),
                (32, 990, 2),
            ] {
                for (cache, stage, warp, regs) in [
                    (true, true, None, true),
                    (true, false, Some(4), true),
                    (true, false, Some(8), false),
                    (false, false, None, false),
                ] {
                    for rows in [1, 64, 4096] {
                        let p = row_plan(rows, h, lanes, elem, cache, stage, warp, regs, dev);
                        let max = if p.kernel == RowKernel::Warps {
                            dev.warp_smem_max(lanes)
                        } else {
                            dev.smem_max(lanes)
                        };
                        assert!(p.cfg.shared_mem_bytes as usize <= max, "{dev:?} {rows}×{h} L{lanes}: {p:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rmsnorm_rows_take_the_register_engine_then_the_warp_engine() {
        // rmsnorm bf16 (both engines; warp buffers 2 × 2 bytes per element), H100.
        let plan = |rows, h| row_plan(rows, h, 1024, 2, true, false, Some(4), true, H100).kernel;
        assert_eq!(plan(4096, 8192), RowKernel::Regs);
        assert_eq!(plan(4096, 4096), RowKernel::Regs4);
        assert_eq!(plan(4096, 16384), RowKernel::Warps);
        assert_eq!(plan(64, 8192), RowKernel::Wide);
        assert_eq!(plan(4096, 151936), RowKernel::Wide);
    }
}
