//! Launchers of `gpu/kernels/attention.cu`: prefill, chunked prefill and decode (one tree:
//! split states, then the ordered merge) and the KV-cache append (a copy). Every check is
//! the reference's own ([`attention::prefill_plan`], [`attention::cached_plan`],
//! [`attention::append_plan`]), so bad input gives the reference's error values.

use super::{grid1, need, Workspace, NULL};
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::{ATTN_FEW_SLOTS, ATTN_SLOTS, ATTN_THREADS, ATTN_WARPS_PER_HEAD, ATTN_WARP_HEADS, ATTN_WARP_MAX_SPC, FLAT_THREADS};
use cudarc::driver::sys::CUfunction_attribute_enum;
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use lockstep_reference::attention::{self, AttnParams, KvCache, KvLayout, Plan, PlanMap, Span};
use lockstep_reference::{Contract, Element};

/// An attention plan on the device ([`Gpu::attn_stage`]): what [`Gpu::attn_device`] launches.
pub(crate) struct AttnStaged {
    at: At,
    contract: Contract,
    n: usize,
    hq: usize,
    hkv: usize,
    d: usize,
    /// Storage rows (first two axes of K/V, flattened) the buffers must hold.
    kv_rows: usize,
    nsplit: usize,
    blocks: usize,
    flat: usize,
    /// Floats of split state.
    scratch: usize,
    window: i64,
    scale: f32,
    page: i64,
    max_blocks: i64,
    rows: CudaSlice<i64>,
    base: Option<CudaSlice<i64>>,
    table: Option<CudaSlice<i64>>,
    /// The `attn_tile`, `attn_tile_few` or `attn_warp` launch ([`tile_plan`]) with its tiles
    /// on the device, and the dynamic shared memory attribute to set; `None`: the general
    /// `attn_split` kernel.
    tile: Option<(TilePlan, CudaSlice<i64>, usize)>,
}

impl AttnStaged {
    /// The name stem of the kernel that computes the split states (`attn_warp`, …).
    pub(crate) fn kernel_name(&self) -> &'static str {
        match self.tile.as_ref().map(|(tp, _, _)| tp.kernel) {
            Some(TileKernel::Warp) => "attn_warp",
            Some(TileKernel::Few) => "attn_tile_few",
            Some(TileKernel::Tile) => "attn_tile",
            None => "attn_split",
        }
    }
}

/// One past the largest storage row a plan can read, after checking that every row's
/// sequence (and, paged, every block up to its position) is in the plan's map: a plan
/// built by hand (the benchmark) must not make the kernel read outside its buffers.
fn kv_rows_read(op: &'static str, plan: &Plan) -> Result<usize> {
    let bad = |d: String| -> crate::Error { lockstep_reference::Error::shape(op, d).into() };
    match &plan.map {
        PlanMap::Base(b) => {
            let mut max = 0usize;
            for &(seq, pos) in &plan.rows {
                let base = *b
                    .get(seq)
                    .ok_or_else(|| bad(format!("a row of sequence {seq}, but the plan has {} bases", b.len())))?;
                max = max.max(base.saturating_add(pos).saturating_add(1));
            }
            Ok(max)
        }
        PlanMap::Paged { page, table } => {
            if *page == 0 {
                return Err(bad("pages of 0 tokens".into()));
            }
            for &(seq, pos) in &plan.rows {
                let t = table
                    .get(seq)
                    .ok_or_else(|| bad(format!("a row of sequence {seq}, but the block table has {} rows", table.len())))?;
                if pos / page >= t.len() {
                    return Err(bad(format!("position {pos} of sequence {seq} is past its {} pages", t.len())));
                }
            }
            Ok(table.iter().flatten().map(|&pg| pg.saturating_add(1).saturating_mul(*page)).max().unwrap_or(0))
        }
    }
}
use ndarray::{Array1, Array3, Array4, ArrayView1, ArrayView3, ArrayView4};

impl Gpu {
    /// [`lockstep_reference::attention::prefill`] on the GPU.
    pub fn attn_prefill<T: Element, O: Element>(
        &self,
        c: &Contract,
        q: ArrayView3<T>,
        k: ArrayView3<T>,
        v: ArrayView3<T>,
        seq_lens: ArrayView1<i64>,
        p: &AttnParams,
    ) -> Result<Array3<O>> {
        let plan = attention::prefill_plan(c, q, k, v, seq_lens, p)?;
        let (k, v) = (k.as_standard_layout(), v.as_standard_layout());
        self.attn_run(
            "attention_prefill",
            c,
            q,
            k.as_slice().unwrap_or_default(),
            v.as_slice().unwrap_or_default(),
            &plan,
            p,
        )
    }

