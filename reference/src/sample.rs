//! Token sampling as a pure function of (logits, parameters, seed, position)
//! (docs/spec/sampling.md).
//!
//! For one row of logits `x` (widened to f32) and its [`SampleParams`]:
//! 1. NaN logits become `-inf` (never chosen).
//! 2. Repetition penalty `r` (if `r != 1`), once per distinct id `t` of `history`:
//!    `x_t = x_t / r` if `x_t > 0`, else `x_t = x_t * r`.
//! 3. `temperature == 0`: greedy, the lowest index of the maximal `x_i`. Done.
//! 4. `z_i = x_i / temperature` (one division). If some `z_i = +inf`, the lowest such
//!    index is the token. Done.
//! 5. top-k (`0 < k < V`): `tau` = the k-th largest `z` counted with multiplicity; every
//!    `z_i < tau` becomes `-inf` (ties with `tau` are kept).
//! 6. If top-p or min-p is on: `m = lane_reduce::<Max>(L, z)`, `e_i = exp(z_i - m)` for
//!    finite `z_i` and `+0` for masked ones, `s = lane_reduce::<Sum>(L, e)`, `p_i = e_i / s`
//!    (the tree of [`crate::softmax`]).
//!    top-p (`top_p < 1`): the kept indices in the order (z descending, index ascending);
//!    `c = +0`; for each, `c = c + p_i`, keep it, stop once `c >= top_p`; the rest become `-inf`.
//!    min-p (`min_p > 0`): `thr = min_p * (1 / s)` (the largest `p` is `1 / s`: one division,
//!    one product); every kept `p_i < thr` becomes `-inf`.
//! 7. Gumbel-max: for every kept `i`, `u_i` = [`philox::uniform_open`] of word `i` of the
//!    stream of `(seed, position)` ([`philox::word`]), `g_i = -log(-log(u_i))`, `y_i = z_i + g_i`;
//!    the token is the lowest index of the maximal `y_i`.
//!
//! A row with no finite candidate left gives `-1`. Every step reads only its own row, so the
//! token never depends on the other requests of the call. `exp`/`log` are
//! [`crate::elementwise`]'s.

use crate::elementwise::{exp, log};
use crate::error::{Error, Result};
use crate::philox::{uniform_open, word};
use crate::reduce::{lane_reduce, Max, Sum};
use crate::{Contract, Element};
use ndarray::{Array1, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// One request's sampling parameters. The defaults are plain sampling at temperature 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleParams {
    /// `0` is greedy; otherwise finite and positive.
    pub temperature: f32,
    /// Keep the `top_k` largest logits (ties with the k-th kept); `0` is off.
    pub top_k: usize,
    /// Nucleus mass in `(0, 1]`; `1` is off.
    pub top_p: f32,
    /// In `[0, 1]`: drop tokens whose probability is below `min_p` times the largest; `0` is off.
    pub min_p: f32,
    /// Finite and positive; `1` is off.
    pub repetition_penalty: f32,
    /// Token ids seen so far (prompt and output) for the repetition penalty; repeats count once.
    pub history: Vec<u32>,
    /// The request's seed: the Philox key.
    pub seed: u64,
    /// The position of the token being sampled: the Philox counter's high half.
    pub position: u64,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            history: Vec::new(),
            seed: 0,
            position: 0,
        }
    }
}

impl SampleParams {
    /// Greedy decoding (argmax).
    pub fn greedy() -> Self {
        SampleParams {
            temperature: 0.0,
            ..Default::default()
        }
    }

    fn check(&self, op: &'static str, vocab: usize) -> Result<()> {
        let t = self.temperature;
        if !(t.is_finite() && t >= 0.0) {
            return Err(Error::param(op, format!("temperature {t} must be finite and >= 0")));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::param(op, format!("top_p {} must be in (0, 1]", self.top_p)));
        }
        if !(self.min_p >= 0.0 && self.min_p <= 1.0) {
            return Err(Error::param(op, format!("min_p {} must be in [0, 1]", self.min_p)));
        }
        let r = self.repetition_penalty;
        if !(r.is_finite() && r > 0.0) {
            return Err(Error::param(op, format!("repetition_penalty {r} must be finite and > 0")));
        }
        if let Some(&id) = self.history.iter().find(|&&id| id as usize >= vocab) {
            return Err(Error::param(op, format!("history holds token id {id} but the vocabulary has {vocab} entries")));
        }
        Ok(())
    }
}

/// Lowest index of the largest value under `>`; `-1` if every value is `-inf` (NaN never
/// occurs here). The maximum is exact, so any scan order that keeps the lowest index on
/// ties (e.g. a GPU tree on `(value, index)` pairs) gives the same answer.
fn argmax(x: impl Iterator<Item = f32>) -> i64 {
    let (mut best, mut at) = (f32::NEG_INFINITY, -1i64);
    for (i, v) in x.enumerate() {
        if v > best {
            best = v;
            at = i as i64;
        }
    }
    at
}

/// Gumbel noise of vocabulary entry `i`: `-log(-log(u))`.
pub fn gumbel(seed: u64, position: u64, i: u64) -> f32 {
    let u = uniform_open(word(seed, position, i));
    -log(-log(u))
}

