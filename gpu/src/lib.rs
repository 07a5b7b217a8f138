//! # lockstep-gpu
//!
//! CUDA kernels compiled at run time with NVRTC (through `cudarc`) that implement the
//! trees of `lockstep-reference` bit for bit. (Being built: see the GPU backend issue.)
