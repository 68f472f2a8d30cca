//! Python's `str()` and `repr()` of a JSON value, as upstream builds its
//! messages and narration from `json.loads` output: `None`/`True`/`False`,
//! ints as ints, floats as `repr(float)` (shortest round-trip digits, `1e-05`,
//! `1e+16`, `100.0`), strings quoted and escaped as `repr(str)` does, lists
//! and dicts as Python prints them. The one place that knows these rules:
//! the detectors' messages, the narrator, the output parsers and the float
//! text of [`super::pyjson`] all use it. Pure.

use serde_json::Value;

/// Python `str(v)`: a string bare, anything else as [`py_repr`].
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python `repr(v)` of the value `json.loads` would have built.
pub fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    out
}

fn write_repr(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) if n.is_f64() => out.push_str(&py_float(n.as_f64().unwrap_or(0.0))),
        // Integers (i64 or u64) print their digits, as Python's int does.
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&py_str_repr(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, x);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&py_str_repr(k));
                out.push_str(": ");
                write_repr(out, x);
            }
            out.push('}');
        }
    }
}

/// Python `repr(float)` (also its `str()`, and the number text of
/// `json.dumps`): the shortest digits that read back to the same float, in
/// positional form when the decimal point falls within 16 digits of them
/// (`0.0001`, `1000000000000000.0`), else as `d.ddde±XX` (`1e-05`, `1e+16`);
/// `inf`, `-inf`, `nan`.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    // Python's decpt: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    if (-3..=16).contains(&decpt) {
        if decpt <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt < n {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.abs())
    }
}

/// Python `repr(str)`: single quotes unless the text holds a `'` and no `"`;
/// `\\`, the quote, `\n`, `\r`, `\t` escaped; characters Python does not
/// print (controls, separators other than the space, format characters,
/// private use) as `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !printable(c) => {
                let u = c as u32;
                let esc = if u < 0x100 {
                    format!("\\x{u:02x}")
                } else if u < 0x10000 {
                    format!("\\u{u:04x}")
                } else {
                    format!("\\U{u:08x}")
                };
                out.push_str(&esc);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable()` for one character, for the categories that
/// occur in practice: Cc, Zs other than the space, Zl, Zp, the common Cf
/// characters and private use (Co). Unassigned code points (Cn, which depend
/// on Python's Unicode version) print as they are.
fn printable(c: char) -> bool {
    !matches!(c as u32,
        0x00..=0x1f | 0x7f..=0xa0 | 0xad
        | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891 | 0x8e2
        | 0x1680 | 0x180e
        | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064 | 0x2066..=0x206f
        | 0x3000 | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3
        | 0x1d173..=0x1d17a | 0xe0001 | 0xe0020..=0xe007f
        | 0xf0000..=0xffffd | 0x100000..=0x10fffd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Checked against CPython 3.11: `python3 -c 'print(repr(X))'`.
    #[test]
    fn floats_like_python_repr() {
        let table: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (0.3, "0.3"),
            (2.0 / 3.0, "0.6666666666666666"),
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-1.5e-10, "-1.5e-10"),
            (1e-4, "0.0001"),
            (0.0001234, "0.0001234"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (123456789.0, "123456789.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1.2345678901234567e20, "1.2345678901234567e+20"),
            (1e22, "1e+22"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.0, "-2.0"),
            (100.0, "100.0"),
            (96.5, "96.5"),
            (2.5, "2.5"),
            (0.20334386825561523, "0.20334386825561523"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in table {
            assert_eq!(py_float(*x), *want, "repr({x:?})");
        }
    }

    #[test]
    fn values_like_python_str_and_repr() {
        assert_eq!(py_str(&json!("x")), "x");
        assert_eq!(py_repr(&json!("x")), "'x'");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(false)), "False");
        assert_eq!(py_str(&json!(12)), "12");
        assert_eq!(py_str(&json!(-12)), "-12");
        assert_eq!(py_str(&json!(u64::MAX)), "18446744073709551615");
        assert_eq!(py_str(&json!(1.0)), "1.0");
        assert_eq!(py_str(&json!(96.0)), "96.0");
        assert_eq!(py_str(&json!(1e16)), "1e+16");
        assert_eq!(py_str(&json!(0.00001)), "1e-05");
        assert_eq!(py_str(&json!(0.0855405)), "0.0855405");
        // json.loads('1e5') is a float. (serde_json reads `-0` as the float
        // -0.0 where Python reads the int 0; no writer produces `-0`.)
        let parsed: Value = serde_json::from_str("[1e5, 1, 1.0, -1]").unwrap();
        assert_eq!(py_str(&parsed), "[100000.0, 1, 1.0, -1]");
        assert_eq!(
            py_str(&json!({"a": [1, "it's", null, true, 1.0, 1e-5], "b": {"c": "d"}})),
            r#"{'a': [1, "it's", None, True, 1.0, 1e-05], 'b': {'c': 'd'}}"#
        );
    }

    #[test]
    fn strings_like_python_repr() {
        assert_eq!(py_str_repr("it's"), r#""it's""#);
        assert_eq!(py_str_repr("a\"b"), r#"'a"b'"#);
        assert_eq!(py_str_repr("both'\""), r#"'both\'"'"#);
        assert_eq!(
            py_str_repr(
                "x\ny\t\\z\x01\x7f\u{80}\u{a0}\u{ad}\u{2028}\u{200b}\u{feff}\u{3000}é😀\u{e000}"
            ),
            r"'x\ny\t\\z\x01\x7f\x80\xa0\xad\u2028\u200b\ufeff\u3000é😀\ue000'"
        );
        assert_eq!(py_str_repr("\u{e0001}"), r"'\U000e0001'");
    }
}
