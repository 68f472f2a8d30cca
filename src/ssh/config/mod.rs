//! `~/.ssh/config` resolution with OpenSSH 9.2 semantics (OpenSSH is the
//! oracle: `tests/ssh_config_diff.rs` compares us with `ssh -G`).
//!
//! Owns: reading the user file (or the `-F`-style override) then the system
//! file, `Host`/`Match` blocks, `Include`, first-obtained-value-wins, the
//! `final` second pass, defaults, and token expansion for the directives the
//! session layer uses. Produces a [`ResolvedHost`] and the `ssh -G`-style
//! dump printed by `agent-runner ssh-config`.
//!
//! This file holds the data (options, errors, the resolution) and the order
//! of a resolution ([`resolve_full`]: read, `HostName`, the `final` pass,
//! defaults, tokens); by concern: `reader.rs` (files, `Host`, `Include`),
//! `matching.rs` (patterns, `Match`), `directives.rs` (what each option
//! keyword sets), `values.rs` (value syntax), `resolution.rs` (the
//! [`ResolvedHost`] and the dump).
//!
//! Must not: run commands (`Match exec` is refused), resolve DNS
//! (`CanonicalizeHostname` only triggers the final pass; no domain search),
//! or touch the network.

pub mod include;
pub mod matching;
pub mod parser;
pub mod tokens;

mod directives;
mod reader;
mod resolution;
mod values;

pub use values::convtime;
pub(crate) use values::parse_hop;

use crate::ssh::names::{self, NameKind};
use crate::ssh::{ResolvedHost, StrictHostKeyChecking};
use reader::Reader;
use std::path::PathBuf;

/// OpenSSH's `READCONF_MAX_DEPTH`: how deep Includes may nest.
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// The system-wide client config read after the user's.
pub const DEFAULT_SYSTEM_FILE: &str = "/etc/ssh/ssh_config";

/// Environment variable naming a config file to use instead of
/// `~/.ssh/config` and the system file (like `ssh -F`).
pub const CONFIG_ENV: &str = "AGENT_RUNNER_SSH_CONFIG";

/// Identity files tried when none is configured, in `ssh -G` 9.2's order.
const DEFAULT_IDENTITY_FILES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];
const DEFAULT_USER_KNOWN_HOSTS: &[&str] = &["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];
const DEFAULT_GLOBAL_KNOWN_HOSTS: &[&str] =
    &["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"];

/// Where to read the config from and who "we" are, so tests never touch the
/// real HOME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOptions {
    /// `-F`: read only this file (not `~/.ssh/config`, not the system file).
    /// The literal `none` reads no file at all, as OpenSSH.
    pub config_file: Option<PathBuf>,
    /// Home directory: `~`, `%d`, and `~/.ssh/config`.
    pub home: PathBuf,
    /// Local user name: `%u`, `Match localuser`, the default `User`.
    pub local_user: String,
    /// System file, read after the user file when `config_file` is None.
    pub system_file: PathBuf,
}

