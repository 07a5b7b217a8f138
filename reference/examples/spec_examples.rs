//! Prints the worked examples of the spec pages (docs/spec/*.md).
//!
//! `cargo run --release -p lockstep-reference --example spec_examples [section]`
//!
//! Every example recomputes its op step by step, printing each intermediate with its bit
//! pattern, and then asserts that the step-by-step result equals the reference op bit for
//! bit: the numbers on the spec pages are the reference's numbers, not hand arithmetic.
//! Sections: dtypes, reduce, matmul, rmsnorm, softmax, mean, rope, attention, sampling (default: all).
//!
//! `reference/tests/spec_examples.rs` includes this file and checks that every bit pattern
//! quoted in a page's worked example is one this program prints, so the pages cannot keep
//! stale numbers when an op changes.

use half::{bf16, f16};
use lockstep_reference::attention::{self, AttnParams};
use lockstep_reference::dtype::same_bits;
use lockstep_reference::elementwise::{exp, log, rsqrt};
use lockstep_reference::matmul::{self, kstep::FmaStep, kstep::KStep};
use lockstep_reference::philox::{philox4x32_10, uniform_open, word};
use lockstep_reference::reduce::max2;
use lockstep_reference::reduce::{lane_reduce, Max, Sum, SumSq};
use lockstep_reference::rmsnorm::{rmsnorm, rmsnorm_residual, RmsnormParams};
use lockstep_reference::rope::{rope, rope_tables, RopeParams};
use lockstep_reference::sample::{sample, SampleParams};
use lockstep_reference::{mean, softmax, Contract, KStepKind, FMA_V1};
use ndarray::{array, Array1, Array2, Array3};

