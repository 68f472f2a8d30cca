//! The 14 alert kinds of upstream 0.3.14 (`_monitor_detectors.py`), as pure
//! functions over a [`Window`]: same thresholds, messages and context fields.
//!
//! No I/O here, no clock reads (the host's `now` is in the window), no state
//! between calls: de-duplication lives in [`super::dedup`], side effects in
//! [`super::monitor`]. Local and remote monitoring run exactly these functions.
//!
//! Deliberate differences from upstream (docs/compat.md):
//! * `rate_limit_active` reads the event's own `reset_at_epoch` (upstream
//!   re-derives a back-off ladder from the log directory, which is I/O);
//! * `supervisor_stale` ignores every `monitor_*` kind and `detector_error`.

use super::window::{Record, Window};
use chrono::{DateTime, TimeZone, Utc};
use regex::{Regex, RegexBuilder};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

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
        super::ascii_json_line(&v)
    }
    /// `[WARN] hung — Round 50 started 10054s ago with no round_end`.
    pub fn to_text_line(&self) -> String {
        format!(
            "[{}] {} \u{2014} {}",
            self.severity.tag(),
            self.detector,
            self.message
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
    DetectorInfo { name: "oauth_fail", severity: "critical", action: "stop_service", fires_when: "of the last 10 exits (needs 10), >= 20% have agent_auth_error_detected, or are short (< 60 s) non-zero non-timeout exits whose log tail matches an auth pattern" },
    DetectorInfo { name: "network_fail", severity: "warning", action: "notify", fires_when: "of the last 10 exits (needs 10), >= 20% are short non-zero non-timeout exits whose log tail matches the network pattern" },
    DetectorInfo { name: "rate_limit_active", severity: "warning", action: "notify", fires_when: "the newest transient_error_detected (no later recovered) resets in the future" },
    DetectorInfo { name: "anomaly_repetitive_active", severity: "warning", action: "notify", fires_when: ">= 1 anomaly_repetitive_tool event in the last 5 rounds" },
    DetectorInfo { name: "supervisor_stale", severity: "warning", action: "notify", fires_when: "newest non-monitor event older than supervisor_stale_threshold_s (budget x 1.5; 0 = off), unless a schedule pause / memory deferral is live" },
];

/// Exits shorter than this count as "short" for oauth/network detection.
pub const SHORT_EXIT_THRESHOLD_S: f64 = 60.0;
const RATE_WINDOW: usize = 10;
const RATE_THRESHOLD: f64 = 0.2;
const HUNG_FACTOR: f64 = 1.5;
const ORPHAN_THRESHOLD: u64 = 3;
const REPETITIVE_WINDOW_ROUNDS: i64 = 5;

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

/// Python `str()` of a JSON number: `96.0` for a float-typed integer value.
pub fn py_num(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => py_float(n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

/// Python `repr(float)`.
pub fn py_float(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Python `repr()` of a JSON scalar (`'a.py'`, `None`, `True`).
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        other => py_num(other),
    }
}

/// `timeout_rate` (#1).
pub fn timeout_rate(w: &Window) -> Option<Alert> {
    let recent = last_exits(w.events, RATE_WINDOW);
    if recent.len() < RATE_WINDOW {
        return None;
    }
    let timed = recent
        .iter()
        .filter(|e| {
            truthy(e.get("timed_out"))
                && e.get("exit_cause").and_then(Value::as_str) != Some("grace_kill")
        })
        .count();
    let rate = timed as f64 / recent.len() as f64;
    if rate < RATE_THRESHOLD {
        return None;
    }
    Some(alert(
        w,
        "timeout_rate",
        Severity::Warning,
        format!("{timed}/{} recent rounds timed out (>20%)", recent.len()),
        json!({"rate": rate, "threshold": RATE_THRESHOLD, "window": RATE_WINDOW}),
        AutoAction::None,
    ))
}

/// `hung` (#2): only the highest-numbered started round can be a live hang.
pub fn hung(w: &Window) -> Option<Alert> {
    let mut open: std::collections::HashMap<i64, (&str, Option<&str>)> = Default::default();
    let mut highest: Option<i64> = None;
    for e in w.events {
        let k = kind(e);
        if k != "round_start" && k != "round_end" {
            continue;
        }
        let Some(rn) = field(e, "round_num").and_then(Value::as_i64) else {
            continue;
        };
        if k == "round_start" {
            let ts = field(e, "ts").and_then(Value::as_str).unwrap_or("");
            open.insert(rn, (ts, e.get("phase").and_then(Value::as_str)));
            highest = Some(highest.map_or(rn, |h| h.max(rn)));
        } else {
            open.remove(&rn);
        }
    }
    let rn = highest?;
    let (ts, phase) = open.get(&rn)?;
    let started = crate::timefmt::parse_ts(ts)?;
    let elapsed = (w.now - started).num_milliseconds() as f64 / 1000.0;
    let threshold = w.thresholds.budget_for(*phase) as f64 * HUNG_FACTOR;
    if elapsed <= threshold {
        return None;
    }
    Some(alert(
        w,
        "hung",
        Severity::Warning,
        format!("Round {rn} started {elapsed:.0}s ago with no round_end"),
        json!({"round_num": rn, "elapsed_s": elapsed, "threshold_s": threshold}),
        AutoAction::None,
    ))
}

/// `orphan_chain` (#3).
pub fn orphan_chain(w: &Window) -> Option<Alert> {
    let orphan_rounds: std::collections::HashSet<Option<i64>> = w
        .events
        .iter()
        .filter(|e| kind(e) == "orphan_stashed")
        .map(|e| field(e, "round_num").and_then(Value::as_i64))
        .collect();
    let mut streak = 0u64;
    let mut last: Option<&Value> = None;
    for e in w.events {
        match kind(e) {
            "orphan_stashed" => {
                streak += 1;
                last = field(e, "round_num");
            }
            "round_end"
                if !orphan_rounds.contains(&field(e, "round_num").and_then(Value::as_i64)) =>
            {
                streak = 0
            }
            _ => {}
        }
    }
    if streak < ORPHAN_THRESHOLD {
        return None;
    }
    Some(alert(
        w,
        "orphan_chain",
        Severity::Warning,
        format!("{streak} consecutive rounds with orphan_stashed (>= {ORPHAN_THRESHOLD})"),
        json!({"streak": streak, "threshold": ORPHAN_THRESHOLD, "last_round": last.cloned().unwrap_or(Value::Null)}),
        AutoAction::None,
    ))
}

fn latest<'a>(metrics: &'a [Record], key: &str) -> Option<&'a Value> {
    metrics.iter().rev().find_map(|m| m.get(key))
}

