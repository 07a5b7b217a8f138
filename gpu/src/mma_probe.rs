//! Does this device's tensor core follow the `mma-sm90` rule (docs/spec/mma-sm90.md)?
//!
//! - [`check_steps`]: single `mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}` steps on the
//!   device (`gpu/kernels/mma_step.cu`, one warp per step) over a fixed, deterministic set of
//!   inputs ([`step_vectors`]), every output element compared bit for bit with the CPU model
//!   (`tensor_core::mma_step`). The rule was measured on H100/H200 only; this is how a new
//!   device (or driver) is checked before the tensor-core matmul is trusted on it.
//! - [`cublas_bf16_check`]: cuBLAS's bf16 GEMM against the `mma-sm90-v1` tree, an
//!   informative line (cuBLAS promises no tree; it follows this one where it does not split K).
//!
//! NaN outputs are compared as NaN-ness: under lockstep's equality any NaN equals any NaN
//! (docs/spec/README.md); the model emits `0x7FFFFFFF`, and a device NaN with another payload
//! is counted separately ([`StepCheck::nan_payloads_differ`]), never as a mismatch.

use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::kernels::{arch_name, compile_options};
use cudarc::driver::{LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use half::{bf16, f16};
use lockstep_reference::dtype::same_bits;
use lockstep_reference::matmul::tensor_core::{mma_step, CANONICAL_NAN};
use lockstep_reference::{DType, Element, MMA_SM90_V1};
use ndarray::{s, Array2, Axis};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The step program, compiled for the device's own architecture (sm_80 and newer).
const STEP_SOURCE: &str = include_str!("../kernels/mma_step.cu");
/// Threads per block of the step kernel (`MS_THREADS` of mma_step.cu): 4 warps, 4 steps.
const STEP_THREADS: usize = 128;
/// Elements of one step: A 16×16, W (= Bᵀ) 8×16, C and D 16×8.
const A_LEN: usize = 256;
const W_LEN: usize = 128;
const D_LEN: usize = 128;

/// Steps per (input type, category) in [`step_vectors`].
pub const STEPS_PER_CATEGORY: usize = 8;

/// What a group of step vectors exercises (docs/spec/mma-sm90.md, "The rule" and the
/// special-value table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Category {
    /// Normal-ish factors around 1, C = +0.
    Normal,
    /// The same with a nonzero C of varying magnitude (C's own alignment, step 2).
    NonzeroC,
    /// Exponents spread over a wide range: alignment to T/2^26 truncates most terms.
    WideSpread,
    /// Products that cancel exactly or up to one ulp, with C of every sign and size.
    Cancellation,
    /// Subnormal factors (nominal exponent = minimum normal) and f32-subnormal C.
    Subnormal,
    /// Sums below 2^-149 (→ +0), results in the f32 subnormal range, the 2^-158 floor.
    Underflow,
    /// Sums at and beyond 2^128 (→ ±inf), C near f32::MAX.
    Overflow,
    /// ±inf and NaN factors (various payloads), inf·0, infinite and NaN C.
    InfNan,
    /// ±0 factors and C of both signs, exactly cancelling pairs: every result is +0.
    SignedZero,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Category::Normal,
        Category::NonzeroC,
        Category::WideSpread,
        Category::Cancellation,
        Category::Subnormal,
        Category::Underflow,
        Category::Overflow,
        Category::InfNan,
        Category::SignedZero,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Normal => "normal",
            Category::NonzeroC => "nonzero-c",
            Category::WideSpread => "wide-spread",
            Category::Cancellation => "cancellation",
            Category::Subnormal => "subnormal",
            Category::Underflow => "underflow",
            Category::Overflow => "overflow",
            Category::InfNan => "inf-nan",
            Category::SignedZero => "signed-zero",
        }
    }
}

/// The inputs of one tensor-core step, as raw bits: A (16×16 row-major), W = Bᵀ (8×16
/// row-major, row j is output column j's 16 factors), C (16×8 row-major f32).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepVector {
    /// `Bf16` or `F16`.
    pub dtype: DType,
    pub category: Category,
    pub a: Vec<u16>,
    pub w: Vec<u16>,
    pub c: Vec<u32>,
}

impl StepVector {
    /// The model's D = A·Wᵀ + C (16×8 f32 bits, row-major): `mma_step` per element.
    pub fn model(&self) -> Vec<u32> {
        match self.dtype {
            DType::F16 => self.model_as::<f16>(),
            _ => self.model_as::<bf16>(),
        }
    }

    fn model_as<T: Element>(&self) -> Vec<u32> {
        let conv = |v: &[u16]| v.iter().map(|&x| T::from_bits_u32(x as u32)).collect::<Vec<T>>();
        let (a, w) = (conv(&self.a), conv(&self.w));
        (0..D_LEN)
            .map(|e| {
                let (i, j) = (e / 8, e % 8);
                mma_step(f32::from_bits(self.c[e]), &a[i * 16..i * 16 + 16], &w[j * 16..j * 16 + 16]).to_bits()
            })
            .collect()
    }
}

