//! codewhale `exec --output-format stream-json` (upstream
//! `codewhale_error_detector`): usage from the last `metadata` record,
//! transient errors from the last `error` record's `code`/`status_code`
//! (codewhale 0.10.2's errors carry none, so this never fires). Not
//! upstream: an `error` record naming an auth failure is an auth error, and
//! the zero-token `metadata` record codewhale writes after a failed turn is
//! no usage (tests/data/agents/codewhale/). The recognizer
//! (`recognize/rules/codewhale.rs`) classifies the other failures.

use super::pyval::{as_int, json_int, take_chars, truthy};
use super::{auth_text, classify_status, AuthError, Found, ParseInput, Transient, Usage, RAW_CAP};
use crate::state::pyrepr::py_str;
use serde_json::{Map, Value};

const AGENT: &str = "codewhale";

type Obj = Map<String, Value>;

pub(super) fn parse(events: &[Obj], input: &ParseInput<'_>) -> Found {
    let mut meta: Option<&Value> = None;
    let mut error: Option<&Obj> = None;
    for ev in events {
        match ev.get("type").and_then(Value::as_str) {
            Some("metadata") => meta = ev.get("meta"),
            Some("error") => error = Some(ev),
            _ => {}
        }
    }
    let mut found = Found::default();
    if let Some(Value::Object(m)) = meta.filter(|m| truthy(m)) {
        let model = m.get("model").map_or_else(|| "unknown".to_string(), py_str);
        let mut u = Usage::new(AGENT, model);
        u.input_tokens = as_int(m.get("input_tokens"), 0);
        u.output_tokens = as_int(m.get("output_tokens"), 0);
        // not upstream: a failed turn's zeroed receipt spent nothing
        let zero = u.input_tokens == 0 && u.output_tokens == 0;
        found.usage = Some(u).filter(|_| !(error.is_some() && zero));
    }
    if let Some(e) = error {
        let raw = take_chars(
            &e.get("error").map_or_else(|| "error".to_string(), py_str),
            RAW_CAP,
        );
        // `code` first, then `status_code`: a symbolic string code must not
        // hide a numeric status_code.
        let class =
            classify_status(e.get("code")).or_else(|| classify_status(e.get("status_code")));
        match class {
            Some(c) => found.transient = Some(Transient::estimated(c, AGENT, input.now_epoch, raw)),
            None => {
                let status = [e.get("code"), e.get("status_code")]
                    .into_iter()
                    .flatten()
                    .find_map(json_int);
                if matches!(status, Some(401 | 403)) || auth_text(&raw) {
                    found.auth = Some(AuthError { agent: AGENT, raw });
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use serde_json::json;

    #[test]
    fn usage_from_last_metadata() {
        let log = [
            "\u{1b}[0m booting".to_string(),
            json!({"type": "metadata", "meta": {"model": "old", "input_tokens": 1}}).to_string(),
            json!({"type": "text", "text": "hi"}).to_string(),
            json!({"type": "metadata", "meta": {"model": "deepseek-v4", "input_tokens": 1200, "output_tokens": 340}}).to_string(),
        ]
        .join("\n");
        let ev = post_round_events(&input("codewhale", &log));
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
        assert_registry_order(&ev);
        let u = only(&ev, Kind::AgentUsageRecorded);
        assert_eq!(u["model"], json!("deepseek-v4"));
        assert_eq!(u["input_tokens"], json!(1200));
        assert_eq!(u["output_tokens"], json!(340));
        assert_eq!(u["cached_tokens"], json!(0));
        assert_eq!(u["cost_usd"], json!(null));
        assert_eq!(u["duration_ms"], json!(0));
        assert_eq!(u["cache_creation_tokens"], json!(0));
        assert_eq!(u["models_breakdown"], json!(null));
        assert_eq!(u["tool_call_count"], json!(0));
    }

    #[test]
    fn a_failed_turns_zero_receipt_is_not_usage() {
        let meta = |i: u64| {
            json!({"type": "metadata", "meta": {"receipt_kind": "terminal", "model": "deepseek-flash", "input_tokens": i, "output_tokens": 0}}).to_string()
        };
        let err = json!({"type": "error", "error": "Rate limit exceeded: Rate Limit Reached"})
            .to_string();
        let ev = post_round_events(&input("codewhale", &format!("{err}\n{}", meta(0))));
        assert!(!kinds(&ev).contains(&"agent_usage_recorded"), "{ev:?}");
        // tokens spent before the failure are usage; a zero receipt without
        // an error stays (upstream)
        let ev = post_round_events(&input("codewhale", &format!("{err}\n{}", meta(7))));
        assert_eq!(
            only(&ev, Kind::AgentUsageRecorded)["input_tokens"],
            json!(7)
        );
        let ev = post_round_events(&input("codewhale", &meta(0)));
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
    }

    #[test]
    fn error_codes() {
        let log = json!({"type": "error", "error": "slow down", "code": "rate_limited", "status_code": 429}).to_string();
        let t = only(
            &post_round_events(&input("codewhale", &log)),
            Kind::TransientErrorDetected,
        );
        assert_eq!(t["classification"], json!("rate_limit_model"));
        assert_eq!(t["raw"], json!("slow down"));
        // no code at all: nothing (today's codewhale)
        let log = json!({"type": "error", "error": "something broke"}).to_string();
        assert!(post_round_events(&input("codewhale", &log)).is_empty());
        // the auth failure codewhale prints
        let log =
            json!({"type": "error", "error": "authentication failed: invalid api key"}).to_string();
        let ev = post_round_events(&input("codewhale", &log));
        assert_eq!(kinds(&ev), ["agent_auth_error_detected"]);
        assert_registry_order(&ev);
    }

    #[test]
    fn matches_upstream_on_samples() {
        super::super::tests_upstream::check("codewhale");
    }
}
