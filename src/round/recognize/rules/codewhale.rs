//! codewhale (`exec --auto --output-format stream-json`, 0.10.2): JSON
//! records on stdout (`status` while it retries, one `error` record with the
//! turn's failure), and on stderr a missing key (`error: DeepSeek API key
//! not found.`) or the same failure again (`error: exec turn failed: …`).
//! codewhale ends by itself in every captured case (network: after about
//! 28 s of retries, exit 75), so its signals classify and never cut the round.

use super::super::{Class, Hit, LineView, Signal};
use super::{first_of, NETWORK_WORDS, QUOTA_WORDS};

/// What codewhale says when it has no key for the provider of its route.
const NO_KEY: &str = " API key not found";

pub(super) fn line(l: &LineView<'_>) -> Hit {
    if l.json.is_none() {
        return text(l);
    }
    match l.str_field("type") {
        // the model's answer streams as content records
        Some("content") => Hit::progress(),
        Some("status") => {
            let m = l.str_field("message").unwrap_or("");
            if let Some(kind) = m.strip_prefix("Retry attempt: ") {
                return Hit {
                    retrying: true,
                    ..retry(kind, m)
                };
            }
            match m.strip_prefix("Retry exhaustion: ") {
                Some(kind) => retry(kind, m),
                None => Hit::default(),
            }
        }
        Some("error") => failure(l.str_field("error").unwrap_or("")),
        _ => Hit::default(),
    }
}

fn text(l: &LineView<'_>) -> Hit {
    if l.looks_json {
        return Hit::default();
    }
    let Some(rest) = l
        .text
        .strip_prefix("error: ")
        .or_else(|| l.text.strip_prefix("Error: "))
    else {
        return Hit::default();
    };
    if rest.contains(NO_KEY) {
        return Hit::signal(Signal::new(Class::Auth, "API key not found", rest).needs(
            "login",
            "an API key: codewhale has none for its provider",
            "set DEEPSEEK_API_KEY (or the key of the configured provider) for agent-runner, or run `codewhale auth set --provider deepseek` once as its user",
        ));
    }
    match rest.strip_prefix("exec turn failed: ") {
        Some(m) => failure(m),
        None => Hit::default(),
    }
}

/// A `Retry attempt:` / `Retry exhaustion:` status: the cause after the
/// attempt counter (`transport 1/3; rate limited; waiting 1.08s`). The wait
/// is codewhale's own back-off, not the provider's reset.
fn retry(kind: &str, m: &str) -> Hit {
    if kind.contains("; rate limited") {
        return Hit::signal(Signal::new(Class::RateLimit, "rate limited", m));
    }
    if let Some(w) = first_of(kind, &["; network error", "connection failed"]) {
        return Hit::signal(Signal::new(Class::Network, w, m));
    }
    Hit::default()
}

