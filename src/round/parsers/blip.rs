//! The network-blip scan (spec §6.9): the first network-error phrase in a
//! round log. The file reader scans in bounded chunks with an overlap, so a
//! multi-gigabyte log is never held in memory, and gives the same first match
//! as a search over the whole text.

use regex::bytes::Regex;
use std::io::Read;
use std::path::Path;
use std::sync::LazyLock;

/// Upstream `NETWORK_PATTERNS`, case-insensitive.
const PATTERN: &str = r"(?i)\b(connection refused|econnrefused|dns|name or service not known|connect(ion)? timed out|nodename nor servname|network unreachable|50[023] (service unavailable|bad gateway|gateway timeout)|connection reset)\b";

static NET_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(PATTERN).ok());

/// Bytes read per chunk.
const CHUNK: usize = 1024 * 1024;
/// A match starting in the last `OVERLAP` bytes of a chunk is not trusted
/// (its end or the `\b` after it may lie in the next chunk); it is found
/// again in the next window. Longer than any match plus one character.
const OVERLAP: usize = 128;
/// Bytes kept before the overlap so `\b` can see the character before it.
const CTX: usize = 16;

/// The first network-error phrase in `text`, in its original case
/// (e.g. `"Connection reset"`), or `None`.
pub fn network_blip(text: &str) -> Option<String> {
    let re = NET_RE.as_ref()?;
    re.find(text.as_bytes())
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
}

/// [`network_blip`] over a whole log file, read in 1 MiB chunks. Invalid
/// UTF-8 never matches (upstream decodes it to U+FFFD, which does not either).
/// A missing or unreadable log is no blip (`None`), as upstream.
pub fn network_blip_in_file(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    scan(f, CHUNK).ok().flatten()
}

/// Fill `buf` as far as the reader allows; fewer bytes than `buf.len()`
/// means end of input.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn scan(mut r: impl Read, chunk: usize) -> std::io::Result<Option<String>> {
    let Some(re) = NET_RE.as_ref() else {
        return Ok(None);
    };
    let mut window: Vec<u8> = Vec::with_capacity(chunk + OVERLAP + CTX);
    let mut buf = vec![0u8; chunk.max(1)];
    let mut search_from = 0;
    loop {
        let n = read_full(&mut r, &mut buf)?;
        window.extend_from_slice(&buf[..n]);
        let eof = n < buf.len();
        let trusted_before = if eof {
            window.len() + 1
        } else {
            window.len().saturating_sub(OVERLAP)
        };
        if let Some(m) = re.find_at(&window, search_from.min(window.len())) {
            if m.start() < trusted_before {
                return Ok(Some(String::from_utf8_lossy(m.as_bytes()).into_owned()));
            }
        }
        if eof {
            return Ok(None);
        }
        // Keep the untrusted tail plus context; resume where trust ended.
        let keep_from = trusted_before.saturating_sub(CTX);
        window.drain(..keep_from);
        search_from = trusted_before - keep_from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_each_phrase_case_insensitively_in_original_case() {
        for (text, want) in [
            ("curl: (7) Connection refused", "Connection refused"),
            ("Error: connect ECONNREFUSED 127.0.0.1:443", "ECONNREFUSED"),
            ("temporary failure in DNS resolution", "DNS"),
            ("Name or service not known", "Name or service not known"),
            ("connect timed out", "connect timed out"),
            ("Connection timed out after 30s", "Connection timed out"),
            ("nodename nor servname provided", "nodename nor servname"),
            ("Network unreachable", "Network unreachable"),
            ("HTTP 503 Service Unavailable", "503 Service Unavailable"),
            ("502 bad gateway", "502 bad gateway"),
            ("500 gateway timeout", "500 gateway timeout"),
            ("read: Connection reset by peer", "Connection reset"),
        ] {
            assert_eq!(network_blip(text).as_deref(), Some(want), "{text}");
        }
    }

    #[test]
    fn word_boundaries_hold() {
        for text in [
            "dnsmasq started",
            "connection resets counted",
            "501 service unavailable",
            "all good",
            "xdns",
        ] {
            assert_eq!(network_blip(text), None, "{text}");
        }
        // first match wins
        assert_eq!(
            network_blip("dns first then Connection reset").as_deref(),
            Some("dns")
        );
    }

    #[test]
    fn chunked_scan_equals_whole_text_search_at_every_chunk_size() {
        let mut text = "é".repeat(100);
        text.push_str(" connection resets (not this) ünïcode dnsx ");
        text.push_str(&"x".repeat(50));
        text.push_str(" then Connection Reset by peer and later dns");
        let whole = network_blip(&text);
        assert_eq!(whole.as_deref(), Some("Connection Reset"));
        for chunk in 1..200 {
            let got = scan(text.as_bytes(), chunk).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, whole, "chunk {chunk}");
        }
        // a false match at a chunk edge ("reset" + "s" in the next chunk)
        let text = format!("{}connection resets", "a ".repeat(40));
        for chunk in 1..120 {
            assert_eq!(
                scan(text.as_bytes(), chunk).ok().flatten(),
                None,
                "chunk {chunk}"
            );
        }
        // a match at the very end of input
        let text = format!("{}ECONNREFUSED", "z ".repeat(300));
        for chunk in [1, 7, 128, 129, 600, 612, 1000] {
            assert_eq!(
                scan(text.as_bytes(), chunk).ok().flatten().as_deref(),
                Some("ECONNREFUSED"),
                "chunk {chunk}"
            );
        }
    }

    /// 300 random strings whose first match (or none) upstream's
    /// `NETWORK_PATTERNS.search` computed; whole-text and chunked scans agree.
    #[test]
    fn matches_upstream_regex_vectors() {
        let raw = include_str!("../../../tests/data/blip_vectors.json");
        let v: Vec<(String, Option<String>)> =
            serde_json::from_str(raw).unwrap_or_else(|e| panic!("vectors: {e}"));
        assert_eq!(v.len(), 300);
        for (s, want) in v {
            assert_eq!(network_blip(&s), want, "{s:?}");
            for chunk in [1, 3, 17] {
                assert_eq!(
                    scan(s.as_bytes(), chunk).ok().flatten(),
                    want,
                    "{s:?} {chunk}"
                );
            }
        }
    }

    #[test]
    fn file_scan_invalid_utf8_and_large_input() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = dir.path().join("round-1.log");
        let mut bytes = vec![0xffu8; 3 * CHUNK + 17];
        bytes.extend_from_slice(b"\nfetch failed: getaddrinfo ENOTFOUND; Network Unreachable\n");
        std::fs::write(&p, &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            network_blip_in_file(&p).as_deref(),
            Some("Network Unreachable")
        );
        std::fs::write(&p, b"nothing here\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(network_blip_in_file(&p), None);
        assert_eq!(network_blip_in_file(&dir.path().join("missing")), None);
    }
}
