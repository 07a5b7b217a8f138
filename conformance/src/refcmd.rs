//! `lockstep ref`: the reference result for a user's own inputs, so a kernel author can
//! check any shape without writing Rust. `.npy` in and out: f32 as `float32`, bf16 and f16
//! as `uint16` holding the 16-bit pattern (numpy has no bfloat16), named by `--in-dtype`.

use crate::case::{run_case, Case, OpSpec};
use crate::ops::CpuFast;
use crate::tensor::Tensor;
use clap::{Args, Subcommand};
use half::{bf16, f16};
use lockstep_reference::{Contract, DType};
use ndarray::ArrayD;
use ndarray_npy::{read_npy, write_npy};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum RefCmd {
    /// `C = A·B (+ bias)`; 3-D A and B give `bmm`.
    Mm(MmArgs),
}

#[derive(Args)]
pub struct MmArgs {
    /// Contract id: fma-v1, mma-sm90-v1 (or the family name for its newest version).
    #[arg(long, default_value = "fma-v1")]
    contract: String,
    #[arg(long)]
    a: PathBuf,
    #[arg(long)]
    b: PathBuf,
    /// Bias, float32, length N (added after the chain).
    #[arg(long)]
    bias: Option<PathBuf>,
    /// How to read uint16 inputs: bf16 or f16 (float32 inputs are f32).
    #[arg(long)]
    in_dtype: Option<String>,
    /// f32, bf16 or f16 (bf16/f16 written as uint16 bit patterns).
    #[arg(long, default_value = "f32")]
    out_dtype: String,
    #[arg(short, long)]
    out: PathBuf,
}

fn read(path: &Path, in_dtype: Option<DType>) -> Result<Tensor, String> {
    let err = |e: String| format!("{}: {e}", path.display());
    if let Ok(a) = read_npy::<_, ArrayD<f32>>(path) {
        return Ok(Tensor::F32(a));
    }
    let bits: ArrayD<u16> = read_npy(path).map_err(|e| err(format!("not a float32 or uint16 .npy: {e}")))?;
    match in_dtype {
        Some(DType::Bf16) => Ok(Tensor::Bf16(bits.mapv(bf16::from_bits))),
        Some(DType::F16) => Ok(Tensor::F16(bits.mapv(f16::from_bits))),
        _ => Err(err("uint16 input: say --in-dtype bf16 or --in-dtype f16".into())),
    }
}

fn write(path: &Path, t: &Tensor) -> Result<(), String> {
    let r = match t {
        Tensor::F32(a) => write_npy(path, a),
        Tensor::Bf16(a) => write_npy(path, &a.mapv(|x| x.to_bits())),
        Tensor::F16(a) => write_npy(path, &a.mapv(|x| x.to_bits())),
        Tensor::I64(a) => write_npy(path, a),
    };
    r.map_err(|e| format!("{}: {e}", path.display()))
}

pub fn run(cmd: RefCmd) -> Result<bool, String> {
    match cmd {
        RefCmd::Mm(m) => {
            let contract = Contract::by_id(&m.contract).map_err(|e| e.to_string())?;
            let in_dtype = m
                .in_dtype
                .as_deref()
                .map(|s| DType::parse(s).ok_or(format!("unknown --in-dtype {s}")))
                .transpose()?;
            let out_dtype = DType::parse(&m.out_dtype).ok_or(format!("unknown --out-dtype {}", m.out_dtype))?;
            let a = read(&m.a, in_dtype)?;
            let b = read(&m.b, in_dtype)?;
            let spec = match (a.shape().len(), &m.bias) {
                (3, None) => OpSpec::Bmm,
                (3, Some(_)) => return Err("bmm takes no bias".into()),
                (_, None) => OpSpec::Mm,
                (_, Some(_)) => OpSpec::Addmm,
            };
            let mut inputs = vec![("a", a), ("b", b)];
            if let Some(p) = &m.bias {
                let bias: ArrayD<f32> = read_npy(p).map_err(|e| format!("{}: bias must be float32: {e}", p.display()))?;
                inputs.push(("bias", Tensor::F32(bias.flatten().to_owned().into_dyn())));
            }
            let case = Case::new("ref", spec, contract, out_dtype, inputs);
            let out = run_case(&CpuFast, &case).map_err(|e| e.to_string())?;
            write(&m.out, &out["y"])?;
            println!(
                "wrote {} {:?} ({}) to {}",
                out["y"].dtype_name(),
                out["y"].shape(),
                contract.id(),
                m.out.display()
            );
            Ok(true)
        }
    }
}
