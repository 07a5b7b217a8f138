//! A case: one op, its parameters, contract, inputs and output type. Golden files, the
//! conformance suite and the CLI all describe work this way, and [`run_case`] runs a case
//! on any [`Ops`] backend.

use crate::ops::{OpResult, Ops};
use crate::tensor::{Tensor, TensorElem};
use half::{bf16, f16};
use lockstep_reference::attention::{AttnParams, KvCache, KvLayout, Span};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::rmsnorm::RmsnormParams;
use lockstep_reference::sample::SampleParams;
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
    Rmsnorm {
        eps: f32,
    },
    RmsnormResidual {
        eps: f32,
    },
    Softmax,
    LogSoftmax,
    Sum,
    Mean,
    Rope {
        dim: usize,
        base: f64,
    },
    Unary {
        func: Unary,
    },
    /// Prefill of whole sequences (no cache): `q`, `k`, `v`, `seq_lens` → `y`.
    AttnPrefill {
        scale: f32,
        window: Option<usize>,
    },
    /// Chunked prefill: `q` for `spans`, over `k_cache`, `v_cache`, `lens` (+ `block_table`) → `y`.
    AttnChunked {
        scale: f32,
        window: Option<usize>,
        spans: Vec<Span>,
    },
    /// Decode, one query per sequence: `q`, `k_cache`, `v_cache`, `lens` (+ `block_table`) → `y`.
    AttnDecode {
        scale: f32,
        window: Option<usize>,
    },
    /// KV-cache append: `k_cache`, `v_cache`, `lens` (+ `block_table`), `k_new`, `v_new` →
    /// `k_cache`, `v_cache`, `lens`.
    KvAppend {
        spans: Vec<Span>,
    },
    /// Sampling: `logits` → `tokens` (i64, −1 where no candidate is left).
    Sample {
        requests: Vec<SampleParams>,
    },
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
            OpSpec::AttnPrefill { .. } => "attn_prefill".into(),
            OpSpec::AttnChunked { .. } => "attn_chunked".into(),
            OpSpec::AttnDecode { .. } => "attn_decode".into(),
            OpSpec::KvAppend { .. } => "kv_append".into(),
            OpSpec::Sample { .. } => "sample".into(),
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
            OpSpec::AttnPrefill { .. } | OpSpec::AttnChunked { .. } | OpSpec::AttnDecode { .. } | OpSpec::KvAppend { .. } => "attention",
            OpSpec::Sample { .. } => "sample",
        }
    }

    /// The inputs that carry the batch (rows, tokens, sequences), with the axis of the
    /// batch: slicing them to some rows must give those rows of every output. `None` for
    /// ops whose batch is not a plain axis (packed prefill, spans, per-request parameters;
    /// their invariance tests live in conformance/tests/attention.rs and sample.rs).
    pub fn batched_inputs(&self, paged: bool) -> Option<&'static [(&'static str, usize)]> {
        Some(match self {
            OpSpec::Mm | OpSpec::Addmm => &[("a", 0)],
            OpSpec::Bmm => &[("a", 1)],
            OpSpec::RmsnormResidual { .. } => &[("x", 0), ("residual", 0)],
            OpSpec::Rope { .. } => &[("x", 0), ("pos", 0)],
            OpSpec::AttnDecode { .. } if paged => &[("q", 0), ("lens", 0), ("block_table", 0)],
            OpSpec::AttnDecode { .. } => &[("q", 0), ("lens", 0), ("k_cache", 0), ("v_cache", 0)],
            OpSpec::AttnPrefill { .. } | OpSpec::AttnChunked { .. } | OpSpec::KvAppend { .. } | OpSpec::Sample { .. } => return None,
            _ => &[("x", 0)],
        })
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
        let t = ["a", "x", "q", "logits", "k_cache"]
            .iter()
            .find_map(|n| self.inputs.get(*n))
            .ok_or("case has no main input (a, x, q, logits or k_cache)")?;
        t.dtype().ok_or_else(|| format!("input dtype {} is not a float type", t.dtype_name()).into())
    }

    /// The batched inputs of this case (see [`OpSpec::batched_inputs`]).
    pub fn batched_inputs(&self) -> Option<&'static [(&'static str, usize)]> {
        self.spec.batched_inputs(self.inputs.contains_key("block_table"))
    }

    /// Number of batch rows (the length of the first batched input along its batch axis);
    /// 1 for ops without a plain batch axis.
    pub fn batch(&self) -> usize {
        match self.batched_inputs() {
            Some(b) => self.inputs[b[0].0].shape()[b[0].1],
            None => 1,
        }
    }

    /// The same case restricted to batch rows `range` (unchanged for ops without a plain
    /// batch axis).
    pub fn rows(&self, range: std::ops::Range<usize>) -> Case {
        let mut c = self.clone();
        for &(n, ax) in self.batched_inputs().unwrap_or(&[]) {
            let t = c.inputs[n].slice_axis(ax, range.clone());
            c.inputs.insert(n.to_string(), t);
        }
        c.name = format!("{}[rows {}..{}]", self.name, range.start, range.end);
        c
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
        OpSpec::AttnPrefill { scale, window } => {
            let p = AttnParams {
                scale: *scale,
                window: *window,
            };
            let (q, k, v) = (get::<T, Ix3>(case, "q")?, get::<T, Ix3>(case, "k")?, get::<T, Ix3>(case, "v")?);
            y(out(b.attn_prefill::<T, O>(
                c,
                q.view(),
                k.view(),
                v.view(),
                get::<i64, Ix1>(case, "seq_lens")?.view(),
                &p,
            )?))
        }
        OpSpec::AttnChunked { scale, window, spans } => {
            let p = AttnParams {
                scale: *scale,
                window: *window,
            };
            let cache = CacheInputs::<T>::get(case)?;
            y(out(b.attn_chunked::<T, O>(c, get::<T, Ix3>(case, "q")?.view(), &cache.view(), spans, &p)?))
        }
        OpSpec::AttnDecode { scale, window } => {
            let p = AttnParams {
                scale: *scale,
                window: *window,
            };
            let cache = CacheInputs::<T>::get(case)?;
            y(out(b.attn_decode::<T, O>(c, get::<T, Ix3>(case, "q")?.view(), &cache.view(), &p)?))
        }
        OpSpec::KvAppend { spans } => {
            let cache = CacheInputs::<T>::get(case)?;
            let (k, v, lens) = b.kv_append::<T>(&cache.view(), get::<T, Ix3>(case, "k_new")?.view(), get::<T, Ix3>(case, "v_new")?.view(), spans)?;
            BTreeMap::from([
                ("k_cache".to_string(), out(k)),
                ("v_cache".to_string(), out(v)),
                ("lens".to_string(), out(lens)),
            ])
        }
        OpSpec::Sample { requests } => BTreeMap::from([("tokens".to_string(), out(b.sample::<T>(c, get::<T, Ix2>(case, "logits")?.view(), requests)?))]),
    })
}

/// The cache inputs of a case: `k_cache`, `v_cache`, `lens`, and `block_table` if paged.
struct CacheInputs<T> {
    k: ndarray::Array4<T>,
    v: ndarray::Array4<T>,
    lens: ndarray::Array1<i64>,
    table: Option<ndarray::Array2<i64>>,
}

impl<T: Element + TensorElem> CacheInputs<T> {
    fn get(case: &Case) -> OpResult<Self> {
        Ok(CacheInputs {
            k: get::<T, ndarray::Ix4>(case, "k_cache")?,
            v: get::<T, ndarray::Ix4>(case, "v_cache")?,
            lens: get::<i64, Ix1>(case, "lens")?,
            table: if case.inputs.contains_key("block_table") {
                Some(get::<i64, Ix2>(case, "block_table")?)
            } else {
                None
            },
        })
    }

    fn view(&self) -> KvCache<'_, T> {
        let layout = match &self.table {
            None => KvLayout::Contiguous {
                k: self.k.view(),
                v: self.v.view(),
            },
            Some(t) => KvLayout::Paged {
                k: self.k.view(),
                v: self.v.view(),
                block_table: t.view(),
            },
        };
        KvCache {
            layout,
            lens: self.lens.view(),
        }
    }
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
