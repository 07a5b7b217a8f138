//! Launchers of `gpu/kernels/matmul_tc.cu`: `mm`, `addmm`, `bmm` under the `mma-sm90`
//! contract (docs/spec/mma-sm90.md), on sm_90 devices only.
//!
//! Every kernel keeps one f32 accumulator per output and feeds it the tensor-core steps of
//! its row in increasing k, so the choice of kernel below (shape-dependent) never changes a
//! bit; it mirrors `dispatch()` of `gpu/kernels/tc_harness.cu`, where each kernel was checked
//! bit for bit against the oracle kernel on an H200 (docs/perf-tc.md):
//! K % 8 ≠ 0 → `mma_anyk` (the only kernel without 16-byte rows); M ≤ 8 → `gemv_w4_m8` if
//! N ≥ 8192 else `gemv_w2_k256_m8`; M ≤ 16 → `gemv_w4_m16`; M ≤ 32 with N ≥ 8192 →
//! `gemv_w4_m32`; otherwise the wgmma tile minimising ceil(tiles / SMs) · BM·BN / r, r the
//! tile's measured relative throughput.
//!
//! The kernels take B as W = Bᵀ (N×K, the weight layout); the launcher transposes B on the
//! host, which moves values and changes no bits. bmm runs one launch per batch entry.

use super::matmul::{mm_at, Mm, MmShape};
use super::{need, NULL};
use crate::device::Gpu;
use crate::error::{At, Error, Result};
use crate::kernels::{tc_ptx_for, TC_ARCH};
use cudarc::driver::sys::{
    CUfunction_attribute_enum, CUresult, CUtensorMap, CUtensorMapDataType_enum, CUtensorMapFloatOOBfill_enum, CUtensorMapInterleave_enum,
    CUtensorMapL2promotion_enum, CUtensorMapSwizzle_enum,
};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, DevicePtr, DeviceRepr, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use lockstep_reference::matmul::check;
use lockstep_reference::{Contract, DType, Element, KStepKind};
use ndarray::{Array2, ArrayView1, ArrayView2};
use std::sync::Arc;

/// The exported kernels of matmul_tc.cu (`matmul_tc_{name}_{in}_{out}`), with their launch
/// geometry. The shared-memory sizes repeat the `constexpr`s of the source
/// (`TC_MS_SMEM_BYTES`, `tc_gv_stages`·`tc_gv_stage_bytes`, `TcWgShape::SMEM_BYTES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcKernel {
    /// The oracle: one warp per 16×8 tile, straight from global memory (never dispatched).
    Ref,
    /// mma.sync, 128×128 CTA tile, 16-byte cp.async loads: K % 8 == 0.
    Mma,
    /// mma.sync, 128×128 CTA tile, scalar loads: any K.
    MmaAnyK,
    /// Small-M kernels (C^T = W·A^T): warps, tokens per CTA (8·MT), k per stage.
    GemvW2K256M8,
    GemvW4M8,
    GemvW4M16,
    GemvW4M32,
    /// Warp-specialised TMA + wgmma kernels, BM × BN tiles.
    Wg128x256,
    Wg128x128,
    Wg64x128,
    Wg64x64,
}

const GEMV_SMEM_BUDGET: usize = 96 * 1024;
const MMA_SMEM_BYTES: usize = 4 * (128 + 128) * 32 * 2;

