//! `agent-runner uninstall`: stop, disable and remove the project's units,
//! and with `--fleet FILE` the fleet monitor unit `install --fleet` wrote.

use super::{CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::systemd;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct UninstallArgs {
    /// Remove system units instead of user units.
    #[arg(long)]
    pub system: bool,
    /// Also remove the fleet monitor unit installed for this hosts file.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
}

pub fn run(g: &GlobalArgs, a: &UninstallArgs) -> CmdResult {
    // `--fleet` alone needs no project config, as for `install`.
    let cfg = if a.fleet.is_some() && !g.config.exists() {
        None
    } else {
        Some(crate::config::load(&g.config)?)
    };
    let removed = systemd::uninstall(
        cfg.as_ref(),
        a.fleet.as_deref(),
        a.system,
        &mut super::install::report,
    )
    .map_err(super::install::error)?;
    if removed == 0 {
        match &cfg {
            Some(c) => println!("no units installed for project '{}'", c.project),
            None => println!("no fleet monitor unit installed"),
        }
    }
    Ok(exit_code::OK)
}
