//! `migrate` (0.3 delta §10): rewrite a 0.2-era `agent-runner.toml` into
//! the 0.3 shape the Python tool 0.3.14 loads, as text, so comments and
//! layout survive. Renames (`rate_limit_action`, `orphan_action`,
//! `round_timeout_s`), removed keys (`disable_pre_round_hooks`), bare
//! strings where lists are wanted, the flat `[monitor.host_health]` keys
//! into their sub-tables, 0.2 plugin hook names, then `schema_version = 1`.
//! Passes repeat until nothing changes. What it cannot do safely (a key
//! written twice, in an inline table, a string with spaces that may be
//! argv, a key that has no 0.3 home) is a MANUAL item; a NOTE is advice.
//! The result must parse as TOML and is then checked by this tool's own
//! loader (what still does not load is MANUAL too).
//!
//! [`write`] keeps the old file as `<name>.bak` (or `.bak.N` when that is
//! taken), then replaces the file atomically; nothing is written when the
//! new text does not parse.

mod diff;
mod lex;
mod rules;
#[cfg(test)]
mod tests;

pub use diff::unified;

use std::path::{Path, PathBuf};

/// What a migration did and found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The rewrites made, one line each.
    pub applied: Vec<String>,
    /// Advice that never blocks.
    pub notes: Vec<String>,
    /// What the user must do by hand.
    pub manual: Vec<String>,
}

impl Report {
    fn applied(&mut self, s: String) {
        self.applied.push(s);
    }
    fn note(&mut self, s: String) {
        if !self.notes.contains(&s) {
            self.notes.push(s);
        }
    }
    fn manual(&mut self, s: String) {
        if !self.manual.contains(&s) {
            self.manual.push(s);
        }
    }
}

/// A migration: the old and new text and the report.
#[derive(Debug, Clone)]
pub struct Migration {
    pub path: PathBuf,
    pub old: String,
    pub new: String,
    pub report: Report,
}

impl Migration {
    /// Whether the text changes.
    pub fn changed(&self) -> bool {
        self.old != self.new
    }
    /// The unified diff from the old text to the new.
    pub fn diff(&self) -> String {
        let name = self.path.display().to_string();
        unified(
            &self.old,
            &self.new,
            &format!("{name} (before)"),
            &format!("{name} (after)"),
        )
    }
}

/// Why a file could not be migrated; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("config not found: {0} (pass --config PATH)")]
    NotFound(PathBuf),
    #[error("{path}: cannot read it: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid TOML ({message}); fix it by hand, nothing was written")]
    Toml { path: PathBuf, message: String },
    #[error("{path}: the rewrite would not parse as TOML ({message}); nothing was written (please report this)")]
    Broken { path: PathBuf, message: String },
    #[error("cannot write the backup '{}': {source}; nothing was changed", path.display())]
    Backup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write '{}': {source}; the file is unchanged, the backup is '{}'", path.display(), backup.display())]
    Write {
        path: PathBuf,
        backup: PathBuf,
        source: std::io::Error,
    },
}

/// The text being rewritten, as lines, with its line map.
pub(super) struct Doc {
    lines: Vec<String>,
    map: lex::Map,
}

impl Doc {
    fn new(text: &str) -> Doc {
        let lines: Vec<String> = text.lines().map(String::from).collect();
        let map = lex::map(&lines);
        Doc { lines, map }
    }

    fn text(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }

    /// Apply edits: `(first, Some(last), lines)` replaces lines
    /// `first..=last`, `(at, None, lines)` inserts before line `at`.
    fn apply(&mut self, mut edits: Vec<(usize, Option<usize>, Vec<String>)>) {
        // bottom-up; at one line, the replacement before the insertion
        edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.is_some().cmp(&a.1.is_some())));
        for (first, last, new) in edits {
            let at = first.min(self.lines.len());
            let end = match last {
                Some(l) => (l + 1).min(self.lines.len()).max(at),
                None => at,
            };
            self.lines.splice(at..end, new);
        }
        self.map = lex::map(&self.lines);
    }

    fn remove(&mut self, first: usize, last: usize) {
        self.apply(vec![(first, Some(last), Vec::new())]);
    }

    /// `key = value` in place of the entry `e` (its comment kept).
    fn set_value(&mut self, e: &lex::Entry, value: &str) {
        let line = &self.lines[e.first];
        let new = format!("{} = {value}{}", &line[..e.key_span.1], e.comment);
        self.apply(vec![(e.first, Some(e.last), vec![new])]);
    }
}

type Rule = fn(&mut Doc, &toml::Table, &mut Report) -> bool;

