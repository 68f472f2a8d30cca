//! The key table: `[monitor]` and `[monitor.host_health]` (the 0.3
//! sub-tables and the 0.2 flat keys).

use super::def::{alias, lit, text};
use super::Key;
use super::Shown::Test;

const HH: &str = "tests/it/config_monitor.rs::host_health_thresholds_come_from_the_config";
const OLD_NAMES: &str = "tests/it/config_effects.rs::old_names_load_like_their_0_3_names";
const AUTH: &str = "tests/it/config_monitor.rs::auth_fail_patterns_and_hint_shape_the_oauth_alert";
const REPEAT: &str = "tests/it/config_monitor.rs::anomaly_repetitive_keys_arm_the_repetition_event";
const EVERY_HH: &str = "tests/it/host_health_keys.rs::every_host_health_key_changes_a_verdict";
const STREAK: &str =
    "tests/it/memory_floor.rs::a_critical_streak_terminates_a_live_agent_its_group_and_its_escapee";
const BRAKE: &str =
    "tests/it/memory_cgroup.rs::the_brake_engages_on_sustained_warning_and_releases_when_healthy";

#[rustfmt::skip]
pub(super) const KEYS: &[Key] = &[
    // ---- [monitor] ----
    text("monitor", "auth_fail_patterns", "list of regex", "one pattern for OAuth / 401 / API-key / expired-session messages",
        "the `oauth_fail` detector matches them, case-insensitively, in the tails of short failed rounds; `[]` means the default",
        Test(AUTH)),
    lit("monitor", "auth_fail_hint", "string", "\"\"", "`\"\"`",
        "shown with an `oauth_fail` alert (its `hint`); presets set one per CLI",
        Test(AUTH)),
    lit("monitor", "auto_stop_on", "list", "[\"oauth_fail\", \"disk_critical\"]", "`[\"oauth_fail\", \"disk_critical\"]`",
        "detectors allowed to stop the service; `[]` = alert only; names starting with `goal` are refused",
        Test("tests/it/monitor_local.rs::auto_stop_is_gated_by_auto_stop_on")),
    lit("monitor", "remote_failure_tolerance_s", "int 0..3600", "90", "`90`",
        "how long SSH failures to a watched host count as blips before `host_unreachable` (and, for one host, the give-up)",
        Test("tests/it/fleet.rs::exit_on_giveup_records_the_giveup_and_exits_1")),
    lit("monitor", "anomaly_repetitive_window", "int ≥ 0", "0", "`0`",
        "the claude parser's repeated-tool-call window, in tool calls (0 = off)",
        Test(REPEAT)),
    lit("monitor", "anomaly_repetitive_threshold", "int ≥ 0", "0", "`0`",
        "how many identical calls in the window make an `anomaly_repetitive_tool` event (0 = off); must be ≤ the window when both are set",
        Test(REPEAT)),
    lit("monitor", "round_progress_interval_s", "int ≥ 0", "0", "`0`",
        "period of the `round_progress` heartbeat event during a round (0 = off)",
        Test("tests/it/config_monitor.rs::round_progress_interval_s_sends_heartbeats")),
    text("monitor", "supervisor_stale_threshold_s", "int ≥ 0", "`round_budget_s × 1.5`",
        "the `supervisor_stale` detector fires when no event arrived for this long; 0 turns it off",
        Test("tests/it/monitor_local.rs::stale_supervisor_is_not_silenced_by_the_monitors_own_events")),
    text("monitor", "host_health", "table", "all defaults",
        "host thresholds, in the four 0.3 sub-tables or as 0.2 flat keys (different keys may come from either style; the same setting in both is an error)",
        Test(HH)),
    // ---- [monitor.host_health] ----
    text("monitor.host_health", "memory", "table", "all defaults", "memory thresholds", Test(HH)),
    text("monitor.host_health", "disk", "table", "all defaults", "disk thresholds", Test(HH)),
    text("monitor.host_health", "pressure", "table", "all defaults", "PSI thresholds and the mid-round memory defenses", Test(HH)),
    text("monitor.host_health", "brake", "table", "all defaults", "the `memory.high` soft brake (off by default)", Test(BRAKE)),
    lit("monitor.host_health.memory", "avail_min_mb", "int ≥ 0", "200", "`200`",
        "`mem_pressure` (combined low) when MemAvailable is below this and MemFree below `free_low_mb`",
        Test(HH)),
    lit("monitor.host_health.memory", "free_low_mb", "int > 0", "16", "`16`",
        "the MemFree floor of the swap-out and combined-low rungs of `mem_pressure`",
        Test(HH)),
    lit("monitor.host_health.memory", "swap_out_noise_floor_mb", "int > 0", "32", "`32`",
        "swap-out between two samples above this is memory pressure: a warning, critical with MemFree below `free_low_mb`",
        Test(HH)),
    lit("monitor.host_health.disk", "warning_pct", "pct", "90.0", "`90.0`",
        "`disk_warning` at this use of the log_dir's disk", Test(HH)),
    lit("monitor.host_health.disk", "critical_pct", "pct", "95.0", "`95.0`",
        "`disk_critical` at this use (and an auto-stop when allowed)", Test(HH)),
    lit("monitor.host_health.disk", "growth_window_s", "int > 0", "1800", "`1800`",
        "the window `disk_growth` measures growth over", Test(HH)),
    lit("monitor.host_health.disk", "disk_growth_pct_per_hr_warning", "number > 0", "5.0", "`5.0`",
        "`disk_growth` when disk use grows this many points per hour", Test(HH)),
    lit("monitor.host_health.disk", "inode_growth_pct_per_hr_warning", "number > 0", "5.0", "`5.0`",
        "`disk_growth` when inode use grows this many points per hour", Test(HH)),
    lit("monitor.host_health.pressure", "full_avg10_critical", "pct > 0", "60.0", "`60.0`",
        "critical `mem_pressure` at this PSI `full avg10`", Test(HH)),
    lit("monitor.host_health.pressure", "some_avg10_warning", "pct > 0", "5.0", "`5.0`",
        "warning `mem_pressure` at this PSI `some avg10`", Test(HH)),
    lit("monitor.host_health.pressure", "critical_consecutive_samples", "int > 0", "3", "`3`",
        "critical 10 s ticks in a row that end a round for memory (`round_mem_terminated`; 3 ≈ 30 s); at most twice this many `round_mem_critical_sample` events per streak",
        Test(STREAK)),
    lit("monitor.host_health.pressure", "in_round_terminate", "bool", "true", "`true`",
        "`false`: the mid-round floor only counts and records; it never ends a round nor defers to the cgroup",
        Test("tests/it/memory_floor.rs::in_round_terminate_false_counts_only_and_caps_the_samples")),
    lit("monitor.host_health.pressure", "cgroup_growth_rate_warning_mb_per_min", "number > 0", "512.0", "`512.0`",
        "`cgroup_growth_rate_warning` (once per crossing) when the round's memory (the bounding cgroup's `memory.current`, else the RSS of the agent's process tree) grows faster than this many MB per minute",
        Test("tests/it/memory_floor.rs::the_growth_of_the_agents_tree_rss_is_a_warning_once")),
    lit("monitor.host_health.pressure", "in_round_nudge", "bool", "false", "`false`",
        "`true`: a bare SIGTERM to the agent at the first critical tick of a streak that would end it (`round_mem_terminated` with `tier = \"nudge\"`)",
        Test("tests/it/memory_floor.rs::the_nudge_sends_a_bare_sigterm_on_the_first_critical_tick")),
    lit("monitor.host_health.brake", "memory_high", "bool", "false", "`false`",
        "arm the soft brake: under sustained warning pressure serve lowers its cgroup leaf's `memory.high` and restores it when healthy and at round end; only where the leaf is delegated, otherwise inert (said at boot)",
        Test(BRAKE)),
    lit("monitor.host_health.brake", "memory_high_step_pct", "int 0..50", "0", "`0`",
        "the brake writes `memory.high` = `memory.current` × (1 − pct/100) (0 = at usage); never below 64 MiB",
        Test(BRAKE)),
    lit("monitor.host_health.brake", "warning_consecutive_samples", "int > 0", "3", "`3`",
        "warning-or-worse ticks in a row before the brake engages, and healthy ticks before it lets go",
        Test(EVERY_HH)),
    alias("monitor.host_health", "mem_avail_min_mb", "monitor.host_health.memory.avail_min_mb", Test(OLD_NAMES)),
    alias("monitor.host_health", "mem_free_low_mb", "monitor.host_health.memory.free_low_mb", Test(OLD_NAMES)),
    alias("monitor.host_health", "swap_sout_noise_floor_mb", "monitor.host_health.memory.swap_out_noise_floor_mb", Test(OLD_NAMES)),
    alias("monitor.host_health", "disk_warning_pct", "monitor.host_health.disk.warning_pct", Test(OLD_NAMES)),
    alias("monitor.host_health", "disk_critical_pct", "monitor.host_health.disk.critical_pct", Test(OLD_NAMES)),
    alias("monitor.host_health", "psi_full_avg10_critical", "monitor.host_health.pressure.full_avg10_critical", Test(OLD_NAMES)),
    alias("monitor.host_health", "psi_some_avg10_warning", "monitor.host_health.pressure.some_avg10_warning", Test(OLD_NAMES)),
    alias("monitor.host_health", "mem_critical_consecutive_samples", "monitor.host_health.pressure.critical_consecutive_samples", Test(OLD_NAMES)),
    alias("monitor.host_health", "in_round_mem_terminate", "monitor.host_health.pressure.in_round_terminate", Test(OLD_NAMES)),
];