    /// [`lockstep_reference::attention::chunked_prefill`] on the GPU.
    pub fn attn_chunked<T: Element, O: Element>(
        &self,
        c: &Contract,
        q: ArrayView3<T>,
        cache: &KvCache<T>,
        spans: &[Span],
        p: &AttnParams,
    ) -> Result<Array3<O>> {
        let plan = attention::cached_plan(c, q, cache, Some(spans), p)?;
        self.attn_cached("attention_chunked_prefill", c, q, cache, &plan, p)
    }

    /// [`lockstep_reference::attention::decode`] on the GPU.
    pub fn attn_decode<T: Element, O: Element>(&self, c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> Result<Array3<O>> {
        let plan = attention::cached_plan(c, q, cache, None, p)?;
        self.attn_cached("attention_decode", c, q, cache, &plan, p)
    }

    fn attn_cached<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        q: ArrayView3<T>,
        cache: &KvCache<T>,
        plan: &Plan,
        p: &AttnParams,
    ) -> Result<Array3<O>> {
        let (k, v) = storage(cache);
        let (k, v) = (k.as_standard_layout(), v.as_standard_layout());
        self.attn_run(op, c, q, k.as_slice().unwrap_or_default(), v.as_slice().unwrap_or_default(), plan, p)
    }

    #[allow(clippy::too_many_arguments)]
    fn attn_run<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        q: ArrayView3<T>,
        k: &[T],
        v: &[T],
        plan: &Plan,
        p: &AttnParams,
    ) -> Result<Array3<O>> {
        let (n, hq, d) = (plan.rows.len(), plan.hq, plan.d);
        let mut out = Array3::<O>::from_elem((n, hq, d), O::from_f32(0.0));
        if n == 0 {
            return Ok(out);
        }
        let staged = self.attn_stage::<T, O>(op, c, plan, p)?;
        let at = &staged.at;
        let q = q.as_standard_layout();
        let dq = self.upload(q.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dk = self.upload(k).map_err(|e| at.err(e))?;
        let dv = self.upload(v).map_err(|e| at.err(e))?;
        let mut dy = self.alloc::<O>(n * hq * d).map_err(|e| at.err(e))?;
        self.attn_device::<T, O>(&staged, &dq, &dk, &dv, &mut dy, &mut Workspace::new())?;
        let y = self.download::<O>(&dy).map_err(|e| at.err(e))?;
        out.as_slice_mut().expect("fresh array is standard").copy_from_slice(&y);
        Ok(out)
    }

    /// The host half of an attention launch: the plan's checks against the grid limits, its
    /// rows and storage map uploaded, the split count. Reusable across launches on
    /// different buffers of the same shapes (the benchmark stages once, outside its timing).
    pub(crate) fn attn_stage<T: Element, O: Element>(&self, op: &'static str, c: &Contract, plan: &Plan, p: &AttnParams) -> Result<AttnStaged> {
        let (n, hq, hkv, d) = (plan.rows.len(), plan.hq, plan.hkv, plan.d);
        let at = At::new(op, format!("q {n}×{hq}×{d}, Hkv {hkv} ({} → {}, {})", T::DTYPE, O::DTYPE, c.id()));
        if n == 0 || hkv == 0 || d == 0 || !hq.is_multiple_of(hkv) {
            return Err(lockstep_reference::Error::shape(op, format!("{}: a plan needs rows, D > 0 and Hq a multiple of Hkv > 0", at.shape)).into());
        }
        let kv_rows = kv_rows_read(op, plan)?;
        let sp = c.attn_split;
        let window = p.window.unwrap_or(0);
        // Splits of the longest row: the grid's second axis (a row with fewer exits early).
        let nsplit = plan.rows.iter().map(|&(_, pos)| pos / sp - p.first_key(pos) / sp + 1).max().unwrap_or(1);
        let blocks = n.checked_mul(hq).filter(|&b| b <= i32::MAX as usize);
        let flat = blocks.and_then(|b| b.checked_mul(d)).filter(|&t| t.div_ceil(FLAT_THREADS) <= i32::MAX as usize);
        let scratch = blocks.and_then(|b| b.checked_mul(nsplit)).and_then(|x| x.checked_mul(d + 2));
        if flat.is_none() || scratch.is_none() || nsplit > 65535 || hq.max(hkv).max(d) > i32::MAX as usize || window > i64::MAX as usize {
            return Err(at.too_large("rows × Hq ≤ 2^31 - 1, at most 65535 splits per row, Hq, Hkv, D ≤ 2^31 - 1"));
        }
        let (blocks, flat, scratch) = (blocks.unwrap_or(0), flat.unwrap_or(0), scratch.unwrap_or(0));
        let s = self.stream();
        let rows: Vec<i64> = plan.rows.iter().flat_map(|&(seq, pos)| [seq as i64, pos as i64]).collect();
        let (base, table, page, max_blocks): (Option<Vec<i64>>, Option<Vec<i64>>, i64, i64) = match &plan.map {
            PlanMap::Base(b) => (Some(b.iter().map(|&x| x as i64).collect()), None, 1, 0),
            PlanMap::Paged { page, table } => {
                let mb = table.iter().map(Vec::len).max().unwrap_or(0).max(1);
                // Columns past a sequence's readable blocks are never read: 0 pads them.
                let flat: Vec<i64> = table.iter().flat_map(|r| (0..mb).map(move |b| r.get(b).map_or(0, |&x| x as i64))).collect();
                (None, Some(flat), *page as i64, mb as i64)
            }
        };
        let drows = s.clone_htod(&rows).map_err(|e| at.err(e))?;
        let dbase = match &base {
            Some(b) => Some(s.clone_htod(b).map_err(|e| at.err(e))?),
            None => None,
        };
        let dtable = match &table {
            Some(t) => Some(s.clone_htod(t).map_err(|e| at.err(e))?),
            None => None,
        };
        // The device's opt-in shared memory per block (227 KiB on sm_90, less elsewhere): one
        // value per device, so concurrent launches never lower each other's attribute.
        let smem_max = ATTN_SMEM_MAX.min(self.info().smem_per_block_optin);
        let sm_count = self.info().sm_count.max(1) as usize;
        let spread = |tp: TilePlan| match spc_override() {
            Some(g) => tp.runs_of(g),
            None => tp.spread(sm_count),
        };
        let tile = match tile_plan(&plan.rows, hq, hkv, d, c.attn_block, sp, window, T::DTYPE.size_bytes(), smem_max).map(spread) {
            Some(tp) => {
                let dtiles = s.clone_htod(&tp.tiles).map_err(|e| at.err(e))?;
                Some((tp, dtiles, smem_max))
            }
            None => None,
        };
        Ok(AttnStaged {
            tile,
            at,
            contract: c.clone(),
            n,
            hq,
            hkv,
            d,
            kv_rows,
            nsplit,
            blocks,
            flat,
            scratch,
            window: window as i64,
            scale: p.scale,
            page,
            max_blocks,
            rows: drows,
            base: dbase,
            table: dtable,
        })
    }

    /// The device half: attention of a staged plan on device buffers (raw bytes): q N×Hq×D
    /// and the K, V storage (at least the rows the plan reads, × Hkv × D) of `T`, y
    /// N×Hq×D of `O`; split states come from `ws`. Only launches (asynchronous).
    pub(crate) fn attn_device<T: Element, O: Element>(
        &self,
        st: &AttnStaged,
        dq: &CudaSlice<u8>,
        dk: &CudaSlice<u8>,
        dv: &CudaSlice<u8>,
        dy: &mut CudaSlice<u8>,
        ws: &mut Workspace,
    ) -> Result<()> {
        let at = &st.at;
        let (n, hq, hkv, d, nsplit, w) = (st.n, st.hq, st.hkv, st.d, st.nsplit, st.window);
        let (tb, ob) = (T::DTYPE.size_bytes(), O::DTYPE.size_bytes());
        need(at, "q", dq, n * hq * d * tb)?;
        need(at, "k", dk, st.kv_rows * hkv * d * tb)?;
        need(at, "v", dv, st.kv_rows * hkv * d * tb)?;
        need(at, "y", dy, n * hq * d * ob)?;
        let kern = self.kernels(&st.contract)?;
        let s = self.stream();
        let dst = ws.get(s, st.scratch * 4).map_err(|e| at.err(e))?;
        let (hqi, hkvi, di, ns) = (hq as i32, hkv as i32, d as i32, nsplit as i32);
        let (page, max_blocks) = (st.page, st.max_blocks);
        // attn_tile, attn_tile_few or attn_warp where the staging found a tile plan, else
        // attn_split; the tile kernels take the tiles after v and (gh, nhc, qsp) after the
        // split count (attn_warp: (gh, nhc, spc)).
        let tile = st
            .tile
            .as_ref()
            .map(|(tp, dtiles, smem_max)| (tp, dtiles, *smem_max, [tp.gh as i32, tp.nhc as i32, tp.last_arg() as i32]));
        let (f, grid, threads, smem) = match &tile {
            Some((tp, _, smem_max, _)) => {
                let f = match tp.kernel {
                    TileKernel::Tile => kern.attn_tile.get(T::DTYPE),
                    TileKernel::Few => kern.attn_tile_few.get(T::DTYPE),
                    TileKernel::Warp => kern.attn_warp.get(T::DTYPE),
                };
                f.set_attribute(CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, *smem_max as i32)
                    .map_err(|e| at.err(e))?;
                (f, (tp.grid_x as u32, tp.grid_y() as u32), tp.threads(), tp.smem as u32)
            }
            None => (kern.attn_split.get(T::DTYPE), (st.blocks as u32, nsplit as u32), ATTN_THREADS, 0),
        };
        let mut l = s.launch_builder(f);
        l.arg(dq).arg(dk).arg(dv);
        if let Some((_, dtiles, _, _)) = &tile {
            l.arg(*dtiles);
        }
        l.arg(&st.rows);
        match &st.base {
            Some(b) => l.arg(b),
            None => l.arg(&NULL),
        };
        match &st.table {
            Some(t) => l.arg(t),
            None => l.arg(&NULL),
        };
        l.arg(&page)
            .arg(&max_blocks)
            .arg(&hqi)
            .arg(&hkvi)
            .arg(&di)
            .arg(&st.scale)
            .arg(&w)
            .arg(dst)
            .arg(&ns);
        if let Some((_, _, _, [gh, nhc, last])) = &tile {
            l.arg(gh).arg(nhc).arg(last);
        }
        let cfg = LaunchConfig {
            grid_dim: (grid.0, grid.1, 1),
            block_dim: (threads as u32, 1, 1),
            shared_mem_bytes: smem,
        };
        // SAFETY: matches `attn_tile_*`, `attn_tile_few_*` (128 threads), `attn_warp_*`
        // (`tp.threads()`: 32 · ATTN_WARPS_PER_HEAD per head of a chunk; tiles of one row, d in
        // {64, 128, 256}), each with `tp.smem`
        // bytes of dynamic shared memory within the attribute just set, tiles being runs of
        // plan rows, and `attn_split_*` in attention.cu; every storage row the plan reads is below
        // `kv_rows` (checked at staging) and the buffers hold what they must (checked above).
        unsafe { l.launch(cfg) }.map_err(|e| at.err(e))?;
        let nl = n as i64;
        let mut l = s.launch_builder(kern.attn_merge.get(O::DTYPE));
        l.arg(dst).arg(&st.rows).arg(&*dy).arg(&nl).arg(&hqi).arg(&di).arg(&w).arg(&ns);
        // SAFETY: matches `attn_merge_*`; dst holds n*hq*nsplit*(d+2) floats, dy n*hq*d.
        unsafe { l.launch(grid1(st.flat.div_ceil(FLAT_THREADS) as u32, FLAT_THREADS)) }.map_err(|e| at.err(e))?;
        Ok(())
    }

    /// [`lockstep_reference::attention::appended`] on the GPU: copies of the cache's `(k, v,
    /// lens)` with the new tokens written (same checks, same errors).
    #[allow(clippy::type_complexity)]
    pub fn kv_append<T: Element>(
        &self,
        cache: &KvCache<T>,
        k_new: ArrayView3<T>,
        v_new: ArrayView3<T>,
        spans: &[Span],
    ) -> Result<(Array4<T>, Array4<T>, Array1<i64>)> {
        let (dest, lens) = attention::append_plan(cache, k_new.shape(), v_new.shape(), spans)?;
        let (k, v) = storage(cache);
        let shape = k.dim();
        let width = shape.2 * shape.3;
        let pairs = append_pairs(&dest);
        let (k, v) = (k.as_standard_layout().into_owned(), v.as_standard_layout().into_owned());
        let npairs = pairs.len() / 2;
        if npairs == 0 || width == 0 {
            return Ok((k, v, Array1::from(lens)));
        }
        let at = At::new("kv_append", format!("{} new tokens into {shape:?} ({})", dest.len(), T::DTYPE));
        let total = npairs.checked_mul(width).filter(|t| t.div_ceil(FLAT_THREADS) <= i32::MAX as usize);
        let Some(total) = total else {
            return Err(at.too_large("new tokens × Hkv × D ≤ 2^31 - 1 blocks of threads"));
        };
        let kern = self.kernels(&lockstep_reference::FMA_V1)?;
        let s = self.stream();
        let (kn, vn) = (k_new.as_standard_layout(), v_new.as_standard_layout());
        let dkn = self.upload(kn.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dvn = self.upload(vn.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dk = self.upload(k.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dv = self.upload(v.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dp = s.clone_htod(&pairs).map_err(|e| at.err(e))?;
        let (np, wl) = (npairs as i64, width as i64);
        let mut l = s.launch_builder(kern.kv_append.get(T::DTYPE));
        l.arg(&dkn).arg(&dvn).arg(&dk).arg(&dv).arg(&dp).arg(&np).arg(&wl);
        // SAFETY: matches `kv_append_*`; every storage row and token index was checked by the
        // reference's append checks; rows are distinct, so no element is written twice.
        unsafe { l.launch(grid1(total.div_ceil(FLAT_THREADS) as u32, FLAT_THREADS)) }.map_err(|e| at.err(e))?;
        let ko = self.download::<T>(&dk).map_err(|e| at.err(e))?;
        let vo = self.download::<T>(&dv).map_err(|e| at.err(e))?;
        let ko = Array4::from_shape_vec(shape, ko).expect("storage shape");
        let vo = Array4::from_shape_vec(shape, vo).expect("storage shape");
        Ok((ko, vo, Array1::from(lens)))
    }
}

/// The `(storage row, new token)` pairs of the append kernel, flattened: one writer per
/// storage row, the last token in token order that goes there (what the reference's
/// sequential copy leaves), so that no two threads write the same element.
pub fn append_pairs(dest: &[usize]) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::with_capacity(2 * dest.len());
    for (tok, &r) in dest.iter().enumerate().rev() {
        if seen.insert(r) {
            pairs.extend([r as i64, tok as i64]);
        }
    }
    pairs
}

/// The K and V storage arrays of a cache, either layout.
fn storage<'a, T>(cache: &KvCache<'a, T>) -> (ArrayView4<'a, T>, ArrayView4<'a, T>) {
    match &cache.layout {
        KvLayout::Contiguous { k, v } | KvLayout::Paged { k, v, .. } => (*k, *v),
    }
}

/// Most dynamic shared memory `attn_tile` may use (the H100/H200 opt-in limit is 227 KiB);
/// larger shapes take `attn_split`.
pub const ATTN_SMEM_MAX: usize = 200 * 1024;

/// Which kernel of attention.cu serves a [`TilePlan`]: the same split states from each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileKernel {
    /// `attn_tile`: up to [`ATTN_SLOTS`] (row, head) slots per CTA, for runs of rows (prefill).
    Tile,
    /// `attn_tile_few`: the same with at most [`ATTN_FEW_SLOTS`] slots per thread (3 CTAs per SM).
    Few,
    /// `attn_warp`: tiles of one row (decode), [`ATTN_WARPS_PER_HEAD`] warps per query head,
    /// K and V kept in their storage type in shared memory and the next block's copies in
    /// flight during this one.
    Warp,
}

/// Set to 1–4, every `attn_warp` launch computes runs of that many splits per CTA instead of
/// the run length [`TilePlan::spread`] picks: for measuring that rule (`scripts/gpu-session`
/// `SPC_SCAN`). Like the rule, it changes which CTA computes a split, never a bit.
pub const SPC_ENV: &str = "LOCKSTEP_ATTN_SPC";

fn spc_override() -> Option<usize> {
    std::env::var(SPC_ENV).ok()?.trim().parse().ok().filter(|&g| g >= 1)
}

/// Launch plan of the tile kernels (attention.cu): which CTA serves which (rows, heads, split).
/// Only *who* computes a split state changes with it, never the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TilePlan {
    /// `(first plan row, rows)` pairs: runs of plan rows of one sequence at consecutive positions.
    pub tiles: Vec<i64>,
    /// Query heads per CTA (a chunk of one GQA group) and chunks per group.
    pub gh: usize,
    pub nhc: usize,
    /// Slots (row, head) per CTA, padded to the kernel's multiple (`attn_warp`: `gh`).
    pub qsp: usize,
    pub kernel: TileKernel,
    /// Grid: tiles × Hkv × chunks, and the most splits a tile spans.
    pub grid_x: usize,
    pub splits: usize,
    /// Splits each CTA computes one after the other (`attn_warp`; 1 for the others): the
    /// grid's second axis is `splits / spc`, rounded up ([`TilePlan::spread`]).
    pub spc: usize,
    /// Dynamic shared memory bytes (`ls_attn_tile_smem` or `ls_attn_warp_smem` of attention.cu).
    pub smem: usize,
}

