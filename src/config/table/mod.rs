//! The key table: every key of `agent-runner.toml` defined once, with its
//! type, default, what it does and the test that shows it ([`ALL`]).
//!
//! The loader takes each table's allowed keys and the 0.2 aliases from here
//! ([`allowed`], [`aliases`]); `docs/configuration.md` carries one generated
//! table per section ([`markdown`], checked by `tests/it/config_table.rs`);
//! `doctor` lists where each resolved value came from. A test checks that
//! every test named here exists, and that every literal default is what the
//! loader does when the key is absent.
//!
//! Every key either names a test that shows its effect, or is refused by the
//! loader (and names the test that shows the refusal). No key is accepted
//! and ignored.

mod base;
mod monitor;
mod rest;

/// One key of one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The table it is written in: `""` (top level), `agent`, `runtime`,
    /// `monitor.host_health.memory`, `phases.<name>`, `goal.checks[]`, …
    pub table: &'static str,
    pub name: &'static str,
    /// The accepted type, in the words of docs/configuration.md.
    pub ty: &'static str,
    /// The default as the docs show it (markdown).
    pub default: &'static str,
    /// The default as a TOML value, when it is a literal one (the loader is
    /// tested to behave the same with the key absent and with this value).
    pub default_toml: Option<&'static str>,
    /// What it does (markdown, one paragraph).
    pub effect: &'static str,
    /// The 0.3 key (dotted) this is the 0.2 name of, if it is one.
    pub alias_of: Option<&'static str>,
    pub shown_by: Shown,
}

/// How a key's entry is backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// `<file>::<test fn>` of the test that shows the key's effect.
    Test(&'static str),
    /// Refused by the loader with a hint; `<file>::<test fn>` shows that.
    Refused(&'static str),
}

impl Shown {
    /// The test named.
    pub fn test(&self) -> &'static str {
        match self {
            Shown::Test(t) | Shown::Refused(t) => t,
        }
    }
}

impl Key {
    /// `table.name` (`name` at the top level).
    pub fn dotted(&self) -> String {
        if self.table.is_empty() {
            self.name.to_string()
        } else {
            format!("{}.{}", self.table, self.name)
        }
    }
    pub fn refused(&self) -> bool {
        matches!(self.shown_by, Shown::Refused(_))
    }
}

/// Every key, section by section, in the order of docs/configuration.md.
pub fn all() -> impl Iterator<Item = &'static Key> {
    base::KEYS
        .iter()
        .chain(monitor::KEYS.iter())
        .chain(rest::KEYS.iter())
}

/// The key at a dotted path (`runtime.round_budget_s`).
pub fn find(dotted: &str) -> Option<&'static Key> {
    all().find(|k| k.dotted() == dotted)
}

/// The keys the loader accepts in `table` (refused keys left out).
pub fn allowed(table: &str) -> Vec<&'static str> {
    all()
        .filter(|k| k.table == table && !k.refused())
        .map(|k| k.name)
        .collect()
}

/// The 0.2 aliases written in `table`: `(old name, 0.3 sub-table, 0.3 key)`
/// for the flat `[monitor.host_health]` keys, whose 0.3 homes are one
/// table further down.
pub fn aliases(table: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    all()
        .filter(|k| k.table == table)
        .filter_map(|k| {
            let target = k.alias_of?.strip_prefix(table)?.strip_prefix('.')?;
            let (sub, key) = target.split_once('.')?;
            Some((k.name, sub, key))
        })
        .collect()
}

/// The sections of docs/configuration.md, each a table of its own: a key
/// belongs to the longest section its table starts with.
pub const SECTIONS: &[&str] = &[
    "",
    "agent",
    "runtime",
    "prompt",
    "vcs",
    "monitor",
    "monitor.host_health",
    "phases",
    "plugins",
    "schedule",
    "goal",
];

fn section_of(table: &str) -> &'static str {
    SECTIONS
        .iter()
        .copied()
        .filter(|s| {
            s.is_empty()
                || table == *s
                || table
                    .strip_prefix(s)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
        })
        .max_by_key(|s| s.len())
        .unwrap_or("")
}

