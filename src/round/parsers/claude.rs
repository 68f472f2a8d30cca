//! claude `-p --output-format stream-json` (upstream `claude_error_detector`):
//! the last rejected `rate_limit_event`, the last `result`, the last
//! assistant model and every `tool_use` block. Transient classification,
//! usage, the repetitive-tool anomaly; plus an auth error when the result is
//! an error that names an auth failure (not upstream: the monitor's
//! structured auth signal for claude). Not upstream either: the
//! `<synthetic>` model (claude's stand-in message for an error it raised
//! itself, e.g. "Not logged in") is no model, and a round whose only
//! assistant was synthetic and whose usage is all zero records no usage.

use super::pyval::{as_int, take_chars, truthy};
use super::{
    auth_text, classify_code, classify_status, Anomaly, AuthError, Classification, Found,
    ParseInput, Transient, Usage, RAW_CAP,
};
use crate::state::pyrepr::py_str;
use serde_json::{Map, Value};

const AGENT: &str = "claude";
/// The model name claude gives the messages it writes itself.
const SYNTHETIC: &str = "<synthetic>";

fn zero(u: &Usage) -> bool {
    u.input_tokens == 0
        && u.output_tokens == 0
        && u.cached_tokens == 0
        && u.cache_creation_tokens == 0
}

type Obj = Map<String, Value>;

