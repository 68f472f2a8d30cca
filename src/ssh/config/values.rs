//! Value parsers for ssh_config directives, as OpenSSH's `readconf.c` and
//! `misc.c` read them: yes/no flags and the other keyword values, times
//! (`convtime`), ports (`a2port`), environment names, ProxyJump hops
//! (`parse_jump`), and `ssh -G`'s spelling of a ProxyJump back.
//!
//! Pure functions over one value (`a2port` reads `/etc/services` for a
//! service name); what a directive does with the value is `directives.rs`'.

use super::Jump;
use crate::ssh::StrictHostKeyChecking;

/// A yes/no flag (`IdentitiesOnly`, `HashKnownHosts`, `BatchMode`).
pub(super) fn flag(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(true),
        "no" | "false" => Some(false),
        _ => None,
    }
}

/// `StrictHostKeyChecking`.
pub(super) fn strict_host_key_checking(v: &str) -> Option<StrictHostKeyChecking> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(StrictHostKeyChecking::Yes),
        "no" | "false" | "off" => Some(StrictHostKeyChecking::No),
        "ask" => Some(StrictHostKeyChecking::Ask),
        "accept-new" => Some(StrictHostKeyChecking::AcceptNew),
        _ => None,
    }
}

/// `CanonicalizeHostname`: 0 no, 1 yes, 2 always.
pub(super) fn canonicalize_hostname(v: &str) -> Option<u8> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "true" => Some(1),
        "no" | "false" => Some(0),
        "always" => Some(2),
        _ => None,
    }
}

/// A non-negative `int` (`ServerAliveCountMax`).
pub(super) fn count(v: &str) -> Option<i64> {
    v.trim_start()
        .parse()
        .ok()
        .filter(|n| (0..=i64::from(i32::MAX)).contains(n))
}

pub(super) fn valid_env_name(name: &str) -> bool {
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
pub(super) fn a2port(s: &str) -> Option<u16> {
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
pub(super) fn parse_jump(s: &str) -> Option<Jump> {
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

/// `ssh -G`'s spelling of a ProxyJump.
pub(super) fn format_jump(j: &Jump) -> String {
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
