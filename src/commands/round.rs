//! `agent-runner round`: one round under every defense. Exit codes: 0 the
//! round ran (whatever the agent did), 78 the config or a permanent startup
//! check is broken, 76 an environmental failure that may heal, 2 a bad
//! `--phase`, 1 anything else.

use super::{config_broken, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::round::{self, RoundError, RoundOutcome};
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RoundArgs {
    /// Run this phase instead of the rotation's.
    #[arg(long)]
    pub phase: Option<String>,
}

pub fn run(g: &GlobalArgs, a: &RoundArgs) -> CmdResult {
    let cfg = crate::config::load(&g.config).map_err(config_broken)?;
    for w in crate::round::config_warnings(&cfg) {
        eprintln!("agent-runner: warning: {w}");
    }
    match round::run_round(&cfg, a.phase.as_deref()) {
        Ok(RoundOutcome::Completed) => Ok(exit_code::OK),
        Ok(RoundOutcome::StartupFailed { failed }) => {
            for c in &failed {
                eprintln!("{}", c.line());
            }
            Ok(if failed.iter().any(|c| c.permanent) {
                exit_code::CONFIG_BROKEN
            } else {
                exit_code::ENVIRONMENTAL
            })
        }
        Err(e) => Err(CliError::new(error_code(&e), e.to_string())),
    }
}

fn error_code(e: &RoundError) -> i32 {
    if e.is_usage() {
        exit_code::USAGE
    } else if e.is_config() {
        exit_code::CONFIG_BROKEN
    } else if e.is_environmental() {
        exit_code::ENVIRONMENTAL
    } else {
        exit_code::FAILURE
    }
}