/// splitmix64: a fixed generator, so the vectors are the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
    fn bit(&mut self) -> bool {
        self.next() & 1 == 1
    }
    /// True with probability 1/n.
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
}

/// The bit fields of the two 16-bit input formats: (explicit significand bits, bias).
fn fields(d: DType) -> (u32, i32) {
    match d {
        DType::F16 => (10, 15),
        _ => (7, 127),
    }
}

/// A normal 16-bit value `±1.mant · 2^exp` (exp clamped to the format's normal range).
fn normal16(d: DType, neg: bool, exp: i32, mant: u64) -> u16 {
    let (m, bias) = fields(d);
    let e = (exp.clamp(1 - bias, bias) + bias) as u32;
    ((neg as u32) << 15 | e << m | (mant as u32 & ((1 << m) - 1))) as u16
}

/// A subnormal (or, with mant = 0, zero) 16-bit value.
fn subnormal16(d: DType, neg: bool, mant: u64) -> u16 {
    let (m, _) = fields(d);
    ((neg as u32) << 15 | (mant as u32 & ((1 << m) - 1))) as u16
}

fn inf16(d: DType, neg: bool) -> u16 {
    let (m, _) = fields(d);
    ((neg as u32) << 15 | 0x7FFF_u32 >> m << m) as u16
}

/// A NaN with payload bits `payload` (nonzero after masking; quiet or signalling).
fn nan16(d: DType, neg: bool, payload: u64) -> u16 {
    let (m, _) = fields(d);
    let p = (payload as u32 & ((1 << m) - 1)).max(1);
    inf16(d, neg) | p as u16
}

/// A normal f32 `±1.mant · 2^exp` (exp clamped to −126..=127).
fn normal32(neg: bool, exp: i32, mant: u64) -> u32 {
    (neg as u32) << 31 | ((exp.clamp(-126, 127) + 127) as u32) << 23 | (mant as u32 & 0x7F_FFFF)
}

/// Roughly N(0, 1.15²): the sum of four uniform 16-bit integers, centred, times 2^-15
/// (exact in f32, then rounded to the format): no libm, the same bits everywhere.
fn gauss16(d: DType, r: &mut Rng) -> u16 {
    let s: i64 = (0..4).map(|_| (r.next() & 0xFFFF) as i64).sum::<i64>() - 2 * 65535;
    let x = s as f32 * (1.0 / 32768.0);
    match d {
        DType::F16 => f16::from_f32(x).to_bits(),
        _ => bf16::from_f32(x).to_bits(),
    }
}

/// A 16-bit value with a random sign and significand and exponent in `lo..=hi`.
fn spread16(d: DType, r: &mut Rng, lo: i32, hi: i32) -> u16 {
    let (neg, e, m) = (r.bit(), r.range(lo, hi), r.next());
    normal16(d, neg, e, m)
}

/// A random f32 with exponent in `lo..=hi`.
fn spread32(r: &mut Rng, lo: i32, hi: i32) -> u32 {
    let (neg, e, m) = (r.bit(), r.range(lo, hi), r.next());
    normal32(neg, e, m)
}

/// The second half of every row of A is the negated first half and the halves of every row
/// of W are equal, so products k and k + 8 cancel exactly.
fn mirror(a: &mut [u16], w: &mut [u16]) {
    for row in a.chunks_mut(16) {
        for k in 0..8 {
            row[k + 8] = row[k] ^ 0x8000;
        }
    }
    for row in w.chunks_mut(16) {
        for k in 0..8 {
            row[k + 8] = row[k];
        }
    }
}

