//! Launcher of `gpu/kernels/matmul.cu`: `mm`, `addmm`, `bmm` under an fma contract (an
//! `mma-sm90` contract goes to ops/matmul_tc.rs).
//!
//! Launch choice: [`plan`] (shape- and SM-count-dependent; the tree is not). Every kernel
//! and the split/combine pair perform the identical sequence of roundings.

use super::{fma_only, grid1, launch_clustered, need, Workspace, NULL};
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::{large_clusters, mm_totals_bytes, Kernels, FLAT_THREADS, MM_BM, MM_BM_HALF, MM_BN, MM_CLUSTER_MAX, MM_SK_THREADS, MM_THREADS};
use cudarc::driver::{CudaFunction, CudaSlice, DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};
use lockstep_reference::matmul::check;
use lockstep_reference::{Contract, Element, KStepKind};
use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3};

/// Largest partial buffer a split launch may allocate.
const SPLIT_BYTES_MAX: usize = 1 << 30;
const GRID_YZ_MAX: usize = 65535;

pub(super) struct Mm<'a, T> {
    pub op: &'static str,
    pub a: &'a [T],
    pub b: &'a [T],
    pub bias: Option<&'a [f32]>,
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// The dimensions of a product on device buffers: `batch` × (A M×K · B K×N).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmShape {
    pub batch: usize,
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

impl<T: Element> Mm<'_, T> {
    /// The op and shape every error of this product names.
    pub(super) fn at<O: Element>(&self, c: &Contract) -> At {
        mm_at::<T, O>(
            self.op,
            c,
            MmShape {
                batch: self.batch,
                m: self.m,
                k: self.k,
                n: self.n,
            },
        )
    }
}

pub(super) fn mm_at<T: Element, O: Element>(op: &'static str, c: &Contract, sh: MmShape) -> At {
    let MmShape { batch, m, k, n } = sh;
    At::new(
        op,
        format!(
            "{}A {m}×{k} · B {k}×{n} ({} → {}, {})",
            if batch > 1 { format!("{batch} × ") } else { String::new() },
            T::DTYPE,
            O::DTYPE,
            c.id()
        ),
    )
}

