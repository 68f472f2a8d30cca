//! `doctor --host HOST`: walk one host through resolve → connect → host key →
//! authenticate → `agent-runner --version` on the remote, and report each
//! step as ok / failed (with the reason and what to do) / skipped. Read-only:
//! it never changes known_hosts unless the host's own policy is `accept-new`.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::config::{self, ResolveOptions};
use super::known_hosts::Verdict;
use super::resolved::ResolvedHost;
use super::session::{self, SshError, Step};

/// How long the remote `agent-runner --version` may take.
const REMOTE_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub step: &'static str,
    pub status: Status,
    pub detail: String,
}

/// The whole report for one host.
#[derive(Debug, Clone)]
pub struct Report {
    pub host: String,
    pub steps: Vec<StepReport>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.status == Status::Ok)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "host": self.host,
            "ok": self.ok(),
            "steps": self.steps.iter().map(|s| json!({
                "step": s.step,
                "status": s.status.as_str(),
                "detail": s.detail,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn render_text(&self) -> String {
        let mut out = format!("doctor --host {}\n", self.host);
        for s in &self.steps {
            out.push_str(&format!(
                "  {:<8} {:<15} {}\n",
                s.status.as_str(),
                s.step,
                s.detail
            ));
        }
        out.push_str(if self.ok() {
            "all checks passed\n"
        } else {
            "some checks failed (see above)\n"
        });
        out
    }
}

const STEPS: [Step; 5] = [
    Step::Resolve,
    Step::Connect,
    Step::HostKey,
    Step::Auth,
    Step::Exec,
];

fn push(r: &mut Report, step: Step, status: Status, detail: impl Into<String>) {
    r.steps.push(StepReport {
        step: step.label(),
        status,
        detail: detail.into(),
    });
}

fn fail_at(r: &mut Report, failed: Step, detail: String) {
    let mut reached = false;
    for s in STEPS {
        if r.steps.iter().any(|x| x.step == s.label()) {
            continue;
        }
        if s == failed {
            push(r, s, Status::Failed, detail.clone());
            reached = true;
        } else if reached {
            push(r, s, Status::Skipped, "not attempted");
        } else {
            let detail = match s {
                Step::Connect => "SSH handshake reached the host-key check",
                Step::HostKey => "host key accepted",
                _ => "",
            };
            push(r, s, Status::Ok, detail);
        }
    }
}

fn describe(h: &ResolvedHost) -> String {
    let mut d = format!("{}@{}:{}", h.user, h.hostname, h.port);
    if !h.proxy_jump.is_empty() {
        d.push_str(&format!(" via {}", h.proxy_jump.join(",")));
    } else if let Some(p) = &h.proxy_command {
        d.push_str(&format!(" via ProxyCommand '{p}'"));
    }
    d
}

/// Run every step against `alias`, resolved by `ssh::config` from
/// `ssh_config` (default `$AGENT_RUNNER_SSH_CONFIG`, then `~/.ssh/config`
/// and `/etc/ssh/ssh_config`).
pub async fn check_host(alias: &str, ssh_config: Option<&Path>) -> Report {
    let mut r = Report {
        host: alias.to_string(),
        steps: Vec::new(),
    };
    let ro = match ResolveOptions::from_env(ssh_config.map(Path::to_path_buf)) {
        Ok(ro) => ro,
        Err(e) => {
            fail_at(&mut r, Step::Resolve, e.to_string());
            return r;
        }
    };
    let host = match config::resolve(alias, &ro) {
        Ok(h) => h,
        Err(e) => {
            fail_at(
                &mut r,
                Step::Resolve,
                format!("{e}; check the Host block for '{alias}' in your ssh config"),
            );
            return r;
        }
    };
    push(&mut r, Step::Resolve, Status::Ok, describe(&host));
    let resolver = |a: &str| -> Result<ResolvedHost, SshError> {
        config::resolve(a, &ro).map_err(|e| SshError::Resolve {
            alias: a.to_string(),
            reason: e.to_string(),
        })
    };
    let s = match session::connect(&host, &resolver).await {
        Ok(s) => s,
        Err(e) => {
            let step = e.step();
            fail_at(&mut r, step, e.to_string());
            return r;
        }
    };
    push(&mut r, Step::Connect, Status::Ok, "SSH handshake completed");
    let hk = match s.host_key() {
        Verdict::Known => "key matches known_hosts".to_string(),
        Verdict::Learned(f) => format!("new key recorded in '{}' (accept-new)", f.display()),
        Verdict::AcceptedUnrecorded => {
            "key NOT verified (StrictHostKeyChecking no); consider 'yes' or 'accept-new'".into()
        }
    };
    push(&mut r, Step::HostKey, Status::Ok, hk);
    push(
        &mut r,
        Step::Auth,
        Status::Ok,
        format!("as '{}' with {}", host.user, s.authenticated_with()),
    );
    match s
        .exec(&["agent-runner", "--version"], REMOTE_DEADLINE)
        .await
    {
        Ok(out) if out.success() => {
            // The first line is the version (then the target and commit).
            let text = String::from_utf8_lossy(&out.stdout);
            let v = text.lines().next().unwrap_or_default().trim().to_string();
            let local = format!("agent-runner {}", env!("CARGO_PKG_VERSION"));
            let detail = if v == local {
                v
            } else {
                format!("{v} (this machine has {local}; 'agent-runner deploy {alias}' updates it)")
            };
            push(&mut r, Step::Exec, Status::Ok, detail);
        }
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let missing = out.status == Some(127) || err.contains("not found");
            let detail = if missing {
                format!("'agent-runner' is not on the remote PATH; install it with 'agent-runner deploy {alias}'")
            } else {
                format!(
                    "'agent-runner --version' exited with {:?}: '{err}'; reinstall with 'agent-runner deploy {alias}'",
                    out.status
                )
            };
            push(&mut r, Step::Exec, Status::Failed, detail);
        }
        Err(e) => push(&mut r, Step::Exec, Status::Failed, e.to_string()),
    }
    s.close().await;
    r
}

/// Check `alias` on a runtime of its own (for a caller that is not async).
pub fn check(alias: &str, ssh_config: Option<&Path>) -> std::io::Result<Report> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(check_host(alias, ssh_config)))
}
