//! Writes attention and KV-append cases with the *Rust reference's* outputs, for
//! `scripts/gpu-emulate` (gpu/emu/harness.cpp runs the CUDA kernels on them and compares bit
//! for bit). Usage: cargo run -p lockstep-gpu --example attn_cases [fma-v1 | KC LANES [BN S]] > cases.txt
//! Text: a keyword, then fields; each vector is its length followed by its elements' bits.

#![allow(clippy::too_many_arguments)]

use half::bf16;
use lockstep_gpu::ops::attention::{append_pairs, slot_plan, warp_plan, ATTN_SMEM_MAX};
use lockstep_gpu::ops::sample::sample_args;
use lockstep_reference::attention::{self, AttnParams, KvCache, KvLayout, Plan, PlanMap, Span};
use lockstep_reference::{Contract, Element};
use ndarray::{Array1, Array2, Array3, Array4};
use std::fmt::Write;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn f(&mut self, scale: f32) -> f32 {
        ((self.next() >> 40) as f32 / 8_388_608.0 - 1.0) * scale
    }
}

fn vec_bits<T: Element>(out: &mut String, xs: impl IntoIterator<Item = T>) {
    let v: Vec<u32> = xs.into_iter().map(|x| x.bits()).collect();
    let _ = write!(out, " {}", v.len());
    for b in v {
        let _ = write!(out, " {b}");
    }
    out.push('\n');
}

fn ints(out: &mut String, xs: &[i64]) {
    let _ = write!(out, " {}", xs.len());
    for x in xs {
        let _ = write!(out, " {x}");
    }
    out.push('\n');
}

fn gen<T: Element>(r: &mut Rng, n: usize, scale: f32) -> Vec<T> {
    (0..n).map(|_| T::from_f32(r.f(scale))).collect()
}

/// One attention case: the plan, the inputs and the reference outputs (f32 and bf16).
fn attn_case<T: Element>(
    out: &mut String,
    c: &Contract,
    name: &str,
    q: &Array3<T>,
    k: &[T],
    v: &[T],
    plan: &Plan,
    p: &AttnParams,
    o32: Array3<f32>,
    o16: Array3<bf16>,
) {
    let (paged, page, max_blocks, map): (i64, i64, usize, Vec<i64>) = match &plan.map {
        PlanMap::Base(b) => (0, 1, 0, b.iter().map(|&x| x as i64).collect()),
        PlanMap::Paged { page, table } => {
            let mb = table.iter().map(Vec::len).max().unwrap_or(0).max(1);
            (
                1,
                *page as i64,
                mb,
                table.iter().flat_map(|r| (0..mb).map(move |b| r.get(b).map_or(0, |&x| x as i64))).collect(),
            )
        }
    };
    let _ = writeln!(
        out,
        "ATTN {name} {} {} {} {} {} {} {} {paged} {page} {max_blocks}",
        T::DTYPE.size_bytes(),
        plan.rows.len(),
        plan.hq,
        plan.hkv,
        plan.d,
        p.window.unwrap_or(0),
        p.scale.to_bits()
    );
    vec_bits(out, q.iter().copied());
    vec_bits(out, k.iter().copied());
    vec_bits(out, v.iter().copied());
    let rows: Vec<i64> = plan.rows.iter().flat_map(|&(s, t)| [s as i64, t as i64]).collect();
    ints(out, &rows);
    ints(out, &map);
    vec_bits(out, o32.iter().copied());
    vec_bits(out, o16.iter().copied());
    // The attn_tile / attn_tile_few plan (0 fields: this shape takes attn_split only), and
    // the attn_warp plan where the launcher picks it (0 fields: it does not).
    let window = p.window.unwrap_or(0);
    match slot_plan(&plan.rows, plan.hq, plan.hkv, plan.d, c.attn_block, c.attn_split, window, ATTN_SMEM_MAX) {
        Some(tp) => {
            let _ = writeln!(out, " {} {} {} {} {} {}", tp.gh, tp.nhc, tp.qsp, tp.grid_x, tp.splits, tp.smem);
            ints(out, &tp.tiles);
        }
        None => out.push_str(" 0 0 0 0 0 0\n 0\n"),
    }
    let elem = T::DTYPE.size_bytes();
    match warp_plan(&plan.rows, plan.hq, plan.hkv, plan.d, c.attn_block, c.attn_split, window, elem, ATTN_SMEM_MAX) {
        Some(tp) => {
            let _ = writeln!(out, " {} {} {} {} {}", tp.gh, tp.nhc, tp.grid_x, tp.splits, tp.smem);
            ints(out, &tp.tiles);
        }
        None => out.push_str(" 0 0 0 0 0\n 0\n"),
    }
}

