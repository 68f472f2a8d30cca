//! One SSH session to one resolved host: transport (TCP with `nodelay`,
//! `ProxyCommand`, or `ProxyJump` hops over direct-tcpip channels), host-key
//! policy, authentication, keepalive, and commands run under a deadline.
//! A session carries many channels. Everything that waits is bounded:
//! `ConnectTimeout` (default 10 s) covers TCP + banner + kex + auth, and every
//! remote command has a deadline. Keepalive comes from `ServerAliveInterval` ×
//! `ServerAliveCountMax`; an interval of 0 (unset) gets our default of 15 s
//! (OpenSSH's 0 means no keepalive; a witness must notice a dead peer).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::{Algorithm, PublicKeyOrCertificate};
use russh::{Channel, Disconnect, Preferred};

use super::auth::{self, AuthError};
use super::exec::{collect, MAX_EXEC_OUTPUT};
pub use super::exec::{ExecStream, Output, StreamEvent};
use super::known_hosts::{HostKeyError, HostKeys, Verdict};
use super::names::{self, NameKind};
use super::proxy;
use super::quote::command_line;
use super::resolved::ResolvedHost;

/// Applied when `ConnectTimeout` is unset (OpenSSH waits for the kernel).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Our keepalive interval when the user set none (OpenSSH's is 0 = off).
/// The count keeps OpenSSH's default of 3, which the resolver fills in.
pub const DEFAULT_SERVER_ALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// How deep `ProxyJump` may nest through the hops' own `ProxyJump`.
const MAX_JUMP_DEPTH: usize = 8;

/// Resolves an alias (a `ProxyJump` hop) to its settings.
pub type Resolver<'a> = &'a (dyn Fn(&str) -> Result<ResolvedHost, SshError> + Send + Sync);

/// The step of a connection, for reports (doctor) and timeout messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Resolve,
    Connect,
    HostKey,
    Auth,
    Exec,
}

impl Step {
    pub fn label(self) -> &'static str {
        match self {
            Step::Resolve => "resolve",
            Step::Connect => "connect",
            Step::HostKey => "host key",
            Step::Auth => "authenticate",
            Step::Exec => "remote command",
        }
    }
    fn from_u8(v: u8) -> Step {
        match v {
            0 => Step::Connect,
            1 => Step::HostKey,
            _ => Step::Auth,
        }
    }
}

/// Everything that can go wrong with a session. Messages are one line: what
/// happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("host alias '{0}' starts with '-'; refusing it (it would be taken as an option)")]
    BadAlias(String),
    #[error("cannot resolve '{alias}': {reason}")]
    Resolve { alias: String, reason: String },
    #[error("cannot connect to '{alias}' at '{addr}': {reason}; check that the host is up and sshd listens on that port")]
    Tcp {
        alias: String,
        addr: String,
        reason: String,
    },
    #[error("ProxyCommand for '{alias}' failed: {reason}")]
    Proxy { alias: String, reason: String },
    #[error("'{alias}' ({addr}): no answer within ConnectTimeout {secs}s during {phase}; check the host and network, or raise ConnectTimeout")]
    Timeout {
        alias: String,
        addr: String,
        secs: u64,
        phase: &'static str,
    },
    #[error("SSH handshake with '{alias}' failed: {reason}; check that the port speaks SSH")]
    Handshake { alias: String, reason: String },
    #[error("'{alias}': {source}")]
    HostKey {
        alias: String,
        #[source]
        source: Box<HostKeyError>,
    },
    #[error("'{alias}': {source}")]
    Auth {
        alias: String,
        #[source]
        source: AuthError,
    },
    #[error("via jump host '{hop}': {inner}")]
    Hop { hop: String, inner: Box<SshError> },
    #[error("'{alias}': cannot open a channel: {reason}")]
    Channel { alias: String, reason: String },
    #[error(
        "'{alias}': remote command '{cmd}' did not finish within {secs:.1}s; it was abandoned"
    )]
    Deadline {
        alias: String,
        cmd: String,
        secs: f64,
    },
    #[error("'{alias}': the session is closed (peer gone or keepalive unanswered); reconnect")]
    Closed { alias: String },
    #[error("'{alias}': remote command '{cmd}' wrote more than {} MiB to {stream}; the channel was closed and its output dropped", MAX_EXEC_OUTPUT / (1024 * 1024))]
    OutputTooLarge {
        alias: String,
        cmd: String,
        /// `stdout` or `stderr`.
        stream: &'static str,
    },
}

