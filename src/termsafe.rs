//! Text from a remote host, a client or a log, made safe to print on a
//! terminal: control characters (C0 such as ESC, CR and BEL, DEL, the C1
//! range such as U+009B CSI) and the bidirectional-override marks are
//! escaped, so a host name or an alert message cannot clear the screen, move
//! the cursor, set the window title, ring the bell or reorder what is shown.
//!
//! Used where text meets the terminal (the fleet table, the witness's text
//! lines), not earlier: the data itself keeps its bytes, and JSON output is
//! escaped by its serializer. Backslashes are left alone (they do nothing to
//! a terminal), so escaped text reads naturally.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` may change what a terminal shows beyond printing a glyph.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// `s` with every unsafe character written as an escape: `\n`, `\r`, `\t`,
/// `\x1b` (other ASCII controls), `\u{9b}` (the rest). Borrowed when clean.
pub fn text(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_unsafe(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A JSON line printed as is (a relayed event), with every unsafe character
/// written as a JSON `\uXXXX` escape: a valid JSON line keeps its value (such
/// characters can only sit inside its strings), and none reaches the
/// terminal raw. Borrowed when clean.
pub fn json_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            // Every unsafe character is in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_is_borrowed_and_unchanged() {
        for s in ["", "pi-01: ok", "Grüße, 東京 \\x1b", "a\\nb"] {
            assert!(matches!(text(s), Cow::Borrowed(x) if x == s));
            assert!(matches!(json_line(s), Cow::Borrowed(x) if x == s));
        }
    }

    #[test]
    fn controls_and_bidi_marks_are_escaped() {
        assert_eq!(
            text("a\x1b[2J\r\n\t\x07\x00\x7f\u{9b}31m\u{202e}z"),
            "a\\x1b[2J\\r\\n\\t\\x07\\x00\\x7f\\u{9b}31m\\u{202e}z"
        );
        let out = text("\u{85}\u{2066}x\u{2069}");
        assert_eq!(out, "\\u{85}\\u{2066}x\\u{2069}");
        assert!(!out.chars().any(is_unsafe));
    }

    #[test]
    fn a_json_line_keeps_its_value() {
        let v = serde_json::json!({"t": "\u{9b}2J\u{7f}\u{202e}", "n": 1});
        let raw = "{\"t\": \"\u{9b}2J\u{7f}\u{202e}\", \"n\": 1}";
        let safe = json_line(raw);
        assert_eq!(safe, "{\"t\": \"\\u009b2J\\u007f\\u202e\", \"n\": 1}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, v);
    }
}
