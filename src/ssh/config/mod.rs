//! `~/.ssh/config` resolution with OpenSSH 9.2 semantics (OpenSSH is the
//! oracle: `tests/ssh_config_diff.rs` compares us with `ssh -G`).
//!
//! Owns: reading the user file (or the `-F`-style override) then the system
//! file, `Host`/`Match` blocks, `Include`, first-obtained-value-wins, the
//! `final` second pass, defaults, and token expansion for the directives the
//! session layer uses. Produces a [`ResolvedHost`] and the `ssh -G`-style
//! dump printed by `agent-runner ssh-config`.
//!
//! Must not: run commands (`Match exec` is refused), resolve DNS
//! (`CanonicalizeHostname` only triggers the final pass; no domain search),
//! or touch the network.

pub mod include;
pub mod matching;
pub mod parser;
pub mod tokens;

use crate::ssh::{ResolvedHost, StrictHostKeyChecking};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| pw.as_ref().map(|p| p.dir.clone()))
            .ok_or(SshConfigError::NoHome)?;
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

struct Reader<'a> {
    ro: &'a ResolveOptions,
    home: String,
    /// What `Host` lines match: the alias, then the final host name.
    host: String,
    original_host: String,
    final_pass: bool,
    want_final: bool,
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

fn expand_hostname(hn: &str, alias: &str) -> Result<String, SshConfigError> {
    tokens::expand(hn, &[('h', alias)], false).map_err(|source| SshConfigError::Token {
        directive: "HostName",
        value: hn.to_string(),
        source,
    })
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

impl Resolution {
    /// The settings for the session layer, with paths expanded as ssh does
    /// when it connects.
    pub fn resolved_host(&self) -> Result<ResolvedHost, SshConfigError> {
        let o = &self.opts;
        let expand_list = |directive: &'static str, list: &[(String, bool)]| {
            list.iter()
                .filter(|(p, _)| !p.eq_ignore_ascii_case("none"))
                .map(|(p, _)| {
                    self.tokens
                        .expand_path(p)
                        .map(PathBuf::from)
                        .map_err(|source| SshConfigError::Token {
                            directive,
                            value: p.clone(),
                            source,
                        })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let identity_files = expand_list("IdentityFile", &o.identity_files)?;
        let certificate_files = expand_list("CertificateFile", &o.certificate_files)?;
        let user_known_hosts_files = self
            .user_known_hosts_expanded()?
            .into_iter()
            .filter(|p| p != "none")
            .map(PathBuf::from)
            .collect();
        let global_known_hosts_files = o
            .global_known_hosts
            .iter()
            .filter(|p| !p.eq_ignore_ascii_case("none"))
            .map(PathBuf::from)
            .collect();
        let proxy_jump = o
            .jump
            .as_ref()
            .map(|j| j.raw.split(',').map(|h| h.trim().to_string()).collect())
            .unwrap_or_default();
        let secs = |v: Option<i64>| Duration::from_secs(u64::try_from(v.unwrap_or(0)).unwrap_or(0));
        Ok(ResolvedHost {
            alias: self.host_arg.clone(),
            hostname: self.host.clone(),
            port: o.port.unwrap_or(22),
            user: o.user.clone().unwrap_or_else(|| self.local_user.clone()),
            identity_files,
            identities_only: o.identities_only.unwrap_or(false),
            identity_agent: self.identity_agent_expanded()?,
            certificate_files,
            proxy_jump,
            proxy_command: o.proxy_command.clone(),
            strict_host_key_checking: o.strict_host_key_checking.unwrap_or_default(),
            user_known_hosts_files,
            global_known_hosts_files,
            hash_known_hosts: o.hash_known_hosts.unwrap_or(false),
            host_key_alias: o.host_key_alias.clone(),
            connect_timeout: o
                .connect_timeout
                .filter(|t| *t >= 0)
                .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(0))),
            server_alive_interval: secs(o.server_alive_interval),
            server_alive_count_max: u32::try_from(o.server_alive_count_max.unwrap_or(3))
                .unwrap_or(u32::MAX),
            batch_mode: o.batch_mode.unwrap_or(false),
        })
    }

    fn user_known_hosts_expanded(&self) -> Result<Vec<String>, SshConfigError> {
        self.opts
            .user_known_hosts
            .iter()
            .map(|p| {
                self.tokens
                    .expand_path(p)
                    .map_err(|source| SshConfigError::Token {
                        directive: "UserKnownHostsFile",
                        value: p.clone(),
                        source,
                    })
            })
            .collect()
    }

    fn identity_agent_expanded(&self) -> Result<Option<String>, SshConfigError> {
        self.opts
            .identity_agent
            .as_ref()
            .map(|a| {
                self.tokens
                    .expand_path(a)
                    .map_err(|source| SshConfigError::Token {
                        directive: "IdentityAgent",
                        value: a.clone(),
                        source,
                    })
            })
            .transpose()
    }

    /// `key value` pairs for the directives we honour, spelled and ordered
    /// as `ssh -G` prints them.
    pub fn dump(&self) -> Result<Vec<(&'static str, String)>, SshConfigError> {
        let o = &self.opts;
        let yn = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_string();
        let mut out: Vec<(&'static str, String)> = vec![
            ("host", self.host_arg.clone()),
            (
                "user",
                o.user.clone().unwrap_or_else(|| self.local_user.clone()),
            ),
            ("hostname", self.host.clone()),
            ("port", o.port.unwrap_or(22).to_string()),
            ("batchmode", yn(o.batch_mode)),
            ("hashknownhosts", yn(o.hash_known_hosts)),
            ("identitiesonly", yn(o.identities_only)),
            (
                "stricthostkeychecking",
                match o.strict_host_key_checking.unwrap_or_default() {
                    StrictHostKeyChecking::Yes => "true",
                    StrictHostKeyChecking::No => "false",
                    StrictHostKeyChecking::Ask => "ask",
                    StrictHostKeyChecking::AcceptNew => "accept-new",
                }
                .to_string(),
            ),
            (
                "serveralivecountmax",
                o.server_alive_count_max.unwrap_or(3).to_string(),
            ),
            (
                "serveraliveinterval",
                o.server_alive_interval.unwrap_or(0).to_string(),
            ),
        ];
        if let Some(a) = &o.host_key_alias {
            out.push(("hostkeyalias", a.clone()));
        }
        if let Some(a) = self.identity_agent_expanded()? {
            out.push(("identityagent", a));
        }
        for (f, _) in &o.identity_files {
            out.push(("identityfile", f.clone()));
        }
        for (f, _) in &o.certificate_files {
            out.push(("certificatefile", f.clone()));
        }
        out.push(("globalknownhostsfile", o.global_known_hosts.join(" ")));
        out.push((
            "userknownhostsfile",
            self.user_known_hosts_expanded()?.join(" "),
        ));
        out.push((
            "connecttimeout",
            match o.connect_timeout {
                Some(t) if t >= 0 => t.to_string(),
                _ => "none".to_string(),
            },
        ));
        if let Some(j) = &o.jump {
            out.push(("proxyjump", format_jump(j)));
        } else if let Some(pc) = &o.proxy_command {
            out.push(("proxycommand", pc.clone()));
        }
        Ok(out)
    }
}

/// `ssh -G`'s spelling of a ProxyJump.
fn format_jump(j: &Jump) -> String {
    let numeric = j.host.contains(':') || j.host.chars().all(|c| c.is_ascii_digit() || c == '.');
    let mut s = String::new();
    if let Some(e) = &j.extra {
        s.push_str(e);
        s.push(',');
    }
    if let Some(u) = &j.user {
        s.push_str(u);
        s.push('@');
    }
    if numeric {
        s.push('[');
    }
    s.push_str(&j.host);
    if numeric {
        s.push(']');
    }
    if j.port > 0 {
        s.push(':');
        s.push_str(&j.port.to_string());
    }
    s
}

/// Keywords OpenSSH 9.2 (Debian build) accepts that we parse but ignore.
const IGNORED_KEYWORDS: &[&str] = &[
    "protocol",
    "cipher",
    "fallbacktorsh",
    "globalknownhostsfile2",
    "rhostsauthentication",
    "useblacklistedkeys",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "useprivilegedport",
    "afstokenpassing",
    "kerberosauthentication",
    "kerberostgtpassing",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "compressionlevel",
    "gssapiauthentication",
    "gssapikeyexchange",
    "gssapidelegatecredentials",
    "gssapitrustdns",
    "gssapiclientidentity",
    "gssapiserveridentity",
    "gssapirenewalforcesrekey",
    "gssapikexalgorithms",
    "pkcs11provider",
    "smartcarddevice",
    "forwardagent",
    "forwardx11",
    "forwardx11trusted",
    "forwardx11timeout",
    "exitonforwardfailure",
    "xauthlocation",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "challengeresponseauthentication",
    "skeyauthentication",
    "tisauthentication",
    "pubkeyauthentication",
    "dsaauthentication",
    "hostbasedauthentication",
    "identityfile2",
    "addkeystoagent",
    "ciphers",
    "macs",
    "remoteforward",
    "localforward",
    "permitremoteopen",
    "escapechar",
    "connectionattempts",
    "checkhostip",
    "compression",
    "tcpkeepalive",
    "keepalive",
    "numberofpasswordprompts",
    "syslogfacility",
    "loglevel",
    "logverbose",
    "dynamicforward",
    "preferredauthentications",
    "hostkeyalgorithms",
    "casignaturealgorithms",
    "bindaddress",
    "bindinterface",
    "clearallforwardings",
    "enablesshkeysign",
    "verifyhostkeydns",
    "nohostauthenticationforlocalhost",
    "rekeylimit",
    "addressfamily",
    "sendenv",
    "setenv",
    "controlpath",
    "controlmaster",
    "controlpersist",
    "tunnel",
    "tunneldevice",
    "localcommand",
    "permitlocalcommand",
    "remotecommand",
    "visualhostkey",
    "kexalgorithms",
    "ipqos",
    "requesttty",
    "sessiontype",
    "stdinnull",
    "forkafterauthentication",
    "proxyusefdpass",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "revokedhostkeys",
    "fingerprinthash",
    "updatehostkeys",
    "hostbasedacceptedalgorithms",
    "hostbasedkeytypes",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "securitykeyprovider",
    "knownhostscommand",
    "requiredrsasize",
    "enableescapecommandline",
];

impl Reader<'_> {
    fn err(&self, file: &Path, line: usize, msg: impl Into<String>) -> SshConfigError {
        SshConfigError::Line {
            file: file.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    fn read_all(&mut self, o: &mut Options) -> Result<(), SshConfigError> {
        let mut active = true;
        match &self.ro.config_file {
            Some(p) if p.as_os_str() == "none" => {}
            Some(p) => {
                let p = p.clone();
                if !self.read_file(o, &p, true, false, false, &mut active, 0)? {
                    return Err(SshConfigError::Read {
                        path: p,
                        source: std::io::Error::from(std::io::ErrorKind::NotFound),
                    });
                }
            }
            None => {
                let user_file = self.ro.home.join(".ssh").join("config");
                self.read_file(o, &user_file, true, true, false, &mut active, 0)?;
                let mut active = true;
                let sys = self.ro.system_file.clone();
                self.read_file(o, &sys, false, false, false, &mut active, 0)?;
            }
        }
        Ok(())
    }

    /// Read one file; Ok(false) when it does not exist.
    #[allow(clippy::too_many_arguments)]
    fn read_file(
        &mut self,
        o: &mut Options,
        path: &Path,
        user_conf: bool,
        check_perm: bool,
        never_match: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<bool, SshConfigError> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(SshConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let meta = f.metadata().map_err(|source| SshConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            return Ok(true);
        }
        if check_perm {
            use std::os::unix::fs::MetadataExt;
            let uid = nix::unistd::getuid().as_raw();
            if (meta.uid() != 0 && meta.uid() != uid) || meta.mode() & 0o022 != 0 {
                return Err(SshConfigError::Permissions(path.to_path_buf()));
            }
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|source| SshConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let text = String::from_utf8_lossy(&bytes);
        for (i, raw) in text.split('\n').enumerate() {
            self.line(o, path, i + 1, raw, user_conf, never_match, active, depth)?;
        }
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        o: &mut Options,
        file: &Path,
        ln: usize,
        raw: &str,
        user_conf: bool,
        never_match: bool,
        active: &mut bool,
        depth: usize,
    ) -> Result<(), SshConfigError> {
        let l = match parser::split_line(raw) {
            Ok(Some(l)) => l,
            Ok(None) => return Ok(()),
            Err(e) => return Err(self.err(file, ln, e.to_string())),
        };
        let on = *active;
        let kw = l.keyword.as_str();
        let args = &l.args;
        let one = |this: &Self| -> Result<&String, SshConfigError> {
            match args.as_slice() {
                [a] if !a.is_empty() => Ok(a),
                [] | [_] => Err(this.err(file, ln, format!("missing argument for '{kw}'"))),
                _ => Err(this.err(
                    file,
                    ln,
                    format!("keyword '{kw}' has extra arguments at end of line"),
                )),
            }
        };
        match kw {
            "host" => {
                if args.iter().any(String::is_empty) {
                    return Err(self.err(file, ln, "keyword 'host' has an empty argument"));
                }
                *active = !never_match && matching::host_line_matches(&self.host, args);
            }
            "match" => {
                let crit = parser::strdelim_tokens(&l.rest);
                let r = self.eval_match(o, file, ln, &crit)?;
                *active = !never_match && r;
            }
            "include" => {
                let oactive = *active;
                for arg in args {
                    if arg.is_empty() {
                        return Err(self.err(file, ln, "keyword 'include' has an empty argument"));
                    }
                    let sys_dir = self
                        .ro
                        .system_file
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "/etc/ssh".to_string());
                    let files = include::expand_include(arg, user_conf, &self.home, &sys_dir)
                        .map_err(|e| self.err(file, ln, e.to_string()))?;
                    for f in files {
                        if depth + 1 > MAX_INCLUDE_DEPTH {
                            return Err(self.err(
                                file,
                                ln,
                                format!("Include of '{}' nests more than {MAX_INCLUDE_DEPTH} deep (is there an include cycle?)", f.display()),
                            ));
                        }
                        self.read_file(
                            o,
                            &f,
                            user_conf,
                            true,
                            never_match || !oactive,
                            active,
                            depth + 1,
                        )?;
                        *active = oactive;
                    }
                }
            }
            "hostname" | "user" | "hostkeyalias" | "ignoreunknown" => {
                let v = one(self)?.clone();
                let slot = match kw {
                    "hostname" => &mut o.hostname,
                    "user" => &mut o.user,
                    "hostkeyalias" => &mut o.host_key_alias,
                    _ => &mut o.ignore_unknown,
                };
                if on && slot.is_none() {
                    *slot = Some(v);
                }
            }
            "port" => {
                let v = one(self)?;
                let p = a2port(v).filter(|p| *p > 0);
                let Some(p) = p else {
                    return Err(self.err(file, ln, format!("bad port '{v}'")));
                };
                if on && o.port.is_none() {
                    o.port = Some(p);
                }
            }
            "identityfile" | "certificatefile" => {
                let v = one(self)?.clone();
                if on {
                    let list = if kw == "identityfile" {
                        &mut o.identity_files
                    } else {
                        &mut o.certificate_files
                    };
                    if list.len() >= 100 {
                        return Err(self.err(
                            file,
                            ln,
                            format!("too many '{kw}' entries (max 100)"),
                        ));
                    }
                    if !list.iter().any(|(p, u)| *u == user_conf && *p == v) {
                        list.push((v, user_conf));
                    }
                }
            }
            "identitiesonly" | "hashknownhosts" | "batchmode" => {
                let v = one(self)?;
                let b = match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => {
                        return Err(self.err(
                            file,
                            ln,
                            format!("unsupported value '{v}' for '{kw}' (yes or no)"),
                        ))
                    }
                };
                let slot = match kw {
                    "identitiesonly" => &mut o.identities_only,
                    "hashknownhosts" => &mut o.hash_known_hosts,
                    _ => &mut o.batch_mode,
                };
                if on && slot.is_none() {
                    *slot = Some(b);
                }
            }
            "stricthostkeychecking" => {
                let v = one(self)?;
                let s = match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" => StrictHostKeyChecking::Yes,
                    "no" | "false" | "off" => StrictHostKeyChecking::No,
                    "ask" => StrictHostKeyChecking::Ask,
                    "accept-new" => StrictHostKeyChecking::AcceptNew,
                    _ => return Err(self.err(file, ln, format!("unsupported value '{v}' for 'stricthostkeychecking' (yes, no, ask, accept-new or off)"))),
                };
                if on && o.strict_host_key_checking.is_none() {
                    o.strict_host_key_checking = Some(s);
                }
            }
            "canonicalizehostname" => {
                let v = one(self)?;
                let c = match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" => 1,
                    "no" | "false" => 0,
                    "always" => 2,
                    _ => {
                        return Err(self.err(
                            file,
                            ln,
                            format!("unsupported value '{v}' for 'canonicalizehostname'"),
                        ))
                    }
                };
                if on && o.canonicalize_hostname.is_none() {
                    o.canonicalize_hostname = Some(c);
                }
            }
            "connecttimeout" | "serveraliveinterval" | "protocolkeepalives" | "setuptimeout" => {
                let v = one(self)?;
                let t = if v == "none" {
                    -1
                } else {
                    convtime(v).ok_or_else(|| {
                        self.err(file, ln, format!("invalid time value '{v}' for '{kw}'"))
                    })?
                };
                let slot = if kw == "connecttimeout" {
                    &mut o.connect_timeout
                } else {
                    &mut o.server_alive_interval
                };
                // OpenSSH stores `none` as -1, its own "unset" marker.
                if on && slot.is_none() && t != -1 {
                    *slot = Some(t);
                }
            }
            "serveralivecountmax" => {
                let v = one(self)?;
                let n: i64 = v
                    .trim_start()
                    .parse()
                    .ok()
                    .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
                    .ok_or_else(|| {
                        self.err(
                            file,
                            ln,
                            format!("invalid integer value '{v}' for 'serveralivecountmax'"),
                        )
                    })?;
                if on && o.server_alive_count_max.is_none() {
                    o.server_alive_count_max = Some(n);
                }
            }
            "identityagent" => {
                let v = one(self)?;
                if let Err(e) = tokens::expand(v, &[], true)
                    .map(|_| ())
                    .or_else(|e| match e {
                        tokens::TokenError::UnsetVar(_) | tokens::TokenError::UnterminatedVar => {
                            Err(e)
                        }
                        _ => Ok(()),
                    })
                {
                    return Err(self.err(
                        file,
                        ln,
                        format!("invalid environment expansion in '{v}': {e}"),
                    ));
                }
                if let Some(name) = v.strip_prefix('$') {
                    if !name.starts_with('{') && !valid_env_name(name) {
                        return Err(self.err(file, ln, format!("invalid environment name '{v}'")));
                    }
                }
                if on && o.identity_agent.is_none() {
                    o.identity_agent = Some(v.clone());
                }
            }
            "userknownhostsfile" | "globalknownhostsfile" => {
                let list = if kw == "userknownhostsfile" {
                    &o.user_known_hosts
                } else {
                    &o.global_known_hosts
                };
                let was_empty = list.is_empty();
                for (i, a) in args.iter().enumerate() {
                    if a.is_empty() {
                        return Err(self.err(
                            file,
                            ln,
                            format!("keyword '{kw}' has an empty argument"),
                        ));
                    }
                    if a.eq_ignore_ascii_case("none") && (i > 0 || args.len() > 1) {
                        return Err(self.err(
                            file,
                            ln,
                            format!("keyword '{kw}': 'none' must appear alone"),
                        ));
                    }
                }
                if args.len() > 16 {
                    return Err(self.err(file, ln, format!("too many '{kw}' entries (max 16)")));
                }
                if on && was_empty {
                    let list = if kw == "userknownhostsfile" {
                        &mut o.user_known_hosts
                    } else {
                        &mut o.global_known_hosts
                    };
                    list.extend(args.iter().cloned());
                }
            }
            "proxycommand" => {
                let v = l.rest.trim_start_matches([' ', '\t', '\r', '\n', '=']);
                if on && o.proxy_command.is_none() {
                    o.proxy_command = Some(v.to_string());
                }
            }
            "proxyjump" => {
                let v = l
                    .rest
                    .trim_start_matches([' ', '\t', '\r', '\n', '='])
                    .to_string();
                let on = on && o.proxy_command.is_none() && o.jump.is_none();
                let j = parse_jump(&v)
                    .ok_or_else(|| self.err(file, ln, format!("invalid ProxyJump '{v}'")))?;
                if on {
                    if j.host == "none" {
                        o.jump = Some(j);
                    } else {
                        o.jump = Some(j);
                        o.proxy_command = Some("none".to_string());
                    }
                }
            }
            _ if IGNORED_KEYWORDS.contains(&kw) => {}
            _ => {
                let ignored = o
                    .ignore_unknown
                    .as_deref()
                    .is_some_and(|list| matching::match_pattern_list(kw, list, true) == 1);
                if !ignored {
                    return Err(self.err(file, ln, format!("bad configuration option '{kw}' (OpenSSH would refuse it too; list it in IgnoreUnknown to skip it)")));
                }
            }
        }
        Ok(())
    }

    /// OpenSSH's `match_cfg_line`.
    fn eval_match(
        &mut self,
        o: &Options,
        file: &Path,
        ln: usize,
        args: &[String],
    ) -> Result<bool, SshConfigError> {
        let ruser = o.user.clone().unwrap_or_else(|| self.ro.local_user.clone());
        let host = if self.final_pass {
            o.hostname.clone().unwrap_or_else(|| self.host.clone())
        } else if let Some(hn) = &o.hostname {
            expand_hostname(hn, &self.host)?
        } else {
            self.host.clone()
        };
        let mut result = true;
        let mut attributes = 0;
        let mut i = 0;
        while i < args.len() {
            let oattrib = &args[i];
            i += 1;
            if oattrib.starts_with('#') {
                break;
            }
            let (negate, attrib) = match oattrib.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, oattrib.as_str()),
            };
            let attrib_lc = attrib.to_ascii_lowercase();
            if attrib_lc == "all" {
                let next_is_arg = args
                    .get(i)
                    .is_some_and(|a| !a.is_empty() && !a.starts_with('#'));
                if attributes > 1 || next_is_arg {
                    return Err(self.err(
                        file,
                        ln,
                        format!("Match '{oattrib}' cannot be combined with other Match attributes"),
                    ));
                }
                if result {
                    result = !negate;
                }
                return Ok(result);
            }
            attributes += 1;
            if attrib_lc == "canonical" || attrib_lc == "final" {
                if attrib_lc == "final" && !self.final_pass {
                    self.want_final = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            let arg = match args.get(i) {
                Some(a) if !a.is_empty() && !a.starts_with('#') => a,
                _ => {
                    return Err(self.err(
                        file,
                        ln,
                        format!("missing Match criteria for '{attrib}'"),
                    ))
                }
            };
            i += 1;
            let r = match attrib_lc.as_str() {
                "host" => matching::match_hostname(&host, arg) == 1,
                "originalhost" => matching::match_hostname(&self.original_host, arg) == 1,
                "user" => matching::match_pattern_list(&ruser, arg, false) == 1,
                "localuser" => matching::match_pattern_list(&self.ro.local_user, arg, false) == 1,
                "exec" => {
                    if !result {
                        // OpenSSH skips the command when an earlier criterion failed.
                        continue;
                    }
                    return Err(self.err(file, ln, format!("'Match exec' is refused: agent-runner never runs commands from ssh_config (use Match host/user instead of exec \"{arg}\")")));
                }
                _ => {
                    return Err(self.err(
                        file,
                        ln,
                        format!("unsupported Match attribute '{attrib}'"),
                    ))
                }
            };
            if r == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(self.err(file, ln, "one or more attributes required for Match"));
        }
        Ok(result)
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut cs = name.chars();
    match cs.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// OpenSSH's `convtime`: `90`, `1m30s`, `2h`, … in seconds; None if invalid.
pub fn convtime(s: &str) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut total: i64 = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let secs: i64 = s[start..i].parse().ok()?;
        let mult = match b.get(i) {
            None => 1,
            Some(c) => {
                i += 1;
                match c.to_ascii_lowercase() {
                    b's' => 1,
                    b'm' => 60,
                    b'h' => 3600,
                    b'd' => 86400,
                    b'w' => 604800,
                    _ => return None,
                }
            }
        };
        let max = i64::from(i32::MAX);
        if secs > max / mult {
            return None;
        }
        total = total.checked_add(secs * mult).filter(|t| *t <= max)?;
    }
    Some(total)
}

