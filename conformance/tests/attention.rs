//! Attention over a KV cache (docs/spec/attention.md): the tree is anchored at absolute key
//! position 0, so every query token gets the same bits from prefill, any chunking of chunked
//! prefill and decode; from contiguous and paged caches of any page size, page order and
//! prefix sharing; alone or in any batch; whatever garbage sits in unwritten slots. The fast
//! path equals the literal reference; the literal reference is close to f64 attention.

use half::bf16;
use lockstep_reference::attention::{
    self, append, chunked_prefill, chunked_prefill_fast, decode, decode_fast, prefill, prefill_fast, AttnParams, KvCache, KvCacheMut, KvLayout, KvLayoutMut,
    Span,
};
use lockstep_reference::dtype::same_bits;
use lockstep_reference::{Contract, Element, Error, KStepKind, FMA_V1, MMA_SM90_V1};
use ndarray::{s, Array1, Array2, Array3, Array4, ArrayView3, Axis};
use proptest::prelude::*;

const C: &Contract = &FMA_V1;

/// SplitMix64: deterministic test data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-a, a).
    fn f(&mut self, a: f32) -> f32 {
        ((self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * a
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn shuffle<X>(&mut self, v: &mut [X]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// One sequence's projections.
#[derive(Clone)]
struct Seq<T> {
    q: Array3<T>,
    k: Array3<T>,
    v: Array3<T>,
}

/// Random projections; `amp` sets the spread of the scores (large `amp` makes the running
/// max move often, exercising the rescale steps).
fn gen_seq<T: Element>(rng: &mut Rng, n: usize, hq: usize, hkv: usize, d: usize, amp: f32) -> Seq<T> {
    let mut g = |h: usize, a: f32| Array3::from_shape_fn((n, h, d), |_| T::from_f32(rng.f(a)));
    Seq {
        q: g(hq, amp),
        k: g(hkv, amp),
        v: g(hkv, 1.0),
    }
}

fn dims<T>(s: &Seq<T>) -> (usize, usize, usize, usize) {
    (s.q.shape()[0], s.q.shape()[1], s.k.shape()[1], s.q.shape()[2])
}

fn nan<T: Element>() -> T {
    T::from_f32(f32::NAN)
}

/// A cache of either layout, owned; filled with NaN before the tokens are appended.
struct Cache<T> {
    k: Array4<T>,
    v: Array4<T>,
    table: Option<Array2<i64>>,
    lens: Array1<i64>,
}

impl<T: Element> Cache<T> {
    /// Contiguous, `max_pos` positions per sequence (at least the longest sequence).
    fn contiguous(n_seq: usize, max_pos: usize, hkv: usize, d: usize) -> Self {
        Cache {
            k: Array4::from_elem((n_seq, max_pos, hkv, d), nan()),
            v: Array4::from_elem((n_seq, max_pos, hkv, d), nan()),
            table: None,
            lens: Array1::zeros(n_seq),
        }
    }

    /// Paged with page size `p`, room for `caps[s]` positions per sequence, pages taken from a
    /// shuffled pool with `spare` extra pages never used; unused table entries are -1.
    fn paged(rng: &mut Rng, caps: &[usize], p: usize, spare: usize, hkv: usize, d: usize) -> Self {
        let need: Vec<usize> = caps.iter().map(|c| c.div_ceil(p)).collect();
        let total: usize = need.iter().sum::<usize>() + spare;
        let mut ids: Vec<i64> = (0..total as i64).collect();
        rng.shuffle(&mut ids);
        let cols = need.iter().copied().max().unwrap_or(0) + 1;
        let mut table = Array2::from_elem((caps.len(), cols), -1i64);
        let mut next = 0;
        for (s, &nb) in need.iter().enumerate() {
            for b in 0..nb {
                table[[s, b]] = ids[next];
                next += 1;
            }
        }
        Cache {
            k: Array4::from_elem((total, p, hkv, d), nan()),
            v: Array4::from_elem((total, p, hkv, d), nan()),
            table: Some(table),
            lens: Array1::zeros(caps.len()),
        }
    }

    fn view(&self) -> KvCache<'_, T> {
        let layout = match &self.table {
            None => KvLayout::Contiguous {
                k: self.k.view(),
                v: self.v.view(),
            },
            Some(t) => KvLayout::Paged {
                k: self.k.view(),
                v: self.v.view(),
                block_table: t.view(),
            },
        };
        KvCache {
            layout,
            lens: self.lens.view(),
        }
    }

    fn append(&mut self, k: ArrayView3<T>, v: ArrayView3<T>, spans: &[Span]) -> Result<(), Error> {
        let layout = match &self.table {
            None => KvLayoutMut::Contiguous {
                k: self.k.view_mut(),
                v: self.v.view_mut(),
            },
            Some(t) => KvLayoutMut::Paged {
                k: self.k.view_mut(),
                v: self.v.view_mut(),
                block_table: t.view(),
            },
        };
        append(
            &mut KvCacheMut {
                layout,
                lens: self.lens.view_mut(),
            },
            k,
            v,
            spans,
        )
    }
}

/// Whole-sequence prefill of one sequence alone (fast path): the per-token answer every
/// other route must reproduce.
fn alone<T: Element>(s: &Seq<T>, p: &AttnParams) -> Array3<f32> {
    let n = s.q.shape()[0] as i64;
    prefill_fast::<T, f32>(C, s.q.view(), s.k.view(), s.v.view(), Array1::from(vec![n]).view(), p).unwrap()
}

fn assert_same<T: Element>(a: ArrayView3<T>, b: ArrayView3<T>, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert!(same_bits(*x, *y), "{what}: element {i} differs: {x:?} vs {y:?}");
    }
}

/// Chunked prefill of one sequence through a cache, chunk sizes `chunks` (summing to n);
/// returns the outputs of all tokens in order.
fn chunked_through<T: Element>(cache: &mut Cache<T>, seq: usize, s: &Seq<T>, chunks: &[usize], p: &AttnParams, fast: bool) -> Array3<f32> {
    let mut outs = Vec::new();
    let mut start = 0;
    for &len in chunks {
        let r = s![start..start + len, .., ..];
        let span = [Span { seq, start, len }];
        cache.append(s.k.slice(r), s.v.slice(r), &span).unwrap();
        let o = if fast {
            chunked_prefill_fast::<T, f32>(C, s.q.slice(r), &cache.view(), &span, p)
        } else {
            chunked_prefill::<T, f32>(C, s.q.slice(r), &cache.view(), &span, p)
        };
        outs.push(o.unwrap());
        start += len;
    }
    ndarray::concatenate(Axis(0), &outs.iter().map(|o| o.view()).collect::<Vec<_>>()).unwrap()
}

/// f64 softmax attention of one sequence (causal, optional window).
fn f64_attention<T: Element>(s: &Seq<T>, p: &AttnParams) -> Array3<f64> {
    let (n, hq, hkv, d) = dims(s);
    let g = hq / hkv;
    Array3::from_shape_fn((n, hq, d), |(i, h, dd)| {
        let first = p.first_key(i);
        let sc: Vec<f64> = (first..=i)
            .map(|t| (0..d).map(|x| s.q[[i, h, x]].to_f32() as f64 * s.k[[t, h / g, x]].to_f32() as f64).sum::<f64>() * p.scale as f64)
            .collect();
        let m = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let w: Vec<f64> = sc.iter().map(|x| (x - m).exp()).collect();
        let z: f64 = w.iter().sum();
        (first..=i).zip(&w).map(|(t, wi)| wi * s.v[[t, h / g, dd]].to_f32() as f64).sum::<f64>() / z
    })
}

#[test]
fn literal_reference_is_close_to_f64_attention() {
    let mut rng = Rng(1);
    for (n, hq, hkv, d, window, amp) in [
        (70, 4, 1, 64, None, 1.0),
        (300, 2, 2, 16, None, 3.0),
        (300, 2, 1, 16, Some(100), 3.0),
        (530, 1, 1, 8, Some(300), 4.0),
    ] {
        let s = gen_seq::<f32>(&mut rng, n, hq, hkv, d, amp);
        let mut p = AttnParams::for_head_dim(d);
        p.window = window;
        let got = prefill::<f32, f32>(C, s.q.view(), s.k.view(), s.v.view(), Array1::from(vec![n as i64]).view(), &p).unwrap();
        let want = f64_attention(&s, &p);
        for (g, w) in got.iter().zip(want.iter()) {
            // |v| <= 1 and the weights sum to 1: the error is a few ulps of 1 per term.
            assert!((*g as f64 - w).abs() < 2e-5, "{g} vs {w} (n {n}, d {d}, window {window:?})");
        }
    }
}

/// The lengths where the tree changes shape: around BN and S.
fn edge_lengths(c: &Contract) -> Vec<usize> {
    let (bn, sp) = (c.attn_block, c.attn_split);
    vec![1, 2, bn - 1, bn, bn + 1, 2 * bn + 1, sp - 1, sp, sp + 1, 2 * sp - 1, 2 * sp, 2 * sp + 1]
}

#[test]
fn fast_equals_literal_for_every_entry_point_dtype_and_edge_length() {
    let mut rng = Rng(2);
    fn check<T: Element, O: Element>(rng: &mut Rng, n: usize, hq: usize, hkv: usize, d: usize, window: Option<usize>) {
        let s = gen_seq::<T>(rng, n, hq, hkv, d, 3.0);
        let mut p = AttnParams::for_head_dim(d);
        p.window = window;
        let lens = Array1::from(vec![n as i64]);
        let a = prefill::<T, O>(C, s.q.view(), s.k.view(), s.v.view(), lens.view(), &p).unwrap();
        let b = prefill_fast::<T, O>(C, s.q.view(), s.k.view(), s.v.view(), lens.view(), &p).unwrap();
        assert_same(a.view(), b.view(), "prefill fast vs literal");
        let mut cache = Cache::<T>::paged(rng, &[n], 7, 3, hkv, d);
        let spans = [Span { seq: 0, start: 0, len: n }];
        cache.append(s.k.view(), s.v.view(), &spans).unwrap();
        let c1 = chunked_prefill::<T, O>(C, s.q.view(), &cache.view(), &spans, &p).unwrap();
        let c2 = chunked_prefill_fast::<T, O>(C, s.q.view(), &cache.view(), &spans, &p).unwrap();
        assert_same(c1.view(), c2.view(), "chunked fast vs literal");
        assert_same(a.view(), c1.view(), "prefill vs chunked (one chunk)");
        let last = s.q.slice(s![n - 1..n, .., ..]);
        let d1 = decode::<T, O>(C, last, &cache.view(), &p).unwrap();
        let d2 = decode_fast::<T, O>(C, last, &cache.view(), &p).unwrap();
        assert_same(d1.view(), d2.view(), "decode fast vs literal");
        assert_same(d1.view(), a.slice(s![n - 1..n, .., ..]), "decode vs prefill");
    }
    for n in edge_lengths(C) {
        check::<f32, f32>(&mut rng, n, 2, 1, 16, None);
        check::<bf16, bf16>(&mut rng, n, 4, 2, 8, None);
        check::<bf16, f32>(&mut rng, n, 1, 1, 8, Some(65));
        check::<f32, bf16>(&mut rng, n, 8, 1, 4, Some(257));
    }
    // The model head dims, at one split plus one key (the literal path is the slow part).
    for d in [64, 128, 256] {
        check::<f32, f32>(&mut rng, C.attn_split + 1, 2, 1, d, None);
        check::<bf16, bf16>(&mut rng, C.attn_split + 1, 4, 4, d, None);
    }
}

#[test]
fn every_uniform_chunking_and_every_two_chunk_split_of_600_tokens_match_prefill() {
    let mut rng = Rng(3);
    let (n, d) = (600, 8);
    let s = gen_seq::<f32>(&mut rng, n, 1, 1, d, 4.0);
    let p = AttnParams::for_head_dim(d);
    let want = alone(&s, &p);
    for c in 1..=n {
        let mut chunks = vec![c; n / c];
        if n % c != 0 {
            chunks.push(n % c);
        }
        let mut cache = Cache::<f32>::contiguous(1, n, 1, d);
        assert_same(
            want.view(),
            chunked_through(&mut cache, 0, &s, &chunks, &p, true).view(),
            &format!("chunks of {c}"),
        );
    }
    for cut in 1..n {
        let mut cache = Cache::<f32>::paged(&mut rng, &[n], 16, 2, 1, d);
        assert_same(
            want.view(),
            chunked_through(&mut cache, 0, &s, &[cut, n - cut], &p, true).view(),
            &format!("cut at {cut}"),
        );
    }
    // Literal path, a few irregular chunkings, sliding window too.
    for (chunks, window) in [(vec![1, 63, 1, 191, 1, 343], None), (vec![255, 2, 343], Some(200)), (vec![600], Some(64))] {
        let p = AttnParams { window, ..p };
        let want = alone(&s, &p);
        let mut cache = Cache::<f32>::contiguous(1, n + 5, 1, d);
        assert_same(
            want.view(),
            chunked_through(&mut cache, 0, &s, &chunks, &p, false).view(),
            &format!("{chunks:?}"),
        );
    }
}

#[test]
fn decode_token_by_token_matches_prefill_and_chunked() {
    let mut rng = Rng(4);
    let n = 2 * C.attn_split + 3;
    for (hq, hkv, d) in [(4, 1, 64), (8, 8, 16), (8, 2, 128)] {
        let s = gen_seq::<bf16>(&mut rng, n, hq, hkv, d, 2.0);
        let p = AttnParams::for_head_dim(d);
        let want = alone(&s, &p);
        let mut cache = Cache::<bf16>::paged(&mut rng, &[n], 32, 1, hkv, d);
        for t in 0..n {
            let r = s![t..t + 1, .., ..];
            cache.append(s.k.slice(r), s.v.slice(r), &[Span { seq: 0, start: t, len: 1 }]).unwrap();
            let got = decode_fast::<bf16, f32>(C, s.q.slice(r), &cache.view(), &p).unwrap();
            assert_same(want.slice(r), got.view(), &format!("decode at {t}, Hq {hq}, Hkv {hkv}, D {d}"));
        }
    }
}

#[test]
fn contiguous_and_paged_agree_for_every_page_size_and_page_order() {
    let mut rng = Rng(5);
    let (hq, hkv, d) = (4, 2, 16);
    let lens = [1usize, 7, 63, 64, 65, 255, 256, 257, 513, 300];
    let seqs: Vec<Seq<f32>> = lens.iter().map(|&n| gen_seq(&mut rng, n, hq, hkv, d, 3.0)).collect();
    let p = AttnParams::for_head_dim(d);
    let pack = |f: &dyn Fn(&Seq<f32>) -> ArrayView3<f32>| {
        let parts: Vec<ArrayView3<f32>> = seqs.iter().map(f).collect();
        ndarray::concatenate(Axis(0), &parts).unwrap()
    };
    let (k, v) = (pack(&|s| s.k.view()), pack(&|s| s.v.view()));
    // Appended in one call, packed in sequence order.
    let spans: Vec<Span> = lens.iter().enumerate().map(|(i, &n)| Span { seq: i, start: 0, len: n }).collect();
    let q_last = Array3::from_shape_fn((lens.len(), hq, d), |(b, h, x)| seqs[b].q[[lens[b] - 1, h, x]]);
    let mut base = Cache::<f32>::contiguous(lens.len(), 600, hkv, d);
    base.append(k.view(), v.view(), &spans).unwrap();
    let want = decode_fast::<f32, f32>(C, q_last.view(), &base.view(), &p).unwrap();
    // And decode equals whole-sequence prefill alone.
    for (b, s) in seqs.iter().enumerate() {
        assert_same(
            want.slice(s![b..b + 1, .., ..]),
            alone(s, &p).slice(s![lens[b] - 1..lens[b], .., ..]),
            "decode vs alone",
        );
    }
    for page in [1, 2, 3, 7, 8, 13, 16, 32, 64, 100, 128, 256, 257] {
        for order in 0..2 {
            let mut c = Cache::<f32>::paged(&mut rng, &lens, page, 5 * order, hkv, d);
            c.append(k.view(), v.view(), &spans).unwrap();
            let got = decode_fast::<f32, f32>(C, q_last.view(), &c.view(), &p).unwrap();
            assert_same(want.view(), got.view(), &format!("paged P = {page}"));
            if page == 7 || page == 64 {
                let lit = decode::<f32, f32>(C, q_last.view(), &c.view(), &p).unwrap();
                assert_same(want.view(), lit.view(), &format!("paged literal P = {page}"));
            }
        }
    }
}

#[test]
fn shared_prefix_pages_give_the_bits_of_private_copies() {
    let mut rng = Rng(6);
    let (hq, hkv, d, page) = (4, 1, 32, 16);
    let prefix = 5 * page; // whole pages are shared
    let tails = [1usize, 40, 200, 17];
    let common = gen_seq::<bf16>(&mut rng, prefix, hq, hkv, d, 2.0);
    let seqs: Vec<Seq<bf16>> = tails
        .iter()
        .map(|&t| {
            let tail = gen_seq::<bf16>(&mut rng, t, hq, hkv, d, 2.0);
            let cat = |a: &Array3<bf16>, b: &Array3<bf16>| ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap();
            Seq {
                q: cat(&common.q, &tail.q),
                k: cat(&common.k, &tail.k),
                v: cat(&common.v, &tail.v),
            }
        })
        .collect();
    let p = AttnParams::for_head_dim(d);
    // The pool: prefix pages first, then each sequence's private pages; table rows share the prefix.
    let shared = prefix / page;
    let private: Vec<usize> = tails.iter().map(|t| t.div_ceil(page)).collect();
    let total = shared + private.iter().sum::<usize>() + 2;
    let mut ids: Vec<i64> = (0..total as i64).collect();
    rng.shuffle(&mut ids);
    let cols = shared + private.iter().max().unwrap();
    let mut table = Array2::from_elem((tails.len(), cols), -1i64);
    let mut next = shared;
    for (s, &np) in private.iter().enumerate() {
        for b in 0..shared {
            table[[s, b]] = ids[b];
        }
        for b in 0..np {
            table[[s, shared + b]] = ids[next];
            next += 1;
        }
    }
    let mut c = Cache::<bf16> {
        k: Array4::from_elem((total, page, hkv, d), nan()),
        v: Array4::from_elem((total, page, hkv, d), nan()),
        table: Some(table),
        lens: Array1::zeros(tails.len()),
    };
    // The prefix is written once, through sequence 0; the others get their length set to it.
    c.append(common.k.view(), common.v.view(), &[Span { seq: 0, start: 0, len: prefix }]).unwrap();
    for s in 1..tails.len() {
        c.lens[s] = prefix as i64;
    }
    for (s, sq) in seqs.iter().enumerate() {
        let r = s![prefix.., .., ..];
        c.append(
            sq.k.slice(r),
            sq.v.slice(r),
            &[Span {
                seq: s,
                start: prefix,
                len: tails[s],
            }],
        )
        .unwrap();
    }
    // Chunked prefill of all tails in one call, and decode of the last tokens.
    let spans: Vec<Span> = tails.iter().enumerate().map(|(s, &t)| Span { seq: s, start: prefix, len: t }).collect();
    let q: Vec<ArrayView3<bf16>> = seqs.iter().map(|s| s.q.slice(s![prefix.., .., ..])).collect();
    let q = ndarray::concatenate(Axis(0), &q).unwrap();
    let got = chunked_prefill_fast::<bf16, bf16>(C, q.view(), &c.view(), &spans, &p).unwrap();
    let mut off = 0;
    for (s, sq) in seqs.iter().enumerate() {
        let n = prefix + tails[s] as i64 as usize;
        let want = prefill_fast::<bf16, bf16>(C, sq.q.view(), sq.k.view(), sq.v.view(), Array1::from(vec![n as i64]).view(), &p).unwrap();
        assert_same(
            want.slice(s![prefix.., .., ..]),
            got.slice(s![off..off + tails[s], .., ..]),
            &format!("shared prefix, sequence {s}"),
        );
        off += tails[s];
    }
}

#[test]
fn decode_batches_up_to_64_sequences_of_mixed_lengths_are_batch_invariant() {
    let mut rng = Rng(7);
    let (hq, hkv, d) = (8, 1, 64);
    let mut lens: Vec<usize> = (0..64).map(|_| 1 + rng.below(4096)).collect();
    lens[..8].copy_from_slice(&[1, 4096, 255, 256, 257, 513, 64, 65]);
    let seqs: Vec<Seq<bf16>> = lens.iter().map(|&n| gen_seq(&mut rng, n, hq, hkv, d, 2.0)).collect();
    let p = AttnParams::for_head_dim(d);
    // Each sequence alone: a batch of 1 in a contiguous cache sized to it.
    let solo: Vec<Array3<bf16>> = seqs
        .iter()
        .map(|s| {
            let n = s.q.shape()[0];
            let mut c = Cache::<bf16>::contiguous(1, n, hkv, d);
            c.append(s.k.view(), s.v.view(), &[Span { seq: 0, start: 0, len: n }]).unwrap();
            decode_fast::<bf16, bf16>(C, s.q.slice(s![n - 1..n, .., ..]), &c.view(), &p).unwrap()
        })
        .collect();
    // Batches: all 64, and random subsets in random order, paged with random page sizes.
    for round in 0..4 {
        let mut pick: Vec<usize> = (0..64).collect();
        rng.shuffle(&mut pick);
        let b = if round == 0 { 64 } else { 1 + rng.below(64) };
        let pick = &pick[..b];
        let page = [16, 7, 128, 1][round];
        let caps: Vec<usize> = pick.iter().map(|&i| lens[i]).collect();
        let mut c = Cache::<bf16>::paged(&mut rng, &caps, page, 3, hkv, d);
        for (slot, &i) in pick.iter().enumerate() {
            c.append(
                seqs[i].k.view(),
                seqs[i].v.view(),
                &[Span {
                    seq: slot,
                    start: 0,
                    len: lens[i],
                }],
            )
            .unwrap();
        }
        let q = Array3::from_shape_fn((b, hq, d), |(j, h, x)| seqs[pick[j]].q[[lens[pick[j]] - 1, h, x]]);
        let got = decode_fast::<bf16, bf16>(C, q.view(), &c.view(), &p).unwrap();
        for (j, &i) in pick.iter().enumerate() {
            assert_same(
                solo[i].view(),
                got.slice(s![j..j + 1, .., ..]),
                &format!("sequence {i} (len {}) in a batch of {b}", lens[i]),
            );
        }
    }
    // The literal path on a few of them, batched.
    let few = [0usize, 2, 3, 4, 5];
    let caps: Vec<usize> = few.iter().map(|&i| lens[i]).collect();
    let mut c = Cache::<bf16>::contiguous(few.len(), 600, hkv, d);
    for (slot, &i) in few.iter().enumerate() {
        c.append(
            seqs[i].k.view(),
            seqs[i].v.view(),
            &[Span {
                seq: slot,
                start: 0,
                len: caps[slot],
            }],
        )
        .unwrap();
    }
    let q = Array3::from_shape_fn((few.len(), hq, d), |(j, h, x)| seqs[few[j]].q[[lens[few[j]] - 1, h, x]]);
    let got = decode::<bf16, bf16>(C, q.view(), &c.view(), &p).unwrap();
    for (j, &i) in few.iter().enumerate() {
        assert_same(solo[i].view(), got.slice(s![j..j + 1, .., ..]), &format!("literal, sequence {i}"));
    }
}

#[test]
fn prefill_of_a_packed_batch_equals_each_sequence_alone() {
    let mut rng = Rng(8);
    for (hq, hkv) in [(4, 4), (4, 1), (8, 1), (8, 2)] {
        let d = 16;
        let lens = [3usize, 257, 1, 64, 65, 300];
        let seqs: Vec<Seq<f32>> = lens.iter().map(|&n| gen_seq(&mut rng, n, hq, hkv, d, 3.0)).collect();
        let p = AttnParams::for_head_dim(d);
        let cat = |f: &dyn Fn(&Seq<f32>) -> ArrayView3<f32>| ndarray::concatenate(Axis(0), &seqs.iter().map(f).collect::<Vec<_>>()).unwrap();
        let (q, k, v) = (cat(&|s| s.q.view()), cat(&|s| s.k.view()), cat(&|s| s.v.view()));
        let sl = Array1::from(lens.iter().map(|&n| n as i64).collect::<Vec<_>>());
        let got = prefill::<f32, f32>(C, q.view(), k.view(), v.view(), sl.view(), &p).unwrap();
        let mut off = 0;
        for (s, sq) in seqs.iter().enumerate() {
            assert_same(
                alone(sq, &p).view(),
                got.slice(s![off..off + lens[s], .., ..]),
                &format!("sequence {s}, Hq {hq}, Hkv {hkv}"),
            );
            off += lens[s];
        }
    }
}

#[test]
fn grouped_query_heads_read_their_group_kv_head() {
    // GQA with ratio g equals MHA with each KV head repeated g times, bit for bit.
    let mut rng = Rng(9);
    for (hq, hkv) in [(4, 4), (4, 1), (8, 1), (8, 2), (16, 2)] {
        let (n, d) = (300, 16);
        let s = gen_seq::<bf16>(&mut rng, n, hq, hkv, d, 2.0);
        let g = hq / hkv;
        let rep = |x: &Array3<bf16>| Array3::from_shape_fn((n, hq, d), |(t, h, i)| x[[t, h / g, i]]);
        let mha = Seq {
            q: s.q.clone(),
            k: rep(&s.k),
            v: rep(&s.v),
        };
        let p = AttnParams::for_head_dim(d);
        assert_same(alone(&s, &p).view(), alone(&mha, &p).view(), &format!("GQA {hq}/{hkv}"));
    }
}

#[test]
fn nan_garbage_in_unwritten_slots_changes_nothing() {
    // The caches of every other test start as NaN; here the clean twin starts as zeros and
    // both are compared, and the outputs are finite.
    let mut rng = Rng(10);
    let (hq, hkv, d) = (2, 1, 16);
    let lens = [1usize, 64, 65, 257];
    let seqs: Vec<Seq<f32>> = lens.iter().map(|&n| gen_seq(&mut rng, n, hq, hkv, d, 2.0)).collect();
    let p = AttnParams::for_head_dim(d);
    let run = |c: &mut Cache<f32>| {
        for (i, s) in seqs.iter().enumerate() {
            c.append(
                s.k.view(),
                s.v.view(),
                &[Span {
                    seq: i,
                    start: 0,
                    len: lens[i],
                }],
            )
            .unwrap();
        }
        let q = Array3::from_shape_fn((lens.len(), hq, d), |(b, h, x)| seqs[b].q[[lens[b] - 1, h, x]]);
        decode::<f32, f32>(C, q.view(), &c.view(), &p).unwrap()
    };
    let mut dirty = Cache::<f32>::paged(&mut Rng(11), &lens, 8, 4, hkv, d);
    let mut clean = Cache::<f32>::paged(&mut Rng(11), &lens, 8, 4, hkv, d);
    clean.k.fill(0.0);
    clean.v.fill(0.0);
    let (a, b) = (run(&mut dirty), run(&mut clean));
    assert!(dirty.k.iter().any(|x| x.is_nan()), "the dirty cache really holds NaN");
    assert!(a.iter().all(|x| x.is_finite()));
    assert_same(a.view(), b.view(), "NaN vs zero garbage");
    let mut dc = Cache::<f32>::contiguous(lens.len(), 300, hkv, d);
    let mut cc = Cache::<f32>::contiguous(lens.len(), 300, hkv, d);
    cc.k.fill(1e30);
    cc.v.fill(-1e30);
    assert_same(run(&mut dc).view(), run(&mut cc).view(), "contiguous NaN vs huge garbage");
}

#[test]
fn sliding_window_edges() {
    let mut rng = Rng(12);
    let (n, d) = (600, 8);
    let s = gen_seq::<f32>(&mut rng, n, 2, 1, d, 3.0);
    let base = AttnParams::for_head_dim(d);
    // A window at least as long as the sequence is no window at all.
    let full = alone(&s, &base);
    assert_same(full.view(), alone(&s, &AttnParams { window: Some(n), ..base }).view(), "window n");
    // A window of 1 returns the token's own value row.
    let one = alone(&s, &AttnParams { window: Some(1), ..base });
    for t in 0..n {
        for h in 0..2 {
            for x in 0..d {
                assert_eq!(one[[t, h, x]].to_bits(), s.v[[t, 0, x]].to_bits());
            }
        }
    }
    // Windows ending on and around block and split edges: fast vs literal, chunked vs prefill.
    for w in [63, 64, 65, 255, 256, 257, 300] {
        let p = AttnParams { window: Some(w), ..base };
        let want = alone(&s, &p);
        let lit = prefill::<f32, f32>(C, s.q.view(), s.k.view(), s.v.view(), Array1::from(vec![n as i64]).view(), &p).unwrap();
        assert_same(want.view(), lit.view(), &format!("window {w}: fast vs literal"));
        let mut c = Cache::<f32>::paged(&mut rng, &[n], 13, 0, 1, d);
        assert_same(
            want.view(),
            chunked_through(&mut c, 0, &s, &[100, 1, 299, 200], &p, true).view(),
            &format!("window {w}: chunked"),
        );
    }
}

#[test]
fn the_tree_constants_matter_so_the_bitwise_checks_have_teeth() {
    // With another BN or S the same inputs give different bits for some rows: an
    // implementation that blocked keys from the chunk start (not from 0) would be caught.
    let mut rng = Rng(13);
    let (n, d) = (600, 16);
    let s = gen_seq::<f32>(&mut rng, n, 1, 1, d, 4.0);
    let p = AttnParams::for_head_dim(d);
    let lens = Array1::from(vec![n as i64]);
    let want = prefill_fast::<f32, f32>(C, s.q.view(), s.k.view(), s.v.view(), lens.view(), &p).unwrap();
    for (bn, sp) in [(32, 256), (64, 128), (64, 512)] {
        let other = Contract::custom(KStepKind::Fma, C.kc, C.lanes, bn, sp).unwrap();
        let got = prefill_fast::<f32, f32>(&other, s.q.view(), s.k.view(), s.v.view(), lens.view(), &p).unwrap();
        let differ = want.iter().zip(got.iter()).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        assert!(differ > 0, "BN {bn}, S {sp}: no row changed");
    }
    // mma-sm90-v1 has the same attention constants, hence the same bits.
    let m = prefill_fast::<f32, f32>(&MMA_SM90_V1, s.q.view(), s.k.view(), s.v.view(), lens.view(), &p).unwrap();
    assert_same(want.view(), m.view(), "mma-sm90-v1 attention");
}

/// The keys of one sequence seen `shift` positions later: a tree over this source with
/// positions `first + shift ..= p + shift` has its blocks and splits anchored at
/// `-shift` instead of 0.
struct Shifted<'a> {
    k: &'a Array3<f32>,
    v: &'a Array3<f32>,
    shift: usize,
}

impl attention::KeySource<f32> for Shifted<'_> {
    fn k(&self, t: usize) -> &[f32] {
        self.k.slice(s![t - self.shift, 0, ..]).to_slice().unwrap()
    }
    fn v(&self, t: usize) -> &[f32] {
        self.v.slice(s![t - self.shift, 0, ..]).to_slice().unwrap()
    }
}

