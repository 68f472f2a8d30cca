//! The event log: the envelope (`ts`, `event`, then the payload in upstream
//! order), the registry of every kind we emit, and the append that writes one
//! whole line with one `write(2)` so concurrent writers never interleave.

use crate::state::layout::Layout;
use crate::state::pyjson;
use chrono::Utc;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::PathBuf;

/// Every built-in event kind of the Python tool 0.3.14
/// (`agent_runner.events._BUILTIN_KINDS`, sorted): what its `events` verb is
/// asked for when a fleet host still runs it (its `--kind` is mandatory).
pub const PYTHON_0_3_KINDS: &[&str] = &[
    "agent_auth_error_detected",
    "agent_exit",
    "agent_network_blip",
    "agent_self_terminated",
    "agent_spawn",
    "agent_usage_recorded",
    "anomaly_repetitive_tool",
    "cgroup_growth_rate_warning",
    "config_broken",
    "config_migrated",
    "crash_loop",
    "detector_error",
    "dirty_auto_committed",
    "dirty_check_failed",
    "dirty_commit_failed",
    "dirty_detected",
    "fresh_eyes_round_triggered",
    "goal_assessment",
    "goal_check",
    "hook_failed",
    "host_cgroup_memory_limit",
    "max_rounds_reached",
    "mem_loop",
    "mem_loop_persistent",
    "mem_pressure_deferred_to_cgroup",
    "memory_high_engaged",
    "memory_high_released",
    "memory_high_write_failed",
    "monitor_alert_emitted",
    "monitor_auto_stop_failed",
    "monitor_auto_stop_triggered",
    "monitor_remote_blip",
    "monitor_remote_giveup",
    "monitor_started",
    "orphan_idempotent_skip",
    "orphan_stash_failed",
    "orphan_stashed",
    "package_upgraded",
    "round_cgroup_memory",
    "round_container_orphan_risk",
    "round_deferred",
    "round_end",
    "round_grace_extended",
    "round_grace_kill",
    "round_logs_prune_deferred",
    "round_mem_critical_sample",
    "round_mem_terminated",
    "round_oom_killed",
    "round_progress",
    "round_resumed",
    "round_start",
    "round_substrate_after",
    "round_substrate_before",
    "round_supervisor_wedged",
    "round_timeout_kill",
    "schedule_paused",
    "schedule_phase_skipped",
    "schedule_resumed",
    "service_upgrade_rollback_failed",
    "service_upgrade_rolled_back",
    "service_upgraded",
    "session_resumed",
    "smoke_check_failed",
    "stale_index_lock_cleared",
    "stalled_no_progress",
    "status_recovered",
    "stop_file_detected",
    "transient_error_backoff_capped",
    "transient_error_detected",
    "transient_error_recovered",
    "upgrade_start_failed",
];