thread_local! {
    static OUT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `println!` into a buffer, so that a test can read what a section prints.
macro_rules! outln {
    ($($t:tt)*) => {{
        OUT.with(|o| {
            use std::fmt::Write;
            writeln!(o.borrow_mut(), $($t)*).unwrap();
        })
    }};
}

/// `value [0xBITS]` with the shortest decimal that round-trips.
fn f(x: f32) -> String {
    format!("{x:?} [0x{:08X}]", x.to_bits())
}
fn fb(x: bf16) -> String {
    format!("{:?} [0x{:04X}]", x.to_f32(), x.to_bits())
}
fn fh(x: f16) -> String {
    format!("{:?} [0x{:04X}]", x.to_f32(), x.to_bits())
}
fn check(what: &str, a: f32, b: f32) {
    assert!(same_bits(a, b), "{what}: step-by-step {} but reference {}", f(a), f(b));
}

fn dtypes() {
    outln!("## dtypes: rounding f32 to bf16 and f16 (RNE)\n");
    outln!("| f32 input | bf16 | f16 |\n|---|---|---|");
    let xs = [
        1.0 + 2f32.powi(-8),
        1.0 + 3.0 * 2f32.powi(-8),
        1.0 + 2f32.powi(-11),
        0.1,
        -0.0,
        65519.0,
        65520.0,
        3.389_531_4e38,
        f32::MAX,
        2f32.powi(-133),
        2f32.powi(-134),
        2f32.powi(-149),
        2f32.powi(-25),
        3.0 * 2f32.powi(-26),
        f32::INFINITY,
        f32::NAN,
    ];
    for x in xs {
        outln!("| {} | {} | {} |", f(x), fb(bf16::from_f32(x)), fh(f16::from_f32(x)));
    }
    outln!(
        "\nwidening (exact): bf16 0x0001 = {}, f16 0x0001 = {}",
        f(bf16::from_bits(1).to_f32()),
        f(f16::from_bits(1).to_f32())
    );
    outln!(
        "widening (exact): bf16 0x7F7F = {}, f16 0x7BFF = {}\n",
        f(bf16::from_bits(0x7F7F).to_f32()),
        f(f16::from_bits(0x7BFF).to_f32())
    );
}

fn reduce() {
    outln!("## reduce: lane tree, L = 4, 10 elements\n");
    // x_i = (±1) / (i + 9), + for even i: one IEEE division each.
    let x: Vec<f32> = (0..10).map(|i| if i % 2 == 0 { 1.0f32 } else { -1.0 } / (i + 9) as f32).collect();
    for (i, v) in x.iter().enumerate() {
        outln!("x{i} = {}", f(*v));
    }
    let mut lane = [0.0f32; 4];
    for (l, acc) in lane.iter_mut().enumerate() {
        let mut i = l;
        while i < x.len() {
            let new = *acc + x[i];
            outln!("lane{l} = {} + x{i} = {}", f(*acc), f(new));
            *acc = new;
            i += 4;
        }
    }
    let l0 = lane[0] + lane[2];
    let l1 = lane[1] + lane[3];
    outln!("stride 2: lane0 = lane0 + lane2 = {}", f(l0));
    outln!("stride 2: lane1 = lane1 + lane3 = {}", f(l1));
    let r = l0 + l1;
    outln!("stride 1: lane0 = lane0 + lane1 = {}", f(r));
    check("sum L=4", r, lane_reduce::<Sum>(4, &x));
    let c4 = Contract::custom(KStepKind::Fma, Some(4), 4, 4, 8).unwrap();
    let via_op: Array2<f32> = mean::sum(&c4, Array2::from_shape_vec((1, 10), x.clone()).unwrap().view()).unwrap();
    check("mean::sum L=4", r, via_op[[0, 0]]);
    let seq = x.iter().fold(0.0f32, |a, &b| a + b);
    outln!("for comparison, left-to-right sum = {}", f(seq));
    outln!("same 10 elements with L = 1024 (fma-v1) = {}", f(lane_reduce::<Sum>(1024, &x)));
    outln!(
        "max, L = 4, x = [-0, +0]: {}; x = [+0, -0]: {}",
        f(lane_reduce::<Max>(4, &[-0.0, 0.0])),
        f(lane_reduce::<Max>(4, &[0.0, -0.0]))
    );
    outln!();
}

fn matmul_example() {
    outln!("## matmul: 2x8x8, f32 in, fma k-step, KC = 4 (custom contract)\n");
    let c = Contract::custom(KStepKind::Fma, Some(4), 4, 4, 8).unwrap();
    let a = Array2::from_shape_fn((2, 8), |(i, k)| 1.0f32 / (i + k + 1) as f32);
    let b = Array2::from_shape_fn((8, 8), |(k, j)| ((k * 8 + j) % 7) as f32 * 0.25 - 0.75);
    outln!("A[i][k] = 1/(i+k+1) (one IEEE division each):");
    for i in 0..2 {
        outln!("  row {i}: {}", a.row(i).iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", "));
    }
    outln!("B[k][j] = ((8k+j) mod 7)*0.25 - 0.75 (exact):");
    for k in 0..8 {
        outln!("  row {k}: {}", b.row(k).iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", "));
    }
    let bias = Array1::from_shape_fn(8, |j| j as f32 * 0.5 - 1.0);
    outln!("bias[j] = j*0.5 - 1: {:?}", bias.to_vec());
    let y: Array2<f32> = matmul::addmm(&c, a.view(), b.view(), bias.view()).unwrap();
    let yb: Array2<bf16> = matmul::addmm(&c, a.view(), b.view(), bias.view()).unwrap();
    let one: Array2<f32> = matmul::mm(&Contract::custom(KStepKind::Fma, None, 4, 4, 8).unwrap(), a.view(), b.view()).unwrap();
    outln!("\n| i | j | p0 (k=0..3) | p1 (k=4..7) | t = p0 + p1 | t + bias[j] (f32 out) | bf16 out | one chain, KC = none (mm) |");
    outln!("|---|---|---|---|---|---|---|---|");
    for i in 0..2 {
        for j in 0..8 {
            let ar: Vec<f32> = a.row(i).to_vec();
            let bc: Vec<f32> = b.column(j).to_vec();
            let p0 = FmaStep::chain(0.0, &ar[..4], &bc[..4]);
            let p1 = FmaStep::chain(0.0, &ar[4..], &bc[4..]);
            let t = p0 + p1;
            let tb = t + bias[j];
            check("addmm", tb, y[[i, j]]);
            check("addmm bf16", bf16::from_f32(tb).to_f32(), yb[[i, j]].to_f32());
            outln!(
                "| {i} | {j} | {} | {} | {} | {} | {} | {} |",
                f(p0),
                f(p1),
                f(t),
                f(tb),
                fb(yb[[i, j]]),
                f(one[[i, j]])
            );
        }
    }
    // The chain of one output, spelled out.
    let (ar, bc) = (a.row(0).to_vec(), b.column(1).to_vec());
    outln!("\nchain of C[0][1]:");
    let mut acc = 0.0f32;
    for k in 0..8 {
        if k == 4 {
            outln!("  (chunk boundary: p0 = {}, restart from +0)", f(acc));
            acc = 0.0;
        }
        let new = ar[k].mul_add(bc[k], acc);
        outln!("  k={k}: acc = fma({:?}, {:?}, {:?}) = {}", ar[k], bc[k], acc, f(new));
        acc = new;
    }
    outln!();
}

