//! JSON text exactly as Python's `json.dumps(..., ensure_ascii=False)` writes
//! it: `", "` and `": "` separators, UTF-8 unescaped, floats as Python's
//! `repr(float)` (`1e-05`, `1e+16`; [`super::pyrepr::py_float`]). Keys keep
//! insertion order (serde_json's `preserve_order`).

use serde_json::ser::{Formatter, PrettyFormatter};
use serde_json::Value;
use std::io;

/// A float as `json.dumps` writes it (serde_json's own text differs:
/// `1e-5`, `1e16`). A `Value` holds finite floats only.
fn write_py_f64<W: ?Sized + io::Write>(w: &mut W, x: f64) -> io::Result<()> {
    w.write_all(super::pyrepr::py_float(x).as_bytes())
}

struct PyFormatter;

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, x: f64) -> io::Result<()> {
        write_py_f64(w, x)
    }
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

/// serde_json's two-space indentation (the layout of `json.dumps(indent=2)`)
/// with Python's float text.
struct PyPretty(PrettyFormatter<'static>);

impl Formatter for PyPretty {
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, x: f64) -> io::Result<()> {
        write_py_f64(w, x)
    }
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Indented (2 spaces) JSON, as `json.dumps(indent=2)` writes state files.
pub fn to_pretty(v: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser =
        serde_json::Serializer::with_formatter(&mut out, PyPretty(PrettyFormatter::new()));
    // Serializing a Value into a Vec cannot fail.
    if serde::Serialize::serialize(v, &mut ser).is_err() {
        return String::from("{}");
    }
    String::from_utf8(out).unwrap_or_default()
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

    /// `python3 -c 'import json; print(json.dumps([1e-05, 1e16, 1e15, 100.0, 0.1, -0.0, 5]))'`
    #[test]
    fn floats_like_python_json_dumps() {
        let v = json!([1e-5, 1e16, 1e15, 100.0, 0.1, -0.0, 5]);
        let want = "[1e-05, 1e+16, 1000000000000000.0, 100.0, 0.1, -0.0, 5]";
        assert_eq!(to_line(&v), want);
        assert_eq!(to_pretty(&json!({"f": 1.5e-7})), "{\n  \"f\": 1.5e-07\n}");
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
