//! The one path into NVRTC: sources, generated contract header, compile options, the
//! per-process PTX cache, and the typed table of every kernel.
//!
//! The program is one translation unit: the header generated from the Rust [`Contract`]
//! and the launch constants below, then `gpu/kernels/*` in a fixed order, prelude first.
//! Nothing is compiled at build time and no source file is read at run time. Each `.cu`
//! file `#error`s if a generated constant is missing; none defines a fallback.

use crate::error::{Error, Result};
use cudarc::driver::sys::CUfunction_attribute;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule};
use cudarc::nvrtc::{CompileOptions, Ptx};
use lockstep_reference::elementwise::Unary;
use lockstep_reference::{Contract, DType};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Matmul tile rows per CTA of `matmul_fma_*` (each of 16 thread rows owns 8).
pub const MM_BM: usize = 128;
/// Matmul tile rows per CTA of `matmul_fma_half_*` (each of 16 thread rows owns 4): twice
/// the CTAs of [`MM_BM`] where 128-row tiles would leave SMs idle.
pub const MM_BM_HALF: usize = 64;
/// Matmul tile columns per CTA (each of 16 thread columns owns 8).
pub const MM_BN: usize = 128;
/// k per shared-memory stage of the tile kernels (pads, never splits, a KC chunk: see
/// matmul.cu).
pub const MM_BK: usize = 8;
/// Threads per tile CTA: a 16 × 16 grid.
pub const MM_THREADS: usize = 256;
/// Dynamic shared memory of a tile kernel with `bm` rows: its running chunk sums, one
/// float per output of the tile (`LS_MM_TOTALS` in matmul.cu).
pub const fn mm_totals_bytes(bm: usize) -> usize {
    bm * MM_BN * 4
}
/// Threads per CTA of the skinny (M ≤ 16) kernels; each owns 8 bytes of B per k row.
pub const MM_SK_THREADS: usize = 128;
/// k rows of A per shared-memory stage of the skinny kernels (MM_SK_KS × 16 floats).
pub const MM_SK_KS: usize = 256;
/// Most chunks of a cluster-combined skinny launch (sm_90: the chunks of a column block are
/// one thread-block cluster, 16 the largest sm_90 runs; ops/matmul.rs).
pub const MM_CLUSTER_MAX: usize = 16;
/// Whether a device of this architecture runs clusters of [`MM_CLUSTER_MAX`] CTAs (the
/// "non-portable" size: sm_90, the H100 and H200; measured there only).
pub fn large_clusters(arch: &str) -> bool {
    arch == "sm_90a"
}
/// Threads per row block of the row ops (each folds `LANES / ROW_THREADS` lanes).
pub const ROW_THREADS: usize = 256;
/// CTAs per row of the `*_wide` row kernels (a thread-block cluster, sm_90 and later, given
/// at launch: ops/rowplan.rs, which `LOCKSTEP_ROW_CLUSTER` overrides for measurement): each
/// owns `LANES / ROW_CLUSTER` lanes of the row (no effect on the tree).
pub const ROW_CLUSTER: usize = 8;
/// The larger cluster a row plan takes for vocabulary-wide rows where the device runs it
/// ([`large_clusters`]) and it pays (ops/rowplan.rs `cluster_size`): half the slice per CTA.
pub const ROW_CLUSTER_LARGE: usize = 16;
/// Quads (4 elements) of a row each thread of the register engine holds in registers
/// (reduce.cuh `LsRegRow`, used by softmax and rmsnorm; ops/rowplan.rs): rows up to
/// 8 × 4 × [`ROW_THREADS`] = 8192 elements at L = 1024.
pub const ROW_REG_QUADS: usize = 8;
/// Most bytes of a row slice the row kernels keep in shared memory (ops/rowplan.rs): an
/// f32 vocabulary row of 151936 split over [`ROW_CLUSTER`] CTAs fits (75968 B).
pub const ROW_CACHE_MAX: usize = 80 * 1024;
/// Bytes of the staging buffer behind a cached slice where softmax computes a group of
/// chunks' e_i with every thread before the lanes fold them (reduce.cuh
/// `ls_row_reduce_staged`, ops/rowplan.rs): 32 chunks of a wide CTA's 128 lanes at L = 1024.
pub const ROW_STAGE_BYTES: usize = 16 * 1024;
/// Threads per block of the elementwise-style kernels (rope, combine).
pub const FLAT_THREADS: usize = 256;
/// Threads per attention split block (each scores keys `tid, tid + ATTN_THREADS, …` of a
/// BN block and owns head dims `tid, tid + ATTN_THREADS, …`; no effect on the tree).
pub const ATTN_THREADS: usize = 128;
/// Most (query row, query head) slots one `attn_tile` CTA serves (its accumulators are
/// registers: see attention.cu; no effect on the tree).
pub const ATTN_SLOTS: usize = 16;
/// Most slots per thread of `attn_tile_few` (decode-sized tiles, built for 3 CTAs per SM;
/// ops/attention.rs picks it where a tile needs no more; no effect on the tree).
pub const ATTN_FEW_SLOTS: usize = 4;
/// Most query heads ([`ATTN_WARPS_PER_HEAD`] warps each) per `attn_warp` CTA, the kernel for
/// tiles of one query row (decode; ops/attention.rs picks it; no effect on the tree).
pub const ATTN_WARP_HEADS: usize = 4;
/// CTAs per SM `attn_warp` is built for (its register limit: 3 × 256 threads × 80 registers).
pub const ATTN_WARP_CTAS: usize = 3;
/// Most splits one `attn_warp` CTA computes in a row (ops/attention.rs `TilePlan::spread`;
/// no effect on the tree: each split's state is computed and written as by a CTA of its own).
pub const ATTN_WARP_MAX_SPC: usize = 4;
/// Warps per query head of `attn_warp`: they split the block's keys (scores) and the head's
/// dims (accumulators), for more warps per SM at the same shared memory (no effect on the tree).
pub const ATTN_WARPS_PER_HEAD: usize = 2;