impl SshError {
    /// The step that failed (a hop's failure counts as `connect`).
    pub fn step(&self) -> Step {
        match self {
            SshError::BadAlias(_) | SshError::Resolve { .. } => Step::Resolve,
            SshError::Tcp { .. } | SshError::Proxy { .. } | SshError::Handshake { .. } => {
                Step::Connect
            }
            SshError::Hop { .. } => Step::Connect,
            SshError::Timeout { phase, .. } => match *phase {
                "authentication" => Step::Auth,
                "host-key check" => Step::HostKey,
                _ => Step::Connect,
            },
            SshError::HostKey { .. } => Step::HostKey,
            SshError::Auth { .. } => Step::Auth,
            SshError::Channel { .. }
            | SshError::Deadline { .. }
            | SshError::Closed { .. }
            | SshError::OutputTooLarge { .. } => Step::Exec,
        }
    }
}

/// The host-key check's outcome, shared between handler and `connect`.
type KeyOutcome = Arc<Mutex<Option<Result<Verdict, HostKeyError>>>>;

/// russh callbacks: host-key policy only.
pub struct ClientHandler {
    host: ResolvedHost,
    keys: HostKeys,
    outcome: KeyOutcome,
    phase: Arc<AtomicU8>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        self.phase.store(1, Ordering::SeqCst);
        let result = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.keys.verify(&self.host, key),
            PublicKeyOrCertificate::Certificate(c) => {
                // Host certificates are not supported: judge the bare key.
                self.keys.verify(
                    &self.host,
                    &russh::keys::PublicKey::from(c.public_key().clone()),
                )
            }
        };
        let ok = result.is_ok();
        if let Ok(mut g) = self.outcome.lock() {
            *g = Some(result);
        }
        Ok(ok)
    }
}

/// An authenticated session.
pub struct Session {
    alias: String,
    handle: Handle<ClientHandler>,
    /// Jump sessions this one runs through; kept alive with it.
    hops: Vec<Session>,
    /// The `ProxyCommand` child, killed on drop.
    _proxy_child: Option<tokio::process::Child>,
    host_key: Verdict,
    auth_with: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("alias", &self.alias)
            .field("hops", &self.hops.len())
            .field("host_key", &self.host_key)
            .field("auth_with", &self.auth_with)
            .finish()
    }
}

fn keepalive_of(host: &ResolvedHost) -> (Option<Duration>, usize) {
    let interval = if host.server_alive_interval.is_zero() {
        DEFAULT_SERVER_ALIVE_INTERVAL
    } else {
        host.server_alive_interval
    };
    // russh fails after `max` unanswered timer expiries *plus one*; OpenSSH
    // documents interval × count, so ask for count - 1 (at least 1).
    let max = host.server_alive_count_max.saturating_sub(1).max(1) as usize;
    (Some(interval), max)
}

/// Host-key algorithms to offer: the types already recorded for this host
/// first (so a known host is verified against its recorded key, as OpenSSH
/// does), then the rest.
fn preferred_for(keys: &HostKeys) -> Preferred {
    let known = keys.recorded_algorithms();
    let default = Preferred::default();
    let mut keys: Vec<Algorithm> = Vec::new();
    for k in &known {
        for d in default.key.iter() {
            let same = d == k || (d.clone().is_rsa() && k.clone().is_rsa());
            if same && !keys.contains(d) {
                keys.push(d.clone());
            }
        }
    }
    for d in default.key.iter() {
        if !keys.contains(d) {
            keys.push(d.clone());
        }
    }
    Preferred {
        key: Cow::Owned(keys),
        ..default
    }
}

/// The largest packet the server may send us on a channel. The session's read
/// buffer grows to the largest packet it has read and keeps that size, once
/// per host: 8 KiB instead of russh's 32 KiB keeps a watched host ~21 KiB
/// smaller on the witness (measured at 200 hosts) (a probe's connect burst just comes in more packets).
const MAX_PACKET: u32 = 8 * 1024;

