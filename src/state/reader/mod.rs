//! The read side of the event log: tail from the end, resume with cursors.
//!
//! Reading must never cost O(total log size) per poll (DESIGN §6). This module
//! owns three ways in:
//!
//! * [`tail_last_n`] reads month files **backwards** in blocks and stops once it
//!   has the newest `n` matching events;
//! * [`EventTail`] keeps one byte offset per month file between polls and only
//!   reads what was appended since (with rollover, truncation, replacement and
//!   deletion handled);
//! * [`since`] replays from a [`Cursor`] or a timestamp.
//!
//! A torn last line (a writer mid-append) is never consumed: offsets only move
//! past a line once its `\n` is on disk. Corrupt lines (not JSON, not an object)
//! are skipped and counted. This module reads; it never writes or decides.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Size of one backwards read.
const BLOCK: u64 = 64 * 1024;

/// A resumable position in the event log: a month file name and the byte
/// offset just after the last line consumed.
///
/// Serialised as `events-2026-11.jsonl:12345` (see [`fmt::Display`] and
/// [`FromStr`]). Resuming from a cursor reads that file from the offset and
/// every later month file from its start; earlier files are never opened. The
/// remote `probe --stream` hands these out in `event` frames.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Bare file name (`events-YYYY-MM.jsonl`), never a path.
    pub file: String,
    /// Byte offset after the last consumed line.
    pub offset: u64,
}

/// A cursor string that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid cursor '{0}' (expected 'events-YYYY-MM.jsonl:OFFSET')")]
pub struct CursorError(pub String);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

impl FromStr for Cursor {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CursorError(s.to_string());
        let (file, off) = s.rsplit_once(':').ok_or_else(bad)?;
        if !is_shard_name(file, "events-") {
            return Err(bad());
        }
        let offset = off.parse::<u64>().map_err(|_| bad())?;
        Ok(Cursor {
            file: file.to_string(),
            offset,
        })
    }
}

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

/// One complete line of the log: its original text, the parsed object, and the
/// cursor just after it.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    pub value: Map<String, Value>,
    pub end: Cursor,
}

impl Line {
    /// The `event` field.
    pub fn kind(&self) -> &str {
        self.value
            .get("event")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    /// The `ts` field.
    pub fn ts(&self) -> &str {
        self.value.get("ts").and_then(Value::as_str).unwrap_or("")
    }
}

/// Parse one line into an object; `None` for blank, corrupt or non-object lines.
/// Bytes that are not UTF-8 are replaced (a bit-rotted byte on an SD card must
/// not break every reader).
pub fn parse_line(bytes: &[u8]) -> Option<(String, Map<String, Value>)> {
    parse_owned(bytes.to_vec())
}

/// [`parse_line`] taking ownership (no copy of a valid UTF-8 line).
fn parse_owned(bytes: Vec<u8>) -> Option<(String, Map<String, Value>)> {
    let mut text = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    if start > 0 {
        text.drain(..start);
    }
    if text.is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Some((text, m)),
        _ => None,
    }
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

/// Reads a file's complete lines from the end towards the start, in blocks.
///
/// With `complete_only`, a trailing partial line (no final `\n`) is skipped —
/// the writer may still be appending it. Without, it is returned first (round
/// logs, whose last line may legitimately have no newline).
pub struct RevLines {
    file: File,
    /// File offset of `buf[0]`.
    pos: u64,
    /// Unconsumed bytes `[pos, pos + buf.len())`, always ending at a line end.
    buf: Vec<u8>,
    /// Was the last consumed line terminated at `pos + buf.len()`?
    primed: bool,
    complete_only: bool,
    size: u64,
}

impl RevLines {
    pub fn open(path: &Path, complete_only: bool) -> std::io::Result<RevLines> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(RevLines {
            file,
            pos: size,
            buf: Vec::new(),
            primed: false,
            complete_only,
            size,
        })
    }

    /// Read one more block before `pos`; false at the start of the file.
    fn grow(&mut self) -> std::io::Result<bool> {
        if self.pos == 0 {
            return Ok(false);
        }
        let start = self.pos.saturating_sub(BLOCK);
        let len = (self.pos - start) as usize;
        let mut block = vec![0u8; len];
        self.file.seek(SeekFrom::Start(start))?;
        self.file.read_exact(&mut block)?;
        block.extend_from_slice(&self.buf);
        self.buf = block;
        self.pos = start;
        Ok(true)
    }

