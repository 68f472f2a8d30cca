//! Detectors over rounds and their exits: timeouts, hung rounds, orphan
//! chains, auth and network failures, rate limits, repetitive tools, a stale
//! supervisor.

use super::window::{Record, Window};
use super::{
    alert, field, kind, last_exits, network_pattern, truthy, ts_of, Alert, AutoAction, Severity,
    MONITOR_SELF_KINDS, SHORT_EXIT_THRESHOLD_S,
};
use crate::state::pyrepr::{py_repr, py_str};
use chrono::{DateTime, TimeZone, Utc};
use regex::Regex;
use serde_json::{json, Value};

const RATE_WINDOW: usize = 10;
const RATE_THRESHOLD: f64 = 0.2;
const HUNG_FACTOR: f64 = 1.5;
const ORPHAN_THRESHOLD: u64 = 3;
const REPETITIVE_WINDOW_ROUNDS: i64 = 5;
/// How long a pause without `resume_at` explains a silence: 8 days.
const PAUSE_BOUND_S: i64 = 8 * 86_400;

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
/// short failed exit whose log tail matches an auth pattern; or (ours) the
/// newest round's agent reported an auth failure itself.
pub fn oauth_fail(w: &Window) -> Option<Alert> {
    upstream_oauth_fail(w).or_else(|| super::human::agent_reported_auth(w, RATE_THRESHOLD))
}

fn upstream_oauth_fail(w: &Window) -> Option<Alert> {
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
    let start = max_round.saturating_sub(REPETITIVE_WINDOW_ROUNDS - 1);
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
    Some(alert(
        w,
        "anomaly_repetitive_active",
        Severity::Warning,
        format!(
            "{} anomaly_repetitive_tool event(s) in last {REPETITIVE_WINDOW_ROUNDS} rounds; latest: {} on {} ({}x in window {})",
            hits.len(),
            py_str(&get("tool_name")),
            py_repr(&get("target")),
            py_str(&get("count")),
            py_str(&get("window")),
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
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| crate::timefmt::in_range(*t));
        let bound = match resume {
            Some(b) => Some(b),
            None => ts_of(p).and_then(|t| crate::timefmt::add_s(t, PAUSE_BOUND_S)),
        };
        // A pause still in force (or one that ends past the end of time)
        // explains the silence.
        let end = bound.map(|b| {
            i64::try_from(threshold)
                .ok()
                .and_then(|s| crate::timefmt::add_s(b, s))
        });
        match end {
            None => return None,
            Some(None) => return None,
            Some(Some(e)) if w.now <= e => return None,
            Some(Some(_)) => {}
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
