//! The catalog of cases: which shapes, dtypes and values each op is checked on. Golden
//! files take the small ones; `lockstep conform` and the tests take families of them.
//! Every input comes from [`Gen`] seeded with the FNV-1a hash of the case name, so a
//! case name alone determines its inputs.

use crate::case::{Case, OpSpec};
use crate::gen::Gen;
use crate::tensor::Tensor;
use half::{bf16, f16};
use lockstep_reference::attention::Span;
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rope::{rope_tables, RopeParams};
use lockstep_reference::{Contract, DType, Element, KStepKind};
use ndarray::{Array1, ArrayD, IxDyn};

/// FNV-1a, 64-bit: the seed of a case's inputs.
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// How inputs are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Values {
    /// Uniform in [-scale, scale).
    Uniform(f32),
    /// Uniform, with about one element in 8 replaced by a special value.
    Specials(f32),
}

pub fn tensor(g: &mut Gen, dtype: DType, shape: &[usize], v: Values) -> Tensor {
    fn arr<T: Element>(g: &mut Gen, shape: &[usize], v: Values) -> ArrayD<T> {
        match v {
            Values::Uniform(s) => g.array::<T>(shape, s),
            Values::Specials(s) => g.array_with_specials::<T>(shape, s, 8),
        }
    }
    match dtype {
        DType::F32 => Tensor::F32(arr(g, shape, v)),
        DType::Bf16 => Tensor::Bf16(arr(g, shape, v)),
        DType::F16 => Tensor::F16(arr(g, shape, v)),
    }
}

/// The input types a contract's matmul accepts.
pub fn matmul_in_dtypes(c: &Contract) -> &'static [DType] {
    match c.kstep {
        KStepKind::Fma => &[DType::F32, DType::Bf16],
        KStepKind::MmaSm90 => &[DType::Bf16, DType::F16],
    }
}

pub fn vname(v: Values) -> &'static str {
    match v {
        Values::Uniform(_) => "rand",
        Values::Specials(_) => "special",
    }
}

/// Output types checked for an input type: f32, and the input type itself.
fn out_dtypes(tin: DType) -> Vec<DType> {
    if tin == DType::F32 {
        vec![DType::F32]
    } else {
        vec![DType::F32, tin]
    }
}

/// A matmul case: `mm`, `addmm` (bias) or `bmm` (batch > 0).
#[allow(clippy::too_many_arguments)]
pub fn matmul_case(c: &Contract, op: OpSpec, tin: DType, tout: DType, m: usize, k: usize, n: usize, batch: usize, v: Values) -> Case {
    let name = format!(
        "{}/{}/{}_{}/m{m}_k{k}_n{n}{}/{}",
        c.id(),
        op.name(),
        tin,
        tout,
        if batch > 0 { format!("_b{batch}") } else { String::new() },
        vname(v)
    );
    let mut g = Gen::new(seed_of(&name));
    let mut inputs = Vec::new();
    if batch > 0 {
        inputs.push(("a", tensor(&mut g, tin, &[batch, m, k], v)));
        inputs.push(("b", tensor(&mut g, tin, &[batch, k, n], v)));
    } else {
        inputs.push(("a", tensor(&mut g, tin, &[m, k], v)));
        inputs.push(("b", tensor(&mut g, tin, &[k, n], v)));
    }
    if op == OpSpec::Addmm {
        inputs.push(("bias", tensor(&mut g, DType::F32, &[n], Values::Uniform(1.0))));
    }
    Case::new(name, op, c, tout, inputs)
}

