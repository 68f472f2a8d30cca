//! codex `exec --json` (not an upstream parser; written from codex's
//! published JSONL event schema, `codex-rs/exec/src/exec_events.rs`):
//! `thread.started`, `turn.started`, `item.*`, `turn.completed {usage}`,
//! `turn.failed {error.message}`, `error {message}`.
//!
//! * Usage: summed over `turn.completed` records. codex's `input_tokens`
//!   includes the cached part (OpenAI convention); ours is net, so
//!   `input_tokens = input_tokens - cached_input_tokens`. The stream names no
//!   model (`"unknown"`), no cost, no duration. Tool calls: completed
//!   `command_execution`, `mcp_tool_call`, `file_change`, `web_search` items.
//! * Errors come only as text (`exceeded retry limit, last status: 429 Too
//!   Many Requests`, `unexpected status 401 Unauthorized: …`, `You've hit
//!   your usage limit … try again in 2 hours 5 minutes`). The HTTP status in
//!   the text goes through the shared ladder; 401/403 or auth wording is an
//!   auth error; a usage limit with a "try again in …" delay is an account
//!   rate limit reset after that delay; other rate-limit wording is a model
//!   rate limit.

use super::pyval::{as_int, take_chars};
use super::{
    auth_text, classify_code, AuthError, Classification, Found, ParseInput, Transient, Usage,
    RAW_CAP,
};
use regex::Regex;
use serde_json::{Map, Value};
use std::sync::LazyLock;

const AGENT: &str = "codex";

type Obj = Map<String, Value>;

const TOOL_ITEMS: &[&str] = &[
    "command_execution",
    "mcp_tool_call",
    "file_change",
    "web_search",
];

pub(super) fn parse(events: &[Obj], input: &ParseInput<'_>) -> Found {
    let mut turns = 0;
    let (mut inp, mut cached, mut out) = (0i64, 0i64, 0i64);
    let mut tools = 0i64;
    let mut last_error: Option<String> = None;
    for ev in events {
        match ev.get("type").and_then(Value::as_str) {
            Some("turn.completed") => {
                turns += 1;
                if let Some(Value::Object(u)) = ev.get("usage") {
                    inp = inp.saturating_add(as_int(u.get("input_tokens"), 0));
                    cached = cached.saturating_add(as_int(u.get("cached_input_tokens"), 0));
                    out = out.saturating_add(as_int(u.get("output_tokens"), 0));
                }
            }
            Some("item.completed") => {
                let kind = ev
                    .get("item")
                    .and_then(|i| i.get("type"))
                    .and_then(Value::as_str);
                if kind.is_some_and(|k| TOOL_ITEMS.contains(&k)) {
                    tools += 1;
                }
            }
            Some("turn.failed") => {
                let msg = ev
                    .get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str);
                last_error = Some(msg.unwrap_or("turn failed").to_string());
            }
            Some("error") => {
                let msg = ev.get("message").and_then(Value::as_str);
                last_error = Some(msg.unwrap_or("error").to_string());
            }
            _ => {}
        }
    }
    let mut found = Found::default();
    if let Some(text) = last_error {
        let raw = take_chars(&text, RAW_CAP);
        match classify(&text, input.now_epoch) {
            Verdict::Transient(c, reset) => {
                found.transient = Some(Transient {
                    classification: c,
                    agent: AGENT,
                    reset_at_epoch: reset,
                    raw,
                });
            }
            Verdict::Auth => found.auth = Some(AuthError { agent: AGENT, raw }),
            Verdict::Other => {}
        }
    }
    if turns > 0 {
        let mut u = Usage::new(AGENT, "unknown".into());
        u.input_tokens = inp.saturating_sub(cached).max(0);
        u.cached_tokens = cached;
        u.output_tokens = out;
        u.tool_call_count = tools;
        found.usage = Some(u);
    }
    found
}

enum Verdict {
    Transient(Classification, i64),
    Auth,
    Other,
}

fn re(p: &str) -> Option<Regex> {
    Regex::new(p).ok()
}

