//! Prints the intermediate values of exp and log for the worked examples in
//! docs/spec/elementwise.md. The steps are re-typed here from the spec and the final value
//! is asserted equal, bit for bit, to `elementwise::{exp, log}`, so the printout is the
//! library's computation. `cargo run --release -p lockstep-reference --example elementwise_trace`
//! The test `worked_examples_quote_only_printed_bits` in `tests/elementwise.rs` checks that
//! every bit pattern the page's worked examples quote is printed here.

use lockstep_reference::elementwise::consts::*;
use lockstep_reference::elementwise::{exp, log};
use std::fmt::Write;

fn c(b: u32) -> f32 {
    f32::from_bits(b)
}

macro_rules! out {
    ($o:expr, $($t:tt)*) => { writeln!($o, $($t)*).unwrap() };
}

fn show(o: &mut String, name: &str, v: f32) {
    out!(o, "  {name:<4} = {v:>16e}  (0x{:08X})", v.to_bits());
}

fn showi(o: &mut String, name: &str, v: i32) {
    out!(o, "  {name:<4} = {v:>16}");
}

fn trace_exp(o: &mut String, x: f32) {
    out!(o, "exp({x:e}), x = 0x{:08X}", x.to_bits());
    let t = x * c(LOG2E);
    show(o, "t", t);
    let kf = t.round_ties_even();
    show(o, "kf", kf);
    let r1 = (-kf).mul_add(c(LN2_HI), x);
    show(o, "r1", r1);
    let r = (-kf).mul_add(c(LN2_LO), r1);
    show(o, "r", r);
    let mut p = c(EXP_E6);
    for (i, e) in [EXP_E5, EXP_E4, EXP_E3, EXP_E2].into_iter().enumerate() {
        p = p.mul_add(r, c(e));
        show(o, &format!("p{}", 5 - i), p);
    }
    p = p.mul_add(r, 1.0);
    show(o, "p1", p);
    p = p.mul_add(r, 1.0);
    show(o, "p0", p);
    let k = kf as i32;
    let k1 = k >> 1;
    let k2 = k - k1;
    showi(o, "k1", k1);
    showi(o, "k2", k2);
    let s1 = p * f32::from_bits(((k1 + 127) as u32) << 23);
    show(o, "s1", s1);
    let y = s1 * f32::from_bits(((k2 + 127) as u32) << 23);
    show(o, "y", y);
    assert_eq!(y.to_bits(), exp(x).to_bits(), "trace disagrees with elementwise::exp");
    out!(o, "  (libm f64 reference: {:e})", libm::exp(x as f64));
}

fn trace_log(o: &mut String, x: f32) {
    out!(o, "log({x:e}), x = 0x{:08X}", x.to_bits());
    let mut bits = x.to_bits();
    let mut e_adj = 0;
    if bits < 0x0080_0000 {
        bits = (x * c(TWO_P23)).to_bits();
        e_adj = -23;
        out!(o, "  subnormal: bits after *2^23 = 0x{bits:08X}, e_adj = -23");
    }
    out!(o, "  LOG_M_LO = 0x{LOG_M_LO:08X}");
    let t = bits.wrapping_sub(LOG_M_LO) as i32;
    out!(o, "  t    = 0x{:08X}", t as u32);
    let e = t >> 23;
    showi(o, "e", e);
    let m = f32::from_bits(bits.wrapping_sub((e << 23) as u32));
    show(o, "m", m);
    let f = m - 1.0;
    show(o, "f", f);
    let s = f * f;
    show(o, "s", s);
    let mut p = c(LOG_L10);
    for (i, l) in [LOG_L9, LOG_L8, LOG_L7, LOG_L6, LOG_L5, LOG_L4, LOG_L3].into_iter().enumerate() {
        p = p.mul_add(f, c(l));
        show(o, &format!("p{}", 9 - i), p);
    }
    p = p.mul_add(f, -0.5);
    show(o, "p2", p);
    let r = p.mul_add(s, f);
    show(o, "r", r);
    let ef = (e + e_adj) as f32;
    show(o, "ef", ef);
    let r = ef.mul_add(c(LN2_LO), r);
    show(o, "r'", r);
    let y = ef.mul_add(c(LN2_HI), r);
    show(o, "y", y);
    assert_eq!(y.to_bits(), log(x).to_bits(), "trace disagrees with elementwise::log");
    out!(o, "  (libm f64 reference: {:e})", libm::log(x as f64));
}

/// Everything the page's worked examples quote.
pub fn render() -> String {
    let mut o = String::new();
    trace_exp(&mut o, 2.5);
    trace_exp(&mut o, -100.0);
    trace_log(&mut o, 10.0);
    trace_log(&mut o, f32::from_bits(0x0000_0003));
    o
}

#[allow(dead_code)]
fn main() {
    print!("{}", render());
}