/// Sources in compile order, prelude first. Adding an op means one line here and one
/// entry in [`Kernels`].
const SOURCES: &[(&str, &str)] = &[
    ("prelude.cuh", include_str!("../kernels/prelude.cuh")),
    ("reduce.cuh", include_str!("../kernels/reduce.cuh")),
    ("kstep_fma.cuh", include_str!("../kernels/kstep_fma.cuh")),
    ("elementwise.cuh", include_str!("../kernels/elementwise.cuh")),
    ("matmul.cu", include_str!("../kernels/matmul.cu")),
    ("rmsnorm.cu", include_str!("../kernels/rmsnorm.cu")),
    ("mean.cu", include_str!("../kernels/mean.cu")),
    ("softmax.cu", include_str!("../kernels/softmax.cu")),
    ("rope.cu", include_str!("../kernels/rope.cu")),
    ("elementwise.cu", include_str!("../kernels/elementwise.cu")),
    ("attention.cu", include_str!("../kernels/attention.cu")),
    ("sample.cu", include_str!("../kernels/sample.cu")),
];

/// The generated header: every constant the kernels use, from the contract and from the
/// launch constants of this file, written once.
pub fn header(c: &Contract) -> String {
    let mut h = format!(
        "// Generated by lockstep-gpu from Contract {id}; do not edit.\n\
         #define LS_CONTRACT \"{id}\"\n\
         #define LS_KC {kc} /* 0: K is one chunk */\n\
         #define LS_LANES {lanes}\n\
         #define LS_ATTN_BLOCK {bn}\n\
         #define LS_ATTN_SPLIT {s}\n\
         #define LS_MM_BM {bm}\n\
         #define LS_MM_BM_HALF {bmh}\n\
         #define LS_MM_BN {bnn}\n\
         #define LS_MM_BK {bk}\n\
         #define LS_MM_THREADS {mt}\n\
         #define LS_MM_SK_THREADS {skt}\n\
         #define LS_MM_SK_KS {sks}\n\
         #define LS_MM_CLUSTER_MAX {mcm}\n\
         #define LS_ROW_THREADS {rt}\n\
         #define LS_ROW_CLUSTER {rc}\n\
         #define LS_ROW_CLUSTER_LARGE {rcl}\n\
         #define LS_ROW_REG_QUADS {rq}\n\
         #define LS_ROW_STAGE_BYTES {rsb}\n\
         #define LS_ATTN_THREADS {at}\n\
         #define LS_ATTN_SLOTS {asl}\n\
         #define LS_ATTN_FEW_SLOTS {afs}\n\
         #define LS_ATTN_WARP_HEADS {awh}\n\
         #define LS_ATTN_WARPS_PER_HEAD {awp}\n\
         #define LS_ATTN_WARP_CTAS {awc}\n",
        id = c.id(),
        kc = c.kc.unwrap_or(0),
        lanes = c.lanes,
        bn = c.attn_block,
        s = c.attn_split,
        bm = MM_BM,
        bmh = MM_BM_HALF,
        skt = MM_SK_THREADS,
        sks = MM_SK_KS,
        mcm = MM_CLUSTER_MAX,
        bnn = MM_BN,
        bk = MM_BK,
        mt = MM_THREADS,
        rt = ROW_THREADS,
        rc = ROW_CLUSTER,
        rcl = ROW_CLUSTER_LARGE,
        rq = ROW_REG_QUADS,
        rsb = ROW_STAGE_BYTES,
        at = ATTN_THREADS,
        asl = ATTN_SLOTS,
        afs = ATTN_FEW_SLOTS,
        awh = ATTN_WARP_HEADS,
        awp = ATTN_WARPS_PER_HEAD,
        awc = ATTN_WARP_CTAS,
    );
    // Op codes of the elementwise kernel: the index in `Unary::ALL` (ops/elementwise.rs).
    for (i, u) in Unary::ALL.iter().enumerate() {
        h += &format!("#define LS_UNARY_{} {i}\n", u.name().to_uppercase());
    }
    h
}