/// `disk_warning` (#4).
pub fn disk_warning(w: &Window) -> Option<Alert> {
    let d = &w.thresholds.host_health.disk;
    let v = latest(w.metrics, "disk_used_pct")?;
    let x = v.as_f64()?;
    if x < d.warning_pct || x >= d.critical_pct {
        return None;
    }
    Some(alert(
        w,
        "disk_warning",
        Severity::Warning,
        format!("disk_used_pct {} >= {}", py_num(v), py_float(d.warning_pct)),
        json!({"value": v, "threshold": d.warning_pct, "hint": "Free space soon \u{2014} clean ~/.agent-runner/<project>/logs/"}),
        AutoAction::None,
    ))
}

/// `disk_critical` (#5) (auto-stop).
pub fn disk_critical(w: &Window) -> Option<Alert> {
    let d = &w.thresholds.host_health.disk;
    let v = latest(w.metrics, "disk_used_pct")?;
    if v.as_f64()? < d.critical_pct {
        return None;
    }
    Some(alert(
        w,
        "disk_critical",
        Severity::Critical,
        format!(
            "disk_used_pct {} >= {} \u{2014} auto-stopping service",
            py_num(v),
            py_float(d.critical_pct)
        ),
        json!({"value": v, "threshold": d.critical_pct, "hint": "Stop and clean disk before resuming"}),
        AutoAction::StopService,
    ))
}

