//! Fills the on-disk PTX cache (`LOCKSTEP_PTX_CACHE`, docs/gpu.md) for an architecture
//! without a GPU: the published contracts, the tensor-core program, the custom contracts of
//! `conformance/tests/gpu_conformance.rs` and every contract of `lockstep bench --sweep`. `scripts/gpu-bundle` runs it (with `PTX=1`) so that the GPU
//! machine, whose NVRTC has the same version, compiles nothing: the cache key holds the
//! NVRTC version, the options and the program text, so a mismatch only costs a compile.
//! Usage: LOCKSTEP_PTX_CACHE=DIR cargo run --release -p lockstep-gpu --example ptx_cache [ARCH] [--published | --sweep-filter=TEXT]
//! (ARCH defaults to sm_90a; `--published`: only the published and test contracts.)
use lockstep_gpu::{bench, kernels};
use lockstep_reference::{Contract, KStepKind, FMA_V1, MMA_SM90_V1};

/// The custom contracts `conformance/tests/gpu_conformance.rs` compiles (KC, L, BN, S); a
/// change there only costs the GPU machine a compile.
const TEST_CONTRACTS: [(Option<usize>, usize, usize, usize); 3] = [(Some(64), 32, 64, 256), (None, 1024, 64, 256), (Some(64), 32, 8, 24)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let published = args.iter().any(|a| a == "--published");
    // `--sweep-filter=TEXT`: only the sweep rows `lockstep bench --sweep --filter TEXT` runs.
    let sweep_filter = args.iter().find_map(|a| a.strip_prefix("--sweep-filter=")).map(String::from);
    let arch = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_else(|| "sm_90a".into());
    let mut contracts = vec![FMA_V1, MMA_SM90_V1];
    for (kc, l, bn, s) in TEST_CONTRACTS {
        contracts.push(Contract::custom(KStepKind::Fma, kc, l, bn, s).expect("valid test contract"));
    }
    if !published {
        for c in bench::sweep_contracts(&bench::sweep_jobs(false, sweep_filter.as_deref()).0) {
            if !contracts.contains(&c) {
                contracts.push(c);
            }
        }
    }
    let mut failed = false;
    if arch == "sm_90a" {
        if let Err(e) = kernels::tc_ptx() {
            eprintln!("tensor-core program: {e}");
            failed = true;
        }
    }
    // Each contract compiles its parts in parallel threads; one contract at a time.
    for c in &contracts {
        let t = std::time::Instant::now();
        match kernels::ptx(c, &arch) {
            Ok(_) => eprintln!("{}: {:.1} s", bench::contract_label(c), t.elapsed().as_secs_f64()),
            Err(e) => {
                eprintln!("{}: {e}", bench::contract_label(c));
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
