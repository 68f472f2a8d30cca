//! The two stream sinks of `monitor`: `narrate` (one human line per event,
//! from the beginning of the log, then following) and `events` (JSON lines
//! from now on, ASCII-escaped like upstream's `json.dumps`).

use crate::state::reader::EventTail;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Python `str()` of a value (strings bare, nested strings quoted).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!(
                    "{}: {}",
                    super::detectors::py_repr(&Value::String(k.clone())),
                    py_repr(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => super::detectors::py_repr(other),
    }
}

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

/// Follow the log: `from_start` narrates history first (narrate mode); else
/// only new events (events mode). Ends on interrupt.
pub fn follow(
    log_dir: &Path,
    json: bool,
    from_start: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut tail = if from_start {
        EventTail::from_start(log_dir)
    } else {
        EventTail::at_end(log_dir)
    };
    let pause = Duration::from_millis(if json { 100 } else { 500 });
    crate::signals::install_interrupt();
    loop {
        let mut err = None;
        tail.poll_with(|l| {
            let v = Value::Object(l.value);
            let s = if json {
                super::ascii_json_line(&v)
            } else {
                narrate_line(&v)
            };
            if let Err(e) = writeln!(out, "{s}") {
                err.get_or_insert(e);
            }
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        out.flush()?;
        if !crate::signals::sleep_unless_interrupted(pause) {
            return Ok(());
        }
    }
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
}