fn rmsnorm_example() {
    outln!("## rmsnorm: one row, f32 in, fma-v1, eps = 1e-6\n");
    let x = array![[1.0f32, -2.0, 3.0, 0.5]];
    let w = array![1.0f32, 0.5, 2.0, -1.0];
    let p = RmsnormParams { eps: 1e-6 };
    outln!("eps = {}", f(p.eps));
    let xr = x.row(0).to_vec();
    let ss = lane_reduce::<SumSq>(FMA_V1.lanes, &xr);
    let h = xr.len() as f32;
    let ms = ss / h;
    let mse = ms + p.eps;
    let sq = mse.sqrt();
    let r = 1.0 / sq;
    check("rsqrt", r, rsqrt(mse));
    outln!(
        "ss = {}\nms = ss / 4 = {}\nms + eps = {}\nsqrt = {}\nr = 1 / sqrt = {}",
        f(ss),
        f(ms),
        f(mse),
        f(sq),
        f(r)
    );
    let y: Array2<f32> = rmsnorm(&FMA_V1, x.view(), w.view(), p).unwrap();
    let yb: Array2<bf16> = rmsnorm(&FMA_V1, x.view(), w.view(), p).unwrap();
    outln!("\n| i | x_i | w_i | x_i * r | (x_i * r) * w_i (f32 out) | bf16 out |\n|---|---|---|---|---|---|");
    for i in 0..4 {
        let xr_i = xr[i] * r;
        let yi = xr_i * w[i];
        check("rmsnorm", yi, y[[0, i]]);
        outln!("| {i} | {:?} | {:?} | {} | {} | {} |", xr[i], w[i], f(xr_i), f(yi), fb(yb[[0, i]]));
    }

    outln!("\n## rmsnorm_residual: bf16 in and out\n");
    let xb = array![[bf16::from_f32(256.0), bf16::from_f32(-3.0), bf16::from_f32(0.5), bf16::from_f32(1.0)]];
    let rb = array![[bf16::from_f32(1.0), bf16::from_f32(2.0), bf16::from_f32(0.25), bf16::from_f32(-1.0)]];
    let wb = array![bf16::from_f32(1.0), bf16::from_f32(1.0), bf16::from_f32(1.0), bf16::from_f32(1.0)];
    let (y2, h2): (Array2<bf16>, Array2<bf16>) = rmsnorm_residual(&FMA_V1, xb.view(), rb.view(), wb.view(), p).unwrap();
    let hv: Vec<f32> = (0..4).map(|i| bf16::from_f32(xb[[0, i]].to_f32() + rb[[0, i]].to_f32()).to_f32()).collect();
    for i in 0..4 {
        outln!(
            "h{i} = round_bf16({} + {}) = round_bf16({}) = {}",
            xb[[0, i]].to_f32(),
            rb[[0, i]].to_f32(),
            f(xb[[0, i]].to_f32() + rb[[0, i]].to_f32()),
            fb(h2[[0, i]])
        );
        check("h", hv[i], h2[[0, i]].to_f32());
    }
    let ss = lane_reduce::<SumSq>(FMA_V1.lanes, &hv);
    let r = rsqrt(ss / 4.0 + p.eps);
    outln!("ss = {}, ms = {}, r = {}", f(ss), f(ss / 4.0), f(r));
    for i in 0..4 {
        let yi = (hv[i] * r) * wb[i].to_f32();
        check("y", bf16::from_f32(yi).to_f32(), y2[[0, i]].to_f32());
        outln!("y{i} = ({} * r) * 1 = {} -> bf16 {}", hv[i], f(yi), fb(y2[[0, i]]));
    }
    outln!();
}

