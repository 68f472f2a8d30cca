//! `agent-runner deploy --host HOST`: copy the matching agent-runner binary
//! to a host over SSH, verified, run there and swapped in atomically, the
//! replaced one kept as `.prev`; `--rollback` swaps `.prev` back.

use super::{CliError, CmdResult, GlobalArgs};
use crate::deploy::{self, DEFAULT_REMOTE_PATH};
use crate::exit_code;
use crate::ssh::names::{self, NameKind};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// SSH alias of the host to deploy to (as you would give it to ssh).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// The host, given without --host (`agent-runner deploy pi`).
    #[arg(
        value_name = "HOST",
        conflicts_with = "host",
        required_unless_present = "host"
    )]
    pub host_arg: Option<String>,
    /// Binary to copy (default: target/<triple>/release/agent-runner next to
    /// this one if it is a static build not older than this one, else this
    /// one if its architecture matches the host's, else that cross build).
    #[arg(long, value_name = "PATH", conflicts_with = "rollback")]
    pub binary: Option<PathBuf>,
    /// Put the previous binary (`<remote path>.prev`, kept by the last
    /// deploy) back, keeping the replaced one as `.prev`.
    #[arg(long)]
    pub rollback: bool,
    /// Where to install it on the host.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_REMOTE_PATH)]
    pub remote_path: String,
    /// ssh_config file to read instead of ~/.ssh/config (env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

pub fn run(g: &GlobalArgs, a: &DeployArgs) -> CmdResult {
    let Some(alias) = a.host.as_deref().or(a.host_arg.as_deref()) else {
        return Err(CliError::usage(
            "deploy needs a host: 'agent-runner deploy --host HOST'",
        ));
    };
    let origin = if a.host.is_some() {
        "--host"
    } else {
        "the HOST argument"
    };
    names::check(NameKind::Alias, alias, origin).map_err(|e| CliError::usage(e.to_string()))?;
    if a.rollback {
        return rollback(g, a, alias);
    }
    let d = deploy::run(
        alias,
        a.ssh_config.as_deref(),
        a.binary.as_deref(),
        &a.remote_path,
    )
    .map_err(|e| CliError::failure(e.to_string()))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "host": alias,
                "arch": d.arch,
                "local": d.local.to_string_lossy(),
                "remote_path": d.remote_path,
                "sha256": d.sha256,
                "version": d.version,
                "previous": d.previous,
            })
        );
    } else {
        println!(
            "deployed '{}' to '{}:{}' ({}, sha256 {})",
            d.local.display(),
            alias,
            d.remote_path,
            d.arch,
            d.sha256
        );
        println!("{}", d.version);
        if let Some(p) = &d.previous {
            println!(
                "the replaced binary is kept as '{p}' ('agent-runner deploy --rollback --host {alias}' puts it back)"
            );
        }
    }
    Ok(exit_code::OK)
}

fn rollback(g: &GlobalArgs, a: &DeployArgs, alias: &str) -> CmdResult {
    let r = deploy::rollback(alias, a.ssh_config.as_deref(), &a.remote_path)
        .map_err(|e| CliError::failure(e.to_string()))?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "host": alias,
                "rollback": true,
                "remote_path": r.remote_path,
                "version": r.version,
                "previous": r.previous,
            })
        );
    } else {
        println!(
            "rolled back '{}:{}' to the previous binary: {}",
            alias, r.remote_path, r.version
        );
        if let Some(p) = &r.previous {
            println!("the replaced binary is kept as '{p}' (roll back again to return to it)");
        }
    }
    Ok(exit_code::OK)
}
