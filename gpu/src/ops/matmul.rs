//! Launcher of `gpu/kernels/matmul.cu`: `mm`, `addmm`, `bmm` under an fma contract (an
//! `mma-sm90` contract goes to ops/matmul_tc.rs).
//!
//! Launch choice (shape-dependent; the tree is not): when the output has fewer tiles than
//! twice the SM count and K has more than one chunk, every (tile, chunk) pair gets its own
//! CTA and a second kernel adds the chunk partials left to right; otherwise each CTA runs
//! all chunks of its tile. Both perform the identical sequence of roundings.

use super::{fma_only, grid1, need, Workspace, NULL};
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::{FLAT_THREADS, MM_BM, MM_BN, MM_THREADS};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
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
        if m.max(n).max(k) > i32::MAX as usize || m.div_ceil(MM_BM) > GRID_YZ_MAX || batch > GRID_YZ_MAX {
            return Err(at.too_large(format!("M ≤ {}, N, K ≤ 2^31 - 1 and batch ≤ {GRID_YZ_MAX}", GRID_YZ_MAX * MM_BM)));
        }
        let kc = c.kc.unwrap_or(k).max(1);
        let chunks = k.div_ceil(kc);
        let tiles = m.div_ceil(MM_BM) * n.div_ceil(MM_BN) * batch;
        let split =
            chunks > 1 && tiles < 2 * self.info().sm_count.max(1) as usize && batch * chunks <= GRID_YZ_MAX && batch * chunks * m * n * 4 <= SPLIT_BYTES_MAX;

        let s = self.stream();
        need(&at, "A", da, batch * m * k * T::DTYPE.size_bytes())?;
        need(&at, "B", db, batch * k * n * T::DTYPE.size_bytes())?;
        if let Some(bias) = dbias {
            need(&at, "bias", bias, n * 4)?;
        }
        need(&at, "C", dc, batch * m * n * O::DTYPE.size_bytes())?;
        let dp = ws.get(s, if split { batch * chunks * m * n * 4 } else { 4 }).map_err(|e| at.err(e))?;
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);

        let cfg = LaunchConfig {
            grid_dim: (
                n.div_ceil(MM_BN) as u32,
                m.div_ceil(MM_BM) as u32,
                (if split { batch * chunks } else { batch }) as u32,
            ),
            block_dim: (MM_THREADS as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let split_flag = split as i32;
        let f = kern.matmul_fma.get(T::DTYPE, O::DTYPE);
        let mut l = s.launch_builder(f);
        l.arg(da).arg(db);
        match dbias {
            Some(bias) => l.arg(bias),
            None => l.arg(&NULL),
        };
        l.arg(&*dc).arg(dp).arg(&mi).arg(&ni).arg(&ki).arg(&split_flag);
        // SAFETY: argument list matches `matmul_fma_*` in matmul.cu; buffers hold
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
