//! `lockstep`: conformance, golden files, benchmarks and reference results from the shell.

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lockstep_conformance::golden::{self, Source, Store};
use lockstep_conformance::ops::{CpuFast, CpuLiteral};
use lockstep_conformance::{bench, catalog, refcmd, suite};
use lockstep_reference::contract::{Contract, CONTRACTS};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lockstep",
    version,
    about = "Batch-invariant LLM kernels: conformance, golden files and the canonical reference"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the conformance suite on every backend of this machine and print the report.
    Conform(ConformArgs),
    /// Generate or verify the golden files.
    #[command(subcommand)]
    Golden(GoldenCmd),
    /// Benchmarks: on the GPU (default) against cuBLAS and the copy ceiling; `--cpu`: the
    /// fast CPU matmul against matrixmultiply.
    Bench(BenchArgs),
    /// The reference result for your own inputs (.npy in, .npy out).
    #[command(subcommand)]
    Ref(refcmd::RefCmd),
    /// Accuracy of the elementwise functions in ulps against f64 (default: all 2^32 inputs).
    Ulp(UlpArgs),
    /// The reduction tree of one output element as Graphviz dot (small shapes).
    Tree(lockstep_conformance::tree::TreeArgs),
}

#[derive(Args)]
struct ConformArgs {
    /// Golden directory (default: ./golden, else the one in the source tree).
    #[arg(long)]
    golden: Option<PathBuf>,
    /// Also write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Only these backends (comma-separated: cpu-literal, cpu-fast, gpu).
    #[arg(long, value_delimiter = ',')]
    backend: Option<Vec<String>>,
    /// Only these contracts (comma-separated ids, e.g. fma-v1).
    #[arg(long, value_delimiter = ',')]
    contract: Option<Vec<String>>,
}

