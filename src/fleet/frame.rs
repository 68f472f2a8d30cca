//! The `probe --stream` wire format: newline-delimited JSON objects, each with
//! `"v": 1` and a `"type"` (`hello`, `snapshot`, `event`, `metric`,
//! `log_tail`, `position`, `notice`, `error`). Documented in `docs/fleet.md`. Fields and
//! types are only ever added within a version: a witness ignores what it
//! does not know, so older witnesses and probes keep working together.
//!
//! This module owns encoding with a hard size bound ([`MAX_FRAME`]) and
//! decoding on the witness side; it does no I/O.

use crate::state::reader;
use serde_json::{json, Map, Value};

/// Frame format version.
pub const VERSION: u64 = 1;
/// No frame (including its newline) is longer than this.
pub const MAX_FRAME: usize = 64 * 1024;

/// Encode `frame` as one line (with `\n`), never longer than [`MAX_FRAME`].
/// An `event`/`metric` whose `line` is too long is replaced by a small stub
/// object (`ts`, `event`, `round_num`, `truncated: true`, `original_bytes`);
/// a `log_tail` keeps the end of its text; anything else too big becomes an
/// `error` frame saying so.
pub fn encode(mut frame: Map<String, Value>) -> String {
    frame.insert("v".into(), json!(VERSION));
    let line = Value::Object(frame.clone()).to_string();
    if line.len() < MAX_FRAME {
        return line + "\n";
    }
    let kind = frame
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let field = |f: &Map<String, Value>, k: &str| {
        f.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    };
    match kind.as_str() {
        "event" | "metric" => {
            let raw = field(&frame, "line");
            frame.insert("line".into(), json!(stub_line(&raw)));
            frame.insert("truncated".into(), json!(true));
        }
        "log_tail" => {
            let text = field(&frame, "text");
            frame.insert("text".into(), json!(keep_end(&text, MAX_FRAME / 2)));
            frame.insert("truncated".into(), json!(true));
        }
        _ => {
            frame = Map::new();
            frame.insert("v".into(), json!(VERSION));
            frame.insert("type".into(), json!("error"));
            frame.insert(
                "message".into(),
                json!(format!(
                    "a '{kind}' frame exceeded {MAX_FRAME} bytes and was dropped"
                )),
            );
        }
    }
    let line = Value::Object(frame).to_string();
    if line.len() < MAX_FRAME {
        line + "\n"
    } else {
        // Pathological escaping blow-up: say so in a frame that surely fits.
        format!(
            "{{\"v\":{VERSION},\"type\":\"error\",\"message\":\"a '{}' frame exceeded {MAX_FRAME} bytes and was dropped\"}}\n",
            kind.chars().filter(char::is_ascii_alphanumeric).collect::<String>()
        )
    }
}

/// The last `max` bytes of `s`, cut at a char boundary (and a line start when
/// there is one).
pub fn keep_end(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let cut = &s[start..];
    match cut.find('\n') {
        Some(i) if i + 1 < cut.len() => &cut[i + 1..],
        _ => cut,
    }
}

/// A small JSON object standing in for an over-long event line: the fields a
/// detector keys on survive, the rest is marked as cut (the reader's stub).
fn stub_line(raw: &str) -> String {
    reader::stub_text(raw.as_bytes(), raw.len() as u64)
}

/// The fields of a `json!({...})` object (anything else: none).
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Build a frame of `kind` from key/value pairs.
pub fn frame(kind: &str, fields: Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("v".into(), json!(VERSION));
    m.insert("type".into(), json!(kind));
    m.extend(fields);
    m
}

/// A decoded frame on the witness side.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Hello(Map<String, Value>),
    Snapshot(Map<String, Value>),
    /// Raw event line and the cursor just after it: the frame's `at` (with
    /// the file's identity) when the probe sends one, else its `cursor`.
    Event {
        cursor: String,
        line: String,
    },
    Metric {
        line: String,
    },
    LogTail {
        round: u64,
        text: String,
    },
    /// Where the probe stands in every events file (`pos:…`), before the
    /// first snapshot.
    Position(String),
    /// A change to a followed file (truncated, replaced, …), told by the
    /// probe: the file and a one-line message.
    Notice {
        file: String,
        message: String,
    },
    Error(String),
    /// A newer frame type or version this witness does not know (ignored).
    Unknown(String),
}

