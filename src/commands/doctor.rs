//! `agent-runner doctor`: the local pre-flight (`preflight`: the startup
//! battery, window overlaps, the phase plan, stop settings, the memory
//! report, the resolved config); and `doctor --host HOST`: resolve, connect,
//! host key, auth and the remote agent-runner, one line per step. Both exit
//! 1 when a check or step failed.

use super::{CliError, CmdResult, GlobalArgs};
use crate::exit_code;
use crate::ssh::names::{self, NameKind};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// How many of the next rounds the phase plan shows.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub rounds: u64,
    /// Check one SSH host: resolve, connect, host key, auth, remote agent-runner.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// ssh_config file to read instead of ~/.ssh/config (env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long, value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

pub fn run(g: &GlobalArgs, a: &DoctorArgs) -> CmdResult {
    let Some(host) = &a.host else {
        let cfg = super::load_config(g)?;
        let report = crate::preflight::report(&cfg, a.rounds, chrono::Utc::now().timestamp());
        if g.json {
            println!("{}", crate::state::pyjson::to_pretty(&report.to_json()));
        } else {
            print!("{}", report.render_text());
        }
        return Ok(if report.ok() {
            exit_code::OK
        } else {
            exit_code::FAILURE
        });
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