#[test]
fn a_tree_anchored_at_the_chunk_start_is_caught() {
    // Negative control for the chunking tests: an implementation that cuts blocks and splits
    // from the start of each chunk (what a kernel that tiles "the keys of this call" does)
    // agrees with prefill on the first chunk and disagrees on later ones.
    let mut rng = Rng(15);
    let (n, d) = (600, 8);
    let sq = gen_seq::<f32>(&mut rng, n, 1, 1, d, 4.0);
    let p = AttnParams::for_head_dim(d);
    let want = alone(&sq, &p);
    let sp = C.attn_split;
    let mut differ = 0;
    for (c0, len) in [(0usize, 100usize), (100, 500)] {
        let shift = (sp - c0 % sp) % sp;
        let src = Shifted { k: &sq.k, v: &sq.v, shift };
        for t in c0..c0 + len {
            let q: Vec<f32> = sq.q.slice(s![t, 0, ..]).to_vec();
            let mut out = vec![0.0f32; d];
            attention::attend_row(C, &q, &src, shift, t + shift, p.scale, &mut out);
            let same = out.iter().zip(want.slice(s![t, 0, ..])).all(|(a, b)| a.to_bits() == b.to_bits());
            if c0 == 0 {
                assert!(same, "the first chunk is anchored at 0 either way");
            } else if !same {
                differ += 1;
            }
        }
    }
    assert!(differ > 100, "only {differ} of 500 tokens of the second chunk changed");
}