impl TilePlan {
    /// The plan with `attn_warp`'s splits per CTA chosen for a device of `sm_count` SMs: as
    /// many as [`ATTN_WARP_MAX_SPC`] while the grid keeps at least one CTA per SM (a CTA's
    /// first block waits for its copies with nothing to overlap, so longer runs of blocks
    /// per CTA pay that once per run; docs/perf.md). Who computes a split changes, the split
    /// and its state do not. Other kernels: unchanged.
    pub fn spread(self, sm_count: usize) -> TilePlan {
        let g = (1..=ATTN_WARP_MAX_SPC)
            .rev()
            .find(|&g| self.grid_x * self.splits.div_ceil(g) >= sm_count)
            .unwrap_or(1);
        self.runs_of(g)
    }

    /// The plan with runs of `g` splits per `attn_warp` CTA (clamped to 1..=[`ATTN_WARP_MAX_SPC`]);
    /// other kernels unchanged. For measuring the rule of [`TilePlan::spread`]
    /// ([`SPC_ENV`]).
    pub fn runs_of(mut self, g: usize) -> TilePlan {
        if self.kernel == TileKernel::Warp {
            self.spc = g.clamp(1, ATTN_WARP_MAX_SPC);
        }
        self
    }

    /// The grid's second axis: runs of [`TilePlan::spc`] splits.
    pub fn grid_y(&self) -> usize {
        self.splits.div_ceil(self.spc)
    }

