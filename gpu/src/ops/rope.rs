//! Launcher of `gpu/kernels/rope.cu`: one thread per rotated pair.

use super::grid1;
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::FLAT_THREADS;
use cudarc::driver::PushKernelArg;
use lockstep_reference::{Element, Error as RefError};
use ndarray::{Array3, ArrayView1, ArrayView2, ArrayView3};

impl Gpu {
    /// RoPE on `x: [tokens, heads, d]` at positions `pos` with the reference's tables:
    /// [`lockstep_reference::rope::rope`] on the GPU (same checks, same errors).
    pub fn rope<T: Element, O: Element>(&self, x: ArrayView3<T>, pos: ArrayView1<i64>, cos: ArrayView2<f32>, sin: ArrayView2<f32>) -> Result<Array3<O>> {
        let (tokens, heads, d) = x.dim();
        if pos.len() != tokens {
            return Err(RefError::shape("rope", format!("x has {tokens} tokens but {} positions were given", pos.len())).into());
        }
        if d % 2 != 0 || cos.ncols() * 2 != d || cos.dim() != sin.dim() {
            return Err(RefError::shape("rope", format!("x has head dim {d} but the tables are {:?} and {:?}", cos.dim(), sin.dim())).into());
        }
        if let Some(&bad) = pos.iter().find(|&&p| p < 0 || p as usize >= cos.nrows()) {
            return Err(RefError::param("rope", format!("position {bad} outside the table of {} positions", cos.nrows())).into());
        }
        let mut out = Array3::<O>::from_elem((tokens, heads, d), O::from_f32(0.0));
        let pairs = tokens * heads * (d / 2);
        if pairs == 0 {
            return Ok(out);
        }
        let at = At::new("rope", format!("x {tokens}×{heads}×{d} ({} → {})", T::DTYPE, O::DTYPE));
        if tokens.max(heads).max(d) > i32::MAX as usize || pairs.div_ceil(FLAT_THREADS) > i32::MAX as usize {
            return Err(at.too_large("tokens, heads, d ≤ 2^31 - 1"));
        }
        let kern = self.kernels(&lockstep_reference::FMA_V1)?;
        let s = self.stream();
        let (x, pos, cos, sin) = (
            x.as_standard_layout(),
            pos.as_standard_layout(),
            cos.as_standard_layout(),
            sin.as_standard_layout(),
        );
        let dx = self.upload(x.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dpos = s.clone_htod(pos.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dcos = s.clone_htod(cos.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dsin = s.clone_htod(sin.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dy = self.alloc::<O>(tokens * heads * d).map_err(|e| at.err(e))?;
        let (ti, hi, di) = (tokens as i32, heads as i32, d as i32);
        let mut l = s.launch_builder(kern.rope.get(T::DTYPE, O::DTYPE));
        l.arg(&dx).arg(&dpos).arg(&dcos).arg(&dsin).arg(&dy).arg(&ti).arg(&hi).arg(&di);
        // SAFETY: matches `rope_*` in rope.cu; positions were checked against the table.
        unsafe { l.launch(grid1(pairs.div_ceil(FLAT_THREADS) as u32, FLAT_THREADS)) }.map_err(|e| at.err(e))?;
        let v = self.download::<O>(&dy).map_err(|e| at.err(e))?;
        out.as_slice_mut().expect("fresh array is standard").copy_from_slice(&v);
        Ok(out)
    }
}