impl Gpu {
    /// `C = A·B`: [`lockstep_reference::matmul::mm`] on the GPU.
    pub fn mm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>) -> Result<Array2<O>> {
        let (m, k, n) = check::<T>("mm", c, a.dim(), b.dim(), None)?;
        let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
        let v = self.matmul_run::<T, O>(
            c,
            Mm {
                op: "mm",
                a: a.as_slice().unwrap_or_default(),
                b: b.as_slice().unwrap_or_default(),
                bias: None,
                batch: 1,
                m,
                k,
                n,
            },
        )?;
        Ok(Array2::from_shape_vec((m, n), v).expect("the kernel wrote m*n outputs"))
    }

    /// `C = A·B + bias`: [`lockstep_reference::matmul::addmm`] on the GPU.
    pub fn addmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView2<T>, b: ArrayView2<T>, bias: ArrayView1<f32>) -> Result<Array2<O>> {
        let (m, k, n) = check::<T>("addmm", c, a.dim(), b.dim(), Some(bias.len()))?;
        let (a, b, bias) = (a.as_standard_layout(), b.as_standard_layout(), bias.as_standard_layout());
        let v = self.matmul_run::<T, O>(
            c,
            Mm {
                op: "addmm",
                a: a.as_slice().unwrap_or_default(),
                b: b.as_slice().unwrap_or_default(),
                bias: bias.as_slice(),
                batch: 1,
                m,
                k,
                n,
            },
        )?;
        Ok(Array2::from_shape_vec((m, n), v).expect("the kernel wrote m*n outputs"))
    }

    /// `C[p] = A[p]·B[p]`: [`lockstep_reference::matmul::bmm`] on the GPU.
    pub fn bmm<T: Element, O: Element>(&self, c: &Contract, a: ArrayView3<T>, b: ArrayView3<T>) -> Result<Array3<O>> {
        let (ba, m, k) = a.dim();
        let (bb, k2, n) = b.dim();
        if ba != bb {
            return Err(lockstep_reference::Error::shape("bmm", format!("A has batch {ba} but B has batch {bb}")).into());
        }
        if ba == 0 {
            return Err(lockstep_reference::Error::empty("bmm", "batch of 0 matrices").into());
        }
        check::<T>("bmm", c, (m, k), (k2, n), None)?;
        let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
        let v = self.matmul_run::<T, O>(
            c,
            Mm {
                op: "bmm",
                a: a.as_slice().unwrap_or_default(),
                b: b.as_slice().unwrap_or_default(),
                bias: None,
                batch: ba,
                m,
                k,
                n,
            },
        )?;
        Ok(Array3::from_shape_vec((ba, m, n), v).expect("the kernel wrote b*m*n outputs"))
    }

    fn matmul_run<T: Element, O: Element>(&self, c: &Contract, p: Mm<'_, T>) -> Result<Vec<O>> {
        if c.kstep == KStepKind::MmaSm90 {
            return self.matmul_tc::<T, O>(c, p, None);
        }
        let at = p.at::<O>(c);
        let Mm {
            op,
            a,
            b,
            bias,
            batch,
            m,
            k,
            n,
        } = p;
        fma_only(op, c)?;
        let s = self.stream();
        let da = self.upload(a).map_err(|e| at.err(e))?;
        let db = self.upload(b).map_err(|e| at.err(e))?;
        let dbias = bias.map(|v| s.clone_htod(v)).transpose().map_err(|e| at.err(e))?;
        let mut dc = self.alloc::<O>(batch * m * n).map_err(|e| at.err(e))?;
        let sh = MmShape { batch, m, k, n };
        self.matmul_fma_device::<T, O>(op, c, &da, &db, dbias.as_ref(), &mut dc, sh, &mut Workspace::new())?;
        self.download::<O>(&dc).map_err(|e| at.err(e))
    }

    /// The `fma` matmul on device buffers (raw bytes): A `batch`·M×K and B `batch`·K×N of
    /// `T`, bias N f32 or none, C `batch`·M×N of `O`; split partials come from `ws`. Only
    /// launches (asynchronous: errors of the kernel itself show at the next synchronisation).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul_fma_device<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        da: &CudaSlice<u8>,
        db: &CudaSlice<u8>,
        dbias: Option<&CudaSlice<f32>>,
        dc: &mut CudaSlice<u8>,
        sh: MmShape,
        ws: &mut Workspace,
    ) -> Result<()> {
        let plan = self
            .matmul_fma_plan::<T>(c, sh)
            .ok_or_else(|| mm_at::<T, O>(op, c, sh).too_large(format!("M ≤ {}, N, K ≤ 2^31 - 1 and batch ≤ {GRID_YZ_MAX}", GRID_YZ_MAX * MM_BM_HALF)))?;
        self.matmul_fma_launch::<T, O>(op, c, da, db, dbias, dc, sh, ws, plan)
    }

    /// The launch [`Self::matmul_fma_device`] uses for this shape on this device (`None`: a
    /// grid dimension would overflow).
    pub(crate) fn matmul_fma_plan<T: Element>(&self, c: &Contract, sh: MmShape) -> Option<MmPlan> {
        let MmShape { batch, m, k, n } = sh;
        let chunks = k.div_ceil(c.kc.unwrap_or(k).max(1));
        let info = self.info();
        plan(
            m,
            n,
            k,
            chunks,
            batch,
            std::mem::size_of::<T>(),
            info.sm_count.max(1) as usize,
            large_clusters(&info.arch),
        )
    }

    /// [`Self::matmul_fma_device`] with the launch given (any plan covering the shape gives
    /// the same bits: the tests run every kernel this way).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul_fma_launch<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        da: &CudaSlice<u8>,
        db: &CudaSlice<u8>,
        dbias: Option<&CudaSlice<f32>>,
        dc: &mut CudaSlice<u8>,
        sh: MmShape,
        ws: &mut Workspace,
        plan: MmPlan,
    ) -> Result<()> {
        let at = mm_at::<T, O>(op, c, sh);
        let MmShape { batch, m, k, n } = sh;
        fma_only(op, c)?;
        let kern = self.kernels(c)?;
        let chunks = k.div_ceil(c.kc.unwrap_or(k).max(1));
        let split = plan.split;
        let s = self.stream();
        need(&at, "A", da, batch * m * k * T::DTYPE.size_bytes())?;
        need(&at, "B", db, batch * k * n * T::DTYPE.size_bytes())?;
        if let Some(bias) = dbias {
            need(&at, "bias", bias, n * 4)?;
        }
        need(&at, "C", dc, batch * m * n * O::DTYPE.size_bytes())?;
        let partials = split && !plan.cluster;
        let dp = ws.get(s, if partials { batch * chunks * m * n * 4 } else { 4 }).map_err(|e| at.err(e))?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);

        let cfg = plan.config();
        let f = plan.kernel.function(&kern, T::DTYPE, O::DTYPE);
        if plan.cluster {
            if !split || chunks > MM_CLUSTER_MAX || !matches!(plan.kernel, MmKernel::Skinny { .. }) {
                return Err(at.err(format!(
                    "a cluster launch is a split skinny launch of at most {MM_CLUSTER_MAX} chunks: {plan:?}"
                )));
            }
            // cuLaunchKernelEx takes a pointer to each argument's value: device pointers
            // (their guards order this launch after earlier writes) and ints.
            let bias = dbias.map(|b| b.device_ptr(s));
            let mut pbias = bias.as_ref().map_or(0, |b| b.0);
            let (mut pa, _ga) = da.device_ptr(s);
            let (mut pb, _gb) = db.device_ptr(s);
            let (mut pc, _gc) = dc.device_ptr_mut(s);
            let (mut pp, _gp) = dp.device_ptr(s); // unused by split = 2
            let (mut mi, mut ni, mut ki, mut mode) = (mi, ni, ki, 2i32);
            let mut args: [*mut std::ffi::c_void; 9] = [
                (&mut pa as *mut u64).cast(),
                (&mut pb as *mut u64).cast(),
                (&mut pbias as *mut u64).cast(),
                (&mut pc as *mut u64).cast(),
                (&mut pp as *mut u64).cast(),
                (&mut mi as *mut i32).cast(),
                (&mut ni as *mut i32).cast(),
                (&mut ki as *mut i32).cast(),
                (&mut mode as *mut i32).cast(),
            ];
            // SAFETY: the argument list matches every skinny `matmul_fma_mr*` kernel (split = 2:
            // the chunks of a column block are one cluster, the grid's z is batch × chunks);
            // buffers as checked above; the pointers' guards live until after the launch.
            unsafe { launch_clustered(s, f, cfg, (1, 1, chunks as u32), &mut args) }.map_err(|e| at.err(e))?;
            return Ok(());
        }
        let split_flag = split as i32;
        let mut l = s.launch_builder(f);
        l.arg(da).arg(db);
        match dbias {
            Some(bias) => l.arg(bias),
            None => l.arg(&NULL),
        };
        l.arg(&*dc).arg(dp).arg(&mi).arg(&ni).arg(&ki).arg(&split_flag);
        // SAFETY: argument list matches every `matmul_fma*` kernel in matmul.cu (the plan's
        // grid covers M and N, its dynamic shared memory is what the kernel reads); buffers hold
        // batch*m*k, batch*k*n, n, batch*m*n and (split) batch*chunks*m*n elements (checked above).
        unsafe { l.launch(cfg) }.map_err(|e| at.err(e))?;

        if split {
            let total = batch * m * n;
            let bi = batch as i32;
            let f = kern.matmul_fma_combine.get(O::DTYPE);
            let mut l = s.launch_builder(f);
            l.arg(dp);
            match dbias {
                Some(bias) => l.arg(bias),
                None => l.arg(&NULL),
            };
            l.arg(&*dc).arg(&mi).arg(&ni).arg(&ki).arg(&bi);
            // SAFETY: argument list matches `matmul_fma_combine_*`; one thread per output.
            unsafe { l.launch(grid1(total.div_ceil(FLAT_THREADS) as u32, FLAT_THREADS)) }.map_err(|e| at.err(e))?;
        }
        Ok(())
    }
}

