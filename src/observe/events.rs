//! `events --kind K[,K2] [--window N | --tail] [--since CURSOR|POSITION|TS]`:
//! the last N matching events, a replay since a cursor, position or time, or
//! a live follow. Lines are printed verbatim as they are in the file (a line
//! longer than 1 MiB as a stub with `"truncated": true`). A follow goes on
//! through rotation, truncation and re-creation of the events files (each
//! said in a warning on stderr, naming the file).

use crate::state::reader::{self, EventTail, Since};
use crate::state::wake::Wake;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The longest `events --tail` sleeps without a change in the log_dir: the
/// bound on noticing an interrupt (and the poll period without inotify).
const WAKE_AT_LEAST: Duration = Duration::from_millis(200);

/// What `events` was asked for.
#[derive(Debug, Clone, Default)]
pub struct EventsQuery {
    /// Event kinds, comma-separated (OR).
    pub kind: String,
    /// The last N matching events (default 10).
    pub window: Option<usize>,
    /// Follow: print matching events as they are appended.
    pub tail: bool,
    /// Replay from a cursor (`events-2026-11.jsonl:12345[:INODE.HEAD]`), a
    /// position (`pos:…`) or an ISO-8601 time.
    pub since: Option<String>,
}

/// Why `events` failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// The query itself is wrong (checked before anything is read).
    #[error("{0}")]
    Query(String),
    #[error("events file unreadable: {0}")]
    Unreadable(#[from] std::io::Error),
}

/// The query checked before anything is read: the kinds and the parsed
/// `since`.
pub fn validate(a: &EventsQuery) -> Result<(Vec<String>, Option<Since>), EventsError> {
    let kinds: Vec<String> = a
        .kind
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if kinds.is_empty() {
        return Err(EventsError::Query(
            "--kind requires at least one non-empty event kind".into(),
        ));
    }
    if a.window.is_some() && a.tail {
        return Err(EventsError::Query(
            "--window and --tail are mutually exclusive".into(),
        ));
    }
    if a.window.is_some() && a.since.is_some() {
        return Err(EventsError::Query(
            "--window and --since are mutually exclusive".into(),
        ));
    }
    let since = match &a.since {
        Some(s) => Some(
            s.parse::<Since>()
                .map_err(|e| EventsError::Query(e.to_string()))?,
        ),
        None => None,
    };
    Ok((kinds, since))
}

/// Run against a log_dir, writing to `out`. Returns when done (one-shot) or
/// when interrupted (`--tail`).
pub fn run(log_dir: &Path, a: &EventsQuery, out: &mut dyn Write) -> Result<(), EventsError> {
    let (kinds, since) = validate(a)?;
    let kr: Vec<&str> = kinds.iter().map(String::as_str).collect();
    let wanted = |k: &str| kr.contains(&k);
    let mut follow = None;
    if let Some(since) = &since {
        let (lines, mut tail) = reader::since(log_dir, since)?;
        for n in tail.take_notices() {
            tracing::warn!("{}: {n}", log_dir.display());
        }
        for l in lines.iter().filter(|l| wanted(l.kind())) {
            writeln!(out, "{}", l.text)?;
        }
        follow = Some(tail);
    } else if !a.tail {
        let n = a.window.unwrap_or(10);
        let r = reader::tail_last_n(log_dir, &kr, n)?;
        for l in &r.lines {
            writeln!(out, "{}", l.text)?;
        }
    }
    if !a.tail {
        return Ok(());
    }
    out.flush()?;
    crate::sys::signals::install_interrupt();
    let mut tail = follow.unwrap_or_else(|| EventTail::at_end(log_dir));
    // Woken by inotify when the log_dir changes (an append is printed at
    // once); without it (or to notice an interrupt) every WAKE_AT_LEAST.
    let mut wake = Wake::new(log_dir);
    if wake.is_notified() {
        tail.keep_listing();
    }
    loop {
        let lines = tail.poll()?;
        for n in tail.take_notices() {
            tracing::warn!("{}: {n}", log_dir.display());
        }
        for l in lines.iter().filter(|l| wanted(l.kind())) {
            writeln!(out, "{}", l.text)?;
        }
        out.flush()?;
        if crate::sys::signals::interrupted() {
            return Ok(());
        }
        // True when polling, or when files appeared: list the shards again.
        if wake.wait(WAKE_AT_LEAST) {
            tail.relist();
        }
        if crate::sys::signals::interrupted() {
            return Ok(());
        }
        // The log_dir may exist by now (serve had not started yet).
        if wake.rewatch(log_dir) {
            tail.keep_listing();
        }
    }
}