    fn prime(&mut self) -> std::io::Result<()> {
        self.primed = true;
        if self.size == 0 {
            return Ok(());
        }
        self.grow()?;
        if self.buf.last() == Some(&b'\n') || !self.complete_only {
            return Ok(());
        }
        // Drop the torn tail: everything after the last newline.
        loop {
            if let Some(i) = self.buf.iter().rposition(|b| *b == b'\n') {
                self.buf.truncate(i + 1);
                return Ok(());
            }
            if !self.grow()? {
                self.buf.clear();
                return Ok(());
            }
        }
    }

    /// The next line towards the start: its bytes (without `\n`) and the byte
    /// offset just after its newline (or its end, for a partial last line).
    pub fn next_line(&mut self) -> std::io::Result<Option<(Vec<u8>, u64)>> {
        if !self.primed {
            self.prime()?;
        }
        loop {
            if self.buf.is_empty() {
                if !self.grow()? {
                    return Ok(None);
                }
                continue;
            }
            let end = self.pos + self.buf.len() as u64;
            let body_len = if self.buf.last() == Some(&b'\n') {
                self.buf.len() - 1
            } else {
                self.buf.len()
            };
            if let Some(i) = self.buf[..body_len].iter().rposition(|b| *b == b'\n') {
                let line = self.buf[i + 1..body_len].to_vec();
                self.buf.truncate(i + 1);
                return Ok(Some((line, end)));
            }
            if self.pos == 0 {
                let line = self.buf[..body_len].to_vec();
                self.buf.clear();
                return Ok(Some((line, end)));
            }
            self.grow()?;
        }
    }
}

/// The last `n` lines of a text file (partial last line included), for round
/// log tails. Reads only the blocks it needs.
pub fn tail_text(path: &Path, n: usize) -> std::io::Result<String> {
    let mut r = RevLines::open(path, false)?;
    let mut lines = Vec::with_capacity(n);
    while lines.len() < n {
        match r.next_line()? {
            Some((l, _)) => lines.push(l),
            None => break,
        }
    }
    lines.reverse();
    let mut out = String::new();
    for l in lines {
        out.push_str(&String::from_utf8_lossy(&l));
        out.push('\n');
    }
    Ok(out)
}

/// What a backwards scan found.
#[derive(Debug, Default)]
pub struct TailResult {
    /// Oldest first.
    pub lines: Vec<Line>,
    /// Lines skipped because they were not JSON objects.
    pub corrupt: u64,
}

/// The newest `n` events whose kind is in `kinds` (all kinds when empty), read
/// backwards over the month files of `dir` (newest file first), oldest first in
/// the result. Cost is proportional to what is returned, not to the log size.
pub fn tail_last_n(dir: &Path, kinds: &[&str], n: usize) -> std::io::Result<TailResult> {
    tail_last_n_in(&shard_files(dir, "events-"), kinds, n)
}

/// [`tail_last_n`] over explicit shards (also used for `metrics-*.jsonl`).
pub fn tail_last_n_in(
    shards: &[(String, PathBuf)],
    kinds: &[&str],
    n: usize,
) -> std::io::Result<TailResult> {
    let mut res = TailResult::default();
    if n == 0 {
        return Ok(res);
    }
    let mut lines = Vec::new();
    res.corrupt = scan_back(shards, kinds, |l| {
        lines.push(l);
        lines.len() < n
    })?;
    lines.reverse();
    res.lines = lines;
    Ok(res)
}

/// Walk lines newest → oldest across `shards` (newest file first), handing
/// each parsed line whose kind is in `kinds` (all when empty) to `f` until it
/// returns false. Returns the number of corrupt lines met.
pub fn scan_back(
    shards: &[(String, PathBuf)],
    kinds: &[&str],
    mut f: impl FnMut(Line) -> bool,
) -> std::io::Result<u64> {
    let mut corrupt = 0;
    for (name, path) in shards.iter().rev() {
        let mut r = match RevLines::open(path, true) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        while let Some((bytes, end)) = r.next_line()? {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if !kinds.is_empty() && !kinds.iter().any(|k| mentions_kind(&bytes, k)) {
                continue;
            }
            let Some((text, value)) = parse_owned(bytes) else {
                corrupt += 1;
                continue;
            };
            let kind = value.get("event").and_then(Value::as_str).unwrap_or("");
            if !kinds.is_empty() && !kinds.contains(&kind) {
                continue;
            }
            let line = Line {
                text,
                value,
                end: Cursor {
                    file: name.clone(),
                    offset: end,
                },
            };
            if !f(line) {
                return Ok(corrupt);
            }
        }
    }
    Ok(corrupt)
}

