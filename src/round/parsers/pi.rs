//! pi `-p -na --mode json` (upstream `pi_error_detector`, delta §13). pi
//! exits 0 on provider failure, so the verdict is the last assistant
//! message's `stopReason == "error"`. Usage is per message and is summed over
//! the round's assistant messages (from `agent_end` records, falling back to
//! `message_end`); a round that consumed no tokens emits no usage. A failing
//! message whose `errorMessage` leads with 401 is an auth error, never a
//! transient bucket.

use super::pyval::{as_float, as_int, json_int, take_chars, truthy, truthy_opt};
use super::{
    classify_code, AuthError, Classification, Found, ParseInput, Transient, Usage, RAW_CAP,
};
use crate::state::pyrepr::py_str;
use serde_json::{Map, Value};

const AGENT: &str = "pi";

type Obj = Map<String, Value>;

pub(super) fn parse(events: &[Obj], input: &ParseInput<'_>, log_head: &str) -> Found {
    let mut from_agent_end: Vec<&Obj> = Vec::new();
    let mut from_message_end: Vec<&Obj> = Vec::new();
    for ev in events {
        match ev.get("type").and_then(Value::as_str) {
            Some("agent_end") => {
                if let Some(Value::Array(msgs)) = ev.get("messages") {
                    from_agent_end.extend(msgs.iter().filter_map(assistant));
                }
            }
            Some("message_end") => {
                if let Some(m) = ev.get("message").and_then(assistant) {
                    from_message_end.push(m);
                }
            }
            _ => {}
        }
    }
    let messages = if from_agent_end.is_empty() {
        from_message_end
    } else {
        from_agent_end
    };
    let Some(last) = messages.last() else {
        return Found::default();
    };

    let error_text = (last.get("stopReason").and_then(Value::as_str) == Some("error"))
        .then(|| truthy_opt(last.get("errorMessage")).map_or_else(|| "error".to_string(), py_str));
    let round_ok = input.success && error_text.is_none();

    let mut found = Found::default();
    if !round_ok {
        if let Some(text) = &error_text {
            let raw = take_chars(text, RAW_CAP);
            if let Some(c) = classify(text) {
                found.transient = Some(Transient::estimated(c, AGENT, input.now_epoch, raw));
            } else if leading_status(text) == Some(401) {
                found.auth = Some(AuthError { agent: AGENT, raw });
            }
        }
    }
    found.usage = usage(&messages, session_start_ms(log_head)).map(|mut u| {
        u.success = Some(round_ok);
        u
    });
    found
}

fn assistant(v: &Value) -> Option<&Obj> {
    match v {
        Value::Object(m) if m.get("role").and_then(Value::as_str) == Some("assistant") => Some(m),
        _ => None,
    }
}

/// The HTTP status pi leads provider errors with (`429 status code …`,
/// `401: {…}`): `^\s*(\d{3})\b`.
fn leading_status(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let digits: String = t.chars().take(3).collect();
    if digits.len() != 3 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // `\b` after the third digit: the next character is not a word character.
    match t[3..].chars().next() {
        Some(c) if c.is_alphanumeric() || c == '_' => None,
        _ => digits.parse().ok(),
    }
}

/// The status prefix is authoritative when present; only without one does
/// the text fallback apply (pi's own "Request timed out.").
fn classify(text: &str) -> Option<Classification> {
    if text.is_empty() {
        return None;
    }
    if let Some(code) = leading_status(text) {
        return classify_code(code);
    }
    let lower = text.to_lowercase();
    (lower.contains("timed out") || lower.contains("timeout")).then_some(Classification::ApiTimeout)
}

/// Epoch-ms of the `session` header among the head lines, if any.
fn session_start_ms(head: &str) -> Option<i64> {
    for line in super::tail::universal_lines(head).take(super::HEAD_LINES) {
        let Ok(Value::Object(ev)) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        if ev.get("type").and_then(Value::as_str) != Some("session") {
            continue;
        }
        let stamp = ev.get("timestamp").and_then(Value::as_str)?;
        return parse_iso_ms(stamp);
    }
    None
}

fn parse_iso_ms(stamp: &str) -> Option<i64> {
    let s = stamp.replace('Z', "+00:00");
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(&s) {
        return Some(dt.timestamp_millis());
    }
    chrono::DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%:z")
        .ok()
        .map(|dt| dt.timestamp_millis())
}

