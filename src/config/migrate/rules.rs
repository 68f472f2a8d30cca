//! What `migrate` rewrites (0.3 delta §10), each rule a function over the
//! parsed file (what is there) and its text (where it is). A rule edits only
//! when it finds exactly one place to edit; anything else is left to the
//! user as a MANUAL item naming the key and what to write.

use super::lex::Entry;
use super::{Doc, Report};
use toml::{Table, Value};

/// The phase names of the file.
fn phases(root: &Table) -> Vec<String> {
    root.get("phases")
        .and_then(Value::as_table)
        .map(|t| {
            t.iter()
                .filter(|(_, v)| v.is_table())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn get<'a>(root: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (last, tables) = path.split_last()?;
    let mut t = root;
    for p in tables {
        t = t.get(*p)?.as_table()?;
    }
    t.get(*last)
}

/// The one entry at `path`, or a MANUAL item (`what` to do by hand).
fn one<'a>(doc: &'a Doc, path: &[&str], what: &str, r: &mut Report) -> Option<&'a Entry> {
    let found = doc.map.find(path);
    match found.as_slice() {
        [e] => Some(e),
        _ => {
            r.manual(format!(
                "{}: written {} time(s) in a form this tool does not edit ({}); {what}",
                path.join("."),
                found.len(),
                if found.is_empty() {
                    "an inline table or dotted key elsewhere"
                } else {
                    "more than once"
                },
            ));
            None
        }
    }
}

/// Rename the last part of the key at `from` to `to` (same table).
fn rename(doc: &mut Doc, root: &Table, r: &mut Report, from: &[&str], to: &str, why: &str) -> bool {
    if get(root, from).is_none() {
        return false;
    }
    let mut target: Vec<&str> = from.to_vec();
    if let Some(l) = target.last_mut() {
        *l = to;
    }
    let shown_from = from.join(".");
    if get(root, &target).is_some() {
        r.manual(format!(
            "{shown_from} and {} are both set; they are the same setting: delete {shown_from}",
            target.join(".")
        ));
        return false;
    }
    let Some(e) = one(doc, from, &format!("rename it to {to}"), r).cloned() else {
        return false;
    };
    let line = &doc.lines[e.first];
    let old_key = &line[e.key_span.0..e.key_span.1];
    let new_key = match old_key.rfind(from.last().copied().unwrap_or_default()) {
        Some(i) => format!(
            "{}{to}{}",
            &old_key[..i],
            &old_key[i + from.last().map_or(0, |f| f.len())..]
        ),
        None => return false,
    };
    doc.lines[e.first] = format!(
        "{}{new_key}{}",
        &line[..e.key_span.0],
        &line[e.key_span.1..]
    );
    r.applied(format!("{shown_from} → {}{why}", target.join(".")));
    true
}

/// `rate_limit_action`, `orphan_action` and `round_timeout_s` under their
/// 0.3 names.
pub(super) fn renames(doc: &mut Doc, root: &Table, r: &mut Report) -> bool {
    let mut changed = rename(
        doc,
        root,
        r,
        &["runtime", "rate_limit_action"],
        "transient_error_action",
        "",
    );
    changed |= rename(doc, root, r, &["vcs", "orphan_action"], "dirty_action", "");
    changed |= rename(
        doc,
        root,
        r,
        &["runtime", "round_timeout_s"],
        "round_budget_s",
        "",
    );
    for p in phases(root) {
        changed |= rename(
            doc,
            root,
            r,
            &["phases", &p, "round_timeout_s"],
            "round_budget_s",
            "",
        );
        changed |= rename(
            doc,
            root,
            r,
            &["phases", &p, "runtime", "round_timeout_s"],
            "round_budget_s",
            "",
        );
    }
    changed
}

/// Drop `disable_pre_round_hooks` (0.3.9 removed the pre-round hooks).
pub(super) fn drop_hooks(doc: &mut Doc, root: &Table, r: &mut Report) -> bool {
    let mut paths: Vec<Vec<String>> =
        vec![vec!["runtime".into(), "disable_pre_round_hooks".into()]];
    for p in phases(root) {
        paths.push(vec![
            "phases".into(),
            p.clone(),
            "disable_pre_round_hooks".into(),
        ]);
        paths.push(vec![
            "phases".into(),
            p,
            "runtime".into(),
            "disable_pre_round_hooks".into(),
        ]);
    }
    for path in paths {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        if get(root, &path).is_none() {
            continue;
        }
        if let Some(e) = one(doc, &path, "delete it", r).cloned() {
            doc.remove(e.first, e.last);
            r.applied(format!(
                "{} deleted (0.3 has no pre-round hooks)",
                path.join(".")
            ));
            return true;
        }
    }
    false
}

