//! One recognizer per agent CLI, each keyed on the lines that CLI was seen
//! to print (tests/data/agents/<cli>/<version>/, docs/agents.md). A line
//! that names no condition is `Hit::default()`.

mod aider;
mod claude;
mod codewhale;
mod codex;
mod gemini;
mod kimi;
mod pi;

use super::Recognizer;

pub(super) fn for_name(name: &str) -> Option<Recognizer> {
    Some(match name {
        "claude" => claude::line,
        "codex" => codex::line,
        "gemini" => gemini::line,
        "aider" => aider::line,
        "kimi" => kimi::line,
        "pi" => pi::line,
        "codewhale" => codewhale::line,
        _ => return None,
    })
}

/// The first of `needles` in `text`.
fn first_of(text: &str, needles: &[&'static str]) -> Option<&'static str> {
    needles.iter().copied().find(|n| text.contains(n))
}

/// Network failures as Node, Rust and Python clients word them.
const NETWORK_WORDS: &[&str] = &[
    "ENOTFOUND",
    "ECONNREFUSED",
    "EAI_AGAIN",
    "ETIMEDOUT",
    "ENETUNREACH",
    "Name does not resolve",
    "failed to lookup address information",
    "Connection refused",
    "fetch failed",
    "Connection error.",
    "Can't reach the API server",
];

/// Quota / billing wording: waiting a minute does not help.
const QUOTA_WORDS: &[&str] = &[
    "exceeded your current quota",
    "exhausted your daily quota",
    "check your plan and billing details",
    "Credit balance is too low",
    "Quota exceeded",
    "insufficient_quota",
    "exceeded_current_quota_error",
];

#[cfg(test)]
pub(super) mod testutil {
    use super::super::{Hit, LineView};
    use serde_json::{Map, Value};

    /// Run `f` on one line (parsed if it is JSON), with `prev` before it.
    pub fn hit(f: super::super::Recognizer, prev: &str, text: &str) -> Hit {
        let looks_json = crate::round::parsers::looks_json(text);
        let json: Option<Map<String, Value>> = if looks_json {
            serde_json::from_str(text.trim()).ok()
        } else {
            None
        };
        f(&LineView {
            text,
            prev,
            looks_json,
            json: json.as_ref(),
        })
    }
}
