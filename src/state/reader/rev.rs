//! Reading backwards: [`RevLines`] yields a file's complete lines from the
//! end towards the start, in blocks, never keeping more than one line of at
//! most `max_line` bytes (a longer line is scanned through and given as its
//! first bytes and its size); [`tail_last_n`] and [`scan_back`] walk the
//! month files newest first; [`tail_text`] is the end of a round log.

use super::identity::{self, read_span};
use super::line::{Line, MAX_LINE, STUB_HEAD};
use super::{shard_files, Cursor, FileId};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Size of one backwards read.
const BLOCK: u64 = 64 * 1024;
/// The longest line [`tail_text`] keeps (its start, then a marker).
pub const TEXT_LINE_MAX: usize = 64 * 1024;
/// The most text [`tail_text`] returns (the newest lines within it).
pub const TEXT_MAX: usize = 256 * 1024;

/// One line read backwards: its bytes (without `\n`; for a line longer than
/// the cap, only its first [`STUB_HEAD`] bytes), the offset just after it,
/// and, for such a line, its whole length.
#[derive(Debug)]
pub struct RevLine {
    pub bytes: Vec<u8>,
    pub end: u64,
    pub cut: Option<u64>,
}

/// Reads a file's complete lines from the end towards the start, in blocks.
///
/// With `complete_only`, a trailing partial line (no final `\n`) is skipped —
/// the writer may still be appending it. Without, it is returned first (round
/// logs, whose last line may legitimately have no newline).
pub struct RevLines {
    file: File,
    ino: u64,
    /// File offset of `buf[0]`.
    pos: u64,
    /// Unconsumed bytes `[pos, pos + buf.len())`, always ending at a line end.
    buf: Vec<u8>,
    /// Was the last consumed line terminated at `pos + buf.len()`?
    primed: bool,
    complete_only: bool,
    size: u64,
    max_line: usize,
}

impl RevLines {
    pub fn open(path: &Path, complete_only: bool) -> std::io::Result<RevLines> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        Ok(RevLines {
            file,
            ino: meta.ino(),
            pos: meta.len(),
            buf: Vec::new(),
            primed: false,
            complete_only,
            size: meta.len(),
            max_line: MAX_LINE,
        })
    }

    /// Keep lines of at most `n` bytes (longer ones are cut).
    pub fn max_line(mut self, n: usize) -> RevLines {
        self.max_line = n.max(1);
        self
    }

    /// The identity of the file being read.
    pub fn id(&self) -> Option<FileId> {
        identity::file_id(&self.file, self.ino).ok().flatten()
    }

    /// Read the block before `pos` (without what is buffered); `None` at
    /// the start of the file.
    fn block_before(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.pos == 0 {
            return Ok(None);
        }
        let start = self.pos.saturating_sub(BLOCK);
        let len = usize::try_from(self.pos - start).unwrap_or(BLOCK as usize);
        let mut block = vec![0u8; len];
        self.file.read_exact_at(&mut block, start)?;
        self.pos = start;
        Ok(Some(block))
    }

    /// Read one more block before `pos` into the buffer; false at the start.
    fn grow(&mut self) -> std::io::Result<bool> {
        match self.block_before()? {
            Some(mut block) => {
                block.extend_from_slice(&self.buf);
                self.buf = block;
                Ok(true)
            }
            None => Ok(false),
        }
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
        // Drop the torn tail: everything after the last newline, a block at
        // a time (a torn line of any size is never held whole).
        loop {
            if let Some(i) = self.buf.iter().rposition(|b| *b == b'\n') {
                self.buf.truncate(i + 1);
                return Ok(());
            }
            self.buf.clear();
            if !self.grow()? {
                return Ok(());
            }
        }
    }

    /// The offset just after the last complete line.
    pub fn complete_end(&mut self) -> std::io::Result<u64> {
        if !self.primed {
            self.prime()?;
        }
        Ok((self.pos + self.buf.len() as u64).min(self.size))
    }

    /// The next line towards the start, or `None` at the start of the file.
    pub fn next_line(&mut self) -> std::io::Result<Option<RevLine>> {
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
                let bytes = self.buf[i + 1..body_len].to_vec();
                self.buf.truncate(i + 1);
                return Ok(Some(RevLine {
                    bytes,
                    end,
                    cut: None,
                }));
            }
            if self.pos == 0 {
                let bytes = self.buf[..body_len].to_vec();
                self.buf.clear();
                return Ok(Some(RevLine {
                    bytes,
                    end,
                    cut: None,
                }));
            }
            if body_len > self.max_line {
                let body_end = self.pos + body_len as u64;
                return self.skip_long(end, body_end).map(Some);
            }
            self.grow()?;
        }
    }

    /// The line ending at `body_end` is too long: find its start without
    /// keeping it, then read its first bytes.
    fn skip_long(&mut self, end: u64, body_end: u64) -> std::io::Result<RevLine> {
        self.buf = Vec::new();
        let start = loop {
            match self.block_before()? {
                None => break 0,
                Some(mut block) => {
                    if let Some(j) = block.iter().rposition(|b| *b == b'\n') {
                        block.truncate(j + 1);
                        let start = self.pos + j as u64 + 1;
                        self.buf = block;
                        break start;
                    }
                }
            }
        };
        let len = body_end.saturating_sub(start);
        let head_len = usize::try_from(len).unwrap_or(STUB_HEAD).min(STUB_HEAD);
        Ok(RevLine {
            bytes: read_span(&self.file, start, head_len)?,
            end,
            cut: Some(len),
        })
    }
}

