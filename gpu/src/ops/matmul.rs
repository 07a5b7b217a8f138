//! Launcher of `gpu/kernels/matmul.cu`: `mm`, `addmm`, `bmm` under an fma contract (an
//! `mma-sm90` contract goes to ops/matmul_tc.rs).
//!
//! Launch choice: [`plan`] (shape- and SM-count-dependent; the tree is not). Every kernel
//! and the split/combine pair perform the identical sequence of roundings.

use super::{fma_only, grid1, need, Workspace, NULL};
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::{mm_totals_bytes, Kernels, FLAT_THREADS, MM_BM, MM_BM_HALF, MM_BN, MM_SK_THREADS, MM_THREADS};
use cudarc::driver::{CudaFunction, CudaSlice, LaunchConfig, PushKernelArg};
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
        let at = mm_at::<T, O>(op, c, sh);
        let MmShape { batch, m, k, n } = sh;
        fma_only(op, c)?;
        let kern = self.kernels(c)?;
        let kc = c.kc.unwrap_or(k).max(1);
        let chunks = k.div_ceil(kc);
        let plan = plan(m, n, k, chunks, batch, std::mem::size_of::<T>(), self.info().sm_count.max(1) as usize)
            .ok_or_else(|| at.too_large(format!("M ≤ {}, N, K ≤ 2^31 - 1 and batch ≤ {GRID_YZ_MAX}", GRID_YZ_MAX * MM_BM_HALF)))?;
        let split = plan.split;
        let s = self.stream();
        need(&at, "A", da, batch * m * k * T::DTYPE.size_bytes())?;
        need(&at, "B", db, batch * k * n * T::DTYPE.size_bytes())?;
        if let Some(bias) = dbias {
            need(&at, "bias", bias, n * 4)?;
        }
        need(&at, "C", dc, batch * m * n * O::DTYPE.size_bytes())?;
        let dp = ws.get(s, if split { batch * chunks * m * n * 4 } else { 4 }).map_err(|e| at.err(e))?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);

        let cfg = plan.config();
        let split_flag = split as i32;
        let f = plan.kernel.function(&kern, T::DTYPE, O::DTYPE);
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
    /// `matmul_fma_mr4_*`: M ≤ 4, threads own columns.
    Mr4,
    /// `matmul_fma_mr8_*`: M ≤ 8, threads own columns.
    Mr8,
    /// `matmul_fma_mr16_*`: M ≤ 16, threads own columns.
    Mr16,
}

impl MmKernel {
    fn function(self, k: &Kernels, tin: lockstep_reference::DType, tout: lockstep_reference::DType) -> &CudaFunction {
        match self {
            MmKernel::Tile => k.matmul_fma.get(tin, tout),
            MmKernel::Half => k.matmul_fma_half.get(tin, tout),
            MmKernel::Mr4 => k.matmul_fma_mr4.get(tin, tout),
            MmKernel::Mr8 => k.matmul_fma_mr8.get(tin, tout),
            MmKernel::Mr16 => k.matmul_fma_mr16.get(tin, tout),
        }
    }
}

/// One launch of the matmul family: kernel, split by chunks or not, grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MmPlan {
    pub kernel: MmKernel,
    /// One CTA per (outputs, chunk), then `matmul_fma_combine_*` adds the partials in chunk order.
    pub split: bool,
    pub grid: (u32, u32, u32),
}

