//! A case: one op, its parameters, contract, inputs and output type. Golden files, the
//! conformance suite and the CLI all describe work this way, and [`run_case`] runs a case
//! on any [`Ops`] backend.

use crate::ops::{OpResult, Ops};
use crate::tensor::{Tensor, TensorElem};
use half::{bf16, f16};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::{Contract, DType, Element};
use ndarray::{ArrayD, Dimension, Ix1, Ix2, Ix3};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The op of a case and its parameters, as written in the golden manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", content = "params", rename_all = "snake_case")]
pub enum OpSpec {
    Mm,
    Addmm,
    Bmm,
    Rmsnorm { eps: f32 },
    RmsnormResidual { eps: f32 },
    Softmax,
    LogSoftmax,
    Sum,
    Mean,
    Rope { dim: usize, base: f64 },
    Unary { func: Unary },
}

impl OpSpec {
    /// The op's name as printed in reports (`mm`, `rmsnorm_residual`, `unary:exp`, …).
    pub fn name(&self) -> String {
        match self {
            OpSpec::Mm => "mm".into(),
            OpSpec::Addmm => "addmm".into(),
            OpSpec::Bmm => "bmm".into(),
            OpSpec::Rmsnorm { .. } => "rmsnorm".into(),
            OpSpec::RmsnormResidual { .. } => "rmsnorm_residual".into(),
            OpSpec::Softmax => "softmax".into(),
            OpSpec::LogSoftmax => "log_softmax".into(),
            OpSpec::Sum => "sum".into(),
            OpSpec::Mean => "mean".into(),
            OpSpec::Rope { .. } => "rope".into(),
            OpSpec::Unary { func } => format!("unary:{}", func.name()),
        }
    }

    /// The spec page and reference module stem (`matmul`, `rmsnorm`, …).
    pub fn stem(&self) -> &'static str {
        match self {
            OpSpec::Mm | OpSpec::Addmm | OpSpec::Bmm => "matmul",
            OpSpec::Rmsnorm { .. } | OpSpec::RmsnormResidual { .. } => "rmsnorm",
            OpSpec::Softmax | OpSpec::LogSoftmax => "softmax",
            OpSpec::Sum | OpSpec::Mean => "mean",
            OpSpec::Rope { .. } => "rope",
            OpSpec::Unary { .. } => "elementwise",
        }
    }

    /// The inputs that carry the batch (rows, tokens), with the axis of the batch: slicing
    /// them to one row must give that row of every output.
    pub fn batched_inputs(&self) -> &'static [(&'static str, usize)] {
        match self {
            OpSpec::Mm | OpSpec::Addmm => &[("a", 0)],
            OpSpec::Bmm => &[("a", 1)],
            OpSpec::RmsnormResidual { .. } => &[("x", 0), ("residual", 0)],
            OpSpec::Rope { .. } => &[("x", 0), ("pos", 0)],
            _ => &[("x", 0)],
        }
    }
}

/// One unit of work.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub spec: OpSpec,
    pub contract: Contract,
    pub out_dtype: DType,
    pub inputs: BTreeMap<String, Tensor>,
}

impl Case {
    pub fn new(name: impl Into<String>, spec: OpSpec, contract: &Contract, out_dtype: DType, inputs: Vec<(&str, Tensor)>) -> Case {
        Case {
            name: name.into(),
            spec,
            contract: contract.clone(),
            out_dtype,
            inputs: inputs.into_iter().map(|(n, t)| (n.to_string(), t)).collect(),
        }
    }

    /// The dtype of the main input (`a` or `x`).
    pub fn in_dtype(&self) -> OpResult<DType> {
        let t = self
            .inputs
            .get("a")
            .or_else(|| self.inputs.get("x"))
            .ok_or("case has neither input `a` nor `x`")?;
        t.dtype().ok_or_else(|| format!("input dtype {} is not a float type", t.dtype_name()).into())
    }

    /// Number of batch rows (the length of the first batched input along its batch axis).
    pub fn batch(&self) -> usize {
        let (n, ax) = self.spec.batched_inputs()[0];
        self.inputs[n].shape()[ax]
    }

    /// The same case restricted to batch rows `range`.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Case {
        let mut c = self.clone();
        for &(n, ax) in self.spec.batched_inputs() {
            let t = c.inputs[n].slice_axis(ax, range.clone());
            c.inputs.insert(n.to_string(), t);
        }
        c.name = format!("{}[rows {}..{}]", self.name, range.start, range.end);
        c
    }

    /// Total number of elements in the outputs (for reports), computed from the inputs.
    pub fn input_elements(&self) -> usize {
        self.inputs.values().map(|t| t.len()).sum()
    }
}