/// Steps 1–7 for one row (already widened); see the module comment. `lanes` is the
/// contract's `L`.
pub fn sample_row(lanes: usize, x: &[f32], r: &SampleParams) -> i64 {
    let v = x.len();
    // 1.
    let mut z: Vec<f32> = x.iter().map(|&a| if a.is_nan() { f32::NEG_INFINITY } else { a }).collect();
    // 2.
    if r.repetition_penalty != 1.0 {
        let mut ids: Vec<usize> = r.history.iter().map(|&i| i as usize).collect();
        ids.sort_unstable();
        ids.dedup();
        for t in ids {
            z[t] = if z[t] > 0.0 {
                z[t] / r.repetition_penalty
            } else {
                z[t] * r.repetition_penalty
            };
        }
    }
    // 3.
    if r.temperature == 0.0 {
        return argmax(z.iter().copied());
    }
    // 4.
    for a in z.iter_mut() {
        *a /= r.temperature;
    }
    if let Some(i) = z.iter().position(|&a| a == f32::INFINITY) {
        return i as i64;
    }
    // 5.
    if r.top_k > 0 && r.top_k < v {
        let mut sorted = z.clone();
        // Descending by value; -inf last. No NaN here, so total_cmp is the numeric order
        // except that it puts -0 below +0, which cannot change the k-th *value* compared below.
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let tau = sorted[r.top_k - 1];
        for a in z.iter_mut() {
            if *a < tau {
                *a = f32::NEG_INFINITY;
            }
        }
    }
    // 6.
    if r.top_p < 1.0 || r.min_p > 0.0 {
        let m = lane_reduce::<Max>(lanes, &z);
        if m == f32::NEG_INFINITY {
            return -1;
        }
        let e: Vec<f32> = z.iter().map(|&a| if a == f32::NEG_INFINITY { 0.0 } else { exp(a - m) }).collect();
        let s = lane_reduce::<Sum>(lanes, &e);
        let p: Vec<f32> = e.iter().map(|&a| a / s).collect();
        if r.top_p < 1.0 {
            let mut order: Vec<usize> = (0..v).filter(|&i| z[i] != f32::NEG_INFINITY).collect();
            // (z descending, index ascending): a total order, so the kept set is unique.
            order.sort_unstable_by(|&a, &b| z[b].partial_cmp(&z[a]).expect("no NaN").then(a.cmp(&b)));
            let mut c = 0.0f32;
            let mut cut = order.len();
            for (n, &i) in order.iter().enumerate() {
                c += p[i];
                if c >= r.top_p {
                    cut = n + 1;
                    break;
                }
            }
            for &i in &order[cut..] {
                z[i] = f32::NEG_INFINITY;
            }
        }
        if r.min_p > 0.0 {
            let thr = r.min_p * (1.0 / s);
            for (a, &pi) in z.iter_mut().zip(&p) {
                if pi < thr {
                    *a = f32::NEG_INFINITY;
                }
            }
        }
    }
    // 7.
    argmax(z.iter().enumerate().map(|(i, &a)| {
        if a == f32::NEG_INFINITY {
            a
        } else {
            a + gumbel(r.seed, r.position, i as u64)
        }
    }))
}

/// The checks of [`sample`] for logits of `[b, v]` (same errors): what a device
/// implementation of the same steps needs (lockstep-gpu).
pub fn check(c: &Contract, (b, v): (usize, usize), reqs: &[SampleParams]) -> Result<()> {
    const OP: &str = "sample";
    c.validate()?;
    if reqs.len() != b {
        return Err(Error::shape(OP, format!("{b} rows of logits but {} requests", reqs.len())));
    }
    if v == 0 {
        return Err(Error::empty(OP, "vocabulary of 0 entries"));
    }
    if v > i64::MAX as usize {
        return Err(Error::shape(OP, format!("vocabulary of {v} entries")));
    }
    for r in reqs {
        r.check(OP, v)?;
    }
    Ok(())
}

fn sample_path<T: Element>(parallel: bool, c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> Result<Array1<i64>> {
    check(c, logits.dim(), reqs)?;
    let b = logits.nrows();
    let one = |i: usize| {
        let x: Vec<f32> = logits.row(i).iter().map(|a| a.to_f32()).collect();
        sample_row(c.lanes, &x, &reqs[i])
    };
    let out: Vec<i64> = if parallel {
        (0..b).into_par_iter().map(one).collect()
    } else {
        (0..b).map(one).collect()
    };
    Ok(Array1::from(out))
}

/// One token per row of `logits` `[B, V]`, request `i` using `reqs[i]`; `-1` where no
/// candidate is left (every logit `-inf` or NaN, or masked). The literal reference.
pub fn sample<T: Element>(c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> Result<Array1<i64>> {
    sample_path(false, c, logits, reqs)
}

/// [`sample`], rows in parallel; equal.
pub fn sample_fast<T: Element>(c: &Contract, logits: ArrayView2<T>, reqs: &[SampleParams]) -> Result<Array1<i64>> {
    sample_path(true, c, logits, reqs)
}
