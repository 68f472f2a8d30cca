//! Host-key trust, failing closed: OpenSSH known_hosts files (`file`), the
//! `RevokedHostKeys` list (`revoked`), and the `StrictHostKeyChecking`
//! policy applied to the key a server offers.
//!
//! The files are read before each connection ([`HostKeys::load`]), and the
//! parsed copy is shared while they stay unchanged (`shared`); a file that
//! exists but cannot be read refuses the connection, a line that cannot be
//! used is skipped with a warning. A changed key, a key of a type other than
//! the recorded ones, and a revoked key are refused under every setting.
//! This module does no network I/O and never prompts.

mod file;
mod revoked;
mod shared;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use russh::keys::{Algorithm, HashAlg, PublicKey};

pub use file::{format_line, learn, Decision, Entry, KnownHosts, Marker, MAX_FILE_BYTES};
pub use revoked::RevokedKeys;

use super::resolved::{ResolvedHost, StrictHostKeyChecking};

/// A refusal (or failure) while deciding whether to trust a host key.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum HostKeyError {
    #[error("REMOTE HOST IDENTIFICATION HAS CHANGED for '{name}': the offered {key_type} key {fingerprint} does not match the key recorded in '{file}' line {line}; someone could be intercepting the connection, or the host was reinstalled. If the change is expected, remove the old key with 'ssh-keygen -f \"{file}\" -R \"{name}\"' and connect again")]
    Changed {
        name: String,
        key_type: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("REMOTE HOST IDENTIFICATION HAS CHANGED for '{name}': it offered {offered}, but the keys recorded for it are of type {recorded} ('{file}' line {line}); someone could be intercepting the connection, or the host was reinstalled. If the change is expected, remove the old keys with 'ssh-keygen -f \"{file}\" -R \"{name}\"' and connect again")]
    ChangedType {
        name: String,
        /// `a <type> key SHA256:…`
        offered: String,
        /// The recorded types, comma-separated.
        recorded: String,
        file: String,
        line: usize,
    },
    #[error("host key for '{name}' is not known ({fingerprint}) and StrictHostKeyChecking is '{policy}'; {remedy}")]
    Unknown {
        name: String,
        /// `<type> key SHA256:…`
        fingerprint: String,
        policy: String,
        remedy: String,
    },
    #[error("host key for '{name}' is not known ({fingerprint}) and UserKnownHostsFile is 'none', so it can be neither checked nor recorded; set UserKnownHostsFile to a file (OpenSSH refuses this host too)")]
    NoUserFile { name: String, fingerprint: String },
    #[error("the {key_type} key {fingerprint} offered by '{name}' is marked @revoked in '{file}' line {line}; refusing to connect")]
    Revoked {
        name: String,
        key_type: String,
        fingerprint: String,
        file: String,
        line: usize,
    },
    #[error("the {key_type} key {fingerprint} offered by '{name}' is listed in RevokedHostKeys '{file}'; refusing to connect")]
    RevokedByFile {
        name: String,
        key_type: String,
        fingerprint: String,
        file: String,
    },
    #[error("cannot use RevokedHostKeys '{file}': {reason}; no host is trusted until it is fixed (or the RevokedHostKeys line is removed)")]
    RevokedFile { file: String, reason: String },
    #[error("cannot read known_hosts file '{file}': {reason}; refusing to connect without it (fix the file or its permissions, or drop it from UserKnownHostsFile/GlobalKnownHostsFile)")]
    Read { file: String, reason: String },
    #[error("could not record the host key for '{name}' in '{file}': {reason}; check the directory's permissions")]
    Learn {
        name: String,
        file: String,
        reason: String,
    },
}

/// What the policy did with an acceptable key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The key was already recorded.
    Known,
    /// Unknown, and recorded in this file (`accept-new`).
    Learned(PathBuf),
    /// Unknown, accepted without recording (`StrictHostKeyChecking no`).
    AcceptedUnrecorded,
}

/// The name looked up in known_hosts, lowercased as OpenSSH does:
/// `HostKeyAlias` if set, else `host` for port 22 and `[host]:port` otherwise.
pub fn lookup_name(hostname: &str, port: u16, host_key_alias: Option<&str>) -> String {
    let name = match host_key_alias {
        Some(a) => a.to_string(),
        None if port == 22 => hostname.to_string(),
        None => format!("[{hostname}]:{port}"),
    };
    name.to_ascii_lowercase()
}

/// The known_hosts files to read for `host`: (user files, global files).
/// Empty means none (`UserKnownHostsFile none`); the resolver fills in
/// OpenSSH's defaults when the config names no file.
pub fn files_for(host: &ResolvedHost) -> (Vec<PathBuf>, Vec<PathBuf>) {
    (
        host.user_known_hosts_files.clone(),
        host.global_known_hosts_files.clone(),
    )
}

/// Log `msg` once per process (a reconnecting witness must not repeat it
/// every few seconds); at most a few hundred distinct messages are kept.
fn warn_once(msg: String) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
    let first = match seen.lock() {
        Ok(mut s) if s.len() < 512 => s.insert(msg.clone()),
        Ok(s) => !s.contains(&msg),
        Err(_) => true,
    };
    if first {
        tracing::warn!("{msg}");
    }
}

