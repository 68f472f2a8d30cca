//! serve's own round logs in `log_dir`: `round-<N>.log`, the
//! `round-current.log` link, the boot-time retention prune with 0.3's bulk
//! guard, and the redacted log tail the give-up events carry.

use crate::fields;
use crate::state::{EventLog, Kind, Layout};
use std::path::PathBuf;

pub(super) fn crash_reason(layout: &Layout, round_num: u64) -> String {
    let agent_log = layout
        .agent_logs()
        .into_iter()
        .rev()
        .find(|(n, _)| *n == round_num)
        .map(|(_, p)| p);
    let src = agent_log.unwrap_or_else(|| layout.serve_round_log(round_num));
    let text = std::fs::read(&src)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let tail: String = {
        let chars: Vec<char> = text.chars().collect();
        chars[chars.len().saturating_sub(2000)..].iter().collect()
    };
    crate::redact::redact(&tail)
}

pub(super) fn repoint_current(layout: &Layout, round_num: u64) {
    let tmp = layout.log_dir.join("round-current.log.tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(format!("round-{round_num}.log"), &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, layout.round_current());
    }
}

/// Keep the newest `keep` `round-<N>.log` files (0 = keep all). A prune that
/// would delete more than it keeps is deferred (0.3's bulk guard).
pub(super) fn prune_round_logs(layout: &Layout, keep: u64, log: &EventLog) {
    if keep == 0 {
        return;
    }
    let Ok(rd) = std::fs::read_dir(&layout.log_dir) else {
        return;
    };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = rd
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("round-") && n.ends_with(".log") && n != "round-current.log"
        })
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
            fields! {"directory" => layout.log_dir.to_string_lossy(), "existing" => logs.len(), "keep" => keep, "would_delete" => would_delete,
            "hint" => "more files would be deleted than kept; delete old round-*.log files by hand or raise runtime.round_log_retention"},
        );
        return;
    }
    for (_, p) in logs.into_iter().take(would_delete as usize) {
        let _ = std::fs::remove_file(p);
    }
}