/// The kernel a [`plan`] launches (all take the same arguments; matmul.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MmKernel {
    /// `matmul_fma_*`: [`MM_BM`] × [`MM_BN`] output tiles.
    Tile,
    /// `matmul_fma_half_*`: [`MM_BM_HALF`] × [`MM_BN`] output tiles.
    Half,
    /// `matmul_fma_mr{mr}{form}_*`: M ≤ `mr` ∈ {4, 8, 16}, threads own columns.
    Skinny { mr: usize, form: Skinny },
}

/// The three instantiations of the skinny template (matmul.cu) for each `mr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skinny {
    /// `matmul_fma_mr{mr}_*`: 16 k rows of B per load group, 8 bytes of B per thread and k row.
    Plain,
    /// `_lean_*`: 8 k rows per group, registers bounded for 3 CTAs per SM (6 for f32 `mr4`).
    Lean,
    /// `_narrow_*`: 4 bytes of B per thread and k row (half the columns, twice the threads
    /// per output block), registers bounded for 4 CTAs per SM.
    Narrow,
}

impl Skinny {
    #[cfg(test)]
    pub(crate) const ALL: [Skinny; 3] = [Skinny::Plain, Skinny::Lean, Skinny::Narrow];

    /// Bytes of B one thread loads per k row (`LB` of the template).
    pub(crate) fn load_bytes(self) -> usize {
        match self {
            Skinny::Narrow => 4,
            _ => 8,
        }
    }

