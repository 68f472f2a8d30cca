//! The keys of every section and the machinery that checks them: which keys
//! each table allows (an unknown key is an error naming it and the allowed
//! ones), dotted key names, sub-table lookup, and reading an optional or a
//! required key. `docs/configuration.md` must document every key listed
//! here (a test checks it).

use super::{got, Loader, R};
use toml::{Table, Value};

/// Keys allowed at the top level.
pub(super) const TOP_KEYS: &[&str] = &[
    "schema_version",
    "agent",
    "runtime",
    "prompt",
    "vcs",
    "monitor",
    "phases",
    "plugins",
    "schedule",
    "goal",
];
pub(super) const AGENT_KEYS: &[&str] = &[
    "command",
    "prompt_arg_template",
    "prompt_delivery",
    "name",
    "env",
    "exec_prefix",
    "terminal_marker",
    "sigterm_grace_s",
];
pub(super) const RUNTIME_KEYS: &[&str] = &[
    "work_dir",
    "log_dir",
    "round_budget_s",
    "round_timeout_s",
    "restart_delay_s",
    "disable_pre_round_hooks",
    "round_log_retention",
    "narrative_file",
    "transient_error_action",
    "max_rounds",
    "stop_file",
    "substrate_fingerprint_paths",
    "fresh_eyes_every_n",
    "dry_run",
    "max_grace_after_result_s",
    "grace_kill_ignore_patterns",
    "metrics_interval_s",
];
pub(super) const PROMPT_KEYS: &[&str] = &[
    "file",
    "files",
    "inject_context",
    "context_injection_mode",
    "concat_separator",
    "strip_yaml_frontmatter",
];
pub(super) const VCS_KEYS: &[&str] = &["dirty_action", "stash_idempotency_s"];
pub(super) const MONITOR_KEYS: &[&str] = &[
    "auth_fail_patterns",
    "auth_fail_hint",
    "auto_stop_on",
    "remote_failure_tolerance_s",
    "anomaly_repetitive_window",
    "anomaly_repetitive_threshold",
    "round_progress_interval_s",
    "supervisor_stale_threshold_s",
    "host_health",
];
pub(super) const PHASE_KEYS: &[&str] = &[
    "round_budget_s",
    "round_timeout_s",
    "disable_pre_round_hooks",
    "prompt",
    "agent",
    "runtime",
    "schedule",
];
pub(super) const PHASE_RUNTIME_KEYS: &[&str] = &["round_budget_s", "round_timeout_s"];
pub(super) const SCHEDULE_KEYS: &[&str] = &["timezone", "run_windows", "pause_windows"];
pub(super) const GOAL_KEYS: &[&str] = &["ledger", "checks"];
pub(super) const GOAL_CHECK_KEYS: &[&str] = &["name", "cmd", "cwd", "timeout_s"];
pub(super) const HH_SUBTABLES: &[&str] = &["memory", "disk", "pressure", "brake"];
pub(super) const HH_MEMORY_KEYS: &[&str] =
    &["avail_min_mb", "free_low_mb", "swap_out_noise_floor_mb"];
pub(super) const HH_DISK_KEYS: &[&str] = &[
    "warning_pct",
    "critical_pct",
    "growth_window_s",
    "disk_growth_pct_per_hr_warning",
    "inode_growth_pct_per_hr_warning",
];
pub(super) const HH_PRESSURE_KEYS: &[&str] = &[
    "full_avg10_critical",
    "some_avg10_warning",
    "critical_consecutive_samples",
    "in_round_terminate",
    "cgroup_growth_rate_warning_mb_per_min",
    "in_round_nudge",
];
pub(super) const HH_BRAKE_KEYS: &[&str] = &[
    "memory_high",
    "memory_high_step_pct",
    "warning_consecutive_samples",
];
/// The 0.2 flat `[monitor.host_health]` keys and their 0.3 homes.
pub(super) const HH_FLAT: &[(&str, &str, &str)] = &[
    ("mem_avail_min_mb", "memory", "avail_min_mb"),
    ("mem_free_low_mb", "memory", "free_low_mb"),
    (
        "swap_sout_noise_floor_mb",
        "memory",
        "swap_out_noise_floor_mb",
    ),
    ("disk_warning_pct", "disk", "warning_pct"),
    ("disk_critical_pct", "disk", "critical_pct"),
    ("psi_full_avg10_critical", "pressure", "full_avg10_critical"),
    ("psi_some_avg10_warning", "pressure", "some_avg10_warning"),
    (
        "mem_critical_consecutive_samples",
        "pressure",
        "critical_consecutive_samples",
    ),
    ("in_round_mem_terminate", "pressure", "in_round_terminate"),
];