/// The whole program text for a contract.
pub fn program(c: &Contract) -> String {
    let mut s = header(c);
    for (name, text) in SOURCES {
        s += &format!("\n#line 1 \"{name}\"\n");
        s += text;
    }
    s
}

/// The NVRTC target for a compute capability: the device's own `sm_XY`, and `sm_90a` on
/// sm_90 so that later wgmma kernels load (docs/gpu.md).
pub fn arch_name(cc: (i32, i32)) -> String {
    match cc {
        (9, 0) => "sm_90a".into(),
        (major, minor) => format!("sm_{major}{minor}"),
    }
}

/// Compile options, each with what it does to bits.
pub fn compile_options(arch: &str) -> Vec<String> {
    vec![
        // Never contract a*b+c into an fma: contraction changes bits. (Every tree step is an
        // explicit __fmaf_rn/__fadd_rn/__fmul_rn anyway; this covers plain operators.)
        "--fmad=false".into(),
        // Keep subnormal inputs and results: flushing them to zero changes bits.
        "--ftz=false".into(),
        // IEEE round-to-nearest division and square root, not the approximate forms.
        "--prec-div=true".into(),
        "--prec-sqrt=true".into(),
        // (No --use_fast_math: it would imply all of the above the other way round.)
        // Language level for lambdas in the lane tree: no effect on bits.
        "--std=c++17".into(),
        // The device's own architecture: only which instructions exist, the order of
        // operations is fixed by the source.
        format!("--gpu-architecture={arch}"),
    ]
}

/// The program's parts: NVRTC compiles them in parallel (one thread each) and each is loaded
/// as its own module. Every part starts with the header and the shared `.cuh` files; the
/// split changes no instruction of any kernel, only how long the first use of a contract
/// waits (the program as one unit took ~45 s on 2 cores, mostly the matmul and row kernels).
pub const PARTS: &[(&str, &[&str])] = &[
    ("matmul", &["matmul.cu"]),
    ("rows", &["rmsnorm.cu", "mean.cu", "softmax.cu"]),
    ("attention", &["attention.cu"]),
    ("misc", &["rope.cu", "elementwise.cu", "sample.cu"]),
];

/// The program text of one part of [`PARTS`]: header, shared `.cuh` files, the part's `.cu` files.
pub fn part_program(c: &Contract, part: &str) -> String {
    let files = PARTS.iter().find(|(p, _)| *p == part).map(|(_, f)| *f).unwrap_or_default();
    let mut s = header(c);
    for (name, text) in SOURCES {
        if name.ends_with(".cuh") || files.contains(name) {
            s += &format!("\n#line 1 \"{name}\"\n");
            s += text;
        }
    }
    s
}

/// The PTX of every part of a contract's program for one architecture, in [`PARTS`] order.
pub(crate) type ProgramPtx = Vec<(&'static str, String)>;
type Slot = Arc<Mutex<Option<Arc<ProgramPtx>>>>;

/// The folder of the on-disk PTX cache: `LOCKSTEP_PTX_CACHE` (`off` disables it), else
/// `$XDG_CACHE_HOME/lockstep/ptx`, else `$HOME/.cache/lockstep/ptx`.
fn ptx_cache_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("LOCKSTEP_PTX_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) => Some(v.into()),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))
            .map(|d| d.join("lockstep").join("ptx")),
    }
}