/// Everything needed to judge the key one host offers, read once per
/// connection before it starts.
#[derive(Debug, Clone)]
pub struct HostKeys {
    /// The lookup name (see [`lookup_name`]).
    pub name: String,
    user: Vec<PathBuf>,
    known: Arc<KnownHosts>,
    revoked: Option<RevokedKeys>,
}

impl HostKeys {
    /// Read `host`'s known_hosts files and its RevokedHostKeys file.
    pub fn load(host: &ResolvedHost) -> Result<HostKeys, HostKeyError> {
        let name = lookup_name(&host.hostname, host.port, host.host_key_alias.as_deref());
        let (user, global) = files_for(host);
        let all: Vec<PathBuf> = user.iter().chain(global.iter()).cloned().collect();
        let (known, fresh) = shared::load(&all)?;
        for (file, line, why) in known.skipped.iter().filter(|_| fresh) {
            warn_once(format!(
                "known_hosts '{}' line {line} skipped: {why}",
                file.display()
            ));
        }
        for e in known.entries.iter().filter(|e| fresh && e.key.is_none()) {
            warn_once(format!(
                "known_hosts '{}' line {}: its '{}' key cannot be read, so it matches no key (the hosts it names still count as having a key of that type)",
                e.file.display(),
                e.line,
                e.key_type
            ));
        }
        let revoked = match &host.revoked_host_keys {
            None => None,
            Some(f) => Some(RevokedKeys::load(f).map_err(|u| HostKeyError::RevokedFile {
                file: u.file.display().to_string(),
                reason: u.reason,
            })?),
        };
        Ok(HostKeys {
            name,
            user,
            known,
            revoked,
        })
    }

    /// Host-key algorithms recorded for this host, to offer first.
    pub fn recorded_algorithms(&self) -> Vec<Algorithm> {
        self.known.known_algorithms(&self.name)
    }

    /// Apply `host`'s `StrictHostKeyChecking` to the `key` it offered.
    pub fn verify(&self, host: &ResolvedHost, key: &PublicKey) -> Result<Verdict, HostKeyError> {
        let name = self.name.clone();
        let key_type = key.algorithm().as_str().to_string();
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        if let Some(r) = self.revoked.as_ref().filter(|r| r.contains(key)) {
            return Err(HostKeyError::RevokedByFile {
                name,
                key_type,
                fingerprint,
                file: r.file.display().to_string(),
            });
        }
        match self.known.check(&name, key) {
            Decision::Known => Ok(Verdict::Known),
            Decision::Revoked { file, line } => Err(HostKeyError::Revoked {
                name,
                key_type,
                fingerprint,
                file: file.display().to_string(),
                line,
            }),
            Decision::Changed { file, line } => Err(HostKeyError::Changed {
                name,
                key_type,
                fingerprint,
                file: file.display().to_string(),
                line,
            }),
            Decision::OtherTypes { types, file, line } => Err(HostKeyError::ChangedType {
                name,
                offered: format!("a {key_type} key {fingerprint}"),
                recorded: types.join(", "),
                file: file.display().to_string(),
                line,
            }),
            Decision::Unknown { cert_authority } => {
                self.unknown(host, key, name, fingerprint, cert_authority)
            }
        }
    }

    /// A key nothing is recorded for: the policy decides.
    fn unknown(
        &self,
        host: &ResolvedHost,
        key: &PublicKey,
        name: String,
        fingerprint: String,
        cert_authority: bool,
    ) -> Result<Verdict, HostKeyError> {
        let key_type = key.algorithm().as_str().to_string();
        let Some(target) = self.user.first() else {
            return Err(HostKeyError::NoUserFile {
                name,
                fingerprint: format!("{key_type} key {fingerprint}"),
            });
        };
        let policy = match host.strict_host_key_checking {
            StrictHostKeyChecking::No => return Ok(Verdict::AcceptedUnrecorded),
            StrictHostKeyChecking::AcceptNew => {
                learn(target, &name, key, host.hash_known_hosts)?;
                return Ok(Verdict::Learned(target.clone()));
            }
            StrictHostKeyChecking::Yes => "yes",
            StrictHostKeyChecking::Ask => "ask",
        };
        let short_type = key_type.strip_prefix("ssh-").unwrap_or(&key_type);
        let short_type = if short_type.starts_with("ecdsa") {
            "ecdsa"
        } else {
            short_type
        };
        let keyscan = format!(
            "ssh-keyscan -p {} -t {} {} >> {}",
            host.port,
            short_type,
            host.hostname,
            target.display()
        );
        let mut note = String::new();
        if cert_authority {
            note.push_str(
                " (a @cert-authority line matches, but host certificates are not supported)",
            );
        }
        if host.host_key_alias.is_some() {
            note.push_str(&format!(
                " (the key is looked up as HostKeyAlias '{name}', so record it under that name)"
            ));
        }
        Err(HostKeyError::Unknown {
            name,
            fingerprint: format!("{key_type} key {fingerprint}"),
            policy: policy.to_string(),
            remedy: format!(
                "check the fingerprint out of band, then trust it with '{keyscan}' or 'ssh -o StrictHostKeyChecking=accept-new {} true'{note}",
                host.alias
            ),
        })
    }
}

/// Read `host`'s files and apply its policy to `key` (see [`HostKeys`]).
pub fn verify(host: &ResolvedHost, key: &PublicKey) -> Result<Verdict, HostKeyError> {
    HostKeys::load(host)?.verify(host, key)
}
