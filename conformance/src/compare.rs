//! Bitwise comparison: the only comparison lockstep makes (docs/spec/README.md).
//! Equal means identical bits, except that any NaN equals any NaN (payloads are not part
//! of any contract). Distances in ulps are reported for humans, never used to pass.

use crate::tensor::Tensor;
use half::{bf16, f16};
use lockstep_reference::dtype::same_bits;
use lockstep_reference::Element;
use serde::Serialize;

/// The first differing element of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mismatch {
    /// Flat index in standard (row-major) order.
    pub index: usize,
    /// Multi-dimensional index.
    pub at: Vec<usize>,
    pub expected_bits: String,
    pub got_bits: String,
    pub expected: f64,
    pub got: f64,
    /// Distance in units in the last place of the storage type (`None` if NaN/inf involved
    /// or signs differ across zero in a way ulps do not measure).
    pub ulps: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub elements: usize,
    pub mismatches: usize,
    pub first: Option<Mismatch>,
    /// Set when the tensors cannot be compared at all (dtype or shape differ).
    pub incompatible: Option<String>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.mismatches == 0 && self.incompatible.is_none()
    }

    /// Combines the comparisons of several output tensors.
    pub fn merge(&mut self, o: Comparison) {
        self.elements += o.elements;
        self.mismatches += o.mismatches;
        if self.first.is_none() {
            self.first = o.first;
        }
        if self.incompatible.is_none() {
            self.incompatible = o.incompatible;
        }
    }

    pub fn empty() -> Comparison {
        Comparison {
            elements: 0,
            mismatches: 0,
            first: None,
            incompatible: None,
        }
    }

    pub fn summary(&self) -> String {
        if let Some(why) = &self.incompatible {
            return format!("incompatible: {why}");
        }
        match &self.first {
            None => format!("{} elements identical", self.elements),
            Some(m) => format!(
                "{} of {} differ; first at {:?}: expected {} ({}), got {} ({}){}",
                self.mismatches,
                self.elements,
                m.at,
                m.expected_bits,
                m.expected,
                m.got_bits,
                m.got,
                m.ulps.map(|u| format!(", {u} ulp")).unwrap_or_default()
            ),
        }
    }
}

/// Ordered-integer image of a float's bits, so that adjacent floats differ by 1.
fn ordered(bits: u32, width: u32) -> i64 {
    let sign = 1u32 << (width - 1);
    if bits & sign != 0 {
        -((bits & !sign) as i64)
    } else {
        bits as i64
    }
}

pub fn ulps_between<T: Element>(a: T, b: T) -> Option<u64> {
    let (fa, fb) = (a.to_f32(), b.to_f32());
    if !fa.is_finite() || !fb.is_finite() {
        return None;
    }
    let w = T::DTYPE.size_bytes() as u32 * 8;
    Some(ordered(a.bits(), w).abs_diff(ordered(b.bits(), w)))
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut at = vec![0; shape.len()];
    for (d, &n) in shape.iter().enumerate().rev() {
        if n > 0 {
            at[d] = i % n;
            i /= n;
        }
    }
    at
}

fn compare_typed<T: Element>(e: &ndarray::ArrayD<T>, g: &ndarray::ArrayD<T>) -> Comparison {
    let shape = e.shape().to_vec();
    let mut c = Comparison {
        elements: e.len(),
        ..Comparison::empty()
    };
    for (i, (&x, &y)) in e.as_standard_layout().iter().zip(g.as_standard_layout().iter()).enumerate() {
        if !same_bits(x, y) {
            c.mismatches += 1;
            if c.first.is_none() {
                let w = T::DTYPE.size_bytes() * 2;
                c.first = Some(Mismatch {
                    index: i,
                    at: unravel(i, &shape),
                    expected_bits: format!("0x{:0w$X}", x.bits()),
                    got_bits: format!("0x{:0w$X}", y.bits()),
                    expected: x.to_f32() as f64,
                    got: y.to_f32() as f64,
                    ulps: ulps_between(x, y),
                });
            }
        }
    }
    c
}

/// Compares two tensors bit for bit.
pub fn compare(expected: &Tensor, got: &Tensor) -> Comparison {
    if expected.shape() != got.shape() || expected.dtype_name() != got.dtype_name() {
        return Comparison {
            elements: expected.len(),
            mismatches: expected.len(),
            first: None,
            incompatible: Some(format!(
                "expected {} {:?}, got {} {:?}",
                expected.dtype_name(),
                expected.shape(),
                got.dtype_name(),
                got.shape()
            )),
        };
    }
    match (expected, got) {
        (Tensor::F32(e), Tensor::F32(g)) => compare_typed::<f32>(e, g),
        (Tensor::Bf16(e), Tensor::Bf16(g)) => compare_typed::<bf16>(e, g),
        (Tensor::F16(e), Tensor::F16(g)) => compare_typed::<f16>(e, g),
        (Tensor::I64(e), Tensor::I64(g)) => {
            let mut c = Comparison {
                elements: e.len(),
                ..Comparison::empty()
            };
            for (i, (x, y)) in e.iter().zip(g.iter()).enumerate() {
                if x != y {
                    c.mismatches += 1;
                    if c.first.is_none() {
                        c.first = Some(Mismatch {
                            index: i,
                            at: unravel(i, e.shape()),
                            expected_bits: format!("{x}"),
                            got_bits: format!("{y}"),
                            expected: *x as f64,
                            got: *y as f64,
                            ulps: None,
                        });
                    }
                }
            }
            c
        }
        _ => unreachable!("dtype names checked above"),
    }
}

/// Panics with a full report unless `got` equals `expected` bit for bit. For tests.
#[track_caller]
pub fn assert_bits(what: &str, expected: &Tensor, got: &Tensor) {
    let c = compare(expected, got);
    assert!(c.passed(), "{what}: {}", c.summary());
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr1;

    #[test]
    fn detects_one_ulp_and_ignores_nan_payloads() {
        let a = Tensor::F32(arr1(&[1.0f32, f32::NAN, 3.0]).into_dyn());
        let b = Tensor::F32(arr1(&[1.0f32, f32::from_bits(0x7FC0_0123), f32::from_bits(3.0f32.to_bits() + 1)]).into_dyn());
        let c = compare(&a, &b);
        assert_eq!(c.mismatches, 1);
        let m = c.first.unwrap();
        assert_eq!((m.index, m.ulps), (2, Some(1)));
        let z = Tensor::F32(arr1(&[0.0f32]).into_dyn());
        let nz = Tensor::F32(arr1(&[-0.0f32]).into_dyn());
        assert!(!compare(&z, &nz).passed(), "+0 and -0 differ in bits");
    }
}
