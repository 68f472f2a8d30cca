//! docs/compat.md accounts for the whole surface of the Python tool 0.3.14:
//! the tool itself lists its verbs, flags, config keys, event kinds and alert
//! kinds (tests/data/compat/surface.py, run with its own interpreter), and
//! every item must have exactly one row in the `surface` table with a known
//! status; a row other than `same` must say why; a `same` verb, flag, event
//! kind or alert kind must be ours.

use crate::support::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

const STATUSES: &[&str] = &["same", "fixed bug", "deliberate difference"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `kind name` lines from the Python tool.
fn python_surface() -> Vec<(String, String)> {
    let tool = python_tool();
    let py = tool.with_file_name("python3");
    assert!(
        py.is_file(),
        "no interpreter next to the Python tool at '{}'",
        py.display()
    );
    let o = Command::new(&py)
        .arg(repo().join("tests/data/compat/surface.py"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", py.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .collect()
}

/// (kind, name) → (status, note) from the table in docs/compat.md.
fn doc_rows() -> BTreeMap<(String, String), (String, String)> {
    let text = std::fs::read_to_string(repo().join("docs/compat.md"))
        .unwrap_or_else(|e| panic!("docs/compat.md: {e}"));
    let start = text
        .find("<!-- surface -->")
        .unwrap_or_else(|| panic!("docs/compat.md has no <!-- surface --> table"));
    let end = text
        .find("<!-- /surface -->")
        .unwrap_or_else(|| panic!("docs/compat.md: the surface table is not closed"));
    let mut rows = BTreeMap::new();
    for line in text[start..end].lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line
            .split(" | ")
            .map(|c| c.trim_matches(['|', ' ']))
            .collect();
        if cells.len() < 3 || cells[0] == "Kind" || cells[0].starts_with("---") {
            continue;
        }
        let key = (cells[0].to_string(), cells[1].trim_matches('`').to_string());
        let note = cells.get(3).map(|s| s.to_string()).unwrap_or_default();
        let dup = rows.insert(key.clone(), (cells[2].to_string(), note));
        assert!(dup.is_none(), "two rows for {key:?}");
    }
    rows
}

fn our_help(verb: &str) -> Option<String> {
    let o = Command::new(BIN).args([verb, "--help"]).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Whether we have the item (for the kinds we can ask).
fn ours(kind: &str, name: &str) -> Option<bool> {
    match kind {
        "verb" => Some(our_help(name).is_some()),
        "flag" => {
            let (verb, flag) = name.split_once(' ')?;
            Some(our_help(verb).is_some_and(|h| {
                h.split(|c: char| c.is_whitespace() || c == ',')
                    .any(|w| w == flag)
            }))
        }
        "event" => Some(agent_runner::state::Kind::from_name(name).is_some()),
        "alert" => Some(
            agent_runner::detect::CATALOGUE
                .iter()
                .any(|d| d.name == name),
        ),
        _ => None,
    }
}

#[test]
fn compat_md_accounts_for_every_item_of_the_python_tools_surface() {
    let surface = python_surface();
    assert!(surface.len() > 200, "too small a surface: {surface:?}");
    let rows = doc_rows();
    let mut problems = Vec::new();
    for item in &surface {
        let Some((status, note)) = rows.get(item) else {
            problems.push(format!("no row for {} `{}`", item.0, item.1));
            continue;
        };
        if !STATUSES.contains(&status.as_str()) {
            problems.push(format!("{item:?}: unknown status '{status}'"));
        }
        if status != "same" && note.trim().is_empty() {
            problems.push(format!("{item:?}: '{status}' without a reason"));
        }
        if status == "same" && ours(&item.0, &item.1) == Some(false) {
            problems.push(format!("{item:?} says same, but we do not have it"));
        }
    }
    for key in rows.keys() {
        if !surface.contains(key) {
            problems.push(format!("row {key:?} is not part of 0.3.14"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/compat.md:\n{}",
        problems.join("\n")
    );
}