impl MmPlan {
    pub(crate) fn config(&self) -> LaunchConfig {
        let (threads, smem) = match self.kernel {
            MmKernel::Tile => (MM_THREADS, mm_totals_bytes(MM_BM)),
            MmKernel::Half => (MM_THREADS, mm_totals_bytes(MM_BM_HALF)),
            MmKernel::Mr4 | MmKernel::Mr8 | MmKernel::Mr16 => (MM_SK_THREADS, 0),
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
/// - M ≤ 16 (decode): the skinny kernels (`mr4`, `mr8`, `mr16` for M ≤ 4, 8, 16), each thread
///   owning 8 bytes of B columns, B read once; split by chunks when the unsplit grid has
///   fewer than 2 CTAs per SM.
/// - otherwise a tile kernel, 128- or 64-row tiles, split by chunks or not: the option
///   with the least estimated time, where CTAs spread evenly over SMs
///   (`⌈CTAs / SMs⌉ × work per CTA`, 64-row tiles counted at 80 % of the 128-row rate)
///   and a split also pays for writing and reading its partials.
///
/// A split needs more than one chunk, batch × chunks ≤ 65535 and partials within
/// `SPLIT_BYTES_MAX`.
pub(crate) fn plan(m: usize, n: usize, k: usize, chunks: usize, batch: usize, in_bytes: usize, sms: usize) -> Option<MmPlan> {
    if m.max(n).max(k) > i32::MAX as usize || batch > GRID_YZ_MAX {
        return None;
    }
    let can_split = chunks > 1 && batch * chunks <= GRID_YZ_MAX && batch * chunks * m * n * 4 <= SPLIT_BYTES_MAX;
    let z = |split: bool| (if split { batch * chunks } else { batch }) as u32;
    if m <= 16 {
        let cols = MM_SK_THREADS * (8 / in_bytes.max(1));
        let gx = n.div_ceil(cols);
        let split = can_split && gx * batch < 2 * sms;
        let kernel = match m {
            0..=4 => MmKernel::Mr4,
            5..=8 => MmKernel::Mr8,
            _ => MmKernel::Mr16,
        };
        return Some(MmPlan {
            kernel,
            split,
            grid: (gx as u32, 1, z(split)),
        });
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
                grid: (n.div_ceil(MM_BN) as u32, m.div_ceil(bm) as u32, z(split)),
            };
            if best.is_none_or(|(bt, _)| t < bt) {
                best = Some((t, p));
            }
        }
    }
    best.map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_the_output_and_picks_the_decode_and_tile_kernels() {
        let p = plan(1, 4096, 4096, 16, 1, 4, 132).unwrap();
        assert_eq!((p.kernel, p.split, p.grid), (MmKernel::Mr4, true, (16, 1, 16)));
        let p = plan(16, 151_936, 4096, 16, 1, 2, 132).unwrap();
        assert_eq!((p.kernel, p.split), (MmKernel::Mr16, false));
        assert!(p.grid.0 as usize * MM_SK_THREADS * 4 >= 151_936);
        let p = plan(8, 4096, 4096, 16, 1, 2, 132).unwrap();
        assert_eq!((p.kernel, p.split, p.grid), (MmKernel::Mr8, true, (8, 1, 16)));
        assert_eq!(plan(9, 4096, 4096, 16, 1, 2, 132).unwrap().kernel, MmKernel::Mr16);
        let p = plan(4096, 4096, 4096, 16, 1, 4, 132).unwrap();
        assert_eq!((p.kernel, p.split, p.grid), (MmKernel::Tile, false, (32, 32, 1)));
        // Too few 128-row tiles to fill the SMs: more, smaller CTAs.
        let p = plan(256, 4096, 4096, 16, 1, 4, 132).unwrap();
        assert!(p.split || p.kernel == MmKernel::Half, "{p:?}");
        // Bmm: the batch is the grid's z (times the chunks when split).
        let p = plan(130, 70, 600, 3, 2, 4, 132).unwrap();
        assert_eq!(p.grid.2, if p.split { 6 } else { 2 });
        assert!(plan(17, 1, 1, 1, GRID_YZ_MAX + 1, 4, 132).is_none());
        for (m, n) in [(17, 1), (130, 129), (5000, 3)] {
            let p = plan(m, n, 300, 2, 1, 2, 8).unwrap();
            let bm = if p.kernel == MmKernel::Tile { MM_BM } else { MM_BM_HALF };
            assert!(p.grid.0 as usize * MM_BN >= n && p.grid.1 as usize * bm >= m, "{p:?}");
        }
    }
}
