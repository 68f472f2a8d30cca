//! `agent-runner deploy --host HOST`: copy the agent-runner binary that
//! matches the remote architecture to a host over native SSH, and install it
//! so that a bad binary can never replace a working one:
//!
//! upload to a temp file in the target directory, fsync it, verify its
//! SHA-256 there, run it there (`<temp> --version` must print this build's
//! version), keep the current binary as `<target>.prev`, and only then swap
//! the new one in with `mv -T` (a directory at the target path is refused).
//! `deploy --rollback` swaps `.prev` back.
//!
//! Choosing the local binary is [`pick`]; the steps on the host are
//! [`remote`]. Nothing here prints or picks an exit code.

mod pick;
mod remote;

use std::path::{Path, PathBuf};

use crate::ssh::config::{self, ResolveOptions};
use crate::ssh::session;
use crate::ssh::{ResolvedHost, Session, SshError};

pub use pick::{
    cross_candidates, elf_info, elf_machine, pick_binary, target_for_arch, unbuilt_arch, ElfInfo,
    Target, Unbuilt,
};
pub use remote::{expand_home, parse_sha256sum, prev_path};

/// Default install path on the remote (`~` is the remote `$HOME`).
pub const DEFAULT_REMOTE_PATH: &str = "~/.local/bin/agent-runner";
/// What `--version` of this build prints; the uploaded binary must print it too.
pub const VERSION_LINE: &str = concat!("agent-runner ", env!("CARGO_PKG_VERSION"));

/// What can go wrong; each message is one line saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    Ssh(#[from] SshError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot resolve '{alias}': {reason}")]
    Resolve { alias: String, reason: String },
    #[error("'{host}' reports the architecture '{arch}', which agent-runner has no build for (supported: x86_64, aarch64, armv7l)")]
    UnknownArch { host: String, arch: String },
    #[error("'{host}' reports the architecture '{arch}', which is not supported: {why}; a build for '{triple}' would run there: make one {how}, and pass it with --binary PATH")]
    UnsupportedArch {
        host: String,
        arch: String,
        why: &'static str,
        triple: &'static str,
        how: &'static str,
    },
    #[error("no agent-runner binary for '{arch}' ('{host}'); build one with 'cargo build --release --target {triple}' or pass --binary PATH")]
    NoBinary {
        host: String,
        arch: String,
        triple: &'static str,
    },
    #[error("'{path}' is not an agent-runner binary for '{arch}' ({reason}); build one with 'cargo build --release --target {triple}'")]
    WrongBinary {
        path: PathBuf,
        arch: String,
        triple: &'static str,
        reason: String,
    },
    #[error("cannot read '{path}': {source}")]
    ReadLocal {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{host}': cannot write to '{dir}': {detail}; pick a writable place with --remote-path"
    )]
    NotWritable {
        host: String,
        dir: String,
        detail: String,
    },
    #[error("'{host}': the upload to '{path}' failed: {detail}; retry")]
    Upload {
        host: String,
        path: String,
        detail: String,
    },
    #[error("'{host}': checksum mismatch for '{path}': sent sha256 '{sent}', the host computed '{got}'; nothing was installed, retry the deploy")]
    Checksum {
        host: String,
        path: String,
        sent: String,
        got: String,
    },
    #[error("'{host}': '{what}' failed: {detail}")]
    Remote {
        host: String,
        what: String,
        detail: String,
    },
    #[error("'{host}': the uploaded binary does not run there ('--version' {detail}); nothing was installed, '{path}' is unchanged; check that the binary matches the host")]
    DoesNotRun {
        host: String,
        path: String,
        detail: String,
    },
    #[error("'{host}': the uploaded binary reports '{got}', not this build's '{want}'; nothing was installed, '{path}' is unchanged; deploy a binary of this version")]
    WrongVersion {
        host: String,
        path: String,
        got: String,
        want: &'static str,
    },
    #[error("'{host}': '{path}' is a directory; nothing was installed; remove it, or give --remote-path the path of the binary itself")]
    IsDirectory { host: String, path: String },
    #[error("'{host}': no previous binary at '{prev}' to roll back to; nothing was changed")]
    NoPrevious { host: String, prev: String },
    #[error("'{host}': the previous binary '{prev}' does not run there ('--version' {detail}); nothing was changed")]
    PreviousDoesNotRun {
        host: String,
        prev: String,
        detail: String,
    },
}

/// What a successful deploy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub arch: String,
    pub local: PathBuf,
    pub remote_path: String,
    pub sha256: String,
    /// What the installed binary's `--version` printed.
    pub version: String,
    /// Where the binary it replaced is kept (`<remote_path>.prev`); None
    /// when there was none.
    pub previous: Option<String>,
}

/// What a successful rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    pub remote_path: String,
    /// Where the binary it replaced is kept now (`<remote_path>.prev`); None
    /// when there was none at `remote_path`.
    pub previous: Option<String>,
    /// What the restored binary's `--version` printed.
    pub version: String,
}

/// Deploy over an open session. `exe` is the running binary (None in tests
/// that want no implicit choice).
pub async fn deploy_with(
    s: &Session,
    explicit: Option<&Path>,
    exe: Option<&Path>,
    remote_path: &str,
) -> Result<Deployed, DeployError> {
    remote::deploy(s, explicit, exe, remote_path).await
}

/// Roll back over an open session: swap `<remote_path>.prev` and
/// `remote_path`.
pub async fn rollback_with(s: &Session, remote_path: &str) -> Result<RolledBack, DeployError> {
    remote::rollback(s, remote_path).await
}

async fn connect(alias: &str, ssh_config: Option<&Path>) -> Result<Session, DeployError> {
    let resolve_err = |e: config::SshConfigError| DeployError::Resolve {
        alias: alias.to_string(),
        reason: e.to_string(),
    };
    let ro = ResolveOptions::from_env(ssh_config.map(Path::to_path_buf)).map_err(resolve_err)?;
    let host = config::resolve(alias, &ro).map_err(resolve_err)?;
    let resolver = |a: &str| -> Result<ResolvedHost, SshError> {
        config::resolve(a, &ro).map_err(|e| SshError::Resolve {
            alias: a.to_string(),
            reason: e.to_string(),
        })
    };
    Ok(session::connect(&host, &resolver).await?)
}

fn runtime() -> Result<tokio::runtime::Runtime, DeployError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DeployError::Runtime)
}

/// Connect to `alias` and deploy: `binary` if given, else the build that
/// matches the host (see [`pick_binary`]), installed at `remote_path`.
pub fn run(
    alias: &str,
    ssh_config: Option<&Path>,
    binary: Option<&Path>,
    remote_path: &str,
) -> Result<Deployed, DeployError> {
    let exe = std::env::current_exe().ok();
    runtime()?.block_on(async {
        let s = connect(alias, ssh_config).await?;
        let r = deploy_with(&s, binary, exe.as_deref(), remote_path).await;
        s.close().await;
        r
    })
}

/// Connect to `alias` and put `<remote_path>.prev` back at `remote_path`.
pub fn rollback(
    alias: &str,
    ssh_config: Option<&Path>,
    remote_path: &str,
) -> Result<RolledBack, DeployError> {
    runtime()?.block_on(async {
        let s = connect(alias, ssh_config).await?;
        let r = rollback_with(&s, remote_path).await;
        s.close().await;
        r
    })
}
