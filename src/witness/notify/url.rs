//! A webhook's URL: parsed strictly (only `http://` and `https://`, no
//! control characters or blanks, a port that fits), and shown only without
//! what may be secret — its credentials, path and query
//! ([`WebhookUrl::redacted`]): a Slack hook's path and an ntfy topic are
//! the secret.

use std::fmt;

/// Why a webhook URL was refused. The messages never quote the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("a webhook URL must not contain blanks or control characters")]
    Blank,
    #[error("a webhook URL must start with http:// or https://")]
    Scheme,
    #[error("a webhook URL's IPv6 address lacks its ']'")]
    Ipv6Unclosed,
    #[error("a webhook URL's IPv6 address does not parse")]
    Ipv6,
    #[error("junk after a webhook URL's ']'")]
    Ipv6Junk,
    #[error("a webhook URL needs a host")]
    NoHost,
    #[error("a webhook URL's host may hold only letters, digits and '-._'")]
    HostChars,
    #[error("a webhook URL's port is not a number from 1 to 65535")]
    Port,
}

/// A parsed `http://` or `https://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    pub tls: bool,
    /// Host name or address (an IPv6 address without its brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/` (the fragment is dropped).
    pub path_query: String,
    /// `user:password@` (percent-decoded), sent as Basic authentication.
    pub userinfo: Option<(String, String)>,
}

/// Never print a URL's secrets, not even through `{:?}`.
impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

fn pct_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl WebhookUrl {
    /// Parse `s`. Errors never quote the URL (it may hold a token).
    pub fn parse(s: &str) -> Result<WebhookUrl, UrlError> {
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(UrlError::Blank);
        }
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("https://") {
            (true, &s[8..])
        } else if lower.starts_with("http://") {
            (false, &s[7..])
        } else {
            return Err(UrlError::Scheme);
        };
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => {
                let (user, pass) = u.split_once(':').unwrap_or((u, ""));
                (Some((pct_decode(user), pct_decode(pass))), h)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(UrlError::Ipv6Unclosed)?;
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(UrlError::Ipv6);
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(UrlError::Ipv6Junk)?),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        if !host.contains(':')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(UrlError::HostChars);
        }
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or(UrlError::Port)?,
        };
        let path_query = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(WebhookUrl {
            tls,
            host,
            port,
            path_query,
            userinfo,
        })
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// `host` or `host:port` (the port only when it is not the scheme's),
    /// an IPv6 address in brackets: what the `Host:` header says.
    pub fn authority(&self) -> String {
        let h = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            h
        } else {
            format!("{h}:{}", self.port)
        }
    }

    /// What may be shown: scheme, host and port; a path or query is
    /// replaced by `…`, credentials are left out.
    pub fn redacted(&self) -> String {
        let tail = if self.path_query == "/" { "/" } else { "/…" };
        format!("{}://{}{tail}", self.scheme(), self.authority())
    }

    /// The same URL with `suffix` appended to its path unless the path
    /// already ends with it (Alertmanager's `/api/v2/alerts`).
    pub fn with_path_suffix(&self, suffix: &str) -> WebhookUrl {
        let (path, query) = match self.path_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (self.path_query.as_str(), None),
        };
        let mut u = self.clone();
        if !path.trim_end_matches('/').ends_with(suffix) {
            let mut p = format!("{}{suffix}", path.trim_end_matches('/'));
            if let Some(q) = query {
                p.push('?');
                p.push_str(q);
            }
            u.path_query = p;
        }
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts() {
        let u =
            WebhookUrl::parse("https://bob:s%3Acret@hooks.example:8443/services/T1/B2?token=x#f")
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(u.tls);
        assert_eq!(u.host, "hooks.example");
        assert_eq!(u.port, 8443);
        assert_eq!(u.path_query, "/services/T1/B2?token=x");
        assert_eq!(u.userinfo, Some(("bob".into(), "s:cret".into())));
        assert_eq!(u.redacted(), "https://hooks.example:8443/…");
        let dbg = format!("{u:?}");
        assert!(
            !dbg.contains("cret") && !dbg.contains("token") && !dbg.contains("T1"),
            "{dbg}"
        );

        let u = WebhookUrl::parse("http://127.0.0.1?x=1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.port, u.path_query.as_str()), (80, "/?x=1"));
        assert_eq!(u.redacted(), "http://127.0.0.1/…");
        let u = WebhookUrl::parse("HTTP://[::1]:9093").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.host.as_str(), u.port), ("::1", 9093));
        assert_eq!(u.redacted(), "http://[::1]:9093/");
        assert_eq!(
            u.with_path_suffix("/api/v2/alerts").path_query,
            "/api/v2/alerts"
        );
        let u = WebhookUrl::parse("https://am.example/prefix/api/v2/alerts/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            u.with_path_suffix("/api/v2/alerts").path_query,
            "/prefix/api/v2/alerts/"
        );
    }

    #[test]
    fn refuses_without_quoting_the_url() {
        for bad in [
            "ftp://x/secret",
            "https://",
            "https://a b/secret",
            "https://host/sec\r\nX: y",
            "https://host:0/secret",
            "https://host:99999/secret",
            "https://host:x/secret",
            "https://[::1/secret",
            "https://ho$t/secret",
            "secret",
        ] {
            let e = WebhookUrl::parse(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(!e.is_empty(), "{bad:?} accepted");
            assert!(!e.contains("secret"), "{bad:?}: {e}");
        }
    }
}