    /// Output columns one CTA owns for inputs of `in_bytes` bytes.
    pub(crate) fn cta_columns(self, in_bytes: usize) -> usize {
        MM_SK_THREADS * (self.load_bytes() / in_bytes.max(1))
    }

    fn suffix(self) -> &'static str {
        match self {
            Skinny::Plain => "",
            Skinny::Lean => "_lean",
            Skinny::Narrow => "_narrow",
        }
    }
}

impl MmKernel {
    fn function(self, k: &Kernels, tin: lockstep_reference::DType, tout: lockstep_reference::DType) -> &CudaFunction {
        let by = match self {
            MmKernel::Tile => &k.matmul_fma,
            MmKernel::Half => &k.matmul_fma_half,
            MmKernel::Skinny { mr, form } => {
                let [plain, lean, narrow] = match mr {
                    4 => &k.matmul_fma_mr4,
                    8 => &k.matmul_fma_mr8,
                    _ => &k.matmul_fma_mr16,
                };
                match form {
                    Skinny::Plain => plain,
                    Skinny::Lean => lean,
                    Skinny::Narrow => narrow,
                }
            }
        };
        by.get(tin, tout)
    }
}

/// One launch of the matmul family: kernel, split by chunks or not, grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MmPlan {
    pub kernel: MmKernel,
    /// One CTA per (outputs, chunk), then `matmul_fma_combine_*` adds the partials in chunk order.
    pub split: bool,
    /// With `split` (skinny kernels, sm_90): the chunks of a column block run as one
    /// thread-block cluster that adds its partials itself, through distributed shared
    /// memory, in chunk order: no partial buffer, no combine launch.
    pub cluster: bool,
    pub grid: (u32, u32, u32),
}

impl MmPlan {
    /// The kernel's symbol stem after `matmul_fma` and whether it splits, for reports:
    /// `tile`, `half split`, `mr16_lean split`, …
    pub(crate) fn name(&self) -> String {
        let k = match self.kernel {
            MmKernel::Tile => "tile".to_string(),
            MmKernel::Half => "half".to_string(),
            MmKernel::Skinny { mr, form } => format!("mr{mr}{}", form.suffix()),
        };
        match (self.split, self.cluster) {
            (true, true) => format!("{k} cluster"),
            (true, false) => format!("{k} split"),
            _ => k,
        }
    }

