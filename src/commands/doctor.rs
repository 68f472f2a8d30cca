//! `agent-runner doctor --host HOST`: resolve, connect, host key, auth and
//! the remote agent-runner, one line per step; 1 when a step failed.

use super::{CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::ssh::names::{self, NameKind};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// Check one SSH host: resolve, connect, host key, auth, remote agent-runner.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// ssh_config file to read instead of ~/.ssh/config (env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

pub fn run(g: &GlobalArgs, a: &DoctorArgs) -> CmdResult {
    let Some(host) = &a.host else {
        return Err(CliError::usage(
            "'doctor (without --host)' is not available yet in this version (see the README for what is)",
        ));
    };
    names::check(NameKind::Alias, host, "--host").map_err(|e| CliError::usage(e.to_string()))?;
    let report = crate::ssh::doctor::check(host, a.ssh_config.as_deref())
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    if g.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.render_text());
    }
    Ok(if report.ok() {
        exit_code::OK
    } else {
        exit_code::FAILURE
    })
}
