//! The one seeded input generator shared by the conformance tests, the golden files and
//! the CLI (docs/golden.md, "Input generator", states it exactly so that others can
//! regenerate inputs from a seed).
//!
//! `SplitMix64` (Steele, Lea, Flood 2014): `state += 0x9E3779B97F4A7C15; z = state;
//! z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
//! return z ^ (z >> 31)` (wrapping arithmetic). A uniform f32 in [-1, 1) is
//! `((z >> 40) as f32) * 2^-23 - 1` (24 random bits, exact in f32).

use lockstep_reference::Element;
use ndarray::{ArrayD, IxDyn};

pub struct Gen {
    state: u64,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1), 24 random bits.
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32) * (1.0 / (1u32 << 23) as f32) - 1.0
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// `scale * uniform()`, rounded to `T`.
    pub fn array<T: Element>(&mut self, shape: &[usize], scale: f32) -> ArrayD<T> {
        let n = shape.iter().product();
        let v: Vec<T> = (0..n).map(|_| T::from_f32(scale * self.uniform())).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    /// Like [`Self::array`] but every `every`-th element (on average) replaced by a special
    /// value drawn from [`specials`].
    pub fn array_with_specials<T: Element>(&mut self, shape: &[usize], scale: f32, every: u64) -> ArrayD<T> {
        let sp = specials::<T>();
        let mut a = self.array::<T>(shape, scale);
        for v in a.iter_mut() {
            if self.below(every) == 0 {
                *v = sp[self.below(sp.len() as u64) as usize];
            }
        }
        a
    }
}

/// The special values of a storage type: ±0, the smallest and largest subnormal, the
/// smallest normal, the largest finite, ±inf, a quiet NaN, and ±1.
pub fn specials<T: Element>() -> Vec<T> {
    let (mant, exp_bits) = (T::MANT_BITS, 1 + T::DTYPE.size_bytes() as u32 * 8 - 1 - T::MANT_BITS - 1);
    let sign = 1u32 << (mant + exp_bits);
    let inf = ((1u32 << exp_bits) - 1) << mant;
    let pats = [
        0,
        sign,
        1,
        (1 << mant) - 1,
        1 << mant,
        inf - 1,
        inf,
        sign | inf,
        inf | (1 << (mant - 1)),
        T::from_f32(1.0).bits(),
        T::from_f32(-1.0).bits(),
        sign | 1,
    ];
    pats.iter().map(|&p| T::from_bits_u32(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::{bf16, f16};

    #[test]
    fn splitmix_known_answer() {
        // First outputs of SplitMix64 seeded with 1234567 (the reference C implementation).
        let mut g = Gen::new(1234567);
        assert_eq!(g.next_u64(), 6457827717110365317);
        assert_eq!(g.next_u64(), 3203168211198807973);
    }

    #[test]
    fn specials_are_what_they_say() {
        let s = specials::<f32>();
        assert_eq!(s[0].to_bits(), 0);
        assert_eq!(s[1].to_bits(), 0x8000_0000);
        assert_eq!(s[2].to_bits(), 1);
        assert_eq!(s[4], f32::MIN_POSITIVE);
        assert_eq!(s[5], f32::MAX);
        assert_eq!(s[6], f32::INFINITY);
        assert!(s[8].is_nan());
        let b = specials::<bf16>();
        assert_eq!(b[6].to_bits(), 0x7F80);
        assert_eq!(b[5].to_bits(), 0x7F7F);
        let h = specials::<f16>();
        assert_eq!(h[6].to_bits(), 0x7C00);
        assert_eq!(h[4].to_bits(), 0x0400);
    }
}
