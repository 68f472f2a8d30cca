//! What a [`Resolution`] yields: the [`ResolvedHost`] the session layer
//! connects with (paths and tokens expanded as ssh does when it connects),
//! and the `key value` dump spelled and ordered as `ssh -G` prints it.

use super::values::format_jump;
use super::{expanded, Resolution, SshConfigError};
use crate::ssh::{ResolvedHost, StrictHostKeyChecking};
use std::path::PathBuf;
use std::time::Duration;

impl Resolution {
    /// The settings for the session layer, with paths expanded as ssh does
    /// when it connects.
    pub fn resolved_host(&self) -> Result<ResolvedHost, SshConfigError> {
        let o = &self.opts;
        let expand_list = |directive: &'static str, list: &[(String, bool)]| {
            list.iter()
                .filter(|(p, _)| !p.eq_ignore_ascii_case("none"))
                .map(|(p, _)| self.expand_path(directive, p).map(PathBuf::from))
                .collect::<Result<Vec<_>, _>>()
        };
        let identity_files = expand_list("IdentityFile", &o.identity_files)?;
        let certificate_files = expand_list("CertificateFile", &o.certificate_files)?;
        let user_known_hosts_files = self
            .user_known_hosts_expanded()?
            .into_iter()
            .filter(|p| p != "none")
            .map(PathBuf::from)
            .collect();
        let global_known_hosts_files = o
            .global_known_hosts
            .iter()
            .filter(|p| !p.eq_ignore_ascii_case("none"))
            .map(PathBuf::from)
            .collect();
        let proxy_jump = o
            .jump
            .as_ref()
            .map(|j| j.raw.split(',').map(|h| h.trim().to_string()).collect())
            .unwrap_or_default();
        let secs = |v: Option<i64>| Duration::from_secs(u64::try_from(v.unwrap_or(0)).unwrap_or(0));
        Ok(ResolvedHost {
            alias: self.host_arg.clone(),
            hostname: self.host.clone(),
            port: o.port.unwrap_or(22),
            user: o.user.clone().unwrap_or_else(|| self.local_user.clone()),
            identity_files,
            identities_only: o.identities_only.unwrap_or(false),
            identity_agent: self.identity_agent_expanded()?,
            certificate_files,
            proxy_jump,
            proxy_command: o.proxy_command.clone(),
            strict_host_key_checking: o.strict_host_key_checking.unwrap_or_default(),
            user_known_hosts_files,
            global_known_hosts_files,
            hash_known_hosts: o.hash_known_hosts.unwrap_or(false),
            host_key_alias: o.host_key_alias.clone(),
            connect_timeout: o
                .connect_timeout
                .filter(|t| *t >= 0)
                .map(|t| Duration::from_secs(u64::try_from(t).unwrap_or(0))),
            server_alive_interval: secs(o.server_alive_interval),
            server_alive_count_max: u32::try_from(o.server_alive_count_max.unwrap_or(3))
                .unwrap_or(u32::MAX),
            batch_mode: o.batch_mode.unwrap_or(false),
            revoked_host_keys: o
                .revoked_host_keys
                .as_ref()
                .filter(|p| !p.eq_ignore_ascii_case("none"))
                .map(PathBuf::from),
        })
    }

    /// `directive`'s path `p` with `~` and its tokens expanded.
    fn expand_path(&self, directive: &'static str, p: &str) -> Result<String, SshConfigError> {
        expanded(self.tokens.expand_path(p), directive, p)
    }

    fn user_known_hosts_expanded(&self) -> Result<Vec<String>, SshConfigError> {
        self.opts
            .user_known_hosts
            .iter()
            .map(|p| self.expand_path("UserKnownHostsFile", p))
            .collect()
    }

    fn identity_agent_expanded(&self) -> Result<Option<String>, SshConfigError> {
        self.opts
            .identity_agent
            .as_ref()
            .map(|a| self.expand_path("IdentityAgent", a))
            .transpose()
    }

    /// `key value` pairs for the directives we honour, spelled and ordered
    /// as `ssh -G` prints them.
    pub fn dump(&self) -> Result<Vec<(&'static str, String)>, SshConfigError> {
        let o = &self.opts;
        let yn = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_string();
        let mut out: Vec<(&'static str, String)> = vec![
            ("host", self.host_arg.clone()),
            (
                "user",
                o.user.clone().unwrap_or_else(|| self.local_user.clone()),
            ),
            ("hostname", self.host.clone()),
            ("port", o.port.unwrap_or(22).to_string()),
            ("batchmode", yn(o.batch_mode)),
            ("hashknownhosts", yn(o.hash_known_hosts)),
            ("identitiesonly", yn(o.identities_only)),
            (
                "stricthostkeychecking",
                match o.strict_host_key_checking.unwrap_or_default() {
                    StrictHostKeyChecking::Yes => "true",
                    StrictHostKeyChecking::No => "false",
                    StrictHostKeyChecking::Ask => "ask",
                    StrictHostKeyChecking::AcceptNew => "accept-new",
                }
                .to_string(),
            ),
            (
                "serveralivecountmax",
                o.server_alive_count_max.unwrap_or(3).to_string(),
            ),
            (
                "serveraliveinterval",
                o.server_alive_interval.unwrap_or(0).to_string(),
            ),
        ];
        if let Some(a) = &o.host_key_alias {
            out.push(("hostkeyalias", a.clone()));
        }
        if let Some(r) = o
            .revoked_host_keys
            .as_ref()
            .filter(|p| !p.eq_ignore_ascii_case("none"))
        {
            out.push(("revokedhostkeys", r.clone()));
        }
        if let Some(a) = self.identity_agent_expanded()? {
            out.push(("identityagent", a));
        }
        for (f, _) in &o.identity_files {
            out.push(("identityfile", f.clone()));
        }
        for (f, _) in &o.certificate_files {
            out.push(("certificatefile", f.clone()));
        }
        out.push(("globalknownhostsfile", o.global_known_hosts.join(" ")));
        out.push((
            "userknownhostsfile",
            self.user_known_hosts_expanded()?.join(" "),
        ));
        out.push((
            "connecttimeout",
            match o.connect_timeout {
                Some(t) if t >= 0 => t.to_string(),
                _ => "none".to_string(),
            },
        ));
        if let Some(j) = &o.jump {
            out.push(("proxyjump", format_jump(j)));
        } else if let Some(pc) = &o.proxy_command {
            out.push(("proxycommand", pc.clone()));
        }
        Ok(out)
    }
}
