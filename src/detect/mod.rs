//! Detection, pure: the 14 alert kinds of upstream 0.3.14
//! (`_monitor_detectors.py`) as functions over a [`Window`] (same thresholds,
//! messages and context fields), ours (`needs_input`, the first-round
//! `oauth_fail`: [`human`]), and per-episode de-duplication ([`dedup`]).
//!
//! No I/O here, no clock reads (the host's `now` is in the window), no state
//! between calls. Building a window (from a log_dir, or from a remote probe's
//! frames) happens in `snapshot` and `fleet`; acting on alerts in `witness`
//! and `fleet`. Local and remote monitoring run exactly these functions:
//! round detectors in [`rounds`], host-health detectors in [`host`].
//!
//! Deliberate differences from upstream (docs/compat.md):
//! * `rate_limit_active` reads the event's own `reset_at_epoch` (upstream
//!   re-derives a back-off ladder from the log directory, which is I/O);
//! * `supervisor_stale` ignores every `monitor_*` kind and `detector_error`.

pub mod dedup;
mod deferral;
mod host;
mod human;
mod rounds;
#[cfg(test)]
mod tests;
pub mod window;

use chrono::{DateTime, Utc};
pub use deferral::*;
pub use host::*;
pub use human::{need_label, needs_input, needs_label};
use regex::{Regex, RegexBuilder};
pub use rounds::*;
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::OnceLock;
use window::{Record, Window};

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The text tag for a severity name (`warning` → `WARN`).
pub fn tag_of(severity: &str) -> String {
    match severity {
        "critical" => "CRIT".into(),
        "warning" => "WARN".into(),
        "info" => "OK".into(),
        other => other.to_uppercase(),
    }
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
    /// The text-mode tag: `OK`, `WARN`, `CRIT`.
    pub fn tag(self) -> &'static str {
        match self {
            Severity::Info => "OK",
            Severity::Warning => "WARN",
            Severity::Critical => "CRIT",
        }
    }
}

/// What the monitor may do about an alert (gated by `monitor.auto_stop_on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoAction {
    None,
    StopService,
}

impl AutoAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AutoAction::None => "none",
            AutoAction::StopService => "stop_service",
        }
    }
}

/// One alert, serialised in upstream's key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub severity: Severity,
    pub detector: &'static str,
    pub message: String,
    pub context: Map<String, Value>,
    /// The window's `now`, ISO-ms.
    pub ts: String,
    pub auto_action: AutoAction,
}

impl Alert {
    /// Upstream's one-line JSON (`", "` separators, ASCII-escaped).
    pub fn to_json_line(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        crate::state::pyjson::to_line_ascii(&v)
    }
    /// `[WARN] hung — Round 50 started 10054s ago with no round_end`, for a
    /// terminal: control characters of the message (which may quote a remote
    /// host's data) are escaped.
    pub fn to_text_line(&self) -> String {
        format!(
            "[{}] {} \u{2014} {}",
            self.severity.tag(),
            self.detector,
            crate::termsafe::text(&self.message)
        )
    }
}

/// One row of the detector catalogue (docs/commands.md is checked against it).
#[derive(Debug, Clone, Copy)]
pub struct DetectorInfo {
    pub name: &'static str,
    pub severity: &'static str,
    pub action: &'static str,
    pub fires_when: &'static str,
}

/// Every alert kind, in evaluation order.
pub const CATALOGUE: &[DetectorInfo] = &[
    DetectorInfo { name: "timeout_rate", severity: "warning", action: "notify", fires_when: "among the last 10 agent_exit events (needs 10), >= 20% timed out (grace kills excluded)" },
    DetectorInfo { name: "hung", severity: "warning", action: "notify", fires_when: "the highest-numbered round_start has no round_end after 1.5 x its (phase) budget" },
    DetectorInfo { name: "orphan_chain", severity: "warning", action: "notify", fires_when: ">= 3 consecutive rounds with orphan_stashed and no clean round_end" },
    DetectorInfo { name: "disk_warning", severity: "warning", action: "notify", fires_when: "latest disk_used_pct >= disk.warning_pct (90) and < critical_pct" },
    DetectorInfo { name: "disk_critical", severity: "critical", action: "stop_service", fires_when: "latest disk_used_pct >= disk.critical_pct (95)" },
    DetectorInfo { name: "disk_growth", severity: "warning", action: "notify", fires_when: "disk or inode % per hour over the growth window (1800 s) >= 5 %/h; needs 2 samples" },
    DetectorInfo { name: "mem_pressure", severity: "warning|critical", action: "notify", fires_when: "memory signal ladder (PSI, swap-out rate, combined low) on the last two samples" },
    DetectorInfo { name: "mem_signal_unavailable", severity: "warning", action: "notify", fires_when: "a new-style sample exists but no ladder tier is readable" },
    DetectorInfo { name: "mem_pressure_gate_inert", severity: "warning", action: "notify", fires_when: "PSI or swap-out shows pressure while mem_available_mb >= avail_min_mb (200)" },
    DetectorInfo { name: "oauth_fail", severity: "critical", action: "stop_service", fires_when: "the newest round that exited has agent_auth_error_detected (the agent said so itself; this form only notifies); or, of the last 10 exits (needs 10), >= 20% have agent_auth_error_detected, or are short (< 60 s) non-zero non-timeout exits whose log tail matches an auth pattern" },
    DetectorInfo { name: "needs_input", severity: "critical", action: "notify", fires_when: "the newest round that exited has agent_needs_input other than a login (a browser sign-in, a non-root user, a setting); the fleet table shows what it waits for" },
    DetectorInfo { name: "network_fail", severity: "warning", action: "notify", fires_when: "of the last 10 exits (needs 10), >= 20% are short non-zero non-timeout exits whose log tail matches the network pattern" },
    DetectorInfo { name: "rate_limit_active", severity: "warning", action: "notify", fires_when: "the newest transient_error_detected (no later recovered) resets in the future" },
    DetectorInfo { name: "anomaly_repetitive_active", severity: "warning", action: "notify", fires_when: ">= 1 anomaly_repetitive_tool event in the last 5 rounds" },
    DetectorInfo { name: "supervisor_stale", severity: "warning", action: "notify", fires_when: "newest non-monitor event older than supervisor_stale_threshold_s (budget x 1.5; 0 = off), unless a schedule pause / memory deferral is live" },
];