fn cached<T: Element>(
    out: &mut String,
    r: &mut Rng,
    c: &Contract,
    name: &str,
    paged: Option<usize>,
    lens: &[i64],
    hq: usize,
    hkv: usize,
    d: usize,
    spans: Option<&[Span]>,
    window: Option<usize>,
) {
    let n_seq = lens.len();
    let max_pos = *lens.iter().max().unwrap_or(&1) as usize + 5;
    let p = AttnParams {
        scale: 1.0 / (d as f32).sqrt(),
        window,
    };
    // Unwritten slots hold NaN: a kernel that reads one fails the comparison.
    let fill = |r: &mut Rng, rows: usize, written: &dyn Fn(usize) -> bool| -> Array4<T> {
        let mut a = Array4::from_elem((rows, max_pos.max(1), hkv, d), T::from_f32(f32::NAN));
        for ((i, t, _, _), x) in a.indexed_iter_mut() {
            if written(i * 100_000 + t) {
                *x = T::from_f32(r.f(2.0));
            }
        }
        a
    };
    let n_tok = spans.map_or(n_seq, |s| s.iter().map(|x| x.len).sum());
    let q = Array3::from_shape_vec((n_tok, hq, d), gen::<T>(r, n_tok * hq * d, 2.0)).expect("q");
    let lens_a = Array1::from(lens.to_vec());
    match paged {
        None => {
            let w = |key: usize| (key % 100_000) < lens[key / 100_000] as usize;
            let (k, v) = (fill(r, n_seq, &w), fill(r, n_seq, &w));
            let cache = KvCache {
                layout: KvLayout::Contiguous { k: k.view(), v: v.view() },
                lens: lens_a.view(),
            };
            emit(out, c, name, &q, &cache, spans, &p, k.as_slice().unwrap(), v.as_slice().unwrap());
        }
        Some(pg) => {
            // Pages in reverse order, one spare page of garbage, -1 past the readable blocks.
            let blocks: Vec<usize> = lens.iter().map(|&l| (l as usize).div_ceil(pg)).collect();
            let total: usize = blocks.iter().sum();
            let max_b = blocks.iter().max().copied().unwrap_or(0) + 1;
            let mut table = Array2::from_elem((n_seq, max_b), -1i64);
            let mut next = total; // pages total..1 (page 0 is the garbage page)
            let mut owner = vec![None; total + 1];
            for s in 0..n_seq {
                for b in 0..blocks[s] {
                    table[[s, b]] = next as i64;
                    owner[next] = Some((s, b));
                    next -= 1;
                }
            }
            let w = |key: usize| {
                let (page, slot) = (key / 100_000, key % 100_000);
                matches!(owner[page], Some((s, b)) if b * pg + slot < lens[s] as usize)
            };
            let fillp = |r: &mut Rng| -> Array4<T> {
                let mut a = Array4::from_elem((total + 1, pg, hkv, d), T::from_f32(f32::NAN));
                for ((i, t, _, _), x) in a.indexed_iter_mut() {
                    if w(i * 100_000 + t) {
                        *x = T::from_f32(r.f(2.0));
                    }
                }
                a
            };
            let (k, v) = (fillp(r), fillp(r));
            let cache = KvCache {
                layout: KvLayout::Paged {
                    k: k.view(),
                    v: v.view(),
                    block_table: table.view(),
                },
                lens: lens_a.view(),
            };
            emit(out, c, name, &q, &cache, spans, &p, k.as_slice().unwrap(), v.as_slice().unwrap());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn emit<T: Element>(out: &mut String, c: &Contract, name: &str, q: &Array3<T>, cache: &KvCache<T>, spans: Option<&[Span]>, p: &AttnParams, k: &[T], v: &[T]) {
    let plan = attention::cached_plan(c, q.view(), cache, spans, p).expect("valid case");
    let (o32, o16): (Array3<f32>, Array3<bf16>) = match spans {
        Some(sp) => (
            attention::chunked_prefill(c, q.view(), cache, sp, p).expect("ref"),
            attention::chunked_prefill(c, q.view(), cache, sp, p).expect("ref"),
        ),
        None => (
            attention::decode(c, q.view(), cache, p).expect("ref"),
            attention::decode(c, q.view(), cache, p).expect("ref"),
        ),
    };
    attn_case(out, c, name, q, k, v, &plan, p, o32, o16);
}

fn prefill<T: Element>(out: &mut String, r: &mut Rng, c: &Contract, name: &str, seq_lens: &[i64], hq: usize, hkv: usize, d: usize, window: Option<usize>) {
    let n: usize = seq_lens.iter().map(|&l| l as usize).sum();
    let q = Array3::from_shape_vec((n, hq, d), gen::<T>(r, n * hq * d, 2.0)).expect("q");
    let k = Array3::from_shape_vec((n, hkv, d), gen::<T>(r, n * hkv * d, 2.0)).expect("k");
    let v = Array3::from_shape_vec((n, hkv, d), gen::<T>(r, n * hkv * d, 2.0)).expect("v");
    let sl = Array1::from(seq_lens.to_vec());
    let p = AttnParams { scale: 0.4, window };
    let plan = attention::prefill_plan(c, q.view(), k.view(), v.view(), sl.view(), &p).expect("valid");
    let o32 = attention::prefill(c, q.view(), k.view(), v.view(), sl.view(), &p).expect("ref");
    let o16 = attention::prefill(c, q.view(), k.view(), v.view(), sl.view(), &p).expect("ref");
    attn_case(out, c, name, &q, k.as_slice().unwrap(), v.as_slice().unwrap(), &plan, &p, o32, o16);
}

fn append_case<T: Element>(out: &mut String, r: &mut Rng, name: &str) {
    // Paged, 3 sequences, pages of 4, page 2 shared by sequences 0 and 1 (a common prefix),
    // and two spans of sequence 2 that overlap (the later one wins).
    let (hkv, d, pg) = (2, 3, 4);
    let k = Array4::from_shape_vec((6, pg, hkv, d), gen::<T>(r, 6 * pg * hkv * d, 1.0)).expect("k");
    let v = Array4::from_shape_vec((6, pg, hkv, d), gen::<T>(r, 6 * pg * hkv * d, 1.0)).expect("v");
    let table = Array2::from_shape_vec((3, 3), vec![2, 0, -1, 2, 5, 4, 1, 3, -1]).expect("table");
    let lens = Array1::from(vec![3i64, 5, 2]);
    let spans = [
        Span { seq: 0, start: 3, len: 2 },
        Span { seq: 2, start: 2, len: 4 },
        Span { seq: 2, start: 4, len: 3 },
        Span { seq: 1, start: 5, len: 1 },
    ];
    let nt: usize = spans.iter().map(|s| s.len).sum();
    let kn = Array3::from_shape_vec((nt, hkv, d), gen::<T>(r, nt * hkv * d, 1.0)).expect("kn");
    let vn = Array3::from_shape_vec((nt, hkv, d), gen::<T>(r, nt * hkv * d, 1.0)).expect("vn");
    let cache = KvCache {
        layout: KvLayout::Paged {
            k: k.view(),
            v: v.view(),
            block_table: table.view(),
        },
        lens: lens.view(),
    };
    let (dest, _) = attention::append_plan(&cache, kn.shape(), vn.shape(), &spans).expect("valid");
    let (kw, vw, _) = attention::appended(&cache, kn.view(), vn.view(), &spans).expect("ref");
    let _ = writeln!(out, "APPEND {name} {} {}", T::DTYPE.size_bytes(), hkv * d);
    vec_bits(out, kn.iter().copied());
    vec_bits(out, vn.iter().copied());
    vec_bits(out, k.iter().copied());
    vec_bits(out, v.iter().copied());
    ints(out, &append_pairs(&dest));
    vec_bits(out, kw.iter().copied());
    vec_bits(out, vw.iter().copied());
}

fn sample_case<T: Element>(out: &mut String, r: &mut Rng, c: &Contract, name: &str, v: usize) {
    use lockstep_reference::sample::{sample, SampleParams};
    let mut reqs = Vec::new();
    let base = SampleParams {
        seed: 0x1234_5678_9abc_def0,
        position: 77,
        ..Default::default()
    };
    reqs.push(SampleParams::greedy());
    reqs.push(base.clone());
    reqs.push(SampleParams {
        temperature: 0.7,
        top_k: 5,
        ..base.clone()
    });
    reqs.push(SampleParams {
        top_p: 0.5,
        seed: 3,
        ..base.clone()
    });
    reqs.push(SampleParams {
        min_p: 0.2,
        position: 1 << 40,
        ..base.clone()
    });
    reqs.push(SampleParams {
        temperature: 1.3,
        top_k: 40,
        top_p: 0.9,
        min_p: 0.05,
        repetition_penalty: 1.5,
        history: vec![3, 3, 7, 0, (v - 1) as u32, 7],
        ..base.clone()
    });
    reqs.push(SampleParams { top_k: 1, ..base.clone() });
    reqs.push(SampleParams { top_p: 0.9, ..base.clone() }); // row of -inf/NaN: -1
    reqs.push(base.clone()); // a +inf logit wins at once
    let b = reqs.len();
    let mut x: Vec<T> = gen::<T>(r, b * v, 4.0);
    // Ties and specials: a repeated maximum, NaN, -inf; row 7 has no candidate.
    for (i, &k) in [(0usize, 5usize), (0, 9), (2, 11), (2, 12), (5, 3)].iter().enumerate() {
        let _ = i;
        x[k.0 * v + k.1] = T::from_f32(30.0);
    }
    x[v + 1] = T::from_f32(f32::NAN);
    x[3 * v + 2] = T::from_f32(f32::NEG_INFINITY);
    for j in 0..v {
        x[7 * v + j] = T::from_f32(if j % 2 == 0 { f32::NAN } else { f32::NEG_INFINITY });
    }
    x[8 * v + 4] = T::from_f32(f32::INFINITY);
    let logits = Array2::from_shape_vec((b, v), x).expect("logits");
    let want = sample(c, logits.view(), &reqs).expect("ref");
    let (fp, ip, hoff, hist) = sample_args(&reqs);
    let _ = writeln!(out, "SAMPLE {name} {} {b} {v}", T::DTYPE.size_bytes());
    vec_bits(out, logits.iter().copied());
    vec_bits(out, fp);
    ints(out, &ip.iter().map(|&u| u as i64).collect::<Vec<_>>());
    ints(out, &hoff);
    ints(out, &hist);
    ints(out, want.as_slice().expect("1-d"));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let c = match args.as_slice() {
        [] => lockstep_reference::FMA_V1,
        [id] => Contract::by_id(id).unwrap_or_else(|e| panic!("{e}")).clone(),
        [kc, lanes, rest @ ..] if rest.is_empty() || rest.len() == 2 => Contract::custom(
            lockstep_reference::KStepKind::Fma,
            Some(kc.parse().expect("KC")),
            lanes.parse().expect("LANES"),
            rest.first().map_or(64, |x| x.parse().expect("BN")),
            rest.get(1).map_or(256, |x| x.parse().expect("S")),
        )
        .unwrap_or_else(|e| panic!("{e}")),
        _ => panic!("usage: attn_cases [CONTRACT_ID | KC LANES [BN S]]"),
    };
    let mut r = Rng(7);
    let mut out = String::new();
    let s = c.attn_split as i64;
    cached::<f32>(
        &mut out,
        &mut r,
        &c,
        "decode-contig-gqa",
        None,
        &[1, s + 3, 2 * s + 70, 64],
        4,
        2,
        5,
        None,
        None,
    );
    cached::<bf16>(&mut out, &mut r, &c, "decode-paged-bf16", Some(16), &[s + 1, 17, 3], 2, 1, 3, None, None);
    cached::<f32>(&mut out, &mut r, &c, "decode-contig-window", None, &[s + 100, 40], 2, 2, 4, None, Some(100));
    let spans = [
        Span {
            seq: 1,
            start: s as usize - 3,
            len: 6,
        },
        Span { seq: 0, start: 0, len: 3 },
    ];
    cached::<f32>(&mut out, &mut r, &c, "chunked-paged", Some(8), &[5, s + 10], 3, 1, 2, Some(&spans), None);
    cached::<bf16>(
        &mut out,
        &mut r,
        &c,
        "chunked-contig-window",
        None,
        &[5, s + 10],
        2,
        2,
        3,
        Some(&spans),
        Some(70),
    );
    prefill::<f32>(&mut out, &mut r, &c, "prefill", &[3, 0, 70], 2, 1, 4, None);
    prefill::<bf16>(&mut out, &mut r, &c, "prefill-window-bf16", &[66, 2], 2, 2, 3, Some(65));
    // Head dims that take attn_tile (32, 64, 128, 256): several splits, GQA groups of 1..20
    // (one and two head chunks), paged and contiguous, windows, prefill tiles of many rows.
    let su = s as usize;
    cached::<f32>(
        &mut out,
        &mut r,
        &c,
        "tile-decode-paged-gqa4-d128",
        Some(16),
        &[3 * s + 17, 40, 1],
        8,
        2,
        128,
        None,
        None,
    );
    cached::<bf16>(
        &mut out,
        &mut r,
        &c,
        "tile-decode-paged-bf16-d128-window",
        Some(16),
        &[2 * s + 30, s],
        8,
        2,
        128,
        None,
        Some(su / 2 + 5),
    );
    cached::<f32>(&mut out, &mut r, &c, "tile-decode-contig-gqa8-d64", None, &[s + 5, 2 * s], 8, 1, 64, None, None);
    cached::<bf16>(&mut out, &mut r, &c, "tile-decode-contig-bf16-d256", None, &[s + 9, 3], 4, 2, 256, None, None);
    cached::<f32>(
        &mut out,
        &mut r,
        &c,
        "tile-decode-paged7-mha-d32",
        Some(7),
        &[s + 2, 9],
        2,
        2,
        32,
        None,
        Some(su),
    );
    cached::<bf16>(&mut out, &mut r, &c, "tile-decode-contig-gqa20-d128", None, &[s + 1], 20, 1, 128, None, None);
    let tspans = [
        Span {
            seq: 1,
            start: su - 5,
            len: 11,
        },
        Span { seq: 0, start: 0, len: 5 },
        Span { seq: 1, start: 2, len: 2 },
    ];
    cached::<f32>(
        &mut out,
        &mut r,
        &c,
        "tile-chunked-paged-gqa4-d128",
        Some(16),
        &[5, s + 10],
        8,
        2,
        128,
        Some(&tspans),
        None,
    );
    cached::<bf16>(
        &mut out,
        &mut r,
        &c,
        "tile-chunked-contig-bf16-d64-window",
        None,
        &[5, s + 10],
        4,
        2,
        64,
        Some(&tspans),
        Some(30),
    );
    prefill::<f32>(&mut out, &mut r, &c, "tile-prefill-gqa4-d128", &[s + 10, 3, 0], 4, 1, 128, None);
    prefill::<bf16>(&mut out, &mut r, &c, "tile-prefill-bf16-window-d64", &[s + 10, 1], 4, 2, 64, Some(su / 2 + 3));
    append_case::<f32>(&mut out, &mut r, "append-paged-shared-f32");
    append_case::<bf16>(&mut out, &mut r, "append-paged-shared-bf16");
    sample_case::<f32>(&mut out, &mut r, &c, "sample-f32", 300);
    sample_case::<bf16>(&mut out, &mut r, &c, "sample-bf16", 1500);
    out.push_str("END\n");
    print!("{out}");
}
