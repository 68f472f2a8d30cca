//! Public-key authentication on an established transport: ssh-agent identities
//! first (`IdentityAgent` / `SSH_AUTH_SOCK`), then identity files (OpenSSH's
//! default list when none are configured). RSA signs with SHA-2 when the
//! server allows it. Never prompts: a passphrase-protected key that no agent
//! holds is an error telling the user to `ssh-add` it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::agent::AgentIdentity;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey};

use super::resolved::ResolvedHost;

/// Why authentication did not succeed.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AuthError {
    #[error("key '{path}' is protected by a passphrase and no ssh-agent holds it; add it with 'ssh-add {path}' (agent-runner never prompts)")]
    PassphraseNoAgent { path: String },
    #[error("authentication as '{user}' failed: the server accepted none of the keys tried ({tried}); add your public key to the remote '~/.ssh/authorized_keys' or set IdentityFile")]
    Rejected { user: String, tried: String },
    #[error("authentication as '{user}' failed: no key to offer ({detail}); start ssh-agent and 'ssh-add' a key, or set IdentityFile")]
    NoKeys { user: String, detail: String },
    #[error("authentication transport error: {0}")]
    Transport(String),
}

/// `~/.ssh`, the home being `$HOME` first ([`crate::sys::dirs::home`]; see
/// the module docs of `ssh`): tests and users can point it elsewhere.
pub fn user_ssh_dir() -> Option<PathBuf> {
    crate::sys::dirs::home().map(|h| h.join(".ssh"))
}

/// OpenSSH's default identity files, in its order.
pub fn default_identity_files() -> Vec<PathBuf> {
    user_ssh_dir()
        .map(|d| {
            [
                "id_rsa",
                "id_ecdsa",
                "id_ecdsa_sk",
                "id_ed25519",
                "id_ed25519_sk",
            ]
            .iter()
            .map(|n| d.join(n))
            .collect()
        })
        .unwrap_or_default()
}

/// The agent socket to use: `IdentityAgent none` disables, the literal
/// `SSH_AUTH_SOCK` (or unset) means the environment variable, anything else
/// is a path (`~/` expanded).
pub fn agent_socket(host: &ResolvedHost) -> Option<PathBuf> {
    let from_env = || {
        std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    };
    match host.identity_agent.as_deref() {
        None => from_env(),
        Some(v) if v.eq_ignore_ascii_case("none") => None,
        Some("SSH_AUTH_SOCK") | Some("$SSH_AUTH_SOCK") => from_env(),
        Some(p) => Some(expand_tilde(p)),
    }
}

fn expand_tilde(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(h) = crate::sys::dirs::home() {
            return h.join(rest);
        }
    }
    PathBuf::from(p)
}

/// The identity files to try: the configured ones, or OpenSSH's defaults.
pub fn identity_files(host: &ResolvedHost) -> Vec<PathBuf> {
    if host.identity_files.is_empty() {
        default_identity_files()
    } else {
        host.identity_files.clone()
    }
}

/// The public half of an identity file: `FILE.pub` if present, else derived
/// from an unencrypted private key.
fn public_of(path: &Path) -> Option<PublicKey> {
    let mut pubpath = path.as_os_str().to_owned();
    pubpath.push(".pub");
    if let Ok(text) = std::fs::read_to_string(PathBuf::from(pubpath)) {
        if let Ok(k) = PublicKey::from_openssh(text.trim()) {
            return Some(k);
        }
    }
    russh::keys::load_secret_key(path, None)
        .ok()
        .map(|k| k.public_key().clone())
}

/// The RSA signature hash to use: the best the server announced
/// (rsa-sha2-512, then -256), SHA-256 if it announced nothing. Cached.
async fn rsa_hash_for<H: russh::client::Handler>(
    handle: &Handle<H>,
    cache: &mut Option<Option<HashAlg>>,
) -> Option<HashAlg> {
    if let Some(h) = cache {
        return *h;
    }
    let h = match handle.best_supported_rsa_hash().await {
        Ok(Some(h)) => h,
        _ => Some(HashAlg::Sha256),
    };
    *cache = Some(h);
    h
}

