//! Negative control: cuBLAS sgemm through the same batch-invariance check as lockstep's
//! kernels. A vendor GEMM picks its kernel (tile shape, split-K) from the shape, so row 0
//! of `A[:b]·B` need not equal row 0 of `A·B`; lockstep's kernels must always agree. The
//! report says by how much each one differs, for `lockstep conform` and the GPU tests.

use crate::device::Gpu;
use crate::error::{Error, Result};
use cudarc::cublas::sys::{cublasMath_t, cublasOperation_t, cublasStatus_t};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaSlice, DevicePtr, DevicePtrMut};
use half::bf16;
use lockstep_reference::FMA_V1;
use ndarray::{s, Array2, ArrayView2};
use serde::Serialize;

/// One prefix of the batch: rows `0..rows` computed alone vs the same rows of the full batch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeRow {
    pub rows: usize,
    pub elements: usize,
    /// Elements whose bits differ (any NaN equals any NaN).
    pub differing: usize,
    /// Largest |alone - in batch| over finite pairs.
    pub max_abs_diff: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InvarianceReport {
    /// `cublas-sgemm` or `lockstep-fma-v1`.
    pub backend: String,
    /// cuBLAS math mode requested (`pedantic`: no TF32, no reduced precision), or `-`.
    pub math_mode: String,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub rows: Vec<ProbeRow>,
}

impl InvarianceReport {
    /// True when every prefix equals its rows of the full batch bit for bit.
    pub fn invariant(&self) -> bool {
        self.rows.iter().all(|r| r.differing == 0)
    }
    pub fn max_abs_diff(&self) -> f64 {
        self.rows.iter().map(|r| r.max_abs_diff).fold(0.0, f64::max)
    }
    pub fn summary(&self) -> String {
        let worst = self
            .rows
            .iter()
            .filter(|r| r.differing > 0)
            .map(|r| format!("{} rows: {} differ", r.rows, r.differing))
            .collect::<Vec<_>>();
        format!(
            "{} ({}) A {}×{} · B {}×{}: {}; max |diff| {}",
            self.backend,
            self.math_mode,
            self.m,
            self.k,
            self.k,
            self.n,
            if worst.is_empty() {
                "batch invariant on every prefix".to_string()
            } else {
                worst.join(", ")
            },
            self.max_abs_diff()
        )
    }
}

/// The inputs of the well-known demonstration: `linspace(-1000, 1000)` filled row-major
/// into A (M×K) and B (K×N), each value computed in f64 and rounded once to f32.
pub fn linspace_inputs(m: usize, k: usize, n: usize) -> (Array2<f32>, Array2<f32>) {
    let lin = |len: usize| -> Vec<f32> {
        let d = (len.max(2) - 1) as f64;
        (0..len).map(|i| (-1000.0 + 2000.0 * i as f64 / d) as f32).collect()
    };
    (
        Array2::from_shape_vec((m, k), lin(m * k)).expect("m*k values"),
        Array2::from_shape_vec((k, n), lin(k * n)).expect("k*n values"),
    )
}

fn compare_prefix(full: &Array2<f32>, part: &Array2<f32>) -> ProbeRow {
    let rows = part.nrows();
    let mut r = ProbeRow {
        rows,
        elements: part.len(),
        differing: 0,
        max_abs_diff: 0.0,
    };
    for (&x, &y) in full.slice(s![..rows, ..]).iter().zip(part.iter()) {
        if !lockstep_reference::dtype::same_bits(x, y) {
            r.differing += 1;
            let d = (x as f64 - y as f64).abs();
            if d.is_finite() {
                r.max_abs_diff = r.max_abs_diff.max(d);
            }
        }
    }
    r
}

