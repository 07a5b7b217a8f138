//! Contracts: the named, versioned sets of constants that fix every reduction tree.
//!
//! This file is the *only* place where tree constants are written down. The GPU crate
//! turns them into a generated header for its kernels; the spec's constants table
//! (docs/spec/contracts.md) lists the same numbers and a test checks that it does.
//! No constant here may depend on the batch size, a sequence length or a cache layout.

use crate::error::{Error, Result};
use serde::Serialize;

/// The innermost step of the matmul tree (see [`crate::matmul::kstep`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KStepKind {
    /// One IEEE binary32 fused multiply-add per k: `acc = fma(a_k, b_k, acc)`.
    Fma,
    /// One H100 tensor-core step over 16 k at a time (docs/spec/mma-sm90.md).
    MmaSm90,
}

impl KStepKind {
    pub fn name(self) -> &'static str {
        match self {
            KStepKind::Fma => "fma",
            KStepKind::MmaSm90 => "mma-sm90",
        }
    }
    /// Products consumed by one step.
    pub fn width(self) -> usize {
        match self {
            KStepKind::Fma => 1,
            KStepKind::MmaSm90 => 16,
        }
    }
}

/// A contract: every constant of every tree. Pass it to each op.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Contract {
    /// Family name, e.g. `fma` or `mma-sm90`.
    pub family: &'static str,
    /// Bumped whenever any constant or any tree changes.
    pub version: u32,
    /// The matmul k-step.
    pub kstep: KStepKind,
    /// `KC`: K is cut into chunks of this many k, each an independent chain from +0;
    /// `None`: one chain over all of K (no split).
    pub kc: Option<usize>,
    /// `L`: lanes of every row reduction (a power of two).
    pub lanes: usize,
    /// `BN`: keys per attention block, aligned at absolute position 0.
    pub attn_block: usize,
    /// `S`: keys per attention split (a multiple of `BN`), aligned at position 0.
    pub attn_split: usize,
}

/// `KC` of `fma-v1`. 256 gives a decode-shaped matmul (M = 1..16, K = 4096) sixteen
/// independent chains per output to spread over CTAs, and costs a large-M kernel one
/// extra add per 256 fmas (docs/spec/matmul.md, "Choosing KC").
pub const FMA_V1_KC: usize = 256;
/// `L` of every contract so far: 1024 lanes = 256 threads × 4-wide vector loads on a GPU,
/// or 128 AVX registers' worth on a CPU; the lane tree then has 10 levels.
pub const LANES_V1: usize = 1024;
/// `BN` of every contract so far.
pub const ATTN_BLOCK_V1: usize = 64;
/// `S` of every contract so far.
pub const ATTN_SPLIT_V1: usize = 256;

/// `fma-v1`: IEEE fma chains everywhere; bitwise on any CPU and any CUDA GPU.
pub const FMA_V1: Contract = Contract {
    family: "fma",
    version: 1,
    kstep: KStepKind::Fma,
    kc: Some(FMA_V1_KC),
    lanes: LANES_V1,
    attn_block: ATTN_BLOCK_V1,
    attn_split: ATTN_SPLIT_V1,
};

/// `mma-sm90-v1`: the matmul's k-step is the H100 tensor core's own arithmetic, K is never
/// split; every other tree is that of `fma-v1`.
pub const MMA_SM90_V1: Contract = Contract {
    family: "mma-sm90",
    version: 1,
    kstep: KStepKind::MmaSm90,
    kc: None,
    lanes: LANES_V1,
    attn_block: ATTN_BLOCK_V1,
    attn_split: ATTN_SPLIT_V1,
};

/// Every published contract, newest last within each family.
pub const CONTRACTS: [&Contract; 2] = [&FMA_V1, &MMA_SM90_V1];

impl Contract {
    /// The identifier used in manifests, reports and the CLI: `fma-v1`, `mma-sm90-v1`.
    pub fn id(&self) -> String {
        format!("{}-v{}", self.family, self.version)
    }

    /// Looks a published contract up by id (`fma-v1`); the bare family name (`mma-sm90`)
    /// means its newest version.
    pub fn by_id(id: &str) -> Result<&'static Contract> {
        CONTRACTS
            .iter()
            .copied()
            .find(|c| c.id() == id)
            .or_else(|| CONTRACTS.iter().copied().rev().find(|c| c.family == id))
            .ok_or_else(|| {
                let known: Vec<String> = CONTRACTS.iter().map(|c| c.id()).collect();
                Error::Contract(format!("unknown contract {id:?}; known: {}", known.join(", ")))
            })
    }

    /// A contract with other constants, for teaching and for sweeps. Same checks as every op.
    pub fn custom(kstep: KStepKind, kc: Option<usize>, lanes: usize, attn_block: usize, attn_split: usize) -> Result<Contract> {
        let c = Contract {
            family: "custom",
            version: 0,
            kstep,
            kc,
            lanes,
            attn_block,
            attn_split,
        };
        c.validate()?;
        Ok(c)
    }

    /// Every op calls this first: a contract built by hand can be nonsense.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Contract(format!("{}: {m}", self.id())));
        if let Some(kc) = self.kc {
            if kc == 0 {
                return bad("KC = 0".into());
            }
            if kc % self.kstep.width() != 0 {
                return bad(format!(
                    "KC = {kc} is not a multiple of the {} step width {}",
                    self.kstep.name(),
                    self.kstep.width()
                ));
            }
        }
        if self.lanes == 0 || !self.lanes.is_power_of_two() {
            return bad(format!("L = {} is not a power of two", self.lanes));
        }
        if self.attn_block == 0 || self.attn_split == 0 || !self.attn_split.is_multiple_of(self.attn_block) {
            return bad(format!("S = {} must be a positive multiple of BN = {}", self.attn_split, self.attn_block));
        }
        Ok(())
    }
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_contracts_are_valid_and_found_by_id() {
        for c in CONTRACTS {
            c.validate().unwrap();
            assert_eq!(Contract::by_id(&c.id()).unwrap(), c);
        }
        assert_eq!(Contract::by_id("mma-sm90").unwrap(), &MMA_SM90_V1);
        assert!(Contract::by_id("fma-v9").is_err());
    }

    #[test]
    fn nonsense_constants_are_errors() {
        assert!(Contract::custom(KStepKind::Fma, Some(0), 4, 4, 8).is_err());
        assert!(Contract::custom(KStepKind::MmaSm90, Some(24), 4, 4, 8).is_err());
        assert!(Contract::custom(KStepKind::Fma, Some(4), 6, 4, 8).is_err());
        assert!(Contract::custom(KStepKind::Fma, Some(4), 4, 4, 6).is_err());
        assert!(Contract::custom(KStepKind::Fma, Some(4), 4, 4, 8).is_ok());
    }
}