/// The cache key of a compile: SHA-256 of the NVRTC version, the options and the program
/// text, so any change to any of them is a different entry. A cache hit returns the PTX
/// that NVRTC produced for exactly these inputs, so the bits the kernels compute cannot
/// depend on it; it only saves the compile (tens of seconds per part and contract).
pub fn ptx_cache_key(nvrtc: (i32, i32), options: &[String], program: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(format!("nvrtc {}.{}\n", nvrtc.0, nvrtc.1));
    for o in options {
        h.update(o.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\n");
    h.update(program.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The NVRTC version, or [`Error::NoDriver`] when libnvrtc cannot be loaded (checked first:
/// cudarc panics on a call into a missing library).
pub(crate) fn nvrtc_version() -> Result<(i32, i32)> {
    // SAFETY: only probes whether the shared library can be opened.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(Error::NoDriver("libnvrtc (the CUDA runtime compiler) could not be loaded".into()));
    }
    let (mut major, mut minor) = (0i32, 0i32);
    // SAFETY: the library is present; writes two ints.
    unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    Ok((major, minor))
}

fn compile_part(c: &Contract, arch: &str, part: &'static str) -> Result<String> {
    nvrtc_compile(
        &format!("lockstep_{}_{part}.cu", c.id()),
        part_program(c, part),
        compile_options(arch),
        &c.id(),
        arch,
    )
}

/// The one way into NVRTC: `program` compiled with `options` through the on-disk cache
/// ([`ptx_cache_key`]); `name` is the file name NVRTC's messages use, and an error names
/// `what` (the contract, or the helper program) and the architecture.
pub(crate) fn nvrtc_compile(name: &str, program: String, options: Vec<String>, what: &str, arch: &str) -> Result<String> {
    let key = ptx_cache_key(nvrtc_version()?, &options, &program);
    cached(ptx_cache_dir().as_deref(), &key, || {
        let opts = CompileOptions {
            options,
            name: Some(name.into()),
            ..CompileOptions::default()
        };
        let ptx = cudarc::nvrtc::compile_ptx_with_opts(program, opts).map_err(|e| Error::Compile {
            contract: what.into(),
            arch: arch.into(),
            log: match e {
                cudarc::nvrtc::CompileError::CompileError { log, .. } => format!("{name}: {}", log.to_string_lossy()),
                other => format!("{name}: {other}"),
            },
        })?;
        Ok(ptx.to_src())
    })
}

/// `dir/key.ptx` if it holds a PTX module, else `compile()`, stored there for the next
/// process. Best effort: written under a unique name, then renamed, so that a concurrent
/// reader never sees half a file; a failed write only costs the next process a compile.
fn cached(dir: Option<&std::path::Path>, key: &str, compile: impl FnOnce() -> Result<String>) -> Result<String> {
    let file = dir.map(|d| d.join(format!("{key}.ptx")));
    if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
        if text.contains(".entry ") {
            return Ok(text);
        }
    }
    let text = compile()?;
    if let Some(f) = file {
        let tmp = f.with_extension(format!("{}.tmp", std::process::id()));
        let _ = f.parent().map(std::fs::create_dir_all);
        if std::fs::write(&tmp, &text).is_ok() && std::fs::rename(&tmp, &f).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(text)
}

/// Compiles (or finds in the per-process cache) the PTX of a contract's program for an
/// architecture. Concurrent first users of the same (contract, arch) wait for one compile;
/// different contracts compile at the same time.
pub(crate) fn ptx_for(c: &Contract, arch: &str) -> Result<Arc<ProgramPtx>> {
    static CACHE: OnceLock<Mutex<HashMap<(Contract, String), Slot>>> = OnceLock::new();
    let slot = {
        let mut map = CACHE.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|p| p.into_inner());
        map.entry((c.clone(), arch.to_string())).or_default().clone()
    };
    let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = slot.as_ref() {
        return Ok(p.clone());
    }
    let parts: Vec<Result<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = PARTS.iter().map(|&(part, _)| s.spawn(move || compile_part(c, arch, part))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::NoDriver("an NVRTC compile thread panicked".into()))))
            .collect()
    });
    let mut out = Vec::new();
    for ((part, _), ptx) in PARTS.iter().zip(parts) {
        out.push((*part, ptx?));
    }
    let p = Arc::new(out);
    *slot = Some(p.clone());
    Ok(p)
}

/// The PTX of a contract's program for an architecture, every part one after the other (for
/// inspection; cached; needs libnvrtc, no GPU).
pub fn ptx(c: &Contract, arch: &str) -> Result<String> {
    Ok(ptx_for(c, arch)?.iter().map(|(part, p)| format!("// ---- part {part} ----\n{p}")).collect())
}

