//! Launcher of `gpu/kernels/softmax.cu`: softmax and log_softmax, a CTA or a cluster per row (ops/rowplan.rs).

use super::rowplan::RowKernel;
use super::{launch_rows, need, Arg};
use crate::device::Gpu;
use crate::error::{At, Result};
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
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
        let hi = h as i32;
        // The register engine where the row fits it, else the block engine (on the warp
        // engine softmax measured slower: docs/perf.md). The staging buffer only where the
        // kernel uses it: softmax of f32 stages e_i over x_i in the slice cache instead
        // (softmax.cu `ecache`), so 16 KiB more would only cost it occupancy.
        let stage = log_form || T::DTYPE != lockstep_reference::DType::F32;
        let plan = self.row_plan(c, rows, h, T::DTYPE, true, stage, None, true);
        let f = match (log_form, plan.kernel) {
            (false, RowKernel::Regs) => &kern.softmax_regs,
            (true, RowKernel::Regs) => &kern.log_softmax_regs,
            (false, RowKernel::Regs4) => &kern.softmax_regs4,
            (true, RowKernel::Regs4) => &kern.log_softmax_regs4,
            (false, RowKernel::Wide) => &kern.softmax_wide,
            (true, RowKernel::Wide) => &kern.log_softmax_wide,
            (false, _) => &kern.softmax,
            (true, _) => &kern.log_softmax,
        };
        let s = self.stream();
        let ((px, _gx), (py, _gy)) = (dx.device_ptr(s), dy.device_ptr_mut(s));
        // SAFETY: matches `[log_]softmax[_wide|_regs|_regs4]_*` in softmax.cu; x and y hold rows*h elements (checked),
        // their guards live past the launch; the plan's grid covers every row (ops/rowplan.rs).
        unsafe { launch_rows(s, f.get(T::DTYPE, O::DTYPE), &plan, &[Arg::Ptr(px), Arg::Ptr(py), Arg::I32(hi)]) }.map_err(|e| at.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod gpu_tests {
    use half::bf16;
    use lockstep_reference::{softmax as reference, Element, FMA_V1};
    use ndarray::Array2;

    /// [`crate::testing::REGISTER_ENGINE_ROWS`] (with -inf and ties), against the
    /// reference's bits. Needs a GPU; without one it is skipped visibly.
    fn register_engine<T: Element, O: Element>(gpu: &crate::Gpu) {
        for (rows, h, k) in crate::testing::REGISTER_ENGINE_ROWS {
            assert_eq!(gpu.row_plan(&FMA_V1, rows, h, T::DTYPE, true, true, None, true).kernel, k, "{rows}×{h}");
            let x = crate::testing::test_rows::<T>(rows, h, f32::NEG_INFINITY);
            for log_form in [false, true] {
                let (got, want): (Array2<O>, Array2<O>) = if log_form {
                    (gpu.log_softmax(&FMA_V1, x.view()).unwrap(), reference::log_softmax(&FMA_V1, x.view()).unwrap())
                } else {
                    (gpu.softmax(&FMA_V1, x.view()).unwrap(), reference::softmax(&FMA_V1, x.view()).unwrap())
                };
                let op = if log_form { "log_softmax" } else { "softmax" };
                crate::testing::assert_same_bits(&got, &want, &format!("{op} {rows}×{h} ({} → {})", T::DTYPE, O::DTYPE));
            }
        }
    }

    #[test]
    fn register_engine_rows_give_the_reference_bits() {
        crate::testing::with_gpu("softmax register engine", |gpu| {
            register_engine::<f32, f32>(gpu);
            register_engine::<bf16, f32>(gpu);
            register_engine::<f32, bf16>(gpu);
        });
    }
}