fn usage(messages: &[&Obj], start_ms: Option<i64>) -> Option<Usage> {
    let (mut input, mut output, mut cache_read, mut cache_write) = (0i64, 0i64, 0i64, 0i64);
    let mut cost = 0.0f64;
    let mut tool_calls = 0i64;
    for m in messages {
        if let Some(Value::Object(u)) = m.get("usage") {
            let or0 = |k: &str| as_int(truthy_opt(u.get(k)), 0);
            input = input.saturating_add(or0("input"));
            output = output.saturating_add(or0("output"));
            cache_read = cache_read.saturating_add(or0("cacheRead"));
            cache_write = cache_write.saturating_add(or0("cacheWrite"));
            if let Some(Value::Object(c)) = u.get("cost") {
                cost += as_float(truthy_opt(c.get("total")));
            }
        }
        if let Some(Value::Array(content)) = m.get("content") {
            tool_calls += content
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("toolCall"))
                .count() as i64;
        }
    }
    if input == 0 && output == 0 && cache_read == 0 && cache_write == 0 {
        return None;
    }
    let last = messages.last()?;
    let model = truthy_opt(last.get("model")).map_or_else(|| "unknown".to_string(), py_str);
    let model = match last.get("provider").filter(|p| truthy(p)) {
        Some(p) => format!("{}/{model}", py_str(p)),
        None => model,
    };
    let end = last.get("timestamp").and_then(json_int);
    let mut u = Usage::new(AGENT, model);
    u.input_tokens = input;
    u.output_tokens = output;
    u.cached_tokens = cache_read;
    u.cache_creation_tokens = cache_write;
    u.cost_usd = if cost > 0.0 {
        serde_json::Number::from_f64(cost).map_or(Value::Null, Value::Number)
    } else {
        Value::Null
    };
    u.duration_ms = match (start_ms, end) {
        (Some(s), Some(e)) => e.saturating_sub(s).max(0),
        _ => 0,
    };
    u.tool_call_count = tool_calls;
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use serde_json::json;

    const SESSION: &str = r#"{"type":"session","version":3,"id":"s1","timestamp":"2026-11-25T10:00:00.000Z","cwd":"/w"}"#;
    const START_MS: i64 = 1_795_600_800_000; // 2026-11-25T10:00:00Z

    fn msg(usage: Value, stop: &str, err: Option<&str>, ts: i64, tools: usize) -> Value {
        let mut content = vec![json!({"type": "text", "text": "ok"})];
        for i in 0..tools {
            content.push(json!({"type": "toolCall", "id": format!("c{i}"), "name": "bash", "arguments": {"command": "ls"}}));
        }
        let mut m = json!({"role": "assistant", "content": content, "provider": "moonshot", "model": "kimi-k2",
            "usage": usage, "stopReason": stop, "timestamp": ts});
        if let Some(e) = err {
            m["errorMessage"] = json!(e);
        }
        m
    }

    fn usage(i: i64, o: i64, cr: i64, cost: f64) -> Value {
        json!({"input": i, "output": o, "cacheRead": cr, "cacheWrite": 0, "totalTokens": i + o + cr,
               "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "total": cost}})
    }

    #[test]
    fn two_turn_round_sums_usage() {
        let messages = json!([
            {"role": "user", "content": "go"},
            msg(usage(60, 20, 40, 0.001), "toolUse", None, START_MS + 1000, 1),
            {"role": "toolResult", "content": "x"},
            msg(usage(210, 7, 90, 0.002), "stop", None, START_MS + 4500, 0),
        ]);
        let tail = [
            json!({"type": "message_update", "message": msg(usage(0, 0, 0, 0.0), "error", Some("stale"), 0, 0)}).to_string(),
            json!({"type": "agent_end", "messages": messages}).to_string(),
        ]
        .join("\n");
        let head = format!("(node:1) ExperimentalWarning: x\n{SESSION}\n");
        let i = input("pi", &tail);
        // without the head (and no session line in the tail): duration 0
        let no_head = only(&post_round_events(&i), Kind::AgentUsageRecorded);
        assert_eq!(no_head["duration_ms"], json!(0));
        // a short log whose tail still holds the session header
        let short = format!("{SESSION}\n{tail}");
        let u = only(
            &post_round_events(&input("pi", &short)),
            Kind::AgentUsageRecorded,
        );
        assert_eq!(u["duration_ms"], json!(4500));
        let ev = post_round_events_with_head(&i, &head);
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
        assert_registry_order(&ev);
        let u = only(&ev, Kind::AgentUsageRecorded);
        assert_eq!(u["agent"], json!("pi"));
        assert_eq!(u["model"], json!("moonshot/kimi-k2"));
        assert_eq!(u["input_tokens"], json!(270));
        assert_eq!(u["output_tokens"], json!(27));
        assert_eq!(u["cached_tokens"], json!(130));
        assert_eq!(u["cache_creation_tokens"], json!(0));
        assert_eq!(u["cost_usd"], json!(0.003));
        assert_eq!(u["duration_ms"], json!(4500));
        assert_eq!(u["tool_call_count"], json!(1));
        assert_eq!(u["success"], json!(true));
    }

    #[test]
    fn auth_401_with_exit_0_is_an_auth_event_and_no_usage() {
        let tail = json!({"type": "agent_end", "messages": [
            msg(usage(0, 0, 0, 0.0), "error", Some("401: {\"error\":{\"message\":\"Invalid Authentication\",\"type\":\"invalid_authentication_error\"}}"), START_MS, 0)
        ]})
        .to_string();
        let ev = post_round_events(&input("pi", &tail)); // success = true (exit 0)
        assert_eq!(kinds(&ev), ["agent_auth_error_detected"]);
        assert_registry_order(&ev);
        let a = only(&ev, Kind::AgentAuthErrorDetected);
        assert_eq!(a["agent"], json!("pi"));
        assert_eq!(a["round_num"], json!(7));
        assert!(a["raw"].as_str().is_some_and(|r| r.starts_with("401: ")));
    }

    #[test]
    fn exhausted_429_after_spending_tokens() {
        let tail = json!({"type": "agent_end", "messages": [
            msg(usage(100, 5, 0, 0.0), "toolUse", None, START_MS + 10, 2),
            msg(usage(0, 0, 0, 0.0), "error", Some("429 status code (no body)"), START_MS + 20, 0),
        ]})
        .to_string();
        let ev = post_round_events(&input("pi", &tail));
        assert_eq!(
            kinds(&ev),
            ["transient_error_detected", "agent_usage_recorded"]
        );
        assert_registry_order(&ev);
        let t = only(&ev, Kind::TransientErrorDetected);
        assert_eq!(t["classification"], json!("rate_limit_model"));
        assert_eq!(t["reset_at_epoch"], json!(NOW + 60));
        assert_eq!(t["raw"], json!("429 status code (no body)"));
        let u = only(&ev, Kind::AgentUsageRecorded);
        assert_eq!(u["success"], json!(false));
        assert_eq!(u["cost_usd"], json!(null));
        assert_eq!(u["duration_ms"], json!(0), "no session header in the head");
        assert_eq!(u["tool_call_count"], json!(2));
    }

    #[test]
    fn timeout_text_and_message_end_fallback() {
        let tail = [
            json!({"type": "message_end", "message": msg(usage(5, 1, 0, 0.0), "toolUse", None, 1, 0)}).to_string(),
            json!({"type": "message_end", "message": {"role": "user", "content": "x"}}).to_string(),
            json!({"type": "message_end", "message": msg(usage(0, 0, 0, 0.0), "error", Some("Request timed out."), 2, 0)}).to_string(),
        ]
        .join("\n");
        let ev = post_round_events(&input("pi", &tail));
        assert_eq!(
            kinds(&ev),
            ["transient_error_detected", "agent_usage_recorded"]
        );
        let t = only(&ev, Kind::TransientErrorDetected);
        assert_eq!(t["classification"], json!("api_timeout"));
        assert_eq!(t["reset_at_epoch"], json!(NOW + 30));
        assert_eq!(
            only(&ev, Kind::AgentUsageRecorded)["input_tokens"],
            json!(5)
        );
    }

    #[test]
    fn leading_status_rules() {
        assert_eq!(super::leading_status("  429 status code"), Some(429));
        assert_eq!(super::leading_status("401: {}"), Some(401));
        assert_eq!(super::leading_status("4290 tokens"), None);
        assert_eq!(super::leading_status("42"), None);
        assert_eq!(super::leading_status("503"), Some(503));
    }

    #[test]
    fn matches_upstream_on_samples() {
        super::super::tests_upstream::check("pi");
    }
}
