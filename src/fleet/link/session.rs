//! The link session: one SSH session per host and, over it, one streaming
//! `probe` channel ([`Link::session_once`]). Its output goes through
//! [`super::intake`] into the [`super::HostView`]; after each change the
//! detectors run, alerts are de-duplicated and reported ([`Link::judge`]),
//! and auto-stop runs `agent-runner stop` over the same session. A channel
//! that ends before its hello is classified: no remote binary, one too old,
//! or the Python tool (handed to [`super::relay`]).

use super::super::hosts::HostSpec;
use super::intake::Intake;
use super::{Ended, Link, Report};
use crate::detect::AutoAction;
use crate::ssh::config::{self as sshconfig, ResolveOptions};
use crate::ssh::session::{self, StreamEvent};
use crate::ssh::{ResolvedHost, SshError};
use serde_json::Value;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Deadline for opening the probe channel and for the remote `stop`.
pub(super) const OPEN_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(120);
/// Bytes of a remote command's stderr kept for its error message.
const STDERR_KEEP: usize = 4096;

/// Environment for the remote probe (see `Link::stream`).
pub const PROBE_MALLOC_TUNABLES: &str = "GLIBC_TUNABLES=glibc.malloc.tcache_count=0";

impl Link {
    /// Detect, de-duplicate, report ([`Link::judge`]), then auto-stop over
    /// `sess` for the fresh alerts the host allows it for.
    pub(super) async fn evaluate(&mut self, sess: &session::Session) {
        for detector in self.judge() {
            let result = remote_stop(sess, &self.spec).await;
            self.send(Report::AutoStop {
                host: self.spec.name.clone(),
                detector: detector.to_string(),
                result,
            });
        }
    }

    /// Run the detectors, de-duplicate, report fresh and cleared alerts and
    /// refresh the row. Returns the detectors of the fresh alerts auto-stop
    /// is to act on (allowed by the host's `auto_stop_on` and our options).
    pub(super) fn judge(&mut self) -> Vec<&'static str> {
        let Some(alerts) = self.view.detect() else {
            return Vec::new();
        };
        self.last_alerts = alerts.clone();
        let verdict = self.dedup.update(alerts);
        let allowed: Vec<String> = if verdict.fresh.is_empty() {
            Vec::new()
        } else {
            self.view
                .hello
                .as_ref()
                .and_then(|h| h.get("auto_stop_on"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut stop = Vec::new();
        // Clears first: an episode that ends as the next one of the same
        // detector starts (`hung`, round after round) is told in order.
        for (_, det) in &verdict.cleared {
            self.send(Report::Cleared {
                host: self.spec.name.clone(),
                detector: det.to_string(),
            });
        }
        for a in &verdict.fresh {
            self.send(Report::Alert {
                host: self.spec.name.clone(),
                alert: a.clone(),
            });
            if self.opts.auto_stop
                && a.auto_action == AutoAction::StopService
                && allowed.iter().any(|d| d == a.detector)
            {
                stop.push(a.detector);
            }
        }
        self.refresh_row();
        stop
    }

    /// One connection: connect, stream, evaluate until it ends; `good` is
    /// set once the connection works (a hello was taken, or the Python
    /// relay's tail started).
    pub(super) async fn session_once(
        &mut self,
        host: &ResolvedHost,
        ro: &ResolveOptions,
        gate: &Semaphore,
        good: &mut bool,
    ) -> Result<(), Ended> {
        let resolver = |a: &str| -> Result<ResolvedHost, SshError> {
            sshconfig::resolve(a, ro).map_err(|e| SshError::Resolve {
                alias: a.to_string(),
                reason: e.to_string(),
            })
        };
        let handshake_deadline =
            host.connect_timeout.unwrap_or(Duration::from_secs(10)) + Duration::from_secs(10);
        let sess = {
            let _permit = gate.acquire().await;
            match tokio::time::timeout(handshake_deadline, session::connect(host, &resolver)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(Ended::Failed(e.to_string())),
                Err(_) => {
                    return Err(Ended::Failed(format!(
                        "SSH handshake with '{}' did not finish within {}s",
                        self.spec.alias,
                        handshake_deadline.as_secs()
                    )))
                }
            }
        };
        let r = if self.relay {
            self.relay_stream(&sess, good).await
        } else {
            match self.stream(&sess, good).await {
                Err(Ended::Python(m)) => {
                    tracing::info!("{m}: relaying its 'events --tail' instead");
                    self.relay = true;
                    self.relay_stream(&sess, good).await
                }
                r => r,
            }
        };
        sess.close().await;
        r
    }

    /// The probe runs under `env` with glibc's per-thread cache of freed
    /// chunks off: what the connect burst freed would otherwise stay cached
    /// in pages scattered over the heap for the probe's whole life (measured:
    /// 250 → 100 KiB of heap). A binary without glibc ignores it.
    async fn stream(&mut self, sess: &session::Session, good: &mut bool) -> Result<(), Ended> {
        let interval = format!("{}", self.opts.interval_s);
        let mut argv: Vec<String> = vec![
            "env".into(),
            PROBE_MALLOC_TUNABLES.into(),
            "agent-runner".into(),
            "--config".into(),
            self.spec.config.clone(),
            "probe".into(),
            "--stream".into(),
            "--interval".into(),
            interval,
        ];
        match self.view.resume_since() {
            Some(since) => argv.extend(["--since".into(), since]),
            None => argv.extend(["--backlog".into(), self.opts.backlog.to_string()]),
        }
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut st = sess
            .open_exec_stream(&refs, OPEN_DEADLINE)
            .await
            .map_err(|e| Ended::Failed(e.to_string()))?;
        // No frame (snapshots come every interval) for this long: the link
        // is dead. Only frames count: a host that sends bytes but no hello,
        // or nothing but lines that are not frames, ends here too.
        let silence = Duration::from_secs_f64(self.opts.interval_s * 3.0 + 15.0);
        let mut deadline = tokio::time::Instant::now() + silence;
        let mut intake = Intake::default();
        let mut stderr = StderrTail::default();
        loop {
            let Ok(ev) = tokio::time::timeout_at(deadline, st.next()).await else {
                return Err(Ended::Failed(if intake.hello_seen() {
                    format!("no frame from the probe for {}s", silence.as_secs())
                } else {
                    format!("no hello from the probe within {}s", silence.as_secs())
                }));
            };
            let hello_seen = intake.hello_seen();
            match ev {
                Some(StreamEvent::Stdout(d)) => {
                    let took = self.take_stdout(&mut intake, &d, good)?;
                    if took.frames > 0 && intake.hello_seen() {
                        deadline = tokio::time::Instant::now() + silence;
                    }
                    if took.evaluate {
                        self.evaluate(sess).await;
                        if self.opts.once {
                            st.close().await;
                            return Ok(());
                        }
                    }
                }
                Some(StreamEvent::Stderr(d)) => stderr.push(&d),
                Some(StreamEvent::Exit(code)) if !hello_seen => {
                    return Err(classify_no_hello(&self.spec, Some(code), &stderr.text()));
                }
                Some(StreamEvent::Exit(_)) | Some(StreamEvent::Signal(_)) => {}
                None => {
                    if !hello_seen {
                        return Err(classify_no_hello(&self.spec, None, &stderr.text()));
                    }
                    return Err(stderr.ended("the probe channel closed"));
                }
            }
        }
    }
}

/// The newest bytes a remote command wrote to stderr (at most [`STDERR_KEEP`]).
#[derive(Debug, Default)]
pub(super) struct StderrTail(Vec<u8>);

impl StderrTail {
    pub(super) fn push(&mut self, d: &[u8]) {
        self.0.extend_from_slice(d);
        if self.0.len() > STDERR_KEEP {
            self.0.drain(..self.0.len() - STDERR_KEEP);
        }
    }

    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim().to_string()
    }

    /// Why a channel that was open ended: `what`, and the last line of
    /// stderr if there is one.
    pub(super) fn ended(&self, what: &str) -> Ended {
        let err = self.text();
        Ended::Failed(if err.is_empty() {
            what.to_string()
        } else {
            format!("{what}: {}", last_line(&err))
        })
    }
}

pub(super) fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s)
}

