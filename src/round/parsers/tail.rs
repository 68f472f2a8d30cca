//! Bounded readers of a round log for the parsers: the last JSON-looking
//! lines (read backwards from the end, never the whole file) and the first
//! few lines. Decoding is UTF-8 with replacement; lines end at `\n`, `\r` or
//! `\r\n`, as Python's text mode splits them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Bytes read per step backwards from the end.
const BLOCK: usize = 64 * 1024;
/// Never scan more than this much of a log's end looking for JSON lines
/// (a log of pure chatter, or one enormous line, stops here).
const MAX_TAIL_SCAN: u64 = 64 * 1024 * 1024;
/// Never read more than this much of a log's head.
const MAX_HEAD_READ: u64 = 1024 * 1024;

/// Lines of `text` split the way Python's text mode does (`\n`, `\r`, `\r\n`).
pub(crate) fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\n', '\r']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                (!s.is_empty()).then_some(s)
            }
        }
    })
}

/// Python's `str.isspace()`: Unicode whitespace plus U+001C..U+001F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python `str.strip()`.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// First non-whitespace character is `{` or `[` (upstream `json_tail`).
pub(crate) fn is_json_looking(line: &str) -> bool {
    matches!(line.chars().find(|&c| !is_py_space(c)), Some('{' | '['))
}

fn is_sep(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// The last `max_lines` JSON-looking lines of the log at `log`, joined with
/// `\n`, in file order. Reads backwards from the end in blocks and stops as
/// soon as enough lines are found (or after 64 MiB), so a huge log is never
/// read whole. A missing or unreadable file gives `""`.
pub fn tail_for_parsers(log: &Path, max_lines: usize) -> String {
    tail_json_lines(log, max_lines, BLOCK, MAX_TAIL_SCAN).unwrap_or_default()
}

fn tail_json_lines(
    log: &Path,
    max_lines: usize,
    block: usize,
    max_scan: u64,
) -> std::io::Result<String> {
    if max_lines == 0 {
        return Ok(String::new());
    }
    let mut f = File::open(log)?;
    let len = f.metadata()?.len();
    let mut pos = len;
    let mut scanned: u64 = 0;
    // Bytes after the earliest separator seen so far: a line whose start is
    // still before `pos`.
    let mut carry: Vec<u8> = Vec::new();
    let mut found_rev: Vec<String> = Vec::new();
    let keep = |seg: &[u8], found_rev: &mut Vec<String>| {
        let line = String::from_utf8_lossy(seg);
        if is_json_looking(&line) {
            found_rev.push(line.into_owned());
        }
        found_rev.len() >= max_lines
    };
    while pos > 0 {
        let n = u64::try_from(block).unwrap_or(u64::MAX).min(pos);
        pos -= n;
        let mut buf = vec![0u8; usize::try_from(n).unwrap_or(block)];
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf)?;
        buf.extend_from_slice(&carry);
        scanned += n;
        // Every segment after the first separator is a complete line.
        let Some(first_sep) = buf.iter().position(|&b| is_sep(b)) else {
            carry = buf;
            if scanned >= max_scan {
                carry.clear();
                break;
            }
            continue;
        };
        let mut done = false;
        for seg in buf[first_sep + 1..].rsplit(|&b| is_sep(b)) {
            if keep(seg, &mut found_rev) {
                done = true;
                break;
            }
        }
        carry = buf[..first_sep].to_vec();
        if done {
            carry.clear();
            break;
        }
        if scanned >= max_scan {
            carry.clear();
            break;
        }
    }
    if pos == 0 && !carry.is_empty() {
        keep(&carry, &mut found_rev);
    }
    found_rev.reverse();
    Ok(found_rev.join("\n"))
}

/// The first `max_lines` lines of the log at `log` (at most 1 MiB read),
/// joined with `\n`. Missing or unreadable file: `""`.
pub fn head_for_parsers(log: &Path, max_lines: usize) -> String {
    let Ok(f) = File::open(log) else {
        return String::new();
    };
    let mut buf = Vec::new();
    if f.take(MAX_HEAD_READ).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    universal_lines(&text)
        .take(max_lines)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap_or_else(|e| panic!("tmp: {e}"));
        f.write_all(bytes).unwrap_or_else(|e| panic!("write: {e}"));
        f
    }

    /// Python's `json_tail` over the whole text: the reference the backwards
    /// reader must agree with.
    fn reference(text: &str, max: usize) -> String {
        let v: Vec<&str> = universal_lines(text)
            .filter(|l| is_json_looking(l))
            .collect();
        v[v.len().saturating_sub(max)..].join("\n")
    }

    #[test]
    fn agrees_with_whole_file_reference_for_every_block_size() {
        let mut text = String::new();
        for i in 0..60 {
            text.push_str(&format!(
                "chatter {i} é\r\n  {{\"n\": {i}, \"s\": \"ü\"}}\n"
            ));
            if i % 7 == 0 {
                text.push_str("[1, 2]\rprogress 10%\r{\"cr\": true}\n\n");
            }
        }
        text.push_str("{\"last\": \"no newline\"}");
        let f = write(text.as_bytes());
        for block in [1, 2, 3, 5, 8, 13, 64, 4096] {
            for max in [1, 2, 10, 200] {
                let got = tail_json_lines(f.path(), max, block, u64::MAX)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(got, reference(&text, max), "block {block} max {max}");
            }
        }
    }

    #[test]
    fn stops_reading_once_enough_lines_are_found() {
        // 4 MiB of garbage (invalid UTF-8, no newlines) before the JSON lines:
        // with a 64 KiB scan cap the reader must never get there...
        let mut bytes = vec![0xffu8; 4 * 1024 * 1024];
        bytes.extend_from_slice(b"\n{\"a\":1}\n{\"b\":2}\n");
        let f = write(&bytes);
        let got = tail_json_lines(f.path(), 2, 1024, 64 * 1024).unwrap_or_default();
        assert_eq!(got, "{\"a\":1}\n{\"b\":2}");
        // ...and when it wants more lines than exist, the cap bounds the scan
        // (the garbage "line" is never assembled past 64 KiB).
        let got = tail_json_lines(f.path(), 3, 1024, 64 * 1024).unwrap_or_default();
        assert_eq!(got, "{\"a\":1}\n{\"b\":2}");
    }

    #[test]
    fn missing_file_is_empty() {
        assert_eq!(
            tail_for_parsers(Path::new("/nonexistent/round-1.log"), 200),
            ""
        );
        assert_eq!(
            head_for_parsers(Path::new("/nonexistent/round-1.log"), 20),
            ""
        );
    }

    #[test]
    fn head_reads_first_lines() {
        let f = write(b"node warning\r\n{\"type\":\"session\"}\rthird\nfourth\n");
        assert_eq!(
            head_for_parsers(f.path(), 3),
            "node warning\n{\"type\":\"session\"}\nthird"
        );
    }

    #[test]
    fn json_looking_like_python_lstrip() {
        assert!(is_json_looking(" \t\u{1c}{\"a\":1}"));
        assert!(is_json_looking("[1]"));
        assert!(!is_json_looking(""));
        assert!(!is_json_looking("x {}"));
    }

    #[test]
    fn universal_line_splitting() {
        let v: Vec<&str> = universal_lines("a\r\nb\rc\n\nd").collect();
        assert_eq!(v, ["a", "b", "c", "", "d"]);
        assert_eq!(universal_lines("x\n").collect::<Vec<_>>(), ["x"]);
    }
}