/// Cheap pre-filter: does the raw line contain `"kind"` at all?
fn mentions_kind(bytes: &[u8], kind: &str) -> bool {
    let needle_len = kind.len() + 2;
    bytes.windows(needle_len).any(|w| {
        w[0] == b'"' && w[needle_len - 1] == b'"' && &w[1..needle_len - 1] == kind.as_bytes()
    })
}

/// Where a replay starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// Resume exactly after a previous read.
    Cursor(Cursor),
    /// Every event with `ts >= t` (month files before `t`'s month are skipped).
    Ts(DateTime<Utc>),
}

/// A `--since` value that is neither a cursor nor a timestamp.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "--since expects a cursor like 'events-2026-11.jsonl:12345' or an ISO-8601 time, got '{0}'"
)]
pub struct SinceError(pub String);

impl FromStr for Since {
    type Err = SinceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
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

/// Offsets per month file, carried between polls.
///
/// * a file seen for the first time is read from its start (or from its end
///   after [`EventTail::seek_to_end`]);
/// * a file that shrank, or was replaced (new inode), is re-read from 0;
/// * a deleted file is forgotten;
/// * a torn last line is left for the next poll;
/// * corrupt lines are skipped and counted in [`EventTail::corrupt`].
#[derive(Debug, Clone)]
pub struct EventTail {
    dir: PathBuf,
    prefix: &'static str,
    /// file name → (inode, offset)
    offsets: BTreeMap<String, (u64, u64)>,
    /// Files whose name sorts before this are never read.
    floor: Option<String>,
    corrupt: u64,
    /// The shard list kept between polls ([`Self::keep_listing`]); `None`
    /// lists the directory at the next poll.
    listing: Option<Vec<(String, PathBuf)>>,
    keep_listing: bool,
    /// A listed file was gone at the last poll.
    listing_stale: bool,
}

impl EventTail {
    /// A tail that reads every existing events file from its start.
    pub fn from_start(dir: &Path) -> EventTail {
        EventTail {
            dir: dir.to_path_buf(),
            prefix: "events-",
            offsets: BTreeMap::new(),
            floor: None,
            corrupt: 0,
            listing: None,
            keep_listing: false,
            listing_stale: false,
        }
    }

    /// Keep the directory listing between polls instead of listing it every
    /// time: for a caller that learns of new files another way (the probe,
    /// from inotify) and calls [`Self::relist`] then.
    pub fn keep_listing(&mut self) {
        self.keep_listing = true;
    }

    /// List the directory again at the next poll.
    pub fn relist(&mut self) {
        self.listing = None;
    }

    /// A tail over `metrics-*.jsonl` instead of events.
    pub fn metrics_from_start(dir: &Path) -> EventTail {
        EventTail {
            prefix: "metrics-",
            ..Self::from_start(dir)
        }
    }

    /// A tail that skips history: existing files start at their current end
    /// (rounded back to the last complete line); new files from 0.
    pub fn at_end(dir: &Path) -> EventTail {
        let mut t = Self::from_start(dir);
        t.seek_to_end();
        t
    }

    /// A tail resuming after `c`.
    pub fn from_cursor(dir: &Path, c: &Cursor) -> EventTail {
        let mut t = Self::from_start(dir);
        t.floor = Some(c.file.clone());
        let ino = std::fs::metadata(dir.join(&c.file))
            .map(|m| m.ino())
            .unwrap_or(0);
        t.offsets.insert(c.file.clone(), (ino, c.offset));
        t
    }

    /// Move every existing file's offset to its last complete line.
    pub fn seek_to_end(&mut self) {
        for (name, path) in shard_files(&self.dir, self.prefix) {
            if let Ok(m) = std::fs::metadata(&path) {
                let end = complete_end(&path, m.len()).unwrap_or(m.len());
                self.offsets.insert(name, (m.ino(), end));
            }
        }
    }