/// A row-op case over `[rows, width]`.
pub fn row_case(c: &Contract, op: OpSpec, tin: DType, tout: DType, rows: usize, width: usize, v: Values) -> Case {
    let name = format!("{}/{}/{}_{}/r{rows}_h{width}/{}", c.id(), op.name(), tin, tout, vname(v));
    let mut g = Gen::new(seed_of(&name));
    // Logits-like scale for softmax, unit scale elsewhere.
    let scale = match (&op, v) {
        (OpSpec::Softmax | OpSpec::LogSoftmax, Values::Uniform(s) | Values::Specials(s)) => 8.0 * s,
        (_, Values::Uniform(s) | Values::Specials(s)) => s,
    };
    let v = match v {
        Values::Uniform(_) => Values::Uniform(scale),
        Values::Specials(_) => Values::Specials(scale),
    };
    let mut inputs = vec![("x", tensor(&mut g, tin, &[rows, width], v))];
    match op {
        OpSpec::Rmsnorm { .. } => inputs.push(("w", tensor(&mut g, tin, &[width], Values::Uniform(2.0)))),
        OpSpec::RmsnormResidual { .. } => {
            inputs.push(("residual", tensor(&mut g, tin, &[rows, width], v)));
            inputs.push(("w", tensor(&mut g, tin, &[width], Values::Uniform(2.0))));
        }
        _ => {}
    }
    Case::new(name, op, c, tout, inputs)
}

/// A RoPE case: `[tokens, heads, dim]` at random positions below `max_pos`.
pub fn rope_case(c: &Contract, tin: DType, tout: DType, tokens: usize, heads: usize, dim: usize, max_pos: usize) -> Case {
    let spec = OpSpec::Rope { dim, base: 10000.0 };
    let name = format!("{}/rope/{}_{}/t{tokens}_h{heads}_d{dim}_p{max_pos}/rand", c.id(), tin, tout);
    let mut g = Gen::new(seed_of(&name));
    let x = tensor(&mut g, tin, &[tokens, heads, dim], Values::Uniform(4.0));
    let pos: Array1<i64> = (0..tokens).map(|_| g.below(max_pos as u64) as i64).collect();
    let (cos, sin) = rope_tables(RopeParams { dim, base: 10000.0 }, max_pos).expect("valid rope params");
    Case::new(
        name,
        spec,
        c,
        tout,
        vec![
            ("x", x),
            ("pos", Tensor::I64(pos.into_dyn())),
            ("cos", Tensor::F32(cos.into_dyn())),
            ("sin", Tensor::F32(sin.into_dyn())),
        ],
    )
}

/// An elementwise case: a sweep of interesting inputs plus every special value.
pub fn unary_case(c: &Contract, func: Unary, tin: DType, tout: DType, n: usize) -> Case {
    let name = format!("{}/unary:{}/{}_{}/n{n}/sweep", c.id(), func.name(), tin, tout);
    let mut g = Gen::new(seed_of(&name));
    // Magnitudes spread over many binades: sign * 2^(e) * (1 + u), e in [-30, 30].
    let mut v: Vec<f32> = (0..n)
        .map(|_| {
            let e = g.below(61) as i32 - 30;
            let s = if g.below(2) == 0 { 1.0 } else { -1.0 };
            s * 2f32.powi(e) * (1.5 + 0.5 * g.uniform())
        })
        .collect();
    let x = match tin {
        DType::F32 => {
            v.extend(crate::gen::specials::<f32>());
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).unwrap())
        }
        DType::Bf16 => {
            let mut w: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
            w.extend(crate::gen::specials::<bf16>());
            Tensor::Bf16(ArrayD::from_shape_vec(IxDyn(&[w.len()]), w).unwrap())
        }
        DType::F16 => {
            let mut w: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            w.extend(crate::gen::specials::<f16>());
            Tensor::F16(ArrayD::from_shape_vec(IxDyn(&[w.len()]), w).unwrap())
        }
    };
    Case::new(name, OpSpec::Unary { func }, c, tout, vec![("x", x)])
}

/// Every row op with its default parameters.
pub fn row_ops() -> Vec<OpSpec> {
    vec![
        OpSpec::Rmsnorm { eps: 1e-6 },
        OpSpec::RmsnormResidual { eps: 1e-5 },
        OpSpec::Softmax,
        OpSpec::LogSoftmax,
        OpSpec::Sum,
        OpSpec::Mean,
    ]
}

