//! `agent-runner uninstall`: stop, disable and remove the project's units.

use super::{load_config, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::systemd;
use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Remove system units instead of user units.
    #[arg(long)]
    pub system: bool,
}

pub fn run(g: &GlobalArgs, a: &UninstallArgs) -> CmdResult {
    let cfg = load_config(g)?;
    let removed = systemd::uninstall(&cfg, a.system, &mut super::install::report)
        .map_err(super::install::error)?;
    if removed == 0 {
        println!("no units installed for project '{}'", cfg.project);
    }
    Ok(exit_code::OK)
}