/// The turn's failure, as the `error` record and the stderr line word it
/// (codewhale's `LlmError` display, possibly behind a prefix such as
/// `Responses API request failed: `).
fn failure(m: &str) -> Hit {
    if m.is_empty() {
        return Hit::default();
    }
    if let Some(a) = first_of(m, &["Authentication failed", "Authorization failed"]) {
        return Hit::signal(Signal::new(Class::Auth, a, m));
    }
    if let Some(q) = first_of(m, QUOTA_WORDS).or_else(|| {
        first_of(
            m,
            &[
                "Provider plan quota exhausted",
                "HTTP 402",
                "Insufficient Balance",
            ],
        )
    }) {
        return Hit::signal(Signal::new(Class::RateLimit, q, m).quota());
    }
    if m.contains("Rate limit exceeded") {
        return Hit::signal(Signal::new(Class::RateLimit, "Rate limit exceeded", m));
    }
    if m.contains("Server error (") {
        return Hit::signal(Signal::new(Class::Overloaded, "Server error", m));
    }
    if let Some(w) = first_of(m, &["Network error", "Request timed out after"])
        .or_else(|| first_of(m, NETWORK_WORDS))
    {
        return Hit::signal(Signal::new(Class::Network, w, m));
    }
    Hit::default()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::hit;
    use super::*;
    use crate::round::recognize::EndRule;

    fn status(m: &str) -> String {
        serde_json::json!({"type": "status", "message": m, "schema_version": 1}).to_string()
    }
    fn error(m: &str) -> String {
        serde_json::json!({"type": "error", "error": m, "schema_version": 1}).to_string()
    }
    fn class(t: &str) -> Option<(Class, bool)> {
        hit(line, "", t).signal.map(|s| (s.class, s.quota))
    }

    #[test]
    fn a_missing_key_needs_a_login_with_the_remedy() {
        let h = hit(line, "", "error: DeepSeek API key not found.");
        let s = h.signal.unwrap_or_else(|| panic!("no signal"));
        assert_eq!(
            (s.class, s.need, s.end),
            (Class::Auth, Some("login"), EndRule::Now)
        );
        let r = s.remedy.unwrap_or_default();
        assert!(
            r.contains("DEEPSEEK_API_KEY") && r.contains("codewhale auth set"),
            "{r}"
        );
        // another provider's wording too
        assert_eq!(
            class("error: SiliconFlow China API key not found. Get a key: …"),
            Some((Class::Auth, false))
        );
    }

    #[test]
    fn error_records_and_the_stderr_line_classify_alike() {
        for (m, want) in [
            ("Authentication failed: Authentication Fails, Your api key: ****0000 is invalid", Some((Class::Auth, false))),
            ("LLM error: HTTP 402: Insufficient Balance", Some((Class::RateLimit, true))),
            ("Provider plan quota exhausted: monthly plan used up", Some((Class::RateLimit, true))),
            ("Rate limit exceeded: Rate Limit Reached", Some((Class::RateLimit, false))),
            ("Server error (503): Service Unavailable", Some((Class::Overloaded, false))),
            ("Responses API request failed: Network error: SSE stream request failed after HTTP/1.1 fallback: Network error: Connection failed: error sending request.", Some((Class::Network, false))),
            ("Context length exceeded: too long", None),
        ] {
            assert_eq!(class(&error(m)), want, "record {m}");
            assert_eq!(class(&format!("error: exec turn failed: {m}")), want, "stderr {m}");
            assert_eq!(class(&format!("Error: exec turn failed: {m}")), want, "Error: {m}");
        }
    }

    #[test]
    fn retry_statuses_name_the_cause_and_say_it_retries() {
        let h = hit(
            line,
            "",
            &status("Retry attempt: transport 1/3; rate limited; waiting 1.08s"),
        );
        assert!(h.retrying);
        assert_eq!(
            h.signal.map(|s| (s.class, s.reset_in_s)),
            Some((Class::RateLimit, None))
        );
        let h = hit(
            line,
            "",
            &status("Retry attempt: transport 2/3; network error; waiting 2.04s"),
        );
        assert_eq!(h.signal.map(|s| s.class), Some(Class::Network));
        let h = hit(
            line,
            "",
            &status("Retry attempt: stream-open 1/3; connection failed before response headers"),
        );
        assert_eq!(h.signal.map(|s| s.class), Some(Class::Network));
        let h = hit(
            line,
            "",
            &status("Retry exhaustion: transport request stopped after 3 retries; rate limited"),
        );
        assert!(!h.retrying);
        assert_eq!(h.signal.map(|s| s.class), Some(Class::RateLimit));
        assert_eq!(hit(line, "", &status("Compacting context")), Hit::default());
    }

    #[test]
    fn content_is_progress_and_prose_is_not_a_signal() {
        let c =
            serde_json::json!({"type": "content", "content": "Rate limit exceeded: in my test"})
                .to_string();
        assert_eq!(hit(line, "", &c), Hit::progress());
        // text rules skip JSON-looking lines and lines without codewhale's prefix
        assert_eq!(
            hit(line, "", "the error: DeepSeek API key not found."),
            Hit::default()
        );
        assert_eq!(
            hit(line, "", "{\"error: exec turn failed: Network error: x"),
            Hit::default()
        );
    }
}
