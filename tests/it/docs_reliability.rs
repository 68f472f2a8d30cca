//! docs/reliability.md names, for every fault, the tests that show it. A
//! renamed or deleted test must not leave the table claiming it.

use std::path::Path;

/// The test references of a table cell: `lib a::b::name` (a unit test under
/// src/) or `it topic::name` (tests/it/topic.rs; `topic::*` = the topic).
fn references(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        for part in line.split('`').skip(1).step_by(2) {
            if let Some((kind, path)) = part.split_once(' ') {
                if kind == "lib" || kind == "it" {
                    out.push((kind.to_string(), path.to_string()));
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn every_test_the_fault_table_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/reliability.md")).unwrap();
    let refs = references(&doc);
    assert!(refs.len() > 40, "only {} test references found", refs.len());
    let mut src = Vec::new();
    rust_files(&root.join("src"), &mut src);
    let mut missing = Vec::new();
    for (kind, path) in &refs {
        let name = path.rsplit("::").next().unwrap_or("");
        let found = if kind == "it" {
            let topic = path.split("::").next().unwrap_or("");
            let text = std::fs::read_to_string(root.join(format!("tests/it/{topic}.rs")))
                .unwrap_or_default();
            !text.is_empty() && (name == "*" || text.contains(&format!("fn {name}(")))
        } else {
            src.iter().any(|t| t.contains(&format!("fn {name}(")))
        };
        if !found {
            missing.push(format!("{kind} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/reliability.md names tests that do not exist:\n{}",
        missing.join("\n")
    );
}