fn dtype_index(d: DType) -> usize {
    match d {
        DType::F32 => 0,
        DType::Bf16 => 1,
        DType::F16 => 2,
    }
}

/// The kernel symbol of an op for an (input, output) pair: `{stem}_{in}_{out}`.
pub fn symbol(stem: &str, tin: DType, tout: DType) -> String {
    format!("{stem}_{}_{}", tin.name(), tout.name())
}

/// One kernel per (input, output) storage pair.
pub(crate) struct ByPair([[CudaFunction; 3]; 3]);

impl ByPair {
    fn load(m: &Arc<CudaModule>, c: &Contract, stem: &str) -> Result<ByPair> {
        let f = |tin: DType, tout: DType| load(m, c, &symbol(stem, tin, tout));
        let row = |tin: DType| -> Result<[CudaFunction; 3]> { Ok([f(tin, DType::F32)?, f(tin, DType::Bf16)?, f(tin, DType::F16)?]) };
        Ok(ByPair([row(DType::F32)?, row(DType::Bf16)?, row(DType::F16)?]))
    }
    pub fn get(&self, tin: DType, tout: DType) -> &CudaFunction {
        &self.0[dtype_index(tin)][dtype_index(tout)]
    }
    /// Lets every kernel of the stem take `bytes` of dynamic shared memory (needed above 48 KiB).
    fn allow_dynamic_smem(self, c: &Contract, stem: &str, bytes: usize) -> Result<ByPair> {
        let what = format!("setting {bytes} bytes of dynamic shared memory");
        self.set_all(
            c,
            stem,
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            bytes as i32,
            &what,
        )
    }
    /// Lets every kernel of the stem run in clusters of up to [`MM_CLUSTER_MAX`] CTAs (more
    /// than 8 is "non-portable": sm_90 has it, the function must allow it). Only on sm_90a.
    fn allow_large_clusters(self, c: &Contract, stem: &str, arch: &str) -> Result<ByPair> {
        if !large_clusters(arch) {
            return Ok(self);
        }
        self.set_all(
            c,
            stem,
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED,
            1,
            "allowing clusters of 16",
        )
    }
    fn set_all(self, c: &Contract, stem: &str, attr: CUfunction_attribute, value: i32, what: &str) -> Result<ByPair> {
        for (i, row) in self.0.iter().enumerate() {
            for (o, f) in row.iter().enumerate() {
                f.set_attribute(attr, value).map_err(|e| Error::MissingKernel {
                    symbol: symbol(stem, DType::ALL[i], DType::ALL[o]),
                    contract: c.id(),
                    detail: format!("{what}: {e}"),
                })?;
            }
        }
        Ok(self)
    }
}

/// One kernel per storage type (the output type, or the only type of the op).
pub(crate) struct ByOut([CudaFunction; 3]);

impl ByOut {
    fn load(m: &Arc<CudaModule>, c: &Contract, stem: &str) -> Result<ByOut> {
        let f = |t: DType| load(m, c, &format!("{stem}_{}", t.name()));
        Ok(ByOut([f(DType::F32)?, f(DType::Bf16)?, f(DType::F16)?]))
    }
    pub fn get(&self, tout: DType) -> &CudaFunction {
        &self.0[dtype_index(tout)]
    }
}

fn load(m: &Arc<CudaModule>, c: &Contract, sym: &str) -> Result<CudaFunction> {
    m.load_function(sym).map_err(|e| Error::MissingKernel {
        symbol: sym.to_string(),
        contract: c.id(),
        detail: e.to_string(),
    })
}

/// Every kernel of one contract, loaded eagerly: a missing symbol fails at startup.
pub(crate) struct Kernels {
    pub matmul_fma: ByPair,
    pub matmul_fma_half: ByPair,
    /// `matmul_fma_mr{4,8,16}{,_lean,_narrow}`: in the order of `ops::matmul::Skinny::ALL`.
    pub matmul_fma_mr4: [ByPair; 3],
    pub matmul_fma_mr8: [ByPair; 3],
    pub matmul_fma_mr16: [ByPair; 3],
    pub matmul_fma_combine: ByOut,
    pub rmsnorm: ByPair,
    pub rmsnorm_wide: ByPair,
    pub mean: ByPair,
    pub mean_wide: ByPair,
    pub softmax: ByPair,
    pub softmax_wide: ByPair,
    pub log_softmax: ByPair,
    pub log_softmax_wide: ByPair,
    pub softmax_regs: ByPair,
    pub log_softmax_regs: ByPair,
    pub softmax_regs4: ByPair,
    pub log_softmax_regs4: ByPair,
    pub rmsnorm_warps: ByPair,
    pub rmsnorm_regs: ByPair,
    pub rmsnorm_regs4: ByPair,
    pub rope: ByPair,
    pub unary: ByPair,
    pub attn_split: ByOut,
    pub attn_tile: ByOut,
    pub attn_tile_few: ByOut,
    pub attn_warp: ByOut,
    pub attn_merge: ByOut,
    pub kv_append: ByOut,
    pub sample: ByOut,
}

