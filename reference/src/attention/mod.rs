//! Causal attention over a KV cache: prefill, chunked prefill and decode
//! (docs/spec/attention.md).
//!
//! Every output row — one query token at absolute position `p`, one query head `h` — is
//! computed by [`attend_row`] over the keys `first..=p` of its sequence (`first = 0`, or
//! `p + 1 - W` with a sliding window of `W` keys) and KV head `h / (Hq / Hkv)`:
//!
//! 1. Splits: the key axis is cut into splits of `S` keys aligned at position 0 (split `s`
//!    covers `[s·S, (s+1)·S)`); a split with no key in `first..=p` is skipped.
//! 2. Inside a split, blocks of `BN` keys aligned at 0; per block, over its keys `t` in order:
//!    `score_t = fma chain over d = 0..D of q_d·k_{t,d}` from `+0`, then `score_t = score_t * scale`;
//!    `mb = max2` over the block's scores in key order from `-inf`.
//!    First block of the split: `m = mb`, `l = +0`, `acc_d = +0`. Later blocks:
//!    `m' = max2(m, mb)`, `alpha = exp(m - m')`, `l = l * alpha`, `acc_d = acc_d * alpha`, `m = m'`.
//!    Then for each key `t` in order: `e = exp(score_t - m)`, `l = l + e`,
//!    `acc_d = fma(e, v_{t,d}, acc_d)`.
//! 3. Splits merged left to right: `M = max2(M_a, m_b)`, `a = exp(M_a - M)`, `b = exp(m_b - M)`,
//!    `L = (L_a * a) + (l_b * b)`, `A_d = (A_d * a) + (acc_d * b)` (two products, one sum).
//! 4. `out_d = A_d / L` (one division), rounded once to the output type.
//!
//! `BN = contract.attn_block`, `S = contract.attn_split`; `exp` is [`crate::elementwise::exp`].
//! Masked keys and positions past the query are never read. Because blocks and splits are
//! anchored at absolute position 0, the row does not depend on how the tokens were batched
//! or chunked, or on the cache layout; the three entry points are the same tree.

pub mod fast;
pub mod kvcache;

pub use kvcache::{append, append_plan, appended, KvCache, KvCacheMut, KvLayout, KvLayoutMut, Span};

use crate::elementwise::exp;
use crate::error::{Error, Result};
use crate::reduce::{max2, Path};
use crate::{Contract, Element};
use kvcache::{check_spans, len_of};
use ndarray::{Array3, ArrayView1, ArrayView3};
use serde::{Deserialize, Serialize};

/// Parameters shared by every entry point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttnParams {
    /// Multiplies each dot product once, after the fma chain (usually `1/sqrt(D)` rounded to f32).
    pub scale: f32,
    /// Sliding window: a query at position `p` sees keys `max(0, p + 1 - W)..=p`. `None`: all of `0..=p`.
    pub window: Option<usize>,
}

impl AttnParams {
    /// `scale = 1 / sqrt(d)` (IEEE sqrt, then one division), no window.
    pub fn for_head_dim(d: usize) -> AttnParams {
        AttnParams {
            scale: 1.0 / (d as f32).sqrt(),
            window: None,
        }
    }

    fn check(&self, op: &'static str) -> Result<()> {
        if !self.scale.is_finite() {
            return Err(Error::param(op, format!("scale {} is not finite", self.scale)));
        }
        if self.window == Some(0) {
            return Err(Error::param(op, "window of 0 keys (a query always sees itself)"));
        }
        Ok(())
    }

    /// First key position a query at `p` sees.
    #[inline]
    pub fn first_key(&self, p: usize) -> usize {
        match self.window {
            Some(w) => (p + 1).saturating_sub(w),
            None => 0,
        }
    }
}

/// The K and V rows of absolute position `t` of one (sequence, KV head), from whatever storage.
/// [`attend_row`] reads only the positions it is told to.
pub trait KeySource<T>: Sync {
    fn k(&self, t: usize) -> &[T];
    fn v(&self, t: usize) -> &[T];
}

