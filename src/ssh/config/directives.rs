//! The option directives: what each keyword that sets a value does to the
//! [`Options`] (first obtained value wins; an inactive block still checks its
//! values), grouped by the kind of value, and the keywords OpenSSH accepts
//! that we parse but ignore. The block structure (`Host`, `Match`,
//! `Include`) is the reader's; the value syntax is `values.rs`'.

use super::values::{self, a2port, convtime, parse_jump, valid_env_name};
use super::{matching, tokens, Options, SshConfigError};
use std::path::Path;

/// One directive line being applied: where it stands, its keyword and its
/// arguments.
pub(super) struct Directive<'l> {
    pub(super) file: &'l Path,
    pub(super) ln: usize,
    /// The keyword, lowercased.
    pub(super) kw: &'l str,
    pub(super) args: &'l [String],
    /// The raw rest of the line (ProxyCommand and ProxyJump take it verbatim).
    pub(super) rest: &'l str,
    /// The line is in an active block: its value may be taken.
    pub(super) on: bool,
    /// The line comes from a user config file (not the system file).
    pub(super) user_conf: bool,
}

impl Directive<'_> {
    /// An error naming this line.
    pub(super) fn err(&self, msg: impl Into<String>) -> SshConfigError {
        SshConfigError::Line {
            file: self.file.to_path_buf(),
            line: self.ln,
            msg: msg.into(),
        }
    }

    /// The one non-empty argument.
    fn one(&self) -> Result<&String, SshConfigError> {
        let kw = self.kw;
        match self.args {
            [a] if !a.is_empty() => Ok(a),
            [] | [_] => Err(self.err(format!("missing argument for '{kw}'"))),
            _ => Err(self.err(format!("keyword '{kw}' has extra arguments at end of line"))),
        }
    }

    /// First obtained value wins: set `slot` when the line is active and
    /// nothing set it before.
    fn first<T>(&self, slot: &mut Option<T>, v: T) {
        if self.on && slot.is_none() {
            *slot = Some(v);
        }
    }

    /// `v` parsed by `parse`, or the error "unsupported value … (`expected`)".
    fn parsed<T>(
        &self,
        v: &str,
        parse: impl Fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, SshConfigError> {
        parse(v).ok_or_else(|| {
            self.err(format!(
                "unsupported value '{v}' for '{}'{expected}",
                self.kw
            ))
        })
    }
}

/// Apply one option directive (anything but `Host`, `Match` and `Include`).
pub(super) fn apply(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    match d.kw {
        "hostname" | "user" | "hostkeyalias" | "ignoreunknown" | "revokedhostkeys" => string(o, d),
        "knownhostscommand" => known_hosts_command(o, d),
        "port" => port(o, d),
        "identityfile" | "certificatefile" => key_file(o, d),
        "identitiesonly" | "hashknownhosts" | "batchmode" => flag(o, d),
        "stricthostkeychecking" => {
            let v = d.one()?;
            let s = d.parsed(
                v,
                values::strict_host_key_checking,
                " (yes, no, ask, accept-new or off)",
            )?;
            d.first(&mut o.strict_host_key_checking, s);
            Ok(())
        }
        "canonicalizehostname" => {
            let v = d.one()?;
            let c = d.parsed(v, values::canonicalize_hostname, "")?;
            d.first(&mut o.canonicalize_hostname, c);
            Ok(())
        }
        "connecttimeout" | "serveraliveinterval" | "protocolkeepalives" | "setuptimeout" => {
            time(o, d)
        }
        "serveralivecountmax" => {
            let v = d.one()?;
            let n = values::count(v).ok_or_else(|| {
                d.err(format!(
                    "invalid integer value '{v}' for 'serveralivecountmax'"
                ))
            })?;
            d.first(&mut o.server_alive_count_max, n);
            Ok(())
        }
        "identityagent" => identity_agent(o, d),
        "userknownhostsfile" | "globalknownhostsfile" => known_hosts(o, d),
        "proxycommand" | "proxyjump" => proxy(o, d),
        kw if IGNORED_KEYWORDS.contains(&kw) => Ok(()),
        kw => {
            let ignored = o
                .ignore_unknown
                .as_deref()
                .is_some_and(|list| matching::match_pattern_list(kw, list, true) == 1);
            if ignored {
                return Ok(());
            }
            Err(d.err(format!("bad configuration option '{kw}' (OpenSSH would refuse it too; list it in IgnoreUnknown to skip it)")))
        }
    }
}

