//! Launcher of `gpu/kernels/mean.cu`: sum and mean, a CTA or a cluster per row, output `[rows, 1]`.

use super::rowplan::RowKernel;
use super::{launch_rows, Arg};
use crate::device::Gpu;
use crate::error::{At, Result};
use cudarc::driver::{DevicePtr, DevicePtrMut};
use lockstep_reference::reduce::check_rows;
use lockstep_reference::{Contract, Element};
use ndarray::{Array2, ArrayView2};

impl Gpu {
    /// Row sums: [`lockstep_reference::mean::sum`] on the GPU.
    pub fn sum<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
        self.mean_run("sum", c, x, false)
    }

    /// Row means: [`lockstep_reference::mean::mean`] on the GPU.
    pub fn mean<T: Element, O: Element>(&self, c: &Contract, x: ArrayView2<T>) -> Result<Array2<O>> {
        self.mean_run("mean", c, x, true)
    }

    fn mean_run<T: Element, O: Element>(&self, op: &'static str, c: &Contract, x: ArrayView2<T>, divide: bool) -> Result<Array2<O>> {
        let (rows, h) = x.dim();
        check_rows(op, c, rows, h)?;
        let at = At::new(op, format!("x {rows}×{h} ({} → {}, {})", T::DTYPE, O::DTYPE, c.id()));
        if h > i32::MAX as usize || rows > i32::MAX as usize {
            return Err(at.too_large("rows and width ≤ 2^31 - 1"));
        }
        let kern = self.kernels(c)?;
        let x = x.as_standard_layout();
        let dx = self.upload(x.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let mut dy = self.alloc::<O>(rows).map_err(|e| at.err(e))?;
        let (hi, div) = (h as i32, divide as i32);
        // One pass: no cache, no warp engine.
        let plan = self.row_plan(c, rows, h, T::DTYPE, false, false, None, false);
        let f = if plan.kernel == RowKernel::Wide { &kern.mean_wide } else { &kern.mean };
        {
            let s = self.stream();
            let ((px, _gx), (py, _gy)) = (dx.device_ptr(s), dy.device_ptr_mut(s));
            // SAFETY: matches `mean_*` and `mean_wide_*` in mean.cu; x holds rows*h elements, y
            // rows, their guards live past the launch; the plan's grid covers every row
            // (ops/rowplan.rs).
            unsafe { launch_rows(s, f.get(T::DTYPE, O::DTYPE), &plan, &[Arg::Ptr(px), Arg::Ptr(py), Arg::I32(hi), Arg::I32(div)]) }.map_err(|e| at.err(e))?;
        }
        Ok(Array2::from_shape_vec((rows, 1), self.download::<O>(&dy).map_err(|e| at.err(e))?).expect("rows outputs"))
    }
}
