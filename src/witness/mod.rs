//! Layer 3, the witness: pure detectors over a [`window::Window`], per-episode
//! de-duplication, and the local monitor with its sinks (text/JSON lines,
//! narration, event stream, HTTP page).
//!
//! Detectors never do I/O; the monitor loop gathers the window (locally from
//! the log_dir, later from a remote `probe`) and acts on alerts.

pub mod dedup;
pub mod detectors;
pub mod http;
pub mod monitor;
pub mod narrate;
pub mod window;

#[cfg(test)]
mod tests;

/// One-line JSON as Python's `json.dumps` default writes it: `", "`/`": "`
/// separators and every non-ASCII character escaped as `\uXXXX`.
pub fn ascii_json_line(v: &serde_json::Value) -> String {
    let s = crate::state::pyjson::to_line(v);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// A config with upstream's defaults for every field, rooted at `work_dir` and
/// logging to `log_dir`. For tests and for building a window over a bare
/// log_dir; real runs load `agent-runner.toml` with [`crate::config::load`].
#[doc(hidden)]
pub fn default_config(
    work_dir: &std::path::Path,
    log_dir: &std::path::Path,
) -> crate::config::Config {
    use crate::config::*;
    Config {
        path: work_dir.join("agent-runner.toml"),
        schema_version: Some(SCHEMA_VERSION),
        project: work_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "default".into()),
        agent: AgentConfig {
            command: vec!["claude".into()],
            prompt_arg_template: vec!["-p".into(), "{prompt}".into()],
            prompt_delivery: PromptDelivery::Argv,
            name: None,
            env: Vec::new(),
            exec_prefix: Vec::new(),
            terminal_marker: "\"type\":\"result\"".into(),
            sigterm_grace_s: 10,
        },
        runtime: RuntimeConfig {
            work_dir: work_dir.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            round_budget_s: 1800,
            restart_delay_s: 3,
            disable_pre_round_hooks: false,
            round_log_retention: 0,
            narrative_file: None,
            transient_error_action: TransientErrorAction::BackOff,
            max_rounds: None,
            stop_file: None,
            substrate_fingerprint_paths: Vec::new(),
            fresh_eyes_every_n: None,
            dry_run: false,
            max_grace_after_result_s: 60,
            grace_kill_ignore_patterns: Vec::new(),
            metrics_interval_s: 0,
        },
        prompt: PromptConfig {
            file: Some(work_dir.join("prompts/main.md")),
            files: Vec::new(),
            inject_context: true,
            context_injection_mode: ContextMode::Prepend,
            concat_separator: "\n\n".into(),
            strip_yaml_frontmatter: true,
        },
        vcs: VcsConfig {
            dirty_action: DirtyAction::Stash,
            stash_idempotency_s: 60,
        },
        monitor: MonitorConfig {
            auth_fail_patterns: regex::Regex::new(DEFAULT_AUTH_FAIL_PATTERN)
                .into_iter()
                .collect(),
            auth_fail_hint: String::new(),
            auto_stop_on: vec!["oauth_fail".into(), "disk_critical".into()],
            remote_failure_tolerance_s: 90,
            anomaly_repetitive_window: 0,
            anomaly_repetitive_threshold: 0,
            round_progress_interval_s: 0,
            supervisor_stale_threshold_s: None,
            host_health: HostHealth {
                memory: MemoryHealth {
                    avail_min_mb: 200,
                    free_low_mb: 16,
                    swap_out_noise_floor_mb: 32,
                },
                disk: DiskHealth {
                    warning_pct: 90.0,
                    critical_pct: 95.0,
                    growth_window_s: 1800,
                    disk_growth_pct_per_hr_warning: 5.0,
                    inode_growth_pct_per_hr_warning: 5.0,
                },
                pressure: PressureHealth {
                    full_avg10_critical: 60.0,
                    some_avg10_warning: 5.0,
                    critical_consecutive_samples: 3,
                    in_round_terminate: true,
                    cgroup_growth_rate_warning_mb_per_min: 512.0,
                    in_round_nudge: false,
                },
                brake: BrakeHealth {
                    memory_high: false,
                    memory_high_step_pct: 0,
                    warning_consecutive_samples: 3,
                },
            },
        },
        phases: PhasesConfig::default(),
        plugins: PluginsConfig::default(),
        schedule: ScheduleConfig::default(),
    }
}