    /// The kernel's last argument: `spc` for `attn_warp`, `qsp` for the tile kernels.
    pub fn last_arg(&self) -> usize {
        if self.kernel == TileKernel::Warp {
            self.spc
        } else {
            self.qsp
        }
    }

    /// Threads per CTA of the plan's kernel.
    pub fn threads(&self) -> usize {
        match self.kernel {
            TileKernel::Warp => 32 * ATTN_WARPS_PER_HEAD * self.gh,
            TileKernel::Tile | TileKernel::Few => ATTN_THREADS,
        }
    }
}

/// Dynamic shared memory of `attn_warp` (`ls_attn_warp_smem` of attention.cu): K and V, two
/// buffers of BN rows of `d · elem + 16` bytes each, Q and e of `gh` heads, the storage rows,
/// each warp's block maximum.
pub fn warp_smem(d: usize, gh: usize, bn: usize, elem: usize) -> usize {
    16 * bn + 4 * gh * bn + 4 * gh * ATTN_WARPS_PER_HEAD + 4 * gh * d + 4 * bn * (d * elem + 16)
}

/// The tile-kernel plan the launcher runs for these rows: [`warp_plan`] where it applies
/// (decode), else [`slot_plan`]; `None` where the shape needs `attn_split`.
/// `window` 0 means no window; `elem`: bytes per element of Q, K and V; `smem_max`: the
/// bytes of dynamic shared memory the launch may use.
#[allow(clippy::too_many_arguments)]
pub fn tile_plan(
    rows: &[(usize, usize)],
    hq: usize,
    hkv: usize,
    d: usize,
    bn: usize,
    sp: usize,
    window: usize,
    elem: usize,
    smem_max: usize,
) -> Option<TilePlan> {
    warp_plan(rows, hq, hkv, d, bn, sp, window, elem, smem_max).or_else(|| slot_plan(rows, hq, hkv, d, bn, sp, window, smem_max))
}

