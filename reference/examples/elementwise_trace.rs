//! Prints the intermediate values of exp and log for the worked examples in
//! docs/spec/elementwise.md. The steps are re-typed here from the spec and the final value
//! is asserted equal, bit for bit, to `elementwise::{exp, log}`, so the printout is the
//! library's computation. `cargo run --release -p lockstep-reference --example elementwise_trace`

use lockstep_reference::elementwise::consts::*;
use lockstep_reference::elementwise::{exp, log};

fn c(b: u32) -> f32 {
    f32::from_bits(b)
}

fn show(name: &str, v: f32) {
    println!("  {name:<4} = {v:>16e}  (0x{:08X})", v.to_bits());
}

fn showi(name: &str, v: i32) {
    println!("  {name:<4} = {v:>16}");
}

fn trace_exp(x: f32) {
    println!("exp({x:e}), x = 0x{:08X}", x.to_bits());
    let t = x * c(LOG2E);
    show("t", t);
    let kf = t.round_ties_even();
    show("kf", kf);
    let r1 = (-kf).mul_add(c(LN2_HI), x);
    show("r1", r1);
    let r = (-kf).mul_add(c(LN2_LO), r1);
    show("r", r);
    let mut p = c(EXP_E6);
    for (i, e) in [EXP_E5, EXP_E4, EXP_E3, EXP_E2].into_iter().enumerate() {
        p = p.mul_add(r, c(e));
        show(&format!("p{}", 5 - i), p);
    }
    p = p.mul_add(r, 1.0);
    show("p1", p);
    p = p.mul_add(r, 1.0);
    show("p0", p);
    let k = kf as i32;
    let k1 = k >> 1;
    let k2 = k - k1;
    showi("k1", k1);
    showi("k2", k2);
    let s1 = p * f32::from_bits(((k1 + 127) as u32) << 23);
    show("s1", s1);
    let y = s1 * f32::from_bits(((k2 + 127) as u32) << 23);
    show("y", y);
    assert_eq!(y.to_bits(), exp(x).to_bits(), "trace disagrees with elementwise::exp");
    println!("  (libm f64 reference: {:e})", libm::exp(x as f64));
}

fn trace_log(x: f32) {
    println!("log({x:e}), x = 0x{:08X}", x.to_bits());
    let mut bits = x.to_bits();
    let mut e_adj = 0;
    if bits < 0x0080_0000 {
        bits = (x * c(TWO_P23)).to_bits();
        e_adj = -23;
        println!("  subnormal: bits after *2^23 = 0x{bits:08X}, e_adj = -23");
    }
    let t = bits.wrapping_sub(LOG_M_LO) as i32;
    println!("  t    = 0x{:08X}", t as u32);
    let e = t >> 23;
    showi("e", e);
    let m = f32::from_bits(bits.wrapping_sub((e << 23) as u32));
    show("m", m);
    let f = m - 1.0;
    show("f", f);
    let s = f * f;
    show("s", s);
    let mut p = c(LOG_L10);
    for (i, l) in [LOG_L9, LOG_L8, LOG_L7, LOG_L6, LOG_L5, LOG_L4, LOG_L3].into_iter().enumerate() {
        p = p.mul_add(f, c(l));
        show(&format!("p{}", 9 - i), p);
    }
    p = p.mul_add(f, -0.5);
    show("p2", p);
    let r = p.mul_add(s, f);
    show("r", r);
    let ef = (e + e_adj) as f32;
    show("ef", ef);
    let r = ef.mul_add(c(LN2_LO), r);
    show("r'", r);
    let y = ef.mul_add(c(LN2_HI), r);
    show("y", y);
    assert_eq!(y.to_bits(), log(x).to_bits(), "trace disagrees with elementwise::log");
    println!("  (libm f64 reference: {:e})", libm::log(x as f64));
}

fn main() {
    trace_exp(2.5);
    trace_exp(-100.0);
    trace_log(10.0);
    trace_log(f32::from_bits(0x0000_0003));
}
