//! # lockstep-conformance
//!
//! The bitwise conformance suite, the golden files and the `lockstep` command.
//!
//! - [`ops::Ops`]: one interface over every backend (CPU literal, CPU fast, GPU).
//! - [`case::Case`]: one op + parameters + inputs, runnable on any backend.
//! - [`compare`]: bit-for-bit comparison with a first-mismatch report.
//! - [`gen::Gen`]: the one seeded input generator (documented in docs/golden.md).
//! - [`golden`]: the language-neutral snapshot files.
//! - [`suite`]: the case families `lockstep conform` runs and reports.

pub mod bench;
pub mod book;
pub mod case;
pub mod catalog;
pub mod compare;
pub mod gen;
pub mod golden;
pub mod gpu;
pub mod ops;
pub mod refcmd;
pub mod suite;
pub mod tensor;
pub mod tree;
