//! How tests and the CLI get a GPU: a missing GPU is a visible skip, unless
//! `LOCKSTEP_REQUIRE_GPU=1` (set by `bundle/run-all` on the GPU machine) makes it an error,
//! so that a GPU run can never pass by skipping.

use crate::device::Gpu;
use crate::error::Result;

/// The one switch that turns "no GPU" from a skip into a failure.
pub const REQUIRE_GPU_ENV: &str = "LOCKSTEP_REQUIRE_GPU";

/// Whether `LOCKSTEP_REQUIRE_GPU` is set to anything but empty or `0`.
pub fn gpu_required() -> bool {
    std::env::var(REQUIRE_GPU_ENV).map(|v| !v.is_empty() && v != "0").unwrap_or(false)
}

/// Opens the GPU for `what` (a test or command name). `Ok(None)` after printing
/// `skipped: no CUDA device (...)` to stderr when there is none and it is not required;
/// `Err` when it is required or the GPU is present but broken (e.g. a compile error).
pub fn open_or_skip(what: &str) -> Result<Option<Gpu>> {
    match Gpu::open() {
        Ok(g) => Ok(Some(g)),
        Err(e) if e.is_no_gpu() && !gpu_required() => {
            // Written to stderr directly, not through eprintln!, so that the test harness's
            // output capture cannot hide the skip.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "{what}: skipped: no CUDA device ({e}); set {REQUIRE_GPU_ENV}=1 to make this a failure"
            );
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The shapes the GPU unit tests of the register engine run (rows, width, the kernel the
/// plan must pick at L = 1024): both kernels, a partial last chunk, odd widths that defeat
/// vector loads, fewer rows than SMs.
#[cfg(test)]
pub(crate) const REGISTER_ENGINE_ROWS: [(usize, usize, crate::ops::rowplan::RowKernel); 6] = {
    use crate::ops::rowplan::RowKernel::{Regs, Regs4};
    [
        (140, 8192, Regs),
        (133, 4097, Regs),
        (150, 6001, Regs),
        (135, 4096, Regs4),
        (140, 3001, Regs4),
        (3, 1000, Regs4),
    ]
};

/// Rows for the GPU unit tests of the row engines: uniform in [-8, 8) from a fixed seed
/// (so a failure reproduces), with `special` every 97th element (diagonally) and 3.0
/// (repeated values: ties of max) after it.
#[cfg(test)]
pub(crate) fn test_rows<T: lockstep_reference::Element>(rows: usize, h: usize, special: f32) -> ndarray::Array2<T> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ (rows * h) as u64;
    ndarray::Array2::from_shape_fn((rows, h), |(i, j)| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let u = (state >> 40) as f32 / (1u64 << 24) as f32;
        T::from_f32(match (i + j) % 97 {
            0 => special,
            1 => 3.0,
            _ => 16.0 * u - 8.0,
        })
    })
}

/// Asserts that `got` and `want` have the same bits, element by element.
#[cfg(test)]
pub(crate) fn assert_same_bits<E: lockstep_reference::Element>(got: &ndarray::Array2<E>, want: &ndarray::Array2<E>, what: &str) {
    assert_eq!(got.dim(), want.dim(), "{what}: shape");
    for (k, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(g.bits(), w.bits(), "{what}: element {k}");
    }
}

/// Runs `f` on the GPU, or skips visibly without one (see [`open_or_skip`]).
#[cfg(test)]
pub(crate) fn with_gpu(what: &str, f: impl FnOnce(&Gpu)) {
    if let Some(gpu) = open_or_skip(what).unwrap_or_else(|e| panic!("{e}")) {
        f(&gpu)
    }
}