macro_rules! kinds {
    ($( $variant:ident => $name:literal [$($field:literal),*] ),* $(,)?) => {
        /// Every event kind this tool can emit. A kind not listed here cannot be
        /// emitted: [`EventLog::emit`] takes a `Kind`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind { $($variant),* }

        impl Kind {
            /// All kinds, in registry order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];
            /// The wire name (`round_start`, …).
            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $name),* }
            }
            /// The payload fields upstream writes, in upstream order (optional
            /// trailing fields included). Emitters must follow this order.
            pub fn fields(self) -> &'static [&'static str] {
                match self { $(Kind::$variant => &[$($field),*]),* }
            }
            /// Look a wire name up.
            pub fn from_name(s: &str) -> Option<Kind> {
                match s { $($name => Some(Kind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    // ---- round process (spec §5.2) ----
    SmokeCheckFailed => "smoke_check_failed" ["reason"],
    StatusRecovered => "status_recovered" ["reason"],
    HookFailed => "hook_failed" ["hook_name", "hook_kind", "error_type", "error_message", "traceback"],
    RoundStart => "round_start" ["round_num", "phase", "config_digest", "config_changed", "config_prompt_files", "config_check_names", "config_vcs_dirty_action", "config_prompt_delivery"],
    AgentSpawn => "agent_spawn" ["round_num", "timeout_s"],
    RoundProgress => "round_progress" ["round_num", "log_size_kb", "last_write_age_s", "wall_age_s"],
    RoundGraceExtended => "round_grace_extended" ["round_num", "grace_s", "live_children", "ignored_children"],
    AgentExit => "agent_exit" ["round_num", "exit_code", "duration_s", "timed_out", "exit_cause"],
    AgentNetworkBlip => "agent_network_blip" ["round_num", "phase", "matched", "round_duration_s", "exit_code", "timed_out"],
    DirtyDetected => "dirty_detected" ["round_num", "files"],
    DirtyCheckFailed => "dirty_check_failed" ["round_num", "reason"],
    OrphanStashed => "orphan_stashed" ["round_num", "ref", "reason"],
    OrphanIdempotentSkip => "orphan_idempotent_skip" ["round_num", "ref", "reason"],
    OrphanStashFailed => "orphan_stash_failed" ["round_num", "phase", "reason"],
    DirtyAutoCommitted => "dirty_auto_committed" ["round_num", "files", "ref"],
    DirtyCommitFailed => "dirty_commit_failed" ["round_num", "phase", "reason"],
    StaleIndexLockCleared => "stale_index_lock_cleared" ["lock_path", "round_num"],
    RoundGraceKill => "round_grace_kill" ["round_num", "grace_s", "live_children"],
    RoundTimeoutKill => "round_timeout_kill" ["round_num", "reason"],
    RoundCancelled => "round_cancelled" ["round_num", "reason"],
    RoundEnd => "round_end" ["round_num"],
    TransientErrorDetected => "transient_error_detected" ["classification", "agent", "reset_at_epoch", "round_num", "raw", "phase"],
    AgentUsageRecorded => "agent_usage_recorded" ["agent", "model", "round_num", "input_tokens", "output_tokens", "cached_tokens", "cost_usd", "duration_ms", "models_breakdown", "cache_creation_tokens", "tool_call_count", "phase", "success"],
    AgentAuthErrorDetected => "agent_auth_error_detected" ["round_num", "agent", "raw"],
    // ours: the agent waits for a human (login, browser sign-in, non-root user, a setting)
    AgentNeedsInput => "agent_needs_input" ["round_num", "agent", "need", "waiting_for", "remedy", "permanent", "raw"],
    AnomalyRepetitiveTool => "anomaly_repetitive_tool" ["round_num", "tool_name", "target", "count", "window"],
    RoundEscapedProcessesKilled => "round_escaped_processes_killed" ["round_num", "count", "processes"],
    RoundContainerOrphanRisk => "round_container_orphan_risk" ["round_num", "runtime", "container_id", "stop_ok"],
    GoalCheck => "goal_check" ["name", "satisfied", "value", "timed_out", "skipped", "error"],
    GoalAssessment => "goal_assessment" ["observation", "question", "confidence"],
    // ---- serve process ----
    AgentSelfTerminated => "agent_self_terminated" ["reason"],
    TransientErrorBackoffCapped => "transient_error_backoff_capped" ["classification", "agent", "requested_sleep_s", "applied_sleep_s", "original_reset_at_epoch", "applied_reset_at_epoch", "consecutive_count", "capped_by_absolute_max"],
    TransientErrorRecovered => "transient_error_recovered" ["classification", "agent", "throttled_for_s"],
    StopFileDetected => "stop_file_detected" ["stop_file", "content", "rounds_completed"],
    MaxRoundsReached => "max_rounds_reached" ["rounds_completed", "max_rounds"],
    RoundSubstrateBefore => "round_substrate_before" ["round_num", "git_head", "paths_hash"],
    FreshEyesRoundTriggered => "fresh_eyes_round_triggered" ["round_num", "every_n"],
    SessionResumed => "session_resumed" ["session_id", "phase"],
    RoundSubstrateAfter => "round_substrate_after" ["round_num", "git_head", "paths_hash"],
    ConfigBroken => "config_broken" ["reason"],
    CrashLoop => "crash_loop" ["consecutive", "exit_code", "reason"],
    StalledNoProgress => "stalled_no_progress" ["consecutive", "exit_code", "reason"],
    MemLoop => "mem_loop" ["consecutive", "exit_code", "reason"],
    MemLoopPersistent => "mem_loop_persistent" ["consecutive", "exit_code", "reason"],
    RoundSupervisorWedged => "round_supervisor_wedged" ["pid", "timeout_s", "log_path"],
    RoundLogsPruneDeferred => "round_logs_prune_deferred" ["directory", "existing", "keep", "would_delete", "hint"],
    ServeStopping => "serve_stopping" ["reason", "signal"],
    SchedulePaused => "schedule_paused" ["active_window", "resume_at", "timezone", "phase"],
    ScheduleResumed => "schedule_resumed" ["paused_for_s"],
    SchedulePhaseSkipped => "schedule_phase_skipped" ["round_num", "skipped", "chosen", "active_window"],
    // ---- memory defenses: serve's gate and boot probe, the round's floor ----
    RoundDeferred => "round_deferred" ["severity", "signal", "message"],
    RoundResumed => "round_resumed" ["deferred_for_s"],
    HostCgroupMemoryLimit => "host_cgroup_memory_limit" ["memory_max", "memory_swap_max", "cgroup_path", "defer", "swap_total_bytes", "swap_cap_pct", "memory_high", "advisory", "cgroup_delegated"],
    RoundMemCriticalSample => "round_mem_critical_sample" ["round_num", "consecutive", "context"],
    RoundMemTerminated => "round_mem_terminated" ["pid", "severity", "signal", "message", "consecutive", "context", "tier", "round_num"],
    MemPressureDeferredToCgroup => "mem_pressure_deferred_to_cgroup" ["pid", "signal", "message"],
    CgroupGrowthRateWarning => "cgroup_growth_rate_warning" ["round_num", "rate_mb_per_min", "threshold_mb_per_min", "source", "context"],
    MemoryHighEngaged => "memory_high_engaged" ["round_num", "previous", "written", "memory_current", "write_ms", "signal", "context", "rate_mb_per_min"],
    MemoryHighReleased => "memory_high_released" ["round_num", "reason"],
    MemoryHighWriteFailed => "memory_high_write_failed" ["round_num", "errno"],
    RoundCgroupMemory => "round_cgroup_memory" ["round_num", "memory_current_peak", "memory_swap_current_peak", "events_high_delta", "events_max_delta", "events_oom_delta", "events_oom_kill_delta", "bounding_cgroup_path", "io_psi_some_avg10", "io_psi_full_avg10", "psi_full_total"],
    RoundOomKilled => "round_oom_killed" ["round_num", "log_path", "log_bytes", "events_oom_kill_delta", "oom_kill_delta", "partial_log"],
    // ---- monitor process ----
    MonitorStarted => "monitor_started" ["host", "interval_s", "log_dir", "mode"],
    MonitorAlertEmitted => "monitor_alert_emitted" ["detector", "severity", "message", "auto_action", "host"],
    MonitorAlertCleared => "monitor_alert_cleared" ["detector", "host"],
    MonitorAutoStopTriggered => "monitor_auto_stop_triggered" ["detector", "host"],
    MonitorAutoStopFailed => "monitor_auto_stop_failed" ["detector", "host", "error"],
    MonitorRemoteBlip => "monitor_remote_blip" ["host", "error", "attempt", "elapsed_s", "cap_s", "interval_s", "next_sleep_s", "resume_since"],
    MonitorRemoteGiveup => "monitor_remote_giveup" ["host", "total_attempts", "total_elapsed_s", "cap_s", "final_error", "resume_since"],
    DetectorError => "detector_error" ["detector", "error"],
    NotifyFailed => "notify_failed" ["sink", "format", "error", "attempts", "notifications", "host", "detectors"],
}

/// Build a payload map in the order written: `fields! { "round_num" => 1, … }`.
#[macro_export]
macro_rules! fields {
    ($($k:literal => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = ::serde_json::Map::new();
        $( m.insert($k.to_string(), ::serde_json::json!($v)); )*
        m
    }};
}

/// Appends events to `<log_dir>/events-YYYY-MM.jsonl`.
#[derive(Debug, Clone)]
pub struct EventLog {
    layout: Layout,
}

impl EventLog {
    pub fn new(layout: Layout) -> Self {
        Self { layout }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Render one event line (with trailing newline) at the current time.
    pub fn render(kind: Kind, payload: Map<String, Value>) -> (chrono::DateTime<Utc>, String) {
        let now = Utc::now();
        let mut m = Map::with_capacity(payload.len() + 2);
        m.insert("ts".into(), Value::String(crate::timefmt::iso_ms(now)));
        m.insert("event".into(), Value::String(kind.as_str().into()));
        debug_assert!(
            payload.keys().all(|k| kind.fields().contains(&k.as_str())),
            "field not registered for {}: {:?}",
            kind.as_str(),
            payload.keys().collect::<Vec<_>>()
        );
        m.extend(payload);
        let mut line = pyjson::to_line(&Value::Object(m));
        line.push('\n');
        (now, line)
    }

    /// Append one event. Errors are returned, never panicked; callers that must
    /// not fail on a full disk log them.
    pub fn emit(&self, kind: Kind, payload: Map<String, Value>) -> std::io::Result<PathBuf> {
        let (now, line) = Self::render(kind, payload);
        let path = self.layout.events_file(now);
        append_line(&path, line.as_bytes())?;
        tracing::debug!(kind = kind.as_str(), "event");
        Ok(path)
    }

    /// Like [`emit`](Self::emit) but logs a failure instead of returning it.
    pub fn emit_or_warn(&self, kind: Kind, payload: Map<String, Value>) {
        if let Err(e) = self.emit(kind, payload) {
            tracing::warn!("could not write event {}: {e}", kind.as_str());
        }
    }
}

/// Append a whole line with a single `write` on an `O_APPEND` descriptor,
/// creating the file 0600.
///
/// A line always starts a line of its own: if the file does not end with a
/// newline (a write torn by a full disk or a crash left half an event), a
/// newline goes first, in the same `write`. The torn event is lost, but it no
/// longer takes this one with it; readers skip the torn line (and, should a
/// concurrent append slip in between the check and the write, an empty one).
pub fn append_line(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut f = crate::state::layout::open_append(path)?;
    let len = f.metadata()?.len();
    let mut last = [b'\n'];
    if len > 0 {
        f.read_exact_at(&mut last, len - 1)?;
    }
    if last[0] == b'\n' {
        return f.write_all(bytes);
    }
    let mut fresh = Vec::with_capacity(bytes.len() + 1);
    fresh.push(b'\n');
    fresh.extend_from_slice(bytes);
    f.write_all(&fresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            assert!(seen.insert(k.as_str()), "duplicate kind {}", k.as_str());
            assert_eq!(Kind::from_name(k.as_str()), Some(*k));
        }
    }

    #[test]
    fn envelope_order() {
        let (_, line) = EventLog::render(
            Kind::AgentExit,
            crate::fields! {"round_num" => 1, "exit_code" => 0, "duration_s" => 0.5, "timed_out" => false, "exit_cause" => "clean"},
        );
        assert!(line.starts_with(r#"{"ts": ""#));
        assert!(line.contains(r#"Z", "event": "agent_exit", "round_num": 1, "exit_code": 0, "duration_s": 0.5, "timed_out": false, "exit_cause": "clean"}"#), "{line}");
        assert!(line.ends_with("}\n"));
    }

    #[test]
    fn an_append_after_a_torn_line_starts_a_fresh_line() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("events-2026-11.jsonl");
        std::fs::write(&p, "{\"a\": 1}\n{\"torn\": ").unwrap_or_else(|e| panic!("{e}"));
        append_line(&p, b"{\"b\": 2}\n").unwrap_or_else(|e| panic!("{e}"));
        append_line(&p, b"{\"c\": 3}\n").unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert_eq!(
            text, "{\"a\": 1}\n{\"torn\": \n{\"b\": 2}\n{\"c\": 3}\n",
            "a whole line after a torn one gets its own line; no blank lines otherwise"
        );
        // a new file, and an empty one, get no leading newline
        let q = d.path().join("new.jsonl");
        append_line(&q, b"{}\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read_to_string(&q).unwrap_or_default(), "{}\n");
    }
}

/// The last `n` complete lines of `path`, reading backwards in blocks (cost
/// does not grow with the file's size). A torn last line (no newline yet) is
/// left out. Missing file → empty.
pub fn tail_lines(path: &std::path::Path, n: usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let Ok(len) = f.seek(SeekFrom::End(0)) else {
        return Vec::new();
    };
    const BLOCK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf: Vec<u8> = Vec::new();
    while end > 0 && buf.iter().filter(|b| **b == b'\n').count() <= n {
        let start = end.saturating_sub(BLOCK);
        let mut chunk = vec![0u8; (end - start) as usize];
        if f.seek(SeekFrom::Start(start)).is_err() || f.read_exact(&mut chunk).is_err() {
            break;
        }
        chunk.extend_from_slice(&buf);
        buf = chunk;
        end = start;
    }
    // Drop a torn final line.
    if let Some(pos) = buf.iter().rposition(|b| *b == b'\n') {
        buf.truncate(pos + 1);
    } else {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect();
    // The first line may be partial if we stopped mid-file.
    if end > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(n);
    lines.split_off(skip)
}

#[cfg(test)]
mod tail_tests {
    #[test]
    fn tail_lines_skips_torn_and_reads_backwards() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("e.jsonl");
        let mut s = String::new();
        for i in 0..20000 {
            s.push_str(&format!("{{\"i\": {i}}}\n"));
        }
        s.push_str("{\"torn\": ");
        std::fs::write(&p, s).unwrap_or_default();
        let t = super::tail_lines(&p, 3);
        assert_eq!(
            t,
            vec!["{\"i\": 19997}", "{\"i\": 19998}", "{\"i\": 19999}"]
        );
        assert!(super::tail_lines(&d.path().join("none"), 3).is_empty());
    }
}