    pub(crate) fn config(&self) -> LaunchConfig {
        let (threads, smem) = match self.kernel {
            MmKernel::Tile => (MM_THREADS, mm_totals_bytes(MM_BM)),
            MmKernel::Half => (MM_THREADS, mm_totals_bytes(MM_BM_HALF)),
            MmKernel::Skinny { .. } => (MM_SK_THREADS, 0),
        };
        LaunchConfig {
            grid_dim: self.grid,
            block_dim: (threads as u32, 1, 1),
            shared_mem_bytes: smem as u32,
        }
    }
}

/// Nominal per-SM fma rate of the tile kernels (H100: 128 lanes × ~1.75 GHz × ~0.7) and
/// memory bandwidth, used only to compare launch options with each other.
const SM_FMA_PER_S: f64 = 157e9;
const MEM_BYTES_PER_S: f64 = 3e12;

/// The launch for `batch × (M × K · K × N)` with K in `chunks` chunks on `sms` SMs;
/// `None` when a grid dimension would overflow. The tree is the same whatever it picks:
/// - M ≤ 16 (decode): the skinny kernels (`mr4`, `mr8`, `mr16` for M ≤ 4, 8, 16; plain,
///   lean or narrow), each thread owning 8 or 4 bytes of B columns, B read once: see
///   [`skinny_plan`].
/// - otherwise a tile kernel, 128- or 64-row tiles, split by chunks or not: the option
///   with the least estimated time, where CTAs spread evenly over SMs
///   (`⌈CTAs / SMs⌉ × work per CTA`, 64-row tiles counted at 80 % of the 128-row rate)
///   and a split also pays for writing and reading its partials.
///
/// A split needs more than one chunk, batch × chunks ≤ 65535 and partials within
/// `SPLIT_BYTES_MAX`. `large_clusters`: the device runs clusters of [`MM_CLUSTER_MAX`] CTAs
/// (sm_90a: H100, H200), which [`skinny_plan`] may use instead of the combine launch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plan(m: usize, n: usize, k: usize, chunks: usize, batch: usize, in_bytes: usize, sms: usize, large_clusters: bool) -> Option<MmPlan> {
    if m.max(n).max(k) > i32::MAX as usize || batch > GRID_YZ_MAX {
        return None;
    }
    let can_split = chunks > 1 && batch * chunks <= GRID_YZ_MAX && batch * chunks * m * n * 4 <= SPLIT_BYTES_MAX;
    let z = |split: bool| (if split { batch * chunks } else { batch }) as u32;
    if m <= 16 {
        return Some(skinny_plan(m, n, chunks, batch, in_bytes, sms, can_split, large_clusters));
    }
    let kc = k.div_ceil(chunks);
    let mut best: Option<(f64, MmPlan)> = None;
    for (kernel, bm, eff) in [(MmKernel::Tile, MM_BM, 1.0), (MmKernel::Half, MM_BM_HALF, 0.8)] {
        if m.div_ceil(bm) > GRID_YZ_MAX {
            continue;
        }
        let tiles = m.div_ceil(bm) * n.div_ceil(MM_BN) * batch;
        for split in [false, true] {
            if split && !can_split {
                continue;
            }
            let (ctas, kper) = if split { (tiles * chunks, kc) } else { (tiles, k) };
            let mut t = ctas.div_ceil(sms) as f64 * (bm * MM_BN * kper) as f64 / (SM_FMA_PER_S * eff);
            if split {
                t += (batch * chunks * m * n * 8) as f64 / MEM_BYTES_PER_S;
            }
            let p = MmPlan {
                kernel,
                split,
                cluster: false,
                grid: (n.div_ceil(MM_BN) as u32, m.div_ceil(bm) as u32, z(split)),
            };
            if best.is_none_or(|(bt, _)| t < bt) {
                best = Some((t, p));
            }
        }
    }
    best.map(|(_, p)| p)
}

