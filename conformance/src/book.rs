//! The book's chapters (docs/book/src/) as doc-tests: every ```rust block of every chapter
//! compiles and runs in `cargo test --workspace --release`, so a chapter cannot show code
//! or quote an asserted number that the project does not produce.

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch01-same-prompt.md")]
pub struct Ch01;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch02-matmul.md")]
pub struct Ch02;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch03-reductions.md")]
pub struct Ch03;
