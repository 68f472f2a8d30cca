//! JSON text exactly as Python's `json.dumps(..., ensure_ascii=False)` writes
//! it: `", "` and `": "` separators, UTF-8 unescaped. Keys keep insertion order
//! (serde_json's `preserve_order`).

use serde_json::ser::Formatter;
use serde_json::Value;
use std::io;

struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// One-line Python-style JSON.
pub fn to_line(v: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Serializing a Value into a Vec cannot fail.
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return String::from("{}");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Indented (2 spaces) JSON, as `json.dumps(indent=2)` writes state files.
pub fn to_pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| String::from("{}"))
}

/// `json.dumps(v, indent=2)` as the CLI prints it: indented, with every
/// non-ASCII character escaped as `\uXXXX` (Python's default `ensure_ascii`).
pub fn to_pretty_ascii(v: &Value) -> String {
    escape_non_ascii(&to_pretty(v))
}

/// One-line JSON as Python's `json.dumps` default writes it: `", "`/`": "`
/// separators and every non-ASCII character escaped as `\uXXXX`.
pub fn to_line_ascii(v: &Value) -> String {
    escape_non_ascii(&to_line(v))
}

/// Every non-ASCII character of JSON text as `\uXXXX` (UTF-16 units).
fn escape_non_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut buf = [0u16; 2];
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pretty_ascii_escapes_like_python() {
        let v = json!({"a": "x\u{2014}y\u{1F600}"});
        assert_eq!(
            to_pretty_ascii(&v),
            "{\n  \"a\": \"x\\u2014y\\ud83d\\ude00\"\n}"
        );
    }

    #[test]
    fn matches_python_separators() {
        let v = json!({"ts": "x", "event": "round_start", "round_num": 1, "phase": null, "l": [1, "é"], "f": 0.20334386825561523});
        assert_eq!(
            to_line(&v),
            r#"{"ts": "x", "event": "round_start", "round_num": 1, "phase": null, "l": [1, "é"], "f": 0.20334386825561523}"#
        );
    }
}