/// The skinny launch for M ≤ 16: kernel, split by chunks or not, grid. Chosen from the lab
/// measurements of docs/perf.md (`scripts/mm-lab`, every kernel × split on the issue's
/// shapes, H100), which follow the grid's size:
/// - N alone gives every SM a CTA (`wide`, e.g. a vocabulary projection): the plain
///   kernels' registers leave part of the grid for a second wave, so the lean kernels (8 k
///   rows in flight, registers for 3 CTAs per SM, 6 for f32 `mr4`) are used, and for M > 4 the chunks are
///   split as well (the grid then balances over the SMs); M ≤ 4 with 16-bit B keeps the
///   plain kernel, whose grid fits one wave.
/// - otherwise the chunks are split (where there are several). With 16-bit B, the narrow
///   kernels (4 bytes of B per thread: twice the CTAs, fewer registers) for `mr16`, and for
///   `mr4`/`mr8` where the 8-byte grid would leave SMs without a CTA (N = K = 4096); with
///   f32 B (narrow measured slower everywhere) and elsewhere the lean kernels once that
///   gives more than 2 CTAs per SM, except `mr4` and bf16/f16 `mr16`, which were faster
///   plain there.
/// - a split of M ≤ 8 rows into at most [`MM_CLUSTER_MAX`] chunks on a grid of at most
///   [`CLUSTER_GRID_MAX`] CTAs runs as clusters (`large_clusters`): there the combine
///   launch was a visible share of the call (lab, H100: 1.02–1.09× at N = 4096 and 14336);
///   on vocabulary grids and at M = 16 the clusters were slower (0.87–0.97×).
#[allow(clippy::too_many_arguments)]
fn skinny_plan(m: usize, n: usize, chunks: usize, batch: usize, in_bytes: usize, sms: usize, can_split: bool, large_clusters: bool) -> MmPlan {
    let mr = match m {
        0..=4 => 4,
        5..=8 => 8,
        _ => 16,
    };
    let gx = n.div_ceil(Skinny::Plain.cta_columns(in_bytes));
    let z = batch * if can_split { chunks } else { 1 };
    let (form, split) = if gx * batch >= sms {
        match (mr, in_bytes) {
            (4, 4) => (Skinny::Lean, false),
            (4, _) => (Skinny::Plain, false),
            _ => (Skinny::Lean, can_split),
        }
    } else if in_bytes < 4 && (mr == 16 || gx * z < sms) {
        (Skinny::Narrow, can_split)
    } else if gx * z > 2 * sms && !(mr == 4 || (mr == 16 && in_bytes < 4)) {
        (Skinny::Lean, can_split)
    } else {
        (Skinny::Plain, can_split)
    };
    let grid = (
        n.div_ceil(form.cta_columns(in_bytes)) as u32,
        1,
        (if split { batch * chunks } else { batch }) as u32,
    );
    let cluster = large_clusters && split && chunks <= MM_CLUSTER_MAX && m <= 8 && grid.0 as usize * grid.2 as usize <= CLUSTER_GRID_MAX;
    MmPlan {
        kernel: MmKernel::Skinny { mr, form },
        split,
        cluster,
        grid,
    }
}