/// Row-major `C = A·B` with cuBLAS sgemm in pedantic math mode (as `Cᵀ = Bᵀ·Aᵀ` in
/// cuBLAS's column-major terms), for the first `rows` rows of A.
fn sgemm(gpu: &Gpu, blas: &CudaBlas, a: &Array2<f32>, b: &Array2<f32>, rows: usize) -> Result<Array2<f32>> {
    let (k, n) = b.dim();
    let shape = format!("sgemm A {rows}×{k} · B {k}×{n}");
    let err = |e: &dyn std::fmt::Display| Error::Cublas {
        shape: shape.clone(),
        detail: e.to_string(),
    };
    let s = gpu.stream();
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let da = s.clone_htod(&a.as_slice().unwrap_or_default()[..rows * k]).map_err(|e| err(&e))?;
    let db = s.clone_htod(b.as_slice().unwrap_or_default()).map_err(|e| err(&e))?;
    let mut dc = s.alloc_zeros::<f32>(rows * n).map_err(|e| err(&e))?;
    let cfg = GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_N,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: n as i32,
        n: rows as i32,
        k: k as i32,
        alpha: 1.0f32,
        lda: n as i32,
        ldb: k as i32,
        beta: 0.0f32,
        ldc: n as i32,
    };
    // SAFETY: dimensions and leading dimensions describe exactly the buffers above.
    unsafe { blas.gemm(cfg, &db, &da, &mut dc) }.map_err(|e| err(&e))?;
    let v = s.clone_dtoh(&dc).map_err(|e| err(&e))?;
    s.synchronize().map_err(|e| err(&e))?;
    Array2::from_shape_vec((rows, n), v).map_err(|e| err(&e))
}

fn check_shape(m: usize, k: usize, n: usize, batches: &[usize]) -> Result<()> {
    if m == 0 || k == 0 || n == 0 || m.max(k).max(n) > i32::MAX as usize {
        return Err(lockstep_reference::Error::shape("invariance_probe", format!("M, K, N = {m}, {k}, {n} must be in 1..2^31")).into());
    }
    if let Some(&b) = batches.iter().find(|&&b| b == 0 || b > m) {
        return Err(lockstep_reference::Error::param("invariance_probe", format!("prefix of {b} rows outside 1..={m}")).into());
    }
    Ok(())
}

/// cuBLAS sgemm (pedantic math: no TF32) through the batch-invariance check: for each
/// `b` in `batches`, `A[:b]·B` vs the first `b` rows of `A·B`, on the linspace inputs.
pub fn invariance_probe(gpu: &Gpu, m: usize, k: usize, n: usize, batches: &[usize]) -> Result<InvarianceReport> {
    check_shape(m, k, n, batches)?;
    // SAFETY: only probes whether the shared library can be opened (cudarc panics otherwise).
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err(Error::NoDriver("libcublas could not be loaded".into()));
    }
    let blas = CudaBlas::new(gpu.stream().clone()).map_err(|e| Error::Cublas {
        shape: "-".into(),
        detail: format!("create handle: {e}"),
    })?;
    // SAFETY: a valid handle; sets a mode flag.
    let st = unsafe { cudarc::cublas::sys::cublasSetMathMode(*blas.handle(), cublasMath_t::CUBLAS_PEDANTIC_MATH) };
    if st != cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Err(Error::Cublas {
            shape: "-".into(),
            detail: format!("cublasSetMathMode(PEDANTIC): {st:?}"),
        });
    }
    let (a, b) = linspace_inputs(m, k, n);
    let full = sgemm(gpu, &blas, &a, &b, m)?;
    let mut rows = Vec::new();
    for &r in batches {
        rows.push(compare_prefix(&full, &sgemm(gpu, &blas, &a, &b, r)?));
    }
    Ok(InvarianceReport {
        backend: "cublas-sgemm".into(),
        math_mode: "pedantic".into(),
        m,
        k,
        n,
        rows,
    })
}

/// The same check on lockstep's own `mm` (fma-v1, f32): every prefix must agree.
pub fn lockstep_probe(gpu: &Gpu, m: usize, k: usize, n: usize, batches: &[usize]) -> Result<InvarianceReport> {
    check_shape(m, k, n, batches)?;
    let (a, b) = linspace_inputs(m, k, n);
    let full: Array2<f32> = gpu.mm(&FMA_V1, a.view(), b.view())?;
    let mut rows = Vec::new();
    for &r in batches {
        let part: Array2<f32> = gpu.mm(&FMA_V1, a.slice(s![..r, ..]), b.view())?;
        rows.push(compare_prefix(&full, &part));
    }
    Ok(InvarianceReport {
        backend: format!("lockstep-{}", FMA_V1.id()),
        math_mode: "-".into(),
        m,
        k,
        n,
        rows,
    })
}