fn step(d: DType, cat: Category, r: &mut Rng) -> StepVector {
    let bf = d == DType::Bf16;
    let mut a = vec![0u16; A_LEN];
    let mut w = vec![0u16; W_LEN];
    let mut c = vec![0u32; D_LEN];
    match cat {
        Category::Normal | Category::NonzeroC => {
            a.iter_mut().for_each(|x| *x = gauss16(d, r));
            w.iter_mut().for_each(|x| *x = gauss16(d, r));
            if cat == Category::NonzeroC {
                c.iter_mut().for_each(|x| *x = spread32(r, -6, 6));
            }
        }
        Category::WideSpread => {
            let (lo, hi) = if bf { (-40, 40) } else { (-14, 15) };
            a.iter_mut().for_each(|x| *x = spread16(d, r, lo, hi));
            w.iter_mut().for_each(|x| *x = spread16(d, r, lo, hi));
            c.iter_mut().for_each(|x| *x = if r.bit() { 0 } else { spread32(r, 2 * lo, 2 * hi) });
        }
        Category::Cancellation => {
            let (lo, hi) = if bf { (-8, 8) } else { (-6, 6) };
            a.iter_mut().for_each(|x| *x = spread16(d, r, lo, hi));
            w.iter_mut().for_each(|x| *x = spread16(d, r, lo, hi));
            mirror(&mut a, &mut w);
            // Near cancellation: one ulp off in one product (rows 1 mod 4) or in all
            // (rows 3 mod 4), and in one factor of odd columns of B.
            for i in 0..16 {
                for k in 8..16 {
                    if (i % 4 == 1 && k == 8 + (i % 8)) || i % 4 == 3 {
                        a[i * 16 + k] ^= 1;
                    }
                }
            }
            for j in (1..8).step_by(2) {
                w[j * 16 + 8 + j] ^= 1;
            }
            for (e, x) in c.iter_mut().enumerate() {
                *x = match (e / 8 + e % 8) % 4 {
                    0 => 0,
                    1 => 0x8000_0000,
                    2 => spread32(r, -24, -10),
                    _ => spread32(r, -2, 2),
                };
            }
        }
        Category::Subnormal => {
            let (m, _) = fields(d);
            for x in a.iter_mut() {
                *x = if r.bit() {
                    subnormal16(d, r.bit(), r.next() | 1)
                } else if bf {
                    spread16(d, r, -126, -118)
                } else {
                    spread16(d, r, -14, -10)
                };
            }
            // Even columns of B: large factors (subnormal·large is a normal product); odd
            // ones: bf16 around 1 (results in the f32 subnormal range, where C counts too),
            // f16 subnormals of every width.
            for (e, x) in w.iter_mut().enumerate() {
                *x = match (e / 16 % 2, bf) {
                    (0, true) => spread16(d, r, 60, 127),
                    (0, false) => spread16(d, r, -14, 15),
                    (_, true) => spread16(d, r, -16, -4),
                    (_, false) => subnormal16(d, r.bit(), r.next() >> (r.next() % m as u64)),
                };
            }
            // f32-subnormal C (used at full value), or +0.
            c.iter_mut()
                .for_each(|x| *x = if r.bit() { (r.bit() as u32) << 31 | (r.next() as u32 & 0x7F_FFFF) } else { 0 });
        }
        Category::Underflow => {
            if bf {
                // Products 2^-160 .. 2^-137, mixed signs: at and below the 2^-158 floor,
                // sums in the f32 subnormal range and below 2^-149 (even rows of A smaller).
                for (e, x) in a.iter_mut().enumerate() {
                    *x = if e / 16 % 2 == 0 {
                        spread16(d, r, -80, -75)
                    } else {
                        spread16(d, r, -76, -68)
                    };
                }
                w.iter_mut().for_each(|x| *x = spread16(d, r, -80, -70));
            } else {
                // f16 products are never below 2^-48: subnormal factors and tiny C instead.
                a.iter_mut().for_each(|x| *x = subnormal16(d, r.bit(), r.next()));
                w.iter_mut().for_each(|x| *x = subnormal16(d, r.bit(), r.next()));
            }
            c.iter_mut()
                .for_each(|x| *x = if r.bit() { 0 } else { (r.bit() as u32) << 31 | (r.next() as u32 & 0xFF) });
        }
        Category::Overflow => {
            if bf {
                a.iter_mut().for_each(|x| *x = spread16(d, r, 58, 64));
                w.iter_mut().for_each(|x| *x = spread16(d, r, 58, 64));
            } else {
                a.iter_mut().for_each(|x| *x = spread16(d, r, 12, 15));
                w.iter_mut().for_each(|x| *x = spread16(d, r, 12, 15));
            }
            for x in c.iter_mut() {
                *x = match r.range(0, 3) {
                    0 => 0,
                    1 => (r.bit() as u32) << 31 | 0x7F7F_FFFF, // ±f32::MAX
                    _ => spread32(r, 120, 127),
                };
            }
        }
        Category::InfNan => {
            for x in a.iter_mut().chain(w.iter_mut()) {
                *x = match r.range(0, 31) {
                    0 => inf16(d, false),
                    1 => inf16(d, true),
                    2 => nan16(d, r.bit(), r.next()),    // any payload, quiet or signalling
                    3 | 4 => subnormal16(d, r.bit(), 0), // ±0: inf·0 where an inf meets it
                    _ => gauss16(d, r),
                };
            }
            for x in c.iter_mut() {
                *x = match r.range(0, 11) {
                    0 => 0x7F80_0000,
                    1 => 0xFF80_0000,
                    2 => 0x7FC0_0123, // quiet NaN with a payload
                    3 => 0xFF80_0001, // signalling NaN, negative
                    _ => spread32(r, -4, 4),
                };
            }
        }
        Category::SignedZero => {
            for x in a.iter_mut().chain(w.iter_mut()) {
                *x = if r.one_in(4) { gauss16(d, r) } else { subnormal16(d, r.bit(), 0) };
            }
            mirror(&mut a, &mut w);
            // Row 0 of A all −0 and row 0 of W all +0: every product −0; C[0][0] = −0.
            a[..16].fill(0x8000);
            w[..16].fill(0);
            for (e, x) in c.iter_mut().enumerate() {
                *x = if e == 0 || r.bit() { 0x8000_0000 } else { 0 };
            }
        }
    }
    StepVector {
        dtype: d,
        category: cat,
        a,
        w,
        c,
    }
}