/// OpenSSH's `a2port`: a number 0..=65535 or a tcp service name.
fn a2port(s: &str) -> Option<u16> {
    if let Ok(n) = s.parse::<u16>() {
        return Some(n);
    }
    if s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let services = std::fs::read_to_string("/etc/services").ok()?;
    for line in services.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let (Some(name), Some(pp)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        if proto == "tcp" && (name == s || f.any(|a| a == s)) {
            return port.parse().ok();
        }
    }
    None
}

/// `[user@]host[:port]`, `[v6]:port` or `ssh://[user@]host[:port]`.
fn parse_user_host_port(s: &str) -> Option<(Option<String>, String, i32)> {
    let (user, rest) = match s.rfind('@') {
        Some(i) => {
            if i == 0 {
                return None;
            }
            (Some(s[..i].to_string()), &s[i + 1..])
        }
        None => (None, s),
    };
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let end = r.find(']')?;
        let after = &r[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (r[..end].to_string(), port)
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (rest.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) if !p.is_empty() => i32::from(a2port(p).filter(|p| *p > 0)?),
        _ => -1,
    };
    Some((user, host, port))
}

/// One `ProxyJump` hop: user, host, port (-1 when not given).
pub(crate) fn parse_hop(s: &str) -> Option<(Option<String>, String, i32)> {
    if let Some(uri) = s.strip_prefix("ssh://") {
        let uri = uri.strip_suffix('/').unwrap_or(uri);
        if uri.contains('/') {
            return None;
        }
        return parse_user_host_port(uri);
    }
    parse_user_host_port(s)
}

