//! Prints the NVRTC program (generated header + every kernel source) for a contract, as
//! `gpu/src/kernels.rs` compiles it. `scripts/gpu-emulate` runs it on the CPU.
//! Usage: cargo run -p lockstep-gpu --example program [fma-v1 | KC LANES [BN S]]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = match args.as_slice() {
        [] => lockstep_reference::FMA_V1,
        [id] => lockstep_reference::Contract::by_id(id).unwrap_or_else(|e| panic!("{e}")).clone(),
        [kc, lanes, rest @ ..] if rest.is_empty() || rest.len() == 2 => lockstep_reference::Contract::custom(
            lockstep_reference::KStepKind::Fma,
            Some(kc.parse().expect("KC")),
            lanes.parse().expect("LANES"),
            rest.first().map_or(64, |x| x.parse().expect("BN")),
            rest.get(1).map_or(256, |x| x.parse().expect("S")),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        _ => panic!("usage: program [CONTRACT_ID | KC LANES [BN S]]"),
    };
    print!("{}", lockstep_gpu::kernels::program(&c));
}
