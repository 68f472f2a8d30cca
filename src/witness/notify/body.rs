//! The bodies a sink sends, per [`Format`]: one notification, or a digest of
//! several (what a burst becomes); Alertmanager's alert list. Text from a
//! host goes into JSON (escaped by the serializer) or into an ntfy header
//! (reduced to printable ASCII: no header can be injected).

use super::{Format, Notification, Transition};
use crate::detect::Severity;
use serde_json::{json, Map, Value};

/// Items a digest lists in full; the rest are counted.
pub const DIGEST_ITEMS: usize = 50;

/// What to send: content type, extra headers, body.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

fn tag(n: &Notification) -> &'static str {
    match n.state {
        Transition::Cleared => "OK",
        Transition::Raised => n.severity.tag(),
    }
}

/// `[CRIT] kitchen-pi: disk_critical — disk_used_pct 96.0 >= 95.0`.
pub fn one_line(n: &Notification) -> String {
    format!(
        "[{}] {}: {} {} \u{2014} {}",
        tag(n),
        n.origin(),
        n.detector,
        n.state.as_str(),
        n.message
    )
}

fn title(batch: &[Notification]) -> String {
    match batch {
        [n] => format!(
            "[{}] {}: {} {}",
            tag(n),
            n.origin(),
            n.detector,
            n.state.as_str()
        ),
        _ => {
            let raised = batch
                .iter()
                .filter(|n| n.state == Transition::Raised)
                .count();
            format!(
                "agent-runner: {} notifications ({raised} raised, {} cleared)",
                batch.len(),
                batch.len() - raised
            )
        }
    }
}

fn lines(batch: &[Notification], dropped: u64) -> String {
    let mut s: Vec<String> = batch.iter().take(DIGEST_ITEMS).map(one_line).collect();
    let more = batch.len().saturating_sub(DIGEST_ITEMS) as u64 + dropped;
    if more > 0 {
        s.push(format!("… and {more} more"));
    }
    s.join("\n")
}

fn common<'a>(
    batch: &'a [Notification],
    f: impl Fn(&'a Notification) -> &'a Option<String>,
) -> Value {
    let first = batch.first().map(&f);
    if batch.iter().all(|n| Some(f(n)) == first) {
        json!(first.cloned().flatten())
    } else {
        Value::Null
    }
}

/// The JSON body: the notification itself, or for several a digest with
/// the same keys (`detector` `"digest"`, the highest severity, `state`
/// `raised` if any was, `host`/`project` when all share one) plus `count`
/// and `items` (the first [`DIGEST_ITEMS`]).
pub fn json_value(batch: &[Notification], dropped: u64) -> Value {
    if let ([n], 0) = (batch, dropped) {
        return n.to_json();
    }
    let severity = batch
        .iter()
        .map(|n| n.severity)
        .max()
        .unwrap_or(Severity::Warning);
    let state = if batch.iter().any(|n| n.state == Transition::Raised) {
        Transition::Raised
    } else {
        Transition::Cleared
    };
    let mut m = Map::new();
    m.insert("host".into(), common(batch, |n| &n.host));
    m.insert("detector".into(), json!("digest"));
    m.insert("severity".into(), json!(severity.as_str()));
    m.insert("state".into(), json!(state.as_str()));
    m.insert(
        "message".into(),
        json!(format!("{}\n{}", title(batch), lines(batch, dropped))),
    );
    m.insert("ts".into(), json!(crate::timefmt::now_iso_ms()));
    m.insert("project".into(), common(batch, |n| &n.project));
    m.insert("count".into(), json!(batch.len() as u64 + dropped));
    m.insert(
        "items".into(),
        Value::Array(
            batch
                .iter()
                .take(DIGEST_ITEMS)
                .map(Notification::to_json)
                .collect(),
        ),
    );
    Value::Object(m)
}

/// Printable ASCII only, at most 250 characters (an HTTP header value).
fn header_text(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(250)
        .collect()
}

fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The body of one delivery of `batch` in `format` (not Alertmanager's:
/// see [`alertmanager`]). `dropped`: notifications lost to a full queue,
/// counted in a digest.
pub fn render(format: Format, batch: &[Notification], dropped: u64) -> Payload {
    match format {
        Format::Json | Format::Alertmanager => Payload {
            content_type: "application/json",
            headers: Vec::new(),
            body: json_value(batch, dropped).to_string().into_bytes(),
        },
        Format::Ntfy => {
            let worst = batch
                .iter()
                .filter(|n| n.state == Transition::Raised)
                .map(|n| n.severity)
                .max();
            let (priority, tags) = match worst {
                Some(Severity::Critical) => ("5", "rotating_light"),
                Some(_) => ("4", "warning"),
                None => ("3", "white_check_mark"),
            };
            let body = match (batch, dropped) {
                ([n], 0) => n.message.clone(),
                _ => lines(batch, dropped),
            };
            Payload {
                content_type: "text/plain; charset=utf-8",
                headers: vec![
                    ("Title", header_text(&title(batch))),
                    ("Priority", priority.into()),
                    ("Tags", tags.into()),
                ],
                body: body.into_bytes(),
            }
        }
        Format::Slack => {
            let text = match (batch, dropped) {
                ([n], 0) => one_line(n),
                _ => format!("{}\n{}", title(batch), lines(batch, dropped)),
            };
            Payload {
                content_type: "application/json",
                headers: Vec::new(),
                body: json!({"text": slack_escape(&text)})
                    .to_string()
                    .into_bytes(),
            }
        }
    }
}

/// One alert as Alertmanager's API v2 takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AmAlert {
    pub labels: Map<String, Value>,
    pub summary: String,
    pub starts_at: String,
}