/// The fixed inputs of the step check: for bf16 then f16, [`STEPS_PER_CATEGORY`] steps of
/// every [`Category`], in that order. Deterministic (integer generator, no libm).
pub fn step_vectors() -> Vec<StepVector> {
    let mut v = Vec::with_capacity(2 * Category::ALL.len() * STEPS_PER_CATEGORY);
    for (di, d) in [DType::Bf16, DType::F16].into_iter().enumerate() {
        for (ci, cat) in Category::ALL.into_iter().enumerate() {
            let mut r = Rng(0x6D6D_6135_3930 ^ ((di as u64) << 40) ^ ((ci as u64) << 32));
            v.extend((0..STEPS_PER_CATEGORY).map(|_| step(d, cat, &mut r)));
        }
    }
    v
}

/// The first element where device and model differ, with the step's inputs for that element.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepMismatch {
    /// Index in [`step_vectors`].
    pub step: usize,
    pub dtype: String,
    pub category: String,
    /// Output element (row of A, column of B).
    pub i: usize,
    pub j: usize,
    /// Row i of A, column j of B (16 each), and C[i][j], as hex bits.
    pub a: Vec<String>,
    pub b: Vec<String>,
    pub c: String,
    /// The two results as f32 bits (`None`: the device returned no value).
    pub device: Option<u32>,
    pub model: u32,
}

/// The verdict of the step check on one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepCheck {
    /// The device's NVRTC target (e.g. `sm_90a`).
    pub arch: String,
    pub steps: usize,
    pub elements: usize,
    pub mismatches: usize,
    /// Steps with at least one mismatching element.
    pub failed_steps: usize,
    /// Elements where both are NaN but the device's bits are not `0x7FFFFFFF` (equal under
    /// lockstep's equality; reported because every capture had exactly that NaN).
    pub nan_payloads_differ: usize,
    /// Mismatching elements per category name (only categories with mismatches).
    pub mismatches_by_category: Vec<(String, usize)>,
    pub first: Option<StepMismatch>,
}

fn hex32(b: u32) -> String {
    format!("0x{b:08X} ({:e})", f32::from_bits(b))
}

impl StepCheck {
    pub fn conforms(&self) -> bool {
        self.mismatches == 0 && self.elements > 0
    }