/// Authenticate `handle` as `host.user`. Returns a short description of the
/// key that worked (for doctor output).
pub async fn authenticate<H: russh::client::Handler>(
    handle: &mut Handle<H>,
    host: &ResolvedHost,
) -> Result<String, AuthError> {
    let user = host.user.clone();
    let files: Vec<PathBuf> = identity_files(host);
    let mut tried: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // Asked only when an RSA key comes up (it may wait up to 1 s for the
    // server's EXT_INFO).
    let mut rsa_hash: Option<Option<HashAlg>> = None;

    // 1. Agent identities.
    let mut agent_keys: Vec<PublicKey> = Vec::new();
    if let Some(sock) = agent_socket(host) {
        match AgentClient::connect_uds(&sock).await {
            Ok(mut agent) => match agent.request_identities().await {
                Ok(ids) => {
                    let allowed: Option<Vec<PublicKey>> = host
                        .identities_only
                        .then(|| files.iter().filter_map(|f| public_of(f)).collect());
                    for id in ids {
                        let AgentIdentity::PublicKey { key, comment } = id else {
                            continue;
                        };
                        if let Some(allowed) = &allowed {
                            if !allowed.iter().any(|a| a.key_data() == key.key_data()) {
                                continue;
                            }
                        }
                        agent_keys.push(key.clone());
                        let hash = if key.algorithm().is_rsa() {
                            rsa_hash_for(handle, &mut rsa_hash).await
                        } else {
                            None
                        };
                        let label = format!("agent key '{comment}'");
                        tried.push(label.clone());
                        match handle
                            .authenticate_publickey_with(user.clone(), key, hash, &mut agent)
                            .await
                        {
                            Ok(r) if r.success() => return Ok(label),
                            Ok(_) => {}
                            Err(e) => notes.push(format!("agent could not sign: {e}")),
                        }
                    }
                }
                Err(e) => notes.push(format!(
                    "agent at '{}' did not list keys: {e}",
                    sock.display()
                )),
            },
            Err(e) => notes.push(format!("agent at '{}' unreachable: {e}", sock.display())),
        }
    } else {
        notes.push("no agent".into());
    }

    // 2. Identity files.
    let mut encrypted: Option<PathBuf> = None;
    for path in &files {
        if !path.exists() {
            continue;
        }
        let key: PrivateKey = match russh::keys::load_secret_key(path, None) {
            Ok(k) => k,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                encrypted.get_or_insert_with(|| path.clone());
                continue;
            }
            Err(e) => {
                notes.push(format!("'{}' unreadable: {e}", path.display()));
                continue;
            }
        };
        if agent_keys
            .iter()
            .any(|k| k.key_data() == key.public_key().key_data())
        {
            continue; // already offered through the agent
        }
        let label = format!("key file '{}'", path.display());
        tried.push(label.clone());
        let hash = if key.algorithm().is_rsa() {
            rsa_hash_for(handle, &mut rsa_hash).await
        } else {
            None
        };
        match handle
            .authenticate_publickey(
                user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
        {
            Ok(r) if r.success() => return Ok(label),
            Ok(_) => {}
            Err(e) => return Err(AuthError::Transport(e.to_string())),
        }
    }

    if let Some(p) = encrypted {
        return Err(AuthError::PassphraseNoAgent {
            path: p.display().to_string(),
        });
    }
    if tried.is_empty() {
        let mut detail = notes.join("; ");
        if !detail.is_empty() {
            detail.push_str("; ");
        }
        detail.push_str(&format!(
            "no identity file among {}",
            files
                .iter()
                .map(|f| format!("'{}'", f.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Err(AuthError::NoKeys { user, detail });
    }
    Err(AuthError::Rejected {
        user,
        tried: tried.join(", "),
    })
}