    /// Lines skipped as corrupt so far.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// The position after everything read so far (newest file), if any.
    pub fn cursor(&self) -> Option<Cursor> {
        self.offsets.iter().next_back().map(|(f, (_, o))| Cursor {
            file: f.clone(),
            offset: *o,
        })
    }

    /// Read every complete line appended since the last poll, oldest first.
    pub fn poll(&mut self) -> std::io::Result<Vec<Line>> {
        let mut out = Vec::new();
        self.poll_with(|l| out.push(l))?;
        Ok(out)
    }

    /// Like [`poll`](Self::poll) but hands lines to `f` as they are read.
    pub fn poll_with(&mut self, mut f: impl FnMut(Line)) -> std::io::Result<()> {
        let files = match self.listing.take() {
            Some(l) => l,
            None => shard_files(&self.dir, self.prefix),
        };
        let r = self.poll_files(&files, &mut f);
        let stale = std::mem::take(&mut self.listing_stale);
        if self.keep_listing && r.is_ok() && !stale {
            self.listing = Some(files);
        }
        r
    }

    fn poll_files(
        &mut self,
        files: &[(String, PathBuf)],
        f: &mut impl FnMut(Line),
    ) -> std::io::Result<()> {
        let present: std::collections::HashSet<&str> =
            files.iter().map(|(n, _)| n.as_str()).collect();
        self.offsets.retain(|k, _| present.contains(k.as_str()));
        for (name, path) in files {
            if self.floor.as_deref().is_some_and(|fl| name.as_str() < fl) {
                continue;
            }
            let meta = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.listing_stale = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (ino, mut off) = self.offsets.get(name).copied().unwrap_or((meta.ino(), 0));
            if ino != meta.ino() || meta.len() < off {
                off = 0; // replaced or truncated
            }
            if meta.len() > off {
                off = self.read_from(name, path, off, meta.len(), f)?;
            }
            self.offsets.insert(name.clone(), (meta.ino(), off));
        }
        Ok(())
    }

    fn read_from(
        &mut self,
        name: &str,
        path: &Path,
        start: u64,
        len: u64,
        f: &mut impl FnMut(Line),
    ) -> std::io::Result<u64> {
        let mut file = match File::open(path) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(start),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(start))?;
        // A follow-on poll reads a few new lines: a buffer their size, not a
        // fresh 256 KiB one each time (the long-lived probe's heap stays small).
        let want = usize::try_from(len.saturating_sub(start)).unwrap_or(usize::MAX);
        let mut r = BufReader::with_capacity(want.clamp(4 * 1024, 256 * 1024), file);
        let mut off = start;
        let mut buf = Vec::with_capacity(512);
        loop {
            buf.clear();
            let n = r.read_until(b'\n', &mut buf)?;
            if n == 0 || buf.last() != Some(&b'\n') {
                break; // EOF, or a torn line the writer has not finished
            }
            off += n as u64;
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(&buf) {
                Some((text, value)) => f(Line {
                    text,
                    value,
                    end: Cursor {
                        file: name.to_string(),
                        offset: off,
                    },
                }),
                None => self.corrupt += 1,
            }
        }
        Ok(off)
    }
}

/// The offset just after the last `\n` at or before `len`.
fn complete_end(path: &Path, len: u64) -> std::io::Result<u64> {
    let mut r = RevLines::open(path, true)?;
    r.prime()?;
    Ok(r.pos + r.buf.len() as u64).map(|e| e.min(len))
}

/// Replay events since a cursor or a time, oldest first; returns the lines and
/// a tail positioned exactly where the replay stopped (no gap, no duplicate if
/// the caller follows on with it).
pub fn since(dir: &Path, from: &Since) -> std::io::Result<(Vec<Line>, EventTail)> {
    let mut tail = match from {
        Since::Cursor(c) => EventTail::from_cursor(dir, c),
        Since::Ts(t) => {
            let mut tl = EventTail::from_start(dir);
            tl.floor = Some(format!("events-{}.jsonl", crate::timefmt::month(*t)));
            tl
        }
    };
    let mut out = Vec::new();
    match from {
        Since::Cursor(_) => tail.poll_with(|l| out.push(l))?,
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