// ---- Baselines on device buffers, for the benchmark (`crate::bench`). ----

/// A cuBLAS handle on `gpu`'s stream; `pedantic` requests `CUBLAS_PEDANTIC_MATH` (no TF32,
/// no reduced precision: the sgemm baseline), otherwise the default math mode (the bf16
/// baseline, which may then use tensor cores).
pub fn handle(gpu: &Gpu, pedantic: bool) -> Result<CudaBlas> {
    // SAFETY: only probes whether the shared library can be opened (cudarc panics otherwise).
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err(Error::NoDriver("libcublas could not be loaded".into()));
    }
    let blas = CudaBlas::new(gpu.stream().clone()).map_err(|e| Error::Cublas {
        shape: "-".into(),
        detail: format!("create handle: {e}"),
    })?;
    if pedantic {
        // SAFETY: a valid handle; sets a mode flag.
        let st = unsafe { cudarc::cublas::sys::cublasSetMathMode(*blas.handle(), cublasMath_t::CUBLAS_PEDANTIC_MATH) };
        if st != cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            return Err(Error::Cublas {
                shape: "-".into(),
                detail: format!("cublasSetMathMode(PEDANTIC): {st:?}"),
            });
        }
    }
    Ok(blas)
}

fn blas_dims(what: &str, m: usize, k: usize, n: usize) -> Result<(i32, i32, i32)> {
    let i = |x: usize| i32::try_from(x).ok().filter(|&v| v > 0);
    match (i(m), i(k), i(n)) {
        (Some(m), Some(k), Some(n)) => Ok((m, k, n)),
        _ => Err(Error::Cublas {
            shape: format!("{what} {m}×{k}×{n}"),
            detail: "M, K, N must be in 1..2^31".into(),
        }),
    }
}

fn blas_need(what: &str, buf: &CudaSlice<u8>, bytes: usize) -> Result<()> {
    if buf.num_bytes() < bytes {
        return Err(Error::Cublas {
            shape: what.into(),
            detail: format!("device buffer of {} bytes, needs {bytes}", buf.num_bytes()),
        });
    }
    Ok(())
}

/// Row-major `C = A·B` (A M×K, B K×N, C M×N, f32 as raw bytes) with `cublasSgemm` on a
/// handle from [`handle`] (pedantic for the baseline): `Cᵀ = Bᵀ·Aᵀ` in cuBLAS's
/// column-major terms. Only enqueues.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_device(gpu: &Gpu, blas: &CudaBlas, a: &CudaSlice<u8>, b: &CudaSlice<u8>, c: &mut CudaSlice<u8>, m: usize, k: usize, n: usize) -> Result<()> {
    let (mi, ki, ni) = blas_dims("sgemm", m, k, n)?;
    blas_need("sgemm A", a, m * k * 4)?;
    blas_need("sgemm B", b, k * n * 4)?;
    blas_need("sgemm C", c, m * n * 4)?;
    let s = gpu.stream();
    let (pa, _ga) = a.device_ptr(s);
    let (pb, _gb) = b.device_ptr(s);
    let (pc, _gc) = c.device_ptr_mut(s);
    let (alpha, beta) = (1.0f32, 0.0f32);
    // SAFETY: the buffers hold the sizes checked above and outlive the call (the guards are
    // alive until the end of the function, after the enqueue); alpha/beta are host values
    // (the handle's default pointer mode).
    let st = unsafe {
        cudarc::cublas::sys::cublasSgemm_v2(
            *blas.handle(),
            cublasOperation_t::CUBLAS_OP_N,
            cublasOperation_t::CUBLAS_OP_N,
            ni,
            mi,
            ki,
            &alpha,
            pb as *const f32,
            ni,
            pa as *const f32,
            ki,
            &beta,
            pc as *mut f32,
            ni,
        )
    };
    if st != cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Err(Error::Cublas {
            shape: format!("sgemm A {m}×{k} · B {k}×{n}"),
            detail: format!("{st:?}"),
        });
    }
    Ok(())
}

