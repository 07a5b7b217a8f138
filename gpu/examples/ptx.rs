//! Prints the PTX that NVRTC makes of the program for an architecture (needs libnvrtc, no
//! GPU). Usage: cargo run -p lockstep-gpu --example ptx [sm_90a | tc]; `tc` prints the
//! tensor-core program (`matmul_tc.cu`, sm_90a).
fn main() {
    let arch = std::env::args().nth(1).unwrap_or_else(|| "sm_90a".into());
    let ptx = if arch == "tc" {
        lockstep_gpu::kernels::tc_ptx()
    } else {
        lockstep_gpu::kernels::ptx(&lockstep_reference::FMA_V1, &arch)
    };
    match ptx {
        Ok(p) => print!("{p}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
