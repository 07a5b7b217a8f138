//! KV-cache layouts, the append op and the block-table checks (docs/spec/attention.md,
//! "KV cache").
//!
//! Two layouts hold the same logical content, the K and V rows of absolute position `t` of
//! sequence `s` and KV head `h`:
//! - contiguous: `k[s][t][h][..]`, shape `[n_seq, max_pos, Hkv, D]`;
//! - paged: pages of `P` tokens, shape `[n_pages, P, Hkv, D]`; position `t` of sequence `s`
//!   lives in page `block_table[s][t / P]`, slot `t % P`. Pages may appear in any order and
//!   may be shared between sequences (a common prefix).
//!
//! `lens[s]` is the number of written positions of sequence `s`. Attention reads only
//! positions below the query's own position + 1 <= `lens[s]`: slots at or past `lens[s]`,
//! and block-table entries for blocks past `ceil(lens[s] / P)`, are never read, so they may
//! hold anything (garbage, NaN, -1).

use super::KeySource;
use crate::error::{Error, Result};
use crate::Element;
use ndarray::{s, Array1, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut1, ArrayViewMut4, CowArray, Ix4};
use serde::{Deserialize, Serialize};

/// A run of consecutive tokens of one sequence inside a packed batch of tokens: token `j`
/// of the span (`0 <= j < len`) has absolute position `start + j` in sequence `seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub seq: usize,
    pub start: usize,
    pub len: usize,
}

/// Where the rows of a cache live.
#[derive(Clone, Debug)]
pub enum KvLayout<'a, T> {
    /// `k`, `v`: `[n_seq, max_pos, Hkv, D]`.
    Contiguous { k: ArrayView4<'a, T>, v: ArrayView4<'a, T> },
    /// `k`, `v`: `[n_pages, P, Hkv, D]`; `block_table`: `[n_seq, max_blocks]` page indices.
    Paged {
        k: ArrayView4<'a, T>,
        v: ArrayView4<'a, T>,
        block_table: ArrayView2<'a, i64>,
    },
}

/// A read-only KV cache: a layout and the written length of every sequence.
#[derive(Clone, Debug)]
pub struct KvCache<'a, T> {
    pub layout: KvLayout<'a, T>,
    /// `[n_seq]`: written positions per sequence.
    pub lens: ArrayView1<'a, i64>,
}

/// The mutable twin of [`KvLayout`], for [`append`].
#[derive(Debug)]
pub enum KvLayoutMut<'a, T> {
    Contiguous {
        k: ArrayViewMut4<'a, T>,
        v: ArrayViewMut4<'a, T>,
    },
    Paged {
        k: ArrayViewMut4<'a, T>,
        v: ArrayViewMut4<'a, T>,
        block_table: ArrayView2<'a, i64>,
    },
}

/// A cache that [`append`] writes into.
#[derive(Debug)]
pub struct KvCacheMut<'a, T> {
    pub layout: KvLayoutMut<'a, T>,
    pub lens: ArrayViewMut1<'a, i64>,
}

/// How a (sequence, position) maps to a row of storage, after every check.
#[derive(Clone, Debug)]
pub(crate) enum Map {
    /// Rows per sequence.
    Contiguous { max_pos: usize },
    /// Page size and, per sequence, the page of each block that can be read.
    Paged { page: usize, table: Vec<Vec<usize>> },
}

impl Map {
    /// Storage row (the index over the first two axes, flattened) of position `t` of `seq`.
    #[inline(always)]
    pub(crate) fn row(&self, seq: usize, t: usize) -> usize {
        match self {
            Map::Contiguous { max_pos } => seq * max_pos + t,
            Map::Paged { page, table } => table[seq][t / page] * page + t % page,
        }
    }
}

/// A checked cache: contiguous slices, dims, usize lengths.
pub(crate) struct Store<'a, T: Element> {
    k: CowArray<'a, T, Ix4>,
    v: CowArray<'a, T, Ix4>,
    pub(crate) map: Map,
    pub(crate) lens: Vec<usize>,
    pub(crate) hkv: usize,
    pub(crate) d: usize,
}

/// The K/V rows of one (sequence, KV head) of a checked cache.
pub(crate) struct SeqHead<'s, T: Element> {
    k: &'s [T],
    v: &'s [T],
    map: &'s Map,
    seq: usize,
    head: usize,
    hkv: usize,
    d: usize,
}

