//! The lane tree shared by every row reduction (docs/spec/reduce.md).
//!
//! With `L` lanes, lane `l` folds elements `l, l+L, l+2L, …` in index order, starting from
//! the reduction's identity (+0 for sums, −inf for max; an empty lane keeps it). The lanes
//! are then combined pairwise: for stride `s = L/2, L/4, …, 1`, lane `l < s` becomes
//! `combine(lane[l], lane[l+s])`. Lane 0 is the result.
//!
//! This is what a GPU block reduction does naturally (threads own lanes, strides become
//! shared-memory or shuffle steps) and what a SIMD CPU loop does over chunks of `L`.

/// How one reduction folds an element into a lane and combines two lanes.
pub trait LaneOp {
    const NAME: &'static str;
    /// The value every lane starts from.
    const IDENTITY: f32;
    fn fold(acc: f32, x: f32) -> f32;
    fn combine(lo: f32, hi: f32) -> f32;
}

/// Sum: `acc + x` (one IEEE add); lanes combined with `+`.
pub struct Sum;
impl LaneOp for Sum {
    const NAME: &'static str = "sum";
    const IDENTITY: f32 = 0.0;
    #[inline(always)]
    fn fold(acc: f32, x: f32) -> f32 {
        acc + x
    }
    #[inline(always)]
    fn combine(lo: f32, hi: f32) -> f32 {
        lo + hi
    }
}

/// Sum of squares: `fma(x, x, acc)` (one rounding per element); lanes combined with `+`.
pub struct SumSq;
impl LaneOp for SumSq {
    const NAME: &'static str = "sumsq";
    const IDENTITY: f32 = 0.0;
    #[inline(always)]
    fn fold(acc: f32, x: f32) -> f32 {
        x.mul_add(x, acc)
    }
    #[inline(always)]
    fn combine(lo: f32, hi: f32) -> f32 {
        lo + hi
    }
}

/// Maximum with [`max2`]; lanes start at −inf.
pub struct Max;
impl LaneOp for Max {
    const NAME: &'static str = "max";
    const IDENTITY: f32 = f32::NEG_INFINITY;
    #[inline(always)]
    fn fold(acc: f32, x: f32) -> f32 {
        max2(acc, x)
    }
    #[inline(always)]
    fn combine(lo: f32, hi: f32) -> f32 {
        max2(lo, hi)
    }
}

