//! Prints the PTX of a contract's program as `gpu/src/kernels.rs` compiles it through NVRTC
//! (the same options and parts, each part after a `// ---- part NAME ----` line), without a
//! GPU: needs libnvrtc 13 on the library path. `scripts/ptx-regs` runs ptxas on it to show
//! what each kernel costs in registers under NVRTC, which is not what nvcc gives for the
//! same source (docs/perf.md, third session).
//! Usage: cargo run --release -p lockstep-gpu --example ptx [fma-v1 | CONTRACT_ID] [ARCH]
//! (LOCKSTEP_PTX_CACHE=DIR reuses and fills the on-disk cache, as everywhere.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = args.first().map_or(lockstep_reference::FMA_V1, |id| {
        lockstep_reference::Contract::by_id(id).unwrap_or_else(|e| panic!("{e}")).clone()
    });
    let arch = args.get(1).cloned().unwrap_or_else(|| "sm_90a".into());
    match lockstep_gpu::kernels::ptx(&c, &arch) {
        Ok(p) => print!("{p}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
