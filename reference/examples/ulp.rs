//! Measures elementwise accuracy (docs/spec/elementwise.md, "Accuracy").
//!
//! `cargo run --release -p lockstep-reference --example ulp -- <op|all> [stride] [lo hi]`
//!
//! stride 1 (default) = every input; without `lo hi` all 2^32 bit patterns, with them every
//! f32 in `[lo, hi]` (same sign; e.g. `-5 -0` or `0 inf`).

use lockstep_reference::elementwise::accuracy::{exhaustive, sweep};
use lockstep_reference::elementwise::Unary;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ops: Vec<Unary> = match args.first().map(String::as_str) {
        None | Some("all") => Unary::ALL.to_vec(),
        Some(s) => vec![Unary::parse(s).unwrap_or_else(|e| panic!("{e}"))],
    };
    let stride: u32 = args.get(1).map(|s| s.parse().expect("stride")).unwrap_or(1);
    let range = match (args.get(2), args.get(3)) {
        (Some(a), Some(b)) => {
            let (a, b): (f32, f32) = (a.parse().expect("lo"), b.parse().expect("hi"));
            assert!(a <= b && a.is_sign_negative() == b.is_sign_negative(), "need lo <= hi of one sign");
            Some(if a.is_sign_positive() {
                (a.to_bits(), b.to_bits())
            } else {
                (b.to_bits(), a.to_bits())
            })
        }
        _ => None,
    };
    for op in ops {
        let t = std::time::Instant::now();
        let r = match range {
            Some((lo, hi)) => sweep(op, lo, hi, stride),
            None if stride == 1 => exhaustive(op),
            None => sweep(op, 0, u32::MAX, stride),
        };
        println!("{r}  [{:.1} s]", t.elapsed().as_secs_f64());
    }
}