impl TcKernel {
    pub const ALL: [TcKernel; 11] = [
        TcKernel::Ref,
        TcKernel::Mma,
        TcKernel::MmaAnyK,
        TcKernel::GemvW2K256M8,
        TcKernel::GemvW4M8,
        TcKernel::GemvW4M16,
        TcKernel::GemvW4M32,
        TcKernel::Wg128x256,
        TcKernel::Wg128x128,
        TcKernel::Wg64x128,
        TcKernel::Wg64x64,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TcKernel::Ref => "ref",
            TcKernel::Mma => "mma",
            TcKernel::MmaAnyK => "mma_anyk",
            TcKernel::GemvW2K256M8 => "gemv_w2_k256_m8",
            TcKernel::GemvW4M8 => "gemv_w4_m8",
            TcKernel::GemvW4M16 => "gemv_w4_m16",
            TcKernel::GemvW4M32 => "gemv_w4_m32",
            TcKernel::Wg128x256 => "wg128x256",
            TcKernel::Wg128x128 => "wg128x128",
            TcKernel::Wg64x128 => "wg64x128",
            TcKernel::Wg64x64 => "wg64x64",
        }
    }

    /// The symbol for an (input, output) pair: `matmul_tc_{name}_{in}_{out}`.
    pub fn symbol(self, tin: DType, tout: DType) -> String {
        format!("matmul_tc_{}_{}_{}", self.name(), tin.name(), tout.name())
    }

    /// (warps, tokens per CTA, k per stage) of a gemv kernel.
    fn gemv(self) -> Option<(usize, usize, usize)> {
        match self {
            TcKernel::GemvW2K256M8 => Some((2, 8, 256)),
            TcKernel::GemvW4M8 => Some((4, 8, 128)),
            TcKernel::GemvW4M16 => Some((4, 16, 128)),
            TcKernel::GemvW4M32 => Some((4, 32, 128)),
            _ => None,
        }
    }

    /// (BN, consumer warpgroups, stages) of a wgmma kernel (BM = 64 · consumer warpgroups).
    fn wg(self) -> Option<(usize, usize, usize)> {
        match self {
            TcKernel::Wg128x256 => Some((256, 2, 4)),
            TcKernel::Wg128x128 => Some((128, 2, 6)),
            TcKernel::Wg64x128 => Some((128, 1, 8)),
            TcKernel::Wg64x64 => Some((64, 1, 8)),
            _ => None,
        }
    }

    /// Dynamic shared memory of one CTA, in bytes.
    pub fn smem_bytes(self) -> usize {
        if let Some((warps, tokens, bk)) = self.gemv() {
            let stage = (16 * warps + tokens) * bk * 2;
            return (GEMV_SMEM_BUDGET / stage).clamp(3, 8) * stage;
        }
        if let Some((bn, cwg, stages)) = self.wg() {
            return 1024 + stages * (64 * cwg + bn) * 64 * 2 + 2 * stages * 8;
        }
        match self {
            TcKernel::Mma | TcKernel::MmaAnyK => MMA_SMEM_BYTES,
            _ => 0,
        }
    }

    /// Whether the kernel computes an M×N×K product: the 16-byte loads need K % 8 == 0, and
    /// a gemv kernel holds at most its token count of rows.
    pub fn accepts(self, m: usize, k: usize) -> bool {
        match self {
            TcKernel::Ref | TcKernel::MmaAnyK => true,
            _ if !k.is_multiple_of(8) => false,
            _ => self.gemv().is_none_or(|(_, tokens, _)| m <= tokens),
        }
    }

    /// The launch geometry (grid, block, shared bytes) for M×N.
    fn config(self, m: usize, n: usize) -> LaunchConfig {
        let (grid, block) = if let Some((warps, _, _)) = self.gemv() {
            ((n.div_ceil(16 * warps), 1), 32 * warps)
        } else if let Some((bn, cwg, _)) = self.wg() {
            ((n.div_ceil(bn) * m.div_ceil(64 * cwg), 1), 128 * (cwg + 1))
        } else if self == TcKernel::Ref {
            (((m.div_ceil(16) * n.div_ceil(8)).div_ceil(8), 1), 256)
        } else {
            ((n.div_ceil(128), m.div_ceil(128)), 256)
        };
        LaunchConfig {
            grid_dim: (grid.0 as u32, grid.1 as u32, 1),
            block_dim: (block as u32, 1, 1),
            shared_mem_bytes: self.smem_bytes() as u32,
        }
    }
}

/// The launcher's choice for M×N×K on a device with `sms` SMs (the harness's `dispatch()`).
pub fn choose(m: usize, n: usize, k: usize, sms: usize) -> TcKernel {
    if !k.is_multiple_of(8) {
        return TcKernel::MmaAnyK;
    }
    if m <= 8 {
        return if n >= 8192 { TcKernel::GemvW4M8 } else { TcKernel::GemvW2K256M8 };
    }
    if m <= 16 {
        return TcKernel::GemvW4M16;
    }
    if m <= 32 && n >= 8192 {
        return TcKernel::GemvW4M32;
    }
    // Relative per-SM throughput of each tile, measured on the H200 at N = K = 4096, M = 8192.
    let tiles = [
        (TcKernel::Wg128x256, 128, 256, 1.00),
        (TcKernel::Wg128x128, 128, 128, 0.87),
        (TcKernel::Wg64x128, 64, 128, 0.61),
        (TcKernel::Wg64x64, 64, 64, 0.35),
    ];
    let sms = sms.max(1);
    let mut best = (f64::INFINITY, TcKernel::Wg128x256);
    for (kern, bm, bn, r) in tiles {
        let waves = (m.div_ceil(bm) * n.div_ceil(bn)).div_ceil(sms);
        let cost = waves as f64 * (bm * bn) as f64 / r;
        if cost < best.0 {
            best = (cost, kern);
        }
    }
    best.1
}

