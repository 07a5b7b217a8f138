//! # lockstep-conformance
//!
//! The bitwise conformance suite, the golden files and the `lockstep` command.
