//! Round logs from serve's side: its own `round-<N>.log` in `log_dir`, the
//! `round-current.log` link, the boot-time retention prune of those and of
//! the agent's `rounds/R<N>-*.log` with 0.3's bulk guard, and the redacted
//! log tail the give-up events carry.

use crate::fields;
use crate::state::{EventLog, Kind, Layout};
use std::path::{Path, PathBuf};

/// How much of a round log a give-up reason carries, in characters.
const REASON_CHARS: usize = 2000;

pub(super) fn crash_reason(layout: &Layout, round_num: u64) -> String {
    let agent_log = layout
        .agent_logs()
        .into_iter()
        .rev()
        .find(|(n, _)| *n == round_num)
        .map(|(_, p)| p);
    let src = agent_log.unwrap_or_else(|| layout.serve_round_log(round_num));
    crate::redact::redact(&tail_chars(&src, REASON_CHARS))
}

/// The last `n` characters of the file at `path` (invalid UTF-8 replaced),
/// read from its end: at most `4 n` bytes, whatever the file's size. A
/// character cut by the start of that window is dropped. Unreadable → "".
fn tail_chars(path: &Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let window = n as u64 * 4;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(window);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.take(window).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    // A UTF-8 character is at most 4 bytes: skip up to 3 continuation bytes.
    let cut = if start > 0 {
        buf.iter()
            .take(3)
            .take_while(|b| **b & 0xC0 == 0x80)
            .count()
    } else {
        0
    };
    let text = String::from_utf8_lossy(&buf[cut..]);
    let skip = text.chars().count().saturating_sub(n);
    text.chars().skip(skip).collect()
}

pub(super) fn repoint_current(layout: &Layout, round_num: u64) {
    let tmp = layout.log_dir.join("round-current.log.tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(format!("round-{round_num}.log"), &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, layout.round_current());
    }
}

/// Keep the newest `keep` round logs of each kind (0 = keep all): serve's
/// `round-<N>.log` in the log_dir and the agent's `rounds/R<N>-*.log`
/// (0.3 delta §3.13). A prune that would delete more files than it keeps
/// is deferred, per folder (0.3's bulk guard).
pub(super) fn prune_round_logs(layout: &Layout, keep: u64, log: &EventLog) {
    if keep == 0 {
        return;
    }
    prune_dir(&layout.log_dir, keep, log, "round-*.log", |n| {
        n.starts_with("round-") && n.ends_with(".log") && n != "round-current.log"
    });
    prune_dir(&layout.rounds_dir(), keep, log, "rounds/R*.log", |n| {
        n.starts_with('R') && n.ends_with(".log")
    });
}

/// Keep the newest `keep` files (by mtime) of `dir` whose name passes `is_log`.
fn prune_dir(dir: &Path, keep: u64, log: &EventLog, what: &str, is_log: impl Fn(&str) -> bool) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| is_log(&e.file_name().to_string_lossy()))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if logs.len() as u64 <= keep {
        return;
    }
    logs.sort();
    let would_delete = logs.len() as u64 - keep;
    if would_delete > keep {
        log.emit_or_warn(
            Kind::RoundLogsPruneDeferred,
            fields! {"directory" => dir.to_string_lossy(), "existing" => logs.len(), "keep" => keep, "would_delete" => would_delete,
            "hint" => format!("more files would be deleted than kept; delete old {what} files by hand or raise runtime.round_log_retention")},
        );
        return;
    }
    for (_, p) in logs.into_iter().take(would_delete as usize) {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round log with a 64 GiB hole before its last words: the tail is read
    /// from the end, so this costs a few KiB, not the file.
    #[test]
    fn crash_reason_reads_the_tail_of_a_huge_log_from_its_end() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let layout = Layout::new(d.path());
        std::fs::create_dir_all(layout.rounds_dir()).unwrap_or_else(|e| panic!("{e}"));
        let p = layout.rounds_dir().join("R3-20261120T120000.log");
        let f = std::fs::File::create(&p).unwrap_or_else(|e| panic!("{e}"));
        f.set_len(64 << 30).unwrap_or_else(|e| panic!("{e}"));
        drop(f);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("{e}"));
        let end = format!(
            "{}\nError: out of cheese, key sk-abcdefghijklmnopqrstu\n",
            "é".repeat(3000)
        );
        use std::io::Write;
        f.write_all(end.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let t = std::time::Instant::now();
        let r = crash_reason(&layout, 3);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let last: String = end.chars().skip(end.chars().count() - 2000).collect();
        assert_eq!(
            r,
            crate::redact::redact(&last),
            "the last 2000 characters, redacted"
        );
        assert!(
            r.ends_with("Error: out of cheese, key <redacted>\n"),
            "{r:?}"
        );
        assert!(r.starts_with('é'), "cut on a character boundary: {r:?}");
    }
}