/// `HostName`, `User`, `HostKeyAlias`, `IgnoreUnknown`, `RevokedHostKeys`:
/// one string.
fn string(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.one()?.clone();
    let at = Some((d.file.to_path_buf(), d.ln));
    match d.kw {
        "hostname" if d.on && o.hostname.is_none() => o.hostname_at = at,
        "user" if d.on && o.user.is_none() => o.user_at = at,
        _ => {}
    }
    let slot = match d.kw {
        "hostname" => &mut o.hostname,
        "user" => &mut o.user,
        "hostkeyalias" => &mut o.host_key_alias,
        "revokedhostkeys" => &mut o.revoked_host_keys,
        _ => &mut o.ignore_unknown,
    };
    d.first(slot, v);
    Ok(())
}

fn port(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.one()?;
    let Some(p) = a2port(v).filter(|p| *p > 0) else {
        return Err(d.err(format!("bad port '{v}'")));
    };
    d.first(&mut o.port, p);
    Ok(())
}

/// `IdentityFile`, `CertificateFile`: lists that every active line adds to
/// (at most 100, no repeats from the same kind of file).
fn key_file(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.one()?.clone();
    if !d.on {
        return Ok(());
    }
    let list = if d.kw == "identityfile" {
        &mut o.identity_files
    } else {
        &mut o.certificate_files
    };
    if list.len() >= 100 {
        return Err(d.err(format!("too many '{}' entries (max 100)", d.kw)));
    }
    if !list.iter().any(|(p, u)| *u == d.user_conf && *p == v) {
        list.push((v, d.user_conf));
    }
    Ok(())
}

/// `IdentitiesOnly`, `HashKnownHosts`, `BatchMode`: yes or no.
fn flag(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.one()?;
    let b = d.parsed(v, values::flag, " (yes or no)")?;
    let slot = match d.kw {
        "identitiesonly" => &mut o.identities_only,
        "hashknownhosts" => &mut o.hash_known_hosts,
        _ => &mut o.batch_mode,
    };
    d.first(slot, b);
    Ok(())
}

/// `ConnectTimeout`, `ServerAliveInterval` (and the obsolete
/// `ProtocolKeepAlives`, `SetupTimeOut` that set it): a time or `none`.
fn time(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.one()?;
    let t = if v == "none" {
        -1
    } else {
        convtime(v).ok_or_else(|| d.err(format!("invalid time value '{v}' for '{}'", d.kw)))?
    };
    let slot = if d.kw == "connecttimeout" {
        &mut o.connect_timeout
    } else {
        &mut o.server_alive_interval
    };
    // OpenSSH stores `none` as -1, its own "unset" marker.
    if t != -1 {
        d.first(slot, t);
    }
    Ok(())
}

/// `IdentityAgent`: a path whose `${VAR}`s must be set and well formed.
fn identity_agent(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.one()?;
    if let Err(e) = tokens::expand(v, &[], true)
        .map(|_| ())
        .or_else(|e| match e {
            tokens::TokenError::UnsetVar(_) | tokens::TokenError::UnterminatedVar => Err(e),
            _ => Ok(()),
        })
    {
        return Err(d.err(format!("invalid environment expansion in '{v}': {e}")));
    }
    if let Some(name) = v.strip_prefix('$') {
        if !name.starts_with('{') && !valid_env_name(name) {
            return Err(d.err(format!("invalid environment name '{v}'")));
        }
    }
    d.first(&mut o.identity_agent, v.clone());
    Ok(())
}

/// `UserKnownHostsFile`, `GlobalKnownHostsFile`: up to 16 paths, taken
/// whole from the first active line.
fn known_hosts(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let (kw, args) = (d.kw, d.args);
    let list = if kw == "userknownhostsfile" {
        &mut o.user_known_hosts
    } else {
        &mut o.global_known_hosts
    };
    for (i, a) in args.iter().enumerate() {
        if a.is_empty() {
            return Err(d.err(format!("keyword '{kw}' has an empty argument")));
        }
        if a.eq_ignore_ascii_case("none") && (i > 0 || args.len() > 1) {
            return Err(d.err(format!("keyword '{kw}': 'none' must appear alone")));
        }
    }
    if args.len() > 16 {
        return Err(d.err(format!("too many '{kw}' entries (max 16)")));
    }
    if d.on && list.is_empty() {
        list.extend(args.iter().cloned());
    }
    Ok(())
}

