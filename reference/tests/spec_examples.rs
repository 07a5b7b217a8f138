//! The worked examples of docs/spec/*.md are the reference's own numbers: every bit pattern
//! (`0x…`) quoted in a page's "Worked example" section must be printed by the matching
//! section of `reference/examples/spec_examples.rs`, which itself asserts that its
//! step-by-step values equal the reference ops. When an op's bits change, this fails until
//! the page is regenerated with `cargo run --release -p lockstep-reference --example
//! spec_examples <section>`.

#[allow(dead_code)]
#[path = "../examples/spec_examples.rs"]
mod spec_examples;

mod common;
use common::hex_tokens;

fn worked_example(page: &str) -> &str {
    let start = page.find("## Worked example").expect("page has a '## Worked example' section");
    let rest = &page[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    &rest[..end]
}

#[test]
fn worked_examples_quote_only_printed_bits() {
    let pages = [
        ("dtypes", include_str!("../../docs/spec/dtypes.md")),
        ("reduce", include_str!("../../docs/spec/reduce.md")),
        ("matmul", include_str!("../../docs/spec/matmul.md")),
        ("rmsnorm", include_str!("../../docs/spec/rmsnorm.md")),
        ("softmax", include_str!("../../docs/spec/softmax.md")),
        ("mean", include_str!("../../docs/spec/mean.md")),
        ("rope", include_str!("../../docs/spec/rope.md")),
        ("attention", include_str!("../../docs/spec/attention.md")),
        ("sampling", include_str!("../../docs/spec/sampling.md")),
    ];
    assert_eq!(pages.len(), spec_examples::SECTIONS.len());
    for (name, page) in pages {
        let printed = hex_tokens(&spec_examples::section(name).expect("section exists"));
        let quoted = hex_tokens(worked_example(page));
        assert!(quoted.len() >= 5, "{name}.md quotes only {} bit patterns in its worked example", quoted.len());
        let stale: Vec<&String> = quoted.difference(&printed).collect();
        assert!(
            stale.is_empty(),
            "docs/spec/{name}.md quotes bit patterns that `spec_examples {name}` does not print (stale?): {stale:?}"
        );
    }
}

#[test]
fn token_parser_is_strict() {
    let t = hex_tokens("a [0x3F80] b 0x3F800000, x0x12 0x");
    assert_eq!(t.into_iter().collect::<Vec<_>>(), vec!["0x3F80".to_string(), "0x3F800000".to_string()]);
}
