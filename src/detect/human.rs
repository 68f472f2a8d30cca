//! Alerts on the first round where the agent itself says it needs a human:
//! `needs_input` (an `agent_needs_input` event: a browser sign-in, a
//! non-root user, a setting) and the first-round form of `oauth_fail` (an
//! `agent_auth_error_detected`). Both look at the newest round that exited,
//! so they clear once a later round gets past it. Also the short label the
//! fleet table shows for such a host.

use super::window::{Record, Window};
use super::{alert, field, kind, Alert, AutoAction, Severity};
use crate::state::pyrepr::py_str;
use serde_json::{json, Value};

/// The newest `agent_exit`'s round number.
fn newest_exit_round(w: &Window) -> Option<i64> {
    let e = w.events.iter().rev().find(|e| kind(e) == "agent_exit")?;
    field(e, "round_num").and_then(Value::as_i64)
}

/// The newest event of `kind` for round `rn`.
fn of_round<'a>(w: &'a Window, k: &str, rn: i64) -> Option<&'a Record> {
    w.events
        .iter()
        .rev()
        .find(|e| kind(e) == k && field(e, "round_num").and_then(Value::as_i64) == Some(rn))
}

fn text(e: &Record, key: &str) -> String {
    e.get(key).map(py_str).unwrap_or_default()
}

/// The fleet's words for what a host needs (`need` of `agent_needs_input`).
pub fn need_label(need: &str) -> &'static str {
    match need {
        "login" => "needs login",
        "browser_sign_in" => "waiting for browser sign-in",
        "non_root" => "needs a non-root user",
        "agent_config" => "needs agent config",
        _ => "needs input",
    }
}

/// What the fleet table shows for a host whose active alerts say it needs
/// a human: the `needs_input` alert's label, else "needs login" for
/// `oauth_fail`.
pub fn needs_label<'a>(active: impl IntoIterator<Item = &'a Alert>) -> Option<String> {
    let mut login = false;
    for a in active {
        match a.detector {
            "needs_input" => {
                let need = a.context.get("need").and_then(Value::as_str).unwrap_or("");
                return Some(need_label(need).to_string());
            }
            "oauth_fail" => login = true,
            _ => {}
        }
    }
    login.then(|| need_label("login").to_string())
}

/// `needs_input`: the newest round that exited waits for a human (other
/// than a login, which `oauth_fail` reports).
pub fn needs_input(w: &Window) -> Option<Alert> {
    let rn = newest_exit_round(w)?;
    let e = of_round(w, "agent_needs_input", rn)?;
    let need = text(e, "need");
    if need == "login" {
        return None;
    }
    let agent = text(e, "agent");
    let waiting_for = text(e, "waiting_for");
    let remedy = text(e, "remedy");
    Some(alert(
        w,
        "needs_input",
        Severity::Critical,
        format!("round {rn}: {agent} needs {waiting_for} \u{2014} {remedy}"),
        json!({"round_num": rn, "agent": agent, "need": need, "waiting_for": waiting_for, "remedy": remedy, "label": need_label(&need)}),
        AutoAction::None,
    ))
}

/// The first-round form of `oauth_fail`: the newest round that exited has
/// an `agent_auth_error_detected` (the agent itself said so). It notifies
/// only: one round is not enough to stop a service (the 10-round form can).
pub fn agent_reported_auth(w: &Window, threshold: f64) -> Option<Alert> {
    let rn = newest_exit_round(w)?;
    let e = of_round(w, "agent_auth_error_detected", rn)?;
    let agent = text(e, "agent");
    let raw: String = text(e, "raw").chars().take(120).collect();
    let remedy = of_round(w, "agent_needs_input", rn)
        .map(|n| text(n, "remedy"))
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| w.thresholds.auth_fail_hint.clone());
    // a fleet witness keeps no `raw` text (slim view)
    let raw = if raw.is_empty() {
        String::new()
    } else {
        format!(" ({raw})")
    };
    Some(alert(
        w,
        "oauth_fail",
        Severity::Critical,
        format!("round {rn}: {agent} reported an auth failure{raw} \u{2014} {remedy}"),
        json!({"matches": 1, "window": 1, "threshold": threshold, "hint": remedy, "round_num": rn, "agent": agent}),
        AutoAction::None,
    ))
}
