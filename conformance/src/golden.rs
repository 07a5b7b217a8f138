//! Golden files: the spec as data (docs/golden.md).
//!
//! `golden/manifest.json` lists every case: op and parameters, contract, the safetensors
//! file and tensor names of its inputs and outputs, their dtypes and shapes, and the
//! SHA-256 of every output. Tensors live in one safetensors file per op stem
//! (`golden/matmul.safetensors`, …), named `<case name>/in/<input>` and `<case name>/out/<output>`.

use crate::case::{run_case, Case, OpSpec};
use crate::compare::{compare, Comparison};
use crate::ops::Ops;
use crate::tensor::{write_safetensors, Tensor};
use lockstep_reference::{Contract, DType};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub const FORMAT: &str = "lockstep-golden/1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    /// Tensor name inside the safetensors file.
    pub tensor: String,
    /// `f32`, `bf16` (stored as U16 bit patterns), `f16` or `i64`.
    pub dtype: String,
    pub shape: Vec<usize>,
    /// SHA-256 of the little-endian bytes (outputs only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseEntry {
    pub name: String,
    #[serde(flatten)]
    pub spec: OpSpec,
    pub contract: String,
    pub out_dtype: DType,
    pub file: String,
    pub inputs: Vec<TensorEntry>,
    pub outputs: Vec<TensorEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// How to compare: bitwise, NaN equal to NaN whatever the payload.
    pub comparison: String,
    pub cases: Vec<CaseEntry>,
}

/// Tensor names in the files: `<case>/in/<name>` and `<case>/out/<name>`.
fn entry(case: &str, name: &str, t: &Tensor, output: bool) -> TensorEntry {
    let with_hash = output;
    TensorEntry {
        name: name.to_string(),
        tensor: format!("{case}/{}/{name}", if output { "out" } else { "in" }),
        dtype: t.dtype_name().to_string(),
        shape: t.shape(),
        sha256: with_hash.then(|| t.sha256()),
    }
}

/// Computes every case with the literal reference and writes `dir/manifest.json` and one
/// safetensors file per op stem. Returns the manifest.
pub fn generate(dir: &Path, cases: &[Case], progress: impl Fn(usize, &str) + Sync) -> Result<Manifest, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = std::collections::HashSet::new();
    if let Some(dup) = cases.iter().find(|c| !names.insert(c.name.as_str())) {
        return Err(format!("two cases are named {:?}", dup.name));
    }
    let mut by_file: BTreeMap<String, Vec<(String, Tensor)>> = BTreeMap::new();
    let mut entries = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        progress(i, &case.name);
        let outs = run_case(&crate::ops::CpuLiteral, case).map_err(|e| format!("{}: {e}", case.name))?;
        let file = format!("{}.safetensors", case.spec.stem());
        let inputs: Vec<TensorEntry> = case.inputs.iter().map(|(n, t)| entry(&case.name, n, t, false)).collect();
        let outputs: Vec<TensorEntry> = outs.iter().map(|(n, t)| entry(&case.name, n, t, true)).collect();
        let bucket = by_file.entry(file.clone()).or_default();
        for (e, t) in inputs.iter().zip(case.inputs.values()).chain(outputs.iter().zip(outs.values())) {
            bucket.push((e.tensor.clone(), t.clone()));
        }
        entries.push(CaseEntry {
            name: case.name.clone(),
            spec: case.spec.clone(),
            contract: case.contract.id(),
            out_dtype: case.out_dtype,
            file,
            inputs,
            outputs,
        });
    }
    for (file, tensors) in &by_file {
        let refs: Vec<(String, &Tensor)> = tensors.iter().map(|(n, t)| (n.clone(), t)).collect();
        write_safetensors(&dir.join(file), &refs)?;
    }
    let m = Manifest {
        format: FORMAT.into(),
        comparison: "bitwise; NaN equals NaN whatever the payload".into(),
        cases: entries,
    };
    let json = serde_json::to_string_pretty(&m).map_err(|e| e.to_string())? + "\n";
    std::fs::write(dir.join("manifest.json"), json).map_err(|e| e.to_string())?;
    Ok(m)
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let p = dir.join("manifest.json");
    let s = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let m: Manifest = serde_json::from_str(&s).map_err(|e| format!("{}: {e}", p.display()))?;
    if m.format != FORMAT {
        return Err(format!("{}: format {:?}, this lockstep reads {FORMAT:?}", p.display(), m.format));
    }
    Ok(m)
}