/// Exits shorter than this count as "short" for oauth/network detection.
pub const SHORT_EXIT_THRESHOLD_S: f64 = 60.0;

/// Kinds the monitor writes itself; never evidence that the supervisor lives.
pub const MONITOR_SELF_KINDS: &[&str] = &[
    "monitor_started",
    "monitor_alert_emitted",
    "monitor_alert_cleared",
    "monitor_auto_stop_triggered",
    "monitor_auto_stop_failed",
    "monitor_remote_blip",
    "monitor_remote_giveup",
    "detector_error",
    "notify_failed",
];

/// Upstream's network-error pattern (spec §6.9), case-insensitive.
pub fn network_pattern() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        RegexBuilder::new(
            r"\b(connection refused|econnrefused|dns|name or service not known|connect(ion)? timed out|nodename nor servname|network unreachable|50[023] (service unavailable|bad gateway|gateway timeout)|connection reset)\b",
        )
        .case_insensitive(true)
        .build()
        .ok()
    })
    .as_ref()
}

fn alert(
    w: &Window,
    detector: &'static str,
    severity: Severity,
    message: String,
    context: Value,
    auto_action: AutoAction,
) -> Alert {
    Alert {
        severity,
        detector,
        message,
        context: match context {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        ts: crate::timefmt::iso_ms(w.now),
        auto_action,
    }
}

/// A field of an event: the writers put `ts`, `event` and `round_num` first,
/// so the first entries are looked at before the key is hashed.
pub fn field<'a>(e: &'a Record, key: &str) -> Option<&'a Value> {
    match e.iter().take(3).find(|(k, _)| k.as_str() == key) {
        Some((_, v)) => Some(v),
        None => e.get(key),
    }
}

/// The event's kind (`event`, which every writer puts second, so [`field`]
/// finds it without hashing): the detectors ask this of every event in the
/// window on every evaluation (once per relayed event on a fleet witness).
pub fn kind(e: &Record) -> &str {
    field(e, "event").and_then(Value::as_str).unwrap_or("")
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn ts_of(e: &Record) -> Option<DateTime<Utc>> {
    field(e, "ts")
        .and_then(Value::as_str)
        .and_then(crate::timefmt::parse_ts)
}

fn last_exits(events: &[Record], n: usize) -> Vec<&Record> {
    let mut v: Vec<&Record> = events
        .iter()
        .rev()
        .filter(|e| kind(e) == "agent_exit")
        .take(n)
        .collect();
    v.reverse();
    v
}

/// Run every detector in catalogue order; an empty result means healthy.
pub fn run_all(w: &Window) -> Vec<Alert> {
    let fns: [fn(&Window) -> Option<Alert>; 14] = [
        timeout_rate,
        hung,
        orphan_chain,
        disk_warning,
        disk_critical,
        disk_growth,
        mem_pressure,
        mem_pressure_gate_inert,
        oauth_fail,
        needs_input,
        network_fail,
        rate_limit_active,
        anomaly_repetitive_active,
        supervisor_stale,
    ];
    fns.iter().filter_map(|f| f(w)).collect()
}

/// The detectors table of docs/commands.md, generated from [`CATALOGUE`].
pub fn markdown_table() -> String {
    let mut s = String::from("| Alert | Severity | Action | Fires when |\n|---|---|---|---|\n");
    for d in CATALOGUE {
        s.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            d.name, d.severity, d.action, d.fires_when
        ));
    }
    s
}
