//! The constants table of docs/spec/contracts.md equals `CONTRACTS` (contract.rs), row for
//! row and in order, so the spec cannot drift from the code.

use lockstep_reference::contract::{Contract, CONTRACTS};

const HEADER: &str = "| contract | k-step | KC | L | BN | S |";

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/spec/contracts.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The cells of every row after the header and its `|---|` separator, up to the first line
/// that is not a table row.
fn table_rows(md: &str) -> Vec<Vec<String>> {
    let mut lines = md.lines().map(str::trim).skip_while(|l| *l != HEADER);
    assert_eq!(lines.next(), Some(HEADER), "contracts.md has no line {HEADER:?}");
    let sep = lines.next().unwrap_or_default();
    assert!(sep.starts_with("|---"), "the header must be followed by a separator row, got {sep:?}");
    lines
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

/// How a contract is written in the table.
fn as_row(c: &Contract) -> Vec<String> {
    vec![
        c.id(),
        c.kstep.name().to_string(),
        c.kc.map_or("none".to_string(), |k| k.to_string()),
        c.lanes.to_string(),
        c.attn_block.to_string(),
        c.attn_split.to_string(),
    ]
}

#[test]
fn contracts_table_equals_contracts() {
    let rows = table_rows(&page());
    let expected: Vec<Vec<String>> = CONTRACTS.iter().map(|c| as_row(c)).collect();
    assert_eq!(rows, expected, "docs/spec/contracts.md's table differs from CONTRACTS in contract.rs");
}

#[test]
fn parser_sees_a_change() {
    // The check above can fail: a page with one constant changed is caught.
    let md = page().replace("| fma-v1 | fma | 256 |", "| fma-v1 | fma | 128 |");
    assert_ne!(md, page());
    let expected: Vec<Vec<String>> = CONTRACTS.iter().map(|c| as_row(c)).collect();
    assert_ne!(table_rows(&md), expected);
    // And a page missing a contract.
    let md = page().replace("| mma-sm90-v1 |", "mma-sm90-v1 |");
    assert_ne!(md, page());
    assert_ne!(table_rows(&md), expected);
}