/// The 0.2 plugin hook names of the built-in parsers and their 0.3 names
/// (`[plugins] disable` matches parser names since 0.3.0).
pub const HOOK_RENAMES: &[(&str, &str)] = &[
    ("claude_error_detector", "claude"),
    ("claude_rate_limit", "claude"),
    ("gemini_error_detector", "gemini"),
    ("codewhale_error_detector", "codewhale"),
];

/// The 0.3 name of a 0.2 plugin hook name, if it has one.
pub fn renamed_hook(old: &str) -> Option<&'static str> {
    HOOK_RENAMES
        .iter()
        .find(|(o, _)| *o == old)
        .map(|(_, n)| *n)
}

/// Migrate `text`, the file at `path` (absolute: relative paths in it are
/// taken from its folder when the result is checked).
pub fn migrate_text(path: &Path, text: &str) -> Result<Migration, MigrateError> {
    let parse = |t: &str| t.parse::<toml::Table>();
    let root = parse(text).map_err(|e| MigrateError::Toml {
        path: path.to_path_buf(),
        message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
    })?;
    let mut doc = Doc::new(text);
    let mut report = Report::default();
    let rules: &[Rule] = &[
        rules::renames,
        rules::drop_hooks,
        rules::wrap_lists,
        rules::plugin_names,
        rules::host_health,
    ];
    let mut root = root;
    // a rule edits one place at a time; each edit re-parses
    for _pass in 0..100 {
        let mut changed = false;
        for rule in rules {
            if rule(&mut doc, &root, &mut report) {
                changed = true;
                root = parse(&doc.text()).map_err(|e| MigrateError::Broken {
                    path: path.to_path_buf(),
                    message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
                })?;
            }
        }
        if !changed {
            break;
        }
    }
    if rules::stamp(&mut doc, &root, &mut report) {
        root = parse(&doc.text()).map_err(|e| MigrateError::Broken {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    }
    rules::notes(&root, &mut report);
    if root
        .get("runtime")
        .and_then(|r| r.get("round_timeout_per_phase"))
        .is_some()
    {
        report.manual(
            "runtime.round_timeout_per_phase was removed: write each phase's value as [phases.<name>] round_budget_s = N and delete it".into(),
        );
    }
    let new = if report.applied.is_empty() {
        text.to_string()
    } else {
        doc.text()
    };
    // what the loader still refuses, unless a MANUAL item names that key
    if let Err(e) = super::from_str(path, &new) {
        let e = e.to_string();
        let shown = e
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(&e)
            .to_string();
        let key = |s: &str| s.split([':', ' ']).next().unwrap_or("").to_string();
        if !report.manual.iter().any(|m| key(m) == key(&shown)) {
            report.manual(format!("{shown} (still refused after the rewrites)"));
        }
    }
    Ok(Migration {
        path: path.to_path_buf(),
        old: text.to_string(),
        new,
        report,
    })
}

/// Read and migrate the file at `path`.
pub fn migrate(path: &Path) -> Result<Migration, MigrateError> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let text = match std::fs::read(&abs) {
        Ok(b) => String::from_utf8(b).map_err(|_| MigrateError::Toml {
            path: abs.clone(),
            message: "it is not UTF-8 text".into(),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(MigrateError::NotFound(abs))
        }
        Err(source) => return Err(MigrateError::Read { path: abs, source }),
    };
    migrate_text(&abs, &text)
}

/// The first free backup name: `<file>.bak`, else `<file>.bak.1`, `.bak.2` …
fn backup_path(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    std::iter::once(PathBuf::from(&base))
        .chain((1..).map(|n| PathBuf::from(format!("{base}.{n}"))))
        .find(|p| !p.exists())
        .unwrap_or_else(|| PathBuf::from(base))
}

/// Keep the old text as a backup, then replace the file with the new text
/// (same mode). Returns the backup's path.
pub fn write(m: &Migration) -> Result<PathBuf, MigrateError> {
    m.new
        .parse::<toml::Table>()
        .map_err(|e| MigrateError::Broken {
            path: m.path.clone(),
            message: e.message().to_string(),
        })?;
    let backup = backup_path(&m.path);
    let mode = std::fs::metadata(&m.path).map(|md| md.permissions());
    let keep = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&backup)?;
        f.write_all(m.old.as_bytes())?;
        f.sync_all()?;
        if let Ok(p) = &mode {
            std::fs::set_permissions(&backup, p.clone())?;
        }
        Ok(())
    };
    keep().map_err(|source| MigrateError::Backup {
        path: backup.clone(),
        source,
    })?;
    let replace = || -> std::io::Result<()> {
        crate::state::atomic::write(&m.path, m.new.as_bytes())?;
        if let Ok(p) = &mode {
            std::fs::set_permissions(&m.path, p.clone())?;
        }
        Ok(())
    };
    replace().map_err(|source| MigrateError::Write {
        path: m.path.clone(),
        backup: backup.clone(),
        source,
    })?;
    Ok(backup)
}
