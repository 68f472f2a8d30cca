//! File names inside a project's log_dir (spec §4.1), and the modes they are
//! created with. Every path the tool reads or writes under log_dir comes from
//! here; every file the tool creates there is created 0600 through
//! [`create_private`] or [`open_append`] (or `state::atomic`), every
//! directory 0700 through [`create_dirs`]. Modes are set at creation only:
//! a directory the user made keeps the mode the user gave it.

use chrono::{DateTime, Utc};
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The mode of every file the tool creates in a log_dir.
pub const FILE_MODE: u32 = 0o600;
/// The mode of every directory the tool creates for a log_dir.
pub const DIR_MODE: u32 = 0o700;

/// Create `dir` and any missing parents, each new one 0700. Existing
/// directories are left as they are.
pub fn create_dirs(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Create (or truncate) `path` for writing, 0600 if it is new.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Open `path` for appending (and reading), created 0600 if missing.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
}

/// The log_dir of one project.
#[derive(Debug, Clone)]
pub struct Layout {
    pub log_dir: PathBuf,
}

impl Layout {
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        Self {
            log_dir: log_dir.into(),
        }
    }
    fn join(&self, name: &str) -> PathBuf {
        self.log_dir.join(name)
    }
    pub fn events_file(&self, t: DateTime<Utc>) -> PathBuf {
        self.join(&format!("events-{}.jsonl", crate::timefmt::month(t)))
    }
    pub fn metrics_file(&self, t: DateTime<Utc>) -> PathBuf {
        self.join(&format!("metrics-{}.jsonl", crate::timefmt::month(t)))
    }
    pub fn status(&self) -> PathBuf {
        self.join("status.json")
    }
    pub fn round_context(&self) -> PathBuf {
        self.join("round-context.json")
    }
    pub fn orphan_state(&self) -> PathBuf {
        self.join("orphan-state.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.join("agent-runner.lock")
    }
    pub fn lock_holder(&self) -> PathBuf {
        self.join("agent-runner.lock.holder")
    }
    pub fn serve_lock(&self) -> PathBuf {
        self.join("serve.lock")
    }
    pub fn serve_pid(&self) -> PathBuf {
        self.join("serve.pid")
    }
    pub fn write_probe(&self) -> PathBuf {
        self.join(".write_probe")
    }
    pub fn agent_done(&self) -> PathBuf {
        self.join(".agent-done")
    }
    pub fn rounds_dir(&self) -> PathBuf {
        self.join("rounds")
    }
    /// `rounds/R<N>-<YYYYmmddTHHMMSS>.log`: the agent's own output.
    pub fn agent_log(&self, round: u64, t: DateTime<Utc>) -> PathBuf {
        self.rounds_dir()
            .join(format!("R{round}-{}.log", crate::timefmt::compact(t)))
    }
    /// `round-<N>.log`: the `round` child's own stderr under `serve`.
    pub fn serve_round_log(&self, round: u64) -> PathBuf {
        self.join(&format!("round-{round}.log"))
    }
    pub fn round_current(&self) -> PathBuf {
        self.join("round-current.log")
    }
    pub fn narrative(&self) -> PathBuf {
        self.join("narrative.md")
    }
    /// Month shards `events-YYYY-MM.jsonl`, oldest first.
    pub fn event_files(&self) -> Vec<PathBuf> {
        shards(&self.log_dir, "events-")
    }
    /// Month shards `metrics-YYYY-MM.jsonl`, oldest first.
    pub fn metrics_files(&self) -> Vec<PathBuf> {
        shards(&self.log_dir, "metrics-")
    }
    /// Agent logs `rounds/R<N>-*.log` as (N, path), ascending by N then name.
    pub fn agent_logs(&self) -> Vec<(u64, PathBuf)> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.rounds_dir()) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = parse_agent_log_name(&name) {
                    out.push((n, e.path()));
                }
            }
        }
        out.sort();
        out
    }
}

/// `R12-20261123T224658.log` → 12.
pub fn parse_agent_log_name(name: &str) -> Option<u64> {
    let rest = name.strip_prefix('R')?.strip_suffix(".log")?;
    let (n, _) = rest.split_once('-')?;
    n.parse().ok()
}

fn shards(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(prefix) && n.ends_with(".jsonl") && n.len() == prefix.len() + 13
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}
