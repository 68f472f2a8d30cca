//! Incremental search of the growing round log for the terminal marker:
//! each scan reads only the bytes appended since the last one (in bounded
//! chunks), keeping `len(marker) − 1` bytes of carry so a marker split
//! across two writes is still found.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const CHUNK: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct MarkerScan {
    path: PathBuf,
    marker: Vec<u8>,
    offset: u64,
    carry: Vec<u8>,
    found: bool,
    /// Offset just past the marker that was found.
    found_at: u64,
}

impl MarkerScan {
    pub(crate) fn new(path: &Path, marker: &str) -> Self {
        MarkerScan {
            path: path.to_path_buf(),
            marker: marker.as_bytes().to_vec(),
            offset: 0,
            carry: Vec::new(),
            found: false,
            found_at: 0,
        }
    }

    /// Bytes consumed so far (for tests: proves the scan is incremental).
    #[cfg(test)]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset just past the marker, once it was seen.
    pub(crate) fn found_at(&self) -> Option<u64> {
        self.found.then_some(self.found_at)
    }

    /// Forget the marker seen: look for the next one after it (the agent
    /// started another attempt after its end-of-run record).
    pub(crate) fn rearm(&mut self) {
        if self.found {
            self.found = false;
            self.offset = self.found_at;
            self.carry.clear();
        }
    }

    /// Read what was appended since the last call; true once the marker has
    /// been seen. An empty marker never matches. I/O errors mean "not yet".
    pub(crate) fn scan(&mut self) -> bool {
        if self.found || self.marker.is_empty() {
            return self.found;
        }
        let Ok(mut f) = File::open(&self.path) else {
            return false;
        };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return false;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            let hay_start = self.offset - self.carry.len() as u64;
            self.offset += n as u64;
            let mut hay = std::mem::take(&mut self.carry);
            hay.extend_from_slice(&buf[..n]);
            if let Some(p) = hay
                .windows(self.marker.len())
                .position(|w| w == self.marker.as_slice())
            {
                self.found = true;
                self.found_at = hay_start + (p + self.marker.len()) as u64;
                return true;
            }
            let keep = self.marker.len() - 1;
            self.carry = hay[hay.len().saturating_sub(keep)..].to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn finds_marker_split_across_appends_reading_only_new_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let mut f = File::create(&p).unwrap();
        let mut s = MarkerScan::new(&p, "\"type\":\"result\"");
        f.write_all(b"noise {\"type\":\"res").unwrap();
        assert!(!s.scan());
        assert_eq!(s.offset(), 18);
        f.write_all(b"ult\"} tail").unwrap();
        assert!(s.scan());
        assert_eq!(s.offset(), 28);
    }

    #[test]
    fn rearm_finds_the_next_marker_after_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "ab{END}cd{END}").unwrap();
        let mut s = MarkerScan::new(&p, "{END}");
        assert!(s.scan());
        assert_eq!(s.found_at(), Some(7));
        s.rearm();
        assert_eq!(s.found_at(), None);
        assert!(
            s.scan(),
            "the second marker, read in the same chunk as the first"
        );
        assert_eq!(s.found_at(), Some(14));
        s.rearm();
        assert!(!s.scan());
    }

    #[test]
    fn empty_marker_never_matches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "anything").unwrap();
        assert!(!MarkerScan::new(&p, "").scan());
    }
}