impl<T: Element> KeySource<T> for SeqHead<'_, T> {
    #[inline(always)]
    fn k(&self, t: usize) -> &[T] {
        let o = (self.map.row(self.seq, t) * self.hkv + self.head) * self.d;
        &self.k[o..o + self.d]
    }
    #[inline(always)]
    fn v(&self, t: usize) -> &[T] {
        let o = (self.map.row(self.seq, t) * self.hkv + self.head) * self.d;
        &self.v[o..o + self.d]
    }
}

impl<'a, T: Element> Store<'a, T> {
    pub(crate) fn source(&self, seq: usize, head: usize) -> SeqHead<'_, T> {
        SeqHead {
            k: self.k.as_slice().expect("standard layout"),
            v: self.v.as_slice().expect("standard layout"),
            map: &self.map,
            seq,
            head,
            hkv: self.hkv,
            d: self.d,
        }
    }
}

/// A view as is when it is already row-major, else a row-major copy.
fn standard<T: Element>(x: ArrayView4<'_, T>) -> CowArray<'_, T, Ix4> {
    if x.is_standard_layout() {
        CowArray::from(x)
    } else {
        CowArray::from(x.as_standard_layout().into_owned())
    }
}

/// A non-negative length that fits `usize`.
pub(crate) fn len_of(op: &'static str, what: &str, x: i64) -> Result<usize> {
    usize::try_from(x).map_err(|_| Error::param(op, format!("{what} = {x} is negative")))
}

/// Checks the page indices that a sequence of `len` positions can read and returns them.
fn table_rows(op: &'static str, table: ArrayView2<i64>, lens: &[usize], page: usize, n_pages: usize) -> Result<Vec<Vec<usize>>> {
    let max_blocks = table.ncols();
    let mut out = Vec::with_capacity(lens.len());
    for (s, &len) in lens.iter().enumerate() {
        let blocks = len.div_ceil(page);
        if blocks > max_blocks {
            return Err(Error::param(
                op,
                format!("sequence {s} has length {len}, which needs {blocks} pages of {page}, but the block table has {max_blocks} columns"),
            ));
        }
        let mut row = Vec::with_capacity(blocks);
        for b in 0..blocks {
            let e = table[[s, b]];
            match usize::try_from(e) {
                Ok(p) if p < n_pages => row.push(p),
                _ => {
                    return Err(Error::param(
                        op,
                        format!("block table entry [{s}][{b}] = {e} is outside the pool of {n_pages} pages"),
                    ))
                }
            }
        }
        out.push(row);
    }
    Ok(out)
}

/// Shapes of the two storage arrays: `(rows0, rows1, Hkv, D)` equal for K and V, Hkv and D >= 1.
fn check_kv_dims(op: &'static str, k: &[usize], v: &[usize]) -> Result<()> {
    if k != v {
        return Err(Error::shape(op, format!("K storage is {k:?} but V storage is {v:?}")));
    }
    if k[2] == 0 || k[3] == 0 {
        return Err(Error::empty(op, format!("storage is {k:?}: KV heads and head dim must be at least 1")));
    }
    Ok(())
}

/// Lengths and layout map of a cache (the checks shared by attention and append).
fn check_map(op: &'static str, kd: &[usize], table: Option<ArrayView2<i64>>, lens: ArrayView1<i64>) -> Result<(Map, Vec<usize>)> {
    let lens: Vec<usize> = lens
        .iter()
        .enumerate()
        .map(|(s, &l)| len_of(op, &format!("lens[{s}]"), l))
        .collect::<Result<_>>()?;
    match table {
        None => {
            if lens.len() != kd[0] {
                return Err(Error::shape(
                    op,
                    format!("{} lengths for a contiguous cache of {} sequences", lens.len(), kd[0]),
                ));
            }
            let max_pos = kd[1];
            if let Some((s, &l)) = lens.iter().enumerate().find(|(_, &l)| l > max_pos) {
                return Err(Error::param(op, format!("lens[{s}] = {l} exceeds the cache's {max_pos} positions")));
            }
            Ok((Map::Contiguous { max_pos }, lens))
        }
        Some(t) => {
            let page = kd[1];
            if page == 0 {
                return Err(Error::empty(op, "page size P = 0"));
            }
            if lens.len() != t.nrows() {
                return Err(Error::shape(op, format!("{} lengths for a block table of {} sequences", lens.len(), t.nrows())));
            }
            let table = table_rows(op, t, &lens, page, kd[0])?;
            Ok((Map::Paged { page, table }, lens))
        }
    }
}

impl<'a, T: Element> KvCache<'a, T> {
    /// Validates the cache and returns the form attention reads.
    pub(crate) fn store(&self, op: &'static str) -> Result<Store<'a, T>> {
        let (k, v, table) = match &self.layout {
            KvLayout::Contiguous { k, v } => (*k, *v, None),
            KvLayout::Paged { k, v, block_table } => (*k, *v, Some(*block_table)),
        };
        check_kv_dims(op, k.shape(), v.shape())?;
        let (map, lens) = check_map(op, k.shape(), table, self.lens)?;
        let (hkv, d) = (k.shape()[2], k.shape()[3]);
        Ok(Store {
            k: standard(k),
            v: standard(v),
            map,
            lens,
            hkv,
            d,
        })
    }

    /// Number of sequences.
    pub fn n_seq(&self) -> usize {
        self.lens.len()
    }
}

/// Checks a packed list of spans against a token count and (optionally) cache lengths.
pub(crate) fn check_spans(op: &'static str, spans: &[Span], tokens: usize, lens: &[usize], within_lens: bool) -> Result<()> {
    let mut total = 0usize;
    // For an append, the length each sequence has reached so far in this call.
    let mut cur = lens.to_vec();
    for (i, sp) in spans.iter().enumerate() {
        if sp.seq >= lens.len() {
            return Err(Error::param(op, format!("span {i} names sequence {} of {}", sp.seq, lens.len())));
        }
        let end = sp
            .start
            .checked_add(sp.len)
            .ok_or_else(|| Error::param(op, format!("span {i}: start {} + len {} overflows", sp.start, sp.len)))?;
        if within_lens && end > lens[sp.seq] {
            return Err(Error::param(
                op,
                format!("span {i} reaches position {end} of sequence {}, which holds {} positions", sp.seq, lens[sp.seq]),
            ));
        }
        if !within_lens {
            if sp.start > cur[sp.seq] {
                return Err(Error::param(
                    op,
                    format!(
                        "span {i} starts at {} but sequence {} holds {} positions (no holes)",
                        sp.start, sp.seq, cur[sp.seq]
                    ),
                ));
            }
            cur[sp.seq] = cur[sp.seq].max(end);
        }
        total = total.checked_add(sp.len).ok_or_else(|| Error::param(op, "span lengths overflow"))?;
    }
    if total != tokens {
        return Err(Error::shape(op, format!("spans cover {total} tokens but {tokens} were given")));
    }
    Ok(())
}

/// Writes the K/V rows of new tokens into a cache: token `j` of span `sp` (tokens packed in
/// span order, `k_new`/`v_new` `[tokens, Hkv, D]`) goes to position `sp.start + j` of
/// sequence `sp.seq`, and `lens[sp.seq]` becomes `max(lens[sp.seq], sp.start + sp.len)`.
/// A span may start at most at the current length, counting the spans before it in the
/// same call (no holes). Everything is checked before
/// anything is written. A pure copy: no arithmetic, so every layout holds the same bits.
/// Writing into a page that other sequences share changes them too; that is the caller's
/// business (copy-on-write happens above this op).
pub fn append<T: Element>(cache: &mut KvCacheMut<T>, k_new: ArrayView3<T>, v_new: ArrayView3<T>, spans: &[Span]) -> Result<()> {
    let (kst, vst, table) = match &cache.layout {
        KvLayoutMut::Contiguous { k, v } => (k.shape().to_vec(), v.shape().to_vec(), None),
        KvLayoutMut::Paged { k, v, block_table } => (k.shape().to_vec(), v.shape().to_vec(), Some(block_table.view())),
    };
    let (dest, new_lens_i64) = plan_rows(&kst, &vst, table, cache.lens.view(), k_new.shape(), v_new.shape(), spans)?;
    let (k, v) = match &mut cache.layout {
        KvLayoutMut::Contiguous { k, v } | KvLayoutMut::Paged { k, v, .. } => (k, v),
    };
    let rows = kst[1];
    for (tok, &r) in dest.iter().enumerate() {
        let (a, b) = (r / rows, r % rows);
        k.slice_mut(s![a, b, .., ..]).assign(&k_new.slice(s![tok, .., ..]));
        v.slice_mut(s![a, b, .., ..]).assign(&v_new.slice(s![tok, .., ..]));
    }
    for (l, &n) in cache.lens.iter_mut().zip(&new_lens_i64) {
        *l = n;
    }
    Ok(())
}

/// The checks of [`append`] (same errors) without writing: the storage row (index over the
/// flattened first two storage axes) of every new token, in token order, and the lengths
/// after the append. What a device implementation of the copy needs (lockstep-gpu).
pub fn append_plan<T: Element>(cache: &KvCache<T>, k_new: &[usize], v_new: &[usize], spans: &[Span]) -> Result<(Vec<usize>, Vec<i64>)> {
    let (k, v, table) = match &cache.layout {
        KvLayout::Contiguous { k, v } => (k, v, None),
        KvLayout::Paged { k, v, block_table } => (k, v, Some(block_table.view())),
    };
    plan_rows(k.shape(), v.shape(), table, cache.lens, k_new, v_new, spans)
}

fn plan_rows(
    kst: &[usize],
    vst: &[usize],
    table: Option<ArrayView2<i64>>,
    lens: ArrayView1<i64>,
    k_new: &[usize],
    v_new: &[usize],
    spans: &[Span],
) -> Result<(Vec<usize>, Vec<i64>)> {
    const OP: &str = "kv_append";
    check_kv_dims(OP, kst, vst)?;
    if k_new != v_new || k_new[1..] != kst[2..] {
        return Err(Error::shape(
            OP,
            format!("new K is {k_new:?} and new V is {v_new:?}; the cache rows are [Hkv, D] = {:?}", &kst[2..]),
        ));
    }
    let (_, lens) = check_map(OP, kst, table, lens)?;
    check_spans(OP, spans, k_new[0], &lens, false)?;
    // Lengths after the append, and the map that can reach them.
    let mut new_lens = lens.clone();
    for sp in spans {
        new_lens[sp.seq] = new_lens[sp.seq].max(sp.start + sp.len);
    }
    let new_lens_i64: Vec<i64> = new_lens
        .iter()
        .map(|&l| i64::try_from(l).map_err(|_| Error::param(OP, format!("length {l} overflows i64"))))
        .collect::<Result<_>>()?;
    let (map, _) = check_map(OP, kst, table, ArrayView1::from(&new_lens_i64[..]))?;
    let dest = spans
        .iter()
        .flat_map(|sp| (0..sp.len).map(move |j| (sp.seq, sp.start + j)))
        .map(|(q, t)| map.row(q, t))
        .collect();
    Ok((dest, new_lens_i64))
}

/// [`append`] as a pure function: copies of `(k, v, lens)` with the new tokens written.
pub fn appended<T: Element>(cache: &KvCache<T>, k_new: ArrayView3<T>, v_new: ArrayView3<T>, spans: &[Span]) -> Result<(Array4<T>, Array4<T>, Array1<i64>)> {
    let mut lens = cache.lens.to_owned();
    match &cache.layout {
        KvLayout::Contiguous { k, v } => {
            let (mut k, mut v) = (k.to_owned(), v.to_owned());
            append(
                &mut KvCacheMut {
                    layout: KvLayoutMut::Contiguous {
                        k: k.view_mut(),
                        v: v.view_mut(),
                    },
                    lens: lens.view_mut(),
                },
                k_new,
                v_new,
                spans,
            )?;
            Ok((k, v, lens))
        }
        KvLayout::Paged { k, v, block_table } => {
            let (mut k, mut v) = (k.to_owned(), v.to_owned());
            append(
                &mut KvCacheMut {
                    layout: KvLayoutMut::Paged {
                        k: k.view_mut(),
                        v: v.view_mut(),
                        block_table: block_table.view(),
                    },
                    lens: lens.view_mut(),
                },
                k_new,
                v_new,
                spans,
            )?;
            Ok((k, v, lens))
        }
    }
}