/// Row-major bf16 `C = A·B` with `cublasGemmEx` (bf16 in and out, f32 compute, default
/// algorithm): with `b_is_w`, `b` holds W = Bᵀ (N×K, the weight layout, the "TN" call),
/// otherwise B (K×N, "NN"). Only enqueues.
#[allow(clippy::too_many_arguments)]
pub fn gemm_bf16_device(
    gpu: &Gpu,
    blas: &CudaBlas,
    a: &CudaSlice<u8>,
    b: &CudaSlice<u8>,
    c: &mut CudaSlice<u8>,
    m: usize,
    k: usize,
    n: usize,
    b_is_w: bool,
) -> Result<()> {
    use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cudaDataType};
    let (mi, ki, ni) = blas_dims("gemm bf16", m, k, n)?;
    blas_need("gemm bf16 A", a, m * k * 2)?;
    blas_need("gemm bf16 B", b, k * n * 2)?;
    blas_need("gemm bf16 C", c, m * n * 2)?;
    let s = gpu.stream();
    let (pa, _ga) = a.device_ptr(s);
    let (pb, _gb) = b.device_ptr(s);
    let (pc, _gc) = c.device_ptr_mut(s);
    let (alpha, beta) = (1.0f32, 0.0f32);
    // Cᵀ (N×M, column-major) = op(B)·Aᵀ: B as stored is column-major Bᵀ (ld N, op N) or,
    // stored as W (N×K row-major), column-major Wᵀ (ld K, op T).
    let (opb, ldb) = if b_is_w {
        (cublasOperation_t::CUBLAS_OP_T, ki)
    } else {
        (cublasOperation_t::CUBLAS_OP_N, ni)
    };
    // SAFETY: as in `sgemm_device`; compute type 32F takes f32 alpha/beta.
    let st = unsafe {
        cudarc::cublas::sys::cublasGemmEx(
            *blas.handle(),
            opb,
            cublasOperation_t::CUBLAS_OP_N,
            ni,
            mi,
            ki,
            &alpha as *const f32 as *const std::ffi::c_void,
            pb as *const std::ffi::c_void,
            cudaDataType::CUDA_R_16BF,
            ldb,
            pa as *const std::ffi::c_void,
            cudaDataType::CUDA_R_16BF,
            ki,
            &beta as *const f32 as *const std::ffi::c_void,
            pc as *mut std::ffi::c_void,
            cudaDataType::CUDA_R_16BF,
            ni,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    };
    if st != cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Err(Error::Cublas {
            shape: format!("gemm bf16 A {m}×{k} · B {k}×{n}{}", if b_is_w { " (W = Bᵀ)" } else { "" }),
            detail: format!("{st:?}"),
        });
    }
    Ok(())
}

/// Row-major `C = A·B` with cuBLAS's bf16 GEMM ([`gemm_bf16_device`]: bf16 A, B and C, f32
/// compute, the default algorithm and math mode), host arrays in and out: the informative
/// check of `mma_probe::cublas_bf16_check`. cuBLAS chooses its kernel (and any split of K)
/// from the shape, which is what that check looks at.
pub fn gemm_bf16_host(gpu: &Gpu, a: ArrayView2<bf16>, b: ArrayView2<bf16>) -> Result<Array2<bf16>> {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    if k != k2 {
        return Err(lockstep_reference::Error::shape("gemm_bf16_host", format!("A {m}×{k} · B {k2}×{n}")).into());
    }
    let err = |e: cudarc::driver::DriverError| Error::Cublas {
        shape: format!("gemm bf16 A {m}×{k} · B {k}×{n}"),
        detail: e.to_string(),
    };
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let blas = handle(gpu, false)?;
    let da = gpu.upload(a.as_slice().unwrap_or_default()).map_err(err)?;
    let db = gpu.upload(b.as_slice().unwrap_or_default()).map_err(err)?;
    let mut dc = gpu.alloc::<bf16>(m * n).map_err(err)?;
    gemm_bf16_device(gpu, &blas, &da, &db, &mut dc, m, k, n, false)?;
    let v = gpu.download::<bf16>(&dc).map_err(err)?;
    Ok(Array2::from_shape_vec((m, n), v).expect("m × n values"))
}