/// Running state of one split: `(m, l, acc)`.
#[derive(Clone, Debug)]
pub struct SplitState {
    pub m: f32,
    pub l: f32,
    pub acc: Vec<f32>,
}

/// Step 2 of the tree: the state of the keys `lo..=hi`, all inside one split.
pub fn split_state<T: Element, K: KeySource<T>>(bn: usize, q: &[f32], keys: &K, lo: usize, hi: usize, scale: f32) -> SplitState {
    let d = q.len();
    let mut st: Option<SplitState> = None;
    let mut scores = Vec::with_capacity(bn);
    for b in (lo / bn)..=(hi / bn) {
        let (blo, bhi) = (lo.max(b * bn), hi.min(b * bn + bn - 1));
        scores.clear();
        for t in blo..=bhi {
            let k = keys.k(t);
            let mut s = 0.0f32;
            for (&qi, &ki) in q.iter().zip(k) {
                s = qi.mul_add(ki.to_f32(), s);
            }
            scores.push(s * scale);
        }
        let mut mb = f32::NEG_INFINITY;
        for &s in &scores {
            mb = max2(mb, s);
        }
        let st = match &mut st {
            None => st.insert(SplitState {
                m: mb,
                l: 0.0,
                acc: vec![0.0; d],
            }),
            Some(st) => {
                let m_new = max2(st.m, mb);
                let alpha = exp(st.m - m_new);
                st.l *= alpha;
                for a in st.acc.iter_mut() {
                    *a *= alpha;
                }
                st.m = m_new;
                st
            }
        };
        for (t, &s) in (blo..=bhi).zip(&scores) {
            let e = exp(s - st.m);
            st.l += e;
            let v = keys.v(t);
            for (a, &vi) in st.acc.iter_mut().zip(v) {
                *a = e.mul_add(vi.to_f32(), *a);
            }
        }
    }
    st.expect("lo <= hi gives at least one block")
}

/// Step 3 of the tree: split `b` merged into the running state `a` (its left neighbour).
pub fn merge(a: &mut SplitState, b: &SplitState) {
    let m = max2(a.m, b.m);
    let fa = exp(a.m - m);
    let fb = exp(b.m - m);
    a.l = (a.l * fa) + (b.l * fb);
    for (x, &y) in a.acc.iter_mut().zip(&b.acc) {
        *x = (*x * fa) + (y * fb);
    }
    a.m = m;
}

/// The tree for one output row: query `q` (widened, length D) against keys `first..=last`
/// of `keys` (`first <= last`). Writes the f32 result (before rounding to the output type).
/// This is the definition; see the module comment for the order of operations.
pub fn attend_row<T: Element, K: KeySource<T>>(c: &Contract, q: &[f32], keys: &K, first: usize, last: usize, scale: f32, out: &mut [f32]) {
    let (bn, sp) = (c.attn_block, c.attn_split);
    let mut total: Option<SplitState> = None;
    for s in (first / sp)..=(last / sp) {
        let (lo, hi) = (first.max(s * sp), last.min(s * sp + sp - 1));
        let st = split_state(bn, q, keys, lo, hi, scale);
        match &mut total {
            None => total = Some(st),
            Some(t) => merge(t, &st),
        }
    }
    let t = total.expect("first <= last gives at least one split");
    for (o, &a) in out.iter_mut().zip(&t.acc) {
        *o = a / t.l;
    }
}

/// One query token: its sequence (or packed base) and absolute position.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub(crate) seq: usize,
    pub(crate) pos: usize,
}

/// Checks `q` = `[tokens, Hq, D]` against `Hkv` and `D` of the keys; returns `(tokens, Hq, D)`.
fn check_q(op: &'static str, c: &Contract, q: &[usize], hkv: usize, d: usize, p: &AttnParams) -> Result<(usize, usize, usize)> {
    c.validate()?;
    p.check(op)?;
    let (n, hq, dq) = (q[0], q[1], q[2]);
    if dq != d {
        return Err(Error::shape(op, format!("queries have head dim {dq} but keys have {d}")));
    }
    if hq == 0 || d == 0 || hkv == 0 {
        return Err(Error::empty(op, format!("Hq = {hq}, Hkv = {hkv}, D = {d}: all must be at least 1")));
    }
    if hq % hkv != 0 {
        return Err(Error::shape(op, format!("Hq = {hq} query heads is not a multiple of Hkv = {hkv} KV heads")));
    }
    Ok((n, hq, d))
}