/// Most CTAs of a cluster-combined skinny launch (see [`skinny_plan`]).
const CLUSTER_GRID_MAX: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_the_output_and_picks_the_decode_and_tile_kernels() {
        use Skinny::{Lean, Narrow, Plain};
        let sk = |mr, form| MmKernel::Skinny { mr, form };
        let p = plan(1, 4096, 4096, 16, 1, 4, 132, false).unwrap();
        assert_eq!((p.kernel, p.split, p.cluster, p.grid), (sk(4, Plain), true, false, (16, 1, 16)));
        // A vocabulary projection: the lean kernel over split chunks (M > 4), lean and whole
        // for f32 M ≤ 4, plain and whole for bf16 M ≤ 4.
        let p = plan(16, 151_936, 4096, 16, 1, 2, 132, false).unwrap();
        assert_eq!((p.kernel, p.split, p.grid.2), (sk(16, Lean), true, 16));
        assert!(p.grid.0 as usize * MM_SK_THREADS * 4 >= 151_936);
        assert_eq!(plan(2, 151_936, 4096, 16, 1, 4, 132, false).unwrap().kernel, sk(4, Lean));
        assert!(!plan(2, 151_936, 4096, 16, 1, 4, 132, false).unwrap().split);
        assert_eq!(plan(3, 151_936, 4096, 16, 1, 2, 132, false).unwrap().kernel, sk(4, Plain));
        // bf16 at N = K = 4096: 8 column blocks × 16 chunks leave SMs idle, so the narrow
        // kernel, whose blocks are half as wide (16 × 16 CTAs).
        let p = plan(8, 4096, 4096, 16, 1, 2, 132, false).unwrap();
        assert_eq!((p.kernel, p.split, p.grid), (sk(8, Narrow), true, (16, 1, 16)));
        assert_eq!(plan(1, 4096, 4096, 16, 1, 2, 132, false).unwrap().kernel, sk(4, Narrow));
        // More than 2 CTAs per SM once split: lean for mr8 and f32 mr16; bf16 mr16 narrow.
        assert_eq!(plan(8, 14_336, 4096, 16, 1, 2, 132, false).unwrap().kernel, sk(8, Lean));
        assert_eq!(plan(16, 14_336, 4096, 16, 1, 4, 132, false).unwrap().kernel, sk(16, Lean));
        assert_eq!(plan(16, 14_336, 4096, 16, 1, 2, 132, false).unwrap().kernel, sk(16, Narrow));
        assert_eq!(plan(9, 4096, 4096, 16, 1, 2, 132, false).unwrap().kernel, sk(16, Narrow));
        assert_eq!(plan(4, 14_336, 4096, 16, 1, 2, 132, false).unwrap().kernel, sk(4, Plain));
        let p = plan(4096, 4096, 4096, 16, 1, 4, 132, false).unwrap();
        assert_eq!((p.kernel, p.split, p.grid), (MmKernel::Tile, false, (32, 32, 1)));
        // Too few 128-row tiles to fill the SMs: more, smaller CTAs.
        let p = plan(256, 4096, 4096, 16, 1, 4, 132, false).unwrap();
        assert!(p.split || p.kernel == MmKernel::Half, "{p:?}");
        // Bmm: the batch is the grid's z (times the chunks when split).
        let p = plan(130, 70, 600, 3, 2, 4, 132, false).unwrap();
        assert_eq!(p.grid.2, if p.split { 6 } else { 2 });
        assert!(plan(17, 1, 1, 1, GRID_YZ_MAX + 1, 4, 132, false).is_none());
        for (m, n) in [(17, 1), (130, 129), (5000, 3)] {
            let p = plan(m, n, 300, 2, 1, 2, 8, false).unwrap();
            let bm = if p.kernel == MmKernel::Tile { MM_BM } else { MM_BM_HALF };
            assert!(p.grid.0 as usize * MM_BN >= n && p.grid.1 as usize * bm >= m, "{p:?}");
        }
    }

    #[test]
    fn clusters_replace_the_combine_launch_only_for_few_rows_chunks_and_ctas() {
        let on = |m, n, k, in_bytes| plan(m, n, k, k.div_ceil(256), 1, in_bytes, 132, true).unwrap();
        // N = K = 4096 at M ≤ 8: the split's 16 chunks as one cluster per column block.
        for (m, in_bytes) in [(1, 4), (4, 4), (8, 4), (1, 2), (8, 2)] {
            let p = on(m, 4096, 4096, in_bytes);
            assert!(p.split && p.cluster && p.grid.2 == 16, "M {m}: {p:?}");
            assert_eq!(p.name(), format!("{} cluster", p.name().trim_end_matches(" cluster")));
        }
        assert!(on(8, 14_336, 4096, 4).cluster);
        // M = 16, more than 16 chunks, a vocabulary grid, no split, no large clusters: not.
        assert!(!on(16, 4096, 4096, 4).cluster);
        assert!(!on(1, 4096, 14_336, 4).cluster);
        assert!(!on(8, 151_936, 4096, 4).cluster);
        assert!(!on(2, 151_936, 4096, 4).cluster);
        assert!(!plan(1, 4096, 4096, 16, 1, 4, 132, false).unwrap().cluster);
        assert!(!on(64, 4096, 4096, 4).cluster);
        // Batched: each batch's chunks are their own clusters (the grid's z is batch × chunks).
        let p = plan(2, 4096, 4096, 16, 3, 4, 132, true).unwrap();
        assert_eq!((p.cluster, p.grid), (true, (16, 1, 48)));
        let p = plan(2, 4096, 4096, 16, 5, 4, 132, true).unwrap();
        assert_eq!((p.cluster, p.grid), (false, (16, 1, 80)), "16 × 80 CTAs > 1024");
    }
}

