//! Elementwise math (docs/spec/elementwise.md): special values with exact expected bits,
//! sampled accuracy sweeps against the stated bounds, and the tails where subnormal results
//! and overflow thresholds live.

use lockstep_reference::elementwise::accuracy::{check, reference_f64, stated_bound, sweep, Check};
use lockstep_reference::elementwise::consts::*;
use lockstep_reference::elementwise::{exp, gelu, log, rsqrt, sigmoid, silu, tanh, unary, unary_fast, Unary};
use ndarray::{ArrayD, IxDyn};

fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// Bitwise equality (any NaN equals any NaN).
fn same(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

#[track_caller]
fn expect(op: &str, x: f32, got: f32, want: f32) {
    assert!(
        same(got, want),
        "{op}({x:e} = 0x{:08X}) = {got:e} (0x{:08X}), want {want:e} (0x{:08X})",
        x.to_bits(),
        got.to_bits(),
        want.to_bits()
    );
}

/// The correctly rounded f32 value of the f64 reference (where the spec says the
/// algorithm attains it).
fn rounded(op: Unary, x: f32) -> f32 {
    reference_f64(op, x) as f32
}

#[track_caller]
fn within_bound(op: Unary, x: f32) {
    match check(op.eval(x), reference_f64(op, x)) {
        Check::Ulps(u) => assert!(u <= stated_bound(op), "{}({x:e}): {u} ulp", op.name()),
        c => panic!("{}({x:e}): {c:?}", op.name()),
    }
}

const NAN: f32 = f32::NAN;
const INF: f32 = f32::INFINITY;
const MIN_SUB: u32 = 0x0000_0001;
const MAX_SUB: u32 = 0x007F_FFFF;

#[test]
fn exp_special_values() {
    expect("exp", NAN, exp(NAN), NAN);
    expect("exp", -NAN, exp(-NAN), NAN);
    expect("exp", INF, exp(INF), INF);
    expect("exp", -INF, exp(-INF), 0.0);
    // e^0 = 1 exactly: k = 0, r = 0, both final fmas give 1.
    expect("exp", 0.0, exp(0.0), 1.0);
    expect("exp", -0.0, exp(-0.0), 1.0);
    // Subnormal and tiny inputs: 1 (correct rounding of 1 + x).
    expect("exp", f(MIN_SUB), exp(f(MIN_SUB)), 1.0);
    expect("exp", -f(MAX_SUB), exp(-f(MAX_SUB)), 1.0);
    // Overflow threshold: EXP_X_HI is finite (and correctly rounded), the next float is +inf.
    let hi = f(EXP_X_HI);
    assert!(exp(hi).is_finite());
    expect("exp", hi, exp(hi), rounded(Unary::Exp, hi));
    expect("exp", f(EXP_X_HI + 1), exp(f(EXP_X_HI + 1)), INF);
    expect("exp", f32::MAX, exp(f32::MAX), INF);
    // Underflow threshold: EXP_X_LO gives the smallest subnormal, the next float below +0.
    let lo = f(EXP_X_LO);
    expect("exp", lo, exp(lo), f(MIN_SUB));
    expect("exp", f(EXP_X_LO + 1), exp(f(EXP_X_LO + 1)), 0.0);
    expect("exp", f32::MIN, exp(f32::MIN), 0.0);
    // Exact powers of two in the subnormal range come out right (two-step scaling).
    for x in [-88.0f32, -95.0, -100.0, -103.0] {
        let y = exp(x);
        assert!(y > 0.0 && y < f32::MIN_POSITIVE, "exp({x}) = {y:e} should be subnormal");
        expect("exp", x, y, rounded(Unary::Exp, x));
    }
    for x in [1.0f32, -1.0, 0.5, 10.0, 80.0, -80.0] {
        within_bound(Unary::Exp, x);
    }
}

#[test]
fn log_special_values() {
    expect("log", NAN, log(NAN), NAN);
    expect("log", -NAN, log(-NAN), NAN);
    expect("log", 0.0, log(0.0), -INF);
    expect("log", -0.0, log(-0.0), -INF);
    expect("log", -1.0, log(-1.0), f(QNAN));
    expect("log", -f(MIN_SUB), log(-f(MIN_SUB)), f(QNAN));
    expect("log", -INF, log(-INF), f(QNAN));
    expect("log", INF, log(INF), INF);
    // log(1) = +0 exactly (f = 0, e = 0; every fma adds +0 to a zero product).
    expect("log", 1.0, log(1.0), 0.0);
    // Subnormal inputs go through the exact 2^23 lift; these are correctly rounded.
    for b in [MIN_SUB, 2, 3, 0x0000_1234, 0x0040_0000, MAX_SUB] {
        expect("log", f(b), log(f(b)), rounded(Unary::Log, f(b)));
    }
    for x in [2.0f32, 0.5, std::f32::consts::E, 10.0, f32::MAX, f32::MIN_POSITIVE] {
        within_bound(Unary::Log, x);
    }
}

#[test]
fn tanh_special_values() {
    expect("tanh", NAN, tanh(NAN), NAN);
    expect("tanh", 0.0, tanh(0.0), 0.0);
    expect("tanh", -0.0, tanh(-0.0), -0.0);
    expect("tanh", INF, tanh(INF), 1.0);
    expect("tanh", -INF, tanh(-INF), -1.0);
    expect("tanh", f(TANH_SAT), tanh(f(TANH_SAT)), 1.0);
    expect("tanh", -f(TANH_SAT), tanh(-f(TANH_SAT)), -1.0);
    // Subnormals: tanh(x) = x (q = -0 * ..., fma(q, a, a) = a).
    for b in [MIN_SUB, 0x0000_1234, MAX_SUB] {
        expect("tanh", f(b), tanh(f(b)), f(b));
        expect("tanh", -f(b), tanh(-f(b)), -f(b));
    }
    // Just below the saturation point the exp branch already gives 1 (tanh rounds to 1 for
    // |x| > 13 ln 2 = 9.0109...), so the saturation branch changes no result.
    let below = f(TANH_SAT - 1);
    expect("tanh", below, tanh(below), 1.0);
    within_bound(Unary::Tanh, 9.0);
    // Odd symmetry, bitwise, on a sweep of positive inputs.
    for b in (0..0x7F80_0000u32).step_by(9973) {
        let x = f(b);
        expect("tanh", -x, tanh(-x), -tanh(x));
    }
}

#[test]
fn rsqrt_sigmoid_silu_gelu_special_values() {
    expect("rsqrt", 0.0, rsqrt(0.0), INF);
    expect("rsqrt", -0.0, rsqrt(-0.0), -INF);
    expect("rsqrt", -1.0, rsqrt(-1.0), NAN);
    expect("rsqrt", INF, rsqrt(INF), 0.0);
    expect("rsqrt", 4.0, rsqrt(4.0), 0.5);
    expect("rsqrt", f(MIN_SUB), rsqrt(f(MIN_SUB)), rounded(Unary::Rsqrt, f(MIN_SUB)));

    expect("sigmoid", NAN, sigmoid(NAN), NAN);
    expect("sigmoid", 0.0, sigmoid(0.0), 0.5);
    expect("sigmoid", -0.0, sigmoid(-0.0), 0.5);
    expect("sigmoid", INF, sigmoid(INF), 1.0);
    expect("sigmoid", -INF, sigmoid(-INF), 0.0);
    expect("sigmoid", 20.0, sigmoid(20.0), 1.0);
    // Far negative tail: e / (1 + e) with 1 + e = 1 returns exp(x) itself, subnormals kept.
    for x in [-90.0f32, -100.0, f(EXP_X_LO)] {
        expect("sigmoid", x, sigmoid(x), exp(x));
        assert!(sigmoid(x) > 0.0);
    }
    expect("sigmoid", f(EXP_X_LO + 1), sigmoid(f(EXP_X_LO + 1)), 0.0);

    expect("silu", NAN, silu(NAN), NAN);
    expect("silu", 0.0, silu(0.0), 0.0);
    expect("silu", -0.0, silu(-0.0), -0.0);
    expect("silu", INF, silu(INF), INF);
    expect("silu", -INF, silu(-INF), -0.0);
    expect("silu", f(XSIG_Z_CUT), silu(f(XSIG_Z_CUT)), -0.0);
    expect("silu", f32::MAX, silu(f32::MAX), f32::MAX);
    // silu(-x) tail: x e^x stays nonzero well past exp's own underflow (-103.97).
    for x in [-90.0f32, -100.0, -105.0] {
        let y = silu(x);
        assert!(y < 0.0, "silu({x}) = {y:e}");
    }
    // Subnormal inputs: x / 2, exact.
    expect("silu", f(0x0000_1234), silu(f(0x0000_1234)), f(0x0000_091A));
    expect("silu", -f(0x0000_1234), silu(-f(0x0000_1234)), -f(0x0000_091A));

    expect("gelu", NAN, gelu(NAN), NAN);
    expect("gelu", 0.0, gelu(0.0), 0.0);
    expect("gelu", -0.0, gelu(-0.0), -0.0);
    expect("gelu", INF, gelu(INF), INF);
    expect("gelu", -INF, gelu(-INF), -0.0);
    expect("gelu", 1e10, gelu(1e10), 1e10);
    expect("gelu", f32::MAX, gelu(f32::MAX), f32::MAX);
    expect("gelu", -1e10, gelu(-1e10), -0.0);
    expect("gelu", f(0x0000_1234), gelu(f(0x0000_1234)), f(0x0000_091A));
}

/// Every special rule of the accuracy check holds, and the error is within the stated bound,
/// on a stride through all 2^32 bit patterns (the exhaustive numbers are in the spec).
#[test]
fn sampled_sweep_within_stated_bounds() {
    for op in Unary::ALL {
        let r = sweep(op, 0, u32::MAX, 2039);
        assert!(r.inputs > 2_000_000);
        assert_eq!(r.special_failures, 0, "{r}");
        assert!(r.max_ulp <= stated_bound(op), "{r} exceeds stated bound {}", stated_bound(op));
    }
}

/// Dense sweeps where the interesting cases live.
#[test]
fn dense_sweeps_of_the_tails() {
    // (op, a, b) with a < b of one sign.
    let ranges: &[(Unary, f32, f32)] = &[
        // exp: subnormal outputs and both thresholds, and the reduction's centre.
        (Unary::Exp, -104.5, -86.0),
        (Unary::Exp, 86.0, 89.0),
        (Unary::Exp, -0.36, -0.0),
        (Unary::Exp, 0.0, 0.36),
        // log: around 1 (where log1p's relative accuracy shows), and the subnormal inputs.
        (Unary::Log, 0.9, 1.1),
        (Unary::Log, 0.0, 1.2e-38),
        // tanh: the branch point and the saturation point.
        (Unary::Tanh, 0.5, 0.6),
        (Unary::Tanh, 8.5, 10.5),
        // sigmoid/silu/gelu tails.
        (Unary::Sigmoid, -105.0, -86.0),
        (Unary::Silu, -121.0, -86.0),
        (Unary::Gelu, -11.0, -2.0),
    ];
    for &(op, a, b) in ranges {
        // Positive floats order like their bits, negative ones the other way round.
        let (lo, hi) = if a.is_sign_positive() {
            (a.to_bits(), b.to_bits())
        } else {
            (b.to_bits(), a.to_bits())
        };
        assert!(lo <= hi && a.is_sign_negative() == b.is_sign_negative());
        // Every input where the range holds up to 4M of them, else an even stride.
        let stride = ((hi - lo) / 4_000_000).max(1);
        let r = sweep(op, lo, hi, stride);
        assert_eq!(r.inputs, ((hi - lo) / stride) as u64 + 1);
        assert_eq!(r.special_failures, 0, "{r}");
        assert!(r.max_ulp <= stated_bound(op), "{r} exceeds stated bound {}", stated_bound(op));
    }
}

#[test]
fn ulp_check_definition() {
    // The correctly rounded 1/3 scores <= 0.5 ulp, the next f32 up between 0.5 and 1.5 (ulp(1/3) = 2^-25).
    let t = 1.0f64 / 3.0;
    let y = (t as f32).to_bits();
    match check(f(y), t) {
        Check::Ulps(u) => assert!(u <= 0.5),
        c => panic!("{c:?}"),
    }
    match check(f(y + 1), t) {
        Check::Ulps(u) => assert!(u > 0.5 && u <= 1.5),
        c => panic!("{c:?}"),
    }
    // Subnormal results are measured in units of 2^-149.
    assert_eq!(check(f(3), 2f64.powi(-149)), Check::Ulps(2.0));
    assert_eq!(check(0.0, 2f64.powi(-149)), Check::Ulps(1.0));
    // Specials are pass/fail, never ulps.
    assert_eq!(check(NAN, f64::NAN), Check::SpecialOk);
    assert_eq!(check(1.0, f64::NAN), Check::SpecialFail);
    assert_eq!(check(NAN, 1.0), Check::SpecialFail);
    assert_eq!(check(-INF, f64::NEG_INFINITY), Check::SpecialOk);
    assert_eq!(check(f32::MAX, f64::INFINITY), Check::SpecialFail);
    assert_eq!(check(-0.0, 0.0), Check::SpecialFail);
    // Overflow: inf is right iff the reference rounds to inf.
    assert_eq!(check(INF, 1e39), Check::SpecialOk);
    assert_eq!(check(INF, f32::MAX as f64), Check::SpecialFail);
}

#[test]
fn unary_fast_equals_unary() {
    let xs: Vec<f32> = (0..4096u32).map(|i| f(i.wrapping_mul(0x9E37_79B9))).collect();
    let x = ArrayD::from_shape_vec(IxDyn(&[64, 64]), xs).unwrap();
    for op in Unary::ALL {
        let a: ArrayD<f32> = unary(op, x.view());
        let b: ArrayD<f32> = unary_fast(op, x.view());
        assert!(a.iter().zip(b.iter()).all(|(&p, &q)| same(p, q)), "{}", op.name());
        assert_eq!(Unary::parse(op.name()).unwrap(), op);
    }
    assert!(Unary::parse("erf").is_err());
}

#[allow(dead_code)]
#[path = "../examples/elementwise_trace.rs"]
mod trace;

mod common;
use common::hex_tokens;

/// The worked examples of docs/spec/elementwise.md are the code's own numbers: every bit
/// pattern they quote is printed by `examples/elementwise_trace.rs` (which asserts its
/// final values equal `exp`/`log`), so a change of exp's or log's bits fails here until the
/// page is regenerated.
#[test]
fn worked_examples_quote_only_printed_bits() {
    let page = include_str!("../../docs/spec/elementwise.md");
    let page = &page[page.find("| op | stride 257 |").expect("fingerprint table")..];
    let start = page.find("## Worked examples").expect("worked examples section");
    let rest = &page[start..];
    let section = &rest[..rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3)];
    let printed = hex_tokens(&trace::render());
    let quoted = hex_tokens(section);
    assert!(quoted.len() >= 40, "only {} bit patterns quoted", quoted.len());
    let stale: Vec<&String> = quoted.difference(&printed).collect();
    assert!(stale.is_empty(), "elementwise.md quotes bit patterns the trace does not print: {stale:?}");
}