/// The golden set: small cases covering every op, both contracts, every dtype pair, odd
/// and power-of-two shapes, batches from 1 to 257, and special values.
pub fn golden_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for c in lockstep_reference::contract::CONTRACTS {
        let kc = c.kc.unwrap_or(256);
        for &tin in matmul_in_dtypes(c) {
            for tout in out_dtypes(tin) {
                for &(m, k, n) in &[
                    (1, 7, 5),
                    (3, kc - 1, 17),
                    (2, kc, 8),
                    (5, kc + 1, 9),
                    (16, 64, 64),
                    (257, 33, 5),
                    (4, 2 * kc + 3, 12),
                ] {
                    v.push(matmul_case(c, OpSpec::Mm, tin, tout, m, k, n, 0, Values::Uniform(1.0)));
                }
                v.push(matmul_case(c, OpSpec::Addmm, tin, tout, 7, kc + 5, 13, 0, Values::Uniform(1.0)));
                v.push(matmul_case(c, OpSpec::Bmm, tin, tout, 5, 40, 6, 3, Values::Uniform(1.0)));
                v.push(matmul_case(c, OpSpec::Mm, tin, tout, 9, 48, 11, 0, Values::Specials(1.0)));
            }
        }
    }
    let c = &lockstep_reference::FMA_V1;
    for op in row_ops() {
        for tin in [DType::F32, DType::Bf16] {
            for tout in out_dtypes(tin) {
                for &(r, h) in &[(1, 1), (3, 7), (2, 1024), (5, 1025), (257, 16), (2, 4096)] {
                    v.push(row_case(c, op.clone(), tin, tout, r, h, Values::Uniform(1.0)));
                }
                v.push(row_case(c, op.clone(), tin, tout, 6, 300, Values::Specials(1.0)));
            }
        }
    }
    for tin in [DType::F32, DType::Bf16] {
        for tout in out_dtypes(tin) {
            v.push(rope_case(c, tin, tout, 9, 2, 64, 4096));
            v.push(rope_case(c, tin, tout, 3, 1, 128, 100));
        }
    }
    for func in Unary::ALL {
        for (tin, tout) in [(DType::F32, DType::F32), (DType::Bf16, DType::Bf16), (DType::Bf16, DType::F32)] {
            v.push(unary_case(c, func, tin, tout, 500));
        }
    }
    v.extend(attention_cases(c));
    v.extend(sample_cases(c));
    v
}

/// Attention inputs of one call: the tokens of every sequence, written into a cache.
struct AttnSetup {
    hkv: usize,
    d: usize,
    /// Per sequence: `[n, Hkv, D]` keys and values for positions `0..n`.
    k: Vec<ArrayD<f32>>,
    v: Vec<ArrayD<f32>>,
}

fn attn_setup(g: &mut Gen, lens: &[usize], hkv: usize, d: usize) -> AttnSetup {
    let mut k = Vec::new();
    let mut v = Vec::new();
    for &n in lens {
        k.push(g.array::<f32>(&[n, hkv, d], 2.0));
        v.push(g.array::<f32>(&[n, hkv, d], 1.0));
    }
    AttnSetup { hkv, d, k, v }
}

fn cast<T: Element>(a: &ArrayD<f32>) -> ArrayD<T> {
    a.mapv(T::from_f32)
}

fn wrap(dtype: DType, a: &ArrayD<f32>) -> Tensor {
    match dtype {
        DType::F32 => Tensor::F32(a.clone()),
        DType::Bf16 => Tensor::Bf16(cast(a)),
        DType::F16 => Tensor::F16(cast(a)),
    }
}

