//! Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers:
//! as easy as 1, 2, 3" (SC 2011), exactly as in the Random123 library (docs/spec/sampling.md).
//!
//! A pure function of a 128-bit counter and a 64-bit key: every output word can be made by
//! any thread in any order, which is what lets a GPU sampler produce the same noise as this
//! reference without sharing a stream state.
//!
//! One round, with `(c0, c1, c2, c3)` the counter and `(k0, k1)` the key:
//! `hi0:lo0 = M0 * c0` and `hi1:lo1 = M1 * c2` (full 64-bit products), then
//! `c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)`; between rounds the key is bumped by
//! `(W0, W1)` (wrapping). Ten rounds; the key is *not* bumped before the first.

/// Multiplier of words 0 and 1.
pub const PHILOX_M0: u32 = 0xD251_1F53;
/// Multiplier of words 2 and 3.
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Weyl increment of key word 0 (golden ratio).
pub const PHILOX_W0: u32 = 0x9E37_79B9;
/// Weyl increment of key word 1 (sqrt(3) - 1).
pub const PHILOX_W1: u32 = 0xBB67_AE85;
/// Rounds of the standard generator.
pub const PHILOX_ROUNDS: usize = 10;

#[inline(always)]
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

#[inline(always)]
fn round(c: [u32; 4], k: [u32; 2]) -> [u32; 4] {
    let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
    let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
    [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0]
}

/// Philox4x32-10 of `counter` under `key`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for r in 0..PHILOX_ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        c = round(c, k);
    }
    c
}

/// The key of a request: the 64-bit seed as `(low word, high word)`.
pub fn key_of_seed(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

/// The u32 word number `i` of the stream of `(seed, position)`: counter
/// `(j low, j high, position low, position high)` with `j = i / 4`, word `i % 4` of the output.
pub fn word(seed: u64, position: u64, i: u64) -> u32 {
    let j = i >> 2;
    let out = philox4x32_10([j as u32, (j >> 32) as u32, position as u32, (position >> 32) as u32], key_of_seed(seed));
    out[(i & 3) as usize]
}

/// A uniform in the open interval (0, 1) from a u32: `((r >> 9) as f32 + 0.5) * 2^-23`.
/// Both steps are exact (a 23-bit integer plus one half fits the 24-bit significand; the
/// product is a power-of-two scaling), so the values are `2^-24, 3·2^-24, …, 1 - 2^-24`:
/// never 0 and never 1, which keeps `-log(-log(u))` finite.
#[inline]
pub fn uniform_open(r: u32) -> f32 {
    ((r >> 9) as f32 + 0.5) * f32::from_bits(0x3400_0000) // 2^-23
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Philox4x32-10 known-answer vectors of the Random123 distribution (`tests/kat_vectors`,
    /// lines `philox4x32 10 …`: counter words, key words, output words).
    #[test]
    fn random123_known_answers() {
        assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn uniform_endpoints_are_inside_the_open_interval() {
        assert_eq!(uniform_open(0), 2f32.powi(-24));
        assert_eq!(uniform_open(u32::MAX), 1.0 - 2f32.powi(-24));
        assert!(uniform_open(u32::MAX) < 1.0);
        // Neighbouring 23-bit values are exactly 2^-23 apart.
        assert_eq!(uniform_open(1 << 9) - uniform_open(0), 2f32.powi(-23));
    }

    #[test]
    fn words_address_counter_blocks() {
        let k = key_of_seed(0x0123_4567_89ab_cdef);
        assert_eq!(k, [0x89ab_cdef, 0x0123_4567]);
        let block = philox4x32_10([1, 0, 7, 0], k);
        for w in 0..4 {
            assert_eq!(word(0x0123_4567_89ab_cdef, 7, 4 + w), block[w as usize]);
        }
    }
}
