//! [`Lines`]: a remote channel's bytes split into lines of bounded length.
//! A line longer than the bound is dropped as it arrives — its bytes are
//! never kept — and counted, so what a host sends costs the witness at most
//! one read chunk plus one line, whatever it sends. Pure; no I/O.

/// Capacity the buffer goes back to once a burst has been read.
const KEEP: usize = 8 * 1024;

/// Lines of at most `max` bytes (without the newline) from a byte stream.
#[derive(Debug)]
pub(super) struct Lines {
    /// Whole lines not yet taken, then the unfinished line.
    buf: Vec<u8>,
    /// Where the next line to take starts.
    start: usize,
    /// Where the unfinished line starts.
    tail: usize,
    /// The unfinished line is over-long: its bytes are dropped up to its newline.
    skipping: bool,
    max: usize,
}

impl Lines {
    pub(super) fn new(max: usize) -> Lines {
        Lines {
            buf: Vec::new(),
            start: 0,
            tail: 0,
            skipping: false,
            max,
        }
    }

    /// Take `d`; returns how many lines it finished or started that are
    /// longer than the bound (dropped).
    pub(super) fn push(&mut self, d: &[u8]) -> usize {
        let mut dropped = 0;
        let mut rest = d;
        loop {
            let nl = rest.iter().position(|b| *b == b'\n');
            let (seg, more) = match nl {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            if !self.skipping {
                if self.buf.len() - self.tail + seg.len() > self.max {
                    self.buf.truncate(self.tail);
                    self.skipping = true;
                    dropped += 1;
                } else {
                    self.buf.extend_from_slice(seg);
                }
            }
            let Some(_) = nl else {
                return dropped;
            };
            if self.skipping {
                self.skipping = false;
            } else {
                self.buf.push(b'\n');
                self.tail = self.buf.len();
            }
            if more.is_empty() {
                return dropped;
            }
            rest = more;
        }
    }

    /// The next whole line (without its newline), if any.
    pub(super) fn next_line(&mut self) -> Option<&[u8]> {
        let whole = &self.buf[self.start..self.tail];
        let end = whole.iter().position(|b| *b == b'\n')?;
        let line = &self.buf[self.start..self.start + end];
        self.start += end + 1;
        Some(line)
    }

    /// Forget the lines taken (call after taking them); a buffer a burst
    /// grew goes back to a small one.
    pub(super) fn compact(&mut self) {
        self.buf.drain(..self.start);
        self.tail -= self.start;
        self.start = 0;
        if self.buf.is_empty() && self.buf.capacity() > KEEP {
            self.buf = Vec::with_capacity(KEEP);
        }
    }

    /// Bytes held (whole lines not taken and the unfinished one).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(l: &mut Lines) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(x) = l.next_line() {
            v.push(String::from_utf8_lossy(x).into_owned());
        }
        l.compact();
        v
    }

    #[test]
    fn lines_split_across_chunks_come_out_whole() {
        let mut l = Lines::new(10);
        assert_eq!(l.push(b"ab"), 0);
        assert!(take(&mut l).is_empty());
        assert_eq!(l.push(b"c\nde\n\nf"), 0);
        assert_eq!(take(&mut l), vec!["abc", "de", ""]);
        assert_eq!(l.push(b"g\n"), 0);
        assert_eq!(take(&mut l), vec!["fg"]);
        assert_eq!(l.held(), 0);
    }

    #[test]
    fn an_over_long_line_is_dropped_as_it_arrives_and_the_next_one_kept() {
        let mut l = Lines::new(10);
        assert_eq!(l.push(b"ok\n0123456"), 0);
        assert_eq!(l.push(b"789ABC"), 1);
        assert_eq!(take(&mut l), vec!["ok"]);
        assert_eq!(l.held(), 0, "the dropped line's bytes are not kept");
        assert_eq!(l.push(b"DEF\nnext\n0123456789X\n"), 1);
        assert_eq!(take(&mut l), vec!["next"]);
        // Exactly the bound is fine.
        assert_eq!(l.push(b"0123456789\n"), 0);
        assert_eq!(take(&mut l), vec!["0123456789"]);
    }

    #[test]
    fn a_hundred_mib_without_a_newline_never_holds_more_than_the_bound() {
        let mut l = Lines::new(64 * 1024);
        let chunk = vec![b'x'; 32 * 1024];
        let mut dropped = 0;
        for _ in 0..(100 * 32) {
            dropped += l.push(&chunk);
            assert!(l.held() <= 64 * 1024);
        }
        assert_eq!(dropped, 1, "one line, dropped once");
        assert_eq!(l.push(b"\nafter\n"), 0);
        assert_eq!(take(&mut l), vec!["after"]);
    }
}