static STATUS_RE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    re(
        r"(?i)\bstatus(?:[ _]code)?:?\s*([1-5][0-9]{2})\b|\b([1-5][0-9]{2})\s+(?:too many requests|internal server error|bad gateway|service unavailable|gateway timeout|request timeout|unauthorized|forbidden)\b",
    )
});
static RATE_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)\b(usage limit|rate limit|too many requests|quota)"));
static AGAIN_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)try again in ([^.]*)"));
static SPAN_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| re(r"(?i)(\d+)\s*(days?|hours?|hrs?|minutes?|mins?|seconds?|secs?)\b"));
static TIMEOUT_RE: LazyLock<Option<Regex>> = LazyLock::new(|| re(r"(?i)\b(timed out|timeout)\b"));

fn status_in(text: &str) -> Option<i64> {
    let caps = STATUS_RE.as_ref()?.captures(text)?;
    caps.get(1)
        .or_else(|| caps.get(2))
        .and_then(|m| m.as_str().parse().ok())
}

/// Seconds in "4 days 1 hour 37 minutes" after "try again in".
fn try_again_secs(text: &str) -> Option<i64> {
    let after = AGAIN_RE.as_ref()?.captures(text)?.get(1)?.as_str();
    let mut total = 0i64;
    let mut any = false;
    for c in SPAN_RE.as_ref()?.captures_iter(after) {
        let n: i64 = c.get(1)?.as_str().parse().ok()?;
        let unit = c.get(2)?.as_str().to_ascii_lowercase();
        let mult = match unit.chars().next() {
            Some('d') => 86_400,
            Some('h') => 3_600,
            Some('m') => 60,
            _ => 1,
        };
        total = total.saturating_add(n.saturating_mul(mult));
        any = true;
    }
    any.then_some(total)
}

