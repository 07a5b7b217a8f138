//! Prints the NVRTC program (generated header + every kernel source) for a contract, as
//! `gpu/src/kernels.rs` compiles it. `scripts/gpu-emulate` runs it on the CPU.
//! Usage: cargo run -p lockstep-gpu --example program [fma-v1 | KC LANES]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = match args.as_slice() {
        [] => lockstep_reference::FMA_V1,
        [id] => lockstep_reference::Contract::by_id(id).unwrap_or_else(|e| panic!("{e}")).clone(),
        [kc, lanes] => lockstep_reference::Contract::custom(
            lockstep_reference::KStepKind::Fma,
            Some(kc.parse().expect("KC")),
            lanes.parse().expect("LANES"),
            64,
            256,
        )
        .unwrap_or_else(|e| panic!("{e}")),
        _ => panic!("usage: program [CONTRACT_ID | KC LANES]"),
    };
    print!("{}", lockstep_gpu::kernels::program(&c));
}