/// Decode one line; `Err` for a line that is not a frame object.
pub fn decode(line: &str) -> Result<Frame, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(m) = v else {
        return Err("a frame must be a JSON object".into());
    };
    if m.get("v").and_then(Value::as_u64) != Some(VERSION) {
        return Ok(Frame::Unknown(format!("frame version {:?}", m.get("v"))));
    }
    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(match m.get("type").and_then(Value::as_str).unwrap_or("") {
        "hello" => Frame::Hello(m),
        "snapshot" => Frame::Snapshot(m),
        "event" => Frame::Event {
            cursor: match m.get("at").and_then(Value::as_str) {
                Some(at) => at.to_string(),
                None => s("cursor"),
            },
            line: s("line"),
        },
        "position" => Frame::Position(s("position")),
        "notice" => Frame::Notice {
            file: s("file"),
            message: s("message"),
        },
        "metric" => Frame::Metric { line: s("line") },
        "log_tail" => Frame::LogTail {
            round: m.get("round").and_then(Value::as_u64).unwrap_or(0),
            text: s("text"),
        },
        "error" => Frame::Error(s("message")),
        other => Frame::Unknown(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_pass_unchanged_and_carry_the_version() {
        let mut f = Map::new();
        f.insert("cursor".into(), json!("events-2026-11.jsonl:10"));
        f.insert("line".into(), json!("{\"event\": \"round_start\"}"));
        let line = encode(frame("event", f));
        assert!(line.ends_with('\n'));
        let d = decode(line.trim_end()).unwrap();
        assert_eq!(
            d,
            Frame::Event {
                cursor: "events-2026-11.jsonl:10".into(),
                line: "{\"event\": \"round_start\"}".into()
            }
        );
    }

    #[test]
    fn a_huge_event_is_cut_and_marked_but_keeps_its_cursor_and_kind() {
        let big = format!(
            "{{\"ts\": \"2026-11-25T10:00:00.000Z\", \"event\": \"round_end\", \"round_num\": 7, \"blob\": \"{}\"}}",
            "x".repeat(200_000)
        );
        let mut f = Map::new();
        f.insert("cursor".into(), json!("events-2026-11.jsonl:999"));
        f.insert("line".into(), json!(big));
        let line = encode(frame("event", f));
        assert!(line.len() <= MAX_FRAME, "{}", line.len());
        let Frame::Event { cursor, line } = decode(line.trim_end()).unwrap() else {
            panic!("not an event");
        };
        assert_eq!(cursor, "events-2026-11.jsonl:999");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "round_end");
        assert_eq!(v["round_num"], 7);
        assert_eq!(v["truncated"], true);
        assert_eq!(v["original_bytes"], big.len());
    }

    #[test]
    fn a_huge_log_tail_keeps_its_end_and_other_frames_become_errors() {
        let text = format!("{}\nLAST LINE\n", "é".repeat(100_000));
        let mut f = Map::new();
        f.insert("round".into(), json!(3));
        f.insert("text".into(), json!(text));
        let line = encode(frame("log_tail", f));
        assert!(line.len() <= MAX_FRAME);
        let Frame::LogTail { round, text } = decode(line.trim_end()).unwrap() else {
            panic!();
        };
        assert_eq!(round, 3);
        assert!(text.ends_with("LAST LINE\n"));
        let mut f = Map::new();
        f.insert("status".into(), json!("y".repeat(MAX_FRAME)));
        let line = encode(frame("snapshot", f));
        assert!(line.len() <= MAX_FRAME);
        assert!(matches!(decode(line.trim_end()).unwrap(), Frame::Error(_)));
    }

    #[test]
    fn an_event_cursor_with_identity_is_preferred_and_notices_decode() {
        let f = decode(
            r#"{"v":1,"type":"event","cursor":"events-2026-11.jsonl:10","at":"events-2026-11.jsonl:10:5.00000000000000ff","line":"{}"}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Frame::Event {
                cursor: "events-2026-11.jsonl:10:5.00000000000000ff".into(),
                line: "{}".into()
            }
        );
        let f = decode(
            r#"{"v":1,"type":"notice","file":"events-2026-11.jsonl","what":"truncated","message":"m"}"#,
        )
        .unwrap();
        assert_eq!(
            f,
            Frame::Notice {
                file: "events-2026-11.jsonl".into(),
                message: "m".into()
            }
        );
    }

    #[test]
    fn unknown_versions_and_types_are_not_errors() {
        assert!(matches!(
            decode("{\"v\": 2, \"type\": \"hello\"}").unwrap(),
            Frame::Unknown(_)
        ));
        assert!(matches!(
            decode("{\"v\": 1, \"type\": \"gossip\"}").unwrap(),
            Frame::Unknown(_)
        ));
        assert!(decode("[1]").is_err());
    }
}
