//! The key table (`config::table`) against the docs, the loader and the test
//! suite: docs/configuration.md's tables are generated from it
//! (`AGENT_RUNNER_BLESS=1 cargo test --test it config_table` rewrites them);
//! every test it (and the defenses catalogue) names exists and is a test;
//! every literal default is what the loader does without the key; every
//! refused key is refused with a line naming it and the file.

use agent_runner::config::table::{self, Shown};
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn marker(section: &str) -> String {
    if section.is_empty() {
        "top".to_string()
    } else {
        section.to_string()
    }
}

#[test]
fn configuration_md_tables_match_the_key_table() {
    let path = root().join("docs/configuration.md");
    let mut doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut stale = Vec::new();
    for section in table::SECTIONS {
        let m = marker(section);
        let (begin, end) = (
            format!("<!-- keys:{m}:begin -->"),
            format!("<!-- keys:{m}:end -->"),
        );
        let b = doc
            .find(&begin)
            .unwrap_or_else(|| panic!("{begin} missing in docs/configuration.md"));
        let e = doc
            .find(&end)
            .unwrap_or_else(|| panic!("{end} missing in docs/configuration.md"));
        let want = format!("\n{}", table::markdown(section));
        if doc[b + begin.len()..e] != want {
            stale.push(m);
            doc = format!("{}{want}{}", &doc[..b + begin.len()], &doc[e..]);
        }
    }
    if !stale.is_empty() {
        if std::env::var_os("AGENT_RUNNER_BLESS").is_some() {
            std::fs::write(&path, doc).unwrap_or_else(|e| panic!("{e}"));
            return;
        }
        panic!(
            "docs/configuration.md: the key tables {stale:?} differ from src/config/table/; run AGENT_RUNNER_BLESS=1 cargo test --test it config_table"
        );
    }
}

/// Does `text` define `fn name(` under a `#[test]` attribute?
fn defines_test(text: &str, name: &str) -> bool {
    let needle = format!("fn {name}(");
    text.match_indices(&needle).any(|(i, _)| {
        let before = &text[..i];
        let attr = before.rfind("#[test]");
        // the attribute belongs to this fn: nothing but attributes, comments
        // and whitespace between them
        attr.is_some_and(|a| {
            before[a + "#[test]".len()..].lines().all(|l| {
                let l = l.trim();
                l.is_empty() || l.starts_with("#[") || l.starts_with("//") || l == "fn"
            })
        })
    })
}

/// The tests of this binary (`it`), as `topic::name`.
fn listed_it_tests() -> Vec<String> {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let o = std::process::Command::new(exe)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(String::from)
        .collect()
}

#[test]
fn every_test_the_key_table_and_the_defenses_name_exists() {
    let d = Path::new("/nonexistent/p");
    let cfg =
        agent_runner::config::default_config(d, &d.join("logs")).unwrap_or_else(|e| panic!("{e}"));
    let mut named: Vec<(String, &str)> = table::all()
        .map(|k| (k.dotted(), k.shown_by.test()))
        .collect();
    for def in agent_runner::defenses::catalog(&cfg) {
        named.push((format!("defense {}", def.name), def.guarded_by));
    }
    assert!(named.len() > 100, "only {} names", named.len());
    let listed = listed_it_tests();
    assert!(
        listed.len() > 100,
        "the it binary listed {} tests",
        listed.len()
    );
    let mut missing = Vec::new();
    for (who, test) in &named {
        let Some((file, name)) = test.split_once("::") else {
            missing.push(format!("{who}: '{test}' is not <file>::<fn>"));
            continue;
        };
        let text = std::fs::read_to_string(root().join(file)).unwrap_or_default();
        if !defines_test(&text, name) {
            missing.push(format!("{who}: no #[test] fn {name} in {file}"));
            continue;
        }
        if let Some(topic) = file
            .strip_prefix("tests/it/")
            .and_then(|f| f.strip_suffix(".rs"))
        {
            if !listed.iter().any(|l| *l == format!("{topic}::{name}")) {
                missing.push(format!("{who}: {topic}::{name} is not in `it --list`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named tests missing:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_key_names_a_test_or_is_refused() {
    for k in table::all() {
        let t = k.shown_by.test();
        assert!(t.contains(".rs::"), "{}: '{t}'", k.dotted());
        if let Shown::Refused(_) = k.shown_by {
            assert!(!table::allowed(k.table).contains(&k.name), "{}", k.dotted());
        }
    }
}

/// A config with only what is required (`prompt_delivery` is left to its
/// default: argv, so the template carries `{prompt}`).
const MINIMAL: &str = "schema_version = 1\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = [\"{prompt}\"]\n[runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\n[prompt]\nfile = \"p.md\"\n";

/// `MINIMAL` with `value` written at `table.name`.
fn with_key(table: &str, name: &str, value: &str) -> String {
    let mut root: toml::Table = toml::from_str(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    let v: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .unwrap_or_else(|e| panic!("default of {table}.{name} is not TOML: {e}"))
        .remove("v")
        .unwrap_or_else(|| panic!("no value"));
    let mut t = &mut root;
    for part in table.split('.').filter(|p| !p.is_empty()) {
        t = t
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap_or_else(|| panic!("{part} is not a table"));
    }
    t.insert(name.to_string(), v);
    toml::to_string(&root).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn literal_defaults_are_what_the_loader_does_without_the_key() {
    let dir = Path::new("/nonexistent/proj");
    let file = dir.join("agent-runner.toml");
    let load = |text: &str| {
        agent_runner::config::from_str(&file, text)
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    };
    let bare = load(MINIMAL);
    let mut checked = 0;
    for k in table::all() {
        let Some(v) = k.default_toml else { continue };
        if k.table.contains('<') || k.table.contains('[') {
            continue;
        }
        let text = with_key(k.table, k.name, v);
        assert_eq!(
            load(&text),
            bare,
            "{} = {v} (the documented default) loads differently from no {}",
            k.dotted(),
            k.name
        );
        checked += 1;
    }
    assert!(checked > 40, "only {checked} defaults checked");
}

#[test]
fn refused_keys_are_refused_naming_the_key_and_the_file() {
    let dir = Path::new("/nonexistent/proj");
    let file = dir.join("agent-runner.toml");
    let mut n = 0;
    for k in table::all().filter(|k| k.refused()) {
        let text = with_key(k.table, k.name, "\"x\"");
        let e = agent_runner::config::from_str(&file, &text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{} was accepted", k.dotted()));
        assert!(
            e.starts_with(&format!("{}: {}: ", file.display(), k.dotted())),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        n += 1;
    }
    assert_eq!(n, 3);
}
