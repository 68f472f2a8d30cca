//! Token expansion as OpenSSH does it: `%x` percent tokens, `${VAR}`
//! environment references and `~` / `~user` at the start of a path, plus the
//! `%C` connection hash.
//!
//! Pure string work: no config parsing and no file access here (except the
//! passwd lookup `~user` needs).

use sha1::{Digest, Sha1};

/// Why an expansion failed (the caller adds which directive and value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("unknown token '%{0}'")]
    UnknownToken(char),
    #[error("'%' at the end of the value (write '%%' for a literal '%')")]
    TrailingPercent,
    #[error("environment variable '${{{0}}}' has no value")]
    UnsetVar(String),
    #[error("unterminated '${{' reference")]
    UnterminatedVar,
    #[error("unknown user in '~{0}'")]
    UnknownUser(String),
}

/// Expand `%x` tokens from `keys` (and `%%`), and `${VAR}` when `dollar` is
/// set, in one left-to-right pass like OpenSSH's `percent_dollar_expand`.
pub fn expand(s: &str, keys: &[(char, &str)], dollar: bool) -> Result<String, TokenError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if dollar && c == '$' && chars.peek() == Some(&'{') {
            chars.next();
            let mut name = String::new();
            let mut closed = false;
            for n in chars.by_ref() {
                if n == '}' {
                    closed = true;
                    break;
                }
                name.push(n);
            }
            if !closed {
                return Err(TokenError::UnterminatedVar);
            }
            match std::env::var(&name) {
                Ok(v) if !v.is_empty() => out.push_str(&v),
                _ => return Err(TokenError::UnsetVar(name)),
            }
            continue;
        }
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => return Err(TokenError::TrailingPercent),
            Some('%') => out.push('%'),
            Some(k) => match keys.iter().find(|(key, _)| *key == k) {
                Some((_, v)) => out.push_str(v),
                None => return Err(TokenError::UnknownToken(k)),
            },
        }
    }
    Ok(out)
}

/// Expand a leading `~` (the given home) or `~user` (from the passwd
/// database), as OpenSSH's `tilde_expand_filename`.
pub fn tilde(path: &str, home: &str) -> Result<String, TokenError> {
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.to_string());
    };
    let (user, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let base = if user.is_empty() {
        home.to_string()
    } else {
        match crate::sys::dirs::home_of(user) {
            Some(dir) => dir.to_string_lossy().into_owned(),
            None => return Err(TokenError::UnknownUser(user.to_string())),
        }
    };
    // Like OpenSSH: home, one '/', then the rest without leading slashes
    // (so `~` alone gives "HOME/").
    let tail = tail.trim_start_matches('/');
    let slash = if base.ends_with('/') { "" } else { "/" };
    Ok(format!("{base}{slash}{tail}"))
}

/// OpenSSH 9.2's `%C`: hex SHA-1 of local hostname, remote host, port, user.
pub fn connection_hash(local_host: &str, host: &str, port: &str, user: &str) -> String {
    let mut h = Sha1::new();
    for part in [local_host, host, port, user] {
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The values behind OpenSSH's "default client" token set
/// (`%C %L %i %k %l %n %p %d %h %r %u`).
#[derive(Debug, Clone)]
pub struct ClientTokens {
    pub conn_hash: String,
    pub short_local_host: String,
    pub uid: String,
    pub key_alias: String,
    pub local_host: String,
    pub host_arg: String,
    pub port: String,
    pub home: String,
    pub remote_host: String,
    pub remote_user: String,
    pub local_user: String,
}

impl ClientTokens {
    /// The key/value table for [`expand`].
    pub fn keys(&self) -> [(char, &str); 11] {
        [
            ('C', self.conn_hash.as_str()),
            ('L', self.short_local_host.as_str()),
            ('i', self.uid.as_str()),
            ('k', self.key_alias.as_str()),
            ('l', self.local_host.as_str()),
            ('n', self.host_arg.as_str()),
            ('p', self.port.as_str()),
            ('d', self.home.as_str()),
            ('h', self.remote_host.as_str()),
            ('r', self.remote_user.as_str()),
            ('u', self.local_user.as_str()),
        ]
    }

    /// `~` then `%`/`${}` expansion, as ssh does for UserKnownHostsFile,
    /// IdentityAgent, IdentityFile and CertificateFile.
    pub fn expand_path(&self, s: &str) -> Result<String, TokenError> {
        let t = tilde(s, &self.home)?;
        expand(&t, &self.keys(), true)
    }
}

/// The local host name (`%l`), as `gethostname(2)` gives it.
pub fn local_hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_tokens_and_escapes() {
        let keys = [('h', "host"), ('p', "22")];
        assert_eq!(expand("%h:%p %%", &keys, false).unwrap(), "host:22 %");
        assert_eq!(
            expand("%x", &keys, false),
            Err(TokenError::UnknownToken('x'))
        );
        assert_eq!(expand("a%", &keys, false), Err(TokenError::TrailingPercent));
        // Without `dollar`, `${X}` is literal.
        assert_eq!(expand("${X}", &keys, false).unwrap(), "${X}");
    }

    #[test]
    fn dollar_refs() {
        std::env::set_var("AR_TOKENS_TEST_VAR", "v");
        assert_eq!(expand("a${AR_TOKENS_TEST_VAR}b", &[], true).unwrap(), "avb");
        assert_eq!(
            expand("$AR_TOKENS_TEST_VAR", &[], true).unwrap(),
            "$AR_TOKENS_TEST_VAR"
        );
        assert_eq!(
            expand("${AR_TOKENS_TEST_UNSET_X}", &[], true),
            Err(TokenError::UnsetVar("AR_TOKENS_TEST_UNSET_X".into()))
        );
        assert_eq!(expand("${X", &[], true), Err(TokenError::UnterminatedVar));
    }

    #[test]
    fn tilde_forms() {
        assert_eq!(tilde("~/a", "/h").unwrap(), "/h/a");
        assert_eq!(tilde("~", "/h").unwrap(), "/h/");
        assert_eq!(tilde("/x/~", "/h").unwrap(), "/x/~");
        assert_eq!(tilde("~root/a", "/h").unwrap(), "/root/a");
        assert!(tilde("~no-such-user-xyz/a", "/h").is_err());
    }

    #[test]
    fn conn_hash_matches_openssh_92() {
        // Value printed by `ssh -G` 9.2 for thishost=vm host=x.example.% port=2200 user=bob.
        assert_eq!(
            connection_hash("vm", "x.example.%", "2200", "bob"),
            "9c87c492850ccdd2e9266891b3e0cf538f5a9f3f"
        );
    }
}