/// A bare string where 0.3 wants a list becomes a one-element list; a
/// string with spaces in it is left to the user (it may be meant as argv).
pub(super) fn wrap_lists(doc: &mut Doc, root: &Table, r: &mut Report) -> bool {
    let mut paths: Vec<Vec<String>> = [
        ["agent", "command"].as_slice(),
        &["agent", "prompt_arg_template"],
        &["phases", "list"],
        &["prompt", "files"],
        &["monitor", "auto_stop_on"],
        &["plugins", "disable"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    for p in phases(root) {
        for tail in [
            ["agent", "command"],
            ["agent", "prompt_arg_template"],
            ["prompt", "files"],
        ] {
            paths.push(vec![
                "phases".into(),
                p.clone(),
                tail[0].into(),
                tail[1].into(),
            ]);
        }
    }
    for path in paths {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(Value::String(s)) = get(root, &path) else {
            continue;
        };
        let dotted = path.join(".");
        if s.contains(char::is_whitespace) {
            r.manual(format!(
                "{dotted} = {:?} is one string with spaces; write it as a list of its words, e.g. [\"{}\"]",
                s,
                s.split_whitespace().collect::<Vec<_>>().join("\", \"")
            ));
            continue;
        }
        let Some(e) = one(doc, &path, "write it as a list", r).cloned() else {
            continue;
        };
        doc.set_value(&e, &format!("[{}]", e.value));
        r.applied(format!("{dotted} {} → [{}]", e.value, e.value));
        return true;
    }
    false
}

/// The 0.2 hook names in `[plugins] disable` become parser names.
pub(super) fn plugin_names(doc: &mut Doc, root: &Table, r: &mut Report) -> bool {
    for k in ["sandbox", "pin", "spawn_override_allow", "raw"] {
        if get(root, &["plugins", k]).is_some() {
            r.manual(format!(
                "plugins.{k} was removed in 0.3.9 (no plugin sandbox or pins): delete it"
            ));
        }
    }
    let Some(Value::Array(items)) = get(root, &["plugins", "disable"]) else {
        return false;
    };
    let names: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    let mut out: Vec<String> = Vec::new();
    let mut renamed = Vec::new();
    for n in &names {
        match super::renamed_hook(n) {
            Some(new) => {
                renamed.push(format!("{n} → {new}"));
                if !out.iter().any(|o| o == new) {
                    out.push(new.to_string());
                }
            }
            None if *n == "default_dirty_handler" => r.manual(
                "plugins.disable: 'default_dirty_handler' has no successor; to leave a dirty tree alone write [vcs] dirty_action = \"ignore\" and delete the name".to_string(),
            ),
            None => {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
        }
    }
    if renamed.is_empty() {
        return false;
    }
    let Some(e) = one(doc, &["plugins", "disable"], "write the parser names", r).cloned() else {
        return false;
    };
    let list: Vec<String> = out
        .iter()
        .map(|n| Value::String(n.clone()).to_string())
        .collect();
    doc.set_value(&e, &format!("[{}]", list.join(", ")));
    r.applied(format!(
        "plugins.disable: {} (0.3 disables parsers by name)",
        renamed.join(", ")
    ));
    true
}

/// The nine flat `[monitor.host_health]` keys go into their 0.3 sub-tables.
pub(super) fn host_health(doc: &mut Doc, root: &Table, r: &mut Report) -> bool {
    let flat = crate::config::table::aliases("monitor.host_health");
    let mut moved: Vec<(&str, &str, &str, Entry)> = Vec::new();
    for (old, sub, key) in &flat {
        if get(root, &["monitor", "host_health", old]).is_none() {
            continue;
        }
        if get(root, &["monitor", "host_health", sub, key]).is_some() {
            r.manual(format!(
                "monitor.host_health.{old} and monitor.host_health.{sub}.{key} are both set; delete {old}"
            ));
            continue;
        }
        if let Some(e) = one(
            doc,
            &["monitor", "host_health", old],
            &format!("write it as [monitor.host_health.{sub}] {key}"),
            r,
        ) {
            moved.push((old, sub, key, e.clone()));
        }
    }
    if moved.is_empty() {
        return false;
    }
    // where the new lines go, by sub-table: an existing header's section
    // end, else one new block where the flat keys were
    let home = doc.map.header(&["monitor", "host_health"]).map(|h| h.line);
    let mut new_blocks: Vec<String> = Vec::new();
    let mut appends: Vec<(usize, String)> = Vec::new();
    for sub in ["memory", "disk", "pressure", "brake"] {
        let lines: Vec<String> = moved
            .iter()
            .filter(|(_, s, _, _)| *s == sub)
            .map(|(_, _, key, e)| format!("{key} = {}{}", e.value, e.comment))
            .collect();
        if lines.is_empty() {
            continue;
        }
        match doc.map.header(&["monitor", "host_health", sub]) {
            Some(h) => {
                let end = doc.map.section_end(h.line, &doc.lines);
                appends.push((end, lines.join("\n")));
            }
            None => {
                if !new_blocks.is_empty() {
                    new_blocks.push(String::new());
                }
                new_blocks.push(format!("[monitor.host_health.{sub}]"));
                new_blocks.extend(lines);
            }
        }
    }
    for (old, sub, key, _) in &moved {
        r.applied(format!(
            "monitor.host_health.{old} → monitor.host_health.{sub}.{key}"
        ));
    }
    // edit bottom-up so line numbers stay valid
    let mut edits: Vec<(usize, Option<usize>, Vec<String>)> = moved
        .iter()
        .map(|(_, _, _, e)| (e.first, Some(e.last), Vec::new()))
        .collect();
    for (end, text) in appends {
        edits.push((end + 1, None, text.lines().map(String::from).collect()));
    }
    if !new_blocks.is_empty() {
        match home {
            Some(h) => {
                let end = doc.map.section_end(h, &doc.lines);
                let only_flat = doc
                    .map
                    .entries
                    .iter()
                    .filter(|e| e.first > h && e.first <= end)
                    .all(|e| moved.iter().any(|(_, _, _, m)| m.first == e.first));
                if only_flat {
                    // the [monitor.host_health] table is left with nothing:
                    // its header becomes the first sub-table's
                    edits.push((h, Some(h), Vec::new()));
                }
                edits.push((end + 1, None, new_blocks));
            }
            None => {
                let n = doc.lines.len();
                let mut block = vec![String::new()];
                block.extend(new_blocks);
                edits.push((n, None, block));
            }
        }
    }
    doc.apply(edits);
    true
}

/// The advisory: a phase's flat `round_budget_s` could move under its
/// `runtime` table (both forms load).
pub(super) fn notes(root: &Table, r: &mut Report) {
    for p in phases(root) {
        if get(root, &["phases", &p, "round_budget_s"]).is_some() {
            r.note(format!(
                "phases.{p}.round_budget_s could move under [phases.{p}.runtime] (both forms load)"
            ));
        }
    }
    if get(root, &["runtime", "metrics_interval_s"]).is_some() {
        r.note(
            "runtime.metrics_interval_s is this tool's own key: the Python tool refuses it".into(),
        );
    }
    if get(root, &["runtime", "restart_delay_s"]).and_then(Value::as_integer) == Some(0) {
        r.note(
            "runtime.restart_delay_s = 0 loads here; the Python tool wants a value above 0".into(),
        );
    }
}

/// `schema_version = 1`: replaced in place, else put on the first line.
pub(super) fn stamp(doc: &mut Doc, root: &Table, r: &mut Report) -> bool {
    match root.get("schema_version") {
        Some(Value::Integer(v)) if *v == crate::config::SCHEMA_VERSION => false,
        Some(_) => match doc.map.find(&["schema_version"]).first().copied().cloned() {
            Some(e) => {
                doc.set_value(&e, "1");
                r.applied("schema_version set to 1".into());
                true
            }
            None => {
                r.manual("schema_version: write schema_version = 1 on the first line".into());
                false
            }
        },
        None => {
            doc.apply(vec![(0, None, vec!["schema_version = 1".to_string()])]);
            r.applied("stamped schema_version = 1".into());
            true
        }
    }
}
