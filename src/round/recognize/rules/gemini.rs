//! gemini (`-o stream-json`, 0.61.0): JSON on stdout (`init`, `message`,
//! `result`), chatter, retries and stack traces on stderr.

use super::super::{parse_duration_s, Class, EndRule, Hit, LineView, Signal};
use super::{first_of, NETWORK_WORDS};
use serde_json::Value;

/// The daily quota (a per-minute limit says "exceeded your current quota …
/// check your plan and billing details" too: that one passes in a minute).
const DAILY: &[&str] = &["exhausted your daily quota", "TerminalQuotaError"];
/// A rate limit of either kind.
const LIMITED: &[&str] = &[
    "exceeded your current quota",
    "Quota exceeded",
    "status 429",
];

pub(super) fn line(l: &LineView<'_>) -> Hit {
    if let Some(j) = l.json {
        return record(l, j);
    }
    if l.text_has("Please set an Auth method in your") {
        return Hit::signal(Signal::new(Class::Auth, "Please set an Auth method", l.text).needs(
            "login",
            "an auth method: gemini has none",
            "set GEMINI_API_KEY for the user that runs agent-runner (or choose an auth method in ~/.gemini/settings.json)",
        ));
    }
    if l.text_has("Manual authorization is required but the current session is non-interactive") {
        return Hit::signal(Signal::new(Class::Auth, "Manual authorization is required", l.text).needs(
            "login",
            "an interactive Google login",
            "log in once by running `gemini` in a terminal as the user that runs agent-runner, or set GEMINI_API_KEY",
        ));
    }
    if l.text_has("Invalid auth method selected.") {
        return Hit::signal(
            Signal::new(Class::NeedsInput, "Invalid auth method selected", l.text).needs(
                "agent_config",
                "a valid auth method in gemini's settings",
                "select gemini-api-key in ~/.gemini/settings.json (security.auth.selectedType)",
            ),
        );
    }
    if l.text_has("API_KEY_INVALID") || l.text_has("API key not valid") {
        return Hit::signal(Signal::new(Class::Auth, "API key not valid", l.text));
    }
    if !l.looks_json {
        if let Some(q) = first_of(l.text, DAILY) {
            return Hit::signal(Signal::new(Class::RateLimit, q, l.text).quota());
        }
    }
    // `Please retry in 23.8s.` (per minute) / `Please retry in 14h20m3.5s.` (per day)
    if let Some(rest) = after(l, "Please retry in ") {
        let secs = parse_duration_s(rest.trim_end_matches(['.', '\'', ',', ' ', '+']));
        return Hit::signal(
            Signal::new(Class::RateLimit, "Please retry in", l.text).reset_in(secs),
        );
    }
    // `Attempt 3 failed: …` / `Attempt 1 failed. Retrying with backoff…`:
    // gemini's own retry loop, which goes on for minutes
    if !l.looks_json && l.text.starts_with("Attempt ") && l.text.contains(" failed") {
        if let Some(q) = first_of(l.text, LIMITED) {
            let s = Signal::new(Class::RateLimit, q, l.text);
            return Hit::signal(s.end(EndRule::Persisting));
        }
        if let Some(w) = first_of(l.text, NETWORK_WORDS) {
            return Hit::signal(Signal::new(Class::Network, w, l.text).end(EndRule::Persisting));
        }
        if l.text.contains("status 5") || l.text.contains("overloaded") {
            return Hit::signal(Signal::new(Class::Overloaded, "overloaded", l.text));
        }
    }
    Hit::default()
}

fn after<'a>(l: &LineView<'a>, needle: &str) -> Option<&'a str> {
    if l.looks_json {
        return None;
    }
    let i = l.text.find(needle)?;
    Some(&l.text[i + needle.len()..])
}

fn record(l: &LineView<'_>, j: &serde_json::Map<String, Value>) -> Hit {
    match l.str_field("type") {
        Some("message") if l.str_field("role") == Some("assistant") => Hit::progress(),
        Some("result") => {
            if l.str_field("status") == Some("success") {
                return Hit::progress();
            }
            let msg = j
                .get("error")
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Some(q) = first_of(msg, DAILY) {
                return Hit::signal(Signal::new(Class::RateLimit, q, msg).quota());
            }
            if let Some(q) = first_of(msg, LIMITED) {
                return Hit::signal(Signal::new(Class::RateLimit, q, msg));
            }
            if let Some(w) = first_of(msg, NETWORK_WORDS) {
                return Hit::signal(Signal::new(Class::Network, w, msg));
            }
            if msg.contains("overloaded") {
                return Hit::signal(Signal::new(Class::Overloaded, "overloaded", msg));
            }
            Hit::default()
        }
        _ => Hit::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;

    #[test]
    fn stderr_auth_and_config() {
        let s = hit(
            line,
            "",
            "Please set an Auth method in your /h/.gemini/settings.json or specify …",
        )
        .signal;
        assert_eq!(
            s.map(|s| (s.class, s.need)),
            Some((Class::Auth, Some("login")))
        );
        let s = hit(line, "", "Invalid auth method selected.").signal;
        assert_eq!(s.and_then(|s| s.need), Some("agent_config"));
    }

    #[test]
    fn retries_and_resets() {
        let s = hit(line, "", "Attempt 1 failed: You exceeded your current quota, please check your plan and billing details. For more").signal;
        assert_eq!(
            s.map(|s| (s.class, s.end)),
            Some((Class::RateLimit, EndRule::Persisting))
        );
        let s = hit(line, "", "Attempt 1 failed. Retrying with backoff... Error: exception TypeError: fetch failed sending request").signal;
        assert_eq!(
            s.map(|s| (s.class, s.end)),
            Some((Class::Network, EndRule::Persisting))
        );
        let s = hit(line, "", "      'Please retry in 14h20m3.5s.',").signal;
        assert_eq!(s.and_then(|s| s.reset_in_s), Some(51604));
        let s = hit(line, "", "Please retry in 23.8s.").signal;
        assert_eq!(s.and_then(|s| s.reset_in_s), Some(24));
    }
}
