//! pi (`-p -na --mode json`, 1.6.0): JSON on stdout; API errors exit 0 with
//! `"stopReason":"error"` and an `errorMessage`; pi retries (`auto_retry_*`)
//! after writing `agent_end`. Missing key and unknown model on stderr.

use super::super::{Class, Hit, LineView, Signal};
use super::{first_of, NETWORK_WORDS, QUOTA_WORDS};
use serde_json::Value;

pub(super) fn line(l: &LineView<'_>) -> Hit {
    let Some(j) = l.json else {
        return text(l);
    };
    match l.str_field("type") {
        Some("auto_retry_start") => Hit {
            retrying: true,
            ..error_message(l.str_field("errorMessage").unwrap_or(""))
        },
        Some("auto_retry_end") => {
            if j.get("success") == Some(&Value::Bool(true)) {
                Hit::progress()
            } else {
                error_message(l.str_field("finalError").unwrap_or(""))
            }
        }
        Some("message_end") => {
            let Some(m) = j
                .get("message")
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
            else {
                return Hit::default();
            };
            match m.get("stopReason").and_then(Value::as_str) {
                Some("error") => {
                    error_message(m.get("errorMessage").and_then(Value::as_str).unwrap_or(""))
                }
                Some(_) => Hit::progress(),
                None => Hit::default(),
            }
        }
        _ => Hit::default(),
    }
}

fn text(l: &LineView<'_>) -> Hit {
    if l.text.starts_with("No API key found for ") {
        return Hit::signal(Signal::new(Class::Auth, "No API key found", l.text).needs(
            "login",
            "an API key: pi has none for its provider",
            "set the provider's key (e.g. MOONSHOT_API_KEY), add it to ~/.pi/agent/models.json, or run `pi` and /login once",
        ));
    }
    if l.text.starts_with("Error: Model \"") && l.text.contains("\" not found") {
        return Hit::signal(
            Signal::new(Class::NeedsInput, "Model not found", l.text).needs(
                "agent_config",
                "a model pi knows",
                "set --model in [agent] command to a provider/model listed by `pi --list-models`",
            ),
        );
    }
    Hit::default()
}

fn error_message(m: &str) -> Hit {
    if m.is_empty() {
        return Hit::default();
    }
    if let Some(q) = first_of(m, QUOTA_WORDS) {
        return Hit::signal(Signal::new(Class::RateLimit, q, m).quota());
    }
    if m.starts_with("429") {
        return Hit::signal(Signal::new(Class::RateLimit, "429", m));
    }
    if let Some(w) = first_of(m, NETWORK_WORDS) {
        return Hit::signal(Signal::new(Class::Network, w, m));
    }
    if m.starts_with("401") || m.starts_with("403") {
        return Hit::signal(Signal::new(Class::Auth, "401", m));
    }
    Hit::default()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;

    #[test]
    fn retries_are_marked_and_classified() {
        let l = serde_json::json!({"type": "auto_retry_start", "attempt": 1, "errorMessage": "Connection error.: getaddrinfo ENOTFOUND api.moonshot.ai"}).to_string();
        let h = hit(line, "", &l);
        assert!(h.retrying);
        assert_eq!(h.signal.map(|s| s.class), Some(Class::Network));
        let l = serde_json::json!({"type": "message_end", "message": {"role": "assistant", "stopReason": "error", "errorMessage": "429: {\"message\":\"… is suspended, please check your plan and billing details\",\"type\":\"exceeded_current_quota_error\"}"}}).to_string();
        assert_eq!(
            hit(line, "", &l).signal.map(|s| (s.class, s.quota)),
            Some((Class::RateLimit, true))
        );
        let l = serde_json::json!({"type": "message_end", "message": {"role": "assistant", "stopReason": "stop"}}).to_string();
        assert!(hit(line, "", &l).progress);
    }

    #[test]
    fn stderr_key_and_model() {
        assert_eq!(
            hit(line, "", "No API key found for moonshotai.")
                .signal
                .and_then(|s| s.need),
            Some("login")
        );
        assert_eq!(
            hit(line, "", "Error: Model \"PROVIDER/MODEL\" not found. Use --list-models to see available models.").signal.and_then(|s| s.need),
            Some("agent_config")
        );
    }
}
