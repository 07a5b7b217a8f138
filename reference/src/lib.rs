//! # lockstep-reference
//!
//! The canonical reduction trees of lockstep. The single-threaded functions here *define*
//! the order of every floating-point operation of every op; each one's doc comment states
//! that order and links its spec page under `docs/spec/`. The `*_fast` functions
//! (rayon across independent outputs, SIMD across lanes or columns) must equal them bit
//! for bit, and the conformance suite checks that they do.
//!
//! Guarantees:
//! - Every output element depends only on its own inputs and the [`Contract`]: never on
//!   the batch size, the other rows, the thread count or the memory layout.
//! - All arithmetic is IEEE-754 binary32, round to nearest even, subnormals kept; an
//!   `fma` appears only where the spec says so.
//! - Bad shapes and parameters are [`Error`] values, never panics.
//!
//! | op | module | spec | fma-v1 | mma-sm90-v1 |
//! |---|---|---|---|---|
//! | mm, addmm, bmm | [`matmul`] | docs/spec/matmul.md | fma chain, KC = 256 | tensor-core step, no split |
//! | row reductions | [`reduce`] | docs/spec/reduce.md | L = 1024 lanes | same |
//! | rmsnorm (+ residual) | [`rmsnorm`] | docs/spec/rmsnorm.md | lane tree | same |
//! | softmax, log_softmax | [`softmax`] | docs/spec/softmax.md | lane tree | same |
//! | sum, mean | [`mean`] | docs/spec/mean.md | lane tree | same |
//! | exp, log, rsqrt, tanh, sigmoid, silu, gelu | [`elementwise`] | docs/spec/elementwise.md | fixed polynomials | same |
//! | rope | [`rope`] | docs/spec/rope.md | f64 tables, 3 roundings | same |
//! | attention: prefill, chunked prefill, decode, kv append | [`attention`] | docs/spec/attention.md | BN = 64, S = 256, fma score chains | same |
//! | sample (greedy, temperature, top-k/p, min-p, repetition penalty), philox | [`sample`], [`philox`] | docs/spec/sampling.md | lane-tree softmax, Philox4x32-10 Gumbel-max | same |

pub mod attention;
pub mod contract;
pub mod dtype;
pub mod elementwise;
pub mod error;
pub mod matmul;
pub mod mean;
pub mod philox;
pub mod reduce;
pub mod rmsnorm;
pub mod rope;
pub mod sample;
pub mod softmax;
pub mod trace;

pub use contract::{Contract, KStepKind, FMA_V1, MMA_SM90_V1};
pub use dtype::{DType, Element};
pub use error::{Error, Result};
