//! Spawning the agent and bounding it: own process group, stdin from
//! `/dev/null` or a prompt pipe written off-thread, output to the round log,
//! exit awaited (not polled), the wall-clock budget enforced with
//! TERM → grace → KILL to the whole group, descendants that escaped with
//! `setsid` found and killed, grace-after-result, progress heartbeats.
//!
//! It knows nothing of events or config files: the caller maps observations
//! and the outcome to events.

use regex::Regex;
use std::path::PathBuf;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub argv: Vec<String>,
    /// Variables set on top of the inherited environment, in order.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// `None` → stdin is `/dev/null`; `Some(bytes)` → piped from a thread.
    pub stdin: Option<Vec<u8>>,
    /// stdout + stderr go here (truncated).
    pub log_path: PathBuf,
}

/// How long it may run and how it is stopped.
#[derive(Debug, Clone)]
pub struct WaitPolicy {
    /// Wall-clock hard wall.
    pub budget: Duration,
    /// Grace between SIGTERM and SIGKILL (5 s upstream).
    pub term_grace: Duration,
    /// Substring in the log that marks the result (empty: no scan).
    pub terminal_marker: String,
    /// Kill this long after the marker was seen if no live worker remains (None: off).
    pub grace_after_result: Option<Duration>,
    /// Descendants whose cmdline matches one of these are not live workers.
    pub grace_ignore: Vec<Regex>,
    /// Heartbeat period (None: off).
    pub progress_interval: Option<Duration>,
}

/// A process named in an event: basename of argv[0] (or comm) and pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    pub name: String,
    pub pid: i32,
    /// The ignore pattern it matched, if any.
    pub matched: Option<String>,
}

/// Something that happened while the agent ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    Progress {
        log_size_kb: u64,
        last_write_age_s: u64,
        wall_age_s: u64,
    },
    GraceExtended {
        grace_s: u64,
        live: Vec<ChildInfo>,
        ignored: Vec<ChildInfo>,
    },
}

/// How the agent ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Exit code, or `-signum` if killed by a signal (Python convention).
    pub exit_code: i32,
    pub duration: Duration,
    /// Killed by the budget or the grace timer.
    pub timed_out: bool,
    pub grace_killed: bool,
    /// Ended because the round process was asked to stop.
    pub cancelled: bool,
    /// Descendants outside the group (escaped via setsid) that we killed.
    pub escaped_killed: Vec<ChildInfo>,
}
