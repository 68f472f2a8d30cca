//! kimi `--output-format stream-json` (upstream `kimi_error_detector`,
//! delta §13): on a failed round only, the last `turn.step.retrying` meta
//! record's `status_code` through the shared ladder. kimi's stream carries
//! no token counters, so no usage; its fatal errors are plain stderr text,
//! so no structured auth signal either.

use super::pyval::take_chars;
use super::{classify_status, Found, ParseInput, Transient, RAW_CAP};
use crate::state::pyrepr::py_str;
use serde_json::{Map, Value};

const AGENT: &str = "kimi";

pub(super) fn parse(events: &[Map<String, Value>], input: &ParseInput<'_>) -> Found {
    // kimi retries provider failures itself; a round that still succeeded
    // absorbed the blip.
    if input.success {
        return Found::default();
    }
    let retry = events.iter().rev().find(|e| {
        e.get("role").and_then(Value::as_str) == Some("meta")
            && e.get("type").and_then(Value::as_str) == Some("turn.step.retrying")
    });
    let Some(r) = retry else {
        return Found::default();
    };
    let Some(c) = classify_status(r.get("status_code")) else {
        return Found::default();
    };
    let raw = r
        .get("error_message")
        .map_or_else(|| "retrying".to_string(), py_str);
    Found {
        transient: Some(Transient::estimated(
            c,
            AGENT,
            input.now_epoch,
            take_chars(&raw, RAW_CAP),
        )),
        ..Found::default()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::*;
    use serde_json::json;

    fn retry(status: i64, msg: &str) -> String {
        json!({"role": "meta", "type": "turn.step.retrying", "failed_attempt": 1, "next_attempt": 2,
               "max_attempts": 10, "delay_ms": 566.68, "error_name": "APIProviderRateLimitError",
               "error_message": msg, "status_code": status})
        .to_string()
    }

    #[test]
    fn failed_round_with_retry_record() {
        let log = [
            json!({"role": "assistant", "content": "working"}).to_string(),
            retry(503, "503 upstream unavailable"),
            retry(429, "429 Too Many Requests"),
            "error: failed to run prompt".to_string(),
        ]
        .join("\n");
        let mut i = input("kimi", &log);
        i.success = false;
        i.phase = Some("build");
        let ev = post_round_events(&i);
        assert_eq!(kinds(&ev), ["transient_error_detected"]);
        assert_registry_order(&ev);
        let t = only(&ev, Kind::TransientErrorDetected);
        assert_eq!(t["classification"], json!("rate_limit_model"));
        assert_eq!(t["agent"], json!("kimi"));
        assert_eq!(t["reset_at_epoch"], json!(NOW + 60));
        assert_eq!(t["raw"], json!("429 Too Many Requests"));
        assert_eq!(t["phase"], json!("build"));
        // the same log on a successful round: kimi absorbed it
        assert!(post_round_events(&input("kimi", &log)).is_empty());
    }

    #[test]
    fn unmapped_status_or_no_record() {
        let mut i = input(
            "kimi",
            "error: provider.auth_error: 401 Invalid Authentication",
        );
        i.success = false;
        assert!(post_round_events(&i).is_empty());
        let log = retry(401, "401");
        let mut i = input("kimi", &log);
        i.success = false;
        assert!(post_round_events(&i).is_empty());
    }

    #[test]
    fn matches_upstream_on_samples() {
        super::super::tests_upstream::check("kimi");
    }
}
