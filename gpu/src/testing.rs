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