/// The cache of `s` holding the first `upto[i]` tokens of sequence i; every other slot is
/// NaN (the reference must never read it). `page = None`: contiguous; else paged with the
/// pages of all sequences shuffled through the pool and two spare NaN pages.
fn cache_inputs(g: &mut Gen, s: &AttnSetup, upto: &[usize], cap: usize, page: Option<usize>, dtype: DType) -> Vec<(&'static str, Tensor)> {
    let (hkv, d) = (s.hkv, s.d);
    let n_seq = upto.len();
    let mut lens = Vec::new();
    let (k, v, table) = match page {
        None => {
            let mut k = ArrayD::from_elem(IxDyn(&[n_seq, cap, hkv, d]), f32::NAN);
            let mut v = k.clone();
            for (i, &n) in upto.iter().enumerate() {
                for t in 0..n {
                    k.slice_mut(ndarray::s![i, t, .., ..]).assign(&s.k[i].slice(ndarray::s![t, .., ..]));
                    v.slice_mut(ndarray::s![i, t, .., ..]).assign(&s.v[i].slice(ndarray::s![t, .., ..]));
                }
                lens.push(n as i64);
            }
            (k, v, None)
        }
        Some(p) => {
            let blocks = cap.div_ceil(p);
            let n_pages = n_seq * blocks + 2;
            let mut order: Vec<usize> = (0..n_pages).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, g.below(i as u64 + 1) as usize);
            }
            let mut k = ArrayD::from_elem(IxDyn(&[n_pages, p, hkv, d]), f32::NAN);
            let mut v = k.clone();
            // Unused table entries point at page 0 .. they are never read either.
            let mut table = ndarray::Array2::<i64>::zeros((n_seq, blocks));
            for (i, &n) in upto.iter().enumerate() {
                for b in 0..blocks {
                    table[[i, b]] = order[i * blocks + b] as i64;
                }
                for t in 0..n {
                    let pg = table[[i, t / p]] as usize;
                    k.slice_mut(ndarray::s![pg, t % p, .., ..]).assign(&s.k[i].slice(ndarray::s![t, .., ..]));
                    v.slice_mut(ndarray::s![pg, t % p, .., ..]).assign(&s.v[i].slice(ndarray::s![t, .., ..]));
                }
                lens.push(n as i64);
            }
            (k, v, Some(table))
        }
    };
    let mut out = vec![
        ("k_cache", wrap(dtype, &k)),
        ("v_cache", wrap(dtype, &v)),
        ("lens", Tensor::I64(Array1::from(lens).into_dyn())),
    ];
    if let Some(t) = table {
        out.push(("block_table", Tensor::I64(t.into_dyn())));
    }
    out
}

fn layout_name(page: Option<usize>) -> String {
    page.map_or("contig".to_string(), |p| format!("paged{p}"))
}