/// The scaled tail of x_sigmoid with x = 1 is exp's own scaling: sigmoid(x) = exp(x) bit for
/// bit for every x < -80 (spec: "sigmoid, silu, gelu").
#[test]
fn sigmoid_tail_is_exp() {
    let (lo, hi) = ((-80.0f32).to_bits() + 1, (-121.0f32).to_bits());
    for b in (lo..=hi).step_by(7) {
        let x = f(b);
        expect("sigmoid", x, sigmoid(x), exp(x));
    }
}

/// The f64 references take the limits at the infinities (x * sigmoid(x) -> -0 at -inf).
#[test]
fn references_at_infinities() {
    for op in Unary::ALL {
        for x in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0, -0.0] {
            let c = check(op.eval(x), reference_f64(op, x));
            assert_ne!(c, Check::SpecialFail, "{}({x})", op.name());
            if let Check::Ulps(u) = c {
                assert!(u <= 0.5, "{}({x}): {u} ulp", op.name());
            }
        }
    }
}

/// The sweep's report (max, worst input, counts) does not depend on the thread count.
#[test]
fn sweep_is_thread_count_independent() {
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| sweep(Unary::Tanh, 0x3F00_0000, 0x3F20_0000, 3))
    };
    let (a, b) = (run(1), run(3));
    assert_eq!(a, b);
    assert!(a.max_ulp > 0.5 && a.not_correctly_rounded > 0, "{a}");
}

/// The stride-257 output fingerprints quoted in docs/spec/elementwise.md are the reference's
/// (a port, e.g. the CUDA mirror, compares against that table).
#[test]
fn spec_fingerprints_match() {
    use lockstep_reference::elementwise::accuracy::fingerprint;
    let page = include_str!("../../docs/spec/elementwise.md");
    let page = &page[page.find("| op | stride 257 |").expect("fingerprint table")..];
    for op in Unary::ALL {
        let prefix = format!("| {} | `", op.name());
        let row = page
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no fingerprint row for {}", op.name()));
        let quoted = row.split('`').nth(1).unwrap();
        assert_eq!(quoted, format!("{:016x}", fingerprint(op, 257)), "{}", op.name());
    }
}