/// OpenSSH's `parse_jump`: every hop is checked, the last one is kept.
fn parse_jump(s: &str) -> Option<Jump> {
    let raw = s.split('#').next().unwrap_or("").trim_end().to_string();
    if s.eq_ignore_ascii_case("none") {
        return Some(Jump {
            user: None,
            host: "none".into(),
            port: 0,
            extra: None,
            raw,
        });
    }
    let mut last = None;
    for (i, hop) in raw.rsplit(',').enumerate() {
        let h = parse_hop(hop)?;
        if i == 0 {
            last = Some(h);
        }
    }
    let (user, host, port) = last?;
    let extra = raw
        .rfind(',')
        .filter(|i| *i > 0)
        .map(|i| raw[..i].to_string());
    Some(Jump {
        user,
        host,
        port,
        extra,
        raw,
    })
}

#[cfg(test)]
mod tests;

/// The ProxyCommand line to run (via `sh -c "exec …"`), with the tokens ssh
/// expands there: `%h %k %n %p %r %%`. None when there is no ProxyCommand.
pub fn proxy_command_line(h: &ResolvedHost) -> Result<Option<String>, SshConfigError> {
    let Some(pc) = &h.proxy_command else {
        return Ok(None);
    };
    let port = h.port.to_string();
    let key_alias = h.host_key_alias.as_deref().unwrap_or(&h.alias);
    let keys = [
        ('h', h.hostname.as_str()),
        ('k', key_alias),
        ('n', h.alias.as_str()),
        ('p', port.as_str()),
        ('r', h.user.as_str()),
    ];
    tokens::expand(pc, &keys, false)
        .map(Some)
        .map_err(|source| SshConfigError::Token {
            directive: "ProxyCommand",
            value: pc.clone(),
            source,
        })
}
