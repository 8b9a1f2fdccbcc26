//! docs/configuration.md is generated from the variable table and must stay current.

const BEGIN: &str = "<!-- BEGIN GENERATED: cargo xtask codegen -->";
const END: &str = "<!-- END GENERATED -->";

#[test]
fn configuration_docs_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let docs = std::fs::read_to_string(path).expect("docs/configuration.md exists");
    let start = docs.find(BEGIN).expect("generated section start marker") + BEGIN.len();
    let end = docs.find(END).expect("generated section end marker");
    assert!(
        docs[start..end] == orchestra_config::render_markdown(),
        "docs/configuration.md is out of date: run `cargo xtask codegen`"
    );
}

#[test]
fn every_variable_is_documented_with_type_default_and_example() {
    for variable in orchestra_config::VARIABLES {
        assert!(!variable.kind.is_empty(), "{}", variable.name);
        assert!(!variable.default.is_empty(), "{}", variable.name);
        assert!(!variable.example.is_empty(), "{}", variable.name);
        assert!(variable.description.ends_with('.'), "{}", variable.name);
    }
}
