//! `lockstep tree`: the reduction tree of one output element as Graphviz dot, for small
//! shapes (the book's diagrams are made with it). `--values` labels every node with its
//! f32 value on inputs from the seeded generator, computed by the reference.

use crate::catalog::seed_of;
use crate::gen::Gen;
use clap::{Args, Subcommand};
use half::bf16;
use lockstep_reference::reduce::{Max, Sum, SumSq};
use lockstep_reference::trace::{eval_lanes, eval_matmul, lane_tree, matmul_tree};
use lockstep_reference::{Contract, KStepKind};
use std::path::PathBuf;

#[derive(Args)]
pub struct TreeArgs {
    #[command(subcommand)]
    what: TreeCmd,
    /// Write the dot text here instead of standard output.
    #[arg(short, long, global = true)]
    out: Option<PathBuf>,
    /// Label every node with its value on generated inputs (uniform in [-scale, scale)).
    #[arg(long, global = true)]
    values: bool,
    #[arg(long, global = true, default_value_t = 1.0)]
    scale: f32,
    /// The generator is seeded with the FNV-1a hash of this string.
    #[arg(long, global = true, default_value = "book")]
    seed: String,
}

#[derive(Subcommand)]
enum TreeCmd {
    /// One element C[i, j] of a matmul with inner dimension K.
    Matmul {
        #[arg(long)]
        k: usize,
        /// Contract id (fma-v1, mma-sm90-v1).
        #[arg(long, default_value = "fma-v1")]
        contract: String,
        /// Override the contract's KC (a number, or `none` for one chain): a teaching contract.
        #[arg(long)]
        kc: Option<String>,
        /// Add the bias step.
        #[arg(long)]
        bias: bool,
    },
    /// One row reduction of width H over L lanes.
    Lanes {
        #[arg(long)]
        width: usize,
        #[arg(long, default_value_t = 4)]
        lanes: usize,
        /// sum, sumsq (RMSNorm) or max (softmax).
        #[arg(long, default_value = "sum")]
        op: String,
    },
}

pub fn run(a: TreeArgs) -> Result<bool, String> {
    let e = |e: lockstep_reference::Error| e.to_string();
    let mut g = Gen::new(seed_of(&a.seed));
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| a.scale * g.uniform()).collect() };
    let dot = match &a.what {
        TreeCmd::Matmul { k, contract, kc, bias } => {
            let base = Contract::by_id(contract).map_err(e)?;
            let c = match kc.as_deref() {
                None => base.clone(),
                Some("none") => Contract::custom(base.kstep, None, base.lanes, base.attn_block, base.attn_split).map_err(e)?,
                Some(n) => {
                    let n = n.parse::<usize>().map_err(|_| format!("--kc {n}: a number or `none`"))?;
                    Contract::custom(base.kstep, Some(n), base.lanes, base.attn_block, base.attn_split).map_err(e)?
                }
            };
            let t = matmul_tree(&c, *k, *bias).map_err(e)?;
            let values = if a.values {
                let (x, y) = (draw(*k), draw(*k));
                let bias = bias.then(|| draw(1)[0]);
                Some(match c.kstep {
                    KStepKind::Fma => eval_matmul(&t, c.kstep, &x, &y, bias).map_err(e)?,
                    KStepKind::MmaSm90 => {
                        let (x, y): (Vec<bf16>, Vec<bf16>) = (x.iter().map(|&v| bf16::from_f32(v)).collect(), y.iter().map(|&v| bf16::from_f32(v)).collect());
                        eval_matmul(&t, c.kstep, &x, &y, bias).map_err(e)?
                    }
                })
            } else {
                None
            };
            t.to_dot(values.as_deref())
        }
        TreeCmd::Lanes { width, lanes, op } => {
            let t = lane_tree(*lanes, *width, op).map_err(e)?;
            let values = if a.values {
                let x = draw(*width);
                Some(
                    match op.as_str() {
                        "sum" => eval_lanes::<Sum>(&t, &x),
                        "sumsq" => eval_lanes::<SumSq>(&t, &x),
                        "max" => eval_lanes::<Max>(&t, &x),
                        o => return Err(format!("--op {o}: sum, sumsq or max")),
                    }
                    .map_err(e)?,
                )
            } else {
                None
            };
            t.to_dot(values.as_deref())
        }
    };
    match &a.out {
        Some(p) => std::fs::write(p, dot).map_err(|err| format!("{}: {err}", p.display()))?,
        None => print!("{dot}"),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        tree: TreeArgs,
    }

    fn dot_of(args: &[&str]) -> Result<String, String> {
        let path = std::env::temp_dir().join(format!(
            "lockstep-tree-test-{}-{}.dot",
            std::process::id(),
            args.join("_").replace(['-', ' '], "")
        ));
        let mut argv = vec!["tree"];
        argv.extend_from_slice(args);
        let p = path.to_str().unwrap().to_string();
        argv.extend_from_slice(&["-o", &p]);
        run(Cli::try_parse_from(argv).map_err(|e| e.to_string())?.tree)?;
        let s = std::fs::read_to_string(&path).map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        s
    }

    #[test]
    fn draws_matmul_and_lane_trees_with_values() {
        let m = dot_of(&["matmul", "--k", "8", "--kc", "4", "--bias", "--values"]).unwrap();
        assert_eq!(m.matches("fma k=").count(), 8);
        assert!(m.contains("chunk 1: k = 4..7") && m.contains("+ bias[j]\\n"));
        let one = dot_of(&["matmul", "--k", "8", "--kc", "none"]).unwrap();
        assert!(!one.contains("chunk 1"));
        let l = dot_of(&["lanes", "--width", "10", "--lanes", "4", "--op", "max", "--values"]).unwrap();
        assert_eq!(l.matches("cluster_").count(), 4);
        assert!(dot_of(&["lanes", "--width", "10", "--op", "median"]).is_err());
        assert!(dot_of(&["matmul", "--k", "8", "--kc", "zero"]).is_err());
        assert!(dot_of(&["matmul", "--k", "0"]).is_err());
    }
}
