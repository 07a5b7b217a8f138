//! Prints `accuracy::fingerprint` of every elementwise op, to compare another
//! implementation (the CUDA mirror `gpu/kernels/elementwise.cuh`, a C port) with the
//! reference. `cargo run --release -p lockstep-reference --example elementwise_fingerprint -- [stride]`

use lockstep_reference::elementwise::accuracy::fingerprint;
use lockstep_reference::elementwise::Unary;

fn main() {
    let stride: u32 = std::env::args().nth(1).map(|s| s.parse().expect("stride")).unwrap_or(65537);
    for op in Unary::ALL {
        println!("{} {:016x}", op.name(), fingerprint(op, stride));
    }
}