fn classify(text: &str, now: i64) -> Verdict {
    let matches = |r: &LazyLock<Option<Regex>>| r.as_ref().is_some_and(|r| r.is_match(text));
    if let Some(code) = status_in(text) {
        if let Some(c) = classify_code(code) {
            return Verdict::Transient(c, now.saturating_add(c.default_backoff_s()));
        }
        if code == 401 || code == 403 {
            return Verdict::Auth;
        }
    }
    if text.to_lowercase().contains("usage limit") {
        if let Some(secs) = try_again_secs(text) {
            return Verdict::Transient(Classification::RateLimitAccount, now.saturating_add(secs));
        }
    }
    if matches(&RATE_RE) {
        let c = Classification::RateLimitModel;
        return Verdict::Transient(c, now.saturating_add(c.default_backoff_s()));
    }
    if auth_text(text) {
        return Verdict::Auth;
    }
    if matches(&TIMEOUT_RE) {
        let c = Classification::ApiTimeout;
        return Verdict::Transient(c, now.saturating_add(c.default_backoff_s()));
    }
    Verdict::Other
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use serde_json::json;

    /// A successful two-turn `codex exec --json` log (hand-written from the
    /// published schema, with stderr chatter mixed in).
    fn ok_log() -> String {
        [
            "Reading prompt from stdin...".to_string(),
            json!({"type": "thread.started", "thread_id": "0199a213-81c0-7800-8aa1-bbab2a035a53"}).to_string(),
            json!({"type": "turn.started"}).to_string(),
            json!({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning", "text": "**Scanning**"}}).to_string(),
            json!({"type": "item.started", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls", "aggregated_output": "", "exit_code": null, "status": "in_progress"}}).to_string(),
            json!({"type": "item.completed", "item": {"id": "item_1", "type": "command_execution", "command": "bash -lc ls", "aggregated_output": "Cargo.toml\nsrc\n", "exit_code": 0, "status": "completed"}}).to_string(),
            json!({"type": "item.completed", "item": {"id": "item_2", "type": "file_change", "changes": [{"path": "src/lib.rs", "kind": "update"}], "status": "completed"}}).to_string(),
            json!({"type": "item.completed", "item": {"id": "item_3", "type": "agent_message", "text": "Done."}}).to_string(),
            json!({"type": "turn.completed", "usage": {"input_tokens": 24763, "cached_input_tokens": 24448, "output_tokens": 122}}).to_string(),
            json!({"type": "turn.started"}).to_string(),
            json!({"type": "item.completed", "item": {"id": "item_4", "type": "mcp_tool_call", "server": "fs", "tool": "read", "arguments": {}, "result": null, "error": null, "status": "completed"}}).to_string(),
            json!({"type": "turn.completed", "usage": {"input_tokens": 1000, "cached_input_tokens": 0, "output_tokens": 8}}).to_string(),
        ]
        .join("\n")
    }

    #[test]
    fn usage_summed_net_input() {
        let log = ok_log();
        let ev = post_round_events(&input("codex", &log));
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
        assert_registry_order(&ev);
        let u = only(&ev, Kind::AgentUsageRecorded);
        assert_eq!(u["agent"], json!("codex"));
        assert_eq!(u["model"], json!("unknown"));
        assert_eq!(u["input_tokens"], json!(24763 - 24448 + 1000));
        assert_eq!(u["cached_tokens"], json!(24448));
        assert_eq!(u["output_tokens"], json!(130));
        assert_eq!(u["tool_call_count"], json!(3));
        assert_eq!(u["cost_usd"], json!(null));
        assert_eq!(u["cache_creation_tokens"], json!(0));
    }

    fn failed(msg: &str) -> String {
        [
            json!({"type": "thread.started", "thread_id": "t"}).to_string(),
            json!({"type": "turn.started"}).to_string(),
            json!({"type": "error", "message": "Reconnecting... 1/5"}).to_string(),
            json!({"type": "error", "message": msg}).to_string(),
            json!({"type": "turn.failed", "error": {"message": msg}}).to_string(),
        ]
        .join("\n")
    }

    fn transient(msg: &str) -> Map<String, Value> {
        let log = failed(msg);
        let mut i = input("codex", &log);
        i.success = false;
        let ev = post_round_events(&i);
        assert_registry_order(&ev);
        only(&ev, Kind::TransientErrorDetected)
    }

    #[test]
    fn rate_limit_429() {
        let t = transient(
            "exceeded retry limit, last status: 429 Too Many Requests, request id: c4fc59ca",
        );
        assert_eq!(t["classification"], json!("rate_limit_model"));
        assert_eq!(t["agent"], json!("codex"));
        assert_eq!(t["reset_at_epoch"], json!(NOW + 60));
        assert_eq!(
            t["raw"],
            json!("exceeded retry limit, last status: 429 Too Many Requests, request id: c4fc59ca")
        );
    }

    #[test]
    fn server_errors_and_timeout() {
        for (msg, class, secs) in [
            ("unexpected status 503 Service Unavailable: upstream connect error", "api_transient_5xx", 60),
            ("exceeded retry limit, last status: 500 Internal Server Error", "api_transient_5xx", 60),
            ("stream error: 502 Bad Gateway", "api_transient_5xx", 60),
            ("unexpected status 408 Request Timeout", "api_timeout", 30),
            ("stream disconnected before completion: idle timeout waiting for SSE", "api_timeout", 30),
            ("stream disconnected before completion: Your requests to gpt-5.4 have exceeded rate limit.", "rate_limit_model", 60),
        ] {
            let t = transient(msg);
            assert_eq!(t["classification"], json!(class), "{msg}");
            assert_eq!(t["reset_at_epoch"], json!(NOW + secs), "{msg}");
        }
    }

    #[test]
    fn usage_limit_with_delay_is_account_limit() {
        let t = transient("You've hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro) or try again in 1 day 2 hours 5 minutes.");
        assert_eq!(t["classification"], json!("rate_limit_account"));
        assert_eq!(t["reset_at_epoch"], json!(NOW + 86_400 + 7_200 + 300));
        let t = transient("You've hit your usage limit. Try again later.");
        assert_eq!(t["classification"], json!("rate_limit_model"));
    }

    #[test]
    fn auth_failures() {
        for msg in [
            "unexpected status 401 Unauthorized: {\"detail\":\"Unauthorized\"}, url: https://chatgpt.com/backend-api/codex/responses",
            "unexpected status 401 Unauthorized: Incorrect API key provided: sk-abcdefghijklmnopqrstuv",
            "unexpected status 403 Forbidden: Missing scopes: api.responses.write",
            "Your access token could not be refreshed because your refresh token has expired. Please log out and sign in again.",
        ] {
            let log = failed(msg);
            let ev = post_round_events(&input("codex", &log));
            assert_eq!(kinds(&ev), ["agent_auth_error_detected"], "{msg}");
            assert_registry_order(&ev);
            let raw = only(&ev, Kind::AgentAuthErrorDetected)["raw"].clone();
            assert!(!raw.as_str().unwrap_or("").contains("sk-abcdefghij"), "{raw}");
        }
    }

    #[test]
    fn unrelated_failure_is_nothing() {
        let log = failed("sandbox error: command was killed by a signal");
        assert!(post_round_events(&input("codex", &log)).is_empty());
    }
}