/// Every tensor-core kernel, for both input types and every output type, loaded eagerly
/// with its shared-memory limit raised: a missing symbol fails at first use of the contract.
pub(crate) struct TcKernels(Vec<CudaFunction>);

fn in_index(d: DType) -> usize {
    (d == DType::F16) as usize
}
fn out_index(d: DType) -> usize {
    match d {
        DType::F32 => 0,
        DType::Bf16 => 1,
        DType::F16 => 2,
    }
}

impl TcKernels {
    pub fn load(ctx: &Arc<CudaContext>, c: &Contract) -> Result<TcKernels> {
        let ptx = tc_ptx_for(c)?;
        let m = ctx.load_module(Ptx::from_src(ptx.as_str())).map_err(|e| Error::Compile {
            contract: c.id(),
            arch: TC_ARCH.to_string(),
            log: format!("module load: {e}"),
        })?;
        let mut v = Vec::with_capacity(TcKernel::ALL.len() * 6);
        for kern in TcKernel::ALL {
            for tin in [DType::Bf16, DType::F16] {
                for tout in DType::ALL {
                    let sym = kern.symbol(tin, tout);
                    let missing = |e: cudarc::driver::DriverError| Error::MissingKernel {
                        symbol: sym.clone(),
                        contract: c.id(),
                        detail: e.to_string(),
                    };
                    let f = m.load_function(&sym).map_err(missing)?;
                    if kern.smem_bytes() > 0 {
                        f.set_attribute(
                            CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                            kern.smem_bytes() as i32,
                        )
                        .map_err(missing)?;
                    }
                    v.push(f);
                }
            }
        }
        Ok(TcKernels(v))
    }

    fn get(&self, kern: TcKernel, tin: DType, tout: DType) -> &CudaFunction {
        let k = TcKernel::ALL.iter().position(|&x| x == kern).expect("every kernel is in ALL");
        &self.0[k * 6 + in_index(tin) * 3 + out_index(tout)]
    }
}

/// A `CUtensorMap`, passed by value to the wgmma kernels (the kernel parameter is a
/// 128-byte, 64-byte-aligned blob).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct TmaMap([u64; 16]);

// SAFETY: plain bytes, the layout of `TcTmaDesc` in matmul_tc.cu.
unsafe impl DeviceRepr for TmaMap {}

