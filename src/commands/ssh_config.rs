//! `agent-runner ssh-config HOST`: print what we resolved, spelled like
//! `ssh -G`.

use super::{CliError, CmdResult};
use crate::exit_code;
use crate::ssh::config::{self, ResolveOptions, SshConfigError};
use crate::ssh::names::{self, NameKind};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct SshConfigArgs {
    /// Host alias to resolve (as you would give it to ssh).
    pub host: String,
    /// Read only this ssh config file, like `ssh -F` (default: ~/.ssh/config
    /// then /etc/ssh/ssh_config; env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
}

pub fn run(a: &SshConfigArgs) -> CmdResult {
    let usage = |e: SshConfigError| CliError::usage(e.to_string());
    names::check(NameKind::Alias, &a.host, "the HOST argument")
        .map_err(|e| CliError::usage(e.to_string()))?;
    let ro = ResolveOptions::from_env(a.ssh_config.clone()).map_err(usage)?;
    let lines = config::resolve_full(&a.host, &ro)
        .and_then(|r| r.dump())
        .map_err(usage)?;
    let mut out = String::new();
    for (k, v) in lines {
        out.push_str(k);
        out.push(' ');
        out.push_str(&v);
        out.push('\n');
    }
    let mut so = std::io::stdout().lock();
    match so.write_all(out.as_bytes()).and_then(|_| so.flush()) {
        Ok(()) => Ok(exit_code::OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit_code::OK),
        Err(e) => Err(CliError::failure(format!("cannot write to stdout: {e}"))),
    }
}
