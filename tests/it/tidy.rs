//! Keeps ARCHITECTURE.md true: every repository path it names in backticks
//! must exist.

use std::path::Path;

#[test]
fn architecture_names_only_paths_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut checked = 0;
    let mut missing = Vec::new();
    for (i, chunk) in text.split('`').enumerate() {
        // Odd chunks are inside backticks.
        if i % 2 == 0 {
            continue;
        }
        let looks_like_path = (chunk.starts_with("crates/")
            || chunk.starts_with("bins/")
            || chunk.starts_with("migrations/")
            || chunk.starts_with("tests/")
            || chunk.starts_with("benches/")
            || chunk.starts_with("examples/")
            || chunk.starts_with(".ci/"))
            && !chunk.contains(' ')
            && !chunk.contains('*');
        if !looks_like_path {
            continue;
        }
        checked += 1;
        if !root.join(chunk.trim_end_matches('/')).exists() {
            missing.push(chunk.to_owned());
        }
    }
    assert!(checked >= 20, "ARCHITECTURE.md names only {checked} paths");
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md names missing paths: {missing:?}"
    );
}
