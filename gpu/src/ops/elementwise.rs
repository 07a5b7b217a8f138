//! Launcher of `gpu/kernels/elementwise.cu`: one thread per element.

use super::grid1;
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::FLAT_THREADS;
use cudarc::driver::PushKernelArg;
use lockstep_reference::elementwise::Unary;
use lockstep_reference::Element;
use ndarray::{ArrayD, ArrayViewD};

/// The kernel's op code of `op`: its index in [`Unary::ALL`] (the header's `LS_UNARY_*`).
pub(crate) fn unary_code(op: Unary) -> i32 {
    Unary::ALL.iter().position(|&u| u == op).expect("every Unary is in Unary::ALL") as i32
}

impl Gpu {
    /// Applies `op` to every element: [`lockstep_reference::elementwise::unary`] on the GPU.
    pub fn unary<T: Element, O: Element>(&self, op: Unary, x: ArrayViewD<T>) -> Result<ArrayD<O>> {
        let n = x.len();
        let mut out = ArrayD::<O>::from_elem(x.raw_dim(), O::from_f32(0.0));
        if n == 0 {
            return Ok(out);
        }
        let at = At::new("unary", format!("{} of {:?} ({} → {})", op.name(), x.shape(), T::DTYPE, O::DTYPE));
        if n.div_ceil(FLAT_THREADS) > i32::MAX as usize {
            return Err(at.too_large("at most 2^31 blocks of elements"));
        }
        let kern = self.kernels(&lockstep_reference::FMA_V1)?;
        let x = x.as_standard_layout();
        let dx = self.upload(x.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dy = self.alloc::<O>(n).map_err(|e| at.err(e))?;
        let (ni, code) = (n as i64, unary_code(op));
        let mut l = self.stream().launch_builder(kern.unary.get(T::DTYPE, O::DTYPE));
        l.arg(&dx).arg(&dy).arg(&ni).arg(&code);
        // SAFETY: matches `unary_*` in elementwise.cu; x and y hold n elements.
        unsafe { l.launch(grid1(n.div_ceil(FLAT_THREADS) as u32, FLAT_THREADS)) }.map_err(|e| at.err(e))?;
        let v = self.download::<O>(&dy).map_err(|e| at.err(e))?;
        out.as_slice_mut().expect("fresh array is standard").copy_from_slice(&v);
        Ok(out)
    }
}
