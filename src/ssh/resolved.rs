//! The settings resolved for one host: what the `config` resolver produces and
//! what the session layer consumes. Field values use OpenSSH's meaning.

use std::path::PathBuf;
use std::time::Duration;

/// `StrictHostKeyChecking` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrictHostKeyChecking {
    /// `yes`: unknown hosts refused.
    Yes,
    /// `ask` (default): we are non-interactive, so like `yes`.
    #[default]
    Ask,
    /// `accept-new`: learn unknown hosts, refuse changed keys.
    AcceptNew,
    /// `no` / `off`: accept unknown hosts (changed keys still refused).
    No,
}

/// Everything needed to reach one host.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedHost {
    /// The alias the user typed (`%n`).
    pub alias: String,
    /// `HostName` after token expansion (`%h`), or the alias.
    pub hostname: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// `IdentityAgent`: None = use `SSH_AUTH_SOCK`; Some("none") disables.
    pub identity_agent: Option<String>,
    pub certificate_files: Vec<PathBuf>,
    /// `ProxyJump` hops as written (`user@host:port`), in order; empty = direct.
    pub proxy_jump: Vec<String>,
    pub proxy_command: Option<String>,
    pub strict_host_key_checking: StrictHostKeyChecking,
    pub user_known_hosts_files: Vec<PathBuf>,
    pub global_known_hosts_files: Vec<PathBuf>,
    pub hash_known_hosts: bool,
    pub host_key_alias: Option<String>,
    /// None = OpenSSH's "none" (we apply our own default of 10 s).
    pub connect_timeout: Option<Duration>,
    /// 0 = unset: the session applies our default of 15 s (OpenSSH's 0
    /// would mean no keepalive; the witness always wants one).
    pub server_alive_interval: Duration,
    pub server_alive_count_max: u32,
    pub batch_mode: bool,
    /// `RevokedHostKeys` (used as written, like OpenSSH 9.2); None when
    /// unset or `none`.
    pub revoked_host_keys: Option<PathBuf>,
}
