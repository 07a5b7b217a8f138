//! The device handle: context, stream, and the kernel tables per contract.

use crate::error::{Error, Result};
use crate::kernels::{arch_name, nvrtc_version, Kernels};
use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use lockstep_reference::{Contract, Element, FMA_V1};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What `lockstep conform` prints about the device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GpuInfo {
    pub ordinal: usize,
    pub name: String,
    pub compute_capability: (i32, i32),
    /// The NVRTC target the kernels were compiled for (`sm_90a` on an H100).
    pub arch: String,
    pub sm_count: i32,
    /// The most shared memory one CTA may opt into (227 KiB on sm_90, 99 KiB on sm_86 and
    /// sm_89): what the kernels are allowed at load and what their launch plans ask for.
    pub smem_per_block_optin: usize,
    /// Shared memory of one SM (228 KiB on sm_90), which the CTAs resident on it share: the
    /// row plans weigh cluster sizes by how many CTAs fit (ops/rowplan.rs).
    pub smem_per_sm: usize,
    pub total_memory_bytes: usize,
    /// `cuDriverGetVersion`, as (major, minor): the CUDA version the driver supports.
    pub driver_cuda_version: (i32, i32),
    /// The NVRTC (toolkit) version that compiled the kernels.
    pub nvrtc_version: (i32, i32),
    /// The kernel driver's own version (`580.159.04`), from `/proc/driver/nvidia/version`
    /// on Linux; `None` where that file is absent.
    pub driver_version: Option<String>,
}

impl std::fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GPU {}: {} (sm_{}{}, {} SMs, {:.1} GiB), target {}, driver {}(CUDA {}.{}), NVRTC {}.{}",
            self.ordinal,
            self.name,
            self.compute_capability.0,
            self.compute_capability.1,
            self.sm_count,
            self.total_memory_bytes as f64 / (1u64 << 30) as f64,
            self.arch,
            self.driver_version.as_deref().map(|v| format!("{v} ")).unwrap_or_default(),
            self.driver_cuda_version.0,
            self.driver_cuda_version.1,
            self.nvrtc_version.0,
            self.nvrtc_version.1
        )
    }
}

struct Shared {
    ctx: Arc<CudaContext>,
    info: GpuInfo,
    kernels: Mutex<HashMap<Contract, Arc<Kernels>>>,
    /// The tensor-core matmul kernels, loaded when an `mma-sm90` matmul first runs.
    tc: Mutex<Option<Arc<crate::ops::matmul_tc::TcKernels>>>,
}

/// A GPU with lockstep's kernels loaded. Cheap to clone; clones share the stream.
/// [`Gpu::new_stream`] gives a handle on its own stream (same kernels), so two threads
/// can run ops concurrently.
#[derive(Clone)]
pub struct Gpu {
    shared: Arc<Shared>,
    stream: Arc<CudaStream>,
}

fn driver_version() -> Result<(i32, i32)> {
    let mut v = 0i32;
    // SAFETY: the driver library is present (checked by the caller); writes one int.
    let r = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    if r != cudarc::driver::sys::CUresult::CUDA_SUCCESS {
        return Err(Error::NoDriver(format!("cuDriverGetVersion: {r:?}")));
    }
    Ok((v / 1000, (v % 1000) / 10))
}

/// The version in `/proc/driver/nvidia/version`'s first line (`NVRM version: NVIDIA UNIX
/// x86_64 Kernel Module  580.159.04  ...`): the first token that looks like `N.N[.N]`.
fn kernel_driver_version() -> Option<String> {
    let text = std::fs::read_to_string("/proc/driver/nvidia/version").ok()?;
    parse_driver_version(text.lines().next()?)
}

