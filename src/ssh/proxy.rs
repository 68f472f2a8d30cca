//! Transports other than a direct TCP connection: a `ProxyCommand` child's
//! stdio (token expansion is `config::proxy_command_line`'s), and the parsing
//! of `ProxyJump` hop specs. Opening direct-tcpip
//! channels through a hop lives in `session`; this module runs no SSH.

use tokio::io::Join;
use tokio::process::{Child, ChildStdin, ChildStdout};

/// One `ProxyJump` hop as written: `[user@]host[:port]`, or an
/// `ssh://[user@]host[:port]` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopSpec {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Parse one hop, as `ssh_config`'s `ProxyJump` does (one parser for both).
/// Returns None for an empty or malformed spec.
pub fn parse_hop(spec: &str) -> Option<HopSpec> {
    let (user, host, port) = super::config::parse_hop(spec.trim())?;
    Some(HopSpec {
        user,
        host,
        port: u16::try_from(port).ok(),
    })
}

/// The byte stream of a running `ProxyCommand`: its stdout to read, its
/// stdin to write. The child is killed when the session drops it.
pub type ProxyStream = Join<ChildStdout, ChildStdin>;

/// Start `ProxyCommand` (already expanded by `config::proxy_command_line`) under `/bin/sh -c 'exec CMD'`.
pub fn spawn_proxy_command(expanded: &str) -> std::io::Result<(Child, ProxyStream)> {
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("exec {expanded}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(std::io::Error::other("proxy command has no stdio pipes"));
    };
    Ok((child, tokio::io::join(stdout, stdin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_parse() {
        assert_eq!(
            parse_hop("me@jump:2222"),
            Some(HopSpec {
                user: Some("me".into()),
                host: "jump".into(),
                port: Some(2222)
            })
        );
        assert_eq!(
            parse_hop("jump"),
            Some(HopSpec {
                user: None,
                host: "jump".into(),
                port: None
            })
        );
        assert_eq!(
            parse_hop("ssh://u@[::1]:22"),
            Some(HopSpec {
                user: Some("u".into()),
                host: "::1".into(),
                port: Some(22)
            })
        );
        assert_eq!(parse_hop("jump:notaport"), None);
        assert_eq!(parse_hop("ssh://jump/path"), None);
        assert_eq!(parse_hop("@jump"), None);
        assert_eq!(parse_hop(""), None);
    }
}
