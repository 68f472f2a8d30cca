//! `agent-runner probe [--stream]`: the remote end of the witness (frames on
//! stdout; docs/fleet.md). A refusal is sent to the witness as an `error`
//! frame and exits 2 (bad option) or 1 (no config).

use super::{CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::fleet::probe::{self, ProbeError, ProbeOptions};
use crate::snapshot::RECENT_EVENTS;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Keep streaming (without it: hello, backlog, one snapshot, exit).
    #[arg(long)]
    pub stream: bool,
    /// Resume strictly after this cursor ('events-YYYY-MM.jsonl:OFFSET') or
    /// replay from an ISO-8601 time.
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// Seconds between snapshot frames.
    #[arg(long, default_value_t = 5.0, value_name = "S")]
    pub interval: f64,
    /// Events replayed on a first connect (no --since); 0 = start at the end.
    #[arg(long, default_value_t = RECENT_EVENTS, value_name = "N")]
    pub backlog: usize,
    /// Watch this log_dir with default thresholds when there is no config.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

pub fn run(g: &GlobalArgs, a: &ProbeArgs) -> CmdResult {
    let o = ProbeOptions {
        config: g.config.clone(),
        stream: a.stream,
        since: a.since.clone(),
        interval: a.interval,
        backlog: a.backlog,
        log_dir: a.log_dir.clone(),
    };
    match probe::run(&o) {
        Ok(()) => Ok(exit_code::OK),
        Err(ProbeError::Usage(_)) => Ok(exit_code::USAGE),
        Err(ProbeError::Config(_)) => Ok(exit_code::FAILURE),
        Err(e @ ProbeError::Read { .. }) => Err(CliError::failure(e.to_string())),
    }
}