/// Attention cases: prefill, chunked prefill and decode over contiguous and paged caches,
/// lengths around BN and S, GQA ratios, a window; and KV-cache appends.
pub fn attention_cases(c: &Contract) -> Vec<Case> {
    let (bn, sp) = (c.attn_block, c.attn_split);
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::Bf16] {
        // Prefill: packed whole sequences.
        for &(ref lens, hq, hkv, d, window) in &[
            (vec![5usize, bn + 1], 4usize, 2usize, 64usize, None),
            (vec![sp + 3], 2, 1, 128, None),
            (vec![40, 9], 8, 8, 64, Some(16usize)),
        ] {
            v.push(prefill_case(c, dtype, lens, (hq, hkv, d), window));
        }
        // Decode and chunked prefill over both layouts.
        for page in [None, Some(16), Some(7)] {
            let lens = [1usize, bn, sp + 1];
            let (hq, hkv, d) = (8, 2, 64);
            let cap = sp + 8;
            v.push(decode_case(c, dtype, &lens, (hq, hkv, d), cap, page, 0.125));
            // Chunked prefill: sequence 0 has 100 tokens cached, its next 37 arrive as a
            // chunk (already appended, as a server does before attending); sequence 1 a
            // chunk of 5 at the start.
            let spans = vec![Span { seq: 0, start: 100, len: 37 }, Span { seq: 1, start: 0, len: 5 }];
            v.push(chunked_case(c, dtype, &[137, 5], (hq, hkv, d), 160, page, spans, 0.125));

            // Append: 3 tokens to sequence 0 after its 4, 2 to sequence 1 after its 0.
            let name = format!("{}/kv_append/{dtype}/{}/rand", c.id(), layout_name(page));
            let mut g = Gen::new(seed_of(&name));
            let s = attn_setup(&mut g, &[7, 2], hkv, d);
            let mut inputs = cache_inputs(&mut g, &s, &[4, 0], 24, page, dtype);
            let k_new = g.array::<f32>(&[5, hkv, d], 2.0);
            let v_new = g.array::<f32>(&[5, hkv, d], 1.0);
            inputs.push(("k_new", wrap(dtype, &k_new)));
            inputs.push(("v_new", wrap(dtype, &v_new)));
            let spans = vec![Span { seq: 0, start: 4, len: 3 }, Span { seq: 1, start: 0, len: 2 }];
            v.push(Case::new(name, OpSpec::KvAppend { spans }, c, dtype, inputs));
        }
    }
    v
}

/// Long attention cases at a model's head shape (32 query heads, 8 KV heads, dim 128, page
/// 16): decode over sequences of up to 16,384 tokens, a 384-token chunk at position 16,000,
/// and a prefill of 2,048 + 1,000 tokens. Too large for the golden files and the literal
/// reference; the GPU tests compare them with the fast path (equal to the literal one).
pub fn long_attention_cases(c: &Contract) -> Vec<Case> {
    let (heads, page) = ((32, 8, 128), Some(16));
    let scale = 1.0 / (heads.2 as f32).sqrt();
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::Bf16] {
        v.push(decode_case(c, dtype, &[16384, 9001, 1], heads, 16384, page, scale));
        let spans = vec![Span {
            seq: 0,
            start: 16000,
            len: 384,
        }];
        v.push(chunked_case(c, dtype, &[16384], heads, 16384, page, spans, scale));
    }
    v.push(prefill_case(c, DType::Bf16, &[2048, 1000], heads, None));
    v
}

/// Prefill of packed whole sequences of `lens` tokens; scale 1/√D.
fn prefill_case(c: &Contract, dtype: DType, lens: &[usize], (hq, hkv, d): (usize, usize, usize), window: Option<usize>) -> Case {
    let name = format!("{}/attn_prefill/{dtype}_{dtype}/lens{lens:?}_hq{hq}_hkv{hkv}_d{d}_w{window:?}/rand", c.id());
    let mut g = Gen::new(seed_of(&name));
    let s = attn_setup(&mut g, lens, hkv, d);
    let n: usize = lens.iter().sum();
    let q = g.array::<f32>(&[n, hq, d], 2.0);
    let k = ndarray::concatenate(ndarray::Axis(0), &s.k.iter().map(|a| a.view()).collect::<Vec<_>>()).unwrap();
    let vv = ndarray::concatenate(ndarray::Axis(0), &s.v.iter().map(|a| a.view()).collect::<Vec<_>>()).unwrap();
    let seq_lens = Array1::from(lens.iter().map(|&l| l as i64).collect::<Vec<_>>());
    let spec = OpSpec::AttnPrefill {
        scale: 1.0 / (d as f32).sqrt(),
        window,
    };
    let inputs = vec![
        ("q", wrap(dtype, &q)),
        ("k", wrap(dtype, &k)),
        ("v", wrap(dtype, &vv)),
        ("seq_lens", Tensor::I64(seq_lens.into_dyn())),
    ];
    Case::new(name, spec, c, dtype, inputs)
}