    /// One line: `conforms (N steps, E elements)` or `does not conform: …`.
    pub fn summary(&self) -> String {
        match &self.first {
            None if self.elements > 0 => {
                let nan = if self.nan_payloads_differ > 0 {
                    format!("; {} NaN results not 0x7FFFFFFF (equal as NaN)", self.nan_payloads_differ)
                } else {
                    String::new()
                };
                format!("conforms ({} steps, {} elements){nan}", self.steps, self.elements)
            }
            None => "does not conform: no elements compared".into(),
            Some(m) => format!(
                "does not conform: {} of {} elements differ ({}); first mismatching step: #{} ({} {}), element ({}, {}): inputs a = [{}], b = [{}], C = {}; device {}, model {}",
                self.mismatches,
                self.elements,
                self.mismatches_by_category
                    .iter()
                    .map(|(c, n)| format!("{c}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                m.step,
                m.dtype,
                m.category,
                m.i,
                m.j,
                m.a.join(" "),
                m.b.join(" "),
                m.c,
                m.device.map(hex32).unwrap_or_else(|| "no value".into()),
                hex32(m.model)
            ),
        }
    }
}

/// Compares the device's outputs (`D_LEN` f32 bits per step, in step order) with the model.
/// A missing device value counts as a mismatch.
pub fn compare_steps(arch: &str, vectors: &[StepVector], device: &[u32]) -> StepCheck {
    let mut r = StepCheck {
        arch: arch.into(),
        steps: vectors.len(),
        elements: vectors.len() * D_LEN,
        mismatches: 0,
        failed_steps: 0,
        nan_payloads_differ: 0,
        mismatches_by_category: Vec::new(),
        first: None,
    };
    for (s, v) in vectors.iter().enumerate() {
        let mut bad = 0;
        for (e, &want) in v.model().iter().enumerate() {
            let got = device.get(s * D_LEN + e).copied();
            let ok = got.is_some_and(|g| same_bits(f32::from_bits(g), f32::from_bits(want)));
            if ok {
                if got.is_some_and(|g| f32::from_bits(g).is_nan() && g != CANONICAL_NAN) {
                    r.nan_payloads_differ += 1;
                }
                continue;
            }
            bad += 1;
            if r.first.is_none() {
                let (i, j) = (e / 8, e % 8);
                r.first = Some(StepMismatch {
                    step: s,
                    dtype: v.dtype.name().into(),
                    category: v.category.name().into(),
                    i,
                    j,
                    a: v.a[i * 16..i * 16 + 16].iter().map(|x| format!("{x:04X}")).collect(),
                    b: v.w[j * 16..j * 16 + 16].iter().map(|x| format!("{x:04X}")).collect(),
                    c: hex32(v.c[e]),
                    device: got,
                    model: want,
                });
            }
        }
        if bad > 0 {
            r.mismatches += bad;
            r.failed_steps += 1;
            let name = format!("{} {}", v.dtype.name(), v.category.name());
            match r.mismatches_by_category.iter_mut().find(|(c, _)| *c == name) {
                Some((_, n)) => *n += bad,
                None => r.mismatches_by_category.push((name, bad)),
            }
        }
    }
    r
}

/// The step program text (no generated header: it needs no contract constant).
pub fn step_program() -> String {
    format!("// lockstep-gpu tensor-core step probe; do not edit.\n#line 1 \"mma_step.cu\"\n{STEP_SOURCE}")
}

/// Compiles (once per process and architecture) the step program.
pub fn step_ptx(arch: &str) -> Result<Arc<String>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<String>>>> = OnceLock::new();
    let mut map = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = map.get(arch) {
        return Ok(p.clone());
    }
    let ptx = crate::kernels::nvrtc_compile("lockstep_mma_step.cu", step_program(), compile_options(arch), &MMA_SM90_V1.id(), arch)?;
    let p = Arc::new(ptx);
    map.insert(arch.to_string(), p.clone());
    Ok(p)
}

impl Gpu {
    /// Runs one tensor-core step per vector (all of one input type, `Bf16` or `F16`) and
    /// returns D (`D_LEN` f32 bits per step). Needs compute capability 8.0 or newer.
    pub fn mma_steps(&self, vectors: &[StepVector]) -> Result<Vec<u32>> {
        let n = vectors.len();
        let shape = format!("{n} steps");
        let at = |e: &dyn std::fmt::Display| Error::Device {
            op: "mma_step",
            shape: shape.clone(),
            detail: e.to_string(),
        };
        let dtype = vectors.first().map(|v| v.dtype).unwrap_or(DType::Bf16);
        if dtype == DType::F32
            || vectors
                .iter()
                .any(|v| v.dtype != dtype || v.a.len() != A_LEN || v.w.len() != W_LEN || v.c.len() != D_LEN)
        {
            return Err(lockstep_reference::Error::param("mma_step", "step vectors must be all bf16 or all f16, A 16×16, W 8×16, C 16×8").into());
        }
        let cc = self.info().compute_capability;
        if cc < (8, 0) {
            return Err(lockstep_reference::Error::Unsupported {
                op: "mma_step",
                contract: MMA_SM90_V1.id(),
                detail: format!(
                    "mma.sync m16n8k16 with bf16/f16 inputs needs compute capability 8.0 or newer, this is {}.{}",
                    cc.0, cc.1
                ),
            }
            .into());
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > i32::MAX as usize / D_LEN {
            return Err(Error::TooLarge {
                op: "mma_step",
                shape,
                detail: "at most 2^31 / 128 steps".into(),
            });
        }
        let arch = arch_name(cc);
        let ptx = step_ptx(&arch)?;
        let s = self.stream();
        let module = s.context().load_module(Ptx::from_src(ptx.as_str())).map_err(|e| Error::Compile {
            contract: MMA_SM90_V1.id(),
            arch: arch.clone(),
            log: format!("module load: {e}"),
        })?;
        let sym = if dtype == DType::Bf16 { "mma_step_bf16" } else { "mma_step_f16" };
        let f = module.load_function(sym).map_err(|e| Error::MissingKernel {
            symbol: sym.into(),
            contract: MMA_SM90_V1.id(),
            detail: e.to_string(),
        })?;
        let a: Vec<u16> = vectors.iter().flat_map(|v| v.a.iter().copied()).collect();
        let w: Vec<u16> = vectors.iter().flat_map(|v| v.w.iter().copied()).collect();
        let c: Vec<u32> = vectors.iter().flat_map(|v| v.c.iter().copied()).collect();
        let da = s.clone_htod(&a).map_err(|e| at(&e))?;
        let dw = s.clone_htod(&w).map_err(|e| at(&e))?;
        let dc = s.clone_htod(&c).map_err(|e| at(&e))?;
        let mut dd = s.alloc_zeros::<u32>(n * D_LEN).map_err(|e| at(&e))?;
        let steps = n as i32;
        let warps_per_block = STEP_THREADS / 32;
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(warps_per_block) as u32, 1, 1),
            block_dim: (STEP_THREADS as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut l = s.launch_builder(&f);
        l.arg(&da).arg(&dw).arg(&dc).arg(&mut dd).arg(&steps);
        // SAFETY: argument list matches mma_step_{bf16,f16} (A n×256 u16, W n×128 u16,
        // C n×128 u32, D n×128 u32, steps); one warp per step, `steps` bounds every access.
        unsafe { l.launch(cfg) }.map_err(|e| at(&e))?;
        let out = s.clone_dtoh(&dd).map_err(|e| at(&e))?;
        s.synchronize().map_err(|e| at(&e))?;
        Ok(out)
    }
}

/// The step check on `gpu`: every vector of [`step_vectors`] through [`Gpu::mma_steps`],
/// compared with the model. Errors only when the steps could not run (e.g. before sm_80).
pub fn check_steps(gpu: &Gpu) -> Result<StepCheck> {
    let vectors = step_vectors();
    let mut device = Vec::with_capacity(vectors.len() * D_LEN);
    for d in [DType::Bf16, DType::F16] {
        let part: Vec<StepVector> = vectors.iter().filter(|v| v.dtype == d).cloned().collect();
        device.extend(gpu.mma_steps(&part)?);
    }
    // `step_vectors` lists bf16 first, then f16: the same order as `device`.
    Ok(compare_steps(&gpu.info().arch, &vectors, &device))
}

/// cuBLAS bf16 GEMM vs the `mma-sm90-v1` tree at one M.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CublasBf16Row {
    pub m: usize,
    /// Rows compared (the first ones and the last one; a row of a product that does not
    /// split K depends only on that row of A, so the reference computes just those rows).
    pub rows: Vec<usize>,
    pub elements: usize,
    pub differing: usize,
}

/// The informative cuBLAS bf16 check: which M follow the `mma-sm90-v1` tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CublasBf16Report {
    pub k: usize,
    pub n: usize,
    pub rows: Vec<CublasBf16Row>,
}