/// Runs of at most `per_tile` plan rows of one sequence at consecutive positions, as
/// `(first row, rows)` pairs, with the most rows of a run and the most splits a run spans.
fn tiling(rows: &[(usize, usize)], per_tile: usize, sp: usize, window: usize) -> (Vec<i64>, usize, usize) {
    let first = |p: usize| if window > 0 { (p + 1).saturating_sub(window) } else { 0 };
    let (mut tiles, mut most_rows, mut splits) = (Vec::new(), 1, 1);
    let mut i = 0;
    while i < rows.len() {
        let mut j = i + 1;
        while j < rows.len() && j - i < per_tile && rows[j].0 == rows[i].0 && rows[j].1 == rows[j - 1].1 + 1 {
            j += 1;
        }
        tiles.extend([i as i64, (j - i) as i64]);
        most_rows = most_rows.max(j - i);
        splits = splits.max(rows[j - 1].1 / sp - first(rows[i].1) / sp + 1);
        i = j;
    }
    (tiles, most_rows, splits)
}

/// The `attn_warp` plan: where no two plan rows could share a tile (decode: one row per
/// sequence), a GQA group has two or more heads, d ∈ {64, 128, 256} and the double-buffered
/// K and V fit `smem_max`; else `None`.
#[allow(clippy::too_many_arguments)]
pub fn warp_plan(
    rows: &[(usize, usize)],
    hq: usize,
    hkv: usize,
    d: usize,
    bn: usize,
    sp: usize,
    window: usize,
    elem: usize,
    smem_max: usize,
) -> Option<TilePlan> {
    if !matches!(d, 64 | 128 | 256) || rows.is_empty() || hkv == 0 || !hq.is_multiple_of(hkv) || bn == 0 || sp == 0 || hq / hkv < 2 {
        return None;
    }
    let (tiles, most_rows, splits) = tiling(rows, 2, sp, window);
    let group = hq / hkv;
    let gh = group.min(ATTN_WARP_HEADS);
    let nhc = group.div_ceil(gh);
    let smem = warp_smem(d, gh, bn, elem);
    let grid_x = (tiles.len() / 2).checked_mul(hkv * nhc)?;
    if most_rows > 1 || smem > smem_max || grid_x > i32::MAX as usize || splits > 65535 {
        return None;
    }
    Some(TilePlan {
        tiles,
        gh,
        nhc,
        qsp: gh,
        kernel: TileKernel::Warp,
        grid_x,
        splits,
        spc: 1,
        smem,
    })
}