/// Runs [`attend_row`] (or its fast twin) for every (token, head) and rounds to `O`.
#[allow(clippy::too_many_arguments)]
fn run_rows<T: Element, O: Element, K: KeySource<T>>(
    path: Path,
    c: &Contract,
    q: ArrayView3<T>,
    rows: &[Row],
    hkv: usize,
    p: &AttnParams,
    source: impl Fn(usize, usize) -> K + Sync,
) -> Array3<O> {
    use rayon::prelude::*;
    let (n, hq, d) = q.dim();
    let q = q.as_standard_layout();
    let qs = q.as_slice().expect("standard layout");
    let group = hq / hkv;
    let mut out = vec![0.0f32; n * hq * d];
    let body = |(r, o): (usize, &mut [f32])| {
        let (tok, h) = (r / hq, r % hq);
        let row = rows[tok];
        let qrow: Vec<f32> = qs[r * d..(r + 1) * d].iter().map(|x| x.to_f32()).collect();
        let keys = source(row.seq, h / group);
        let first = p.first_key(row.pos);
        match path {
            Path::Literal => attend_row(c, &qrow, &keys, first, row.pos, p.scale, o),
            Path::Fast => fast::attend_row_fast(c, &qrow, &keys, first, row.pos, p.scale, o),
        }
    };
    if d > 0 {
        match path {
            Path::Literal => out.chunks_mut(d).enumerate().for_each(body),
            Path::Fast => out.par_chunks_mut(d).enumerate().for_each(body),
        }
    }
    Array3::from_shape_vec((n, hq, d), out.into_iter().map(O::from_f32).collect()).expect("shape")
}

/// K/V rows of one sequence of a packed prefill batch.
struct Packed<'a, T> {
    k: &'a [T],
    v: &'a [T],
    base: usize,
    head: usize,
    hkv: usize,
    d: usize,
}

impl<T: Element> KeySource<T> for Packed<'_, T> {
    #[inline(always)]
    fn k(&self, t: usize) -> &[T] {
        let o = ((self.base + t) * self.hkv + self.head) * self.d;
        &self.k[o..o + self.d]
    }
    #[inline(always)]
    fn v(&self, t: usize) -> &[T] {
        let o = ((self.base + t) * self.hkv + self.head) * self.d;
        &self.v[o..o + self.d]
    }
}

/// The checks of [`prefill`]: returns the rows and the packed base of every sequence.
fn prefill_rows(c: &Contract, q: &[usize], k: &[usize], v: &[usize], seq_lens: ArrayView1<i64>, p: &AttnParams) -> Result<(Vec<Row>, Vec<usize>)> {
    const OP: &str = "attention_prefill";
    if k != v {
        return Err(Error::shape(OP, format!("K is {k:?} but V is {v:?}")));
    }
    let (nk, hkv, d) = (k[0], k[1], k[2]);
    let (n, _, _) = check_q(OP, c, q, hkv, d, p)?;
    if nk != n {
        return Err(Error::shape(OP, format!("{n} query tokens but {nk} key tokens")));
    }
    let mut rows = Vec::with_capacity(n);
    let mut bases = Vec::with_capacity(seq_lens.len());
    for (s, &l) in seq_lens.iter().enumerate() {
        let l = len_of(OP, &format!("seq_lens[{s}]"), l)?;
        bases.push(rows.len());
        if rows.len().checked_add(l).is_none_or(|e| e > n) {
            return Err(Error::shape(OP, format!("seq_lens add up to more than the {n} tokens given")));
        }
        rows.extend((0..l).map(|pos| Row { seq: s, pos }));
    }
    if rows.len() != n {
        return Err(Error::shape(OP, format!("seq_lens add up to {} but {n} tokens were given", rows.len())));
    }
    Ok((rows, bases))
}