impl Kernels {
    pub fn load(ctx: &Arc<CudaContext>, c: &Contract, info: &crate::device::GpuInfo) -> Result<Kernels> {
        let arch = info.arch.as_str();
        let ptx = ptx_for(c, arch)?;
        let mut modules = HashMap::new();
        for (part, text) in ptx.iter() {
            let m = ctx.load_module(Ptx::from_src(text.as_str())).map_err(|e| Error::Compile {
                contract: c.id(),
                arch: arch.to_string(),
                log: format!("module load ({part}): {e}"),
            })?;
            modules.insert(*part, m);
        }
        let (m, r, a, x) = (&modules["matmul"], &modules["rows"], &modules["attention"], &modules["misc"]);
        // The row kernels may take the dynamic shared memory of their largest plan on this
        // device (ops/rowplan.rs: the plans stay within the same allowance).
        let dev = crate::ops::rowplan::RowDevice::of(info);
        let rows = |stem: &str| ByPair::load(r, c, stem)?.allow_dynamic_smem(c, stem, dev.smem_max(c.lanes));
        let wide = |stem: &str| rows(stem)?.allow_large_clusters(c, stem, arch);
        let warps = |stem: &str| ByPair::load(r, c, stem)?.allow_dynamic_smem(c, stem, dev.warp_smem_max(c.lanes));
        let skinny = |stem: &str| -> Result<[ByPair; 3]> {
            let form = |s: String| ByPair::load(m, c, &s)?.allow_large_clusters(c, &s, arch);
            Ok([form(stem.to_string())?, form(format!("{stem}_lean"))?, form(format!("{stem}_narrow"))?])
        };
        Ok(Kernels {
            matmul_fma: ByPair::load(m, c, "matmul_fma")?.allow_dynamic_smem(c, "matmul_fma", mm_totals_bytes(MM_BM))?,
            matmul_fma_half: ByPair::load(m, c, "matmul_fma_half")?.allow_dynamic_smem(c, "matmul_fma_half", mm_totals_bytes(MM_BM_HALF))?,
            matmul_fma_mr4: skinny("matmul_fma_mr4")?,
            matmul_fma_mr8: skinny("matmul_fma_mr8")?,
            matmul_fma_mr16: skinny("matmul_fma_mr16")?,
            matmul_fma_combine: ByOut::load(m, c, "matmul_fma_combine")?,
            rmsnorm: rows("rmsnorm")?,
            rmsnorm_wide: wide("rmsnorm_wide")?,
            mean: rows("mean")?,
            mean_wide: wide("mean_wide")?,
            softmax: rows("softmax")?,
            softmax_wide: wide("softmax_wide")?,
            log_softmax: rows("log_softmax")?,
            log_softmax_wide: wide("log_softmax_wide")?,
            softmax_regs: ByPair::load(r, c, "softmax_regs")?,
            log_softmax_regs: ByPair::load(r, c, "log_softmax_regs")?,
            softmax_regs4: ByPair::load(r, c, "softmax_regs4")?,
            log_softmax_regs4: ByPair::load(r, c, "log_softmax_regs4")?,
            rmsnorm_regs: ByPair::load(r, c, "rmsnorm_regs")?,
            rmsnorm_regs4: ByPair::load(r, c, "rmsnorm_regs4")?,
            rmsnorm_warps: warps("rmsnorm_warps")?,
            rope: ByPair::load(x, c, "rope")?,
            unary: ByPair::load(x, c, "unary")?,
            attn_split: ByOut::load(a, c, "attn_split")?,
            attn_tile: ByOut::load(a, c, "attn_tile")?,
            attn_tile_few: ByOut::load(a, c, "attn_tile_few")?,
            attn_warp: ByOut::load(a, c, "attn_warp")?,
            attn_merge: ByOut::load(a, c, "attn_merge")?,
            kv_append: ByOut::load(a, c, "kv_append")?,
            sample: ByOut::load(x, c, "sample")?,
        })
    }
}

