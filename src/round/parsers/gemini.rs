//! gemini `-o stream-json` (upstream `gemini_error_detector`): the last
//! `result` record. Error classification first (so a malformed stats block
//! cannot void the transient signal), then usage from `result.stats` with a
//! per-model breakdown when more than one model ran. Auth errors (not
//! upstream): an error result with code 401/403 or auth wording. Not
//! upstream either: an error result whose stats count no token at all
//! records no usage (gemini 0.61 writes zeroed stats after a failed call).

use super::pyval::{as_int, take_chars, truthy_opt};
use super::{auth_text, classify_status, AuthError, Found, ParseInput, Transient, Usage, RAW_CAP};
use crate::state::pyrepr::py_str;
use serde_json::{Map, Value};

const AGENT: &str = "gemini";

type Obj = Map<String, Value>;

pub(super) fn parse(events: &[Obj], input: &ParseInput<'_>) -> Found {
    let Some(result) = events
        .iter()
        .rev()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("result"))
    else {
        return Found::default();
    };
    let mut found = Found::default();

    let is_error = result.get("status").and_then(Value::as_str) == Some("error")
        || truthy_opt(result.get("error")).is_some();
    if is_error {
        let err = truthy_opt(result.get("error"));
        let err_obj = match err {
            Some(Value::Object(o)) => Some(o),
            _ => None,
        };
        let code = err_obj.and_then(|o| o.get("code"));
        // `err.message or result.get("status", "error")`
        let raw_src = match err_obj.and_then(|o| truthy_opt(o.get("message"))) {
            Some(m) => py_str(m),
            None => result
                .get("status")
                .map_or_else(|| "error".to_string(), py_str),
        };
        let raw = take_chars(&raw_src, RAW_CAP);
        match classify_status(code) {
            Some(c) => found.transient = Some(Transient::estimated(c, AGENT, input.now_epoch, raw)),
            None => {
                let code_int = code.and_then(super::pyval::json_int);
                let message = err_obj
                    .and_then(|o| o.get("message"))
                    .map(py_str)
                    .unwrap_or_default();
                if matches!(code_int, Some(401 | 403)) || auth_text(&message) {
                    found.auth = Some(AuthError { agent: AGENT, raw });
                }
            }
        }
    }

    if let Some(Value::Object(stats)) = result.get("stats") {
        if !stats.is_empty() {
            // not upstream: an error result whose stats are all zero is no usage
            found.usage = Some(usage(stats)).filter(|u| !(is_error && zero(u)));
        }
    }
    found
}

fn zero(u: &Usage) -> bool {
    u.input_tokens == 0 && u.output_tokens == 0 && u.cached_tokens == 0
}

