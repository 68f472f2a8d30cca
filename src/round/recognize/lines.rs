//! The round log read line by line as it grows, with bounded memory: each
//! call reads only what was appended (at most [`MAX_READ`] bytes), and a line
//! longer than [`MAX_LINE`] keeps only its first [`MAX_LINE`] bytes (the rest
//! is skipped up to its end). Lines end at `\n` or `\r`; text is decoded as
//! UTF-8 with replacement.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Longest line kept whole; the recognizers look at the start of a line.
pub const MAX_LINE: usize = 64 * 1024;
/// Most bytes read per call (the next call goes on where this one stopped).
pub const MAX_READ: usize = 8 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

#[derive(Debug)]
pub struct LineReader {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    /// The current line passed [`MAX_LINE`]: drop bytes up to its end.
    overlong: bool,
}

impl LineReader {
    pub fn new(path: &Path) -> Self {
        LineReader {
            path: path.to_path_buf(),
            offset: 0,
            partial: Vec::new(),
            overlong: false,
        }
    }

    /// Call `each` with every complete line appended since the last call,
    /// and the log offset just past it. With `flush`, a last line without its
    /// end is given too (the agent has exited). I/O errors mean "nothing new
    /// yet".
    pub fn read(&mut self, flush: bool, each: &mut dyn FnMut(&str, u64)) {
        if let Ok(mut f) = File::open(&self.path) {
            if f.seek(SeekFrom::Start(self.offset)).is_ok() {
                let mut buf = vec![0u8; CHUNK];
                let mut total = 0usize;
                while total < MAX_READ {
                    let n = match f.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    total += n;
                    let start = self.offset;
                    self.offset += n as u64;
                    self.feed(&buf[..n], start, each);
                }
            }
        }
        if flush && (!self.partial.is_empty() || self.overlong) {
            let end = self.offset;
            self.emit(end, each);
        }
    }

    fn feed(&mut self, mut bytes: &[u8], mut at: u64, each: &mut dyn FnMut(&str, u64)) {
        while let Some(i) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.push(&bytes[..i]);
            at += i as u64 + 1;
            self.emit(at, each);
            bytes = &bytes[i + 1..];
        }
        self.push(bytes);
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        let room = MAX_LINE.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.overlong = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn emit(&mut self, end: u64, each: &mut dyn FnMut(&str, u64)) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial);
            each(&line, end);
        }
        self.partial.clear();
        self.overlong = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(r: &mut LineReader, flush: bool) -> Vec<String> {
        let mut v = Vec::new();
        r.read(flush, &mut |l, _| v.push(l.to_string()));
        v
    }

    #[test]
    fn lines_split_across_appends_and_cr_and_flush() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("log");
        let mut f = File::create(&p).unwrap_or_else(|e| panic!("{e}"));
        let mut r = LineReader::new(&p);
        assert!(
            collect(&mut r, false).is_empty(),
            "missing file is nothing yet"
        );
        f.write_all(b"one\r\ntw").unwrap_or_else(|e| panic!("{e}"));
        let mut ends = Vec::new();
        r.read(false, &mut |l, end| ends.push((l.to_string(), end)));
        assert_eq!(ends, [("one".to_string(), 4)]);
        let mut r = LineReader::new(&p);
        assert_eq!(collect(&mut r, false), ["one"]);
        f.write_all(b"o\rthree").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(collect(&mut r, false), ["two"]);
        assert_eq!(collect(&mut r, true), ["three"]);
        assert!(collect(&mut r, true).is_empty());
    }

    #[test]
    fn an_overlong_line_keeps_its_start_and_the_next_line_is_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("log");
        let mut bytes = vec![b'x'; MAX_LINE * 3];
        bytes.extend_from_slice(b"\nnext\n");
        std::fs::write(&p, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let mut r = LineReader::new(&p);
        let got = collect(&mut r, false);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), MAX_LINE);
        assert_eq!(got[1], "next");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("log");
        std::fs::write(&p, b"a\xffb\n").unwrap_or_else(|e| panic!("{e}"));
        let mut r = LineReader::new(&p);
        assert_eq!(collect(&mut r, false), ["a\u{fffd}b"]);
    }
}
