//! `agent-runner round`: one round under every defense. Exit codes: 0 the
//! agent did its round (a timeout or a kill after its result included, as
//! the Python tool), 1 the agent failed (non-zero exit, or a failure its
//! output names) or the round could not run, 77 the agent waits for a human,
//! 78 the config or a permanent startup check is broken, 76 an environmental
//! failure that may heal (lock contention among them, as in 0.3), 2 a bad
//! `--phase`.

use super::{config_broken, CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::round::recognize::AgentVerdict;
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
        Ok(RoundOutcome::Completed { verdict }) => Ok(match verdict {
            AgentVerdict::Ok => exit_code::OK,
            AgentVerdict::Failed => exit_code::AGENT_FAILED,
            AgentVerdict::NeedsHuman => exit_code::AGENT_NEEDS_HUMAN,
        }),
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
    if matches!(
        e,
        RoundError::Lock(crate::state::lock::LockError::Held { .. })
    ) {
        exit_code::ENVIRONMENTAL
    } else if e.is_usage() {
        exit_code::USAGE
    } else if e.is_config() {
        exit_code::CONFIG_BROKEN
    } else if e.is_environmental() {
        exit_code::ENVIRONMENTAL
    } else {
        exit_code::FAILURE
    }
}
