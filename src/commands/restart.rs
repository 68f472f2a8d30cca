//! `agent-runner restart [--force]`: stop (or kill), then start.

use super::{load_config, CliError, CmdResult, GlobalArgs};
use crate::service;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RestartArgs {
    /// Kill instead of a graceful stop.
    #[arg(long)]
    pub force: bool,
}

pub fn run(g: &GlobalArgs, a: &RestartArgs) -> CmdResult {
    let cfg = load_config(g)?;
    if a.force {
        service::kill_all(&cfg).map_err(|e| CliError::failure(e.to_string()))?;
    } else {
        super::stop::stop(&cfg, g)?;
    }
    super::start::start(&cfg, g)
}