/// `disk_growth` (#6): rate between the oldest sample within the growth window of
/// the latest sample and the latest.
pub fn disk_growth(w: &Window) -> Option<Alert> {
    let d = &w.thresholds.host_health.disk;
    let latest_ts = crate::timefmt::parse_ts(latest(w.metrics, "ts")?.as_str()?)?;
    let latest_disk = latest(w.metrics, "disk_used_pct")?.as_f64()?;
    let latest_inode = latest(w.metrics, "inode_used_pct").and_then(Value::as_f64);
    let (base, base_ts) = w.metrics.iter().find_map(|m| {
        if !m.contains_key("disk_used_pct") {
            return None;
        }
        let t = ts_of(m)?;
        let age = (latest_ts - t).num_milliseconds() as f64 / 1000.0;
        (age >= 0.0 && age <= d.growth_window_s as f64).then_some((m, t))
    })?;
    if base_ts >= latest_ts {
        return None;
    }
    let hours = (latest_ts - base_ts).num_milliseconds() as f64 / 3_600_000.0;
    if hours <= 0.0 {
        return None;
    }
    let disk_rate = (latest_disk - base.get("disk_used_pct")?.as_f64()?) / hours;
    let inode_rate = match (
        latest_inode,
        base.get("inode_used_pct").and_then(Value::as_f64),
    ) {
        (Some(a), Some(b)) => Some((a - b) / hours),
        _ => None,
    };
    let disk_trip = disk_rate >= d.disk_growth_pct_per_hr_warning;
    let inode_trip = inode_rate.is_some_and(|r| r >= d.inode_growth_pct_per_hr_warning);
    if !disk_trip && !inode_trip {
        return None;
    }
    let mut bits = Vec::new();
    if disk_trip {
        bits.push(format!(
            "disk +{disk_rate:.1}%/hr (>= {})",
            py_float(d.disk_growth_pct_per_hr_warning)
        ));
    }
    if let (true, Some(r)) = (inode_trip, inode_rate) {
        bits.push(format!(
            "inode +{r:.1}%/hr (>= {})",
            py_float(d.inode_growth_pct_per_hr_warning)
        ));
    }
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    Some(alert(
        w,
        "disk_growth",
        Severity::Warning,
        format!(
            "{} over the last {}s",
            bits.join(" and "),
            d.growth_window_s
        ),
        json!({
            "disk_pct_per_hr": r2(disk_rate),
            "disk_threshold_pct_per_hr": d.disk_growth_pct_per_hr_warning,
            "inode_pct_per_hr": inode_rate.map(r2),
            "inode_threshold_pct_per_hr": d.inode_growth_pct_per_hr_warning,
            "window_s": d.growth_window_s,
        }),
        AutoAction::None,
    ))
}

/// A verdict of the memory signal ladder (0.3 delta §4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Pressure {
    pub severity: Severity,
    /// `psi`, `swap_out_rate` or `combined_low`.
    pub signal: &'static str,
    pub message: String,
    pub context: Value,
}

fn f(m: &Record, k: &str) -> Option<f64> {
    m.get(k).and_then(Value::as_f64)
}

fn swap_delta(cur: &Record, prev: &Record) -> Option<i64> {
    Some(cur.get("swap_sout")?.as_i64()? - prev.get("swap_sout")?.as_i64()?)
}

/// The ladder over the latest sample and the one before it.
pub fn memory_pressure(
    cur: &Record,
    prev: &Record,
    hh: &crate::config::HostHealth,
) -> Option<Pressure> {
    if let Some(some) = f(cur, "psi_some_avg10") {
        let full = f(cur, "psi_full_avg10").unwrap_or(0.0);
        if full >= hh.pressure.full_avg10_critical {
            return Some(Pressure {
                severity: Severity::Critical,
                signal: "psi",
                message: format!(
                    "PSI memory full avg10={} (every task stalled on reclaim)",
                    py_float(full)
                ),
                context: json!({"psi_some_avg10": some, "psi_full_avg10": full}),
            });
        }
        if some >= hh.pressure.some_avg10_warning {
            return Some(Pressure {
                severity: Severity::Warning,
                signal: "psi",
                message: format!(
                    "PSI memory some avg10={} (reclaim is slowing progress)",
                    py_float(some)
                ),
                context: json!({"psi_some_avg10": some, "psi_full_avg10": full}),
            });
        }
        return None;
    }
    if let Some(delta) = swap_delta(cur, prev) {
        if delta > (hh.memory.swap_out_noise_floor_mb * 1024 * 1024) as i64 {
            if let Some(free) = cur.get("mem_free_mb").and_then(Value::as_i64) {
                if free < hh.memory.free_low_mb as i64 {
                    return Some(Pressure {
                        severity: Severity::Critical,
                        signal: "swap_out_rate",
                        message: format!("swap sout +{delta}B since last sample while mem_free_mb {free} < {} (actively dying, independent of swap-device speed)", hh.memory.free_low_mb),
                        context: json!({"swap_sout_delta": delta, "mem_free_mb": free}),
                    });
                }
            }
            return Some(Pressure {
                severity: Severity::Warning,
                signal: "swap_out_rate",
                message: format!("swap sout +{delta}B since last sample (above the noise floor)"),
                context: json!({"swap_sout_delta": delta}),
            });
        }
    }
    let free = cur.get("mem_free_mb").and_then(Value::as_i64)?;
    let avail = cur.get("mem_available_mb").and_then(Value::as_i64)?;
    if free < hh.memory.free_low_mb as i64 && avail < hh.memory.avail_min_mb as i64 {
        return Some(Pressure {
            severity: Severity::Warning,
            signal: "combined_low",
            message: format!(
                "mem_free_mb {free} < {} and mem_available_mb {avail} < {}",
                hh.memory.free_low_mb, hh.memory.avail_min_mb
            ),
            context: json!({"mem_free_mb": free, "mem_available_mb": avail}),
        });
    }
    None
}

