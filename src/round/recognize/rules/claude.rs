//! claude (`-p --output-format stream-json`, 2.1.332): JSON records on
//! stdout, the root refusal on stderr.

use super::super::{Class, EndRule, Hit, LineView, Signal};
use super::{first_of, NETWORK_WORDS, QUOTA_WORDS};
use serde_json::Value;

pub(super) const ROOT: &str =
    "--dangerously-skip-permissions cannot be used with root/sudo privileges";

pub(super) fn line(l: &LineView<'_>) -> Hit {
    if l.text_has(ROOT) {
        return Hit::signal(Signal::new(Class::NeedsInput, "root/sudo", l.text).needs(
            "non_root",
            "a non-root user: claude refuses --dangerously-skip-permissions as root",
            "set IS_SANDBOX=1 in [agent.env] (a sandboxed host) or run agent-runner as a non-root user",
        ));
    }
    let Some(j) = l.json else {
        return Hit::default();
    };
    match l.str_field("type") {
        Some("result") => result(j),
        // a real model answered (the `<synthetic>` model is claude's own
        // stand-in for an error)
        Some("assistant") => {
            let model = j
                .get("message")
                .and_then(|m| m.get("model"))
                .and_then(Value::as_str);
            if model.is_some_and(|m| m != "<synthetic>") {
                Hit::progress()
            } else {
                Hit::default()
            }
        }
        Some("system") if l.str_field("subtype") == Some("api_retry") => api_retry(l, j),
        _ => Hit::default(),
    }
}

fn result(j: &serde_json::Map<String, Value>) -> Hit {
    if j.get("is_error") != Some(&Value::Bool(true)) {
        return Hit::progress();
    }
    let text = j.get("result").and_then(Value::as_str).unwrap_or("");
    if text.starts_with("Not logged in") {
        return Hit::signal(Signal::new(Class::Auth, "Not logged in", text).needs(
            "login",
            "a login: claude is not logged in",
            "run `claude /login` as the user that runs agent-runner, or set ANTHROPIC_API_KEY",
        ));
    }
    if let Some(m) = first_of(text, QUOTA_WORDS) {
        return Hit::signal(Signal::new(Class::RateLimit, m, text).quota());
    }
    if let Some(m) = first_of(text, NETWORK_WORDS) {
        return Hit::signal(Signal::new(Class::Network, m, text));
    }
    Hit::default()
}

/// `{"type":"system","subtype":"api_retry","error_status":429,…}`: claude
/// retries by itself and ends with a result; these classify a round cut
/// short before it.
fn api_retry(l: &LineView<'_>, j: &serde_json::Map<String, Value>) -> Hit {
    let status = j.get("error_status").and_then(Value::as_i64);
    let delay = j
        .get("retry_delay_ms")
        .and_then(Value::as_f64)
        // `as` saturates (and NaN is 0); a negative delay is none
        .map(|ms| (ms.max(0.0) / 1000.0).ceil() as i64);
    let sig = match status {
        Some(429) => Signal::new(Class::RateLimit, "429", l.text).reset_in(delay),
        Some(401 | 403) => Signal::new(Class::Auth, "authentication_failed", l.text),
        Some(500..=599) => Signal::new(Class::Overloaded, "5xx", l.text),
        _ => return Hit::default(),
    };
    Hit::signal(sig.end(EndRule::AfterRound))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;

    #[test]
    fn root_refusal_only_as_plain_text() {
        let h = hit(line, "", &format!("{ROOT} for security reasons"));
        let s = h.signal.unwrap_or_else(|| panic!("no signal"));
        assert_eq!(
            (s.class, s.need, s.end),
            (Class::NeedsInput, Some("non_root"), EndRule::Now)
        );
        // the same words inside a JSON record (the agent's prose) are not it
        let prose = serde_json::json!({"type": "assistant", "message": {"content": [{"type": "text", "text": ROOT}]}});
        assert!(hit(line, "", &prose.to_string()).signal.is_none());
        let cut = format!("{{\"type\":\"assistant\",\"text\":\"{ROOT}");
        assert!(
            hit(line, "", &cut).signal.is_none(),
            "a cut JSON line is not text"
        );
    }

    #[test]
    fn results() {
        let r = |is_error: bool, text: &str| {
            serde_json::json!({"type": "result", "is_error": is_error, "result": text}).to_string()
        };
        let s = hit(line, "", &r(true, "Not logged in · Please run /login")).signal;
        assert_eq!(
            s.map(|s| (s.class, s.need)),
            Some((Class::Auth, Some("login")))
        );
        let s = hit(line, "", &r(true, "Credit balance is too low")).signal;
        assert_eq!(
            s.map(|s| (s.class, s.quota)),
            Some((Class::RateLimit, true))
        );
        let s = hit(
            line,
            "",
            &r(
                true,
                "API Error: Can't reach the API server — check your internet or DNS (ENOTFOUND)",
            ),
        )
        .signal;
        assert_eq!(s.map(|s| s.class), Some(Class::Network));
        assert!(hit(line, "", &r(false, "fixed the ENOTFOUND bug")).progress);
    }
}
