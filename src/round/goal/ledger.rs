//! The ledger: a prompt file the runner prepends advisories to. Each
//! advisory is one markdown block (`### Goal assessment -- <ts>` and three
//! bullet lines); blocks are separated by one blank line, newest first. The
//! file is kept under [`LEDGER_MAX_BYTES`] by dropping the oldest blocks
//! (the newest is always kept), redacted, and written atomically (temp file,
//! fsync, rename).

use super::Advisory;
use std::path::Path;

/// The ledger is cut to this many bytes at a block boundary.
pub const LEDGER_MAX_BYTES: usize = 8192;
const SEP: &str = "\n\n";

fn block(a: &Advisory, ts: &str) -> String {
    format!(
        "### Goal assessment -- {ts}\n- Observation: {}\n- Question: {}\n- Confidence: {}",
        a.observation, a.question, a.confidence
    )
}

/// Prepend `advisory` (redacted) to the ledger at `path`, stamped `ts`, and
/// return what was written. A missing ledger (and its folder) is created;
/// bytes that are not UTF-8 in the old ledger are replaced.
pub fn write_advisory(path: &Path, advisory: &Advisory, ts: &str) -> std::io::Result<Advisory> {
    let clean = Advisory {
        observation: crate::redact::redact(&advisory.observation),
        question: crate::redact::redact(&advisory.question),
        confidence: crate::redact::redact(&advisory.confidence),
    };
    let old = match std::fs::read(path) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let newest = block(&clean, ts);
    let mut kept: Vec<&str> = vec![&newest];
    let mut total = newest.len();
    for b in old.split(SEP).filter(|b| !b.trim().is_empty()) {
        if total + SEP.len() + b.len() > LEDGER_MAX_BYTES {
            break;
        }
        total += SEP.len() + b.len();
        kept.push(b);
    }
    if let Some(dir) = path.parent() {
        crate::state::layout::create_dirs(dir)?;
    }
    crate::state::atomic::write(path, kept.join(SEP).as_bytes())?;
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(o: &str) -> Advisory {
        Advisory {
            observation: o.into(),
            question: "q?".into(),
            confidence: "medium".into(),
        }
    }

    #[test]
    fn newest_first_separated_by_a_blank_line() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("sub/ledger.md");
        write_advisory(&p, &adv("one"), "T1").unwrap_or_else(|e| panic!("{e}"));
        write_advisory(&p, &adv("two"), "T2").unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert_eq!(
            text,
            "### Goal assessment -- T2\n- Observation: two\n- Question: q?\n- Confidence: medium\n\n\
             ### Goal assessment -- T1\n- Observation: one\n- Question: q?\n- Confidence: medium"
        );
    }

    #[test]
    fn the_oldest_blocks_go_first_and_the_newest_always_stays() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("ledger.md");
        for i in 0..100 {
            write_advisory(&p, &adv(&format!("n{i} {}", "x".repeat(200))), "T")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(text.len() <= LEDGER_MAX_BYTES, "{}", text.len());
        assert!(text.contains("n99 "), "newest kept");
        assert!(!text.contains("n0 "), "oldest dropped");
        assert!(text.starts_with("### Goal assessment"));
        // a single block above the cap is still written whole
        write_advisory(&p, &adv(&"y".repeat(10_000)), "T").unwrap_or_else(|e| panic!("{e}"));
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(text.len() > LEDGER_MAX_BYTES && !text.contains("n99 "));
    }

    #[test]
    fn secrets_are_redacted_and_no_temp_file_is_left() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("ledger.md");
        std::fs::write(&p, b"operator note\xff\n\nsecond paragraph")
            .unwrap_or_else(|e| panic!("{e}"));
        let w = write_advisory(&p, &adv("token sk-abcdefghijklmnopqrstuvwxyz0123"), "T")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!w.observation.contains("sk-abc"), "{w:?}");
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        assert!(!text.contains("sk-abc"));
        assert!(
            text.ends_with("operator note\u{fffd}\n\nsecond paragraph"),
            "{text}"
        );
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