fn get<T: TensorElem, D: Dimension>(case: &Case, name: &str) -> OpResult<ndarray::Array<T, D>> {
    let t = case.inputs.get(name).ok_or_else(|| format!("{}: missing input `{name}`", case.name))?;
    let a: &ArrayD<T> = t
        .get::<T>()
        .ok_or_else(|| format!("{}: input `{name}` is {}, expected {}", case.name, t.dtype_name(), T::NAME))?;
    Ok(a.clone()
        .into_dimensionality::<D>()
        .map_err(|e| format!("{}: input `{name}` has shape {:?}: {e}", case.name, a.shape()))?)
}

fn out<O: TensorElem, D: Dimension>(a: ndarray::Array<O, D>) -> Tensor {
    O::wrap(a.into_dyn())
}

fn run_typed<B: Ops, T: Element + TensorElem, O: Element + TensorElem>(b: &B, case: &Case) -> OpResult<BTreeMap<String, Tensor>> {
    let c = &case.contract;
    let y = |t: Tensor| BTreeMap::from([("y".to_string(), t)]);
    Ok(match &case.spec {
        OpSpec::Mm => y(out(b.mm::<T, O>(c, get::<T, Ix2>(case, "a")?.view(), get::<T, Ix2>(case, "b")?.view())?)),
        OpSpec::Addmm => y(out(b.addmm::<T, O>(
            c,
            get::<T, Ix2>(case, "a")?.view(),
            get::<T, Ix2>(case, "b")?.view(),
            get::<f32, Ix1>(case, "bias")?.view(),
        )?)),
        OpSpec::Bmm => y(out(b.bmm::<T, O>(c, get::<T, Ix3>(case, "a")?.view(), get::<T, Ix3>(case, "b")?.view())?)),
        OpSpec::Rmsnorm { eps } => y(out(b.rmsnorm::<T, O>(
            c,
            get::<T, Ix2>(case, "x")?.view(),
            get::<T, Ix1>(case, "w")?.view(),
            RmsnormParams { eps: *eps },
        )?)),
        OpSpec::RmsnormResidual { eps } => {
            let (yv, h) = b.rmsnorm_residual::<T, O>(
                c,
                get::<T, Ix2>(case, "x")?.view(),
                get::<T, Ix2>(case, "residual")?.view(),
                get::<T, Ix1>(case, "w")?.view(),
                RmsnormParams { eps: *eps },
            )?;
            BTreeMap::from([("y".to_string(), out(yv)), ("h".to_string(), out(h))])
        }
        OpSpec::Softmax => y(out(b.softmax::<T, O>(c, get::<T, Ix2>(case, "x")?.view())?)),
        OpSpec::LogSoftmax => y(out(b.log_softmax::<T, O>(c, get::<T, Ix2>(case, "x")?.view())?)),
        OpSpec::Sum => y(out(b.sum::<T, O>(c, get::<T, Ix2>(case, "x")?.view())?)),
        OpSpec::Mean => y(out(b.mean::<T, O>(c, get::<T, Ix2>(case, "x")?.view())?)),
        OpSpec::Rope { .. } => y(out(b.rope::<T, O>(
            get::<T, Ix3>(case, "x")?.view(),
            get::<i64, Ix1>(case, "pos")?.view(),
            get::<f32, Ix2>(case, "cos")?.view(),
            get::<f32, Ix2>(case, "sin")?.view(),
        )?)),
        OpSpec::Unary { func } => y(b.unary::<T, O>(*func, get::<T, ndarray::IxDyn>(case, "x")?.view()).map(O::wrap)?),
    })
}

/// Runs `case` on backend `b`, dispatching on its input and output types.
pub fn run_case<B: Ops>(b: &B, case: &Case) -> OpResult<BTreeMap<String, Tensor>> {
    match (case.in_dtype()?, case.out_dtype) {
        (DType::F32, DType::F32) => run_typed::<B, f32, f32>(b, case),
        (DType::F32, DType::Bf16) => run_typed::<B, f32, bf16>(b, case),
        (DType::F32, DType::F16) => run_typed::<B, f32, f16>(b, case),
        (DType::Bf16, DType::F32) => run_typed::<B, bf16, f32>(b, case),
        (DType::Bf16, DType::Bf16) => run_typed::<B, bf16, bf16>(b, case),
        (DType::Bf16, DType::F16) => run_typed::<B, bf16, f16>(b, case),
        (DType::F16, DType::F32) => run_typed::<B, f16, f32>(b, case),
        (DType::F16, DType::Bf16) => run_typed::<B, f16, bf16>(b, case),
        (DType::F16, DType::F16) => run_typed::<B, f16, f16>(b, case),
    }
}