/// No hello before the channel ended: a missing or old remote binary, or
/// some other failure.
fn classify_no_hello(spec: &HostSpec, code: Option<u32>, err: &str) -> Ended {
    let deploy = format!(
        "install this version with 'agent-runner deploy --host {}'",
        spec.alias
    );
    if code == Some(127) || err.contains("command not found") || err.contains("No such file") {
        return Ended::NoProbe(format!(
            "host '{}' has no 'agent-runner' on the PATH of its non-interactive shell; {deploy}",
            spec.name
        ));
    }
    if err.contains("invalid choice: 'probe'") {
        // argparse: the Python agent-runner (which has `events --tail`).
        return Ended::Python(format!(
            "host '{}' runs the Python agent-runner (no 'probe --stream')",
            spec.name
        ));
    }
    if err.contains("unrecognized subcommand")
        || err.contains("'probe' is not available")
        || err.contains("invalid choice")
        || err.contains("unexpected argument")
    {
        return Ended::NoProbe(format!(
            "host '{}' runs an 'agent-runner' without 'probe --stream' (too old, or the Python tool); {deploy}",
            spec.name
        ));
    }
    Ended::Failed(format!(
        "the remote probe exited{} before saying hello: '{}'",
        code.map(|c| format!(" with {c}")).unwrap_or_default(),
        last_line(err)
    ))
}

/// `agent-runner --config <remote> stop` over the session.
async fn remote_stop(sess: &session::Session, spec: &HostSpec) -> Result<String, String> {
    let argv = ["agent-runner", "--config", spec.config.as_str(), "stop"];
    match sess.exec(&argv, STOP_DEADLINE).await {
        Ok(o) if o.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "remote 'agent-runner stop' exited with {:?}: '{}'",
            o.status,
            last_line(String::from_utf8_lossy(&o.stderr).trim())
        )),
        Err(e) => Err(e.to_string()),
    }
}
