//! One line of the log ([`Line`]): its text, the parsed object and the
//! cursor after it; parsing that is lenient about bytes; and the stub that
//! stands in for a line too long to keep ([`stub_text`]): the fields a
//! detector keys on, `"truncated": true` and the line's original size.

use super::Cursor;
use serde_json::{json, Map, Value};

/// The longest line a reader keeps by default (`events --tail`, the local
/// monitor); a longer one becomes a stub. The probe keeps less (a frame's
/// bound).
pub const MAX_LINE: usize = 1 << 20;
/// Bytes of an over-long line kept to build its stub (the common fields
/// sit at its start).
pub const STUB_HEAD: usize = 4096;

/// One complete line of the log: its original text, the parsed object, and
/// the cursor just after it. `cut` is the original size of a line that was
/// too long and is given as a stub.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    pub value: Map<String, Value>,
    pub end: Cursor,
    pub cut: Option<u64>,
}

impl Line {
    /// The `event` field.
    pub fn kind(&self) -> &str {
        self.value
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// The `ts` field.
    pub fn ts(&self) -> &str {
        self.value.get("ts").and_then(Value::as_str).unwrap_or("")
    }

    /// A line from its bytes, or `None` for a blank, corrupt or non-object
    /// line.
    pub(super) fn parse(bytes: Vec<u8>, end: Cursor) -> Option<Line> {
        let (text, value) = parse_owned(bytes)?;
        Some(Line {
            text,
            value,
            end,
            cut: None,
        })
    }

    /// The stub for a line of `original_bytes` whose first bytes are `head`.
    pub(super) fn stub(head: &[u8], original_bytes: u64, end: Cursor) -> Line {
        let text = stub_text(head, original_bytes);
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        Line {
            text,
            value,
            end,
            cut: Some(original_bytes),
        }
    }
}

/// Parse one line into an object; `None` for blank, corrupt or non-object lines.
/// Bytes that are not UTF-8 are replaced (a bit-rotted byte on an SD card must
/// not break every reader).
pub fn parse_line(bytes: &[u8]) -> Option<(String, Map<String, Value>)> {
    parse_owned(bytes.to_vec())
}

/// [`parse_line`] taking ownership (no copy of a valid UTF-8 line).
pub(super) fn parse_owned(bytes: Vec<u8>) -> Option<(String, Map<String, Value>)> {
    let mut text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    if start > 0 {
        text.drain(..start);
    }
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Some((text, m)),
        _ => None,
    }
}

/// A small JSON object standing in for an over-long line whose first bytes
/// are `head`: `ts`, `event`, `round_num` and `phase` when found there,
/// `"truncated": true` and `original_bytes`.
pub fn stub_text(head: &[u8], original_bytes: u64) -> String {
    let head = &head[..head.len().min(STUB_HEAD)];
    let head = String::from_utf8_lossy(head);
    let mut m = Map::new();
    // The common fields usually sit at the start of a line: pull them out
    // of the head with a lenient scan rather than a full parse.
    for key in ["ts", "event", "round_num", "phase"] {
        if let Some(v) = scan_field(&head, key) {
            m.insert(key.into(), v);
        }
    }
    m.insert("truncated".into(), json!(true));
    m.insert("original_bytes".into(), json!(original_bytes));
    Value::Object(m).to_string()
}

/// `"key": <string or number>` found in `s`, parsed.
fn scan_field(s: &str, key: &str) -> Option<Value> {
    let pat = format!("\"{key}\"");
    let at = s.find(&pat)? + pat.len();
    let rest = s[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(r) = rest.strip_prefix('"') {
        let end = r.find('"')?;
        return Some(json!(r[..end]));
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-' || c == '.'))
        .unwrap_or(rest.len());
    serde_json::from_str(&rest[..end]).ok()
}
