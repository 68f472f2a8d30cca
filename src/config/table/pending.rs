//! The keys whose effect another change implements (the memory defenses of
//! issue 15: the round admission gate, the mid-round floor, the brake). They
//! are accepted and validated, so a config the Python tool 0.3.14 loads
//! loads here too, but they do nothing yet: a file that writes one (under
//! its 0.3 or its 0.2 name) gets one warning line saying so, which `round`,
//! `serve` and `doctor` print. [`TEST`] shows that warning; the key table
//! names it for each of them.

use super::{all, Key, Shown};
use std::path::Path;
use toml::{Table, Value};

/// The pending keys, dotted.
pub const PENDING: &[&str] = &[
    "monitor.host_health.brake",
    "monitor.host_health.pressure.critical_consecutive_samples",
    "monitor.host_health.pressure.in_round_terminate",
    "monitor.host_health.pressure.cgroup_growth_rate_warning_mb_per_min",
    "monitor.host_health.pressure.in_round_nudge",
    "monitor.host_health.brake.memory_high",
    "monitor.host_health.brake.memory_high_step_pct",
    "monitor.host_health.brake.warning_consecutive_samples",
];

/// The test that shows a pending key's warning.
pub const TEST: &str =
    "tests/it/config_table.rs::pending_keys_load_with_a_warning_that_they_do_nothing_yet";

/// Is `k` a pending key or the 0.2 name of one?
fn is_pending(k: &Key) -> bool {
    matches!(k.shown_by, Shown::Pending(_)) || k.alias_of.is_some_and(|a| PENDING.contains(&a))
}

fn lookup<'a>(root: &'a Table, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut v = root.get(parts.next()?)?;
    for p in parts {
        v = v.as_table()?.get(p)?;
    }
    Some(v)
}

/// The pending keys written in `raw`, dotted as written, in key table
/// order; a table is named only when nothing under it is.
pub fn written(raw: &Table) -> Vec<String> {
    let found: Vec<String> = all()
        .filter(|k| is_pending(k))
        .map(Key::dotted)
        .filter(|d| lookup(raw, d).is_some())
        .collect();
    found
        .iter()
        .filter(|d| {
            !found.iter().any(|o| {
                o.len() > d.len() && o.starts_with(d.as_str()) && o[d.len()..].starts_with('.')
            })
        })
        .cloned()
        .collect()
}

/// The warning for the config file at `path` when it writes a pending key
/// (nothing when it cannot be read: the loader has said so already).
pub fn warning(path: &Path) -> Option<String> {
    let raw: Table = std::fs::read_to_string(path).ok()?.parse().ok()?;
    let keys = written(&raw);
    if keys.is_empty() {
        return None;
    }
    Some(format!(
        "{}: {} {} accepted (the Python tool 0.3.14 reads {}) but {} nothing in this build yet: the memory defenses they configure are not implemented (issue 15)",
        path.display(),
        keys.join(", "),
        if keys.len() == 1 { "is" } else { "are" },
        if keys.len() == 1 { "it" } else { "them" },
        if keys.len() == 1 { "does" } else { "do" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_names_leaves_aliases_and_bare_tables() {
        let t = |s: &str| s.parse::<Table>().unwrap_or_default();
        assert!(written(&t("[monitor.host_health.memory]\navail_min_mb = 1\n")).is_empty());
        assert_eq!(
            written(&t(
                "[monitor.host_health]\nin_round_mem_terminate = false\n[monitor.host_health.brake]\nmemory_high = true\n"
            )),
            [
                "monitor.host_health.brake.memory_high",
                "monitor.host_health.in_round_mem_terminate"
            ]
        );
        assert_eq!(
            written(&t("[monitor.host_health.brake]\n")),
            ["monitor.host_health.brake"]
        );
    }
}
