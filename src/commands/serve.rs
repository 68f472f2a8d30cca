//! `agent-runner serve`: the loop. Every requested stop exits 0; a broken
//! config 78; a crash loop or no progress 75, a persistent memory loop 70
//! (systemd does not restart those); a memory loop 71 (systemd restarts).

use super::{config_broken, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::serve::{self, ServeOptions, StopCause};
use crate::sys::signals::Signals;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Run one round, then exit.
    #[arg(long)]
    pub once: bool,
    /// Stop after N rounds (overrides runtime.max_rounds).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rounds: Option<u64>,
    /// Run rounds regardless of [schedule] pause/run windows (testing / catch-up).
    #[arg(long)]
    pub ignore_schedule: bool,
}

pub fn run(g: &GlobalArgs, a: &ServeArgs) -> CmdResult {
    let cfg = crate::config::load(&g.config).map_err(config_broken)?;
    for w in crate::round::config_warnings(&cfg) {
        eprintln!("agent-runner: warning: {w}");
    }
    let signals = Signals::install()
        .map_err(|e| CliError::failure(format!("cannot install signal handlers: {e}")))?;
    let opts = ServeOptions {
        max_rounds: a.max_rounds.or(cfg.runtime.max_rounds),
        once: a.once,
        ignore_schedule: a.ignore_schedule,
    };
    let notice = |m: &str| eprintln!("agent-runner: {m}");
    let stopped = serve::serve_with(&cfg, &opts, &signals, &notice)
        .map_err(|e| CliError::failure(e.to_string()))?;
    if let Some(d) = &stopped.detail {
        eprintln!("agent-runner: {d}");
    }
    Ok(stop_code(stopped.cause))
}

/// The exit code of each way the loop ends (the systemd contract).
fn stop_code(cause: StopCause) -> i32 {
    match cause {
        StopCause::ConfigBroken => exit_code::CONFIG_BROKEN,
        StopCause::CrashLoop | StopCause::StalledNoProgress => exit_code::CRASH_LOOP,
        StopCause::MemLoop => exit_code::MEM_LOOP,
        StopCause::MemLoopPersistent => exit_code::MEM_LOOP_PERSISTENT,
        StopCause::AgentDone
        | StopCause::StopFile
        | StopCause::MaxRounds
        | StopCause::RateLimitStop
        | StopCause::Signal
        | StopCause::Once => exit_code::OK,
    }
}
