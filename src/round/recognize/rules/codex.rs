//! codex (`exec --json`, 0.171.0): JSON records on stdout (`error` records
//! while it reconnects are not final; `turn.failed` is), tracing lines on
//! stderr.

use super::super::{Class, EndRule, Hit, LineView, Signal};
use super::{first_of, NETWORK_WORDS, QUOTA_WORDS};
use serde_json::Value;

pub(super) fn line(l: &LineView<'_>) -> Hit {
    let Some(j) = l.json else {
        return Hit::default();
    };
    match l.str_field("type") {
        Some("turn.completed") => Hit::progress(),
        Some("item.completed") => {
            let kind = j
                .get("item")
                .and_then(|i| i.get("type"))
                .and_then(Value::as_str);
            if kind == Some("agent_message") {
                Hit::progress()
            } else {
                Hit::default()
            }
        }
        Some("error") => message(l.str_field("message").unwrap_or("")),
        Some("turn.failed") => {
            let m = j
                .get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let hit = message(m);
            if hit.signal.is_some() {
                return hit;
            }
            failed(m)
        }
        _ => Hit::default(),
    }
}

fn message(m: &str) -> Hit {
    // after its reconnect attempts codex waits for the network forever
    if m.contains("waiting for network") {
        return Hit::signal(
            Signal::new(Class::Network, "waiting for network", m).end(EndRule::Now),
        );
    }
    if m.contains("You didn't provide an API key") {
        return Hit::signal(
            Signal::new(Class::Auth, "You didn't provide an API key", m).needs(
                "login",
                "an API key or a login: codex has none",
                "run `codex login` as the user that runs agent-runner, or set OPENAI_API_KEY",
            ),
        );
    }
    if let Some(q) = first_of(m, QUOTA_WORDS) {
        return Hit::signal(Signal::new(Class::RateLimit, q, m).quota());
    }
    if m.starts_with("Reconnecting...") {
        if let Some(w) = first_of(m, NETWORK_WORDS) {
            return Hit::signal(Signal::new(Class::Network, w, m));
        }
    }
    Hit::default()
}

/// The final failure of a turn, by the HTTP status codex names (the JSON
/// parser reads the same record; this keeps a round cut short classified).
fn failed(m: &str) -> Hit {
    if let Some(a) = first_of(m, &["401 Unauthorized", "403 Forbidden"]) {
        return Hit::signal(Signal::new(Class::Auth, a, m));
    }
    if let Some(r) = first_of(m, &["429 Too Many Requests", "rate limit"]) {
        return Hit::signal(Signal::new(Class::RateLimit, r, m));
    }
    if let Some(s) = first_of(
        m,
        &[
            "500 Internal Server Error",
            "502 Bad Gateway",
            "503 Service Unavailable",
        ],
    ) {
        return Hit::signal(Signal::new(Class::Overloaded, s, m));
    }
    Hit::default()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;

    fn err(m: &str) -> String {
        serde_json::json!({"type": "error", "message": m}).to_string()
    }

    #[test]
    fn network_wait_ends_now_and_reconnects_only_classify() {
        let s = hit(
            line,
            "",
            &err("Reconnecting... waiting for network (Connection failed: error sending request)"),
        )
        .signal;
        assert_eq!(
            s.map(|s| (s.class, s.end)),
            Some((Class::Network, EndRule::Now))
        );
        let s = hit(line, "", &err("Reconnecting... 2/5 (stream disconnected before completion: failed to lookup address information: Name does not resolve)")).signal;
        assert_eq!(
            s.map(|s| (s.class, s.end)),
            Some((Class::Network, EndRule::AfterRound))
        );
        // a 429 reconnect is the JSON parser's (it reads the status)
        assert!(hit(
            line,
            "",
            &err("Reconnecting... 2/5 (exceeded retry limit, last status: 429 Too Many Requests)")
        )
        .signal
        .is_none());
    }

    #[test]
    fn no_key_quota_and_progress() {
        let f = serde_json::json!({"type": "turn.failed", "error": {"message": "unexpected status 401 Unauthorized: You didn't provide an API key. You need…"}}).to_string();
        assert_eq!(hit(line, "", &f).signal.and_then(|s| s.need), Some("login"));
        let s = hit(
            line,
            "",
            &err("Quota exceeded. Check your plan and billing details."),
        )
        .signal;
        assert_eq!(
            s.map(|s| (s.class, s.quota)),
            Some((Class::RateLimit, true))
        );
        assert!(hit(line, "", "{\"type\":\"turn.completed\",\"usage\":{}}").progress);
        // stderr tracing lines say nothing
        assert_eq!(
            hit(
                line,
                "",
                "2026-12-05T13:47:33Z ERROR codex_api: failed to connect"
            )
            .signal,
            None
        );
    }
}