fn usage(stats: &Obj) -> Usage {
    let models: Vec<(&String, &Obj)> = match stats.get("models") {
        Some(Value::Object(m)) => m
            .iter()
            .filter_map(|(k, v)| match v {
                Value::Object(o) => Some((k, o)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    // max() by total_tokens: the first of equal maxima wins.
    let mut primary: Option<(&String, i64)> = None;
    for (name, m) in &models {
        let t = as_int(m.get("total_tokens"), 0);
        if primary.map_or(true, |(_, best)| t > best) {
            primary = Some((name, t));
        }
    }
    let model = primary.map_or_else(|| "unknown".to_string(), |(n, _)| n.clone());
    let breakdown = if models.len() > 1 {
        let mut b = Map::new();
        for (name, m) in &models {
            // `m.get("input_tokens", m.get("input"))`: a present null stays null
            let input = match m.get("input_tokens") {
                Some(v) => Some(v),
                None => m.get("input"),
            };
            let mut e = Map::new();
            e.insert(
                "total_tokens".into(),
                as_int(m.get("total_tokens"), 0).into(),
            );
            e.insert("input_tokens".into(), as_int(input, 0).into());
            e.insert(
                "output_tokens".into(),
                as_int(m.get("output_tokens"), 0).into(),
            );
            e.insert("cached_tokens".into(), as_int(m.get("cached"), 0).into());
            b.insert((*name).clone(), Value::Object(e));
        }
        Value::Object(b)
    } else {
        Value::Null
    };
    let mut u = Usage::new(AGENT, model);
    u.input_tokens = as_int(stats.get("input"), 0);
    u.output_tokens = as_int(stats.get("output_tokens"), 0);
    u.cached_tokens = as_int(stats.get("cached"), 0);
    u.duration_ms = as_int(stats.get("duration_ms"), 0);
    u.tool_call_count = as_int(stats.get("tool_calls"), 0);
    u.models_breakdown = breakdown;
    u
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use serde_json::json;

    const RESULT: &str =
        include_str!("../../../tests/data/cli-real-output/gemini-0.42.0-result-event.jsonl");

    #[test]
    fn real_fixture_multi_model_breakdown() {
        let ev = post_round_events(&input("gemini", RESULT));
        assert_eq!(kinds(&ev), ["agent_usage_recorded"]);
        assert_registry_order(&ev);
        let u = only(&ev, Kind::AgentUsageRecorded);
        assert_eq!(u["agent"], json!("gemini"));
        assert_eq!(u["model"], json!("gemini-3-flash-preview"));
        assert_eq!(u["input_tokens"], json!(7339));
        assert_eq!(u["output_tokens"], json!(46));
        assert_eq!(u["cached_tokens"], json!(3796));
        assert_eq!(u["cost_usd"], json!(null));
        assert_eq!(u["duration_ms"], json!(4794));
        assert_eq!(u["cache_creation_tokens"], json!(0));
        assert_eq!(u["tool_call_count"], json!(0));
        assert_eq!(
            u["models_breakdown"],
            json!({
                "gemini-3.1-flash-lite": {"total_tokens": 1499, "input_tokens": 1356, "output_tokens": 45, "cached_tokens": 0},
                "gemini-3-flash-preview": {"total_tokens": 10082, "input_tokens": 9779, "output_tokens": 1, "cached_tokens": 3796}
            })
        );
        let keys: Vec<&String> = u["models_breakdown"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["gemini-3.1-flash-lite", "gemini-3-flash-preview"]);
    }

    #[test]
    fn single_model_has_no_breakdown() {
        let log = json!({"type": "result", "status": "success", "stats": {"input": 10, "output_tokens": 2,
            "models": {"gemini-2.5-pro": {"total_tokens": 12}}}})
        .to_string();
        let u = only(
            &post_round_events(&input("gemini", &log)),
            Kind::AgentUsageRecorded,
        );
        assert_eq!(u["model"], json!("gemini-2.5-pro"));
        assert_eq!(u["models_breakdown"], json!(null));
        // no models: unknown
        let log = json!({"type": "result", "stats": {"input": 1}}).to_string();
        let u = only(
            &post_round_events(&input("gemini", &log)),
            Kind::AgentUsageRecorded,
        );
        assert_eq!(u["model"], json!("unknown"));
    }

    #[test]
    fn errors_by_code() {
        for (code, class, secs) in [
            (429, "rate_limit_model", 60),
            (503, "api_transient_5xx", 60),
            (408, "api_timeout", 30),
        ] {
            let log = format!(
                "Loaded cached credentials.\n{}",
                json!({"type": "result", "status": "error", "error": {"type": "FatalError", "message": "boom ?token=abc", "code": code}, "stats": {"input": 3}})
            );
            let ev = post_round_events(&input("gemini", &log));
            assert_eq!(
                kinds(&ev),
                ["transient_error_detected", "agent_usage_recorded"]
            );
            assert_registry_order(&ev);
            let t = only(&ev, Kind::TransientErrorDetected);
            assert_eq!(t["classification"], json!(class));
            assert_eq!(t["agent"], json!("gemini"));
            assert_eq!(t["reset_at_epoch"], json!(NOW + secs));
            assert_eq!(t["raw"], json!("boom ?token=<redacted>"));
        }
        // error without a code: nothing transient; no result record: nothing
        let log = json!({"type": "result", "status": "error"}).to_string();
        assert!(post_round_events(&input("gemini", &log)).is_empty());
        assert!(post_round_events(&input("gemini", "{\"type\":\"message\"}")).is_empty());
    }

    #[test]
    fn auth_error_by_code_or_wording() {
        let log = json!({"type": "result", "status": "error", "error": {"message": "API key not valid. Please pass a valid API key.", "code": 400}}).to_string();
        let ev = post_round_events(&input("gemini", &log));
        assert_eq!(kinds(&ev), ["agent_auth_error_detected"]);
        assert_eq!(
            only(&ev, Kind::AgentAuthErrorDetected)["raw"],
            json!("API key not valid. Please pass a valid API key.")
        );
        let log = json!({"type": "result", "status": "error", "error": {"message": "Permission denied", "code": 403}}).to_string();
        assert_eq!(
            kinds(&post_round_events(&input("gemini", &log))),
            ["agent_auth_error_detected"]
        );
    }

    #[test]
    fn an_error_result_with_zero_stats_is_not_usage() {
        let log = json!({"type": "result", "status": "error", "error": {"type": "unknown", "message": "[API Error: exception TypeError: fetch failed sending request]"},
            "stats": {"total_tokens": 0, "input": 0, "output_tokens": 0, "cached": 0, "models": {"gemini-3.1-pro-preview": {"total_tokens": 0}}}}).to_string();
        assert!(post_round_events(&input("gemini", &log)).is_empty());
        // zero stats on a successful result stay (upstream)
        let log = json!({"type": "result", "status": "success", "stats": {"input": 0}}).to_string();
        assert_eq!(
            kinds(&post_round_events(&input("gemini", &log))),
            ["agent_usage_recorded"]
        );
    }

    #[test]
    fn matches_upstream_on_samples() {
        super::super::tests_upstream::check("gemini");
    }
}