#[cfg(test)]
mod gpu_tests {
    use super::*;
    use half::bf16;
    use lockstep_reference::FMA_V1;
    use ndarray::Array2;

    /// Every skinny kernel, whole, split and (on sm_90a) cluster-combined, on shapes that
    /// leave partial chunks, partial column blocks and M below the kernel's rows, and one of
    /// 16 chunks (the largest cluster): the reference's bits (the launch plan picks among
    /// these by speed only). Needs a GPU; without one it is skipped visibly.
    fn every_skinny_kernel<T: Element, O: Element>(gpu: &Gpu) {
        let val = |i: usize| T::from_f32(((i.wrapping_mul(2_654_435_761) >> 7) % 2001) as f32 / 1000.0 - 1.0);
        let clusters = large_clusters(&gpu.info().arch);
        for (m, n, k) in [(1, 1030, 600), (3, 517, 513), (7, 1030, 600), (13, 260, 777), (16, 1024, 256), (5, 700, 4096)] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| val(i * k + j));
            let b = Array2::from_shape_fn((k, n), |(i, j)| val(7 + i * n + j));
            let want: Array2<O> = lockstep_reference::matmul::mm(&FMA_V1, a.view(), b.view()).unwrap();
            let chunks = k.div_ceil(FMA_V1.kc.unwrap_or(k));
            let da = gpu.upload(a.as_slice().unwrap()).unwrap();
            let db = gpu.upload(b.as_slice().unwrap()).unwrap();
            for mr in [4, 8, 16].into_iter().filter(|&mr| mr >= m) {
                for form in Skinny::ALL {
                    let modes = [(false, false), (true, false), (true, true)];
                    for (split, cluster) in modes.into_iter().filter(|&(_, c)| !c || (clusters && chunks > 1 && chunks <= MM_CLUSTER_MAX)) {
                        let gx = n.div_ceil(form.cta_columns(std::mem::size_of::<T>()));
                        let plan = MmPlan {
                            kernel: MmKernel::Skinny { mr, form },
                            split,
                            cluster,
                            grid: (gx as u32, 1, if split { chunks as u32 } else { 1 }),
                        };
                        let mut dc = gpu.alloc::<O>(m * n).unwrap();
                        let sh = MmShape { batch: 1, m, k, n };
                        gpu.matmul_fma_launch::<T, O>("mm", &FMA_V1, &da, &db, None, &mut dc, sh, &mut Workspace::new(), plan)
                            .unwrap_or_else(|e| panic!("{e}"));
                        let got = gpu.download::<O>(&dc).unwrap();
                        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                            assert_eq!(g.bits(), w.bits(), "{plan:?} M {m} N {n} K {k} ({} → {}): element {i}", T::DTYPE, O::DTYPE);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_skinny_kernel_whole_split_and_clustered_gives_the_reference_bits() {
        crate::testing::with_gpu("every skinny matmul kernel", |gpu| {
            every_skinny_kernel::<f32, f32>(gpu);
            every_skinny_kernel::<bf16, bf16>(gpu);
            every_skinny_kernel::<bf16, f32>(gpu);
        });
    }
}