/// The NVRTC target of the tensor-core program: `wgmma` and `setmaxnreg` exist only on sm_90a.
pub const TC_ARCH: &str = "sm_90a";

/// The tensor-core matmul source (`mma-sm90` contract), a program of its own: it needs no
/// generated constant (its tiles are its launch geometry, see ops/matmul_tc.rs), and it takes
/// 30–70 s to compile on 2 CPU cores, so it is compiled only when an `mma-sm90` matmul first
/// runs, not with the program of every contract.
const TC_SOURCE: &str = include_str!("../kernels/matmul_tc.cu");

/// The tensor-core program text: `matmul_tc.cu` alone (its exports are enabled by the
/// `-DTC_EXPORTS` option of [`tc_compile_options`]).
pub fn tc_program() -> String {
    format!("// lockstep-gpu tensor-core matmul program (mma-sm90); do not edit.\n#line 1 \"matmul_tc.cu\"\n{TC_SOURCE}")
}

/// The options of every other program, for [`TC_ARCH`], plus `-DTC_EXPORTS` (which only
/// declares the `extern "C"` entry points).
pub fn tc_compile_options() -> Vec<String> {
    let mut o = compile_options(TC_ARCH);
    o.push("-DTC_EXPORTS".into());
    o
}

/// Compiles (once per process) the PTX of the tensor-core program; `contract` only names
/// the contract in a compile error.
pub(crate) fn tc_ptx_for(contract: &Contract) -> Result<Arc<String>> {
    static CACHE: OnceLock<Mutex<Option<Arc<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(None));
    let mut slot = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = slot.as_ref() {
        return Ok(p.clone());
    }
    let text = nvrtc_compile("lockstep_matmul_tc.cu", tc_program(), tc_compile_options(), &contract.id(), TC_ARCH)?;
    let p = Arc::new(text);
    *slot = Some(p.clone());
    Ok(p)
}

/// The PTX of the tensor-core program (cached; needs libnvrtc, no GPU).
pub fn tc_ptx() -> Result<String> {
    Ok(tc_ptx_for(&lockstep_reference::MMA_SM90_V1)?.as_str().to_string())
}

#[cfg(test)]
mod tests {
    /// The row kernels (by input and output type): their own checks below.
    const ROW_STEMS: [&str; 15] = [
        "rmsnorm",
        "rmsnorm_wide",
        "mean",
        "mean_wide",
        "softmax",
        "softmax_wide",
        "log_softmax",
        "log_softmax_wide",
        "softmax_regs",
        "log_softmax_regs",
        "softmax_regs4",
        "log_softmax_regs4",
        "rmsnorm_warps",
        "rmsnorm_regs",
        "rmsnorm_regs4",
    ];

