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
}

impl MarkerScan {
    pub(crate) fn new(path: &Path, marker: &str) -> Self {
        MarkerScan {
            path: path.to_path_buf(),
            marker: marker.as_bytes().to_vec(),
            offset: 0,
            carry: Vec::new(),
            found: false,
        }
    }

    /// Bytes consumed so far (for tests: proves the scan is incremental).
    #[cfg(test)]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
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
            self.offset += n as u64;
            let mut hay = std::mem::take(&mut self.carry);
            hay.extend_from_slice(&buf[..n]);
            if hay
                .windows(self.marker.len())
                .any(|w| w == self.marker.as_slice())
            {
                self.found = true;
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
    fn empty_marker_never_matches() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "anything").unwrap();
        assert!(!MarkerScan::new(&p, "").scan());
    }
}
