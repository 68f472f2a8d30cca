//! Host aliases, host names and user names, checked where they come in (the
//! command line, the hosts file, ssh_config) before anything can expand
//! them into a ProxyCommand's `sh -c` (the CVE-2023-51385 class).
//!
//! Allowed: ASCII letters, digits and `._-`; `:` in host aliases and host
//! names (IPv6 literals); `@` in user names (`alice@corp.example`); never a
//! leading `-` (it would read as an option), never empty, at most 255
//! characters. `%` appears only in ssh_config values before their tokens
//! are expanded (`HostName %h.lan`), never in the name that results.

/// What a checked value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Alias,
    HostName,
    User,
}

impl NameKind {
    fn label(self) -> &'static str {
        match self {
            NameKind::Alias => "host alias",
            NameKind::HostName => "HostName",
            NameKind::User => "User",
        }
    }

    /// The characters allowed besides letters and digits.
    fn extra(self) -> &'static str {
        match self {
            NameKind::Alias | NameKind::HostName => "._-:",
            NameKind::User => "._-@",
        }
    }
}

/// Longest name accepted.
pub const MAX_NAME_LEN: usize = 255;

/// A refused name: one line naming the value, where it came from and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} '{value}' from {origin}: {why} is not allowed; use only letters, digits and '{allowed}', not starting with '-' (a shell could run anything else)")]
pub struct BadName {
    pub kind: &'static str,
    /// The value, control characters escaped.
    pub value: String,
    pub origin: String,
    pub why: String,
    pub allowed: &'static str,
}

/// `value` with control characters escaped, so an error stays one line.
fn printable(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Check `value`, a `kind` that came from `origin` (e.g. "--host",
/// "hosts file 'fleet.toml'", "ssh config '~/.ssh/config' line 4").
pub fn check(kind: NameKind, value: &str, origin: &str) -> Result<(), BadName> {
    let why = if value.is_empty() {
        Some("an empty name".to_string())
    } else if value.starts_with('-') {
        Some("a name that starts with '-' (it would read as an option)".to_string())
    } else if value.chars().count() > MAX_NAME_LEN {
        Some(format!("a name of more than {MAX_NAME_LEN} characters"))
    } else {
        value
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || kind.extra().contains(c)))
            .map(|c| format!("'{}'", c.escape_default()))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(BadName {
            kind: kind.label(),
            value: printable(value),
            origin: origin.to_string(),
            why,
            allowed: kind.extra(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_pass() {
        for v in [
            "pi", "pi-1.lan", "my_host", "10.0.0.7", "::1", "fe80::1", "PI4",
        ] {
            assert_eq!(check(NameKind::Alias, v, "t"), Ok(()), "{v}");
            assert_eq!(check(NameKind::HostName, v, "t"), Ok(()), "{v}");
        }
        for v in ["root", "deploy-bot", "alice@corp.example", "a.b_c"] {
            assert_eq!(check(NameKind::User, v, "t"), Ok(()), "{v}");
        }
    }

    #[test]
    fn names_that_are_refused_say_what_and_where() {
        for v in [
            "pi$(id>x)",
            "pi`id`",
            "a;b",
            "a|b",
            "a&b",
            "a>b",
            "a<b",
            "a'b",
            "a\"b",
            "a\\b",
            "a b",
            "a\tb",
            "a\nb",
            "a%h",
            "a*",
            "a?",
            "a[1]",
            "a{b}",
            "a~",
            "a#b",
            "-oProxyCommand=x",
            "",
            "é",
            "a@b",
        ] {
            let e = check(NameKind::Alias, v, "--host").unwrap_err().to_string();
            assert!(
                e.contains("not allowed") && e.contains("from --host"),
                "{v:?}: {e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(check(NameKind::User, "a:b", "t").is_err());
        assert!(check(NameKind::User, "-u", "t").is_err());
        let long = "a".repeat(MAX_NAME_LEN + 1);
        assert!(check(NameKind::HostName, &long, "t").is_err());
        let e = check(NameKind::Alias, "a\u{1b}[2Jb", "x").unwrap_err();
        assert_eq!(e.value, "a\\u{1b}[2Jb");
    }
}
