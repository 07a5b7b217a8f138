//! Storage types. Every tree computes in binary32; inputs are widened exactly and
//! outputs are rounded once, to nearest even, at the very end (docs/spec/dtypes.md).

use half::{bf16, f16};
use serde::{Deserialize, Serialize};

/// The storage formats lockstep knows by name (golden manifests and the CLI use these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    F32,
    Bf16,
    F16,
}

impl DType {
    pub const ALL: [DType; 3] = [DType::F32, DType::Bf16, DType::F16];

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::Bf16 => "bf16",
            DType::F16 => "f16",
        }
    }

    pub fn parse(s: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == s)
    }

    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::Bf16 | DType::F16 => 2,
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The fields of a finite floating-point value as the tensor-core rule sees them:
/// `value = (-1)^neg * sig * 2^(exp - MANT_BITS)`, with `exp` the *nominal* unbiased
/// exponent (subnormals at the format's minimum normal exponent, `sig` without its
/// implicit bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    pub neg: bool,
    pub exp: i32,
    pub sig: u32,
}

/// Classification used by every special-value table in the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Zero,
    Finite(Parts),
    Inf { neg: bool },
    Nan,
}

/// A storage element. `to_f32` is exact for every format here; `from_f32` rounds to
/// nearest, ties to even (NaN stays NaN, payload unspecified).
pub trait Element: Copy + Send + Sync + std::fmt::Debug + PartialEq + 'static {
    const DTYPE: DType;
    /// Explicit significand bits (23, 7, 10).
    const MANT_BITS: u32;
    /// Exponent bias (127, 127, 15).
    const BIAS: i32;
    fn to_f32(self) -> f32;
    fn from_f32(x: f32) -> Self;
    /// The raw bit pattern, zero-extended.
    fn bits(self) -> u32;
    fn from_bits_u32(bits: u32) -> Self;

    /// Decompose by bit fields (no floating-point arithmetic).
    fn class(self) -> Class {
        let bits = self.bits();
        let width = 1 + Self::exp_bits() + Self::MANT_BITS;
        let neg = (bits >> (width - 1)) & 1 == 1;
        let e_field = (bits >> Self::MANT_BITS) & ((1 << Self::exp_bits()) - 1);
        let m_field = bits & ((1 << Self::MANT_BITS) - 1);
        let e_max = (1 << Self::exp_bits()) - 1;
        if e_field == e_max {
            return if m_field == 0 { Class::Inf { neg } } else { Class::Nan };
        }
        if e_field == 0 {
            if m_field == 0 {
                return Class::Zero;
            }
            return Class::Finite(Parts {
                neg,
                exp: 1 - Self::BIAS,
                sig: m_field,
            });
        }
        Class::Finite(Parts {
            neg,
            exp: e_field as i32 - Self::BIAS,
            sig: m_field | (1 << Self::MANT_BITS),
        })
    }

    fn exp_bits() -> u32 {
        match Self::DTYPE {
            DType::F32 | DType::Bf16 => 8,
            DType::F16 => 5,
        }
    }
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    const MANT_BITS: u32 = 23;
    const BIAS: i32 = 127;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        x
    }
    fn bits(self) -> u32 {
        self.to_bits()
    }
    fn from_bits_u32(bits: u32) -> Self {
        f32::from_bits(bits)
    }
}

impl Element for bf16 {
    const DTYPE: DType = DType::Bf16;
    const MANT_BITS: u32 = 7;
    const BIAS: i32 = 127;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        bf16::from_f32(x)
    }
    fn bits(self) -> u32 {
        self.to_bits() as u32
    }
    fn from_bits_u32(bits: u32) -> Self {
        bf16::from_bits(bits as u16)
    }
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
    const MANT_BITS: u32 = 10;
    const BIAS: i32 = 15;
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    fn from_f32(x: f32) -> Self {
        f16::from_f32(x)
    }
    fn bits(self) -> u32 {
        self.to_bits() as u32
    }
    fn from_bits_u32(bits: u32) -> Self {
        f16::from_bits(bits as u16)
    }
}

/// Whether two values are the same under lockstep's equality: identical bits, or both NaN
/// (NaN payloads are not part of any contract; docs/spec/special-values.md says why).
pub fn same_bits<T: Element>(a: T, b: T) -> bool {
    a.bits() == b.bits() || (matches!(a.class(), Class::Nan) && matches!(b.class(), Class::Nan))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_nearest_even() {
        // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (1.0).
        assert_eq!(bf16::from_f32(1.0 + 2f32.powi(-8)).to_bits(), 0x3F80);
        // 1 + 3*2^-8 ties up to the even neighbour 1 + 2^-6.
        assert_eq!(bf16::from_f32(1.0 + 3.0 * 2f32.powi(-8)).to_bits(), 0x3F82);
        assert_eq!(f16::from_f32(1.0 + 2f32.powi(-11)).to_bits(), 0x3C00);
    }

    #[test]
    fn class_reads_fields() {
        assert_eq!(bf16::from_bits(0x0001).class(), Class::Finite(Parts { neg: false, exp: -126, sig: 1 }));
        assert_eq!(f16::from_bits(0x8001).class(), Class::Finite(Parts { neg: true, exp: -14, sig: 1 }));
        assert_eq!(
            1.5f32.class(),
            Class::Finite(Parts {
                neg: false,
                exp: 0,
                sig: 0xC0_0000
            })
        );
        assert_eq!(f32::NEG_INFINITY.class(), Class::Inf { neg: true });
        assert_eq!(f16::from_bits(0x7E00).class(), Class::Nan);
        assert_eq!((-0.0f32).class(), Class::Zero);
    }
}
