//! Prints the PTX of a contract's program as `gpu/src/kernels.rs` compiles it through NVRTC
//! (the same options and parts, each part after a `// ---- part NAME ----` line), without a
//! GPU: needs libnvrtc 13 on the library path. `scripts/ptx-regs` runs ptxas on it to show
//! what each kernel costs in registers under NVRTC, which is not what nvcc gives for the
//! same source (docs/perf.md, third session).
//! Usage: cargo run --release -p lockstep-gpu --example ptx [CONTRACT_ID] [ARCH] (defaults
//! fma-v1, sm_90a; an `sm_…` argument alone is the architecture), or `… --example ptx tc`
//! for the tensor-core program (`matmul_tc.cu`, sm_90a).
//! (LOCKSTEP_PTX_CACHE=DIR reuses and fills the on-disk cache, as everywhere.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ptx = if args.first().is_some_and(|a| a == "tc") {
        lockstep_gpu::kernels::tc_ptx()
    } else {
        let (arch, ids): (Vec<&String>, Vec<&String>) = args.iter().partition(|a| a.starts_with("sm_"));
        let c = ids.first().map_or(lockstep_reference::FMA_V1, |id| {
            lockstep_reference::Contract::by_id(id).unwrap_or_else(|e| panic!("{e}")).clone()
        });
        lockstep_gpu::kernels::ptx(&c, arch.first().map_or("sm_90a", |a| a.as_str()))
    };
    match ptx {
        Ok(p) => print!("{p}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
