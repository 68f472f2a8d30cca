//! Views of the fleet table: the live terminal table, and the HTTP view
//! (`/` the dashboard, `/host/<name>`, both live over SSE from
//! [`super::pages`]; `/api/fleet`, `/api/host/<name>`, Prometheus
//! `/metrics`).

use super::link::{Row, Table};
use crate::witness::http::Response;
use crate::witness::prom;
use serde_json::Value;
use std::collections::BTreeMap;

/// Render the fleet table (plain text, one row per host) for a terminal:
/// every string from a host is escaped ([`crate::termsafe::text`]).
pub fn render_table(rows: &BTreeMap<String, Row>) -> String {
    use crate::termsafe::text;
    let mut s = format!(
        "{:<20} {:<16} {:>7} {:<12} {:>10} ALERTS\n",
        "HOST", "STATE", "ROUND", "PHASE", "LAST EVT"
    );
    for r in rows.values() {
        let round = match (r.round, r.round_running) {
            (Some(n), Some(true)) => format!("{n}*"),
            (Some(n), _) => n.to_string(),
            _ => "-".into(),
        };
        let age = r
            .last_event_age_s
            .map(|a| format!("{:.0}s", a.max(0.0)))
            .unwrap_or_else(|| "-".into());
        let alerts: Vec<&str> = r
            .alerts
            .iter()
            .filter_map(|a| a.get("detector").and_then(Value::as_str))
            .collect();
        let mut alerts = if alerts.is_empty() {
            r.error.clone().unwrap_or_default()
        } else {
            alerts.join(",")
        };
        if let Some(e) = &r.notify_error {
            alerts.push_str(&format!(" [notify failed: {e}]"));
        }
        s.push_str(&format!(
            "{:<20} {:<16} {:>7} {:<12} {:>10} {}\n",
            text(&r.name),
            text(state_text(r)),
            round,
            text(r.phase.as_deref().unwrap_or("-")),
            age,
            text(&alerts)
        ));
    }
    s
}

/// The state column: a deferring host says what it waits for (memory), a
/// host whose agent waits for a human says what for ("needs login"), else
/// the link state.
pub(super) fn state_text(r: &Row) -> &str {
    r.deferred
        .as_deref()
        .or(r.needs.as_deref())
        .unwrap_or(&r.state)
}

/// Prometheus text for the fleet (every series has a `host` label;
/// docs/fleet.md lists them).
pub fn prometheus(rows: &BTreeMap<String, Row>) -> String {
    let mut e = prom::Exposition::new();
    let mut f = e.gauge(
        "agent_runner_host_up",
        "1 when the witness has a live probe stream from the host.",
    );
    for r in rows.values() {
        let up = matches!(r.state.as_str(), "ok" | "alert" | "deferred");
        f.sample(&[("host", &r.name)], f64::from(u8::from(up)));
    }
    let mut f = e.gauge("agent_runner_alerts_active", "Active alerts per host.");
    for r in rows.values() {
        f.sample(&[("host", &r.name)], r.alerts.len() as f64);
    }
    let mut f = e.gauge("agent_runner_alert", "Active alert by detector.");
    for r in rows.values() {
        for a in &r.alerts {
            let d = a.get("detector").and_then(Value::as_str).unwrap_or("");
            f.sample(&[("host", &r.name), ("detector", d)], 1.0);
        }
    }
    let mut f = e.counter(
        "agent_runner_events_received_total",
        "Events relayed from the host.",
    );
    for r in rows.values() {
        f.sample(&[("host", &r.name)], r.events_received as f64);
    }
    let mut f = e.gauge(
        "agent_runner_last_event_age_seconds",
        "Age of the newest event on the host's clock.",
    );
    for r in rows.values() {
        if let Some(a) = r.last_event_age_s {
            f.sample(&[("host", &r.name)], a);
        }
    }
    let mut f = e.gauge(
        "agent_runner_round",
        "Number of the latest round on the host.",
    );
    for r in rows.values() {
        if let Some(n) = r.round {
            f.sample(&[("host", &r.name)], n as f64);
        }
    }
    e.finish()
}

