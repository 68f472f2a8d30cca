//! `agent-runner install`: systemd units for serve (and the monitors), enabled
//! and started.

use super::{CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::service::systemd::{self, InstallError, InstallOptions, Scope, Step};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Also install the local monitor unit.
    #[arg(long)]
    pub monitor: bool,
    /// System units in /etc/systemd/system (User= from SUDO_USER) instead of user units.
    #[arg(long)]
    pub system: bool,
    /// Print the units and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Also install a fleet monitor unit for this hosts file.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// Overwrite a unit that belongs to another project.
    #[arg(long)]
    pub force: bool,
    /// Notification flags, carried into the monitor units (--monitor, --fleet).
    #[command(flatten)]
    pub notify: super::monitor::NotifyArgs,
}

pub fn run(g: &GlobalArgs, a: &InstallArgs) -> CmdResult {
    // `--fleet` alone needs no project config.
    let cfg = if a.fleet.is_some() && !g.config.exists() {
        None
    } else {
        Some(crate::config::load(&g.config)?)
    };
    // Checked here, so a unit never starts with a flag it refuses.
    a.notify.sinks()?;
    if a.notify.given() && !a.monitor && a.fleet.is_none() {
        return Err(CliError::usage(
            "--notify-command/--webhook go into a monitor unit: add --monitor or --fleet FILE",
        ));
    }
    let opts = InstallOptions {
        system: a.system,
        monitor: a.monitor,
        fleet: a.fleet.clone(),
        monitor_args: a.notify.to_args(),
    };
    let plan = systemd::plan(cfg.as_ref(), &opts).map_err(error)?;
    if a.dry_run {
        for (name, text) in &plan.units {
            println!("# {}\n{text}", plan.dir.join(name).display());
        }
        return Ok(exit_code::OK);
    }
    systemd::install(&plan, a.force, &mut report).map_err(error)?;
    if plan.scope == Scope::User && systemd::lingering_off() {
        eprintln!("agent-runner: warning: user lingering is off, so these units stop when you log out (enable it: loginctl enable-linger $USER)");
    }
    Ok(exit_code::OK)
}

/// Print one install/uninstall step.
pub(super) fn report(s: Step) {
    match s {
        Step::Wrote(p) => println!("wrote {}", p.display()),
        Step::Enabled(name) => println!("enabled and started {name}"),
        Step::Removed(p) => println!("removed {}", p.display()),
    }
}

pub(super) fn error(e: InstallError) -> CliError {
    if e.is_usage() {
        CliError::usage(e.to_string())
    } else {
        CliError::failure(e.to_string())
    }
}
