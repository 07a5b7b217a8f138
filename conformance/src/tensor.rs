//! A tensor of any storage type, as golden files and backends exchange them.
//!
//! On disk (safetensors): f32 → `F32`, f16 → `F16`, i64 → `I64`, and bf16 → `U16` holding
//! the bf16 bit pattern (numpy has no bfloat16; the manifest's `dtype` says "bf16").

use half::{bf16, f16};
use lockstep_reference::{DType, Element};
use ndarray::{ArrayD, IxDyn};
use safetensors::tensor::{Dtype as StDtype, TensorView};
use sha2::{Digest, Sha256};

#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    Bf16(ArrayD<bf16>),
    F16(ArrayD<f16>),
    I64(ArrayD<i64>),
}

/// Conversion between a typed array and [`Tensor`].
pub trait TensorElem: Sized + Clone {
    const NAME: &'static str;
    fn wrap(a: ArrayD<Self>) -> Tensor;
    fn unwrap(t: &Tensor) -> Option<&ArrayD<Self>>;
}

macro_rules! tensor_elem {
    ($t:ty, $v:ident, $name:expr) => {
        impl TensorElem for $t {
            const NAME: &'static str = $name;
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$v(a)
            }
            fn unwrap(t: &Tensor) -> Option<&ArrayD<Self>> {
                match t {
                    Tensor::$v(a) => Some(a),
                    _ => None,
                }
            }
        }
    };
}
tensor_elem!(f32, F32, "f32");
tensor_elem!(bf16, Bf16, "bf16");
tensor_elem!(f16, F16, "f16");
tensor_elem!(i64, I64, "i64");

impl Tensor {
    pub fn dtype_name(&self) -> &'static str {
        match self {
            Tensor::F32(_) => "f32",
            Tensor::Bf16(_) => "bf16",
            Tensor::F16(_) => "f16",
            Tensor::I64(_) => "i64",
        }
    }

    pub fn dtype(&self) -> Option<DType> {
        DType::parse(self.dtype_name())
    }

    pub fn shape(&self) -> Vec<usize> {
        match self {
            Tensor::F32(a) => a.shape().to_vec(),
            Tensor::Bf16(a) => a.shape().to_vec(),
            Tensor::F16(a) => a.shape().to_vec(),
            Tensor::I64(a) => a.shape().to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get<T: TensorElem>(&self) -> Option<&ArrayD<T>> {
        T::unwrap(self)
    }

    /// Little-endian bytes in standard layout, as stored on disk.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        fn bytes<T: Clone, const N: usize>(a: &ArrayD<T>, f: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
            a.as_standard_layout().iter().flat_map(f).collect()
        }
        match self {
            Tensor::F32(a) => bytes(a, |x| x.to_le_bytes()),
            Tensor::Bf16(a) => bytes(a, |x| x.to_bits().to_le_bytes()),
            Tensor::F16(a) => bytes(a, |x| x.to_bits().to_le_bytes()),
            Tensor::I64(a) => bytes(a, |x| x.to_le_bytes()),
        }
    }

    /// SHA-256 of [`Self::to_le_bytes`], lowercase hex.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(self.to_le_bytes()))
    }

    pub fn st_dtype(&self) -> StDtype {
        match self {
            Tensor::F32(_) => StDtype::F32,
            Tensor::Bf16(_) => StDtype::U16,
            Tensor::F16(_) => StDtype::F16,
            Tensor::I64(_) => StDtype::I64,
        }
    }

    /// Reads a safetensors view given the manifest's dtype name.
    pub fn from_view(view: &TensorView<'_>, dtype: &str) -> Result<Tensor, String> {
        let shape = IxDyn(view.shape());
        let data = view.data();
        let want = match dtype {
            "f32" => StDtype::F32,
            "bf16" => StDtype::U16,
            "f16" => StDtype::F16,
            "i64" => StDtype::I64,
            other => return Err(format!("unknown dtype {other:?}")),
        };
        if view.dtype() != want {
            return Err(format!("stored as {:?}, manifest says {dtype} (expected {:?})", view.dtype(), want));
        }
        fn read<T, const N: usize>(d: &[u8], shape: IxDyn, f: impl Fn([u8; N]) -> T) -> Result<ArrayD<T>, String> {
            let v: Vec<T> = d.chunks_exact(N).map(|c| f(c.try_into().unwrap())).collect();
            ArrayD::from_shape_vec(shape, v).map_err(|e| e.to_string())
        }
        Ok(match dtype {
            "f32" => Tensor::F32(read(data, shape, f32::from_le_bytes)?),
            "bf16" => Tensor::Bf16(read(data, shape, |b| bf16::from_bits(u16::from_le_bytes(b)))?),
            "f16" => Tensor::F16(read(data, shape, |b| f16::from_bits(u16::from_le_bytes(b)))?),
            _ => Tensor::I64(read(data, shape, i64::from_le_bytes)?),
        })
    }

    /// Element `i` (standard-layout order) as (bits, f64 value) for reports; ints as themselves.
    pub fn describe(&self, i: usize) -> (u64, f64) {
        match self {
            Tensor::F32(a) => {
                let v = *a.as_standard_layout().iter().nth(i).unwrap();
                (v.to_bits() as u64, v as f64)
            }
            Tensor::Bf16(a) => {
                let v = *a.as_standard_layout().iter().nth(i).unwrap();
                (v.bits() as u64, v.to_f32() as f64)
            }
            Tensor::F16(a) => {
                let v = *a.as_standard_layout().iter().nth(i).unwrap();
                (v.bits() as u64, v.to_f32() as f64)
            }
            Tensor::I64(a) => {
                let v = *a.as_standard_layout().iter().nth(i).unwrap();
                (v as u64, v as f64)
            }
        }
    }
}

/// Writes named tensors to one safetensors file.
pub fn write_safetensors(path: &std::path::Path, tensors: &[(String, &Tensor)]) -> Result<(), String> {
    let owned: Vec<(String, StDtype, Vec<usize>, Vec<u8>)> = tensors.iter().map(|(n, t)| (n.clone(), t.st_dtype(), t.shape(), t.to_le_bytes())).collect();
    let views: Vec<(String, TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).expect("consistent tensor")))
        .collect();
    safetensors::tensor::serialize_to_file(views, &None, path).map_err(|e| format!("{}: {e}", path.display()))
}

impl Tensor {
    /// Elements `range` along `axis` (a new, owned tensor).
    pub fn slice_axis(&self, axis: usize, range: std::ops::Range<usize>) -> Tensor {
        let s = ndarray::Slice::from(range);
        match self {
            Tensor::F32(a) => Tensor::F32(a.slice_axis(ndarray::Axis(axis), s).to_owned()),
            Tensor::Bf16(a) => Tensor::Bf16(a.slice_axis(ndarray::Axis(axis), s).to_owned()),
            Tensor::F16(a) => Tensor::F16(a.slice_axis(ndarray::Axis(axis), s).to_owned()),
            Tensor::I64(a) => Tensor::I64(a.slice_axis(ndarray::Axis(axis), s).to_owned()),
        }
    }
}
