//! Launcher of `gpu/kernels/rmsnorm.cu`: a CTA, a cluster or a few warps per row (ops/rowplan.rs).

use super::rowplan::RowKernel;
use super::{launch_rows, need, Arg, NULL};
use crate::device::Gpu;
use crate::error::{At, Result};
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
use lockstep_reference::rmsnorm::{check, RmsnormParams};
use lockstep_reference::{Contract, Element, Error as RefError};
use ndarray::{Array2, ArrayView1, ArrayView2};

impl Gpu {
    /// RMSNorm of every row: [`lockstep_reference::rmsnorm::rmsnorm`] on the GPU.
    pub fn rmsnorm<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>, w: ArrayView1<T>, p: RmsnormParams) -> Result<Array2<O>> {
        check("rmsnorm", c, x, w, p)?;
        Ok(self.rmsnorm_run::<T, O>("rmsnorm", c, x, None, w, p)?.0)
    }

    /// Fused residual add + RMSNorm: [`lockstep_reference::rmsnorm::rmsnorm_residual`] on
    /// the GPU; returns `(y, h)` with `h = round_T(x + residual)`.
    pub fn rmsnorm_residual<T: Element, O: Element>(
        &self,
        c: &Contract,
        x: ArrayView2<T>,
        residual: ArrayView2<T>,
        w: ArrayView1<T>,
        p: RmsnormParams,
    ) -> Result<(Array2<O>, Array2<T>)> {
        check("rmsnorm_residual", c, x, w, p)?;
        if residual.dim() != x.dim() {
            return Err(RefError::shape("rmsnorm_residual", format!("input is {:?} but residual is {:?}", x.dim(), residual.dim())).into());
        }
        let (y, h) = self.rmsnorm_run::<T, O>("rmsnorm_residual", c, x, Some(residual), w, p)?;
        Ok((y, h.expect("the residual form returns h")))
    }

    #[allow(clippy::type_complexity)]
    fn rmsnorm_run<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        x: ArrayView2<T>,
        residual: Option<ArrayView2<T>>,
        w: ArrayView1<T>,
        p: RmsnormParams,
    ) -> Result<(Array2<O>, Option<Array2<T>>)> {
        let (rows, h) = x.dim();
        let at = At::new(op, format!("x {rows}×{h} ({} → {}, {})", T::DTYPE, O::DTYPE, c.id()));
        if h > i32::MAX as usize || rows > i32::MAX as usize {
            return Err(at.too_large("rows and width ≤ 2^31 - 1"));
        }
        let (x, w) = (x.as_standard_layout(), w.as_standard_layout());
        let dx = self.upload(x.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dw = self.upload(w.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dr = match residual {
            Some(r) => Some(self.upload(r.as_standard_layout().as_slice().unwrap_or_default()).map_err(|e| at.err(e))?),
            None => None,
        };
        let mut dy = self.alloc::<O>(rows * h).map_err(|e| at.err(e))?;
        let mut dh = match dr {
            Some(_) => Some(self.alloc::<T>(rows * h).map_err(|e| at.err(e))?),
            None => None,
        };
        self.rmsnorm_device::<T, O>(op, c, &dx, dr.as_ref(), &dw, &mut dy, dh.as_mut(), (rows, h), p)?;
        let y = Array2::from_shape_vec((rows, h), self.download::<O>(&dy).map_err(|e| at.err(e))?).expect("rows*h outputs");
        let hout = match &dh {
            Some(hb) => Some(Array2::from_shape_vec((rows, h), self.download::<T>(hb).map_err(|e| at.err(e))?).expect("rows*h outputs")),
            None => None,
        };
        Ok((y, hout))
    }

    /// RMSNorm (with `residual`: the fused form, writing `h`) on device buffers (raw
    /// bytes): x, residual, h of rows×H `T`, w of H `T`, y of rows×H `O`. Only launches.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn rmsnorm_device<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        dx: &CudaSlice<u8>,
        dr: Option<&CudaSlice<u8>>,
        dw: &CudaSlice<u8>,
        dy: &mut CudaSlice<u8>,
        dh: Option<&mut CudaSlice<u8>>,
        (rows, h): (usize, usize),
        p: RmsnormParams,
    ) -> Result<()> {
        let at = At::new(op, format!("x {rows}×{h} ({} → {}, {})", T::DTYPE, O::DTYPE, c.id()));
        if h > i32::MAX as usize || rows > i32::MAX as usize {
            return Err(at.too_large("rows and width ≤ 2^31 - 1"));
        }
        if dr.is_some() != dh.is_some() {
            return Err(RefError::param(op, "the residual form takes both a residual and an h buffer").into());
        }
        let (tb, ob) = (T::DTYPE.size_bytes(), O::DTYPE.size_bytes());
        need(&at, "x", dx, rows * h * tb)?;
        need(&at, "w", dw, h * tb)?;
        need(&at, "y", dy, rows * h * ob)?;
        if let (Some(r), Some(hb)) = (dr, dh.as_deref()) {
            need(&at, "residual", r, rows * h * tb)?;
            need(&at, "h", hb, rows * h * tb)?;
        }
        let kern = self.kernels(c)?;
        let (hi, eps) = (h as i32, p.eps);
        // The register engine where the row fits it, else the warp engine (its buffers: x of
        // two rows, and r of two rows, in elements of T), the block or the cluster engine.
        let residual = dr.is_some();
        let mut plan = self.row_plan(c, rows, h, T::DTYPE, true, false, Some(if residual { 4 * tb } else { 2 * tb }), true);
        let f = match plan.kernel {
            RowKernel::Block => &kern.rmsnorm,
            RowKernel::Wide => &kern.rmsnorm_wide,
            RowKernel::Warps => &kern.rmsnorm_warps,
            RowKernel::Regs => &kern.rmsnorm_regs,
            RowKernel::Regs4 => &kern.rmsnorm_regs4,
        };
        let s = self.stream();
        let ((px, _gx), (pw, _gw), (py, _gy)) = (dx.device_ptr(s), dw.device_ptr(s), dy.device_ptr_mut(s));
        let (pr, _gr) = dr.map(|r| r.device_ptr(s)).unzip();
        let (ph, _gh) = dh.map(|hb| hb.device_ptr_mut(s)).unzip();
        let mut args = vec![
            Arg::Ptr(px),
            Arg::Ptr(pr.unwrap_or(NULL)),
            Arg::Ptr(pw),
            Arg::Ptr(py),
            Arg::Ptr(ph.unwrap_or(NULL)),
            Arg::I32(hi),
            Arg::F32(eps),
        ];
        if plan.kernel == RowKernel::Warps {
            args.push(Arg::I32(rows as i32));
            plan.cfg.grid_dim.0 = self.warp_grid(f.get(T::DTYPE, O::DTYPE), &plan.cfg, rows);
        }
        // SAFETY: matches `rmsnorm_*`, `rmsnorm_wide_*`, `rmsnorm_regs{,4}_*` and `rmsnorm_warps_*` (which also takes
        // `rows`) in rmsnorm.cu; every buffer holds rows*h elements (w: h; checked above), their
        // guards live past the launch; the plan's grid covers every row, the warp engine's by
        // looping (ops/rowplan.rs), and its shared memory holds the buffers the kernel checks for.
        unsafe { launch_rows(s, f.get(T::DTYPE, O::DTYPE), &plan, &args) }.map_err(|e| at.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod gpu_tests {
    use crate::testing::{assert_same_bits, test_rows, with_gpu};
    use half::bf16;
    use lockstep_reference::rmsnorm::{self as reference, RmsnormParams};
    use lockstep_reference::{Element, FMA_V1};
    use ndarray::Array1;

    /// [`crate::testing::REGISTER_ENGINE_ROWS`] (with −0), plain and residual form, against
    /// the reference's bits.
    fn register_engine<T: Element, O: Element>(gpu: &crate::Gpu) {
        let p = RmsnormParams { eps: 1e-5 };
        for (rows, h, k) in crate::testing::REGISTER_ENGINE_ROWS {
            for residual in [false, true] {
                let warp = if residual { 4 } else { 2 } * T::DTYPE.size_bytes();
                assert_eq!(gpu.row_plan(&FMA_V1, rows, h, T::DTYPE, true, false, Some(warp), true).kernel, k, "{rows}×{h}");
            }
            let x = test_rows::<T>(rows, h, -0.0);
            // A residual unlike x, so that h = round_T(x + r) rounds.
            let r = x.mapv(|v| T::from_f32(0.3 - 0.7 * v.to_f32()));
            let w = Array1::from_shape_fn(h, |j| T::from_f32(0.5 + (j % 7) as f32 * 0.25));
            let what = format!("{rows}×{h} ({} → {})", T::DTYPE, O::DTYPE);
            let got: ndarray::Array2<O> = gpu.rmsnorm(&FMA_V1, x.view(), w.view(), p).unwrap();
            assert_same_bits(&got, &reference::rmsnorm(&FMA_V1, x.view(), w.view(), p).unwrap(), &format!("rmsnorm {what}"));
            let (gy, gh) = gpu.rmsnorm_residual::<T, O>(&FMA_V1, x.view(), r.view(), w.view(), p).unwrap();
            let (wy, wh) = reference::rmsnorm_residual::<T, O>(&FMA_V1, x.view(), r.view(), w.view(), p).unwrap();
            assert_same_bits(&gy, &wy, &format!("rmsnorm_residual y {what}"));
            assert_same_bits(&gh, &wh, &format!("rmsnorm_residual h {what}"));
        }
    }

    #[test]
    fn register_engine_rows_give_the_reference_bits() {
        with_gpu("rmsnorm register engine", |gpu| {
            register_engine::<bf16, bf16>(gpu);
            register_engine::<f32, f32>(gpu);
            register_engine::<bf16, f32>(gpu);
        });
    }
}