/// The offset just after the last `\n` at or before `len` (one byte read
/// when the file ends with a complete line, as it nearly always does).
pub(super) fn complete_end(path: &Path, len: u64) -> std::io::Result<u64> {
    let mut r = RevLines::open(path, true)?;
    let end = r.size.min(len);
    if end == 0 || read_span(&r.file, end - 1, 1)? == b"\n" {
        return Ok(end);
    }
    Ok(r.complete_end()?.min(len))
}

/// The last `n` lines of a text file (partial last line included), for round
/// log tails. Reads only the blocks it needs; a line longer than
/// [`TEXT_LINE_MAX`] keeps its start and a marker, and at most
/// [`TEXT_MAX`] bytes are returned (the newest lines).
pub fn tail_text(path: &Path, n: usize) -> std::io::Result<String> {
    let mut r = RevLines::open(path, false)?.max_line(TEXT_LINE_MAX);
    let mut lines = Vec::with_capacity(n.min(1024));
    let mut total = 0usize;
    while lines.len() < n {
        let Some(l) = r.next_line()? else {
            break;
        };
        let mut text = String::from_utf8_lossy(&l.bytes).into_owned();
        if let Some(len) = l.cut {
            text.push_str(&format!(" \u{2026} [a line of {len} bytes, cut]"));
        }
        total += text.len() + 1;
        if total > TEXT_MAX && !lines.is_empty() {
            break;
        }
        lines.push(text);
    }
    lines.reverse();
    let mut out = String::with_capacity(total.min(TEXT_MAX));
    for l in lines {
        out.push_str(&l);
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
    tail_last_n_capped(shards, kinds, n, MAX_LINE)
}

/// [`tail_last_n_in`] keeping lines of at most `max_line` bytes (longer
/// ones are given as stubs).
pub fn tail_last_n_capped(
    shards: &[(String, PathBuf)],
    kinds: &[&str],
    n: usize,
    max_line: usize,
) -> std::io::Result<TailResult> {
    let mut res = TailResult::default();
    if n == 0 {
        return Ok(res);
    }
    let mut lines = Vec::new();
    res.corrupt = scan_back_capped(shards, kinds, max_line, |l| {
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
    f: impl FnMut(Line) -> bool,
) -> std::io::Result<u64> {
    scan_back_capped(shards, kinds, MAX_LINE, f)
}

fn scan_back_capped(
    shards: &[(String, PathBuf)],
    kinds: &[&str],
    max_line: usize,
    mut f: impl FnMut(Line) -> bool,
) -> std::io::Result<u64> {
    let mut corrupt = 0;
    for (name, path) in shards.iter().rev() {
        let mut r = match RevLines::open(path, true) {
            Ok(r) => r.max_line(max_line),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let id = r.id();
        while let Some(rl) = r.next_line()? {
            if rl.bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if !kinds.is_empty() && !kinds.iter().any(|k| mentions_kind(&rl.bytes, k)) {
                continue;
            }
            let end = Cursor {
                file: name.clone(),
                offset: rl.end,
                id,
            };
            let line = match rl.cut {
                Some(len) => Line::stub(&rl.bytes, len, end),
                None => match Line::parse(rl.bytes, end) {
                    Some(l) => l,
                    None => {
                        corrupt += 1;
                        continue;
                    }
                },
            };
            if !kinds.is_empty() && !kinds.contains(&line.kind()) {
                continue;
            }
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
