//! Secret redaction (spec §15) for every free-text field that is persisted.

/// Mask secrets in `text`.
pub fn redact(text: &str) -> String {
    text.to_string()
}