/// Every `[monitor.host_health]` key in its 0.3 form (`pressure.in_round_nudge`).
pub fn host_health_keys() -> Vec<String> {
    [
        ("memory", HH_MEMORY_KEYS),
        ("disk", HH_DISK_KEYS),
        ("pressure", HH_PRESSURE_KEYS),
        ("brake", HH_BRAKE_KEYS),
    ]
    .iter()
    .flat_map(|(sub, keys)| keys.iter().map(move |k| format!("{sub}.{k}")))
    .collect()
}

/// `prefix.key`, or `key` at the top level.
pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Loader {
    pub(super) fn check_keys(&self, t: &Table, prefix: &str, allowed: &[&str]) -> R<()> {
        for key in t.keys() {
            if !allowed.contains(&key.as_str()) {
                let what = if prefix.is_empty() {
                    "unknown top-level key".to_string()
                } else {
                    format!("unknown key in [{prefix}]")
                };
                return Err(self.err(
                    &join(prefix, key),
                    format!("{what}; allowed: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn table<'a>(&self, t: &'a Table, prefix: &str, key: &str) -> R<Option<&'a Table>> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Table(sub)) => Ok(Some(sub)),
            Some(v) => Err(self.err(
                &join(prefix, key),
                format!("must be a table ([{}]), got {}", join(prefix, key), got(v)),
            )),
        }
    }

    /// `prefix.key` read with `read`, or None when the key is absent.
    pub(super) fn opt<T>(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
        read: impl FnOnce(&Self, &Value, &str) -> R<T>,
    ) -> R<Option<T>> {
        match t.get(key) {
            Some(v) => read(self, v, &join(prefix, key)).map(Some),
            None => Ok(None),
        }
    }

    /// `prefix.key` read with `read`; when absent, the error "required" and
    /// what to write (`hint`).
    pub(super) fn req<T>(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
        read: impl FnOnce(&Self, &Value, &str) -> R<T>,
        hint: &str,
    ) -> R<T> {
        match t.get(key) {
            Some(v) => read(self, v, &join(prefix, key)),
            None => Err(self.err(&join(prefix, key), format!("required {hint}"))),
        }
    }

    /// `key` set together with `other`, its name in the other schema version.
    pub(super) fn both_names(&self, key: &str, other: &str) -> super::ConfigError {
        self.err(
            key,
            format!("set together with {other}; they are the same setting (0.2 and 0.3 names), keep one"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        let mut keys: Vec<&str> = Vec::new();
        for set in [
            TOP_KEYS,
            AGENT_KEYS,
            RUNTIME_KEYS,
            PROMPT_KEYS,
            VCS_KEYS,
            MONITOR_KEYS,
            PHASE_KEYS,
            SCHEDULE_KEYS,
            GOAL_KEYS,
            HH_MEMORY_KEYS,
            HH_DISK_KEYS,
            HH_PRESSURE_KEYS,
            HH_BRAKE_KEYS,
        ] {
            keys.extend(set);
        }
        keys.extend(HH_FLAT.iter().map(|(flat, _, _)| *flat));
        for k in keys {
            assert!(
                doc.contains(&format!("`{k}`"))
                    || doc.contains(&format!(".{k}`"))
                    || doc.contains(&format!("`{k}."))
                    || doc.contains(&format!("[{k}]"))
                    || doc.contains(&format!(".{k}]")),
                "docs/configuration.md does not document '{k}'"
            );
        }
    }
}