fn signal_available(cur: &Record, prev: &Record) -> bool {
    f(cur, "psi_some_avg10").is_some()
        || swap_delta(cur, prev).is_some()
        || (cur.get("mem_free_mb").is_some_and(|v| !v.is_null())
            && cur.get("mem_available_mb").is_some_and(|v| !v.is_null()))
}

fn last_two(metrics: &[Record]) -> (Option<&Record>, Option<&Record>) {
    let n = metrics.len();
    (
        metrics.last(),
        if n >= 2 { metrics.get(n - 2) } else { None },
    )
}

/// `mem_pressure` (#7+8), or `mem_signal_unavailable` when no tier is readable.
pub fn mem_pressure(w: &Window) -> Option<Alert> {
    let empty = Record::new();
    let (cur, prev) = last_two(w.metrics);
    let cur = cur?;
    let prev = prev.unwrap_or(&empty);
    const NEW_KEYS: &[&str] = &[
        "mem_free_mb",
        "swap_sout",
        "psi_some_avg10",
        "psi_full_avg10",
    ];
    if !NEW_KEYS.iter().any(|k| cur.contains_key(*k)) {
        return None; // an old-shape sample: grace until a new one lands
    }
    if let Some(p) = memory_pressure(cur, prev, &w.thresholds.host_health) {
        return Some(alert(
            w,
            "mem_pressure",
            p.severity,
            p.message,
            p.context,
            AutoAction::None,
        ));
    }
    if !signal_available(cur, prev) {
        return Some(alert(
            w,
            "mem_signal_unavailable",
            Severity::Warning,
            "no cache-poor-valid memory signal available on this host (PSI unreadable, no swap-out history, MemFree unknown) -- mem_pressure cannot detect pressure here".into(),
            json!({"mem_available_mb": cur.get("mem_available_mb").cloned().unwrap_or(Value::Null)}),
            AutoAction::None,
        ));
    }
    None
}

/// `mem_pressure_gate_inert` (#9).
pub fn mem_pressure_gate_inert(w: &Window) -> Option<Alert> {
    let empty = Record::new();
    let (cur, prev) = last_two(w.metrics);
    let cur = cur?;
    let prev = prev.unwrap_or(&empty);
    let hh = &w.thresholds.host_health;
    let avail = cur.get("mem_available_mb").and_then(Value::as_i64)?;
    if avail < hh.memory.avail_min_mb as i64 {
        return None;
    }
    let p = memory_pressure(cur, prev, hh)?;
    if p.signal != "psi" && p.signal != "swap_out_rate" {
        return None;
    }
    Some(alert(
        w,
        "mem_pressure_gate_inert",
        Severity::Warning,
        format!("[monitor.host_health.memory] avail_min_mb={} cannot fire on this host: a cache-poor-valid signal shows real pressure while mem_available_mb={avail} stays >= threshold", hh.memory.avail_min_mb),
        json!({
            "avail_min_mb": hh.memory.avail_min_mb,
            "mem_available_mb": avail,
            "hint": "MemAvailable is inflated on this host -- lowering [monitor.host_health.memory] avail_min_mb won't help; rely on the mem_pressure alert itself instead",
        }),
        AutoAction::None,
    ))
}