/// The `attn_tile` / `attn_tile_few` plan (CTAs of (row, head) slots), or `None` where the
/// shape needs `attn_split` (head dims other than 32, 64, 128, 256; too much shared memory;
/// grid limits).
#[allow(clippy::too_many_arguments)]
pub fn slot_plan(rows: &[(usize, usize)], hq: usize, hkv: usize, d: usize, bn: usize, sp: usize, window: usize, smem_max: usize) -> Option<TilePlan> {
    if !matches!(d, 32 | 64 | 128 | 256) || rows.is_empty() || hkv == 0 || !hq.is_multiple_of(hkv) || bn == 0 || sp == 0 {
        return None;
    }
    let t = ATTN_THREADS;
    let (ng, nd) = (if d < t { t / d } else { 1 }, if d > t { 2 } else { 1 });
    let max_slots = ATTN_SLOTS / nd;
    let group = hq / hkv;
    let gh = group.min(max_slots);
    let nhc = group.div_ceil(gh);
    let (tiles, most_rows, splits) = tiling(rows, (max_slots / gh).max(1), sp, window);
    let qsp = (most_rows * gh).next_multiple_of(4 * ng);
    let smem = (16 * bn + 44 * qsp).next_multiple_of(16) + 4 * (qsp * d + bn * qsp + bn * (d + 4) + bn * d);
    let grid_x = (tiles.len() / 2).checked_mul(hkv * nhc)?;
    if qsp > ATTN_SLOTS || qsp / ng * nd > ATTN_SLOTS || smem > smem_max || grid_x > i32::MAX as usize || splits > 65535 {
        return None;
    }
    Some(TilePlan {
        tiles,
        gh,
        nhc,
        qsp,
        kernel: if qsp / ng * nd <= ATTN_FEW_SLOTS { TileKernel::Few } else { TileKernel::Tile },
        grid_x,
        splits,
        spc: 1,
        smem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_plan_groups_heads_and_consecutive_rows() {
        // Decode: one row per sequence, one CTA per (sequence, KV head, split) for GQA 4, one
        // warp per query head.
        let rows = [(0, 1000), (1, 31), (2, 0)];
        let tp = tile_plan(&rows, 32, 8, 128, 64, 256, 0, 2, ATTN_SMEM_MAX).expect("d = 128 takes a tile kernel");
        assert_eq!((tp.gh, tp.nhc, tp.qsp, tp.grid_x, tp.splits), (4, 1, 4, 24, 4));
        assert_eq!(tp.kernel, TileKernel::Warp, "decode with a GQA group of 4 runs attn_warp");
        assert_eq!((tp.threads(), tp.smem), (256, 1024 + 1024 + 32 + 2048 + 4 * 64 * 272));
        assert_eq!(tp.tiles, vec![0, 1, 1, 1, 2, 1]);
        // GQA 8 and 16: 4 heads per CTA, two and four chunks.
        let tp = tile_plan(&rows, 64, 8, 128, 64, 256, 0, 2, ATTN_SMEM_MAX).expect("tile");
        assert_eq!((tp.gh, tp.nhc, tp.kernel, tp.threads()), (4, 2, TileKernel::Warp, 256));
        let tp = tile_plan(&rows, 32, 2, 64, 64, 256, 0, 2, ATTN_SMEM_MAX).expect("tile");
        assert_eq!((tp.gh, tp.nhc, tp.grid_x), (4, 4, 24));
        // MHA decode and d = 32 stay on attn_tile_few; f32 at d = 256 (two f32 buffers of K
        // and V exceed the shared memory) on attn_tile (8 slots per thread).
        let kernel = |hq, hkv, d, elem| tile_plan(&rows, hq, hkv, d, 64, 256, 0, elem, ATTN_SMEM_MAX).map(|tp| tp.kernel);
        assert_eq!(kernel(8, 8, 128, 2), Some(TileKernel::Few));
        assert_eq!(kernel(8, 2, 32, 2), Some(TileKernel::Few));
        assert_eq!(kernel(8, 2, 256, 2), Some(TileKernel::Warp));
        let tp = tile_plan(&rows, 8, 2, 256, 64, 256, 0, 4, ATTN_SMEM_MAX).expect("tile");
        assert_eq!((tp.kernel, tp.qsp), (TileKernel::Tile, 4));
        assert_eq!(tp.smem, 1200 + 4 * (4 * 256 + 64 * 4 + 64 * 260 + 64 * 256));
        // Prefill: runs of at most 16 / 4 rows at consecutive positions of one sequence.
        let rows: Vec<(usize, usize)> = (0..6).map(|p| (0, p)).chain([(1, 0), (1, 1), (1, 5)]).collect();
        let tp = tile_plan(&rows, 8, 2, 64, 64, 256, 0, 2, ATTN_SMEM_MAX).expect("d = 64 takes attn_tile");
        assert_eq!(tp.tiles, vec![0, 4, 4, 2, 6, 2, 8, 1]);
        assert_eq!((tp.gh, tp.qsp), (4, 16));
        assert_eq!(tp.kernel, TileKernel::Tile, "16 slots over 2 groups of threads: 8 per thread");
        // Groups wider than the kernel's heads per CTA take several chunks: 4 heads for
        // attn_warp, 8 slots of d = 256 for attn_tile (f32 at d = 256 is not attn_warp).
        let tp = tile_plan(&[(0, 5)], 20, 1, 128, 64, 256, 0, 2, ATTN_SMEM_MAX).expect("tile");
        assert_eq!((tp.kernel, tp.gh, tp.nhc, tp.grid_x), (TileKernel::Warp, 4, 5, 5));
        let tp = tile_plan(&[(0, 5)], 16, 1, 256, 64, 256, 0, 4, ATTN_SMEM_MAX).expect("tile");
        assert_eq!((tp.kernel, tp.gh, tp.nhc, tp.qsp), (TileKernel::Tile, 8, 2, 8));
        // attn_warp's runs of splits per CTA: as many as 4 while every SM keeps a CTA; the
        // tile kernels keep one split per CTA.
        let long = [(0, 16383), (1, 9000), (2, 0)];
        let tp = tile_plan(&long, 32, 8, 128, 64, 256, 0, 2, ATTN_SMEM_MAX).expect("tile");
        assert_eq!((tp.grid_x, tp.splits, tp.spc), (24, 64, 1));
        let tp = tp.spread(132);
        assert_eq!((tp.spc, tp.grid_y(), tp.last_arg()), (4, 16, 4));
        assert_eq!(tp.clone().spread(400).spc, 3, "24 × ceil(64 / 3) = 528 CTAs");
        assert_eq!(tp.clone().spread(24 * 64).spc, 1);
        assert_eq!(tp.clone().spread(24 * 64 + 1).spc, 1, "fewer CTAs than SMs at any run: one split each");
        assert_eq!(
            (tp.clone().runs_of(2).spc, tp.clone().runs_of(9).spc, tp.runs_of(0).spc),
            (2, ATTN_WARP_MAX_SPC, 1)
        );
        let tp = tile_plan(&[(0, 5)], 16, 1, 256, 64, 256, 0, 4, ATTN_SMEM_MAX).expect("tile").spread(1);
        assert_eq!((tp.kernel, tp.spc, tp.last_arg()), (TileKernel::Tile, 1, tp.qsp));
        // Other head dims and oversized shared memory stay on attn_split.
        assert!(tile_plan(&[(0, 5)], 4, 1, 96, 64, 256, 0, 2, ATTN_SMEM_MAX).is_none());
        assert!(tile_plan(&[(0, 5)], 4, 1, 256, 256, 256, 0, 4, ATTN_SMEM_MAX).is_none());
    }
}
