//! One error type for the GPU crate. "No driver", "no device" and every CUDA failure are
//! values, never panics, and each names what failed: the op and its shape for a launch,
//! the contract and architecture for a compile.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// `libcuda` (or `libnvrtc`) could not be loaded: no NVIDIA driver or toolkit here.
    #[error("no CUDA driver: {0}")]
    NoDriver(String),
    /// The driver loaded but there is no usable device.
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// NVRTC rejected the kernels (or does not know this GPU's architecture).
    #[error("NVRTC compile for contract {contract} on {arch} failed: {log}")]
    Compile { contract: String, arch: String, log: String },
    /// The module loaded but lacks a kernel the table expects (caught at startup).
    #[error("kernel {symbol} could not be loaded for contract {contract}: {detail}")]
    MissingKernel { symbol: String, contract: String, detail: String },
    /// A CUDA call failed while running an op.
    #[error("{op} {shape}: CUDA error: {detail}")]
    Device { op: &'static str, shape: String, detail: String },
    /// The shape is valid for the reference but beyond this launcher's grid limits.
    #[error("{op} {shape}: too large for the GPU launcher: {detail}")]
    TooLarge { op: &'static str, shape: String, detail: String },
    /// cuBLAS failed (negative control only).
    #[error("cuBLAS {shape}: {detail}")]
    Cublas { shape: String, detail: String },
    /// Bad shapes, parameters and unsupported contracts: the reference's own error values.
    #[error(transparent)]
    Reference(#[from] lockstep_reference::Error),
}

impl Error {
    /// True when the error only says that this machine has no GPU (so a test may skip).
    pub fn is_no_gpu(&self) -> bool {
        matches!(self, Error::NoDriver(_) | Error::NoDevice(_))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Where an op failed: turns driver errors into [`Error::Device`] naming op and shape.
#[derive(Clone, Debug)]
pub(crate) struct At {
    pub op: &'static str,
    pub shape: String,
}

impl At {
    pub fn new(op: &'static str, shape: String) -> At {
        At { op, shape }
    }
    pub fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Device {
            op: self.op,
            shape: self.shape.clone(),
            detail: e.to_string(),
        }
    }
    pub fn too_large(&self, detail: impl Into<String>) -> Error {
        Error::TooLarge {
            op: self.op,
            shape: self.shape.clone(),
            detail: detail.into(),
        }
    }
}