/// The labels of `n`: `alertname` (the detector), `host` (the display
/// name, or this machine's host name for the local monitor), `detector`,
/// `severity`, `project`.
pub fn am_labels(n: &Notification, local_host: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("alertname".into(), json!(n.detector));
    m.insert(
        "host".into(),
        json!(n.host.as_deref().unwrap_or(local_host)),
    );
    m.insert("detector".into(), json!(n.detector));
    m.insert("severity".into(), json!(n.severity.as_str()));
    if let Some(p) = &n.project {
        m.insert("project".into(), json!(p));
    }
    m
}

/// `POST /api/v2/alerts`: each alert with `startsAt` and `endsAt` (`ends`:
/// in the past for a cleared episode, ahead for a firing one).
pub fn alertmanager(alerts: &[(AmAlert, String)]) -> Payload {
    let list: Vec<Value> = alerts
        .iter()
        .map(|(a, ends)| {
            json!({
                "labels": a.labels,
                "annotations": {"summary": a.summary},
                "startsAt": a.starts_at,
                "endsAt": ends,
            })
        })
        .collect();
    Payload {
        content_type: "application/json",
        headers: Vec::new(),
        body: Value::Array(list).to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(host: Option<&str>, det: &str, sev: Severity, state: Transition) -> Notification {
        Notification {
            host: host.map(String::from),
            detector: det.into(),
            severity: sev,
            state,
            message: "Round 5 <b>hung</b>\r\nX-Evil: 1".into(),
            ts: "2026-12-05T10:00:00.000Z".into(),
            project: Some("site".into()),
        }
    }

    #[test]
    fn one_notification_is_the_documented_object() {
        let p = render(
            Format::Json,
            &[n(Some("pi"), "hung", Severity::Warning, Transition::Raised)],
            0,
        );
        let v: Value = serde_json::from_slice(&p.body).unwrap_or_default();
        let keys: Vec<&str> = v
            .as_object()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            ["host", "detector", "severity", "state", "message", "ts", "project"]
        );
        assert_eq!(v["state"], "raised");
        assert_eq!(v["host"], "pi");
    }

    #[test]
    fn a_burst_is_one_digest() {
        let batch: Vec<Notification> = (0..60)
            .map(|i| {
                n(
                    Some(&format!("h{}", i % 2)),
                    "hung",
                    if i == 7 {
                        Severity::Critical
                    } else {
                        Severity::Warning
                    },
                    Transition::Raised,
                )
            })
            .collect();
        let v = json_value(&batch, 3);
        assert_eq!(v["detector"], "digest");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["count"], 63);
        assert_eq!(v["host"], Value::Null, "mixed hosts");
        assert_eq!(v["project"], "site");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(DIGEST_ITEMS));
        assert!(v["message"].as_str().unwrap_or("").contains("and 13 more"));
    }

    #[test]
    fn ntfy_headers_cannot_be_injected_and_slack_text_is_escaped() {
        let mut x = n(
            Some("pi\r\nX-Injected: yes"),
            "hung",
            Severity::Critical,
            Transition::Raised,
        );
        x.detector = "hung".into();
        let p = render(Format::Ntfy, &[x.clone()], 0);
        for (_, v) in &p.headers {
            assert!(v.chars().all(|c| (' '..='~').contains(&c)), "{v:?}");
        }
        assert_eq!(p.headers[1], ("Priority", "5".to_string()));
        let s = render(Format::Slack, &[x], 0);
        let v: Value = serde_json::from_slice(&s.body).unwrap_or_default();
        assert!(
            v["text"].as_str().unwrap_or("").contains("&lt;b&gt;hung"),
            "{v}"
        );
    }

    #[test]
    fn alertmanager_labels_and_ends() {
        let x = n(
            None,
            "disk_critical",
            Severity::Critical,
            Transition::Cleared,
        );
        let a = AmAlert {
            labels: am_labels(&x, "laptop"),
            summary: x.message.clone(),
            starts_at: "s".into(),
        };
        let p = alertmanager(&[(a, "2026-12-05T10:00:01.000Z".into())]);
        let v: Value = serde_json::from_slice(&p.body).unwrap_or_default();
        assert_eq!(v[0]["labels"]["host"], "laptop");
        assert_eq!(v[0]["labels"]["severity"], "critical");
        assert_eq!(v[0]["labels"]["project"], "site");
        assert_eq!(v[0]["endsAt"], "2026-12-05T10:00:01.000Z");
    }
}