#[derive(Subcommand)]
enum GoldenCmd {
    /// (Re)write the golden files from the literal reference.
    Generate {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check the reference (or, with --outputs, a third party's outputs) against them.
    Verify {
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A directory of safetensors files holding your outputs under the golden tensor names.
        #[arg(long)]
        outputs: Option<PathBuf>,
        /// Only cases whose name contains this string.
        #[arg(long)]
        filter: Option<String>,
        /// Also write the verdicts as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// The CPU benchmark: the fast CPU matmul against matrixmultiply.
    #[arg(long, conflicts_with = "gpu")]
    cpu: bool,
    /// The GPU benchmark (the default): lockstep's kernels against cuBLAS and the measured
    /// copy bandwidth; an error without a GPU.
    #[arg(long)]
    gpu: bool,
    /// Runs per shape, median reported (default: 5 on the CPU, 20 on the GPU).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    runs: Option<u64>,
    /// Only the shapes with M ≤ this (matmul; GPU: also the row ops).
    #[arg(long)]
    max_m: Option<usize>,
    /// GPU: time the contract constants instead (KC, L, BN and S around fma-v1's values,
    /// issue #5); honours --runs, --quick, --filter (on `family constant shape`, e.g.
    /// `attn_decode`), --row-budget-s, --time-limit-s and --json.
    #[arg(long, conflicts_with_all = ["cpu", "max_m"])]
    sweep: bool,
    /// GPU: a subset of every grid (M in 1, 16, 128, 1024, 4096; fewer rows and caches).
    #[arg(long)]
    quick: bool,
    /// GPU: only rows whose label (`family op shape`, as printed; with --sweep: `family
    /// constant shape`) contains this.
    #[arg(long)]
    filter: Option<String>,
    /// GPU: skip a row whose runs would take longer than this (seconds).
    #[arg(long, default_value_t = 10.0)]
    row_budget_s: f64,
    /// GPU: skip the remaining rows once the run has taken this long (seconds).
    #[arg(long, default_value_t = 480.0)]
    time_limit_s: f64,
    /// Also write the results as JSON (GPU: rewritten after every row).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct UlpArgs {
    /// Functions to measure (comma-separated; default exp,log).
    #[arg(long, value_delimiter = ',', default_value = "exp,log")]
    op: Vec<String>,
    /// Measure every `stride`-th bit pattern only (1 = exhaustive).
    #[arg(long, default_value_t = 1)]
    stride: u32,
    #[arg(long)]
    json: Option<PathBuf>,
}

fn ulp_cmd(a: UlpArgs) -> Result<bool, String> {
    use lockstep_reference::elementwise::{accuracy, Unary};
    let mut reports = Vec::new();
    for name in &a.op {
        let op = Unary::parse(name).map_err(|e| e.to_string())?;
        let pb = spinner(&format!("ulp {name}"));
        let t = std::time::Instant::now();
        let r = accuracy::sweep(op, 0, u32::MAX, a.stride);
        pb.finish_and_clear();
        println!("{r} [{:.0} s]", t.elapsed().as_secs_f64());
        reports.push(r);
    }
    println!("reproduce: lockstep ulp --op {} --stride {}", a.op.join(","), a.stride);
    if let Some(p) = &a.json {
        write_json(p, &reports)?;
    }
    Ok(reports.iter().all(|r| r.special_failures == 0))
}

fn golden_dir(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let local = PathBuf::from("golden");
        if local.join("manifest.json").exists() {
            local
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../golden")
        }
    })
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {elapsed:>4} {prefix} {wide_msg}").unwrap());
    pb.set_prefix(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<(), String> {
    std::fs::write(path, serde_json::to_string_pretty(v).map_err(|e| e.to_string())?).map_err(|e| format!("{}: {e}", path.display()))
}

fn conform(a: ConformArgs) -> Result<bool, String> {
    let dir = golden_dir(a.golden);
    let contracts: Vec<&Contract> = match &a.contract {
        Some(ids) => ids.iter().map(|i| Contract::by_id(i)).collect::<Result<_, _>>().map_err(|e| e.to_string())?,
        None => CONTRACTS.to_vec(),
    };
    let want = |b: &str| a.backend.as_ref().is_none_or(|v| v.iter().any(|x| x == b));
    println!("lockstep conform — lockstep {}", env!("CARGO_PKG_VERSION"));
    println!(
        "machine: {} {}, {} CPU threads",
        std::env::consts::OS,
        std::env::consts::ARCH,
        rayon::current_num_threads()
    );
    println!("contracts: {}", contracts.iter().map(|c| c.id()).collect::<Vec<_>>().join(", "));
    println!("golden: {}", dir.display());
    let mut report = suite::Report::default();
    let golden = dir.join("manifest.json").exists().then_some(dir.as_path());
    if golden.is_none() {
        report.skip("all", "-", "all", "golden", &format!("no manifest.json in {}", dir.display()));
    }
    if want("cpu-literal") {
        let pb = spinner("cpu-literal");
        suite::run_backend(&CpuLiteral, golden, &contracts, &mut report, &|n| pb.set_message(n.to_string()));
        pb.finish_and_clear();
    }
    if want("cpu-fast") {
        let pb = spinner("cpu-fast");
        suite::run_backend(&CpuFast, golden, &contracts, &mut report, &|n| pb.set_message(n.to_string()));
        pb.finish_and_clear();
    }
    if want("gpu") {
        lockstep_conformance::gpu::conform(golden, &contracts, &mut report, &spinner);
    }
    println!();
    print!("{}", report.table());
    if let Some(p) = &a.json {
        write_json(p, &report.rows())?;
    }
    let ok = report.passed();
    println!(
        "\n{}",
        if ok {
            "CONFORMS: every check that ran passed (skipped rows are listed above)".to_string()
        } else {
            format!("DOES NOT CONFORM: {} failing rows", report.failures())
        }
    );
    Ok(ok)
}

fn golden_cmd(c: GoldenCmd) -> Result<bool, String> {
    match c {
        GoldenCmd::Generate { dir } => {
            let dir = golden_dir(dir);
            let cases = catalog::golden_cases();
            let pb = ProgressBar::new(cases.len() as u64);
            let m = golden::generate(&dir, &cases, |i, _| pb.set_position(i as u64))?;
            pb.finish_and_clear();
            println!("wrote {} cases to {}", m.cases.len(), dir.display());
            Ok(true)
        }
        GoldenCmd::Verify { dir, outputs, filter, json } => {
            let dir = golden_dir(dir);
            let pb = ProgressBar::new(0);
            let prog = |i: usize, n: usize, _: &str| {
                pb.set_length(n as u64);
                pb.set_position(i as u64)
            };
            let verdicts = match &outputs {
                Some(o) => {
                    let store = Store::open(o, None)?;
                    golden::verify::<CpuLiteral>(&dir, Source::Outputs(&store), filter.as_deref(), prog)?
                }
                None => golden::verify(&dir, Source::Backend(&CpuLiteral), filter.as_deref(), prog)?,
            };
            pb.finish_and_clear();
            let mut failed = 0;
            for v in &verdicts {
                let line = match (&v.error, v.comparison.passed()) {
                    (Some(e), _) => format!("FAIL  {}: {e}", v.case),
                    (None, true) => format!("pass  {} ({} elements)", v.case, v.comparison.elements),
                    (None, false) => format!("FAIL  {}: {}", v.case, v.comparison.summary()),
                };
                if !v.passed() {
                    failed += 1;
                }
                println!("{line}");
            }
            let what = if outputs.is_some() { "your outputs" } else { "the reference" };
            println!("{} passed, {} failed ({what} against {})", verdicts.len() - failed, failed, dir.display());
            if let Some(p) = &json {
                write_json(p, &verdicts)?;
            }
            Ok(failed == 0 && !verdicts.is_empty())
        }
    }
}

fn bench_cmd(a: BenchArgs) -> Result<bool, String> {
    if !a.cpu {
        let settings = lockstep_gpu::bench::Settings {
            runs: a.runs.map_or(20, |r| r as usize),
            quick: a.quick,
            max_m: a.max_m,
            filter: a.filter.clone(),
            row_budget_s: a.row_budget_s,
            time_limit_s: a.time_limit_s,
            ..Default::default()
        };
        if a.sweep {
            return bench::run_gpu_sweep(settings, std::env::args().collect(), a.json.as_deref());
        }
        return bench::run_gpu(settings, std::env::args().collect(), a.json.as_deref());
    }
    let runs = a.runs.map_or(5, |r| r as usize);
    let shapes: Vec<_> = bench::SHAPES.iter().copied().filter(|s| a.max_m.is_none_or(|m| s.0 <= m)).collect();
    let pb = spinner("bench --cpu");
    let rows = bench::run_cpu(&shapes, runs, &|s| pb.set_message(s.to_string()));
    pb.finish_and_clear();
    println!(
        "fast CPU matmul (fma-v1, f32) vs matrixmultiply::sgemm, {} threads, median of {} runs",
        rayon::current_num_threads(),
        runs
    );
    print!("{}", bench::table(&rows));
    println!("reproduce: cargo run --release -p lockstep-conformance --bin lockstep -- bench --cpu --runs {runs}");
    if let Some(p) = &a.json {
        write_json(p, &rows)?;
    }
    Ok(true)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Conform(a) => conform(a),
        Cmd::Golden(g) => golden_cmd(g),
        Cmd::Bench(b) => bench_cmd(b),
        Cmd::Ref(r) => refcmd::run(r),
        Cmd::Ulp(u) => ulp_cmd(u),
        Cmd::Tree(t) => lockstep_conformance::tree::run(t),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("lockstep: {e}");
            ExitCode::from(2)
        }
    }
}
