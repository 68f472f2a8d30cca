//! The reconnect loop ([`watch`]): one task per host that resolves its alias,
//! runs one link session after another, and between them backs off 1, 2, 4 …
//! [`BACKOFF_CAP_S`] s. A drop within the tolerance is a blip; past it the
//! host is unreachable (one [`HOST_UNREACHABLE`] alert per outage, cleared
//! when a session works again), or, with `--exit-on-giveup`, the task gives
//! up. `--once` makes one attempt and says it is done.

use super::super::hosts::HostSpec;
use super::{Link, LinkOpts, Report, Table};
use crate::detect::{Alert, AutoAction, Severity};
use crate::ssh::config::{self as sshconfig, ResolveOptions};
use serde_json::{json, Map};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Back-off cap between reconnects.
pub const BACKOFF_CAP_S: f64 = 30.0;
/// The detector name of the witness's own alert for a host it cannot reach.
pub const HOST_UNREACHABLE: &str = "host_unreachable";

/// The back-off before reconnect attempt `attempt` (1-based): 1, 2, 4, 8, 16, 30, 30 …
pub fn backoff_s(attempt: u32) -> f64 {
    let exp = attempt.saturating_sub(1).min(5);
    (2f64.powi(exp as i32)).min(BACKOFF_CAP_S)
}

/// The `host_unreachable` alert.
pub fn unreachable_alert(name: &str, elapsed_s: f64, attempts: u32, error: &str) -> Alert {
    let mut ctx = Map::new();
    ctx.insert("host".into(), json!(name));
    ctx.insert("elapsed_s".into(), json!((elapsed_s * 10.0).round() / 10.0));
    ctx.insert("attempts".into(), json!(attempts));
    ctx.insert("error".into(), json!(error));
    Alert {
        severity: Severity::Critical,
        detector: HOST_UNREACHABLE,
        message: format!(
            "'{name}' unreachable for {:.0}s after {attempts} attempt(s): {error}",
            elapsed_s
        ),
        context: ctx,
        ts: crate::timefmt::now_iso_ms(),
        auto_action: AutoAction::None,
    }
}

/// `x` rounded to the millisecond, for the blip and give-up fields.
fn round_ms(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The row state of a host that is down: `otherwise` (`blip`,
/// `unreachable`), or `no-agent-runner` when it has no usable probe.
fn down_state(no_probe: bool, otherwise: &str) -> &str {
    if no_probe {
        "no-agent-runner"
    } else {
        otherwise
    }
}

impl Link {
    /// Report the host unreachable: the [`unreachable_alert`].
    fn report_unreachable(&self, elapsed_s: f64, attempts: u32, error: &str) {
        self.send(Report::Unreachable {
            host: self.spec.name.clone(),
            alert: unreachable_alert(&self.spec.name, elapsed_s, attempts, error),
        });
    }

    /// The host has no usable probe: say so, with `message`.
    fn report_no_probe(&self, message: &str) {
        self.send(Report::NoProbe {
            host: self.spec.name.clone(),
            message: message.to_string(),
        });
    }

    fn report_done(&self) {
        self.send(Report::Done {
            host: self.spec.name.clone(),
        });
    }
}

/// Watch one host until the output side goes away (or `--once` is done, or
/// `--exit-on-giveup` gives up).
pub async fn watch(
    spec: HostSpec,
    opts: LinkOpts,
    gate: Arc<Semaphore>,
    table: Table,
    tx: mpsc::UnboundedSender<Report>,
) {
    let mut link = Link::new(spec, opts, table, tx);
    link.update_row(|_| {});
    tokio::time::sleep(link.opts.start_delay).await;
    let name = link.spec.name.clone();
    let resolved = ResolveOptions::from_env(link.opts.ssh_config.clone())
        .map_err(|e| e.to_string())
        .and_then(|ro| {
            sshconfig::resolve(&link.spec.alias, &ro)
                .map(|h| (ro, h))
                .map_err(|e| e.to_string())
        });
    let (ro, host) = match resolved {
        Ok(x) => x,
        Err(e) => {
            link.set_state("unreachable", &e);
            link.report_unreachable(0.0, 0, &e);
            link.report_done();
            return;
        }
    };
    let tolerance = link.opts.tolerance_s as f64;
    let mut fail_since: Option<Instant> = None;
    let mut attempts: u32 = 0;
    let mut unreachable = false;
    loop {
        if link.tx.is_closed() {
            return;
        }
        let mut good = false;
        let r = link.session_once(&host, &ro, &gate, &mut good).await;
        if link.opts.once {
            if let Err(e) = r {
                let (msg, no_probe) = e.message();
                if no_probe {
                    link.report_no_probe(&msg);
                }
                link.set_state(down_state(no_probe, "unreachable"), &msg);
                link.report_unreachable(0.0, 1, &msg);
            }
            link.report_done();
            return;
        }
        if good {
            fail_since = None;
            attempts = 0;
            if unreachable {
                unreachable = false;
                link.send(Report::Cleared {
                    host: name.clone(),
                    detector: HOST_UNREACHABLE.into(),
                });
            }
        }
        let (error, no_probe) = match r {
            Ok(()) => ("the probe channel closed".to_string(), false),
            Err(e) => e.message(),
        };
        // Say it once per outage, not on every retry.
        if no_probe && fail_since.is_none() {
            link.report_no_probe(&error);
        }
        attempts += 1;
        let since = *fail_since.get_or_insert_with(Instant::now);
        let elapsed = since.elapsed().as_secs_f64();
        let cursor = link.view.cursor.as_ref().map(|c| c.to_string());
        let sleep_s;
        if tolerance <= 0.0 || elapsed >= tolerance {
            if link.opts.exit_on_giveup {
                let mut f = Map::new();
                f.insert("host".into(), json!(link.spec.alias));
                f.insert("total_attempts".into(), json!(attempts));
                f.insert("total_elapsed_s".into(), json!(round_ms(elapsed)));
                f.insert("cap_s".into(), json!(link.opts.tolerance_s));
                f.insert("final_error".into(), json!(error));
                f.insert("resume_since".into(), json!(cursor));
                link.send(Report::Giveup {
                    host: name.clone(),
                    fields: f,
                });
                return;
            }
            if !unreachable {
                unreachable = true;
                link.report_unreachable(elapsed, attempts, &error);
            }
            link.set_state(down_state(no_probe, "unreachable"), &error);
            sleep_s = BACKOFF_CAP_S;
        } else {
            sleep_s = backoff_s(attempts).min((tolerance - elapsed).max(0.0));
            let mut f = Map::new();
            f.insert("host".into(), json!(link.spec.alias));
            f.insert("error".into(), json!(error));
            f.insert("attempt".into(), json!(attempts));
            f.insert("elapsed_s".into(), json!(round_ms(elapsed)));
            f.insert("cap_s".into(), json!(link.opts.tolerance_s));
            f.insert("interval_s".into(), json!(link.opts.interval_s));
            f.insert("next_sleep_s".into(), json!(round_ms(sleep_s)));
            f.insert("resume_since".into(), json!(cursor));
            link.send(Report::Blip {
                host: name.clone(),
                fields: f,
            });
            link.set_state(down_state(no_probe, "blip"), &error);
        }
        tokio::time::sleep(Duration::from_secs_f64(sleep_s.max(0.05))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty() {
        let v: Vec<f64> = (1..=8).map(backoff_s).collect();
        assert_eq!(v, vec![1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
    }
}