pub(super) fn parse(events: &[Obj], input: &ParseInput<'_>) -> Found {
    let mut rate_limit: Option<&Obj> = None;
    let mut result: Option<&Obj> = None;
    let mut model: Option<String> = None;
    let mut synthetic = false;
    let mut tools: Vec<(String, Option<String>)> = Vec::new();
    for ev in events {
        match ev.get("type").and_then(Value::as_str) {
            Some("rate_limit_event") => {
                if let Some(Value::Object(rli)) = ev.get("rate_limit_info") {
                    if rli.get("status").and_then(Value::as_str) == Some("rejected") {
                        rate_limit = Some(rli);
                    }
                }
            }
            Some("result") => result = Some(ev),
            Some("assistant") => {
                let Some(Value::Object(msg)) = ev.get("message") else {
                    continue;
                };
                if let Some(m) = msg.get("model").filter(|m| truthy(m)) {
                    if m.as_str() == Some(SYNTHETIC) {
                        synthetic = true;
                    } else {
                        model = Some(py_str(m));
                    }
                }
                if let Some(Value::Array(content)) = msg.get("content") {
                    for block in content {
                        let Value::Object(b) = block else { continue };
                        if b.get("type").and_then(Value::as_str) == Some("tool_use") {
                            let name = b.get("name").map_or_else(|| "?".to_string(), py_str);
                            tools.push((name, tool_target(b.get("input"))));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    let transient = classify(rate_limit, result, input.now_epoch);
    let auth = if transient.is_none() {
        auth_error(result)
    } else {
        None
    };
    let usage = result
        .and_then(|r| usage(r, model.clone(), tools.len()))
        .filter(|u| !(synthetic && model.is_none() && zero(u)));
    let anomaly = repetitive(&tools, input.repetitive_window, input.repetitive_threshold);
    Found {
        transient,
        auth,
        usage,
        anomaly,
    }
}

/// First string among the input keys `file_path`, `path`, `pattern`,
/// `command`, cut to 100 characters.
fn tool_target(input: Option<&Value>) -> Option<String> {
    let Some(Value::Object(i)) = input else {
        return None;
    };
    ["file_path", "path", "pattern", "command"]
        .iter()
        .find_map(|k| i.get(*k).and_then(Value::as_str))
        .map(|s| take_chars(s, 100))
}

fn result_text(result: Option<&Obj>) -> String {
    let text = result
        .and_then(|r| r.get("result"))
        .map_or_else(String::new, py_str);
    take_chars(&text, RAW_CAP)
}

/// An account-level (five-hour) rejection outranks the result's
/// `api_error_status`, which goes through the shared ladder.
fn classify(rate_limit: Option<&Obj>, result: Option<&Obj>, now: i64) -> Option<Transient> {
    if let Some(rli) = rate_limit {
        if rli.get("rateLimitType").and_then(Value::as_str) == Some("five_hour") {
            return Some(Transient {
                classification: Classification::RateLimitAccount,
                agent: AGENT,
                reset_at_epoch: as_int(rli.get("resetsAt"), now.saturating_add(300)),
                raw: result_text(result),
            });
        }
    }
    let r = result?;
    if r.get("is_error") != Some(&Value::Bool(true)) {
        return None;
    }
    let c = classify_status(r.get("api_error_status"))?;
    Some(Transient::estimated(c, AGENT, now, result_text(Some(r))))
}

/// An error result whose status is 401/403 or whose text names an auth
/// failure ("Invalid API key", "OAuth token has expired", …).
fn auth_error(result: Option<&Obj>) -> Option<AuthError> {
    let r = result?;
    if r.get("is_error") != Some(&Value::Bool(true)) {
        return None;
    }
    let status = r.get("api_error_status").and_then(super::pyval::json_int);
    let text = result_text(Some(r));
    let by_status = matches!(status, Some(401 | 403));
    // A status the ladder classifies is never an auth error.
    let by_text = status.and_then(classify_code).is_none() && auth_text(&text);
    (by_status || by_text).then_some(AuthError {
        agent: AGENT,
        raw: text,
    })
}

fn usage(result: &Obj, model: Option<String>, tool_calls: usize) -> Option<Usage> {
    let Some(Value::Object(u)) = result.get("usage") else {
        return None;
    };
    if u.is_empty() {
        return None;
    }
    let mut out = Usage::new(AGENT, model.unwrap_or_else(|| "unknown".into()));
    out.input_tokens = as_int(u.get("input_tokens"), 0);
    out.output_tokens = as_int(u.get("output_tokens"), 0);
    out.cached_tokens = as_int(u.get("cache_read_input_tokens"), 0);
    out.cache_creation_tokens = as_int(u.get("cache_creation_input_tokens"), 0);
    out.cost_usd = result.get("total_cost_usd").cloned().unwrap_or(Value::Null);
    out.duration_ms = as_int(result.get("duration_ms"), 0);
    out.tool_call_count = i64::try_from(tool_calls).unwrap_or(i64::MAX);
    Some(out)
}

/// Among the last `window` tool calls, the most frequent (name, target)
/// pair (ties: first seen); an anomaly when its count reaches `threshold`.
/// Equivalent to upstream's sliding loop, whose first (largest) slice is the
/// only one that can fire.
fn repetitive(tools: &[(String, Option<String>)], window: u64, threshold: u64) -> Option<Anomaly> {
    let n = tools.len() as u64;
    if window == 0 || threshold == 0 || n < threshold {
        return None;
    }
    let start = usize::try_from(n.saturating_sub(window)).unwrap_or(0);
    let slice = &tools[start..];
    let mut counts: Vec<(&(String, Option<String>), u64)> = Vec::new();
    for call in slice {
        match counts.iter_mut().find(|(c, _)| *c == call) {
            Some((_, k)) => *k += 1,
            None => counts.push((call, 1)),
        }
    }
    let mut best: Option<(&(String, Option<String>), u64)> = None;
    for (c, k) in counts {
        if best.map_or(true, |(_, bk)| k > bk) {
            best = Some((c, k));
        }
    }
    let ((name, target), count) = best?;
    (count >= threshold).then(|| Anomaly {
        tool_name: name.clone(),
        target: target.clone(),
        count,
        window,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use serde_json::json;

    const TOOL_USE: &str =
        include_str!("../../../tests/data/cli-real-output/claude-2.1.143-assistant-tool-use.jsonl");
    const RESULT: &str =
        include_str!("../../../tests/data/cli-real-output/claude-2.1.143-result-event.jsonl");

    fn tool_line(name: &str, key: &str, target: &str) -> String {
        json!({"type": "assistant", "message": {"model": "claude-opus-4-7", "content": [
            {"type": "tool_use", "id": "t", "name": name, "input": {key: target}}]}})
        .to_string()
    }

    #[test]
    fn real_fixture_usage() {
        let log = format!("{TOOL_USE}{RESULT}");
        let ev = post_round_events(&input("claude", &log));
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
        assert_registry_order(&ev);
        let u = only(&ev, Kind::AgentUsageRecorded);
        assert_eq!(u["agent"], json!("claude"));
        assert_eq!(u["model"], json!("claude-opus-4-7"));
        assert_eq!(u["round_num"], json!(7));
        assert_eq!(u["input_tokens"], json!(5));
        assert_eq!(u["output_tokens"], json!(6));
        assert_eq!(u["cached_tokens"], json!(17806));
        assert_eq!(u["cache_creation_tokens"], json!(12234));
        assert_eq!(u["cost_usd"], json!(0.0855405));
        assert_eq!(u["duration_ms"], json!(6657));
        assert_eq!(u["models_breakdown"], json!(null));
        assert_eq!(u["tool_call_count"], json!(2));
        assert_eq!(u["phase"], json!(""));
        assert_eq!(u["success"], json!(true));
    }

    #[test]
    fn result_without_assistant_model_is_unknown() {
        let mut i = input("claude", RESULT);
        i.success = false;
        i.phase = Some("review");
        let u = only(&post_round_events(&i), Kind::AgentUsageRecorded);
        assert_eq!(u["model"], json!("unknown"));
        assert_eq!(u["tool_call_count"], json!(0));
        assert_eq!(u["success"], json!(false));
        assert_eq!(u["phase"], json!("review"));
    }

    fn error_result(status: Value, text: &str) -> String {
        json!({"type": "result", "is_error": true, "api_error_status": status,
               "result": text, "usage": {"input_tokens": 0, "output_tokens": 0}})
        .to_string()
    }

    #[test]
    fn status_429_is_model_rate_limit_reset_in_60s() {
        let log = error_result(json!(429), "API Error: 429 rate_limit_error");
        let ev = post_round_events(&input("claude", &log));
        assert_eq!(
            kinds(&ev),
            ["transient_error_detected", "agent_usage_recorded"]
        );
        assert_registry_order(&ev);
        let t = only(&ev, Kind::TransientErrorDetected);
        assert_eq!(t["classification"], json!("rate_limit_model"));
        assert_eq!(t["agent"], json!("claude"));
        assert_eq!(t["reset_at_epoch"], json!(NOW + 60));
        assert_eq!(t["raw"], json!("API Error: 429 rate_limit_error"));
        assert_eq!(t["phase"], json!(""));
    }

    #[test]
    fn five_hour_rejection_is_account_rate_limit_with_resets_at() {
        let log = [
            json!({"type": "rate_limit_event", "rate_limit_info": {"status": "allowed", "rateLimitType": "five_hour", "resetsAt": 1}}).to_string(),
            json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "rateLimitType": "five_hour", "resetsAt": 1_800_003_600}}).to_string(),
            json!({"type": "result", "is_error": true, "api_error_status": 429, "result": "Claude AI usage limit reached|1800003600"}).to_string(),
        ]
        .join("\n");
        let t = only(
            &post_round_events(&input("claude", &log)),
            Kind::TransientErrorDetected,
        );
        assert_eq!(t["classification"], json!("rate_limit_account"));
        assert_eq!(t["reset_at_epoch"], json!(1_800_003_600));
        assert_eq!(t["raw"], json!("Claude AI usage limit reached|1800003600"));
        // missing resetsAt: now + 300; no result event: raw ""
        let log = json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "rateLimitType": "five_hour"}}).to_string();
        let t = only(
            &post_round_events(&input("claude", &log)),
            Kind::TransientErrorDetected,
        );
        assert_eq!(t["reset_at_epoch"], json!(NOW + 300));
        assert_eq!(t["raw"], json!(""));
        // other limit types fall through to the status ladder (none here)
        let log = json!({"type": "rate_limit_event", "rate_limit_info": {"status": "rejected", "rateLimitType": "seven_day"}}).to_string();
        assert!(post_round_events(&input("claude", &log)).is_empty());
    }

    #[test]
    fn status_5xx_and_408() {
        for (status, class, secs) in [
            (500, "api_transient_5xx", 60),
            (503, "api_transient_5xx", 60),
            (529, "api_transient_5xx", 60),
            (408, "api_timeout", 30),
        ] {
            let log = error_result(
                json!(status),
                "Overloaded Authorization: Bearer abcdefghijklmnop",
            );
            let t = only(
                &post_round_events(&input("claude", &log)),
                Kind::TransientErrorDetected,
            );
            assert_eq!(t["classification"], json!(class), "{status}");
            assert_eq!(t["reset_at_epoch"], json!(NOW + secs), "{status}");
            assert_eq!(t["raw"], json!("Overloaded Authorization: <redacted>"));
        }
        // not an error, or an unclassified status: nothing transient
        for log in [
            json!({"type": "result", "is_error": false, "api_error_status": 429}).to_string(),
            json!({"type": "result", "is_error": "true", "api_error_status": 429}).to_string(),
            error_result(json!(501), "not implemented"),
            error_result(json!("429"), "string status"),
        ] {
            let ev = post_round_events(&input("claude", &log));
            assert!(
                !kinds(&ev).contains(&"transient_error_detected"),
                "{log}: {:?}",
                kinds(&ev)
            );
        }
    }

    #[test]
    fn auth_failures_from_the_result_event() {
        for (status, text) in [
            (json!(401), "Failed to authenticate. API Error: 401 {\"type\":\"error\",\"error\":{\"type\":\"authentication_error\",\"message\":\"OAuth token has expired.\"}}"),
            (json!(null), "Invalid API key · Please run /login"),
            (json!(403), "forbidden"),
        ] {
            let log = error_result(status, text);
            let ev = post_round_events(&input("claude", &log));
            assert_eq!(kinds(&ev), ["agent_auth_error_detected", "agent_usage_recorded"], "{text}");
            assert_registry_order(&ev);
            let a = only(&ev, Kind::AgentAuthErrorDetected);
            assert_eq!(a["agent"], json!("claude"));
            assert_eq!(a["round_num"], json!(7));
            assert_eq!(a["raw"], json!(super::take_chars(text, 200)));
        }
        // a successful result that talks about 401 is not an auth failure
        let log = json!({"type": "result", "is_error": false, "result": "fixed the 401 handler"})
            .to_string();
        assert!(post_round_events(&input("claude", &log)).is_empty());
    }

    #[test]
    fn a_synthetic_zero_usage_record_is_not_usage() {
        let synthetic = json!({"type": "assistant", "message": {"model": "<synthetic>", "content": [{"type": "text", "text": "Not logged in · Please run /login"}]}, "error": "authentication_failed"}).to_string();
        let zero = json!({"type": "result", "is_error": true, "api_error_status": null, "result": "Not logged in · Please run /login",
            "usage": {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}).to_string();
        let ev = post_round_events(&input("claude", &format!("{synthetic}\n{zero}")));
        assert!(
            !kinds(&ev).contains(&"agent_usage_recorded"),
            "{:?}",
            kinds(&ev)
        );
        // a real model earlier in the round: its usage stays, under its name
        let real =
            json!({"type": "assistant", "message": {"model": "claude-opus-5", "content": []}})
                .to_string();
        let spent = json!({"type": "result", "is_error": true, "api_error_status": 529, "result": "Overloaded",
            "usage": {"input_tokens": 9, "output_tokens": 2}}).to_string();
        let ev = post_round_events(&input("claude", &format!("{real}\n{synthetic}\n{spent}")));
        assert_eq!(
            only(&ev, Kind::AgentUsageRecorded)["model"],
            json!("claude-opus-5")
        );
    }

    fn anomaly_input(log: &str, window: u64, threshold: u64) -> Vec<ParsedEvent> {
        let mut i = input("claude", log);
        i.repetitive_window = window;
        i.repetitive_threshold = threshold;
        post_round_events(&i)
    }

    #[test]
    fn repetitive_tool_fires_at_exactly_threshold_not_below() {
        let mut lines: Vec<String> = (0..4)
            .map(|_| tool_line("Read", "file_path", "/a.rs"))
            .collect();
        lines.push(tool_line("Bash", "command", "ls"));
        let log = lines.join("\n");
        // 4 identical calls, threshold 4: fires
        let ev = anomaly_input(&log, 10, 4);
        assert_eq!(kinds(&ev), ["anomaly_repetitive_tool"]);
        assert_registry_order(&ev);
        let a = only(&ev, Kind::AnomalyRepetitiveTool);
        assert_eq!(a["tool_name"], json!("Read"));
        assert_eq!(a["target"], json!("/a.rs"));
        assert_eq!(a["count"], json!(4));
        assert_eq!(a["window"], json!(10));
        // threshold 5 (one more than the count): silent
        assert!(anomaly_input(&log, 10, 5).is_empty());
        // window 4 holds only 3 of the Reads (the last call is Bash)
        assert!(anomaly_input(&log, 4, 4).is_empty());
        assert_eq!(
            only(&anomaly_input(&log, 4, 3), Kind::AnomalyRepetitiveTool)["count"],
            json!(3)
        );
        // off when either knob is 0
        assert!(anomaly_input(&log, 0, 4).is_empty());
        assert!(anomaly_input(&log, 10, 0).is_empty());
    }

    #[test]
    fn repetitive_tool_ties_take_first_seen_and_target_rules() {
        let long = "x".repeat(150);
        let log = [
            tool_line("Grep", "pattern", "foo"),
            tool_line("Bash", "command", &long),
            tool_line("Grep", "pattern", "foo"),
            tool_line("Bash", "command", &long),
            json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "input": {"other": 1}}]}}).to_string(),
        ]
        .join("\n");
        let a = only(&anomaly_input(&log, 30, 2), Kind::AnomalyRepetitiveTool);
        assert_eq!(a["tool_name"], json!("Grep"));
        let log2 = [
            tool_line("Bash", "command", &long),
            tool_line("Bash", "command", &long),
            json!({"type": "assistant", "message": {"content": [{"type": "tool_use", "input": {"other": 1}}, {"type": "tool_use", "input": {}}]}}).to_string(),
        ]
        .join("\n");
        let a = only(&anomaly_input(&log2, 2, 2), Kind::AnomalyRepetitiveTool);
        // last two calls: ("?", null) twice
        assert_eq!(a["tool_name"], json!("?"));
        assert_eq!(a["target"], json!(null));
        let a = only(&anomaly_input(&log2, 30, 2), Kind::AnomalyRepetitiveTool);
        assert_eq!(a["target"], json!("x".repeat(100)));
    }

    #[test]
    fn matches_upstream_on_samples() {
        // Expected values produced by upstream `_parse_claude_log` (0.3.14)
        // with tests/data/parsers/gen_expected.py.
        super::super::tests_upstream::check("claude");
    }
}
