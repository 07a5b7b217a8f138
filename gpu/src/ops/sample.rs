//! Launcher of `gpu/kernels/sample.cu`: one block per row of logits. The checks are the
//! reference's ([`lockstep_reference::sample::check`]), so bad input gives its errors.

use super::grid1;
use crate::device::Gpu;
use crate::error::{At, Result};
use crate::kernels::ROW_THREADS;
use cudarc::driver::PushKernelArg;
use lockstep_reference::sample::{check, SampleParams};
use lockstep_reference::{Contract, Element};
use ndarray::{Array1, ArrayView2};

impl Gpu {
    /// [`lockstep_reference::sample::sample`] on the GPU: one token per row, `-1` where no
    /// candidate is left.
    pub fn sample<T: Element>(&self, c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> Result<Array1<i64>> {
        check(c, logits.dim(), reqs)?;
        let (b, v) = logits.dim();
        if b == 0 {
            return Ok(Array1::from(Vec::new()));
        }
        let at = At::new("sample", format!("logits {b}×{v} ({}, {})", T::DTYPE, c.id()));
        if v > i32::MAX as usize || b > i32::MAX as usize || b.checked_mul(v).is_none() {
            return Err(at.too_large("rows and vocabulary ≤ 2^31 - 1"));
        }
        let kern = self.kernels(c)?;
        let s = self.stream();
        let (fp, ip, hoff, hist) = sample_args(reqs);
        let logits = logits.as_standard_layout();
        let dx = self.upload(logits.as_slice().unwrap_or_default()).map_err(|e| at.err(e))?;
        let dfp = s.clone_htod(&fp).map_err(|e| at.err(e))?;
        let dip = s.clone_htod(&ip).map_err(|e| at.err(e))?;
        let dhoff = s.clone_htod(&hoff).map_err(|e| at.err(e))?;
        let dhist = s.clone_htod(&hist).map_err(|e| at.err(e))?;
        let dz = s.alloc_zeros::<f32>(b * v).map_err(|e| at.err(e))?;
        let dord = s.alloc_zeros::<i32>(b * v).map_err(|e| at.err(e))?;
        let dout = s.alloc_zeros::<i64>(b).map_err(|e| at.err(e))?;
        let vl = v as i64;
        let mut l = s.launch_builder(kern.sample.get(T::DTYPE));
        l.arg(&dx).arg(&dfp).arg(&dip).arg(&dhoff).arg(&dhist).arg(&dz).arg(&dord).arg(&dout).arg(&vl);
        // SAFETY: matches `sample_*` in sample.cu; history ids were checked below V; the
        // scratch holds b*v entries of each kind.
        unsafe { l.launch(grid1(b as u32, ROW_THREADS)) }.map_err(|e| at.err(e))?;
        let out = s.clone_dtoh(&dout).map_err(|e| at.err(e))?;
        s.synchronize().map_err(|e| at.err(e))?;
        Ok(Array1::from(out))
    }
}

/// The kernel's per-row arguments: `fp` (temperature, top_p, min_p, repetition_penalty),
/// `ip` (top_k, seed, position), and the distinct history ids of row `b` at
/// `hist[hoff[b]..hoff[b + 1]]` (repeats count once; `hist` is never empty).
#[allow(clippy::type_complexity)]
pub fn sample_args(reqs: &[SampleParams]) -> (Vec<f32>, Vec<u64>, Vec<i64>, Vec<i64>) {
    let mut fp = Vec::with_capacity(4 * reqs.len());
    let mut ip: Vec<u64> = Vec::with_capacity(3 * reqs.len());
    let mut hoff = vec![0i64];
    let mut hist: Vec<i64> = Vec::new();
    for r in reqs {
        fp.extend([r.temperature, r.top_p, r.min_p, r.repetition_penalty]);
        ip.extend([r.top_k as u64, r.seed, r.position]);
        let mut ids: Vec<i64> = r.history.iter().map(|&i| i as i64).collect();
        ids.sort_unstable();
        ids.dedup();
        hist.extend(ids);
        hoff.push(hist.len() as i64);
    }
    if hist.is_empty() {
        hist.push(0); // never read (every row's range is empty); avoids an empty buffer
    }
    (fp, ip, hoff, hist)
}