fn client_config(host: &ResolvedHost, keys: &HostKeys) -> Arc<client::Config> {
    let (keepalive_interval, keepalive_max) = keepalive_of(host);
    Arc::new(client::Config {
        nodelay: true,
        maximum_packet_size: MAX_PACKET,
        keepalive_interval,
        keepalive_max,
        inactivity_timeout: None,
        preferred: preferred_for(keys),
        ..Default::default()
    })
}

fn addr_of(host: &ResolvedHost) -> String {
    if host.hostname.contains(':') {
        format!("[{}]:{}", host.hostname, host.port)
    } else {
        format!("{}:{}", host.hostname, host.port)
    }
}

/// Connect to `host` and authenticate. `resolver` resolves `ProxyJump` hops.
pub async fn connect(host: &ResolvedHost, resolver: Resolver<'_>) -> Result<Session, SshError> {
    connect_depth(host, resolver, 0).await
}

fn connect_depth<'a>(
    host: &'a ResolvedHost,
    resolver: Resolver<'a>,
    depth: usize,
) -> Pin<Box<dyn Future<Output = Result<Session, SshError>> + Send + 'a>> {
    Box::pin(async move {
        if host.alias.starts_with('-') || host.hostname.starts_with('-') {
            return Err(SshError::BadAlias(host.alias.clone()));
        }
        let origin = format!("the settings for '{}'", host.alias);
        let bad = |e: names::BadName| SshError::Resolve {
            alias: host.alias.clone(),
            reason: e.to_string(),
        };
        names::check(NameKind::Alias, &host.alias, &origin).map_err(bad)?;
        names::check(NameKind::HostName, &host.hostname, &origin).map_err(bad)?;
        if host.proxy_jump.is_empty() {
            return connect_via(host, None).await;
        }
        if depth >= MAX_JUMP_DEPTH {
            return Err(SshError::Resolve {
                alias: host.alias.clone(),
                reason: format!(
                    "ProxyJump nests deeper than {MAX_JUMP_DEPTH} hops; check for a loop"
                ),
            });
        }
        // Resolve every hop; the first is reached with its own settings
        // (including its own ProxyJump), the rest through the previous one.
        let mut hops: Vec<ResolvedHost> = Vec::new();
        for spec in &host.proxy_jump {
            let hop = proxy::parse_hop(spec).ok_or_else(|| SshError::Resolve {
                alias: host.alias.clone(),
                reason: format!("ProxyJump hop '{spec}' is not '[user@]host[:port]'"),
            })?;
            let origin = format!("ProxyJump '{spec}'");
            names::check(NameKind::Alias, &hop.host, &origin).map_err(bad)?;
            if let Some(u) = &hop.user {
                names::check(NameKind::User, u, &origin).map_err(bad)?;
            }
            let mut r = resolver(&hop.host).map_err(|e| SshError::Hop {
                hop: spec.clone(),
                inner: Box::new(e),
            })?;
            if let Some(u) = hop.user {
                r.user = u;
            }
            if let Some(p) = hop.port {
                r.port = p;
            }
            hops.push(r);
        }
        let mut chain: Vec<Session> = Vec::new();
        for (i, hop) in hops.iter().enumerate() {
            let spec = host.proxy_jump.get(i).cloned().unwrap_or_default();
            let wrap = |e: SshError| SshError::Hop {
                hop: spec.clone(),
                inner: Box::new(e),
            };
            let s = match chain.pop() {
                None => connect_depth(hop, resolver, depth + 1)
                    .await
                    .map_err(wrap)?,
                Some(prev) => {
                    let mut hop = hop.clone();
                    hop.proxy_jump.clear();
                    hop.proxy_command = None;
                    connect_via(&hop, Some(prev)).await.map_err(wrap)?
                }
            };
            chain.push(s);
        }
        connect_via(host, chain.pop()).await
    })
}

/// Connect to `host` directly, or through `via` (an authenticated jump session).
async fn connect_via(host: &ResolvedHost, via: Option<Session>) -> Result<Session, SshError> {
    let secs = host.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let phase = Arc::new(AtomicU8::new(0));
    let fut = connect_inner(host, via, phase.clone());
    match tokio::time::timeout(secs, fut).await {
        Ok(r) => r,
        Err(_) => Err(SshError::Timeout {
            alias: host.alias.clone(),
            addr: addr_of(host),
            secs: secs.as_secs(),
            phase: match Step::from_u8(phase.load(Ordering::SeqCst)) {
                Step::Connect => "connect/banner/key exchange",
                Step::HostKey => "host-key check",
                _ => "authentication",
            },
        }),
    }
}

