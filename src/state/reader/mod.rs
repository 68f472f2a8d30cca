//! The read side of the event log: tail from the end, resume with cursors.
//!
//! Reading must never cost O(total log size) per poll (DESIGN §6), nor hold
//! more than one bounded line: every byte of a log is hostile. This module
//! owns, by concern:
//!
//! * `cursor.rs`: [`Cursor`] (a file name, an offset and the file's
//!   identity) and [`Position`] (a cursor for every file a reader knew);
//! * `identity.rs`: a file's identity ([`FileId`]: inode and first line);
//! * `line.rs`: one [`Line`], lenient parsing, and the stub of a line too
//!   long to keep ([`stub_text`]);
//! * `rev.rs`: [`tail_last_n`] and [`scan_back`] read month files
//!   **backwards** in blocks and stop once they have the newest `n`
//!   matching events; [`tail_text`] for round logs;
//! * `forward.rs` and `tail.rs`: [`EventTail`] follows the month files by
//!   identity between polls and only reads what was appended since
//!   (rotation, truncation, re-creation, a file renamed away and back, and
//!   a clock that steps across months handled), each change told as a
//!   [`Notice`] (`notice.rs`);
//! * here: the month files of a log_dir, and [`since`], which replays from a
//!   cursor, a position or a timestamp.
//!
//! A torn last line (a writer mid-append) is never consumed: offsets only move
//! past a line once its `\n` is on disk. Corrupt lines (not JSON, not an object)
//! are skipped and counted. This module reads; it never writes or decides.

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod cursor;
mod forward;
mod identity;
mod line;
mod notice;
mod rev;
mod tail;

pub use cursor::{Cursor, CursorError, FileId, Position, MAX_POSITION, POSITION_PREFIX};
pub use identity::HEAD_BYTES;
pub use line::{parse_line, stub_text, Line, MAX_LINE, STUB_HEAD};
pub use notice::{Change, Notice};
pub use rev::{
    scan_back, tail_last_n, tail_last_n_capped, tail_last_n_in, tail_text, RevLine, RevLines,
    TailResult, TEXT_LINE_MAX, TEXT_MAX,
};
pub use tail::EventTail;

/// True for `<prefix>YYYY-MM.jsonl`.
pub fn is_shard_name(name: &str, prefix: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(".jsonl"))
    else {
        return false;
    };
    let b = rest.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_digit)
}

/// Month shards `<prefix>YYYY-MM.jsonl` in `dir`, oldest first (by name).
pub fn shard_files(dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                is_shard_name(&name, prefix).then(|| (name, e.path()))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Where a replay starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// Resume exactly after a previous read.
    Cursor(Cursor),
    /// Resume exactly where a reader stood in every file it knew.
    Position(Position),
    /// Every event with `ts >= t` (month files before `t`'s month are skipped).
    Ts(DateTime<Utc>),
}

/// A `--since` value that is neither a cursor nor a timestamp.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--since expects a cursor like 'events-2026-11.jsonl:12345', a position 'pos:…' or an ISO-8601 time, got '{0}'"
)]
pub struct SinceError(pub String);

impl FromStr for Since {
    type Err = SinceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.starts_with(POSITION_PREFIX) {
            return s
                .parse::<Position>()
                .map(Since::Position)
                .map_err(|_| SinceError(s.chars().take(200).collect()));
        }
        if s.starts_with("events-") {
            return s
                .parse::<Cursor>()
                .map(Since::Cursor)
                .map_err(|_| SinceError(s.to_string()));
        }
        crate::timefmt::parse_ts(s)
            .map(Since::Ts)
            .ok_or_else(|| SinceError(s.to_string()))
    }
}

/// Replay events since a cursor, a position or a time, oldest first; returns
/// the lines and a tail positioned exactly where the replay stopped (no gap,
/// no duplicate if the caller follows on with it). A time replays the month
/// files from its month on (the others are followed from their end).
pub fn since(dir: &Path, from: &Since) -> std::io::Result<(Vec<Line>, EventTail)> {
    since_capped(dir, from, MAX_LINE)
}

/// [`since`] keeping lines of at most `max_line` bytes (longer ones are
/// stubs), for the replay and the tail it returns.
pub fn since_capped(
    dir: &Path,
    from: &Since,
    max_line: usize,
) -> std::io::Result<(Vec<Line>, EventTail)> {
    let mut tail = match from {
        Since::Cursor(c) => EventTail::from_cursor(dir, c),
        Since::Position(p) => EventTail::from_position(dir, p),
        Since::Ts(t) => {
            // Month files before t's month start at their end.
            let first = format!("events-{}.jsonl", crate::timefmt::month(*t));
            let mut tl = EventTail::from_start(dir);
            tl.seek_to_end_before(&first);
            tl
        }
    };
    tail.max_line(max_line);
    let mut out = Vec::new();
    match from {
        Since::Cursor(_) | Since::Position(_) => tail.poll_with(|l| out.push(l))?,
        Since::Ts(t) => tail.poll_with(|l| {
            if crate::timefmt::parse_ts(l.ts()).is_some_and(|lt| lt >= *t) {
                out.push(l)
            }
        })?,
    }
    Ok((out, tail))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_follow;