/// A key's name as its section's table shows it (relative to the section).
fn shown_name(k: &Key, section: &str) -> String {
    let d = k.dotted();
    if section.is_empty() {
        return d;
    }
    d.strip_prefix(section)
        .map(|r| r.trim_start_matches('.').to_string())
        .unwrap_or(d)
}

/// The markdown table of one section (the text between its markers in
/// docs/configuration.md).
pub fn markdown(section: &str) -> String {
    let mut s =
        String::from("| Key | Type | Default | What it does | Shown by |\n|---|---|---|---|---|\n");
    for k in all().filter(|k| section_of(k.table) == section) {
        let shown = match k.shown_by {
            Shown::Test(t) => format!("`{t}`"),
            Shown::Refused(t) => format!("refused: `{t}`"),
        };
        let effect = match k.alias_of {
            Some(a) => format!(
                "the 0.2 name of `{}`; setting both is an error. {}",
                shown_name_of(a, section),
                k.effect
            ),
            None => k.effect.to_string(),
        };
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            shown_name(k, section),
            k.ty,
            k.default,
            effect.trim().replace('|', "\\|"),
            shown
        ));
    }
    s
}

fn shown_name_of(dotted: &str, section: &str) -> String {
    match find(dotted) {
        Some(k) => shown_name(k, section),
        None => dotted.to_string(),
    }
}

/// Shorthands for the section files.
pub(crate) mod def {
    use super::{Key, Shown};

    /// A key whose default is the literal TOML `v` (shown as `` `v` ``).
    pub const fn lit(
        table: &'static str,
        name: &'static str,
        ty: &'static str,
        v: &'static str,
        shown: &'static str,
        effect: &'static str,
        shown_by: Shown,
    ) -> Key {
        Key {
            table,
            name,
            ty,
            default: shown,
            default_toml: Some(v),
            effect,
            alias_of: None,
            shown_by,
        }
    }

    /// A key whose default is described, not a literal (`none`, required,
    /// derived from another key).
    pub const fn text(
        table: &'static str,
        name: &'static str,
        ty: &'static str,
        default: &'static str,
        effect: &'static str,
        shown_by: Shown,
    ) -> Key {
        Key {
            table,
            name,
            ty,
            default,
            default_toml: None,
            effect,
            alias_of: None,
            shown_by,
        }
    }

    /// The 0.2 name `name` of the 0.3 key `of`.
    pub const fn alias(
        table: &'static str,
        name: &'static str,
        of: &'static str,
        shown_by: Shown,
    ) -> Key {
        Key {
            table,
            name,
            ty: "as the 0.3 key",
            default: "—",
            default_toml: None,
            effect: "",
            alias_of: Some(of),
            shown_by,
        }
    }

    /// A key the loader refuses, with the hint it gives.
    pub const fn refused(
        table: &'static str,
        name: &'static str,
        effect: &'static str,
        test: &'static str,
    ) -> Key {
        Key {
            table,
            name,
            ty: "—",
            default: "—",
            default_toml: None,
            effect,
            alias_of: None,
            shown_by: Shown::Refused(test),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_every_section_has_some() {
        let mut seen = std::collections::HashSet::new();
        for k in all() {
            assert!(seen.insert(k.dotted()), "{} twice", k.dotted());
            if let Some(a) = k.alias_of {
                assert!(find(a).is_some(), "{} aliases unknown {a}", k.dotted());
            }
        }
        for s in SECTIONS {
            assert!(!markdown(s).lines().nth(2).unwrap_or("").is_empty(), "{s}");
        }
    }

    #[test]
    fn flat_host_health_aliases_point_one_table_down() {
        let a = aliases("monitor.host_health");
        assert_eq!(a.len(), 9);
        assert!(a.contains(&("mem_avail_min_mb", "memory", "avail_min_mb")));
        assert!(
            aliases("runtime").is_empty(),
            "round_timeout_s is a sibling"
        );
    }
}
