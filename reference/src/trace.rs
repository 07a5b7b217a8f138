//! Drawings of the reduction trees, for the book (docs/book/) and for anyone asking "in
//! what order is this element computed?".
//!
//! A [`Tree`] lists the operations of one output element in the order the definition
//! performs them: the matmul tree of [`crate::matmul::dot`] under a contract for a small
//! K ([`matmul_tree`]), or the lane tree of [`crate::reduce::lane_reduce`] for `L` lanes
//! and width `H` ([`lane_tree`]). It is a drawing, not a second definition: the tests
//! evaluate every tree on random inputs and require the bits of the definition, so a
//! drawing that drifts from the code fails CI. [`Tree::to_dot`] writes Graphviz dot,
//! optionally with the value of every node.

use crate::contract::{Contract, KStepKind};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::matmul::kstep::{FmaStep, KStep, MmaSm90Step};
use crate::reduce::LaneOp;
use std::fmt::Write;

/// What one node computes.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// Matmul: the product pair `a[k]`, `b[k]` (not rounded: it feeds an fma or an mma).
    Product { k: usize },
    /// Matmul: one k-step over products `k0..k0+len` and the accumulator (first argument).
    Step { k0: usize, len: usize },
    /// A chain or lane start value: `+0` for sums, `-inf` for max.
    Start,
    /// Row reduction: input element `x[i]`.
    Input { i: usize },
    /// Row reduction: `fold(lane, x[i])` (arguments: lane, input).
    Fold,
    /// Row reduction: `combine(lane[l], lane[l + s])` (arguments: lower, upper).
    Combine { stride: usize },
    /// Matmul: chunk partials added left to right with IEEE `+` (arguments: total, partial).
    AddChunk,
    /// Matmul: `t + bias[j]`.
    Bias,
}

/// One node; `args` are indices of earlier nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub args: Vec<usize>,
    /// Short label, e.g. `fma k=3`, `lane 2`, `+`.
    pub label: String,
    /// Cluster the node is drawn in (a chunk or a lane), if any.
    pub group: Option<String>,
}

/// The tree of one output element; the last node is the result.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    pub title: String,
    /// K of a matmul tree, the width H of a lane tree: the length of the inputs.
    pub inputs: usize,
    pub nodes: Vec<Node>,
}

impl Tree {
    fn push(&mut self, kind: NodeKind, args: Vec<usize>, label: impl Into<String>, group: Option<String>) -> usize {
        self.nodes.push(Node {
            kind,
            args,
            label: label.into(),
            group,
        });
        self.nodes.len() - 1
    }