fn set(ms: &[usize]) -> String {
    format!("{{{}}}", ms.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", "))
}

impl CublasBf16Report {
    /// `cuBLAS bf16: conforms at M ∈ {…}; differs at M ∈ {…} (x of y elements)`.
    pub fn summary(&self) -> String {
        let same: Vec<usize> = self.rows.iter().filter(|r| r.differing == 0).map(|r| r.m).collect();
        let diff: Vec<&CublasBf16Row> = self.rows.iter().filter(|r| r.differing > 0).collect();
        let mut s = format!("cuBLAS bf16 (K = {}, N = {}): ", self.k, self.n);
        if same.is_empty() {
            s += "conforms at no M";
        } else {
            s += &format!("conforms at M ∈ {}", set(&same));
        }
        if !diff.is_empty() {
            let x: usize = diff.iter().map(|r| r.differing).sum();
            let y: usize = diff.iter().map(|r| r.elements).sum();
            s += &format!("; differs at M ∈ {} ({x} of {y} elements)", set(&diff.iter().map(|r| r.m).collect::<Vec<_>>()));
        }
        s
    }
}

/// The shapes of the informative cuBLAS bf16 line in `lockstep conform`.
pub const CUBLAS_BF16_K: usize = 4096;
pub const CUBLAS_BF16_N: usize = 4096;
pub const CUBLAS_BF16_MS: [usize; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024];
/// Leading rows of each product compared (plus its last row).
pub const CUBLAS_BF16_ROWS: usize = 16;

/// Deterministic bf16 inputs of the cuBLAS check (about N(0, 1.15²), see `gauss16`).
pub fn bf16_inputs(rows: usize, cols: usize, seed: u64) -> Array2<bf16> {
    let mut r = Rng(seed);
    Array2::from_shape_simple_fn((rows, cols), || bf16::from_bits(gauss16(DType::Bf16, &mut r)))
}

/// The rows of an M-row product that the check compares: `0..min(M, lead)` and `M − 1`.
pub fn compared_rows(m: usize, lead: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..m.min(lead)).collect();
    if m > lead {
        v.push(m - 1);
    }
    v
}