/// Decode: one query per sequence over a cache (`cap` tokens per sequence) holding `lens`.
#[allow(clippy::too_many_arguments)]
fn decode_case(c: &Contract, dtype: DType, lens: &[usize], (hq, hkv, d): (usize, usize, usize), cap: usize, page: Option<usize>, scale: f32) -> Case {
    let name = format!(
        "{}/attn_decode/{dtype}_{dtype}/lens{lens:?}_hq{hq}_hkv{hkv}_d{d}_{}/rand",
        c.id(),
        layout_name(page)
    );
    let mut g = Gen::new(seed_of(&name));
    let s = attn_setup(&mut g, lens, hkv, d);
    let q = g.array::<f32>(&[lens.len(), hq, d], 2.0);
    let mut inputs = vec![("q", wrap(dtype, &q))];
    inputs.extend(cache_inputs(&mut g, &s, lens, cap, page, dtype));
    Case::new(name, OpSpec::AttnDecode { scale, window: None }, c, dtype, inputs)
}

/// Chunked prefill: the queries of `spans` over a cache holding `lens` tokens per sequence
/// (the chunks already appended, as a server does before attending).
#[allow(clippy::too_many_arguments)]
fn chunked_case(
    c: &Contract,
    dtype: DType,
    lens: &[usize],
    (hq, hkv, d): (usize, usize, usize),
    cap: usize,
    page: Option<usize>,
    spans: Vec<Span>,
    scale: f32,
) -> Case {
    let name = format!(
        "{}/attn_chunked/{dtype}_{dtype}/lens{lens:?}_hq{hq}_hkv{hkv}_d{d}_{}/rand",
        c.id(),
        layout_name(page)
    );
    let mut g = Gen::new(seed_of(&name));
    let s = attn_setup(&mut g, lens, hkv, d);
    let rows: usize = spans.iter().map(|x| x.len).sum();
    let q = g.array::<f32>(&[rows, hq, d], 2.0);
    let mut inputs = vec![("q", wrap(dtype, &q))];
    inputs.extend(cache_inputs(&mut g, &s, lens, cap, page, dtype));
    Case::new(name, OpSpec::AttnChunked { scale, window: None, spans }, c, dtype, inputs)
}

/// Sampling cases: greedy, temperature, top-k, top-p, min-p, repetition penalty, ties.
pub fn sample_cases(c: &Contract) -> Vec<Case> {
    use lockstep_reference::sample::SampleParams;
    let mut v = Vec::new();
    for dtype in [DType::F32, DType::Bf16] {
        let vocab = 1000;
        let name = format!("{}/sample/{dtype}/b6_v{vocab}/rand", c.id());
        let mut g = Gen::new(seed_of(&name));
        let mut logits = g.array::<f32>(&[6, vocab], 6.0);
        // Row 5: ties everywhere (greedy must take the lowest index).
        logits.slice_mut(ndarray::s![5, ..]).fill(1.0);
        let base = SampleParams::default();
        let requests = vec![
            SampleParams {
                temperature: 0.0,
                ..base.clone()
            },
            SampleParams {
                temperature: 0.7,
                seed: 42,
                position: 17,
                ..base.clone()
            },
            SampleParams {
                temperature: 1.0,
                top_k: 20,
                seed: 7,
                position: 0,
                ..base.clone()
            },
            SampleParams {
                temperature: 1.3,
                top_p: 0.9,
                seed: 7,
                position: 1,
                ..base.clone()
            },
            SampleParams {
                temperature: 1.0,
                min_p: 0.05,
                repetition_penalty: 1.3,
                history: vec![3, 17, 17, 999],
                seed: 1 << 40,
                position: 123456,
                ..base.clone()
            },
            SampleParams {
                temperature: 0.0,
                ..base.clone()
            },
        ];
        v.push(Case::new(name, OpSpec::Sample { requests }, c, dtype, vec![("logits", wrap(dtype, &logits))]));
    }
    v
}