    /// Number of rounding operations (every node that is not an input or a start value).
    pub fn roundings(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| !matches!(n.kind, NodeKind::Product { .. } | NodeKind::Input { .. } | NodeKind::Start))
            .count()
    }

    /// Graphviz dot text. With `values` (one per node, from [`eval_matmul`] or
    /// [`eval_lanes`]), each node also shows its f32 value (shortest round-trip form).
    pub fn to_dot(&self, values: Option<&[f32]>) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "digraph tree {{");
        let _ = writeln!(s, "  label=\"{}\"; labelloc=t; fontname=\"Helvetica\";", esc(&self.title));
        let _ = writeln!(s, "  node [fontname=\"Helvetica\", fontsize=11]; edge [arrowsize=0.6];");
        let line = |s: &mut String, i: usize, n: &Node| {
            let (shape, style) = match n.kind {
                NodeKind::Product { .. } | NodeKind::Input { .. } => ("box", "rounded"),
                NodeKind::Start => ("plaintext", "solid"),
                _ => ("ellipse", "solid"),
            };
            let label = match values {
                Some(v) if !matches!(n.kind, NodeKind::Product { .. } | NodeKind::Start) => format!("{}\\n{}", esc(&n.label), v[i]),
                _ => esc(&n.label),
            };
            let extra = if i + 1 == self.nodes.len() { ", penwidth=2" } else { "" };
            let _ = writeln!(s, "    n{i} [label=\"{label}\", shape={shape}, style={style}{extra}];");
        };
        let mut groups: Vec<&str> = Vec::new();
        for n in &self.nodes {
            if let Some(g) = &n.group {
                if !groups.contains(&g.as_str()) {
                    groups.push(g);
                }
            }
        }
        for (gi, g) in groups.iter().enumerate() {
            let _ = writeln!(s, "  subgraph cluster_{gi} {{ label=\"{}\"; style=dashed; color=gray50;", esc(g));
            for (i, n) in self.nodes.iter().enumerate() {
                if n.group.as_deref() == Some(*g) {
                    line(&mut s, i, n);
                }
            }
            let _ = writeln!(s, "  }}");
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.group.is_none() {
                line(&mut s, i, n);
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for &a in &n.args {
                let _ = writeln!(s, "  n{a} -> n{i};");
            }
        }
        s.push_str("}\n");
        s
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Largest K or width drawn: a drawing of more nodes teaches nothing.
pub const MAX_DRAWN: usize = 512;

/// The tree of one matmul output element `C[i, j]` for inner dimension `k` under
/// contract `c` (its `kc` and k-step), with or without a bias.
pub fn matmul_tree(c: &Contract, k: usize, bias: bool) -> Result<Tree> {
    c.validate()?;
    if k == 0 || k > MAX_DRAWN {
        return Err(Error::param("trace", format!("K = {k}: draw between 1 and {MAX_DRAWN}")));
    }
    let kc = c.kc.unwrap_or(k).max(1);
    let w = c.kstep.width();
    let split = match c.kc {
        Some(kc) => format!("KC = {kc}"),
        None => "no split".into(),
    };
    let mut t = Tree {
        title: format!("C[i,j] for K = {k}, {} ({}, {split})", c.id(), c.kstep.name()),
        inputs: k,
        nodes: Vec::new(),
    };
    let mut total: Option<usize> = None;
    for (ci, k0) in (0..k).step_by(kc).enumerate() {
        let k1 = (k0 + kc).min(k);
        let group = Some(format!("chunk {ci}: k = {k0}..{}", k1 - 1));
        let mut acc = t.push(NodeKind::Start, vec![], "+0", group.clone());
        for s0 in (k0..k1).step_by(w) {
            let s1 = (s0 + w).min(k1);
            let mut args = vec![acc];
            for kk in s0..s1 {
                args.push(t.push(NodeKind::Product { k: kk }, vec![], format!("a{kk}·b{kk}"), group.clone()));
            }
            let label = match c.kstep {
                KStepKind::Fma => format!("fma k={s0}"),
                KStepKind::MmaSm90 => format!("mma k={s0}..{}", s1 - 1),
            };
            acc = t.push(NodeKind::Step { k0: s0, len: s1 - s0 }, args, label, group.clone());
        }
        total = Some(match total {
            None => acc,
            Some(tt) => t.push(NodeKind::AddChunk, vec![tt, acc], "+", None),
        });
    }
    let root = total.expect("k >= 1");
    if bias {
        t.push(NodeKind::Bias, vec![root], "+ bias[j]", None);
    }
    Ok(t)
}

/// Every node's value for a row `a` and a column `b` (length K), as [`matmul_tree`]
/// draws them; the last one is `dot` (+ bias).
pub fn eval_matmul<T: Element>(t: &Tree, kstep: KStepKind, a: &[T], b: &[T], bias: Option<f32>) -> Result<Vec<f32>> {
    if a.len() != t.inputs || b.len() != t.inputs {
        return Err(Error::shape(
            "trace",
            format!("tree for K = {} but a has {} and b has {} elements", t.inputs, a.len(), b.len()),
        ));
    }
    let mut v = vec![0.0f32; t.nodes.len()];
    for (i, n) in t.nodes.iter().enumerate() {
        v[i] = match n.kind {
            NodeKind::Product { .. } | NodeKind::Start => 0.0,
            NodeKind::Step { k0, len } => {
                let (sa, sb) = (&a[k0..k0 + len], &b[k0..k0 + len]);
                match kstep {
                    KStepKind::Fma => FmaStep::chain(v[n.args[0]], sa, sb),
                    KStepKind::MmaSm90 => MmaSm90Step::chain(v[n.args[0]], sa, sb),
                }
            }
            NodeKind::AddChunk => v[n.args[0]] + v[n.args[1]],
            NodeKind::Bias => v[n.args[0]] + bias.unwrap_or(0.0),
            NodeKind::Input { .. } | NodeKind::Fold | NodeKind::Combine { .. } => {
                return Err(Error::param("trace", "a lane tree evaluated as a matmul tree"));
            }
        };
    }
    Ok(v)
}

/// The lane tree of one row of width `width` with `lanes` lanes, for reduction `op_name`
/// (`sum`, `sumsq`, `max`: only the labels differ).
pub fn lane_tree(lanes: usize, width: usize, op_name: &str) -> Result<Tree> {
    if lanes == 0 || !lanes.is_power_of_two() || lanes > 64 {
        return Err(Error::param("trace", format!("L = {lanes}: draw a power of two up to 64")));
    }
    if width == 0 || width > MAX_DRAWN {
        return Err(Error::param("trace", format!("width = {width}: draw between 1 and {MAX_DRAWN}")));
    }
    let (start, fold, comb) = match op_name {
        "max" => ("-inf", "max", "max"),
        "sumsq" => ("+0", "fma(x,x,·)", "+"),
        "sum" => ("+0", "+", "+"),
        o => return Err(Error::param("trace", format!("reduction {o:?}: sum, sumsq or max"))),
    };
    let mut t = Tree {
        title: format!("{op_name} of a row of H = {width} over L = {lanes} lanes"),
        inputs: width,
        nodes: Vec::new(),
    };
    let mut lane = Vec::with_capacity(lanes);
    for l in 0..lanes {
        let group = Some(format!("lane {l}"));
        let mut acc = t.push(NodeKind::Start, vec![], start, group.clone());
        let mut i = l;
        while i < width {
            let x = t.push(NodeKind::Input { i }, vec![], format!("x{i}"), group.clone());
            acc = t.push(NodeKind::Fold, vec![acc, x], fold, group.clone());
            i += lanes;
        }
        lane.push(acc);
    }
    let mut stride = lanes / 2;
    while stride >= 1 {
        for l in 0..stride {
            lane[l] = t.push(
                NodeKind::Combine { stride },
                vec![lane[l], lane[l + stride]],
                format!("{comb} (s={stride})"),
                None,
            );
        }
        stride /= 2;
    }
    Ok(t)
}

/// Every node's value for the row `x`, as [`lane_tree`] draws them; the last one is
/// `lane_reduce::<Op>(L, x)`.
pub fn eval_lanes<Op: LaneOp>(t: &Tree, x: &[f32]) -> Result<Vec<f32>> {
    if x.len() != t.inputs {
        return Err(Error::shape("trace", format!("tree for H = {} but x has {} elements", t.inputs, x.len())));
    }
    let mut v = vec![0.0f32; t.nodes.len()];
    for (i, n) in t.nodes.iter().enumerate() {
        v[i] = match n.kind {
            NodeKind::Start => Op::IDENTITY,
            NodeKind::Input { i } => x[i],
            NodeKind::Fold => Op::fold(v[n.args[0]], v[n.args[1]]),
            NodeKind::Combine { .. } => Op::combine(v[n.args[0]], v[n.args[1]]),
            _ => return Err(Error::param("trace", "a matmul tree evaluated as a lane tree")),
        };
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::dot;
    use crate::reduce::{lane_reduce, Max, Sum, SumSq};
    use crate::FMA_V1;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // Spread over several binades so that the order of additions matters.
        (0..n)
            .map(|i| {
                let h = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed.wrapping_mul(40_503)) >> 8;
                let u = h as f32 / (1u32 << 24) as f32 - 0.5;
                u * [1.0f32, 1e3, 1e-3, 7.0][i % 4]
            })
            .collect()
    }

    #[test]
    fn matmul_drawing_is_the_definition() {
        for kc in [None, Some(1), Some(3), Some(4), Some(256)] {
            let c = Contract::custom(KStepKind::Fma, kc, 4, 4, 8).unwrap();
            for k in [1, 2, 7, 8, 9, 40] {
                let t = matmul_tree(&c, k, true).unwrap();
                let (a, b) = (values(k, 1), values(k, 2));
                let v = eval_matmul(&t, c.kstep, &a, &b, Some(0.25)).unwrap();
                let expect = dot::<FmaStep, f32>(c.kc, &a, &b) + 0.25;
                assert_eq!(v.last().unwrap().to_bits(), expect.to_bits(), "kc {kc:?} k {k}");
                // One rounding per k, one per extra chunk, one for the bias.
                let chunks = k.div_ceil(kc.unwrap_or(k));
                assert_eq!(t.roundings(), k + chunks - 1 + 1);
            }
        }
        let t = matmul_tree(&FMA_V1, 300, false).unwrap();
        assert_eq!(t.nodes.iter().filter(|n| n.kind == NodeKind::AddChunk).count(), 1);
    }

    #[test]
    fn mma_drawing_groups_sixteen_products() {
        let c = Contract::custom(KStepKind::MmaSm90, None, 4, 4, 8).unwrap();
        let t = matmul_tree(&c, 40, false).unwrap();
        let steps: Vec<_> = t
            .nodes
            .iter()
            .filter_map(|n| if let NodeKind::Step { len, .. } = n.kind { Some(len) } else { None })
            .collect();
        assert_eq!(steps, vec![16, 16, 8]);
    }

    #[test]
    fn lane_drawing_is_the_definition() {
        for lanes in [1, 2, 4, 8, 64] {
            for h in [1, 3, 4, 10, 100] {
                let x = values(h, 3);
                let t = lane_tree(lanes, h, "sum").unwrap();
                let r = |v: Result<Vec<f32>>| v.unwrap().last().unwrap().to_bits();
                assert_eq!(r(eval_lanes::<Sum>(&t, &x)), lane_reduce::<Sum>(lanes, &x).to_bits());
                assert_eq!(r(eval_lanes::<SumSq>(&t, &x)), lane_reduce::<SumSq>(lanes, &x).to_bits());
                assert_eq!(r(eval_lanes::<Max>(&t, &x)), lane_reduce::<Max>(lanes, &x).to_bits());
            }
        }
    }

    #[test]
    fn dot_text_names_every_node_and_edge() {
        let t = lane_tree(4, 10, "sum").unwrap();
        let x = values(10, 4);
        let d = t.to_dot(Some(&eval_lanes::<Sum>(&t, &x).unwrap()));
        assert!(eval_lanes::<Sum>(&t, &x[..9]).is_err());
        assert!(d.starts_with("digraph tree {"));
        assert_eq!(d.matches(" -> ").count(), t.nodes.iter().map(|n| n.args.len()).sum::<usize>());
        assert_eq!(d.matches("cluster_").count(), 4);
        assert!(matmul_tree(&FMA_V1, 0, false).is_err());
        assert!(lane_tree(3, 10, "sum").is_err());
    }
}
