//! The fleet's dashboard pages (`monitor --fleet … --mode http`): the
//! overview (one row per host: state, round, phase, age of the newest event,
//! active alerts with their severity, today's tokens and cost, a failed
//! notification) and each host's page, as live parts that
//! [`crate::witness::dashboard`] wraps and pushes over SSE. Every string
//! from a host is escaped and cut to a bound ([`dashboard::text`]).

use super::link::{Row, Table};
use crate::witness::dashboard::{
    self, host,
    model::{AlertItem, HostDetail},
    text, LONG, SHORT,
};
use crate::witness::http::esc;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `/host/<name>` with the name percent-encoded.
pub fn host_href(name: &str) -> String {
    let mut s = String::from("/host/");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

/// A path segment with its percent-escapes decoded.
pub fn decode(seg: &str) -> String {
    let b = seg.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn alerts_of(r: &Row) -> Vec<AlertItem> {
    r.alerts.iter().map(AlertItem::from_value).collect()
}

/// The overview's live part.
pub fn overview(rows: &BTreeMap<String, Row>) -> String {
    let alerting = rows.values().filter(|r| !r.alerts.is_empty()).count();
    let down = rows
        .values()
        .filter(|r| !matches!(r.state.as_str(), "ok" | "alert" | "connecting"))
        .count();
    let mut h = format!(
        "<h1>agent-runner fleet</h1><p class=\"facts\"><span><i>hosts</i> {}</span> <span><i>alerting</i> {alerting}</span> <span><i>down</i> {down}</span></p>\
         <table class=\"fleet\"><thead><tr><th>host</th><th>state</th><th>round</th><th>phase</th><th>last event</th><th>alerts</th><th>today</th></tr></thead><tbody>",
        rows.len()
    );
    for r in rows.values() {
        let sub: Vec<&str> = [r.project.as_deref(), r.hostname.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let round = match (r.round, r.round_running) {
            (Some(n), Some(true)) => format!("{n} <span class=\"muted\">running</span>"),
            (Some(n), _) => n.to_string(),
            _ => "-".into(),
        };
        let age = r
            .last_event_age_s
            .map(|a| format!("<span data-age=\"{a:.1}\">{}</span> ago", host::age(a)))
            .unwrap_or_else(|| "-".into());
        let mut alerts = host::alert_badges(&alerts_of(r));
        if r.alerts.is_empty() {
            alerts = r
                .error
                .as_deref()
                .map(|e| format!("<span class=\"muted\">{}</span>", text(e, LONG)))
                .unwrap_or_default();
        }
        if let Some(e) = &r.notify_error {
            let _ = write!(
                alerts,
                " <span class=\"nf\" title=\"{}\">notify failed</span>",
                text(e, LONG)
            );
        }
        let usage = r
            .detail
            .as_ref()
            .and_then(|d| d.usage_today.as_ref())
            .map(host::usage_text)
            .unwrap_or_else(|| "-".into());
        let _ = write!(
            h,
            "<tr class=\"host {cls}\" data-host=\"{name}\"><td><a href=\"{href}\">{name}</a><div class=\"sub\">{sub}</div></td><td><span class=\"state {cls}\">{state}</span></td><td>{round}</td><td>{phase}</td><td>{age}</td><td>{alerts}</td><td>{usage}</td></tr>",
            cls = host::state_class(&r.state),
            name = esc(&r.name),
            href = esc(&host_href(&r.name)),
            sub = text(&sub.join(" \u{b7} "), LONG),
            state = text(super::display::state_text(r), SHORT),
            phase = text(r.phase.as_deref().unwrap_or("-"), SHORT),
            usage = esc(&usage),
        );
    }
    h.push_str("</tbody></table>");
    h
}

/// A host page's model from its row.
pub fn detail(r: &Row) -> HostDetail {
    let mut facts: Vec<(String, String)> = Vec::new();
    let mut fact = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            facts.push((k.to_string(), v));
        }
    };
    fact("project", r.project.clone());
    fact("hostname", r.hostname.clone());
    fact("agent-runner", r.version.clone());
    fact("alias", Some(r.alias.clone()));
    fact(
        "serve",
        r.serve_active
            .map(|a| if a { "running" } else { "not running" }.to_string()),
    );
    fact("host clock", r.host_now.clone());
    fact("events received", Some(r.events_received.to_string()));
    fact("error", r.error.clone());
    fact("deferred", r.deferred.clone());
    fact("waiting for", r.needs.clone());
    if !r.tags.is_empty() {
        fact("tags", Some(r.tags.join(", ")));
    }
    let d = r.detail.clone().unwrap_or_default();
    HostDetail {
        title: r.name.clone(),
        state: r.state.clone(),
        facts,
        alerts: alerts_of(r),
        notify_error: r.notify_error.clone(),
        current: d.current,
        rounds: d.rounds,
        samples: d.samples,
        usage: d.usage_today,
        events: r.recent_events.clone(),
        narrative: None,
    }
}

/// The live part of `page` (`/` or `/host/<name>`), `None` when there is
/// no such page.
pub fn live(table: &Table, page: &str) -> Option<String> {
    let t = table.lock().ok()?;
    if page == "/" {
        return Some(overview(&t));
    }
    let name = decode(page.strip_prefix("/host/")?);
    t.get(&name).map(|r| host::render(&detail(r)))
}

const NAV_FLEET: &str =
    "<a href=\"/api/fleet\">/api/fleet</a> \u{b7} <a href=\"/metrics\">/metrics</a>";

/// The whole overview page.
pub fn overview_page(rows: &BTreeMap<String, Row>) -> String {
    dashboard::page("agent-runner fleet", "/", NAV_FLEET, &overview(rows))
}

/// The whole page of one host.
pub fn host_page(r: &Row) -> String {
    let href = host_href(&r.name);
    let nav = format!(
        "<a href=\"/\">fleet</a> \u{b7} <a href=\"/api{}\">/api{}</a>",
        esc(&href),
        esc(&href)
    );
    dashboard::page(&r.name, &href, &nav, &host::render(&detail(r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_the_href() {
        for n in ["pi", "kitchen pi", "a/b?c", "ü<x>\"", "%41"] {
            let h = host_href(n);
            assert!(
                h[6..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{h}"
            );
            assert_eq!(decode(&h[6..]), n);
        }
    }
}