fn parse_driver_version(line: &str) -> Option<String> {
    line.split_whitespace()
        .find(|t| t.contains('.') && t.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        .map(str::to_string)
}

impl Gpu {
    /// Opens device 0 and compiles (once per process) and loads the `fma-v1` kernels.
    /// No driver, no device or no NVRTC is an [`Error`], never a panic.
    pub fn open() -> Result<Gpu> {
        Gpu::open_ordinal(0)
    }

    pub fn open_ordinal(ordinal: usize) -> Result<Gpu> {
        // SAFETY: only probes whether the shared library can be opened. cudarc panics on
        // the first driver call when libcuda is absent, so this must come first.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(Error::NoDriver("libcuda (the NVIDIA driver library) could not be loaded".into()));
        }
        let count = CudaContext::device_count().map_err(|e| Error::NoDevice(format!("cuInit/cuDeviceGetCount: {e}")))?;
        if count <= ordinal as i32 {
            return Err(Error::NoDevice(format!("device {ordinal} requested, {count} present")));
        }
        let driver_cuda_version = driver_version()?;
        let nvrtc_version = nvrtc_version()?;
        let dev = |e: cudarc::driver::DriverError| Error::NoDevice(format!("device {ordinal}: {e}"));
        let ctx = CudaContext::new(ordinal).map_err(dev)?;
        let cc = ctx.compute_capability().map_err(dev)?;
        let info = GpuInfo {
            ordinal,
            name: ctx.name().map_err(dev)?,
            compute_capability: cc,
            arch: arch_name(cc),
            sm_count: ctx.attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT).map_err(dev)?,
            smem_per_block_optin: ctx
                .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
                .map_err(dev)?
                .max(0) as usize,
            smem_per_sm: ctx
                .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR)
                .map_err(dev)?
                .max(0) as usize,
            total_memory_bytes: ctx.total_mem().map_err(dev)?,
            driver_cuda_version,
            nvrtc_version,
            driver_version: kernel_driver_version(),
        };
        let stream = ctx.new_stream().map_err(dev)?;
        let gpu = Gpu {
            shared: Arc::new(Shared {
                ctx,
                info,
                kernels: Mutex::new(HashMap::new()),
                tc: Mutex::new(None),
            }),
            stream,
        };
        gpu.kernels(&FMA_V1)?;
        Ok(gpu)
    }

    pub fn info(&self) -> &GpuInfo {
        &self.shared.info
    }

    /// A handle on a new stream of the same device, sharing the loaded kernels.
    pub fn new_stream(&self) -> Result<Gpu> {
        let stream = self.shared.ctx.new_stream().map_err(|e| Error::NoDevice(format!("new stream: {e}")))?;
        Ok(Gpu {
            shared: self.shared.clone(),
            stream,
        })
    }

    /// Waits for everything queued on this handle's stream.
    pub fn synchronize(&self) -> Result<()> {
        self.stream.synchronize().map_err(|e| Error::Device {
            op: "synchronize",
            shape: String::new(),
            detail: e.to_string(),
        })
    }

    /// The kernel table of a contract: compiled once per process, loaded once per device.
    pub(crate) fn kernels(&self, c: &Contract) -> Result<Arc<Kernels>> {
        c.validate()?;
        let mut map = self.shared.kernels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = map.get(c) {
            return Ok(k.clone());
        }
        let k = Arc::new(Kernels::load(&self.shared.ctx, c, &self.shared.info)?);
        map.insert(c.clone(), k.clone());
        Ok(k)
    }

    /// The tensor-core kernel table (`mma-sm90`): compiled once per process and loaded once
    /// per device, on first use; the caller has checked that the device is sm_90.
    pub(crate) fn tc_kernels(&self, c: &Contract) -> Result<Arc<crate::ops::matmul_tc::TcKernels>> {
        let mut slot = self.shared.tc.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = slot.as_ref() {
            return Ok(k.clone());
        }
        let k = Arc::new(crate::ops::matmul_tc::TcKernels::load(&self.shared.ctx, c)?);
        *slot = Some(k.clone());
        Ok(k)
    }

    pub(crate) fn context(&self) -> &Arc<CudaContext> {
        &self.shared.ctx
    }

    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Copies elements to the device as their raw bits (f32: 4 bytes, 16-bit types: 2).
    pub(crate) fn upload<T: Element>(&self, x: &[T]) -> std::result::Result<CudaSlice<u8>, cudarc::driver::DriverError> {
        let w = T::DTYPE.size_bytes();
        let mut bytes = Vec::with_capacity(x.len() * w);
        if w == 4 {
            x.iter().for_each(|v| bytes.extend_from_slice(&v.bits().to_le_bytes()));
        } else {
            x.iter().for_each(|v| bytes.extend_from_slice(&(v.bits() as u16).to_le_bytes()));
        }
        self.stream.clone_htod(&bytes)
    }

    /// A zeroed device buffer for `n` elements of `T`.
    pub(crate) fn alloc<T: Element>(&self, n: usize) -> std::result::Result<CudaSlice<u8>, cudarc::driver::DriverError> {
        self.stream.alloc_zeros::<u8>(n * T::DTYPE.size_bytes())
    }

    /// Copies `n` elements of `T` back and waits for the stream (so a failed kernel is
    /// reported here, by the op that launched it).
    pub(crate) fn download<T: Element>(&self, buf: &CudaSlice<u8>) -> std::result::Result<Vec<T>, cudarc::driver::DriverError> {
        let bytes = self.stream.clone_dtoh(buf)?;
        self.stream.synchronize()?;
        let w = T::DTYPE.size_bytes();
        Ok(bytes
            .chunks_exact(w)
            .map(|c| {
                if w == 4 {
                    T::from_bits_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                } else {
                    T::from_bits_u32(u16::from_le_bytes([c[0], c[1]]) as u32)
                }
            })
            .collect())
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu({})", self.shared.info)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn driver_version_is_read_from_the_proc_line() {
        let line = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Tue Oct 14 19:14:19 UTC 2025";
        assert_eq!(super::parse_driver_version(line).as_deref(), Some("580.159.04"));
        assert_eq!(super::parse_driver_version("NVRM version: unknown"), None);
    }
}