/// The fleet HTTP handler over the shared table.
pub fn handle(table: &Table, method: &str, path: &str) -> Response {
    let text = |status: u16, body: String| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    };
    if method != "GET" {
        return text(405, "only GET\n".into());
    }
    let Ok(rows) = table.lock() else {
        return text(500, "state lock poisoned\n".into());
    };
    let path = path.split('?').next().unwrap_or("");
    match path {
        "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: super::pages::overview_page(&rows),
        },
        "/api/fleet" => Response {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_string(&rows.values().collect::<Vec<_>>()).unwrap_or_default(),
        },
        "/metrics" => Response {
            status: 200,
            content_type: prom::CONTENT_TYPE,
            body: prometheus(&rows),
        },
        p => {
            let (api, name) = match (p.strip_prefix("/api/host/"), p.strip_prefix("/host/")) {
                (Some(n), _) => (true, n),
                (_, Some(n)) => (false, n),
                _ => return text(404, format!("no such page '{p}'\n")),
            };
            match rows.get(&super::pages::decode(name)) {
                Some(r) if api => Response {
                    status: 200,
                    content_type: "application/json",
                    body: serde_json::to_string(r).unwrap_or_default(),
                },
                Some(r) => Response {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: super::pages::host_page(r),
                },
                None => text(404, format!("no host named '{name}'\n")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn table() -> Table {
        let mut m = BTreeMap::new();
        m.insert(
            "pi".to_string(),
            Row {
                name: "pi".into(),
                alias: "pi".into(),
                state: "alert".into(),
                round: Some(7),
                round_running: Some(true),
                phase: Some("build".into()),
                last_event_age_s: Some(12.4),
                alerts: vec![json!({"detector": "hung", "message": "Round 7 <stuck>"})],
                events_received: 3,
                ..Default::default()
            },
        );
        m.insert(
            "b\"x".to_string(),
            Row {
                name: "b\"x".into(),
                state: "unreachable".into(),
                error: Some("connection refused".into()),
                ..Default::default()
            },
        );
        Arc::new(Mutex::new(m))
    }

    #[test]
    fn table_rows_show_state_round_phase_age_and_alerts() {
        let t = render_table(&table().lock().unwrap());
        let pi = t.lines().find(|l| l.starts_with("pi ")).unwrap();
        for want in ["alert", "7*", "build", "12s", "hung"] {
            assert!(pi.contains(want), "{pi}");
        }
        let other = t.lines().find(|l| l.starts_with("b\"x")).unwrap();
        assert!(other.contains("unreachable") && other.contains("connection refused"));
    }

    #[test]
    fn a_host_whose_agent_waits_for_a_human_says_what_for() {
        let t = table();
        if let Some(r) = t.lock().unwrap().get_mut("pi") {
            r.needs = Some("waiting for browser sign-in".into());
        }
        let rows = t.lock().unwrap().clone();
        let text = render_table(&rows);
        let pi = text.lines().find(|l| l.starts_with("pi ")).unwrap();
        assert!(pi.contains("waiting for browser sign-in"), "{pi}");
        let page = crate::fleet::pages::overview(&rows);
        assert!(page.contains("waiting for browser sign-in"), "{page}");
        // the host is still up for the metrics
        assert!(prometheus(&rows).contains("agent_runner_host_up{host=\"pi\"} 1"));
    }

    #[test]
    fn a_deferring_host_says_so_instead_of_its_state() {
        let t = table();
        if let Some(r) = t.lock().unwrap().get_mut("pi") {
            r.state = "deferred".into();
            r.deferred = Some("deferred: memory critical for 4m".into());
        }
        let text = render_table(&t.lock().unwrap());
        let pi = text.lines().find(|l| l.starts_with("pi ")).unwrap();
        assert!(pi.contains("deferred: memory critical for 4m"), "{pi}");
        assert!(prometheus(&t.lock().unwrap()).contains("agent_runner_host_up{host=\"pi\"} 1"));
    }

    #[test]
    fn control_characters_in_a_row_reach_the_terminal_escaped() {
        let mut m = BTreeMap::new();
        m.insert(
            "evil".to_string(),
            Row {
                name: "pi\x1b[2J".into(),
                state: "blip".into(),
                phase: Some("\rbuild\u{9b}31m".into()),
                error: Some("boom\x07 \x1b]0;title\x07".into()),
                ..Default::default()
            },
        );
        let t = render_table(&m);
        assert!(
            !t.chars().any(|c| c.is_control() && c != '\n'),
            "raw control characters: {t:?}"
        );
        for want in [
            "pi\\x1b[2J",
            "\\rbuild\\u{9b}31m",
            "boom\\x07 \\x1b]0;title\\x07",
        ] {
            assert!(t.contains(want), "{want} in {t}");
        }
        assert_eq!(t.lines().count(), 2, "{t}");
    }

    #[test]
    fn http_handler_pages_and_metrics_labels() {
        let t = table();
        let m = handle(&t, "GET", "/metrics").body;
        assert!(m.contains("agent_runner_host_up{host=\"pi\"} 1"), "{m}");
        assert!(m.contains("agent_runner_host_up{host=\"b\\\"x\"} 0"), "{m}");
        assert!(
            m.contains("agent_runner_alert{host=\"pi\",detector=\"hung\"} 1"),
            "{m}"
        );
        let page = handle(&t, "GET", "/").body;
        assert!(page.contains("Round 7 &lt;stuck&gt;"), "{page}");
        let api: Value = serde_json::from_str(&handle(&t, "GET", "/api/fleet").body).unwrap();
        assert_eq!(api.as_array().unwrap().len(), 2);
        assert_eq!(handle(&t, "GET", "/api/host/pi").status, 200);
        assert_eq!(handle(&t, "GET", "/host/zz").status, 404);
        assert_eq!(handle(&t, "POST", "/").status, 405);
        assert_eq!(handle(&t, "GET", "/etc/passwd").status, 404);
    }
}
