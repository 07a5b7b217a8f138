//! Helpers shared by the tests that tie a spec page's worked example to the program that
//! prints it.

use std::collections::BTreeSet;

/// Every `0x` followed by hex digits, as whole tokens.
pub fn hex_tokens(s: &str) -> BTreeSet<String> {
    let b = s.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i + 2 < b.len() {
        if b[i] == b'0' && b[i + 1] == b'x' && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let j = (i + 2..b.len()).find(|&j| !b[j].is_ascii_hexdigit()).unwrap_or(b.len());
            if j > i + 2 {
                out.insert(s[i..j].to_string());
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}
