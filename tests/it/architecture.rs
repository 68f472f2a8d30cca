//! The module map of docs/architecture.md is the law: every top-level module
//! of `src/` sits on one line of its layers block, and a module imports only
//! modules on lower lines. So no import cycle between top-level modules can
//! appear, and nothing below the commands layer knows clap or exit codes.
//!
//! Imports are read from the source text: `crate::x`, `use crate::{x, y::z}`
//! and `super::` chains that climb to the crate root, outside comments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BEGIN: &str = "<!-- layers:begin";
const END: &str = "<!-- layers:end -->";

/// The layers block: module name → line number (0 = top).
fn layers(doc: &str) -> Result<BTreeMap<String, usize>, String> {
    let b = doc
        .find(BEGIN)
        .ok_or("docs/architecture.md has no layers block")?;
    let e = doc[b..]
        .find(END)
        .ok_or("docs/architecture.md: layers block not closed")?
        + b;
    let block = &doc[b..e];
    let mut out = BTreeMap::new();
    let mut row = 0;
    for line in block.lines().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with("```") {
            continue;
        }
        for m in line.split_whitespace() {
            if out.insert(m.to_string(), row).is_some() {
                return Err(format!("'{m}' appears twice in the layers block"));
            }
        }
        row += 1;
    }
    Ok(out)
}

/// Source text without comments (line, block and doc comments), string
/// contents blanked so a path inside a string literal is not an import.
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                out.push('"');
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            // a char literal holding a quote must not open a string
            b'\'' if b.get(i + 2) == Some(&b'\'') => {
                out.push_str("' '");
                i += 3;
            }
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                out.push_str("' '");
                i += 2;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first-level names of a `{…}` group (`{a, b::c, d::{e, f}}` → a, b, d).
fn group_names(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut expect_name = true;
    let mut i = 0;
    let b = s.as_bytes();
    while i < b.len() {
        match b[i] {
            b'{' => {
                depth += 1;
                if depth == 1 {
                    expect_name = true;
                }
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            b',' if depth == 1 => expect_name = true,
            c if depth == 1 && expect_name && (c.is_ascii_alphabetic() || c == b'_') => {
                let id = ident_at(&s[i..]);
                names.push(id.to_string());
                i += id.len();
                expect_name = false;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
}

/// Top-level modules a file refers to. `module_path` is the file's module
/// path (`src/fleet/link/view.rs` → fleet, link, view).
fn imports(src: &str, module_path: &[String]) -> Vec<String> {
    let text = strip(src);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(p) = rest.find(['c', 's']) {
        let s = &rest[p..];
        let boundary = p == 0 || {
            let prev = rest.as_bytes()[p - 1];
            !(prev.is_ascii_alphanumeric() || prev == b'_' || prev == b':')
        };
        let tail = if !boundary {
            None
        } else if let Some(t) = s.strip_prefix("crate::") {
            Some(t)
        } else if s.starts_with("super::") {
            // climb: each super drops one segment; reaching the root means
            // the next name is a top-level module
            let mut t = s;
            let mut depth = module_path.len();
            while let Some(n) = t.strip_prefix("super::") {
                t = n;
                depth = depth.saturating_sub(1);
            }
            (depth == 0).then_some(t)
        } else {
            None
        };
        match tail {
            Some(t) if t.starts_with('{') => out.extend(group_names(t)),
            Some(t) => out.push(ident_at(t).to_string()),
            None => {}
        }
        rest = &rest[p + 1..];
    }
    out
}

/// (file, top-level module, module path) for every source file of `src`.
fn sources(src: &Path) -> Vec<(PathBuf, String, Vec<String>)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read '{}': {e}", dir.display()))
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("cannot list '{}': {e}", dir.display()));
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .filter_map(|f| {
            let rel = f.strip_prefix(src).ok()?.to_path_buf();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            let top = parts.first()?.clone();
            (top != "lib" && top != "main").then_some((f, top, parts))
        })
        .collect()
}

/// A source file: its path, top-level module, text and module path.
type Source = (PathBuf, String, String, Vec<String>);

/// Every import that breaks the layers, as one line each.
fn violations(files: &[Source], rows: &BTreeMap<String, usize>) -> Vec<String> {
    let mut bad = Vec::new();
    for (path, top, text, module_path) in files {
        let Some(&mine) = rows.get(top) else {
            bad.push(format!(
                "module '{top}' ({}) is not in the layers block of docs/architecture.md: put it on the line of its layer",
                path.display()
            ));
            continue;
        };
        let mut seen = Vec::new();
        for dep in imports(text, module_path) {
            if dep == *top || seen.contains(&dep) {
                continue;
            }
            seen.push(dep.clone());
            if let Some(&theirs) = rows.get(&dep) {
                if theirs <= mine {
                    bad.push(format!(
                        "{}: '{top}' (layers line {}) imports '{dep}' (line {}); a module may import only modules on lower lines (docs/architecture.md)",
                        path.display(),
                        mine + 1,
                        theirs + 1
                    ));
                }
            }
        }
    }
    bad
}

fn read_src() -> (Vec<Source>, BTreeMap<String, usize>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md"))
        .unwrap_or_else(|e| panic!("cannot read docs/architecture.md: {e}"));
    let rows = layers(&doc).unwrap_or_else(|e| panic!("{e}"));
    let files = sources(&root.join("src"))
        .into_iter()
        .map(|(p, top, path)| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("cannot read '{}': {e}", p.display()));
            let rel = p.strip_prefix(root).map(Path::to_path_buf).unwrap_or(p);
            (rel, top, text, path)
        })
        .collect();
    (files, rows)
}

