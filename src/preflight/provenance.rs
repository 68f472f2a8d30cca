//! Where each config value came from: every key of the key table
//! (`config::table`), as written in the file (under its 0.3 or its 0.2
//! name) or its default; a written value equal to the one in the preset of
//! the same agent (`init --preset <agent>`) says so. A phase's keys are
//! listed for each phase, a goal check's for each check.

use crate::config::table::{self, Key};
use crate::config::Config;
use serde::Serialize;
use toml::{Table, Value};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Not in the file: the default.
    Default,
    /// Written in the file.
    File,
    /// Written in the file, with the value the named preset writes.
    Preset(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File => f.write_str("file"),
            Source::Preset(p) => write!(f, "preset {p}"),
        }
    }
}

/// One key's resolved value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    /// The dotted key (`runtime.round_budget_s`, `phases.review.round_budget_s`).
    pub key: String,
    /// The value as written (TOML), or the default as documented.
    pub value: String,
    pub source: Source,
    /// The 0.2 name it was written under, if it was.
    pub written_as: Option<String>,
}

/// The value at a dotted path (`goal.checks[1].name` indexes an array).
fn lookup<'a>(root: &'a Table, dotted: &str) -> Option<&'a Value> {
    let mut table = Some(root);
    let mut cur = None;
    for part in dotted.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, rest)) => (n, Some(rest.trim_end_matches(']').parse::<usize>().ok()?)),
            None => (part, None),
        };
        let v = table?.get(name)?;
        let v = match index {
            Some(i) => v.as_array()?.get(i)?,
            None => v,
        };
        table = v.as_table();
        cur = Some(v);
    }
    cur
}

/// `template` (a key table path) for each phase or check it stands for.
fn expand(template: &str, cfg: &Config) -> Vec<String> {
    if template.contains("<name>") {
        return cfg
            .phases
            .list
            .iter()
            .map(|p| template.replace("<name>", p))
            .collect();
    }
    if template.contains("[]") {
        let n = cfg.goal.as_ref().map_or(0, |g| g.checks.len());
        return (0..n)
            .map(|i| template.replace("[]", &format!("[{i}]")))
            .collect();
    }
    vec![template.to_string()]
}

fn is_leaf(k: &Key) -> bool {
    !k.refused() && k.alias_of.is_none() && k.ty != "table" && k.ty != "array of tables"
}

/// The preset whose agent the config runs, rendered for its project.
fn preset_of(cfg: &Config) -> Option<(String, Table)> {
    let name = cfg.agent.binary_name();
    let text = crate::config::presets::render(&name, &cfg.project, None)?;
    let t: Table = toml::from_str(&text).ok()?;
    Some((name, t))
}

/// Every key with its resolved value and source, in key table order.
pub fn resolve(cfg: &Config) -> Vec<Resolved> {
    let raw: Table = std::fs::read_to_string(&cfg.path)
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default();
    let preset = preset_of(cfg);
    let mut out = Vec::new();
    for k in table::all().filter(|k| is_leaf(k)) {
        let aliases: Vec<&Key> = table::all()
            .filter(|a| a.alias_of == Some(k.dotted().as_str()))
            .collect();
        for (i, key) in expand(&k.dotted(), cfg).into_iter().enumerate() {
            let mut found = lookup(&raw, &key).map(|v| (v, None));
            if found.is_none() {
                for a in &aliases {
                    let alias_key = expand(&a.dotted(), cfg).into_iter().nth(i);
                    if let Some(ak) = alias_key {
                        if let Some(v) = lookup(&raw, &ak) {
                            found = Some((v, Some(ak)));
                            break;
                        }
                    }
                }
            }
            out.push(match found {
                Some((v, written_as)) => {
                    let source = match &preset {
                        Some((name, t)) if lookup(t, &key) == Some(v) => {
                            Source::Preset(name.clone())
                        }
                        _ => Source::File,
                    };
                    Resolved {
                        key,
                        value: v.to_string(),
                        source,
                        written_as,
                    }
                }
                // a key with no default (required, or 0.2 and without
                // effect) that is not written says nothing
                None if k.default == "—" => continue,
                None => Resolved {
                    key,
                    value: k.default.replace('`', ""),
                    source: Source::Default,
                    written_as: None,
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_walks_tables_and_arrays() {
        let t: Table = toml::from_str(
            "[runtime]\nx = 1\n[[goal.checks]]\nname = \"a\"\n[[goal.checks]]\nname = \"b\"\n",
        )
        .unwrap_or_default();
        assert_eq!(lookup(&t, "runtime.x"), Some(&Value::Integer(1)));
        assert_eq!(
            lookup(&t, "goal.checks[1].name"),
            Some(&Value::String("b".into()))
        );
        assert_eq!(lookup(&t, "goal.checks[2].name"), None);
        assert_eq!(lookup(&t, "runtime.y"), None);
        assert_eq!(lookup(&t, "runtime.x.z"), None);
    }
}
