//! Prints the worked example of docs/spec/mma-sm90.md.
//!
//! `cargo run --release -p lockstep-reference --example mma_sm90`
//!
//! It walks one tensor-core step through the rule's steps with its own, deliberately plain
//! integer arithmetic (i128, one term at a time), printing every intermediate, and asserts
//! that the result equals `tensor_core::mma_step` bit for bit; then it shows a ragged chain
//! through `mm`. `reference/tests/mma_sm90_rule.rs` includes this file and checks that every
//! bit pattern quoted in the page's worked example is one this program prints.

use half::bf16;
use lockstep_reference::dtype::{Class, Element};
use lockstep_reference::matmul::kstep::{FmaStep, KStep, MmaSm90Step};
use lockstep_reference::matmul::{mm, tensor_core::mma_step};
use lockstep_reference::MMA_SM90_V1;
use ndarray::Array2;

thread_local! {
    static OUT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

macro_rules! outln {
    ($($t:tt)*) => {{
        OUT.with(|o| {
            use std::fmt::Write;
            writeln!(o.borrow_mut(), $($t)*).unwrap();
        })
    }};
}

fn f(x: f32) -> String {
    format!("{x:?} [0x{:08X}]", x.to_bits())
}
fn fb(x: bf16) -> String {
    format!("{:?} [0x{:04X}]", x.to_f32(), x.to_bits())
}

/// (signed significand, exponent of its last bit): value = m · 2^e.
fn parts<T: Element>(x: T) -> (i128, i32, i32) {
    match x.class() {
        Class::Finite(p) => {
            let m = if p.neg { -(p.sig as i128) } else { p.sig as i128 };
            (m, p.exp - T::MANT_BITS as i32, p.exp)
        }
        Class::Zero => (0, 0, 0),
        _ => panic!("the example uses finite values only"),
    }
}

/// `m · 2^e` as a count of `2^lsb`, truncated toward zero.
fn units(m: i128, e: i32, lsb: i32) -> i128 {
    let s = e - lsb;
    if s >= 0 {
        m << s
    } else {
        let q = m.abs() >> (-s);
        if m < 0 {
            -q
        } else {
            q
        }
    }
}

fn step_example() {
    let c = 0.7f32;
    let a: Vec<bf16> = [1.75f32, -2.5, 0.3, 0.001, 0.0123].iter().map(|&x| bf16::from_f32(x)).collect();
    let b: Vec<bf16> = [1.25f32, 0.375, -0.7, 3.0, -0.00071].iter().map(|&x| bf16::from_f32(x)).collect();
    outln!("## One step: D = a·b + C, five products (the other eleven are zero)\n");
    outln!("C = {}", f(c));
    for k in 0..a.len() {
        outln!("a[{k}] = {}   b[{k}] = {}", fb(a[k]), fb(b[k]));
    }
    // Steps 1-2: exact terms and their nominal top weights.
    outln!("\nsteps 1-2: exact terms (m · 2^e) and nominal top weights T = 2^top");
    let mut terms: Vec<(String, i128, i32, i32)> = Vec::new();
    for k in 0..a.len() {
        let (ma, ea, xa) = parts(a[k]);
        let (mb, eb, xb) = parts(b[k]);
        let (m, e, top) = (ma * mb, ea + eb, xa + xb + 1);
        outln!("  p{k} = ({ma}·2^{ea})·({mb}·2^{eb}) = {m}·2^{e}   Ea = {xa}, Eb = {xb}: top = Ea+Eb+1 = {top}");
        terms.push((format!("p{k}"), m, e, top));
    }
    let (mc, ec, xc) = parts(c);
    outln!("  C  = {mc}·2^{ec}   Ec = {xc}: top = Ec+1 = {}", xc + 1);
    terms.push(("C".into(), mc, ec, xc + 1));
    // Step 3.
    let top = terms.iter().filter(|t| t.1 != 0).map(|t| t.3).max().unwrap();
    let lsb = (top - 26).max(-158);
    outln!("\nstep 3: T = 2^{top};  step 4: every term truncated toward zero to a multiple of T/2^26 = 2^{lsb}");
    let mut sum = 0i128;
    for (name, m, e, _) in &terms {
        let u = units(*m, *e, lsb);
        let exact_units = if e - lsb >= 0 {
            format!("{}", m << (e - lsb))
        } else {
            format!("{m}/2^{}", lsb - e)
        };
        outln!("  {name:>2}: {exact_units} → {u}   (units of 2^{lsb})");
        sum += u;
    }
    // Steps 5-6.
    outln!("\nstep 5: exact sum = {sum} · 2^{lsb}");
    let mag = sum.unsigned_abs();
    let bits_len = 128 - mag.leading_zeros() as i32;
    let msb = bits_len - 1 + lsb;
    let q_lsb = (msb - 23).max(-149);
    let q = mag >> (q_lsb - lsb);
    outln!(
        "step 6: {bits_len} significant bits, msb 2^{msb}; keep 24: lsb 2^{q_lsb}, significand {q} = 0x{q:06X} (dropped {} units)",
        mag - (q << (q_lsb - lsb))
    );
    let d = f32::from_bits((if sum < 0 { 0x8000_0000 } else { 0 }) | ((((q_lsb + 149) as u32) << 23) + q as u32));
    outln!("D = {}", f(d));
    let model = mma_step(c, &a, &b);
    assert_eq!(d.to_bits(), model.to_bits(), "step by step {} but mma_step {}", f(d), f(model));
    outln!("mma_step gives the same bits: {}", f(model));
    // Comparisons.
    let fma = FmaStep::chain(c, &a, &b);
    let exact: f64 = a.iter().zip(&b).fold(c as f64, |s, (x, y)| s + x.to_f32() as f64 * y.to_f32() as f64);
    outln!(
        "\nfor comparison: IEEE fma chain from C = {}; exact sum {exact:?} rounded to nearest = {}",
        f(fma),
        f(exact as f32)
    );
    outln!();
}

fn chain_example() {
    outln!("## A ragged chain: K = 20 under mma-sm90-v1 (steps k = 0..15, then 16..19 padded with zeros)\n");
    let k = 20;
    // Exponents spread over 2^-5 .. 2^5 so that the sums need more than 24 bits.
    let a = Array2::from_shape_fn((1, k), |(_, j)| bf16::from_f32(1.0 / (j + 1) as f32 * 2f32.powi(((j * 7) % 11) as i32 - 5)));
    let b = Array2::from_shape_fn((k, 1), |(j, _)| {
        bf16::from_f32(if j % 2 == 0 { 0.1 * (j + 1) as f32 } else { -0.07 * (j + 1) as f32 })
    });
    let (ar, bc) = (a.row(0).to_vec(), b.column(0).to_vec());
    outln!("a[k] = bf16(2^((7k mod 11) − 5) / (k+1)), b[k] = bf16(0.1·(k+1)) for even k, bf16(−0.07·(k+1)) for odd k:");
    for j in 0..k {
        outln!("  k = {j:>2}: a = {}   b = {}", fb(ar[j]), fb(bc[j]));
    }
    let s1 = mma_step(0.0, &ar[..16], &bc[..16]);
    outln!("step 1: acc = mma_step(+0, k = 0..15)  = {}", f(s1));
    let s2 = mma_step(s1, &ar[16..], &bc[16..]);
    outln!("step 2: acc = mma_step(acc, k = 16..19) = {}", f(s2));
    let out: Array2<f32> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
    assert_eq!(out[[0, 0]].to_bits(), s2.to_bits());
    assert_eq!(MmaSm90Step::chain(0.0, &ar, &bc).to_bits(), s2.to_bits());
    let ob: Array2<bf16> = mm(&MMA_SM90_V1, a.view(), b.view()).unwrap();
    outln!("mm (f32 out) = {}; bf16 out = {}", f(out[[0, 0]]), fb(ob[[0, 0]]));
    outln!("fma-v1's chain for comparison: {}", f(FmaStep::chain(0.0, &ar, &bc)));
    outln!();
}

/// Runs the example and returns what it printed.
pub fn printed() -> String {
    OUT.with(|o| o.borrow_mut().clear());
    step_example();
    chain_example();
    OUT.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

fn main() {
    print!("{}", printed());
}
