//! Reading forward from an offset of an open file: complete lines only,
//! each kept to at most `max_line` bytes. A longer line is scanned through
//! without being kept (only its first [`STUB_HEAD`] bytes, for its stub);
//! if its writer has not finished it, the scan stops at the end of the file
//! and the next read continues from there ([`Skip`]), so a huge line is
//! read once, in pieces of one buffer.

use super::line::STUB_HEAD;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;

/// The read buffer is sized to what is there to read, within these bounds
/// (a follow-on poll reads a few new lines: a small buffer, not a fresh
/// 64 KiB one each time).
const BUF_MIN: usize = 4 * 1024;
const BUF_MAX: usize = 64 * 1024;

/// An over-long line being scanned: where it starts, how far it was scanned
/// without meeting its newline, and its first bytes.
#[derive(Debug, Clone)]
pub(super) struct Skip {
    start: u64,
    scanned: u64,
    head: Vec<u8>,
}

impl Skip {
    /// How far the line was scanned.
    pub(super) fn scanned(&self) -> u64 {
        self.scanned
    }
}

/// What a read met: a complete line (without `\n`) and the offset after it,
/// or the first bytes of a line that was too long, its length and the
/// offset after it.
pub(super) enum Item {
    Line(Vec<u8>, u64),
    Long(Vec<u8>, u64, u64),
}

/// Where a read stopped: the offset after the last complete line, and the
/// over-long line being scanned past it, if any.
pub(super) struct Stop {
    pub offset: u64,
    pub skip: Option<Skip>,
}

/// `Read` at a position of a shared file (no seek on the descriptor).
struct At<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Read the complete lines of `file` from `start` (or go on with `skip`),
/// handing each to `f`; `size` (the file's size at the stat) sizes the
/// buffer. Stops at the end of the file; a torn last line is left for the
/// next read.
pub(super) fn read_lines(
    file: &File,
    start: u64,
    size: u64,
    skip: Option<Skip>,
    max_line: usize,
    mut f: impl FnMut(Item),
) -> std::io::Result<Stop> {
    let (mut line_start, mut pos, mut long) = match skip {
        Some(s) if s.start == start && s.scanned >= start => (s.start, s.scanned, Some(s.head)),
        _ => (start, start, None),
    };
    let want = usize::try_from(size.saturating_sub(pos)).unwrap_or(BUF_MAX);
    let mut r = BufReader::with_capacity(want.clamp(BUF_MIN, BUF_MAX), At { file, pos });
    let mut line: Vec<u8> = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        match &mut long {
            Some(head) => {
                let room = STUB_HEAD.saturating_sub(head.len()).min(take);
                head.extend_from_slice(&buf[..room]);
            }
            None if line.len() + take > max_line => {
                // Too long: keep its first bytes only, from now on.
                let mut head = std::mem::take(&mut line);
                head.truncate(STUB_HEAD);
                let room = STUB_HEAD.saturating_sub(head.len()).min(take);
                head.extend_from_slice(&buf[..room]);
                head.shrink_to_fit();
                long = Some(head);
            }
            None => line.extend_from_slice(&buf[..take]),
        }
        let used = take + usize::from(done);
        r.consume(used);
        pos += used as u64;
        if done {
            match long.take() {
                Some(head) => f(Item::Long(head, pos - 1 - line_start, pos)),
                None => f(Item::Line(std::mem::take(&mut line), pos)),
            }
            line_start = pos;
        }
    }
    Ok(Stop {
        offset: line_start,
        skip: long.map(|head| Skip {
            start: line_start,
            scanned: pos,
            head,
        }),
    })
}