#[test]
fn top_level_modules_import_only_lower_layers() {
    let (files, rows) = read_src();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let bad = violations(&files, &rows);
    assert!(bad.is_empty(), "\n{}\n", bad.join("\n"));
    // every module of the block exists (a renamed module leaves no stale row)
    for m in rows.keys() {
        assert!(
            files.iter().any(|(_, top, _, _)| top == m),
            "docs/architecture.md names a module 'src/{m}' that does not exist"
        );
    }
}

#[test]
fn only_the_commands_layer_speaks_cli() {
    let (files, _) = read_src();
    for (path, top, text, module_path) in &files {
        if top == "commands" {
            continue;
        }
        let deps = imports(text, module_path);
        assert!(
            !deps.iter().any(|d| d == "commands" || d == "cli"),
            "{} imports the commands layer",
            path.display()
        );
        let stripped = strip(text);
        assert!(
            !stripped.contains("clap::") && !stripped.contains("use clap"),
            "{} uses clap; argument parsing belongs in src/commands/",
            path.display()
        );
    }
}

#[test]
fn the_checker_sees_a_back_edge() {
    let rows =
        layers("<!-- layers:begin -->\n```\ncommands\nround\nstate\n```\n<!-- layers:end -->")
            .unwrap();
    let f = |path: &str, top: &str, text: &str, mp: &[&str]| {
        (
            PathBuf::from(path),
            top.to_string(),
            text.to_string(),
            mp.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    let good = vec![
        f(
            "src/round/mod.rs",
            "round",
            "use crate::state::Layout;",
            &["round"],
        ),
        f(
            "src/commands/x.rs",
            "commands",
            "use crate::{round, state::x};",
            &["commands", "x"],
        ),
    ];
    assert!(violations(&good, &rows).is_empty());
    // a back-edge in each spelling the checker reads
    for text in [
        "use crate::commands::CliError;",
        "fn f() -> crate::round::X { todo!() }",
        "use crate::{config, round::{a, b}};",
        "use super::super::super::round::X;",
    ] {
        let bad = vec![f("src/state/a/b.rs", "state", text, &["state", "a", "b"])];
        let v = violations(&bad, &rows);
        assert_eq!(v.len(), 1, "{text}: {v:?}");
        assert!(v[0].contains("'state'"), "{}", v[0]);
    }
    // comments and strings are not imports
    let quiet = vec![f(
        "src/state/c.rs",
        "state",
        "// crate::round\n/* crate::round */ let s = \"crate::round\"; let c = '\"';",
        &["state", "c"],
    )];
    assert!(violations(&quiet, &rows).is_empty());
    // a module missing from the block is reported
    let unknown = vec![f("src/newmod.rs", "newmod", "", &["newmod"])];
    assert_eq!(violations(&unknown, &rows).len(), 1);
}
