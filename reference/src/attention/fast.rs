//! The fast CPU path of attention: rayon across (token, head) rows (in `super::run_rows`),
//! and per row the same tree as [`super::attend_row`] with its loops turned for the CPU:
//! the value update runs key-outer, dimension-inner (one vector fma per key and 8 or 16
//! dimensions), buffers are reused, and on x86-64 with FMA the row is compiled with the
//! hardware fma instruction instead of a libm call. Every element still sees the same IEEE
//! operations in the same order, so the bits are those of the literal tree (tested).

use super::KeySource;
use crate::elementwise::exp;
use crate::reduce::max2;
use crate::{Contract, Element};

/// [`super::attend_row`], fast.
pub fn attend_row_fast<T: Element, K: KeySource<T>>(c: &Contract, q: &[f32], keys: &K, first: usize, last: usize, scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features the function is compiled for were just detected.
            unsafe { row_avx2(c.attn_block, c.attn_split, q, keys, first, last, scale, out) };
            return;
        }
    }
    row(c.attn_block, c.attn_split, q, keys, first, last, scale, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_avx2<T: Element, K: KeySource<T>>(bn: usize, sp: usize, q: &[f32], keys: &K, first: usize, last: usize, scale: f32, out: &mut [f32]) {
    row(bn, sp, q, keys, first, last, scale, out)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row<T: Element, K: KeySource<T>>(bn: usize, sp: usize, q: &[f32], keys: &K, first: usize, last: usize, scale: f32, out: &mut [f32]) {
    let d = q.len();
    // Running merge of finished splits (m_t, l_t, acc_t) and the current split (m, l, acc).
    let (mut m_t, mut l_t) = (f32::NEG_INFINITY, 0.0f32);
    let mut acc_t = vec![0.0f32; d];
    let mut acc = vec![0.0f32; d];
    let mut kv = vec![0.0f32; d];
    let mut scores = vec![0.0f32; bn];
    let mut have_total = false;
    for s in (first / sp)..=(last / sp) {
        let (lo, hi) = (first.max(s * sp), last.min(s * sp + sp - 1));
        let (mut m, mut l) = (f32::NEG_INFINITY, 0.0f32);
        for b in (lo / bn)..=(hi / bn) {
            let (blo, bhi) = (lo.max(b * bn), hi.min(b * bn + bn - 1));
            let nb = bhi - blo + 1;
            let mut mb = f32::NEG_INFINITY;
            for (j, sc) in scores[..nb].iter_mut().enumerate() {
                let k = keys.k(blo + j);
                let mut x = 0.0f32;
                for (&qi, &ki) in q.iter().zip(k) {
                    x = qi.mul_add(ki.to_f32(), x);
                }
                *sc = x * scale;
                mb = max2(mb, *sc);
            }
            if b == lo / bn {
                m = mb;
                l = 0.0;
                acc.fill(0.0);
            } else {
                let m_new = max2(m, mb);
                let alpha = exp(m - m_new);
                l *= alpha;
                for a in acc.iter_mut() {
                    *a *= alpha;
                }
                m = m_new;
            }
            for (j, &sc) in scores[..nb].iter().enumerate() {
                let e = exp(sc - m);
                l += e;
                for (x, &vi) in kv.iter_mut().zip(keys.v(blo + j)) {
                    *x = vi.to_f32();
                }
                for (a, &vi) in acc.iter_mut().zip(&kv) {
                    *a = e.mul_add(vi, *a);
                }
            }
        }
        if !have_total {
            (m_t, l_t) = (m, l);
            acc_t.copy_from_slice(&acc);
            have_total = true;
        } else {
            let mm = max2(m_t, m);
            let (fa, fb) = (exp(m_t - mm), exp(m - mm));
            l_t = (l_t * fa) + (l * fb);
            for (x, &y) in acc_t.iter_mut().zip(&acc) {
                *x = (*x * fa) + (y * fb);
            }
            m_t = mm;
        }
    }
    for (o, &a) in out.iter_mut().zip(&acc_t) {
        *o = a / l_t;
    }
}
