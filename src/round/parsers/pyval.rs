//! Python's view of foreign JSON values, so the parsers read untrusted CLI
//! output the way upstream's plugins do: truthiness, the tolerant `_as_int`
//! (bad values fall back instead of failing the round), and code-point
//! slicing. Pure. (`str()` and `repr()` are `crate::state::pyrepr`.)

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