async fn connect_inner(
    host: &ResolvedHost,
    via: Option<Session>,
    phase: Arc<AtomicU8>,
) -> Result<Session, SshError> {
    let alias = host.alias.clone();
    // Read known_hosts (and RevokedHostKeys) before connecting: a file that
    // cannot be read refuses the connection.
    let keys = HostKeys::load(host).map_err(|e| SshError::HostKey {
        alias: alias.clone(),
        source: Box::new(e),
    })?;
    let config = client_config(host, &keys);
    let outcome: KeyOutcome = Arc::new(Mutex::new(None));
    let handler = ClientHandler {
        host: host.clone(),
        keys,
        outcome: outcome.clone(),
        phase: phase.clone(),
    };
    let mut proxy_child = None;
    let mut hops = Vec::new();
    let result = if let Some(jump) = via {
        let ch = jump
            .handle
            .channel_open_direct_tcpip(host.hostname.clone(), u32::from(host.port), "127.0.0.1", 0)
            .await
            .map_err(|e| SshError::Tcp {
                alias: alias.clone(),
                addr: addr_of(host),
                reason: format!(
                    "jump host '{}' could not open a channel to it: {e}",
                    jump.alias
                ),
            })?;
        hops.push(jump);
        client::connect_stream(config, ch.into_stream(), handler).await
    } else if let Some(expanded) =
        super::config::proxy_command_line(host).map_err(|e| SshError::Proxy {
            alias: alias.clone(),
            reason: e.to_string(),
        })?
    {
        let (child, stream) =
            proxy::spawn_proxy_command(&expanded).map_err(|e| SshError::Proxy {
                alias: alias.clone(),
                reason: format!("cannot start '{expanded}': {e}"),
            })?;
        proxy_child = Some(child);
        client::connect_stream(config, stream, handler).await
    } else {
        let tcp = tokio::net::TcpStream::connect((host.hostname.as_str(), host.port))
            .await
            .map_err(|e| SshError::Tcp {
                alias: alias.clone(),
                addr: addr_of(host),
                reason: e.to_string(),
            })?;
        let _ = tcp.set_nodelay(true);
        client::connect_stream(config, tcp, handler).await
    };
    let key_result = outcome.lock().ok().and_then(|mut g| g.take());
    let (mut handle, host_key) = match (result, key_result) {
        (_, Some(Err(e))) => {
            return Err(SshError::HostKey {
                alias,
                source: Box::new(e),
            })
        }
        (Ok(h), Some(Ok(v))) => (h, v),
        (Ok(_), None) => {
            return Err(SshError::Handshake {
                alias,
                reason: "the server's host key was never checked".into(),
            })
        }
        (Err(e), _) => {
            return Err(SshError::Handshake {
                alias,
                reason: e.to_string(),
            })
        }
    };
    phase.store(2, Ordering::SeqCst);
    let auth_with = auth::authenticate(&mut handle, host)
        .await
        .map_err(|e| SshError::Auth {
            alias: alias.clone(),
            source: e,
        })?;
    Ok(Session {
        alias,
        handle,
        hops,
        _proxy_child: proxy_child,
        host_key,
        auth_with,
    })
}

impl Session {
    /// The alias this session was opened for.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// What the host-key policy decided.
    pub fn host_key(&self) -> &Verdict {
        &self.host_key
    }

    /// Which key authenticated us (`agent key '…'` / `key file '…'`).
    pub fn authenticated_with(&self) -> &str {
        &self.auth_with
    }

    /// False once the transport is gone (EOF, error, or keepalive unanswered),
    /// here or on any jump host it runs through.
    pub fn is_alive(&self) -> bool {
        !self.handle.is_closed() && self.hops.iter().all(Session::is_alive)
    }

    async fn open_channel(&self) -> Result<Channel<Msg>, SshError> {
        if !self.is_alive() {
            return Err(SshError::Closed {
                alias: self.alias.clone(),
            });
        }
        self.handle
            .channel_open_session()
            .await
            .map_err(|e| SshError::Channel {
                alias: self.alias.clone(),
                reason: e.to_string(),
            })
    }

