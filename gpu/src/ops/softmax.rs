//! Launcher of `gpu/kernels/softmax.cu`: softmax and log_softmax, a CTA, a cluster or a few warps per row (ops/rowplan.rs).

use super::need;
use super::rowplan::RowKernel;
use crate::device::Gpu;
use crate::error::{At, Result};
use cudarc::driver::{CudaSlice, PushKernelArg};
use lockstep_reference::reduce::check_rows;
use lockstep_reference::{Contract, Element};
use ndarray::{Array2, ArrayView2};

impl Gpu {
    /// softmax of every row: [`lockstep_reference::softmax::softmax`] on the GPU.
    pub fn softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
        self.softmax_run("softmax", c, x, false)
    }

    /// log_softmax of every row: [`lockstep_reference::softmax::log_softmax`] on the GPU.
    pub fn log_softmax<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
        self.softmax_run("log_softmax", c, x, true)
    }

    fn softmax_run<T: Element, O: Element>(&self, op: &'static str, c: &Contract, x: ArrayView2<T>, log_form: bool) -> Result<Array2<O>> {
        let (rows, h) = x.dim();
        check_rows(op, c, rows, h)?;
        let at = At::new(op, format!("x {rows}×{h} ({} → {}, {})", T::DTYPE, O::DTYPE, c.id()));
        if h > i32::MAX as usize || rows > i32::MAX as usize {
            return Err(at.too_large("rows and width ≤ 2^31 - 1"));
        }
        let x = x.as_standard_layout();
        let dx = self.upload(x.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let mut dy = self.alloc::<O>(rows * h).map_err(|e| at.err(e))?;
        self.softmax_device::<T, O>(op, c, &dx, &mut dy, (rows, h), log_form)?;
        Ok(Array2::from_shape_vec((rows, h), self.download::<O>(&dy).map_err(|e| at.err(e))?).expect("rows*h outputs"))
    }

    /// softmax (`log_form`: log_softmax) on device buffers (raw bytes): x rows×H `T`, y
    /// rows×H `O`. Only launches.
    pub(crate) fn softmax_device<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        dx: &CudaSlice<u8>,
        dy: &mut CudaSlice<u8>,
        (rows, h): (usize, usize),
        log_form: bool,
    ) -> Result<()> {
        let at = At::new(op, format!("x {rows}×{h} ({} → {}, {})", T::DTYPE, O::DTYPE, c.id()));
        if h > i32::MAX as usize || rows > i32::MAX as usize {
            return Err(at.too_large("rows and width ≤ 2^31 - 1"));
        }
        need(&at, "x", dx, rows * h * T::DTYPE.size_bytes())?;
        need(&at, "y", dy, rows * h * O::DTYPE.size_bytes())?;
        let kern = self.kernels(c)?;
        let (hi, lf) = (h as i32, log_form as i32);
        // The warp engine's buffers: x of two rows as stored, and an f32 work buffer for
        // 16-bit x (f32 x is its own).
        let tb = T::DTYPE.size_bytes();
        let mut plan = self.row_plan(c, rows, h, T::DTYPE, true, Some(2 * tb + if tb == 4 { 0 } else { 4 }));
        let f = match plan.kernel {
            RowKernel::Block => &kern.softmax,
            RowKernel::Wide => &kern.softmax_wide,
            RowKernel::Warps => &kern.softmax_warps,
        };
        let mut l = self.stream().launch_builder(f.get(T::DTYPE, O::DTYPE));
        l.arg(dx).arg(&*dy).arg(&hi).arg(&lf);
        let rows_i = rows as i32;
        if plan.kernel == RowKernel::Warps {
            l.arg(&rows_i);
            plan.cfg.grid_dim.0 = self.warp_grid(f.get(T::DTYPE, O::DTYPE), &plan.cfg, rows);
        }
        // SAFETY: matches `softmax_*`, `softmax_wide_*` and `softmax_warps_*` in softmax.cu; x and y hold rows*h elements (checked);
        // the plan's grid covers every row (ops/rowplan.rs).
        unsafe { l.launch(plan.cfg) }.map_err(|e| at.err(e))?;
        Ok(())
    }
}