/// `KnownHostsCommand` (the rest of the line): refused where it would take
/// effect. We never run commands from ssh_config, and ignoring it would
/// hide the host keys it supplies (a changed key would look new).
fn known_hosts_command(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d
        .rest
        .trim_start_matches([' ', '\t', '\r', '\n', '='])
        .trim_end();
    if v.is_empty() {
        return Err(d.err("missing argument for 'knownhostscommand'"));
    }
    if d.on && o.known_hosts_command.is_none() {
        if !v.eq_ignore_ascii_case("none") {
            return Err(d.err(format!("KnownHostsCommand '{v}' is not supported (agent-runner runs no commands from ssh_config, and the host keys it would supply could not be checked); record the keys in a known_hosts file instead")));
        }
        o.known_hosts_command = Some(v.to_string());
    }
    Ok(())
}

/// `ProxyCommand` (the rest of the line) and `ProxyJump` (which also turns
/// a later ProxyCommand off, as OpenSSH).
fn proxy(o: &mut Options, d: &Directive) -> Result<(), SshConfigError> {
    let v = d.rest.trim_start_matches([' ', '\t', '\r', '\n', '=']);
    if d.kw == "proxycommand" {
        d.first(&mut o.proxy_command, v.to_string());
        return Ok(());
    }
    let on = d.on && o.proxy_command.is_none() && o.jump.is_none();
    let j = parse_jump(v).ok_or_else(|| d.err(format!("invalid ProxyJump '{v}'")))?;
    if on {
        if j.host != "none" {
            o.proxy_command = Some("none".to_string());
        }
        o.jump = Some(j);
    }
    Ok(())
}

/// Keywords OpenSSH 9.2 (Debian build) accepts that we parse but ignore.
const IGNORED_KEYWORDS: &[&str] = &[
    "protocol",
    "cipher",
    "fallbacktorsh",
    "globalknownhostsfile2",
    "rhostsauthentication",
    "useblacklistedkeys",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "useprivilegedport",
    "afstokenpassing",
    "kerberosauthentication",
    "kerberostgtpassing",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "compressionlevel",
    "gssapiauthentication",
    "gssapikeyexchange",
    "gssapidelegatecredentials",
    "gssapitrustdns",
    "gssapiclientidentity",
    "gssapiserveridentity",
    "gssapirenewalforcesrekey",
    "gssapikexalgorithms",
    "pkcs11provider",
    "smartcarddevice",
    "forwardagent",
    "forwardx11",
    "forwardx11trusted",
    "forwardx11timeout",
    "exitonforwardfailure",
    "xauthlocation",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "challengeresponseauthentication",
    "skeyauthentication",
    "tisauthentication",
    "pubkeyauthentication",
    "dsaauthentication",
    "hostbasedauthentication",
    "identityfile2",
    "addkeystoagent",
    "ciphers",
    "macs",
    "remoteforward",
    "localforward",
    "permitremoteopen",
    "escapechar",
    "connectionattempts",
    "checkhostip",
    "compression",
    "tcpkeepalive",
    "keepalive",
    "numberofpasswordprompts",
    "syslogfacility",
    "loglevel",
    "logverbose",
    "dynamicforward",
    "preferredauthentications",
    "hostkeyalgorithms",
    "casignaturealgorithms",
    "bindaddress",
    "bindinterface",
    "clearallforwardings",
    "enablesshkeysign",
    "verifyhostkeydns",
    "nohostauthenticationforlocalhost",
    "rekeylimit",
    "addressfamily",
    "sendenv",
    "setenv",
    "controlpath",
    "controlmaster",
    "controlpersist",
    "tunnel",
    "tunneldevice",
    "localcommand",
    "permitlocalcommand",
    "remotecommand",
    "visualhostkey",
    "kexalgorithms",
    "ipqos",
    "requesttty",
    "sessiontype",
    "stdinnull",
    "forkafterauthentication",
    "proxyusefdpass",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "fingerprinthash",
    "updatehostkeys",
    "hostbasedacceptedalgorithms",
    "hostbasedkeytypes",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "securitykeyprovider",
    "requiredrsasize",
    "enableescapecommandline",
];
