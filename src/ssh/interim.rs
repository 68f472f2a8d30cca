//! TEMPORARY minimal ssh_config reading, used by `doctor --host` until the
//! real resolver (`ssh::config::resolve`) lands: one file, `Host` blocks with
//! `*`/`?`/`!` patterns, first value wins, `key value` / `key=value`. No
//! Include, no Match, no tokens. Replace every call with the real resolver.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::known_hosts::wildcard_match;
use super::resolved::{ResolvedHost, StrictHostKeyChecking};
use super::session::{DEFAULT_SERVER_ALIVE_COUNT_MAX, DEFAULT_SERVER_ALIVE_INTERVAL};

/// A host with OpenSSH's defaults (and ours for keepalive) and nothing set.
pub fn defaults_for(alias: &str) -> ResolvedHost {
    ResolvedHost {
        alias: alias.to_string(),
        hostname: alias.to_string(),
        port: 22,
        user: std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root".into()),
        identity_files: Vec::new(),
        identities_only: false,
        identity_agent: None,
        certificate_files: Vec::new(),
        proxy_jump: Vec::new(),
        proxy_command: None,
        strict_host_key_checking: StrictHostKeyChecking::Ask,
        user_known_hosts_files: Vec::new(),
        global_known_hosts_files: Vec::new(),
        hash_known_hosts: false,
        host_key_alias: None,
        connect_timeout: None,
        server_alive_interval: DEFAULT_SERVER_ALIVE_INTERVAL,
        server_alive_count_max: DEFAULT_SERVER_ALIVE_COUNT_MAX,
        batch_mode: true,
    }
}

fn expand(p: &str) -> PathBuf {
    let p = p.trim_matches('"');
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(h) = std::env::var_os("HOME") {
            return PathBuf::from(h).join(rest);
        }
    }
    PathBuf::from(p)
}

fn host_matches(patterns: &[String], alias: &str) -> bool {
    let a = alias.to_ascii_lowercase();
    let mut pos = false;
    for p in patterns {
        let (neg, pat) = match p.strip_prefix('!') {
            Some(x) => (true, x),
            None => (false, p.as_str()),
        };
        if wildcard_match(&pat.to_ascii_lowercase(), &a) {
            if neg {
                return false;
            }
            pos = true;
        }
    }
    pos
}

/// Resolve `alias` from `file` (default `$HOME/.ssh/config`; missing = empty).
pub fn resolve(alias: &str, file: Option<&Path>) -> Result<ResolvedHost, String> {
    if alias.starts_with('-') {
        return Err(format!("host alias '{alias}' starts with '-'"));
    }
    let path = match file {
        Some(f) => f.to_path_buf(),
        None => super::auth::user_ssh_dir()
            .map(|d| d.join("config"))
            .unwrap_or_default(),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => String::new(),
        Err(e) => return Err(format!("cannot read '{}': {e}", path.display())),
    };
    let mut h = defaults_for(alias);
    let mut seen = std::collections::HashSet::new();
    let mut active = true;
    let mut ids: Vec<PathBuf> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c == '=' || c.is_whitespace()) {
            Some((k, v)) => (
                k.trim().to_ascii_lowercase(),
                v.trim().trim_start_matches('=').trim(),
            ),
            None => continue,
        };
        if key == "host" {
            let pats: Vec<String> = value.split_whitespace().map(str::to_string).collect();
            active = host_matches(&pats, alias);
            continue;
        }
        if key == "match" || key == "include" {
            return Err(format!(
                "'{}' uses '{key}', which the interim resolver does not support",
                path.display()
            ));
        }
        if !active {
            continue;
        }
        if key == "identityfile" {
            ids.push(expand(value));
            continue;
        }
        if !seen.insert(key.clone()) {
            continue; // first obtained value wins
        }
        let bad = |what: &str| format!("'{}': bad {what} '{value}'", path.display());
        match key.as_str() {
            "hostname" => h.hostname = value.to_string(),
            "port" => h.port = value.parse().map_err(|_| bad("Port"))?,
            "user" => h.user = value.to_string(),
            "identitiesonly" => h.identities_only = value.eq_ignore_ascii_case("yes"),
            "identityagent" => h.identity_agent = Some(value.to_string()),
            "proxyjump" if !value.eq_ignore_ascii_case("none") => {
                h.proxy_jump = value.split(',').map(str::to_string).collect();
            }
            "proxycommand" if !value.eq_ignore_ascii_case("none") => {
                h.proxy_command = Some(value.to_string());
            }
            "stricthostkeychecking" => {
                h.strict_host_key_checking = match value.to_ascii_lowercase().as_str() {
                    "yes" => StrictHostKeyChecking::Yes,
                    "ask" => StrictHostKeyChecking::Ask,
                    "accept-new" => StrictHostKeyChecking::AcceptNew,
                    "no" | "off" => StrictHostKeyChecking::No,
                    _ => return Err(bad("StrictHostKeyChecking")),
                }
            }
            "userknownhostsfile" => {
                h.user_known_hosts_files = value.split_whitespace().map(expand).collect()
            }
            "globalknownhostsfile" => {
                h.global_known_hosts_files = value.split_whitespace().map(expand).collect()
            }
            "hashknownhosts" => h.hash_known_hosts = value.eq_ignore_ascii_case("yes"),
            "hostkeyalias" => h.host_key_alias = Some(value.to_string()),
            "connecttimeout" => {
                h.connect_timeout = Some(Duration::from_secs(
                    value.parse().map_err(|_| bad("ConnectTimeout"))?,
                ))
            }
            "serveraliveinterval" => {
                h.server_alive_interval =
                    Duration::from_secs(value.parse().map_err(|_| bad("ServerAliveInterval"))?)
            }
            "serveralivecountmax" => {
                h.server_alive_count_max = value.parse().map_err(|_| bad("ServerAliveCountMax"))?
            }
            _ => {}
        }
    }
    h.identity_files = ids;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_wins_and_patterns_apply() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("config");
        std::fs::write(
            &f,
            "Host pi !bad\n  HostName 10.0.0.7\n  Port=2222\n  IdentityFile /k1\n\
             Host p?\n  Port 9\n  User pi\n  IdentityFile /k2\n  StrictHostKeyChecking accept-new\n\
             Host *\n  ServerAliveInterval 5\n  ProxyJump a@j:1,k\n",
        )
        .unwrap();
        let h = resolve("pi", Some(&f)).unwrap();
        assert_eq!(h.hostname, "10.0.0.7");
        assert_eq!(h.port, 2222);
        assert_eq!(h.user, "pi");
        assert_eq!(
            h.identity_files,
            vec![PathBuf::from("/k1"), PathBuf::from("/k2")]
        );
        assert_eq!(h.strict_host_key_checking, StrictHostKeyChecking::AcceptNew);
        assert_eq!(h.server_alive_interval, Duration::from_secs(5));
        assert_eq!(h.server_alive_count_max, DEFAULT_SERVER_ALIVE_COUNT_MAX);
        assert_eq!(h.proxy_jump, vec!["a@j:1".to_string(), "k".to_string()]);
        let b = resolve("bad", Some(&f)).unwrap();
        assert_eq!(b.hostname, "bad");
        assert_eq!(b.port, 22);
        assert!(resolve("-oX", Some(&f)).is_err());
        assert!(resolve("pi", Some(&d.path().join("missing"))).is_err());
    }
}