    /// Open a channel and start `cmd` on it.
    async fn start(&self, cmd: &str) -> Result<Channel<Msg>, SshError> {
        let ch = self.open_channel().await?;
        ch.exec(true, cmd.as_bytes())
            .await
            .map_err(|e| SshError::Channel {
                alias: self.alias.clone(),
                reason: e.to_string(),
            })?;
        Ok(ch)
    }

    /// `fut`, or [`SshError::Deadline`] for `cmd` once `deadline` has passed.
    async fn within<T>(
        &self,
        cmd: &str,
        deadline: Duration,
        fut: impl std::future::Future<Output = Result<T, SshError>>,
    ) -> Result<T, SshError> {
        tokio::time::timeout(deadline, fut)
            .await
            .unwrap_or_else(|_| {
                Err(SshError::Deadline {
                    alias: self.alias.clone(),
                    cmd: cmd.to_string(),
                    secs: deadline.as_secs_f64(),
                })
            })
    }

    /// Run `argv` (quoted for the remote shell) and collect its output, all
    /// within `deadline`. Each of stdout and stderr may bring at most
    /// [`MAX_EXEC_OUTPUT`] bytes; past that the channel is closed and the
    /// result is [`SshError::OutputTooLarge`].
    pub async fn exec(&self, argv: &[&str], deadline: Duration) -> Result<Output, SshError> {
        let cmd = command_line(argv);
        let run = async {
            let mut ch = self.start(&cmd).await?;
            let out = collect(&mut ch, &self.alias, &cmd).await?;
            if out.status.is_none() && out.signal.is_none() && !self.is_alive() {
                return Err(SshError::Closed {
                    alias: self.alias.clone(),
                });
            }
            Ok(out)
        };
        self.within(&cmd, deadline, run).await
    }

    /// Start `argv` and return a stream of its output (for long-lived probes).
    /// Opening is bounded by `deadline`; reading is the caller's to bound.
    pub async fn open_exec_stream(
        &self,
        argv: &[&str],
        deadline: Duration,
    ) -> Result<ExecStream, SshError> {
        let cmd = command_line(argv);
        let open = async {
            let channel = self.start(&cmd).await?;
            Ok(ExecStream::new(channel))
        };
        self.within(&cmd, deadline, open).await
    }

    /// Say goodbye to the server (bounded to 2 s), then drop the jump chain.
    pub async fn close(self) {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            self.handle.disconnect(Disconnect::ByApplication, "", "en"),
        )
        .await;
        for hop in self.hops {
            Box::pin(hop.close()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh::StrictHostKeyChecking;

    fn host(interval: u64, count: u32) -> ResolvedHost {
        ResolvedHost {
            alias: "a".into(),
            hostname: "h".into(),
            port: 22,
            user: "u".into(),
            identity_files: vec![],
            identities_only: false,
            identity_agent: None,
            certificate_files: vec![],
            proxy_jump: vec![],
            proxy_command: None,
            strict_host_key_checking: StrictHostKeyChecking::Yes,
            user_known_hosts_files: vec![],
            global_known_hosts_files: vec![],
            hash_known_hosts: false,
            host_key_alias: None,
            connect_timeout: None,
            server_alive_interval: Duration::from_secs(interval),
            server_alive_count_max: count,
            batch_mode: true,
            revoked_host_keys: None,
        }
    }

    #[test]
    fn keepalive_defaults_and_count_mapping() {
        // Unset (0) gets our 15 s; russh's max is count - 1 so that the
        // session dies after interval × count of silence.
        assert_eq!(
            keepalive_of(&host(0, 3)),
            (Some(Duration::from_secs(15)), 2)
        );
        assert_eq!(keepalive_of(&host(5, 4)), (Some(Duration::from_secs(5)), 3));
        assert_eq!(keepalive_of(&host(5, 1)), (Some(Duration::from_secs(5)), 1));
    }

    #[test]
    fn error_steps_for_doctor() {
        let e = SshError::Timeout {
            alias: "a".into(),
            addr: "h:22".into(),
            secs: 10,
            phase: "authentication",
        };
        assert_eq!(e.step(), Step::Auth);
        assert_eq!(SshError::BadAlias("-x".into()).step(), Step::Resolve);
    }
}