fn softmax_example() {
    outln!("## softmax / log_softmax: one row, f32 in and out, fma-v1\n");
    let x = array![[1.0f32, 2.0, 3.0, f32::NEG_INFINITY]];
    let xr = x.row(0).to_vec();
    let m = lane_reduce::<Max>(FMA_V1.lanes, &xr);
    let d: Vec<f32> = xr.iter().map(|&v| v - m).collect();
    let e: Vec<f32> = d.iter().map(|&v| exp(v)).collect();
    let s = lane_reduce::<Sum>(FMA_V1.lanes, &e);
    let ls = log(s);
    outln!("m = {}\ns = {}\nlog(s) = {}", f(m), f(s), f(ls));
    let y: Array2<f32> = softmax::softmax(&FMA_V1, x.view()).unwrap();
    let ly: Array2<f32> = softmax::log_softmax(&FMA_V1, x.view()).unwrap();
    let yb: Array2<bf16> = softmax::softmax(&FMA_V1, x.view()).unwrap();
    outln!("\n| i | x_i | d_i = x_i - m | e_i = exp(d_i) | softmax e_i / s | bf16 | log_softmax d_i - log(s) |\n|---|---|---|---|---|---|---|");
    for i in 0..4 {
        let yi = e[i] / s;
        let lyi = d[i] - ls;
        check("softmax", yi, y[[0, i]]);
        check("log_softmax", lyi, ly[[0, i]]);
        outln!(
            "| {i} | {:?} | {} | {} | {} | {} | {} |",
            xr[i],
            f(d[i]),
            f(e[i]),
            f(yi),
            fb(yb[[0, i]]),
            f(lyi)
        );
    }
    outln!();
}

fn mean_example() {
    outln!("## sum / mean: one row of 5, f32 in, fma-v1 (L = 1024)\n");
    // x_i = 1 / (i + 1): one IEEE division each.
    let x = Array2::from_shape_fn((1, 5), |(_, i)| 1.0f32 / (i + 1) as f32);
    let xr = x.row(0).to_vec();
    outln!("x = {}", xr.iter().map(|&v| f(v)).collect::<Vec<_>>().join(", "));
    // With L = 1024 and 5 elements, lane l holds x_l alone; the strides 512..8 add +0.
    let l0 = xr[0] + xr[4];
    let l1 = xr[1];
    let l0b = l0 + xr[2];
    let l1b = l1 + xr[3];
    let s = l0b + l1b;
    outln!("stride 4: lane0 = x0 + x4 = {}", f(l0));
    outln!("stride 2: lane0 = lane0 + x2 = {}, lane1 = x1 + x3 = {}", f(l0b), f(l1b));
    outln!("stride 1: s = lane0 + lane1 = {}", f(s));
    check("sum", s, lane_reduce::<Sum>(FMA_V1.lanes, &xr));
    let sm: Array2<f32> = mean::sum(&FMA_V1, x.view()).unwrap();
    let mn: Array2<f32> = mean::mean(&FMA_V1, x.view()).unwrap();
    let mb: Array2<bf16> = mean::mean(&FMA_V1, x.view()).unwrap();
    check("sum op", s, sm[[0, 0]]);
    check("mean op", s / 5.0, mn[[0, 0]]);
    outln!("mean = s / 5 = {}; bf16 out {}", f(s / 5.0), fb(mb[[0, 0]]));
    outln!("left-to-right sum for comparison: {}\n", f(xr.iter().fold(0.0f32, |a, &b| a + b)));
}