#[test]
fn bad_inputs_are_typed_errors() {
    let mut rng = Rng(14);
    let (hq, hkv, d) = (4, 2, 8);
    let s = gen_seq::<f32>(&mut rng, 10, hq, hkv, d, 1.0);
    let p = AttnParams::for_head_dim(d);
    let one = |n: i64| Array1::from(vec![n]);
    let param = |r: Result<Array3<f32>, Error>| matches!(r, Err(Error::Param { .. }));
    let shape = |r: Result<Array3<f32>, Error>| matches!(r, Err(Error::Shape { .. }));
    // Hq not a multiple of Hkv.
    let q3 = Array3::<f32>::zeros((10, 3, d));
    assert!(shape(prefill(C, q3.view(), s.k.view(), s.v.view(), one(10).view(), &p)));
    // Negative and overflowing lengths.
    assert!(param(prefill(C, s.q.view(), s.k.view(), s.v.view(), one(-1).view(), &p)));
    assert!(shape(prefill(C, s.q.view(), s.k.view(), s.v.view(), one(11).view(), &p)));
    assert!(shape(prefill(
        C,
        s.q.view(),
        s.k.view(),
        s.v.view(),
        Array1::from(vec![i64::MAX, i64::MAX]).view(),
        &p
    )));
    // Window 0 and a non-finite scale.
    assert!(param(prefill(
        C,
        s.q.view(),
        s.k.view(),
        s.v.view(),
        one(10).view(),
        &AttnParams { window: Some(0), ..p }
    )));
    assert!(param(prefill(
        C,
        s.q.view(),
        s.k.view(),
        s.v.view(),
        one(10).view(),
        &AttnParams { scale: f32::NAN, ..p }
    )));
    // A paged cache whose table points outside the pool or is negative, and lengths past it.
    let mut c = Cache::<f32>::paged(&mut rng, &[10], 4, 0, hkv, d);
    c.append(s.k.view(), s.v.view(), &[Span { seq: 0, start: 0, len: 10 }]).unwrap();
    let q1 = s.q.slice(s![9..10, .., ..]);
    assert!(decode::<f32, f32>(C, q1, &c.view(), &p).is_ok());
    for bad in [3i64, -1, i64::MAX] {
        let mut t = c.table.clone().unwrap();
        t[[0, 2]] = bad;
        let view = KvCache {
            layout: KvLayout::Paged {
                k: c.k.view(),
                v: c.v.view(),
                block_table: t.view(),
            },
            lens: c.lens.view(),
        };
        assert!(param(decode(C, q1, &view, &p)), "table entry {bad}");
    }
    for bad in [-3i64, 17, i64::MAX] {
        let lens = one(bad);
        let view = KvCache { lens: lens.view(), ..c.view() };
        assert!(param(decode(C, q1, &view, &p)), "length {bad}");
    }
    // Spans that reach past the cache or name a missing sequence; decode of an empty sequence.
    assert!(param(chunked_prefill(
        C,
        s.q.slice(s![..2, .., ..]),
        &c.view(),
        &[Span { seq: 0, start: 9, len: 2 }],
        &p
    )));
    assert!(param(chunked_prefill(
        C,
        s.q.slice(s![..2, .., ..]),
        &c.view(),
        &[Span { seq: 1, start: 0, len: 2 }],
        &p
    )));
    assert!(param(chunked_prefill(
        C,
        s.q.slice(s![..2, .., ..]),
        &c.view(),
        &[Span {
            seq: 0,
            start: usize::MAX,
            len: 2
        }],
        &p
    )));
    let empty = Cache::<f32>::contiguous(1, 4, hkv, d);
    assert!(param(decode(C, q1, &empty.view(), &p)));
    // Append: a hole, a page outside the pool, too many tokens for a contiguous cache.
    let mut c2 = Cache::<f32>::contiguous(1, 10, hkv, d);
    assert!(matches!(
        c2.append(s.k.slice(s![..1, .., ..]), s.v.slice(s![..1, .., ..]), &[Span { seq: 0, start: 1, len: 1 }]),
        Err(Error::Param { .. })
    ));
    let mut c3 = Cache::<f32>::contiguous(1, 9, hkv, d);
    assert!(matches!(
        c3.append(s.k.view(), s.v.view(), &[Span { seq: 0, start: 0, len: 10 }]),
        Err(Error::Param { .. })
    ));
    assert!(c3.lens[0] == 0 && c3.k.iter().all(|x| x.is_nan()), "a failed append writes nothing");
    // A bad contract.
    let mut bad = FMA_V1.clone();
    bad.attn_split = 100;
    assert!(matches!(
        prefill::<f32, f32>(&bad, s.q.view(), s.k.view(), s.v.view(), one(10).view(), &p),
        Err(Error::Contract(_))
    ));
    // Two spans of one sequence in one call: the second starts where the first ended.
    let mut c4 = Cache::<f32>::paged(&mut rng, &[10], 3, 0, hkv, d);
    c4.append(s.k.view(), s.v.view(), &[Span { seq: 0, start: 0, len: 4 }, Span { seq: 0, start: 4, len: 6 }])
        .unwrap();
    assert_eq!(c4.lens[0], 10);
    assert_same(
        decode::<f32, f32>(C, q1, &c4.view(), &p).unwrap().view(),
        decode::<f32, f32>(C, q1, &c.view(), &p).unwrap().view(),
        "two spans in one append",
    );
    // The pure append agrees with the in-place one.
    let fresh = Cache::<f32>::contiguous(1, 10, hkv, d);
    let (k, v, l) = attention::appended(&fresh.view(), s.k.view(), s.v.view(), &[Span { seq: 0, start: 0, len: 10 }]).unwrap();
    assert_eq!(l[0], 10);
    assert_same(k.index_axis(Axis(0), 0), s.k.view(), "appended k");
    assert_same(v.index_axis(Axis(0), 0), s.v.view(), "appended v");
}

