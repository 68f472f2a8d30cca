//! `RevokedHostKeys FILE`: host keys that are refused for every host. Like
//! OpenSSH, the file is a text list of public keys (`type base64 [comment]`,
//! `#` comments and blank lines allowed) and a file that cannot be read
//! refuses every host. Unlike OpenSSH, a binary KRL (`ssh-keygen -k`) is not
//! read: it is refused with an error saying to list the keys as text, so a
//! revocation is never silently ignored.

use std::path::{Path, PathBuf};

use russh::keys::PublicKey;

use super::file::{read_capped, trim_bytes};

/// The magic at the start of an OpenSSH Key Revocation List.
const KRL_MAGIC: &[u8] = b"SSHKRL\n\0";

/// Why a RevokedHostKeys file cannot be used (the caller refuses the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub file: PathBuf,
    pub reason: String,
}

/// The keys listed in one RevokedHostKeys file.
#[derive(Debug, Clone)]
pub struct RevokedKeys {
    pub file: PathBuf,
    keys: Vec<PublicKey>,
}

impl RevokedKeys {
    /// Read `file`: every non-comment line must be a public key.
    pub fn load(file: &Path) -> Result<RevokedKeys, Unusable> {
        let unusable = |reason: String| Unusable {
            file: file.to_path_buf(),
            reason,
        };
        let bytes = read_capped(file)
            .map_err(unusable)?
            .ok_or_else(|| unusable("it does not exist".into()))?;
        if bytes.starts_with(KRL_MAGIC) {
            return Err(unusable(
                "it is a binary KRL, which agent-runner does not read; list the revoked public keys in it one per line instead".into(),
            ));
        }
        let mut keys = Vec::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = trim_bytes(raw);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            // `type base64`, then a comment of any bytes.
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let key = match (fields.next(), fields.next()) {
                (Some(t), Some(b)) => std::str::from_utf8(&[t, b" ", b].concat())
                    .ok()
                    .and_then(|l| PublicKey::from_openssh(l).ok()),
                _ => None,
            }
            .ok_or_else(|| unusable(format!("line {} is not a public key", i + 1)))?;
            keys.push(key);
        }
        Ok(RevokedKeys {
            file: file.to_path_buf(),
            keys,
        })
    }

    /// Is `key` listed?
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| k.key_data() == key.key_data())
    }
}