fn rope_example() {
    outln!("## rope: d = 4, base = 10000, positions 0..3\n");
    let p = RopeParams { dim: 4, base: 10000.0 };
    let (cos, sin) = rope_tables(p, 3).unwrap();
    for i in 0..2 {
        let theta = libm::pow(p.base, -((2 * i) as f64) / p.dim as f64);
        outln!("theta_{i} = {theta:?} (f64 bits 0x{:016X})", theta.to_bits());
        for t in 0..3 {
            let ang = t as f64 * theta;
            let (c64, s64) = (libm::cos(ang), libm::sin(ang));
            assert_eq!(c64 as f32, cos[[t, i]]);
            assert_eq!(s64 as f32, sin[[t, i]]);
            outln!(
                "  pos {t}: angle = {ang:?}, cos = {c64:?} -> {}, sin = {s64:?} -> {}",
                f(cos[[t, i]]),
                f(sin[[t, i]])
            );
        }
    }
    let x = Array3::from_shape_vec((1, 1, 4), vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let pos = array![2i64];
    let y: Array3<f32> = rope(x.view(), pos.view(), cos.view(), sin.view()).unwrap();
    outln!("\nx = [1, 2, 3, 4] at position 2:");
    for i in 0..2 {
        let (a, b, c, s) = (x[[0, 0, i]], x[[0, 0, i + 2]], cos[[2, i]], sin[[2, i]]);
        let (ac, bs, bc, as_) = (a * c, b * s, b * c, a * s);
        let (y0, y1) = (ac - bs, bc + as_);
        check("rope lo", y0, y[[0, 0, i]]);
        check("rope hi", y1, y[[0, 0, i + 2]]);
        outln!("  y{i} = a*c - b*s = {} - {} = {}", f(ac), f(bs), f(y0));
        outln!("  y{} = b*c + a*s = {} + {} = {}", i + 2, f(bc), f(as_), f(y1));
    }
    outln!();
}

fn attention_example() {
    outln!("## attention: one query row, D = 2, keys 0..=5, scale 0.5, custom contract BN = 2, S = 4\n");
    let c = Contract::custom(KStepKind::Fma, FMA_V1.kc, FMA_V1.lanes, 2, 4).unwrap();
    let q = [1.0f32, 0.5];
    let k = [[0.5f32, -1.0], [1.0, 1.0], [-0.5, 2.0], [2.0, 0.0], [0.0, -2.0], [1.5, 0.5]];
    let v = [[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0], [0.5, -0.5], [2.0, 1.0]];
    let scale = 0.5f32;
    let sc: Vec<f32> = k.iter().map(|kt| q[1].mul_add(kt[1], q[0].mul_add(kt[0], 0.0)) * scale).collect();
    for (t, x) in sc.iter().enumerate() {
        outln!("score_{t} = fma(q1, k{t}1, fma(q0, k{t}0, +0)) * 0.5 = {}", f(*x));
    }
    // Splits [0, 4) and [4, 8); blocks of 2.
    let mut states: Vec<(f32, f32, [f32; 2])> = Vec::new();
    for (si, blocks) in [vec![0usize, 2], vec![4]].into_iter().enumerate() {
        outln!("split {si}:");
        let (mut m, mut l, mut acc) = (f32::NEG_INFINITY, 0.0f32, [0.0f32; 2]);
        for (bi, &b0) in blocks.iter().enumerate() {
            let mb = max2(max2(f32::NEG_INFINITY, sc[b0]), sc[b0 + 1]);
            if bi == 0 {
                m = mb;
                outln!("  block [{b0}, {}]: mb = {} (first block: m = mb, l = +0, acc = +0)", b0 + 1, f(mb));
            } else {
                let mn = max2(m, mb);
                let alpha = exp(m - mn);
                l *= alpha;
                acc = [acc[0] * alpha, acc[1] * alpha];
                m = mn;
                outln!("  block [{b0}, {}]: mb = {}, m' = {}, alpha = exp(m - m') = {}", b0 + 1, f(mb), f(mn), f(alpha));
                outln!("    rescaled: l = {}, acc = [{}, {}]", f(l), f(acc[0]), f(acc[1]));
            }
            for t in b0..b0 + 2 {
                let e = exp(sc[t] - m);
                l += e;
                acc = [e.mul_add(v[t][0], acc[0]), e.mul_add(v[t][1], acc[1])];
                outln!("    key {t}: e = exp(score - m) = {}, l = {}, acc = [{}, {}]", f(e), f(l), f(acc[0]), f(acc[1]));
            }
        }
        outln!("  state: m = {}, l = {}, acc = [{}, {}]", f(m), f(l), f(acc[0]), f(acc[1]));
        states.push((m, l, acc));
    }
    let ((ma, la, aa), (mb, lb, ab)) = (states[0], states[1]);
    let m = max2(ma, mb);
    let (fa, fb_) = (exp(ma - m), exp(mb - m));
    let l = (la * fa) + (lb * fb_);
    let acc = [(aa[0] * fa) + (ab[0] * fb_), (aa[1] * fa) + (ab[1] * fb_)];
    outln!("merge: M = {}, a = exp(m0 - M) = {}, b = exp(m1 - M) = {}", f(m), f(fa), f(fb_));
    outln!("  L = (l0 * a) + (l1 * b) = {}, A = [{}, {}]", f(l), f(acc[0]), f(acc[1]));
    let out = [acc[0] / l, acc[1] / l];
    outln!("out = A / L = [{}, {}]", f(out[0]), f(out[1]));
    // The same through the entry points: prefill of the 6 tokens (row 5), and fma-v1.
    let qa = Array3::from_shape_fn((6, 1, 2), |(t, _, i)| if t == 5 { q[i] } else { 0.0 });
    let ka = Array3::from_shape_fn((6, 1, 2), |(t, _, i)| k[t][i]);
    let va = Array3::from_shape_fn((6, 1, 2), |(t, _, i)| v[t][i]);
    let lens = array![6i64];
    let p = AttnParams { scale, window: None };
    let y: Array3<f32> = attention::prefill(&c, qa.view(), ka.view(), va.view(), lens.view(), &p).unwrap();
    check("attention d0", out[0], y[[5, 0, 0]]);
    check("attention d1", out[1], y[[5, 0, 1]]);
    let yb: Array3<bf16> = attention::prefill(&c, qa.view(), ka.view(), va.view(), lens.view(), &p).unwrap();
    outln!("bf16 out = [{}, {}]", fb(yb[[5, 0, 0]]), fb(yb[[5, 0, 1]]));
    let y1: Array3<f32> = attention::prefill(&FMA_V1, qa.view(), ka.view(), va.view(), lens.view(), &p).unwrap();
    outln!("fma-v1 (one split, one block of 6 keys): [{}, {}]", f(y1[[5, 0, 0]]), f(y1[[5, 0, 1]]));
    let w = AttnParams { scale, window: Some(3) };
    let yw: Array3<f32> = attention::prefill(&c, qa.view(), ka.view(), va.view(), lens.view(), &w).unwrap();
    outln!("window 3 (keys 3..=5; split 0 holds key 3 alone): [{}, {}]", f(yw[[5, 0, 0]]), f(yw[[5, 0, 1]]));
    outln!();
}

fn sampling_example() {
    outln!("## sampling: V = 6, temperature 0.8, top-k 4, top-p 0.9, min-p 0.05, penalty 1.2, seed 42, position 7\n");
    outln!(
        "philox4x32_10(counter (0, 0, 7, 0), key (42, 0)) = {:08x?}",
        philox4x32_10([0, 0, 7, 0], [42, 0])
    );
    outln!(
        "philox4x32_10(counter (1, 0, 7, 0), key (42, 0)) = {:08x?}",
        philox4x32_10([1, 0, 7, 0], [42, 0])
    );
    let x = [2.0f32, 1.0, 0.5, 3.0, -1.0, 2.5];
    let r = SampleParams {
        temperature: 0.8,
        top_k: 4,
        top_p: 0.9,
        min_p: 0.05,
        repetition_penalty: 1.2,
        history: vec![3, 4, 3],
        seed: 42,
        position: 7,
    };
    let mut z = x.to_vec();
    for t in [3usize, 4] {
        z[t] = if z[t] > 0.0 { z[t] / 1.2 } else { z[t] * 1.2 };
        outln!("penalty on {t}: {}", f(z[t]));
    }
    for a in z.iter_mut() {
        *a /= 0.8;
    }
    outln!("z = x / 0.8: {}", z.iter().map(|&a| f(a)).collect::<Vec<_>>().join(", "));
    let mut sorted = z.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let tau = sorted[3];
    let mut kept: Vec<bool> = z.iter().map(|&a| a >= tau).collect();
    outln!("top-k 4: tau = {}, kept {:?}", f(tau), (0..6).filter(|&i| kept[i]).collect::<Vec<_>>());
    let zm: Vec<f32> = (0..6).map(|i| if kept[i] { z[i] } else { f32::NEG_INFINITY }).collect();
    let m = lane_reduce::<Max>(FMA_V1.lanes, &zm);
    let e: Vec<f32> = (0..6).map(|i| if kept[i] { exp(zm[i] - m) } else { 0.0 }).collect();
    let s = lane_reduce::<Sum>(FMA_V1.lanes, &e);
    let p: Vec<f32> = e.iter().map(|&a| a / s).collect();
    outln!("m = {}, s = {}", f(m), f(s));
    for i in 0..6 {
        outln!("  {i}: e = {}, p = {}", f(e[i]), f(p[i]));
    }
    let mut order: Vec<usize> = (0..6).filter(|&i| kept[i]).collect();
    order.sort_by(|&a, &b| zm[b].partial_cmp(&zm[a]).unwrap().then(a.cmp(&b)));
    let mut cum = 0.0f32;
    let mut cut = order.len();
    for (n, &i) in order.iter().enumerate() {
        cum += p[i];
        outln!("top-p walk: token {i}, c = {}", f(cum));
        if cum >= 0.9 {
            cut = n + 1;
            break;
        }
    }
    for &i in &order[cut..] {
        kept[i] = false;
    }
    let thr = 0.05f32 * (1.0 / s);
    outln!("min-p: thr = 0.05 * (1 / s) = {}", f(thr));
    for i in 0..6 {
        if kept[i] && p[i] < thr {
            kept[i] = false;
        }
    }
    let mut best = (f32::NEG_INFINITY, -1i64);
    for i in 0..6u64 {
        let wd = word(42, 7, i);
        let u = uniform_open(wd);
        let g = -log(-log(u));
        let y = z[i as usize] + g;
        let mark = if kept[i as usize] { "kept" } else { "masked" };
        outln!("  {i} ({mark}): word {wd:08x}, u = {}, g = {}, z + g = {}", f(u), f(g), f(y));
        if kept[i as usize] && y > best.0 {
            best = (y, i as i64);
        }
    }
    let logits = Array2::from_shape_vec((1, 6), x.to_vec()).unwrap();
    let tok = sample(&FMA_V1, logits.view(), std::slice::from_ref(&r)).unwrap()[0];
    assert_eq!(tok, best.1, "sampled token");
    outln!("token = {tok}");
    let g = sample(&FMA_V1, logits.view(), &[SampleParams { temperature: 0.0, ..r.clone() }]).unwrap()[0];
    outln!("greedy (same penalty) = {g}\n");
}

/// The sections, by name.
pub const SECTIONS: [(&str, fn()); 9] = [
    ("dtypes", dtypes),
    ("reduce", reduce),
    ("matmul", matmul_example),
    ("rmsnorm", rmsnorm_example),
    ("softmax", softmax_example),
    ("mean", mean_example),
    ("rope", rope_example),
    ("attention", attention_example),
    ("sampling", sampling_example),
];

/// Runs one section and returns what it printed.
pub fn section(name: &str) -> Option<String> {
    let (_, run) = SECTIONS.iter().find(|(n, _)| *n == name)?;
    OUT.with(|o| o.borrow_mut().clear());
    run();
    Some(OUT.with(|o| std::mem::take(&mut *o.borrow_mut())))
}

fn main() {
    let which = std::env::args().nth(1);
    for (name, _) in SECTIONS {
        if which.as_deref().is_none_or(|w| w == name) {
            print!("{}", section(name).unwrap());
        }
    }
}
