//! The two stream sinks of `monitor`: `narrate` (one human line per event,
//! [`crate::observe::narrate`], from the beginning of the log, then
//! following) and `events` (JSON lines from now on, ASCII-escaped like
//! upstream's `json.dumps`).

use crate::observe::narrate::narrate_line;
use crate::state::reader::EventTail;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

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
    crate::sys::signals::install_interrupt();
    loop {
        let mut err = None;
        tail.poll_with(|l| {
            let v = Value::Object(l.value);
            let s = if json {
                crate::state::pyjson::to_line_ascii(&v)
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
        if !crate::sys::signals::sleep_unless_interrupted(pause) {
            return Ok(());
        }
    }
}
