//! One error type for the whole reference. Variants carry the op and the offending shape
//! or parameter so that a message alone says what was wrong.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    #[error("{op}: shape mismatch: {detail}")]
    Shape { op: &'static str, detail: String },
    #[error("{op}: empty dimension where none is meaningful: {detail}")]
    Empty { op: &'static str, detail: String },
    #[error("{op}: bad parameter: {detail}")]
    Param { op: &'static str, detail: String },
    #[error("{op}: contract {contract} does not support {detail}")]
    Unsupported { op: &'static str, contract: String, detail: String },
    #[error("{op}: input is not contiguous in standard (row-major) layout: {detail}")]
    Layout { op: &'static str, detail: String },
    #[error("contract: {0}")]
    Contract(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape { op, detail: detail.into() }
    }
    pub fn param(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Param { op, detail: detail.into() }
    }
    pub fn empty(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Empty { op, detail: detail.into() }
    }
}