impl ResolveOptions {
    /// Options for this process: `$HOME` (else the passwd entry), the passwd
    /// user name (else `$USER`), `config_file` or else `$AGENT_RUNNER_SSH_CONFIG`.
    pub fn from_env(config_file: Option<PathBuf>) -> Result<Self, SshConfigError> {
        let pw = nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten();
        let home = crate::sys::dirs::home().ok_or(SshConfigError::NoHome)?;
        let local_user = pw
            .map(|p| p.name)
            .or_else(|| std::env::var("USER").ok())
            .ok_or(SshConfigError::NoUser)?;
        let config_file = config_file.or_else(|| {
            std::env::var_os(CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        Ok(Self {
            config_file,
            home,
            local_user,
            system_file: PathBuf::from(DEFAULT_SYSTEM_FILE),
        })
    }
}

/// A config that cannot be used. Display is one line naming the file and
/// line where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SshConfigError {
    #[error("ssh config '{file}' line {line}: {msg}")]
    Line {
        file: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("cannot read ssh config '{path}': {source} (check the path given with --ssh-config or {CONFIG_ENV})")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad owner or permissions on ssh config '{0}' (it must belong to you or root and not be writable by others: chmod go-w '{0}')")]
    Permissions(PathBuf),
    #[error("host alias '{0}' starts with '-' and is refused (it would be read as an option)")]
    DashAlias(String),
    #[error("host alias is empty")]
    EmptyAlias,
    #[error("{directive} '{value}': {source} (fix the ssh config)")]
    Token {
        directive: &'static str,
        value: String,
        source: tokens::TokenError,
    },
    #[error("{0}")]
    BadName(#[from] crate::ssh::names::BadName),
    #[error("jump host loop via '{0}' (ProxyJump points at the host itself)")]
    JumpLoop(String),
    #[error("cannot tell the home directory (set HOME)")]
    NoHome,
    #[error("cannot tell the local user name (set USER)")]
    NoUser,
}

/// A parsed ProxyJump (only the last hop is parsed, as OpenSSH).
#[derive(Debug, Clone, PartialEq)]
struct Jump {
    user: Option<String>,
    host: String,
    /// -1 when absent; 0 for `none`.
    port: i32,
    /// Earlier hops, as written.
    extra: Option<String>,
    /// The whole value, comment removed.
    raw: String,
}

/// Option values as OpenSSH's `Options` struct holds them (None = unset).
#[derive(Debug, Clone, Default)]
struct Options {
    hostname: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    /// (path as written, from a user config file)
    identity_files: Vec<(String, bool)>,
    certificate_files: Vec<(String, bool)>,
    identities_only: Option<bool>,
    identity_agent: Option<String>,
    proxy_command: Option<String>,
    jump: Option<Jump>,
    strict_host_key_checking: Option<StrictHostKeyChecking>,
    user_known_hosts: Vec<String>,
    global_known_hosts: Vec<String>,
    hash_known_hosts: Option<bool>,
    host_key_alias: Option<String>,
    connect_timeout: Option<i64>,
    server_alive_interval: Option<i64>,
    server_alive_count_max: Option<i64>,
    batch_mode: Option<bool>,
    canonicalize_hostname: Option<u8>,
    ignore_unknown: Option<String>,
    revoked_host_keys: Option<String>,
    known_hosts_command: Option<String>,
    /// Where the `HostName` and `User` that took effect were set.
    hostname_at: Option<(PathBuf, usize)>,
    user_at: Option<(PathBuf, usize)>,
}

/// The outcome of reading the config for one alias, before defaults.
#[derive(Debug, Clone)]
pub struct Resolution {
    opts: Options,
    host_arg: String,
    /// The final host name (HostName expanded, lowercased).
    host: String,
    local_user: String,
    /// The identity/known-hosts token values.
    tokens: tokens::ClientTokens,
}

/// Resolve `alias` like `ssh -G alias` would.
pub fn resolve(alias: &str, ro: &ResolveOptions) -> Result<ResolvedHost, SshConfigError> {
    resolve_full(alias, ro)?.resolved_host()
}

/// Resolve `alias` and keep the raw values (for [`Resolution::dump`]).
pub fn resolve_full(alias: &str, ro: &ResolveOptions) -> Result<Resolution, SshConfigError> {
    if alias.is_empty() {
        return Err(SshConfigError::EmptyAlias);
    }
    if alias.starts_with('-') {
        return Err(SshConfigError::DashAlias(alias.to_string()));
    }
    names::check(NameKind::Alias, alias, "the host to resolve")?;
    let home = ro.home.to_string_lossy().into_owned();
    let mut opts = Options::default();
    let mut rd = Reader {
        ro,
        home: home.clone(),
        host: alias.to_string(),
        original_host: alias.to_string(),
        final_pass: false,
        want_final: false,
    };
    rd.read_all(&mut opts)?;

    // HostName takes effect now (only %h and %% are allowed in it).
    let mut host = match &opts.hostname {
        Some(hn) => expand_hostname(hn, alias)?,
        None => alias.to_string(),
    };
    host.make_ascii_lowercase();
    if let Some(at) = &opts.hostname_at {
        names::check(NameKind::HostName, &host, &origin(at))?;
    }
    if opts.canonicalize_hostname.unwrap_or(0) != 0 {
        rd.want_final = true;
    }
    if rd.want_final {
        opts.hostname = Some(host.clone());
        rd.host = host.clone();
        rd.final_pass = true;
        rd.read_all(&mut opts)?;
    }
    fill_defaults(&mut opts, &ro.local_user);
    if let (Some(at), Some(u)) = (&opts.user_at, &opts.user) {
        names::check(NameKind::User, u, &origin(at))?;
    }

    let user = opts.user.clone().unwrap_or_default();
    let port = opts.port.unwrap_or(22);
    if let Some(j) = &opts.jump {
        let jport = if j.port <= 0 { 22 } else { j.port };
        let juser = j.user.as_deref().unwrap_or(&user);
        if j.host == host && i32::from(port) == jport && juser == user {
            return Err(SshConfigError::JumpLoop(j.host.clone()));
        }
    }
    let local_host = tokens::local_hostname();
    let short = local_host.split('.').next().unwrap_or("").to_string();
    let port_s = port.to_string();
    let toks = tokens::ClientTokens {
        conn_hash: tokens::connection_hash(&local_host, &host, &port_s, &user),
        short_local_host: short,
        uid: nix::unistd::getuid().as_raw().to_string(),
        key_alias: opts
            .host_key_alias
            .clone()
            .unwrap_or_else(|| alias.to_string()),
        local_host,
        host_arg: alias.to_string(),
        port: port_s,
        home,
        remote_host: host.clone(),
        remote_user: user,
        local_user: ro.local_user.clone(),
    };
    Ok(Resolution {
        opts,
        host_arg: alias.to_string(),
        host,
        local_user: ro.local_user.clone(),
        tokens: toks,
    })
}

/// "ssh config 'FILE' line N", for errors about a value set there.
fn origin((file, line): &(PathBuf, usize)) -> String {
    format!("ssh config '{}' line {line}", file.display())
}

fn expand_hostname(hn: &str, alias: &str) -> Result<String, SshConfigError> {
    expanded(tokens::expand(hn, &[('h', alias)], false), "HostName", hn)
}

fn fill_defaults(o: &mut Options, local_user: &str) {
    if o.identity_files.is_empty() {
        o.identity_files = DEFAULT_IDENTITY_FILES
            .iter()
            .map(|s| (s.to_string(), false))
            .collect();
    }
    if o.global_known_hosts.is_empty() {
        o.global_known_hosts = DEFAULT_GLOBAL_KNOWN_HOSTS
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    if o.user_known_hosts.is_empty() {
        o.user_known_hosts = DEFAULT_USER_KNOWN_HOSTS
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    if o.server_alive_interval.is_none() {
        o.server_alive_interval = Some(if o.batch_mode == Some(true) { 300 } else { 0 });
    }
    if o.proxy_command
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("none"))
    {
        o.proxy_command = None;
    }
    if o.jump
        .as_ref()
        .is_some_and(|j| j.host == "none" && j.port == 0 && j.user.is_none())
    {
        o.jump = None;
    }
    if o.user.is_none() {
        o.user = Some(local_user.to_string());
    }
    if let Some(a) = &mut o.host_key_alias {
        a.make_ascii_lowercase();
    }
}

/// `r`, a token expansion of `directive`'s `value`, its error naming both.
fn expanded<T>(
    r: Result<T, tokens::TokenError>,
    directive: &'static str,
    value: &str,
) -> Result<T, SshConfigError> {
    r.map_err(|source| SshConfigError::Token {
        directive,
        value: value.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests;

/// The ProxyCommand line to run (via `sh -c "exec …"`), with the tokens ssh
/// expands there: `%h %k %n %p %r %%`. None when there is no ProxyCommand.
///
/// Each token's value is POSIX-single-quoted when it holds anything but
/// plain characters (the checked names never do, so the line reads as
/// OpenSSH's would); a value built past the checks still cannot end the
/// word it is in. Inside double quotes written in the ProxyCommand itself a
/// `$(…)` would still run: the name checks are the first wall.
pub fn proxy_command_line(h: &ResolvedHost) -> Result<Option<String>, SshConfigError> {
    let Some(pc) = &h.proxy_command else {
        return Ok(None);
    };
    let q = crate::ssh::quote::quote;
    let (host, alias, user) = (q(&h.hostname), q(&h.alias), q(&h.user));
    let key_alias = q(h.host_key_alias.as_deref().unwrap_or(&h.alias));
    let port = h.port.to_string();
    let keys = [
        ('h', host.as_str()),
        ('k', key_alias.as_str()),
        ('n', alias.as_str()),
        ('p', port.as_str()),
        ('r', user.as_str()),
    ];
    expanded(tokens::expand(pc, &keys, false), "ProxyCommand", pc).map(Some)
}