/// An `agent_exit` shorter than [`SHORT_EXIT_THRESHOLD_S`], non-zero and not
/// timed out: the exits whose round-log tails `oauth_fail` and `network_fail`
/// read (a remote probe ships exactly those tails).
pub fn is_short_failed_exit(e: &Record) -> bool {
    let dur = e.get("duration_s").and_then(Value::as_f64).unwrap_or(0.0);
    let code = e.get("exit_code").and_then(Value::as_i64).unwrap_or(0);
    !(dur >= SHORT_EXIT_THRESHOLD_S || code == 0 || truthy(e.get("timed_out")))
}

fn short_failed_matching(
    e: &Record,
    tails: &std::collections::BTreeMap<u64, String>,
    pats: &[&Regex],
) -> bool {
    if !is_short_failed_exit(e) {
        return false;
    }
    let tail = e
        .get("round_num")
        .and_then(Value::as_u64)
        .and_then(|n| tails.get(&n))
        .map(String::as_str)
        .unwrap_or("");
    pats.iter().any(|p| p.is_match(tail))
}

/// `oauth_fail` (#10) (auto-stop): structured `agent_auth_error_detected`, or a
/// short failed exit whose log tail matches an auth pattern.
pub fn oauth_fail(w: &Window) -> Option<Alert> {
    let recent = last_exits(w.events, RATE_WINDOW);
    if recent.len() < RATE_WINDOW {
        return None;
    }
    let auth_rounds: std::collections::HashSet<i64> = w
        .events
        .iter()
        .filter(|e| kind(e) == "agent_auth_error_detected")
        .filter_map(|e| field(e, "round_num").and_then(Value::as_i64))
        .collect();
    let pats: Vec<&Regex> = w.thresholds.auth_fail_patterns.iter().collect();
    let matches = recent
        .iter()
        .filter(|e| {
            field(e, "round_num")
                .and_then(Value::as_i64)
                .is_some_and(|n| auth_rounds.contains(&n))
                || short_failed_matching(e, w.log_tails, &pats)
        })
        .count();
    if (matches as f64) / (recent.len() as f64) < RATE_THRESHOLD {
        return None;
    }
    Some(alert(
        w,
        "oauth_fail",
        Severity::Critical,
        format!(
            "{matches}/{} recent rounds failed auth (agent-reported or short-exit pattern)",
            recent.len()
        ),
        json!({"matches": matches, "window": recent.len(), "threshold": RATE_THRESHOLD, "hint": w.thresholds.auth_fail_hint}),
        AutoAction::StopService,
    ))
}

/// `network_fail` (#11).
pub fn network_fail(w: &Window) -> Option<Alert> {
    let recent = last_exits(w.events, RATE_WINDOW);
    if recent.len() < RATE_WINDOW {
        return None;
    }
    let pats: Vec<&Regex> = network_pattern().into_iter().collect();
    let matches = recent
        .iter()
        .filter(|e| short_failed_matching(e, w.log_tails, &pats))
        .count();
    if (matches as f64) / (recent.len() as f64) < RATE_THRESHOLD {
        return None;
    }
    Some(alert(
        w,
        "network_fail",
        Severity::Warning,
        format!(
            "{matches}/{} recent rounds short-exited with network error pattern",
            recent.len()
        ),
        json!({"matches": matches, "window": recent.len(), "threshold": RATE_THRESHOLD, "hint": "Check upstream Anthropic status or local DNS / VPN"}),
        AutoAction::None,
    ))
}