/// A 2-D map of a rows × K row-major 16-bit matrix, box 64 (k) × `box_rows`, 128-byte
/// swizzle, zero fill out of bounds: `make_map` of tc_harness.cu.
fn tensor_map(ptr: u64, rows: usize, k: usize, box_rows: usize, bf16: bool) -> std::result::Result<TmaMap, String> {
    let mut map = CUtensorMap { opaque: [0; 16] };
    let dims: [u64; 2] = [k as u64, rows as u64];
    let strides: [u64; 1] = [k as u64 * 2];
    let boxd: [u32; 2] = [64, box_rows as u32];
    let elem: [u32; 2] = [1, 1];
    let dtype = if bf16 {
        CUtensorMapDataType_enum::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
    } else {
        CUtensorMapDataType_enum::CU_TENSOR_MAP_DATA_TYPE_FLOAT16
    };
    // SAFETY: every pointer is to a live local array of the length the call reads (rank 2);
    // `ptr` is a device allocation of rows × K 16-bit elements that outlives the launch.
    let r = unsafe {
        cudarc::driver::sys::cuTensorMapEncodeTiled(
            &mut map,
            dtype,
            2,
            ptr as *mut std::ffi::c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            boxd.as_ptr(),
            elem.as_ptr(),
            CUtensorMapInterleave_enum::CU_TENSOR_MAP_INTERLEAVE_NONE,
            CUtensorMapSwizzle_enum::CU_TENSOR_MAP_SWIZZLE_128B,
            CUtensorMapL2promotion_enum::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            CUtensorMapFloatOOBfill_enum::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    if r != CUresult::CUDA_SUCCESS {
        return Err(format!("cuTensorMapEncodeTiled (rows {rows}, K {k}, box {box_rows}): {r:?}"));
    }
    Ok(TmaMap(map.opaque))
}

/// The typed refusal of the tensor-core step on anything but compute capability 9.0: the
/// step's bits were measured only on H100/H200 (docs/spec/mma-sm90.md).
fn sm90_only(gpu: &Gpu, op: &'static str, c: &Contract) -> Result<()> {
    let i = gpu.info();
    if i.compute_capability != (9, 0) {
        return Err(lockstep_reference::Error::Unsupported {
            op,
            contract: c.id(),
            detail: format!(
                "the tensor-core k-step on {} (sm_{}{}): its kernels run only on compute capability 9.0 (H100/H200)",
                i.name, i.compute_capability.0, i.compute_capability.1
            ),
        }
        .into());
    }
    Ok(())
}

/// W = Bᵀ (N×K) from B (K×N), row-major: moves values only.
fn transpose<T: Copy>(b: &[T], k: usize, n: usize) -> Vec<T> {
    let mut w = Vec::with_capacity(k * n);
    for j in 0..n {
        w.extend((0..k).map(|i| b[i * n + j]));
    }
    w
}

impl Gpu {
    /// `mm` (with an optional bias: `addmm`) under an `mma-sm90` contract with a chosen
    /// kernel instead of the dispatch rule, for tests that check every kernel against the
    /// reference. Errors as [`Gpu::addmm`]; a kernel that cannot take the shape (see
    /// [`TcKernel::accepts`]) is an `Unsupported` error.
    pub fn mm_tc_kernel<T: Element, O: Element>(
        &self,
        c: &Contract,
        a: ArrayView2<T>,
        b: ArrayView2<T>,
        bias: Option<ArrayView1<f32>>,
        kernel: TcKernel,
    ) -> Result<Array2<O>> {
        let (m, k, n) = check::<T>("addmm", c, a.dim(), b.dim(), bias.map(|v| v.len()))?;
        let (a, b, bias) = (a.as_standard_layout(), b.as_standard_layout(), bias.map(|v| v.to_vec()));
        let v = self.matmul_tc::<T, O>(
            c,
            Mm {
                op: "addmm",
                a: a.as_slice().unwrap_or_default(),
                b: b.as_slice().unwrap_or_default(),
                bias: bias.as_deref(),
                batch: 1,
                m,
                k,
                n,
            },
            Some(kernel),
        )?;
        Ok(Array2::from_shape_vec((m, n), v).expect("the kernel wrote m*n outputs"))
    }

    /// The `mma-sm90` path of `mm`/`addmm`/`bmm` (inputs already checked by the caller).
    pub(super) fn matmul_tc<T: Element, O: Element>(&self, c: &Contract, p: Mm<'_, T>, force: Option<TcKernel>) -> Result<Vec<O>> {
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
        let (kern, table) = self.tc_plan::<T>(op, c, &at, m, k, n, force)?;
        let s = self.stream();
        let dbias = bias.map(|v| s.clone_htod(v)).transpose().map_err(|e| at.err(e))?;
        let mut out = Vec::with_capacity(batch * m * n);
        for entry in 0..batch {
            let da = self.upload(&a[entry * m * k..(entry + 1) * m * k]).map_err(|e| at.err(e))?;
            let dw = self.upload(&transpose(&b[entry * k * n..(entry + 1) * k * n], k, n)).map_err(|e| at.err(e))?;
            let mut dc: CudaSlice<u8> = self.alloc::<O>(m * n).map_err(|e| at.err(e))?;
            self.tc_launch::<T, O>(&at, &table, kern, &da, &dw, dbias.as_ref(), &mut dc, (m, k, n))?;
            out.extend(self.download::<O>(&dc).map_err(|e| at.err(e))?);
        }
        Ok(out)
    }

    /// The `mma-sm90` matmul on device buffers (raw bytes): A M×K and W = Bᵀ N×K of `T`
    /// (the weight layout), bias N f32 or none, C M×N of `O`. The kernel is `force` or the
    /// dispatcher's [`choose`], and is returned. Only launches (asynchronous).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul_tc_device<T: Element, O: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        da: &CudaSlice<u8>,
        dw: &CudaSlice<u8>,
        dbias: Option<&CudaSlice<f32>>,
        dc: &mut CudaSlice<u8>,
        (m, k, n): (usize, usize, usize),
        force: Option<TcKernel>,
    ) -> Result<TcKernel> {
        let at = mm_at::<T, O>(op, c, MmShape { batch: 1, m, k, n });
        let (kern, table) = self.tc_plan::<T>(op, c, &at, m, k, n, force)?;
        need(&at, "A", da, m * k * T::DTYPE.size_bytes())?;
        need(&at, "W", dw, n * k * T::DTYPE.size_bytes())?;
        if let Some(bias) = dbias {
            need(&at, "bias", bias, n * 4)?;
        }
        need(&at, "C", dc, m * n * O::DTYPE.size_bytes())?;
        self.tc_launch::<T, O>(&at, &table, kern, da, dw, dbias, dc, (m, k, n))?;
        Ok(kern)
    }

    /// The checks of the `mma-sm90` path (same errors for the host and device forms) and
    /// the kernel that runs.
    #[allow(clippy::too_many_arguments)]
    fn tc_plan<T: Element>(
        &self,
        op: &'static str,
        c: &Contract,
        at: &At,
        m: usize,
        k: usize,
        n: usize,
        force: Option<TcKernel>,
    ) -> Result<(TcKernel, Arc<TcKernels>)> {
        let unsupported = |detail: String| -> Error { lockstep_reference::Error::Unsupported { op, contract: c.id(), detail }.into() };
        if c.kstep != KStepKind::MmaSm90 {
            return Err(unsupported("the tensor-core kernels under a contract whose k-step is not mma-sm90".into()));
        }
        if c.kc.is_some() {
            return Err(unsupported(
                "a tensor-core contract with KC chunks (the kernels keep one accumulator over all of K)".into(),
            ));
        }
        if T::DTYPE == DType::F32 {
            return Err(unsupported("f32 inputs (the tensor-core step takes bf16 or f16)".into()));
        }
        sm90_only(self, op, c)?;
        let kern = force.unwrap_or_else(|| choose(m, n, k, self.info().sm_count.max(1) as usize));
        if !kern.accepts(m, k) {
            return Err(unsupported(format!("kernel {} for M = {m}, K = {k}", kern.name())));
        }
        if m.max(n).max(k) > i32::MAX as usize || m.div_ceil(128) > 65535 || n.div_ceil(64) * m.div_ceil(64) > i32::MAX as usize {
            return Err(at.too_large("M, N, K ≤ 2^31 - 1 and M ≤ 65535 · 128"));
        }
        Ok((kern, self.tc_kernels(c)?))
    }

    /// One launch of `kern` on checked buffers.
    #[allow(clippy::too_many_arguments)]
    fn tc_launch<T: Element, O: Element>(
        &self,
        at: &At,
        table: &TcKernels,
        kern: TcKernel,
        da: &CudaSlice<u8>,
        dw: &CudaSlice<u8>,
        dbias: Option<&CudaSlice<f32>>,
        dc: &mut CudaSlice<u8>,
        (m, k, n): (usize, usize, usize),
    ) -> Result<()> {
        let f = table.get(kern, T::DTYPE, O::DTYPE);
        let s = self.stream();
        let cfg = kern.config(m, n);
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        let bf16 = T::DTYPE == DType::Bf16;
        if let Some((bn, cwg, _)) = kern.wg() {
            let (pa, ga) = da.device_ptr(s);
            let (pw, gw) = dw.device_ptr(s);
            let ta = tensor_map(pa, m, k, 64 * cwg, bf16).map_err(|e| at.err(e))?;
            let tw = tensor_map(pw, n, k, bn, bf16).map_err(|e| at.err(e))?;
            let mut l = s.launch_builder(f);
            l.arg(&ta).arg(&tw);
            match dbias {
                Some(bias) => l.arg(bias),
                None => l.arg(&NULL),
            };
            l.arg(&*dc).arg(&mi).arg(&ni).arg(&ki);
            // SAFETY: argument list matches `matmul_tc_wg*` (two tensor maps by value over
            // the live buffers `da` (M×K) and `dw` (N×K), bias of N, C of M×N); grid,
            // block and shared memory as the harness launched them.
            unsafe { l.launch(cfg) }.map_err(|e| at.err(e))?;
            drop((ga, gw));
        } else {
            let mut l = s.launch_builder(f);
            l.arg(da).arg(dw);
            match dbias {
                Some(bias) => l.arg(bias),
                None => l.arg(&NULL),
            };
            l.arg(&*dc).arg(&mi).arg(&ni).arg(&ki);
            // SAFETY: argument list matches TC_PARAMS of matmul_tc.cu (A M×K, W N×K,
            // bias N or null, C M×N); grid, block and shared memory as in the harness.
            unsafe { l.launch(cfg) }.map_err(|e| at.err(e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter types (names dropped) and `.maxntid` x of an entry in the PTX.
    fn entry_signature(ptx: &str, sym: &str) -> (Vec<String>, Option<u32>) {
        let start = ptx.find(&format!(".entry {sym}(")).unwrap_or_else(|| panic!("{sym} missing"));
        let rest = &ptx[start..];
        let close = rest.find(')').expect("parameter list ends");
        let params = rest[..close]
            .lines()
            .skip(1)
            .enumerate()
            .map(|(i, l)| {
                let l = l.trim().trim_end_matches(',').trim_start_matches(".param ");
                l.replace(&format!("{sym}_param_{i}"), "").split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        let maxntid = rest[close..]
            .lines()
            .nth(1)
            .and_then(|l| l.trim().strip_prefix(".maxntid "))
            .map(|v| v.split(',').next().unwrap_or_default().trim().parse().expect("a thread count"));
        (params, maxntid)
    }

    #[test]
    fn dispatch_mirrors_the_harness_rule() {
        assert_eq!(choose(1000, 264, 37, 132), TcKernel::MmaAnyK);
        assert_eq!(choose(1, 4096, 4096, 132), TcKernel::GemvW2K256M8);
        assert_eq!(choose(8, 8192, 4096, 132), TcKernel::GemvW4M8);
        assert_eq!(choose(16, 4096, 4096, 132), TcKernel::GemvW4M16);
        assert_eq!(choose(32, 14336, 4096, 132), TcKernel::GemvW4M32);
        // The measured table of docs/perf-tc.md: N = K = 4096.
        assert_eq!(choose(32, 4096, 4096, 132), TcKernel::Wg64x64);
        assert_eq!(choose(128, 4096, 4096, 132), TcKernel::Wg64x64);
        assert_eq!(choose(256, 4096, 4096, 132), TcKernel::Wg64x128);
        for m in [1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 129, 255, 256, 1000, 4096] {
            for (n, k) in [(264, 1000), (520, 72), (136, 4104), (200, 37), (8, 16), (300, 8)] {
                assert!(choose(m, n, k, 132).accepts(m, k), "M {m} N {n} K {k}");
            }
        }
    }

    #[test]
    fn shared_memory_sizes_match_the_source_constexprs() {
        // Worked out from matmul_tc.cu by hand: TC_MS_SMEM_BYTES; gemv ring = stages × stage
        // with stage = (16·warps + tokens)·BK·2 and stages = clamp(96 KiB / stage, 3, 8);
        // TcWgShape::SMEM_BYTES = 1024 + stages·(BM + BN)·64·2 + 16·stages.
        let want = [
            (TcKernel::Mma, 65536),
            (TcKernel::GemvW2K256M8, 4 * 20480),
            (TcKernel::GemvW4M8, 5 * 18432),
            (TcKernel::GemvW4M16, 4 * 20480),
            (TcKernel::GemvW4M32, 4 * 24576),
            (TcKernel::Wg128x256, 1024 + 4 * 49152 + 64),
            (TcKernel::Wg128x128, 1024 + 6 * 32768 + 96),
            (TcKernel::Wg64x128, 1024 + 8 * 24576 + 128),
            (TcKernel::Wg64x64, 1024 + 8 * 16384 + 128),
        ];
        for (k, bytes) in want {
            assert_eq!(k.smem_bytes(), bytes, "{}", k.name());
            assert!(bytes <= 227 * 1024, "{} exceeds the sm_90 opt-in limit", k.name());
        }
        let src = include_str!("../../kernels/matmul_tc.cu");
        for needle in [
            "#define TC_MS_SMEM_BYTES (TC_MS_STAGES * (TC_MS_BM + TC_MS_BN) * TC_MS_BK * 2)",
            "#define TC_GV_SMEM_BUDGET (96 * 1024)",
            "static constexpr int SMEM_BYTES = 1024 + STAGES * STAGE_BYTES + 2 * STAGES * 8;",
            "TC_GV_EXPORT(gemv_w2_k256_m8, SUF, BF, OUT, 2, 1, 256)",
            "TC_GV_EXPORT(gemv_w4_m8, SUF, BF, OUT, 4, 1, 128)",
            "TC_GV_EXPORT(gemv_w4_m16, SUF, BF, OUT, 4, 2, 128)",
            "TC_GV_EXPORT(gemv_w4_m32, SUF, BF, OUT, 4, 4, 128)",
            "TC_WG_EXPORT(wg128x256, SUF, BF, OUT, 256, 2, 4)",
            "TC_WG_EXPORT(wg128x128, SUF, BF, OUT, 128, 2, 6)",
            "TC_WG_EXPORT(wg64x128, SUF, BF, OUT, 128, 1, 8)",
            "TC_WG_EXPORT(wg64x64, SUF, BF, OUT, 64, 1, 8)",
        ] {
            assert!(src.contains(needle), "matmul_tc.cu changed: {needle}");
        }
    }

    #[test]
    fn tensor_map_argument_has_the_kernel_parameter_layout() {
        // `TcTmaDesc` in matmul_tc.cu: 16 × u64, 64-byte aligned; the driver's map is the same 128 bytes.
        assert_eq!(std::mem::size_of::<TmaMap>(), 128);
        assert_eq!(std::mem::align_of::<TmaMap>(), 64);
        assert_eq!(std::mem::size_of::<CUtensorMap>(), 128);
        assert!(include_str!("../../kernels/matmul_tc.cu").contains("struct __align__(64) TcTmaDesc {\n  tc_u64 opaque[16];\n};"));
    }

    #[test]
    fn transpose_moves_values_only() {
        let b = [1, 2, 3, 4, 5, 6]; // 2×3
        assert_eq!(transpose(&b, 2, 3), vec![1, 4, 2, 5, 3, 6]);
    }

    #[test]
    fn tc_program_compiles_to_ieee_only_ptx_with_every_symbol_where_nvrtc_exists() {
        // Needs only libnvrtc, no GPU (30–70 s of compile); without it, a visible skip.
        // SAFETY: only probes whether the shared library can be opened.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipped: no libnvrtc here (NVRTC compile check of matmul_tc.cu)");
            return;
        }
        let ptx = crate::kernels::tc_ptx().unwrap_or_else(|e| panic!("{e}"));
        let mut entries = 0;
        for kern in TcKernel::ALL {
            for tin in [DType::Bf16, DType::F16] {
                for tout in DType::ALL {
                    let sym = kern.symbol(tin, tout);
                    assert!(ptx.contains(&format!(".entry {sym}(")), "{sym} missing from the PTX");
                    entries += 1;
                }
            }
        }
        assert_eq!(entries, 66);
        // Each entry's parameter list is the one the launcher pushes, and its thread bound
        // (`__launch_bounds__`) the block it launches.
        let wg = [".align 64 .b8 [128]", ".align 64 .b8 [128]", ".u64", ".u64", ".u32", ".u32", ".u32"];
        let plain = [".u64", ".u64", ".u64", ".u64", ".u32", ".u32", ".u32"];
        for kern in TcKernel::ALL {
            for tin in [DType::Bf16, DType::F16] {
                for tout in DType::ALL {
                    let sym = kern.symbol(tin, tout);
                    let (params, maxntid) = entry_signature(&ptx, &sym);
                    let want: &[&str] = if kern.wg().is_some() { &wg } else { &plain };
                    assert_eq!(params, want, "{sym}");
                    let block = kern.config(1000, 1000).block_dim.0;
                    if kern != TcKernel::Ref {
                        assert_eq!(maxntid, Some(block), "{sym}: launch bound vs launched block");
                    }
                }
            }
        }
        assert_eq!(ptx.matches(".entry ").count(), 66, "an exported kernel the table does not load");
        assert!(ptx.contains("wgmma.mma_async"), "no wgmma in the sm_90a PTX");
        assert!(ptx.contains(".target sm_90a"));
        for bad in [".ftz", ".approx", "rsqrt", "ex2", "lg2", "trap;"] {
            assert!(!ptx.contains(bad), "PTX contains {bad}");
        }
    }
}
