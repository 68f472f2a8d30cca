//! One human line per event (`[22:46:58.698] round_start          round=1
//! phase=None`), as upstream's narrator writes it: peek's recent events and
//! `monitor --mode narrate` print these.

use crate::state::pyrepr::py_str;
use serde_json::Value;

/// `[22:46:58.698] round_start          round=1 phase=None`
pub fn narrate_line(e: &Value) -> String {
    let ts = e.get("ts").and_then(Value::as_str).unwrap_or("");
    let short = if ts.len() > 23 {
        ts.get(11..23).unwrap_or(ts)
    } else {
        ts
    };
    let kind = e.get("event").and_then(Value::as_str).unwrap_or("?");
    let mut parts = Vec::new();
    if let Some(m) = e.as_object() {
        for (k, v) in m {
            if k == "ts" || k == "event" {
                continue;
            }
            let key = if k == "round_num" {
                "round"
            } else {
                k.as_str()
            };
            parts.push(format!("{key}={}", py_str(v)));
        }
    }
    format!("[{short}] {kind:<20} {}", parts.join(" "))
        .trim_end()
        .to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn narrate_renders_like_upstream() {
        let v: serde_json::Value = serde_json::from_str(r#"{"ts": "2026-11-23T22:46:58.944Z", "event": "dirty_detected", "round_num": 1, "files": [".gitignore", "prompts/"], "phase": null, "ok": true}"#).unwrap();
        assert_eq!(
            super::narrate_line(&v),
            "[22:46:58.944] dirty_detected       round=1 files=['.gitignore', 'prompts/'] phase=None ok=True"
        );
    }

    /// Floats and nested strings as Python's `str()` prints them (the
    /// narrator used to print `0.00001` and `10000000000000000` here).
    #[test]
    fn narrate_floats_and_nested_strings_like_python() {
        let v: serde_json::Value = serde_json::from_str(r#"{"ts": "2026-11-23T22:46:58.944Z", "event": "x", "a": 1e-05, "b": 1e16, "c": 96.0, "d": ["l1\nl2", "it's"]}"#).unwrap();
        assert_eq!(
            super::narrate_line(&v),
            r#"[22:46:58.944] x                    a=1e-05 b=1e+16 c=96.0 d=['l1\nl2', "it's"]"#
        );
    }
}