fn prefill_path<T: Element, O: Element>(
    path: Path,
    c: &Contract,
    q: ArrayView3<T>,
    k: ArrayView3<T>,
    v: ArrayView3<T>,
    seq_lens: ArrayView1<i64>,
    p: &AttnParams,
) -> Result<Array3<O>> {
    let (rows, bases) = prefill_rows(c, q.shape(), k.shape(), v.shape(), seq_lens, p)?;
    let (_, hkv, d) = k.dim();
    let (k, v) = (k.as_standard_layout(), v.as_standard_layout());
    let (ks, vs) = (k.as_slice().expect("standard"), v.as_slice().expect("standard"));
    Ok(run_rows(path, c, q, &rows, hkv, p, |seq, head| Packed {
        k: ks,
        v: vs,
        base: bases[seq],
        head,
        hkv,
        d,
    }))
}

/// Prefill of a packed batch of whole sequences, no cache: `q` `[N, Hq, D]`, `k`, `v`
/// `[N, Hkv, D]`, sequence `s` owning the next `seq_lens[s]` tokens; token `i` of a sequence
/// is at position `i` and attends to its sequence's tokens `0..=i` (and the window).
/// Output `[N, Hq, D]`. The literal reference.
pub fn prefill<T: Element, O: Element>(
    c: &Contract,
    q: ArrayView3<T>,
    k: ArrayView3<T>,
    v: ArrayView3<T>,
    seq_lens: ArrayView1<i64>,
    p: &AttnParams,
) -> Result<Array3<O>> {
    prefill_path(Path::Literal, c, q, k, v, seq_lens, p)
}

/// [`prefill`], rows in parallel; equal bit for bit.
pub fn prefill_fast<T: Element, O: Element>(
    c: &Contract,
    q: ArrayView3<T>,
    k: ArrayView3<T>,
    v: ArrayView3<T>,
    seq_lens: ArrayView1<i64>,
    p: &AttnParams,
) -> Result<Array3<O>> {
    prefill_path(Path::Fast, c, q, k, v, seq_lens, p)
}

fn cached_path<T: Element, O: Element>(
    path: Path,
    op: &'static str,
    c: &Contract,
    q: ArrayView3<T>,
    cache: &KvCache<T>,
    spans: Option<&[Span]>,
    p: &AttnParams,
) -> Result<Array3<O>> {
    let store = cache.store(op)?;
    let rows = cached_rows(op, c, q.shape(), &store, spans, p)?;
    Ok(run_rows(path, c, q, &rows, store.hkv, p, |seq, head| store.source(seq, head)))
}

/// The checks of [`chunked_prefill`] (`spans` given) and [`decode`] (`None`): the rows.
fn cached_rows<T: Element>(op: &'static str, c: &Contract, q: &[usize], store: &kvcache::Store<T>, spans: Option<&[Span]>, p: &AttnParams) -> Result<Vec<Row>> {
    let (n, _, _) = check_q(op, c, q, store.hkv, store.d, p)?;
    let rows: Vec<Row> = match spans {
        Some(spans) => {
            check_spans(op, spans, n, &store.lens, true)?;
            spans
                .iter()
                .flat_map(|sp| {
                    (0..sp.len).map(move |j| Row {
                        seq: sp.seq,
                        pos: sp.start + j,
                    })
                })
                .collect()
        }
        None => {
            if n != store.lens.len() {
                return Err(Error::shape(op, format!("{n} query tokens for a cache of {} sequences", store.lens.len())));
            }
            let mut rows = Vec::with_capacity(n);
            for (s, &l) in store.lens.iter().enumerate() {
                if l == 0 {
                    return Err(Error::param(op, format!("sequence {s} is empty: decode needs its new token in the cache")));
                }
                rows.push(Row { seq: s, pos: l - 1 });
            }
            rows
        }
    };
    Ok(rows)
}