/// `rate_limit_active` (#12).
pub fn rate_limit_active(w: &Window) -> Option<Alert> {
    let e = w.events.iter().rev().find(|e| {
        matches!(
            kind(e),
            "transient_error_recovered" | "transient_error_detected"
        )
    })?;
    if kind(e) != "transient_error_detected" {
        return None;
    }
    let reset = e.get("reset_at_epoch").and_then(Value::as_f64)?;
    if reset <= w.now.timestamp() as f64 + w.now.timestamp_subsec_millis() as f64 / 1000.0 {
        return None;
    }
    let t = Utc.timestamp_opt(reset.trunc() as i64, 0).single()?;
    let iso = t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    let classification = e
        .get("classification")
        .cloned()
        .unwrap_or_else(|| json!("unknown"));
    let agent = e
        .get("agent")
        .map(|a| match a {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .unwrap_or_else(|| "unknown".into());
    let class_s = match &classification {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(alert(
        w,
        "rate_limit_active",
        Severity::Warning,
        format!("throttled until {iso} ({class_s})"),
        json!({"throttled_until_iso": iso, "classification": classification, "agent": agent}),
        AutoAction::None,
    ))
}

/// `anomaly_repetitive_active` (#13).
pub fn anomaly_repetitive_active(w: &Window) -> Option<Alert> {
    let max_round = w
        .events
        .iter()
        .filter_map(|e| field(e, "round_num").and_then(Value::as_i64))
        .max()?;
    let start = max_round - REPETITIVE_WINDOW_ROUNDS + 1;
    let hits: Vec<&Record> = w
        .events
        .iter()
        .filter(|e| {
            kind(e) == "anomaly_repetitive_tool"
                && field(e, "round_num").and_then(Value::as_i64).unwrap_or(0) >= start
        })
        .collect();
    let latest = *hits.last()?;
    let get = |k: &str| latest.get(k).cloned().unwrap_or(Value::Null);
    let plain = |v: Value| match v {
        Value::String(s) => s,
        Value::Null => "None".into(),
        other => py_num(&other),
    };
    Some(alert(
        w,
        "anomaly_repetitive_active",
        Severity::Warning,
        format!(
            "{} anomaly_repetitive_tool event(s) in last {REPETITIVE_WINDOW_ROUNDS} rounds; latest: {} on {} ({}x in window {})",
            hits.len(),
            plain(get("tool_name")),
            py_repr(&get("target")),
            plain(get("count")),
            plain(get("window")),
        ),
        json!({"count": hits.len(), "window_rounds": REPETITIVE_WINDOW_ROUNDS, "latest_tool": get("tool_name"), "latest_target": get("target")}),
        AutoAction::None,
    ))
}

/// `supervisor_stale` (#14): newest supervisor event (monitor kinds ignored)
/// older than the threshold, unless a pause or memory deferral is still live.
pub fn supervisor_stale(w: &Window) -> Option<Alert> {
    let threshold = w.thresholds.supervisor_stale_threshold_s;
    if threshold == 0 {
        return None;
    }
    let last_ts = w
        .events
        .iter()
        .filter(|e| !MONITOR_SELF_KINDS.contains(&kind(e)))
        .filter_map(|e| field(e, "ts").and_then(Value::as_str))
        .max()?;
    let age = (w.now - crate::timefmt::parse_ts(last_ts)?).num_milliseconds() as f64 / 1000.0;
    if age <= threshold as f64 {
        return None;
    }
    let pause = w.events.iter().rev().find(|e| {
        matches!(
            kind(e),
            "schedule_paused" | "round_deferred" | "schedule_resumed" | "round_resumed"
        )
    });
    if let Some(p) = pause.filter(|p| matches!(kind(p), "schedule_paused" | "round_deferred")) {
        let resume = p
            .get("resume_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let bound = match resume {
            Some(b) => Some(b),
            None => ts_of(p).map(|t| t + chrono::Duration::days(8)),
        };
        match bound {
            None => return None,
            Some(b) if w.now <= b + chrono::Duration::seconds(threshold as i64) => return None,
            Some(_) => {}
        }
    }
    Some(alert(
        w,
        "supervisor_stale",
        Severity::Warning,
        format!(
            "No events for {}s (threshold {threshold}s) \u{2014} supervisor may be stuck or dead. Last event: {last_ts}.",
            age as i64
        ),
        json!({"age_s": age as i64, "threshold_s": threshold, "last_ts": last_ts}),
        AutoAction::None,
    ))
}

/// Run every detector in catalogue order; an empty result means healthy.
pub fn run_all(w: &Window) -> Vec<Alert> {
    let fns: [fn(&Window) -> Option<Alert>; 13] = [
        timeout_rate,
        hung,
        orphan_chain,
        disk_warning,
        disk_critical,
        disk_growth,
        mem_pressure,
        mem_pressure_gate_inert,
        oauth_fail,
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