#[test]
fn exp_of_signed_zero_is_one() {
    // The tree multiplies by exp(m - m) whenever the running max does not move; it relies on
    // exp(±0) = 1 exactly (docs/spec/attention.md, "What the tree needs from exp").
    assert_eq!(lockstep_reference::elementwise::exp(0.0).to_bits(), 1.0f32.to_bits());
    assert_eq!(lockstep_reference::elementwise::exp(-0.0).to_bits(), 1.0f32.to_bits());
}

/// The rows of `spans`, packed in span order.
fn gather<T: Element>(x: &[&Array3<T>], spans: &[Span]) -> Array3<T> {
    let parts: Vec<ArrayView3<T>> = spans.iter().map(|sp| x[sp.seq].slice(s![sp.start..sp.start + sp.len, .., ..])).collect();
    ndarray::concatenate(Axis(0), &parts).unwrap()
}

/// A random workload: sequences of random lengths, each cut into random chunks; the chunks
/// of all sequences are interleaved into calls of random composition.
fn arb_workload() -> impl Strategy<Value = (u64, Vec<usize>, usize, usize)> {
    (any::<u64>(), proptest::collection::vec(1usize..320, 1..7), 0usize..4, 1usize..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_batch_compositions_match_each_sequence_alone((seed, lens, gqa, calls) in arb_workload()) {
        let mut rng = Rng(seed);
        let (hq, hkv) = [(1, 1), (4, 1), (8, 1), (4, 2)][gqa];
        let d = 8;
        let seqs: Vec<Seq<bf16>> = lens.iter().map(|&n| gen_seq(&mut rng, n, hq, hkv, d, 3.0)).collect();
        let window = if rng.below(3) == 0 { Some(1 + rng.below(300)) } else { None };
        let p = AttnParams { window, ..AttnParams::for_head_dim(d) };
        // Chunks per sequence.
        let mut pending: Vec<Vec<(usize, usize)>> = lens.iter().map(|&n| {
            let mut v = Vec::new();
            let mut t = 0;
            while t < n {
                let len = (1 + rng.below(n)).min(n - t);
                v.push((t, len));
                t += len;
            }
            v.reverse();
            v
        }).collect();
        let page = [1, 7, 16, 64, 256][rng.below(5)];
        let mut c = if rng.below(2) == 0 {
            Cache::<bf16>::paged(&mut rng, &lens, page, 2, hkv, d)
        } else {
            Cache::<bf16>::contiguous(lens.len(), 320, hkv, d)
        };
        let mut out: Vec<Array3<f32>> = lens.iter().map(|&n| Array3::zeros((n, hq, d))).collect();
        let mut round = 0;
        while pending.iter().any(|v| !v.is_empty()) {
            // Each call takes the next chunk of a random subset of the sequences.
            let mut spans = Vec::new();
            for (s, v) in pending.iter_mut().enumerate() {
                if !v.is_empty() && (rng.below(calls) == 0 || round > 50) {
                    let (start, len) = v.pop().unwrap();
                    spans.push(Span { seq: s, start, len });
                }
            }
            round += 1;
            if spans.is_empty() { continue; }
            rng.shuffle(&mut spans);
            let k = gather(&seqs.iter().map(|x| &x.k).collect::<Vec<_>>(), &spans);
            let v = gather(&seqs.iter().map(|x| &x.v).collect::<Vec<_>>(), &spans);
            let q = gather(&seqs.iter().map(|x| &x.q).collect::<Vec<_>>(), &spans);
            c.append(k.view(), v.view(), &spans).unwrap();
            let o = chunked_prefill_fast::<bf16, f32>(C, q.view(), &c.view(), &spans, &p).unwrap();
            let mut off = 0;
            for sp in &spans {
                out[sp.seq].slice_mut(s![sp.start..sp.start + sp.len, .., ..]).assign(&o.slice(s![off..off + sp.len, .., ..]));
                off += sp.len;
            }
        }
        for (s, sq) in seqs.iter().enumerate() {
            let want = alone(sq, &p);
            for (i, (a, b)) in want.iter().zip(out[s].iter()).enumerate() {
                prop_assert!(a.to_bits() == b.to_bits(), "sequence {} element {}: {} vs {}", s, i, a, b);
            }
        }
    }
}
