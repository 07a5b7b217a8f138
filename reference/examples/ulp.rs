//! Measures elementwise accuracy (docs/spec/elementwise.md, "Accuracy").
//! `cargo run --release -p lockstep-reference --example ulp -- <op|all> [stride]`
//! stride 1 (default) = all 2^32 inputs.

use lockstep_reference::elementwise::accuracy::{exhaustive, sweep};
use lockstep_reference::elementwise::Unary;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ops: Vec<Unary> = match args.first().map(String::as_str) {
        None | Some("all") => Unary::ALL.to_vec(),
        Some(s) => vec![Unary::parse(s).unwrap_or_else(|e| panic!("{e}"))],
    };
    let stride: u32 = args.get(1).map(|s| s.parse().expect("stride")).unwrap_or(1);
    for op in ops {
        let t = std::time::Instant::now();
        let r = if stride == 1 { exhaustive(op) } else { sweep(op, 0, u32::MAX, stride) };
        println!("{r}  [{:.1} s]", t.elapsed().as_secs_f64());
    }
}
