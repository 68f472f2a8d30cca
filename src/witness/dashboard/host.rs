//! The host page's live part, as HTML: state and facts, active alerts, the
//! current round against its budget, the rounds timeline, the sparklines,
//! today's usage and a table of recent events. Every string that came from
//! a host or a log is escaped and cut to a bound ([`text`]).

use super::model::{HostDetail, Usage};
use super::{svg, text, LONG, SHORT};
use crate::witness::http::esc;
use serde_json::Value;
use std::fmt::Write as _;

/// `12s`, `5m`, `3h`, `2d` (what the page's script ticks forward, too).
pub fn age(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A state as a CSS class: letters, digits and `-` only.
pub fn state_class(state: &str) -> String {
    let c: String = state
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    format!("st-{c}")
}

/// `12.3k tok · $0.42` (input + output tokens).
pub fn usage_text(u: &Usage) -> String {
    let tok = u.input_tokens.saturating_add(u.output_tokens);
    let t = match tok {
        0..=9_999 => tok.to_string(),
        10_000..=9_999_999 => format!("{:.1}k", tok as f64 / 1000.0),
        _ => format!("{:.1}M", tok as f64 / 1e6),
    };
    if u.cost_usd > 0.0 {
        format!("{t} tok \u{b7} ${:.2}", u.cost_usd)
    } else {
        format!("{t} tok")
    }
}

/// `WARN hung` badges with the message as a tooltip.
pub fn alert_badges(alerts: &[super::model::AlertItem]) -> String {
    let mut s = String::new();
    for a in alerts {
        let sev = text(&a.severity, SHORT);
        let _ = write!(
            s,
            "<span class=\"sev sev-{sev}\" title=\"{}\">{} {}</span> ",
            text(&a.message, LONG),
            text(&crate::detect::tag_of(&a.severity), SHORT),
            text(&a.detector, SHORT)
        );
    }
    s
}

/// Fields left out of the events table (bulky or raw).
const SKIP: &[&str] = &[
    "ts",
    "event",
    "round_num",
    "raw",
    "traceback",
    "models_breakdown",
    "processes",
    "files",
    "thresholds",
    "config_prompt_files",
    "config_check_names",
];

/// A field's value as a page shows it: a string as is, anything else as
/// JSON; cut and escaped by [`text`].
fn field_text(v: &Value) -> String {
    match v {
        Value::String(s) => text(s, SHORT + 16),
        other => text(&other.to_string(), SHORT + 16),
    }
}

fn events_table(events: &[Value]) -> String {
    let mut s = String::from("<table class=\"events\"><thead><tr><th>time</th><th>event</th><th>round</th><th>details</th></tr></thead><tbody>");
    for e in events.iter().rev() {
        let ts = e.get("ts").and_then(Value::as_str).unwrap_or("");
        let time = ts.get(11..19).unwrap_or(ts);
        let kind = e.get("event").and_then(Value::as_str).unwrap_or("?");
        let round = e.get("round_num").map(field_text).unwrap_or_default();
        let mut details = String::new();
        if let Some(m) = e.as_object() {
            for (k, v) in m
                .iter()
                .filter(|(k, v)| !SKIP.contains(&k.as_str()) && !v.is_null())
                .take(6)
            {
                let _ = write!(
                    details,
                    "<span class=\"kv\"><i>{}</i> {}</span> ",
                    text(k, SHORT),
                    field_text(v)
                );
            }
        }
        let _ = write!(
            s,
            "<tr class=\"ev\"><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(ts, SHORT),
            text(time, SHORT),
            text(kind, SHORT),
            round,
            details
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// The live part of a host page.
pub fn render(d: &HostDetail) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let _ = write!(
        h,
        "<h1>{} <span class=\"state {}\">{}</span></h1><p class=\"facts\">",
        text(&d.title, SHORT),
        state_class(&d.state),
        text(&d.state, SHORT)
    );
    for (k, v) in &d.facts {
        let _ = write!(
            h,
            "<span><i>{}</i> {}</span> ",
            text(k, SHORT),
            text(v, LONG)
        );
    }
    h.push_str("</p>");
    h.push_str("<section><h2>Alerts</h2>");
    if d.alerts.is_empty() {
        h.push_str("<p class=\"ok\">No alerts.</p>");
    } else {
        h.push_str("<ul class=\"alerts\">");
        for a in &d.alerts {
            let _ = write!(
                h,
                "<li class=\"sev-{}\"><b>[{}] {}</b> \u{2014} {}</li>",
                text(&a.severity, SHORT),
                text(&crate::detect::tag_of(&a.severity), SHORT),
                text(&a.detector, SHORT),
                text(&a.message, LONG)
            );
        }
        h.push_str("</ul>");
    }
    if let Some(e) = &d.notify_error {
        let _ = write!(
            h,
            "<p class=\"notify-failed\">Notification failed: {}</p>",
            text(e, LONG)
        );
    }
    h.push_str("</section><section><h2>Current round</h2>");
    match &d.current {
        None => h.push_str("<p>No rounds yet.</p>"),
        Some(c) => {
            let phase = c
                .phase
                .as_deref()
                .map(|p| format!(" phase {}", text(p, SHORT)))
                .unwrap_or_default();
            if c.running {
                let el = c.elapsed_s.unwrap_or(0.0);
                let budget = c.budget_s.map(|b| b as f64);
                let pct = budget.map_or(0.0, |b| (el / b * 100.0).min(100.0));
                let _ = write!(
                    h,
                    "<p class=\"current running\">R{}{phase} \u{b7} running <b data-elapsed=\"{el:.1}\">{}</b>{}</p><div class=\"budget{}\"><div class=\"used\" data-budget=\"{}\" style=\"width:{pct:.1}%\"></div></div>",
                    c.round,
                    age(el),
                    budget.map(|b| format!(" of {} budget", age(b))).unwrap_or_default(),
                    if pct >= 100.0 { " over" } else { "" },
                    budget.unwrap_or(0.0)
                );
            } else {
                let _ = write!(
                    h,
                    "<p class=\"current\">R{}{phase} \u{b7} finished ({})</p>",
                    c.round,
                    text(c.exit_cause.as_deref().unwrap_or("?"), SHORT)
                );
            }
        }
    }
    let running_el = d
        .current
        .as_ref()
        .filter(|c| c.running)
        .and_then(|c| c.elapsed_s);
    let _ = write!(
        h,
        "</section><section><h2>Last {} rounds</h2>{}<p class=\"legend\"><span class=\"b-ok\">clean</span> <span class=\"b-error\">error</span> <span class=\"b-timeout\">timeout</span> <span class=\"b-signal\">signal</span> <span class=\"b-cancelled\">cancelled</span> <span class=\"b-running\">running</span></p></section>",
        d.rounds.len(),
        svg::timeline(&d.rounds, running_el)
    );
    h.push_str("<section><h2>Host</h2><div class=\"sparks\">");
    let series = |f: &dyn Fn(&super::model::Sample) -> Option<f64>| -> Vec<(f64, f64)> {
        d.samples
            .iter()
            .filter_map(|s| f(s).map(|v| (s.ago_s, v)))
            .collect()
    };
    let mut any = false;
    for (label, unit, pts) in [
        ("memory available", " MiB", series(&|s| s.mem_available_mb)),
        ("memory PSI some avg10", " %", series(&|s| s.psi_some_avg10)),
        ("disk used", " %", series(&|s| s.disk_used_pct)),
    ] {
        if let Some(sp) = svg::sparkline(label, unit, &pts) {
            h.push_str(&sp);
            any = true;
        }
    }
    if !any {
        h.push_str("<p class=\"muted\">No metrics samples.</p>");
    }
    h.push_str("</div>");
    if let Some(u) = &d.usage {
        let _ = write!(
            h,
            "<p class=\"usage\">Today ({}): {} ({} in, {} out, {} records)</p>",
            esc(&u.day),
            esc(&usage_text(u)),
            u.input_tokens,
            u.output_tokens,
            u.records
        );
    }
    if let Some(n) = &d.narrative {
        h.push_str("</section><section><h2>Narrative</h2>");
        if n.is_empty() {
            h.push_str("<p class=\"muted\">(no narrative file yet)</p>");
        } else {
            // at most 50 lines, each cut like a message: the page keeps its bound
            h.push_str("<pre class=\"narrative\">");
            for l in n.lines() {
                h.push_str(&text(l, LONG));
                h.push('\n');
            }
            h.push_str("</pre>");
        }
    }
    h.push_str("</section><section><h2>Recent events</h2>");
    h.push_str(&events_table(&d.events));
    h.push_str("</section>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::witness::dashboard::model::{AlertItem, Current};
    use serde_json::json;

    #[test]
    fn remote_strings_are_escaped_everywhere() {
        let evil = "<img src=x onerror=alert(1)>\"'&";
        let d = HostDetail {
            title: evil.into(),
            state: evil.into(),
            facts: vec![(evil.into(), evil.into())],
            alerts: vec![AlertItem {
                severity: evil.into(),
                detector: evil.into(),
                message: evil.into(),
            }],
            notify_error: Some(evil.into()),
            current: Some(Current {
                round: 3,
                phase: Some(evil.into()),
                running: true,
                elapsed_s: Some(30.0),
                budget_s: Some(20),
                exit_cause: None,
            }),
            events: vec![json!({"ts": evil, "event": evil, "round_num": evil, evil: evil})],
            narrative: Some(evil.into()),
            ..Default::default()
        };
        let h = render(&d);
        assert!(!h.contains("<img"), "{h}");
        assert!(h.contains("&lt;img src=x onerror=alert(1)&gt;&quot;'&amp;"));
        assert!(h.contains("class=\"state st-"), "{h}");
        assert!(h.contains("budget over"), "30 s of a 20 s budget: {h}");
    }

    /// Whatever a host sends, a host page stays under 150 KB: 50 rounds,
    /// 20 events, 20 alerts and every string 10,000 characters that each
    /// escape to six bytes.
    #[test]
    fn a_page_of_the_longest_strings_stays_under_150_kb() {
        use crate::witness::dashboard::model::{RoundBar, Sample};
        let huge = "\"".repeat(10_000);
        let rounds = (0..crate::witness::dashboard::model::TIMELINE_ROUNDS as i64)
            .map(|n| RoundBar {
                round: n,
                phase: Some(huge.clone()),
                started_at: Some(huge.clone()),
                duration_s: Some(n as f64),
                exit_cause: Some(huge.clone()),
                exit_code: Some(1),
                ended: true,
            })
            .collect();
        let mut ev = serde_json::Map::new();
        for i in 0..40 {
            ev.insert(format!("{i}{huge}"), json!(huge));
        }
        ev.insert("ts".into(), json!(huge));
        ev.insert("event".into(), json!(huge));
        ev.insert("round_num".into(), json!(huge));
        let alert = AlertItem {
            severity: huge.clone(),
            detector: huge.clone(),
            message: huge.clone(),
        };
        let d = HostDetail {
            title: huge.clone(),
            state: huge.clone(),
            facts: vec![(huge.clone(), huge.clone()); 10],
            alerts: vec![alert; 20],
            notify_error: Some(huge.clone()),
            current: Some(Current {
                round: 3,
                phase: Some(huge.clone()),
                running: true,
                elapsed_s: Some(30.0),
                budget_s: Some(20),
                exit_cause: Some(huge.clone()),
            }),
            rounds,
            samples: (0..crate::witness::dashboard::model::SPARK_POINTS)
                .map(|i| Sample {
                    ago_s: i as f64,
                    mem_available_mb: Some(i as f64),
                    psi_some_avg10: Some(1.0),
                    disk_used_pct: Some(50.0),
                })
                .collect(),
            events: vec![Value::Object(ev); 20],
            narrative: Some(vec![huge.as_str(); 50].join("\n")),
            ..Default::default()
        };
        let page = super::super::page("t", "/", "", &render(&d));
        assert!(page.len() < 150 * 1024, "{} bytes", page.len());
    }

    #[test]
    fn ages_and_usage() {
        assert_eq!(
            [age(5.4), age(600.0), age(7300.0), age(200_000.0)],
            ["5s", "10m", "2h", "2d"]
        );
        let u = Usage {
            day: "d".into(),
            input_tokens: 12_000,
            output_tokens: 345,
            cost_usd: 0.4242,
            records: 2,
        };
        assert_eq!(usage_text(&u), "12.3k tok \u{b7} $0.42");
    }
}