/// `max2(a, b)`: NaN if either is NaN; otherwise `b` if `b > a`, else `a`. So the left
/// operand wins ties, including `max2(+0, −0) = +0` and `max2(−0, +0) = −0`.
#[inline(always)]
pub fn max2(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

/// The literal lane tree: the definition. `lanes` must be a power of two (the contract
/// checks it).
pub fn lane_reduce<Op: LaneOp>(lanes: usize, x: &[f32]) -> f32 {
    let mut lane = vec![Op::IDENTITY; lanes];
    for (l, acc) in lane.iter_mut().enumerate() {
        let mut i = l;
        while i < x.len() {
            *acc = Op::fold(*acc, x[i]);
            i += lanes;
        }
    }
    combine_lanes::<Op>(&mut lane)
}

/// The pairwise stage: stride L/2, L/4, …, 1, lower lane on the left.
pub fn combine_lanes<Op: LaneOp>(lane: &mut [f32]) -> f32 {
    let mut stride = lane.len() / 2;
    while stride >= 1 {
        for l in 0..stride {
            lane[l] = Op::combine(lane[l], lane[l + stride]);
        }
        stride /= 2;
    }
    lane[0]
}

/// The same tree, folded a chunk of `L` at a time so the compiler vectorises across
/// lanes. Equal to [`lane_reduce`] bit for bit (tested), not a different order.
pub fn lane_reduce_fast<Op: LaneOp>(lanes: usize, x: &[f32]) -> f32 {
    let mut lane = vec![Op::IDENTITY; lanes];
    for chunk in x.chunks(lanes) {
        for (acc, &v) in lane.iter_mut().zip(chunk) {
            *acc = Op::fold(*acc, v);
        }
    }
    combine_lanes::<Op>(&mut lane)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_shape_with_four_lanes() {
        // lanes: l0 = x0+x4, l1 = x1+x5, l2 = x2, l3 = x3; then (l0+l2) + (l1+l3).
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let expect = ((1.0f32 + 5.0) + 3.0) + ((2.0f32 + 6.0) + 4.0);
        assert_eq!(lane_reduce::<Sum>(4, &x).to_bits(), expect.to_bits());
        // Non-associativity shows: 1e8 + 1 - 1e8 in one lane vs spread over lanes.
        let y = [1e8f32, 1.0, -1e8];
        assert_eq!(lane_reduce::<Sum>(1, &y), 0.0);
        assert_eq!(lane_reduce::<Sum>(4, &y), 1.0);
    }

    #[test]
    fn max_ties_keep_left_and_nan_wins() {
        assert_eq!(max2(0.0, -0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(max2(-0.0, 0.0).to_bits(), (-0.0f32).to_bits());
        assert!(max2(1.0, f32::NAN).is_nan());
        assert_eq!(lane_reduce::<Max>(4, &[]), f32::NEG_INFINITY);
    }

    #[test]
    fn fast_equals_literal() {
        let x: Vec<f32> = (0..5000).map(|i| ((i * 7919) % 1000) as f32 * 1.37e-3 - 0.5).collect();
        for n in [0, 1, 3, 1023, 1024, 1025, 5000] {
            for lanes in [1, 2, 64, 1024] {
                assert_eq!(lane_reduce::<Sum>(lanes, &x[..n]).to_bits(), lane_reduce_fast::<Sum>(lanes, &x[..n]).to_bits());
                assert_eq!(
                    lane_reduce::<SumSq>(lanes, &x[..n]).to_bits(),
                    lane_reduce_fast::<SumSq>(lanes, &x[..n]).to_bits()
                );
                assert_eq!(lane_reduce::<Max>(lanes, &x[..n]).to_bits(), lane_reduce_fast::<Max>(lanes, &x[..n]).to_bits());
            }
        }
    }
}

/// Which implementation of the same tree to run: the literal definition (one thread,
/// [`lane_reduce`]) or the fast path (rayon across rows, [`lane_reduce_fast`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Literal,
    Fast,
}

impl Path {
    pub fn reduce<Op: LaneOp>(self, lanes: usize, x: &[f32]) -> f32 {
        match self {
            Path::Literal => lane_reduce::<Op>(lanes, x),
            Path::Fast => lane_reduce_fast::<Op>(lanes, x),
        }
    }

    /// Applies `f(row_in, row_out)` to every row: in order on one thread (`Literal`) or
    /// in parallel (`Fast`). Rows are independent, so both give the same bits.
    pub fn map_rows<F>(self, x: ndarray::ArrayView2<f32>, width_out: usize, f: F) -> ndarray::Array2<f32>
    where
        F: Fn(usize, &[f32], &mut [f32]) + Sync,
    {
        use rayon::prelude::*;
        let x = x.as_standard_layout();
        let mut out = ndarray::Array2::<f32>::zeros((x.nrows(), width_out));
        let body = |(i, mut o): (usize, ndarray::ArrayViewMut1<f32>)| f(i, x.row(i).as_slice().unwrap(), o.as_slice_mut().unwrap());
        match self {
            Path::Literal => out.outer_iter_mut().enumerate().for_each(body),
            Path::Fast => out.outer_iter_mut().into_par_iter().enumerate().for_each(body),
        }
        out
    }
}

/// Widens any storage type to an f32 matrix (exact).
pub fn widen2<T: crate::Element>(x: ndarray::ArrayView2<T>) -> ndarray::Array2<f32> {
    x.mapv(T::to_f32)
}

/// Checks a `[rows, width]` input shared by the row ops.
pub fn check_rows(op: &'static str, c: &crate::Contract, rows: usize, width: usize) -> crate::Result<()> {
    c.validate()?;
    if rows == 0 || width == 0 {
        return Err(crate::Error::empty(op, format!("input is {rows}×{width}: rows and width must be at least 1")));
    }
    Ok(())
}