/// cuBLAS bf16 GEMM (`cublasGemmEx`, bf16 in and out, f32 compute, default algorithm and
/// math mode) at every M of `ms`, compared bit for bit with the `mma-sm90-v1` reference
/// (`mm_fast`, bf16 out) on [`compared_rows`]. Informative: a difference is a finding, not
/// an error; errors only when cuBLAS or the reference could not run.
pub fn cublas_bf16_check(gpu: &Gpu, k: usize, n: usize, ms: &[usize], lead: usize) -> Result<CublasBf16Report> {
    let mmax = ms.iter().copied().max().unwrap_or(0);
    if mmax == 0 || k == 0 || n == 0 || ms.contains(&0) {
        return Err(lockstep_reference::Error::shape("cublas_bf16_check", format!("M ∈ {}, K = {k}, N = {n} must be ≥ 1", set(ms))).into());
    }
    let a = bf16_inputs(mmax, k, 0xA);
    let b = bf16_inputs(k, n, 0xB);
    // The reference for the union of compared rows, once (a row depends only on its row of A).
    let mut need: Vec<usize> = ms.iter().flat_map(|&m| compared_rows(m, lead)).collect();
    need.sort_unstable();
    need.dedup();
    let reference: Array2<bf16> = lockstep_reference::matmul::mm_fast(&MMA_SM90_V1, a.select(Axis(0), &need).view(), b.view())?;
    let mut rows = Vec::new();
    for &m in ms {
        let got = crate::cublas::gemm_bf16_host(gpu, a.slice(s![..m, ..]), b.view())?;
        let idx = compared_rows(m, lead);
        let mut r = CublasBf16Row {
            m,
            rows: idx.clone(),
            elements: idx.len() * n,
            differing: 0,
        };
        for &i in &idx {
            let want = reference.row(need.binary_search(&i).expect("every compared row was computed"));
            r.differing += got.row(i).iter().zip(want.iter()).filter(|(g, w)| !same_bits(**g, **w)).count();
        }
        rows.push(r);
    }
    Ok(CublasBf16Report { k, n, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_vectors_are_deterministic_and_cover_every_category_for_both_types() {
        let v = step_vectors();
        assert_eq!(v, step_vectors());
        assert_eq!(v.len(), 2 * Category::ALL.len() * STEPS_PER_CATEGORY);
        for d in [DType::Bf16, DType::F16] {
            for cat in Category::ALL {
                assert_eq!(
                    v.iter().filter(|s| s.dtype == d && s.category == cat).count(),
                    STEPS_PER_CATEGORY,
                    "{d:?} {cat:?}"
                );
            }
        }
        // bf16 first, then f16 (check_steps relies on the order).
        assert!(v[..v.len() / 2].iter().all(|s| s.dtype == DType::Bf16));
        // The first few bits never change: a changed generator changes what was checked.
        assert_eq!(&v[0].a[..4], &step_vectors()[0].a[..4]);
    }

    /// What the model gives over every step of one category, as f32 values.
    fn outputs(d: DType, cat: Category) -> Vec<f32> {
        step_vectors()
            .iter()
            .filter(|s| s.dtype == d && s.category == cat)
            .flat_map(|s| s.model())
            .map(f32::from_bits)
            .collect()
    }

    #[test]
    fn each_category_reaches_what_it_is_named_for() {
        for d in [DType::Bf16, DType::F16] {
            let finite_nonzero = |x: &f32| x.is_finite() && *x != 0.0;
            assert!(outputs(d, Category::Normal).iter().all(finite_nonzero));
            assert!(outputs(d, Category::NonzeroC).iter().all(finite_nonzero));
            let inf_nan = outputs(d, Category::InfNan);
            assert!(inf_nan.iter().any(|x| x.is_nan()) && inf_nan.contains(&f32::INFINITY));
            assert!(inf_nan.contains(&f32::NEG_INFINITY) && inf_nan.iter().any(|x| x.is_finite()));
            // Every signed-zero result is +0 (bits 0), IEEE addition would give −0 for some.
            assert!(outputs(d, Category::SignedZero).iter().all(|x| x.to_bits() == 0));
            let canc = outputs(d, Category::Cancellation);
            assert!(canc.iter().any(|x| x.to_bits() == 0) && canc.iter().any(|x| *x != 0.0));
            let sub = outputs(d, Category::Subnormal);
            assert!(sub.iter().any(|x| x.is_subnormal()) || d == DType::F16 && sub.iter().any(|x| *x != 0.0));
        }
        // bf16 reaches the rule's edges: overflow to ±inf and sums that truncate to +0 or
        // land in the f32 subnormal range.
        let over = outputs(DType::Bf16, Category::Overflow);
        assert!(over.iter().any(|x| x.is_infinite()) && over.iter().any(|x| x.is_finite()));
        let under = outputs(DType::Bf16, Category::Underflow);
        assert!(under.iter().any(|x| x.to_bits() == 0) && under.iter().any(|x| x.is_subnormal()));
        // Factors: subnormal inputs really are subnormal, and the wide category spreads.
        let v = step_vectors();
        let sub = v.iter().find(|s| s.category == Category::Subnormal).unwrap();
        assert!(sub.a.iter().any(|&x| x & 0x7F80 == 0 && x & 0x7F != 0));
        let wide = v.iter().find(|s| s.category == Category::WideSpread).unwrap();
        let exps: Vec<u16> = wide.a.iter().map(|x| (x >> 7) & 0xFF).collect();
        assert!(exps.iter().max().unwrap() - exps.iter().min().unwrap() > 60);
    }

    #[test]
    fn model_equals_a_fresh_mma_step_and_rejects_a_flipped_bit() {
        let v = step_vectors();
        let device: Vec<u32> = v.iter().flat_map(|s| s.model()).collect();
        let ok = compare_steps("sm_90a", &v, &device);
        assert!(ok.conforms());
        assert_eq!(ok.summary(), format!("conforms ({} steps, {} elements)", v.len(), v.len() * 128));
        // One element of a normal f16 step one unit off: found, located and described.
        let mut bad = device.clone();
        let s = v.iter().position(|s| s.dtype == DType::F16 && s.category == Category::Normal).unwrap();
        bad[s * 128 + 8 * 3 + 5] ^= 1;
        let r = compare_steps("sm_90a", &v, &bad);
        assert!(!r.conforms());
        assert_eq!((r.mismatches, r.first.as_ref().unwrap().i, r.first.as_ref().unwrap().j), (1, 3, 5));
        let line = r.summary();
        assert!(line.starts_with("does not conform: 1 of"), "{line}");
        assert!(
            line.contains(&format!("first mismatching step: #{s} (f16 normal), element (3, 5): inputs a = [")),
            "{line}"
        );
        assert!(line.contains("device 0x") && line.contains(", model 0x"), "{line}");
        assert_eq!(r.mismatches_by_category, vec![("f16 normal".to_string(), 1)]);
        // A short device buffer: the missing elements are mismatches, not a panic.
        let short = compare_steps("sm_80", &v, &device[..100]);
        assert_eq!(short.mismatches, v.len() * 128 - 100);
        assert!(short.summary().contains("device no value"));
    }

    #[test]
    fn nan_results_compare_as_nan_and_other_payloads_are_counted() {
        let v = step_vectors();
        let mut device: Vec<u32> = v.iter().flat_map(|s| s.model()).collect();
        let nans = device.iter().filter(|&&b| b == CANONICAL_NAN).count();
        assert!(nans > 0);
        device.iter_mut().filter(|b| **b == CANONICAL_NAN).for_each(|b| *b = 0x7FC0_0000);
        let r = compare_steps("sm_90a", &v, &device);
        assert!(r.conforms(), "{}", r.summary());
        assert_eq!(r.nan_payloads_differ, nans);
        assert!(r.summary().contains("NaN results not 0x7FFFFFFF"));
    }

    #[test]
    fn cublas_report_lines() {
        let row = |m, differing| CublasBf16Row {
            m,
            rows: compared_rows(m, 16),
            elements: compared_rows(m, 16).len() * 4096,
            differing,
        };
        let r = CublasBf16Report {
            k: 4096,
            n: 4096,
            rows: vec![row(1, 5), row(16, 0), row(128, 0), row(1024, 7)],
        };
        assert_eq!(
            r.summary(),
            "cuBLAS bf16 (K = 4096, N = 4096): conforms at M ∈ {16, 128}; differs at M ∈ {1, 1024} (12 of 73728 elements)"
        );
        assert_eq!(compared_rows(1, 16), vec![0]);
        assert_eq!(compared_rows(1024, 16), (0..16).chain([1023]).collect::<Vec<_>>());
        let none = CublasBf16Report {
            k: 1,
            n: 1,
            rows: vec![row(2, 1)],
        };
        assert!(none.summary().contains("conforms at no M; differs at M ∈ {2}"));
    }

    #[test]
    fn step_program_compiles_for_sm_90a_and_sm_80_where_nvrtc_exists() {
        // Needs only libnvrtc, no GPU; without it this check is skipped visibly.
        // SAFETY: only probes whether the shared library can be opened.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipped: no libnvrtc here (NVRTC compile check of mma_step.cu)");
            return;
        }
        for arch in ["sm_90a", "sm_80"] {
            let ptx = step_ptx(arch).unwrap_or_else(|e| panic!("{e}"));
            for (sym, ty) in [("mma_step_bf16", "bf16"), ("mma_step_f16", "f16")] {
                assert!(ptx.contains(&format!(".entry {sym}(")), "{sym} missing for {arch}");
                assert!(
                    ptx.contains(&format!("mma.sync.aligned.m16n8k16.row.col.f32.{ty}.{ty}.f32")),
                    "{ty} mma missing for {arch}"
                );
            }
            assert!(ptx.contains(&format!(".maxntid {STEP_THREADS}")), "launch bound for {arch}");
            // No arithmetic besides the mma: no float add/mul/fma/conversion may touch C or D.
            for bad in [".ftz", "add.f32", "mul.f32", "fma.rn.f32", "cvt.f32", "cvt.rn"] {
                assert!(!ptx.contains(bad), "PTX for {arch} contains {bad}");
            }
        }
    }
}