    #[test]
    fn ptx_cache_keys_every_input_and_serves_what_it_stored() {
        let opts = compile_options("sm_90a");
        let k = ptx_cache_key((13, 0), &opts, "program");
        assert_eq!(k.len(), 64);
        assert_ne!(k, ptx_cache_key((13, 1), &opts, "program"), "NVRTC version");
        assert_ne!(k, ptx_cache_key((13, 0), &compile_options("sm_80"), "program"), "options");
        assert_ne!(k, ptx_cache_key((13, 0), &opts, "program "), "program text");
        let dir = std::env::temp_dir().join(format!("lockstep-ptx-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let ptx = ".version 9.0\n.visible .entry k()\n{ ret; }\n".to_string();
        // A miss compiles and stores; the next call is a hit and does not compile.
        assert_eq!(super::cached(Some(&dir), &k, || Ok(ptx.clone())).unwrap(), ptx);
        assert_eq!(super::cached(Some(&dir), &k, || panic!("a hit must not compile")).unwrap(), ptx);
        // A file that is not a module (truncated, empty) is compiled over.
        std::fs::write(dir.join(format!("{k}.ptx")), "").unwrap();
        assert_eq!(super::cached(Some(&dir), &k, || Ok(ptx.clone())).unwrap(), ptx);
        // No folder: always compiles, writes nothing.
        assert_eq!(super::cached(None, &k, || Ok("x".into())).unwrap(), "x");
        let _ = std::fs::remove_dir_all(&dir);
    }
    use super::*;
    use lockstep_reference::FMA_V1;

    #[test]
    fn header_carries_every_contract_constant() {
        let h = header(&FMA_V1);
        assert!(h.contains("#define LS_KC 256"), "{h}");
        assert!(h.contains("#define LS_LANES 1024"), "{h}");
        let whole = lockstep_reference::Contract::custom(lockstep_reference::KStepKind::Fma, None, 64, 64, 256).unwrap();
        assert!(header(&whole).contains("#define LS_KC 0"));
    }

    #[test]
    fn every_constant_the_kernels_require_is_generated() {
        // Each `#ifndef X / #error` in the sources names a constant the header must define.
        let h = header(&FMA_V1);
        for (name, text) in SOURCES {
            for line in text.lines() {
                if let Some(c) = line.trim().strip_prefix("#ifndef ") {
                    assert!(h.contains(&format!("#define {c} ")), "{name} requires {c}, which the header lacks");
                }
            }
        }
    }

    #[test]
    fn program_compiles_to_ieee_only_ptx_where_nvrtc_exists() {
        // Needs only libnvrtc, no GPU; without it this check is skipped visibly.
        // SAFETY: only probes whether the shared library can be opened.
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            eprintln!("skipped: no libnvrtc here (NVRTC compile check)");
            return;
        }
        for arch in ["sm_90a", "sm_80"] {
            let ptx = ptx(&FMA_V1, arch).unwrap_or_else(|e| panic!("{e}"));
            for stem in [
                "matmul_fma",
                "matmul_fma_half",
                "matmul_fma_mr4",
                "matmul_fma_mr8",
                "matmul_fma_mr16",
                "matmul_fma_mr4_lean",
                "matmul_fma_mr8_lean",
                "matmul_fma_mr16_lean",
                "matmul_fma_mr4_narrow",
                "matmul_fma_mr8_narrow",
                "matmul_fma_mr16_narrow",
                "rope",
                "unary",
            ]
            .into_iter()
            .chain(ROW_STEMS)
            {
                for tin in DType::ALL {
                    for tout in DType::ALL {
                        let sym = symbol(stem, tin, tout);
                        assert!(ptx.contains(&format!(".entry {sym}(")), "{sym} missing from the PTX for {arch}");
                    }
                }
            }
            for stem in ["attn_split", "attn_tile", "attn_tile_few", "attn_warp", "attn_merge", "kv_append", "sample"] {
                for t in DType::ALL {
                    let sym = format!("{stem}_{}", t.name());
                    assert!(ptx.contains(&format!(".entry {sym}(")), "{sym} missing from the PTX for {arch}");
                }
            }
            // The row kernels: none fixes a cluster size (`*_wide` get theirs at launch from
            // the plan, ops/rowplan.rs), and none spills its register arrays to local memory
            // (a bandwidth loss the compiler does silently).
            for stem in ROW_STEMS {
                for tin in DType::ALL {
                    for tout in DType::ALL {
                        let sym = symbol(stem, tin, tout);
                        let at = ptx.find(&format!(".entry {sym}(")).expect("checked above");
                        let body = &ptx[at..];
                        let body = &body[..body[1..].find(".entry ").map_or(body.len(), |i| i + 1)];
                        let head = &body[..body.find('{').unwrap_or(body.len())];
                        assert!(!head.contains(".reqnctapercluster"), "{sym} for {arch}: {head}");
                        assert!(!body.contains(".local"), "{sym} for {arch} uses local memory");
                    }
                }
            }
            // No flush-to-zero and no approximate division/sqrt/exp/log anywhere.
            for bad in [".ftz", ".approx", "rsqrt", "ex2", "lg2"] {
                assert!(!ptx.contains(bad), "PTX for {arch} contains {bad}");
            }
            // Float max/min instructions treat ±0 by their own rule, not max2's "left wins";
            // the only one allowed is the compiler's max with −inf (the Max identity), where
            // no zero tie can arise.
            for line in ptx.lines().map(str::trim) {
                if line.starts_with("max.f") || line.starts_with("min.f") || line.starts_with("max.NaN") || line.starts_with("min.NaN") {
                    assert!(line.ends_with(", 0fFF800000;") && line.starts_with("max.f32"), "PTX for {arch}: {line}");
                }
            }
        }
    }

    #[test]
    fn options_keep_ieee_semantics() {
        let o = compile_options("sm_90a");
        for need in [
            "--fmad=false",
            "--ftz=false",
            "--prec-div=true",
            "--prec-sqrt=true",
            "--gpu-architecture=sm_90a",
        ] {
            assert!(o.iter().any(|x| x == need), "missing {need}");
        }
        assert!(!o.iter().any(|x| x.contains("fast")), "no fast-math");
        assert_eq!(arch_name((9, 0)), "sm_90a");
        assert_eq!(arch_name((8, 9)), "sm_89");
    }
}