/// The tensors of a directory of safetensors files, by tensor name.
pub struct Store {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Store {
    /// Loads the named files (or, with `None`, every `*.safetensors` in `dir`).
    pub fn open(dir: &Path, names: Option<Vec<String>>) -> Result<Store, String> {
        let paths: Vec<PathBuf> = match names {
            Some(n) => n.into_iter().map(|f| dir.join(f)).collect(),
            None => {
                let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                    .collect();
                v.sort();
                v
            }
        };
        let mut files = Vec::new();
        for p in paths {
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
            files.push((p, bytes));
        }
        Ok(Store { files })
    }

    pub fn get(&self, tensor: &str, dtype: &str) -> Result<Tensor, String> {
        for (p, bytes) in &self.files {
            let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
            if let Ok(view) = st.tensor(tensor) {
                return Tensor::from_view(&view, dtype).map_err(|e| format!("{}: {tensor}: {e}", p.display()));
            }
        }
        Err(format!("tensor {tensor:?} not found"))
    }
}

/// Rebuilds a case (inputs included) from the golden directory.
pub fn load_case(store: &Store, e: &CaseEntry) -> Result<Case, String> {
    let contract: Contract = Contract::by_id(&e.contract).map_err(|x| x.to_string())?.clone();
    let mut inputs = BTreeMap::new();
    for t in &e.inputs {
        inputs.insert(t.name.clone(), store.get(&t.tensor, &t.dtype)?);
    }
    Ok(Case {
        name: e.name.clone(),
        spec: e.spec.clone(),
        contract,
        out_dtype: e.out_dtype,
        inputs,
    })
}

/// The verdict on one golden case.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub case: String,
    pub op: String,
    #[serde(skip)]
    pub spec: OpSpec,
    pub contract: String,
    pub comparison: Comparison,
    /// A problem that kept the case from being compared (missing tensor, hash mismatch, error).
    pub error: Option<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.comparison.passed()
    }
}

/// Where the outputs under test come from.
pub enum Source<'a, B: Ops> {
    /// Recompute each case on a backend.
    Backend(&'a B),
    /// Read a third party's outputs (same tensor names) from a directory of safetensors files.
    Outputs(&'a Store),
}

/// Checks every case of the manifest (optionally only those whose name contains `filter`).
pub fn verify<B: Ops>(dir: &Path, src: Source<'_, B>, filter: Option<&str>, progress: impl Fn(usize, usize, &str)) -> Result<Vec<Verdict>, String> {
    let m = read_manifest(dir)?;
    let files: Vec<String> = {
        let mut f: Vec<String> = m.cases.iter().map(|c| c.file.clone()).collect();
        f.sort();
        f.dedup();
        f
    };
    let store = Store::open(dir, Some(files))?;
    let cases: Vec<&CaseEntry> = m.cases.iter().filter(|c| filter.is_none_or(|f| c.name.contains(f))).collect();
    let mut out = Vec::new();
    for (i, e) in cases.iter().enumerate() {
        progress(i, cases.len(), &e.name);
        out.push(verify_one(&store, e, &src));
    }
    Ok(out)
}

fn verify_one<B: Ops>(store: &Store, e: &CaseEntry, src: &Source<'_, B>) -> Verdict {
    let mut v = Verdict {
        case: e.name.clone(),
        op: e.spec.name(),
        spec: e.spec.clone(),
        contract: e.contract.clone(),
        comparison: Comparison::empty(),
        error: None,
    };
    if let Source::Backend(b) = src {
        if let Ok(c) = Contract::by_id(&e.contract) {
            if !b.supports(&e.spec, c) {
                v.error = Some(format!("{} does not implement {} under {}", b.name(), e.spec.name(), e.contract));
                return v;
            }
        }
    }
    let result: Result<(), String> = (|| {
        let got: HashMap<String, Tensor> = match src {
            Source::Backend(b) => {
                let case = load_case(store, e)?;
                run_case(*b, &case).map_err(|x| x.to_string())?.into_iter().collect()
            }
            Source::Outputs(s) => {
                let mut h = HashMap::new();
                for o in &e.outputs {
                    h.insert(o.name.clone(), s.get(&o.tensor, &o.dtype)?);
                }
                h
            }
        };
        for o in &e.outputs {
            let expected = store.get(&o.tensor, &o.dtype)?;
            if o.sha256.as_deref() != Some(expected.sha256().as_str()) {
                return Err(format!(
                    "golden tensor {} does not match its SHA-256 in the manifest (corrupted golden file?)",
                    o.tensor
                ));
            }
            let g = got.get(&o.name).ok_or_else(|| format!("no output {:?}", o.name))?;
            v.comparison.merge(compare(&expected, g));
        }
        Ok(())
    })();
    v.error = result.err();
    v
}