/// Where the K/V rows of every query row live, after all the checks of an entry point: what
/// a device implementation of the same tree needs (lockstep-gpu), so that its errors are
/// the reference's. Storage row of position `t` of sequence `s` (index over the flattened
/// first two storage axes): `base[s] + t`, or with pages `table[s][t / page] * page + t % page`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per query token (in `q` order): `(sequence, absolute position)`.
    pub rows: Vec<(usize, usize)>,
    /// Query heads, KV heads, head dim.
    pub hq: usize,
    pub hkv: usize,
    pub d: usize,
    pub map: PlanMap,
}

/// The storage map of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanMap {
    /// Position `t` of sequence `s` is storage row `base[s] + t` (packed prefill, contiguous cache).
    Base(Vec<usize>),
    /// Pages of `page` tokens; `table[s]` holds the checked pages sequence `s` can read.
    Paged { page: usize, table: Vec<Vec<usize>> },
}

fn plan_of(rows: Vec<Row>, hq: usize, hkv: usize, d: usize, map: PlanMap) -> Plan {
    Plan {
        rows: rows.iter().map(|r| (r.seq, r.pos)).collect(),
        hq,
        hkv,
        d,
        map,
    }
}

/// The checks of [`prefill`] (same errors) and its [`Plan`].
pub fn prefill_plan<T: Element>(c: &Contract, q: ArrayView3<T>, k: ArrayView3<T>, v: ArrayView3<T>, seq_lens: ArrayView1<i64>, p: &AttnParams) -> Result<Plan> {
    let (rows, bases) = prefill_rows(c, q.shape(), k.shape(), v.shape(), seq_lens, p)?;
    Ok(plan_of(rows, q.shape()[1], k.shape()[1], k.shape()[2], PlanMap::Base(bases)))
}

/// The checks of [`chunked_prefill`] (`spans` given) or [`decode`] (`None`), same errors, and the [`Plan`].
pub fn cached_plan<T: Element>(c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, spans: Option<&[Span]>, p: &AttnParams) -> Result<Plan> {
    let op = if spans.is_some() { "attention_chunked_prefill" } else { "attention_decode" };
    let store = cache.store(op)?;
    let rows = cached_rows(op, c, q.shape(), &store, spans, p)?;
    let map = match &store.map {
        kvcache::Map::Contiguous { max_pos } => PlanMap::Base((0..store.lens.len()).map(|s| s * max_pos).collect()),
        kvcache::Map::Paged { page, table } => PlanMap::Paged {
            page: *page,
            table: table.clone(),
        },
    };
    Ok(plan_of(rows, q.shape()[1], store.hkv, store.d, map))
}

/// Chunked prefill (and any mix of chunks): `q` `[N, Hq, D]` packed in span order; token `j`
/// of span `sp` is at position `sp.start + j` of sequence `sp.seq` and attends to that
/// sequence's cached keys `0..=sp.start + j`. The chunk's own K/V must already be in the
/// cache ([`append`] first), so `sp.start + sp.len <= lens[sp.seq]`. The literal reference.
pub fn chunked_prefill<T: Element, O: Element>(c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, spans: &[Span], p: &AttnParams) -> Result<Array3<O>> {
    cached_path(Path::Literal, "attention_chunked_prefill", c, q, cache, Some(spans), p)
}

/// [`chunked_prefill`], rows in parallel; equal bit for bit.
pub fn chunked_prefill_fast<T: Element, O: Element>(c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, spans: &[Span], p: &AttnParams) -> Result<Array3<O>> {
    cached_path(Path::Fast, "attention_chunked_prefill", c, q, cache, Some(spans), p)
}

/// Decode: `q` `[B, Hq, D]`, one new token per sequence of the cache (`B = n_seq`); the
/// token of sequence `b` is at position `lens[b] - 1` (its K/V already appended) and attends
/// to keys `0..=lens[b] - 1`. The literal reference.
pub fn decode<T: Element, O: Element>(c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> Result<Array3<O>> {
    cached_path(Path::Literal, "attention_decode", c, q, cache, None, p)
}

/// [`decode`], rows in parallel; equal bit for bit.
pub fn decode_fast<T: Element, O: Element>(c: &Contract, q: ArrayView3<T>, cache: &KvCache<T>, p: &AttnParams) -> Result<Array3<O>> {
    cached_path(Path::Fast, "attention_decode", c, q, cache, None, p)
}
