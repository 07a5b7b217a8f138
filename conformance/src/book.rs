//! The book's chapters (docs/book/src/) as doc-tests: every ```rust block of every chapter
//! compiles and runs in `cargo test --workspace --release`, so a chapter cannot show code
//! or assert a number that the project does not produce. Blocks in other languages are
//! marked (```python, ```text, ```sh) and rustdoc leaves them alone.

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch01-same-prompt.md")]
pub struct Ch01;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch02-matmul.md")]
pub struct Ch02;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch03-reductions.md")]
pub struct Ch03;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch04-attention.md")]
pub struct Ch04;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch05-sampling.md")]
pub struct Ch05;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch06-tensor-core.md")]
pub struct Ch06;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch07-check-your-kernel.md")]
pub struct Ch07;

#[cfg(doctest)]
#[doc = include_str!("../../docs/book/src/ch08-conformance.md")]
pub struct Ch08;
