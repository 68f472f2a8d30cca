//! Python's view of foreign JSON values, so the parsers read untrusted CLI
//! output the way upstream's plugins do: truthiness, `str()`, the tolerant
//! `_as_int` (bad values fall back instead of failing the round), and
//! code-point slicing. Pure.

use serde_json::Value;

/// Python truthiness of a JSON value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `v` if truthy (Python's `a or b` building block).
pub fn truthy_opt(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| truthy(v))
}

/// A JSON integer (Python `isinstance(v, int) and not isinstance(v, bool)`).
pub fn json_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) if !n.is_f64() => n
            .as_i64()
            .or_else(|| n.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX))),
        _ => None,
    }
}

/// Upstream `_as_int(value, fallback)`: null, booleans, non-numeric strings,
/// containers → `fallback`; floats truncate toward zero; numeric strings
/// parse (Python `int("  42 ")`).
pub fn as_int(v: Option<&Value>, fallback: i64) -> i64 {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(_)) => fallback,
        Some(Value::Number(n)) => match json_int(&Value::Number(n.clone())) {
            Some(i) => i,
            None => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map_or(fallback, |f| f.trunc() as i64),
        },
        Some(Value::String(s)) => parse_py_int(s).unwrap_or(fallback),
        Some(_) => fallback,
    }
}

/// Python `float(v or 0)` for cost fields; unparseable → 0.0.
pub fn as_float(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::Bool(b)) => f64::from(u8::from(*b)),
        Some(Value::String(s)) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn parse_py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    // Python allows single underscores between digits.
    if t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return None;
    }
    t.replace('_', "").parse::<i64>().ok()
}

/// Python `str(v)` of a JSON value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python `repr()` of a JSON value as `json.loads` would have built it.
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (json_int(v), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => py_float(f),
            _ => n.to_string(),
        },
        Value::String(s) => py_str_repr(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python float repr: shortest round-trip digits, exponent form outside
/// 1e-4 ≤ |x| < 1e16.
fn py_float(f: f64) -> String {
    let a = f.abs();
    if f == 0.0 || (1e-4..1e16).contains(&a) {
        let s = format!("{f}");
        if s.contains('.') || s.contains("inf") || s.contains("NaN") {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{f:e}"); // e.g. "1.5e16", "1e-5"
        match s.split_once('e') {
            Some((mant, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp),
                };
                format!("{mant}e{sign}{digits:0>2}")
            }
            None => s,
        }
    }
}

fn py_str_repr(s: &str) -> String {
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
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The first `n` code points of `s` (Python `s[:n]`).
pub fn take_chars(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_like_python() {
        assert_eq!(py_str(&json!("x")), "x");
        assert_eq!(py_str(&json!(null)), "None");
        assert_eq!(py_str(&json!(true)), "True");
        assert_eq!(py_str(&json!(12)), "12");
        assert_eq!(py_str(&json!(1.0)), "1.0");
        assert_eq!(py_str(&json!(1e16)), "1e+16");
        assert_eq!(py_str(&json!(0.00001)), "1e-05");
        assert_eq!(py_str(&json!(0.0855405)), "0.0855405");
        assert_eq!(
            py_str(&json!({"a": [1, "it's"], "b": null})),
            r#"{'a': [1, "it's"], 'b': None}"#
        );
    }

    #[test]
    fn as_int_like_upstream() {
        assert_eq!(as_int(Some(&json!(5)), 0), 5);
        assert_eq!(as_int(Some(&json!(5.9)), 0), 5);
        assert_eq!(as_int(Some(&json!(" 42 ")), 0), 42);
        assert_eq!(as_int(Some(&json!("1_000")), 0), 1000);
        assert_eq!(as_int(Some(&json!("4.5")), 9), 9);
        assert_eq!(as_int(Some(&json!(null)), 9), 9);
        assert_eq!(as_int(Some(&json!(true)), 9), 9);
        assert_eq!(as_int(Some(&json!([1])), 9), 9);
        assert_eq!(as_int(None, 9), 9);
    }

    #[test]
    fn truthiness() {
        for v in [
            json!(null),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
            json!(false),
        ] {
            assert!(!truthy(&v), "{v}");
        }
        for v in [
            json!(1),
            json!("a"),
            json!([0]),
            json!({"a": 0}),
            json!(0.5),
        ] {
            assert!(truthy(&v), "{v}");
        }
    }

    #[test]
    fn chars_not_bytes() {
        assert_eq!(take_chars("héllo", 2), "hé");
        assert_eq!(take_chars("hi", 5), "hi");
    }
}
