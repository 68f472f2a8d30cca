//! One watched host: the relayed state ([`HostView`], rebuilt from probe
//! frames and evaluated with the host's clock), and the link task ([`watch`])
//! that keeps one SSH session and one probe channel open, resumes from the
//! last cursor after a drop, backs off 1, 2, 4 … 30 s, tells blips from an
//! unreachable host, and runs auto-stop over the same session. A host that
//! runs the Python tool instead is watched through its `events --tail`.
//!
//! Output is not this module's business: it sends [`Report`]s and updates the
//! shared [`Row`] table; `run` prints and serves them.
//!
//! This file holds what a link is given ([`LinkOpts`]), what it says
//! ([`Report`]) and the per-host `Link` state; the rest, by concern:
//! `retention.rs` (what the buffers keep), `view.rs` (the [`HostView`]),
//! `row.rs` (the table row), `detail.rs` (what the HTTP view's host page
//! adds to it), `lines.rs` (a channel's bytes as bounded
//! lines), `intake.rs` (a probe channel's output into the view),
//! `session.rs` (one SSH session and its probe channel, detection and
//! auto-stop), `relay.rs` (a host on the Python tool), `reconnect.rs`
//! (the task: back-off, blips, unreachable, give-up) and `supervise.rs` (a
//! panic in one host's task ends only that host's link).

use super::hosts::HostSpec;
use crate::detect::dedup::Dedup;
use crate::detect::Alert;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

mod detail;
#[cfg(test)]
mod fuzz;
mod intake;
mod lines;
mod reconnect;
mod relay;
mod retention;
mod row;
mod session;
mod supervise;
mod view;
#[cfg(test)]
mod view_tests;

pub use detail::Detail;
pub use reconnect::{backoff_s, unreachable_alert, watch, BACKOFF_CAP_S, HOST_UNREACHABLE};
pub use retention::{
    compact, is_detector_kind, prune_metrics, COMPACT_AT, DETECTOR_FIELDS, KEEP_ANY, KEEP_ROUNDS,
};
pub use row::{Row, Table};
pub use session::PROBE_MALLOC_TUNABLES;
pub use supervise::supervise;
pub use view::{Applied, HostView};

/// What a link tells the output side.
#[derive(Debug, Clone)]
pub enum Report {
    Connected {
        host: String,
        hello: Map<String, Value>,
    },
    Alert {
        host: String,
        alert: Alert,
    },
    Cleared {
        host: String,
        detector: String,
    },
    /// A relayed event (raw line), for `--mode events`.
    Event {
        host: String,
        line: String,
    },
    Blip {
        host: String,
        fields: Map<String, Value>,
    },
    Unreachable {
        host: String,
        alert: Alert,
    },
    Giveup {
        host: String,
        fields: Map<String, Value>,
    },
    AutoStop {
        host: String,
        detector: String,
        result: Result<String, String>,
    },
    /// A followed events file on the host changed (truncated, replaced, …)
    /// and was read from its start: a one-line message naming the file.
    Notice {
        host: String,
        message: String,
    },
    /// The remote binary is missing or too old (message names the host).
    NoProbe {
        host: String,
        message: String,
    },
    /// `--once`: this host is done (evaluated or failed).
    Done {
        host: String,
    },
    /// The host's task panicked (a bug): its link is over, the others go
    /// on. The message names the host (one line).
    Crashed {
        host: String,
        message: String,
    },
}

/// How links behave (shared by every host).
#[derive(Debug, Clone)]
pub struct LinkOpts {
    pub ssh_config: Option<PathBuf>,
    pub interval_s: f64,
    pub tolerance_s: u64,
    /// Events replayed on the first connect.
    pub backlog: usize,
    /// `--once`: one attempt, one evaluation, then Done.
    pub once: bool,
    /// Single-host `--exit-on-giveup`: stop retrying after the tolerance.
    pub exit_on_giveup: bool,
    /// Run auto-stop for allowed detectors.
    pub auto_stop: bool,
    /// Delay before the first connect (jittered start).
    pub start_delay: Duration,
    /// Report every relayed event (`--mode events`).
    pub relay_events: bool,
    /// Keep the newest events in the host's row (the HTTP view shows them).
    pub row_events: bool,
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    /// Transport or channel failure (retry).
    Failed(String),
    /// The remote has no usable probe (retry slowly, say so).
    NoProbe(String),
    /// The remote `agent-runner` is the Python tool: relay its events.
    Python(String),
}

impl Ended {
    /// Its message, and whether the host has no usable probe (missing, too
    /// old, or the Python tool).
    fn message(self) -> (String, bool) {
        match self {
            Ended::Failed(m) => (m, false),
            Ended::NoProbe(m) | Ended::Python(m) => (m, true),
        }
    }
}

/// One watched host: its spec and options, the relayed view, the alert
/// de-duplication, and where it reports.
struct Link {
    spec: HostSpec,
    opts: LinkOpts,
    view: HostView,
    dedup: Dedup,
    table: Table,
    tx: mpsc::UnboundedSender<Report>,
    /// The alerts of the last evaluation (for the table).
    last_alerts: Vec<Alert>,
    /// The host runs the Python tool: watch it through `events --tail`.
    relay: bool,
}

impl Link {
    fn new(
        spec: HostSpec,
        opts: LinkOpts,
        table: Table,
        tx: mpsc::UnboundedSender<Report>,
    ) -> Link {
        let mut view = HostView::default();
        view.slim = !opts.row_events;
        Link {
            spec,
            opts,
            view,
            dedup: Dedup::new(),
            table,
            tx,
            last_alerts: Vec::new(),
            relay: false,
        }
    }

    fn send(&self, r: Report) {
        let _ = self.tx.send(r);
    }

    /// Pass a new event's raw line on, when the output side wants every event.
    fn report_event(&self, line: String) {
        if self.opts.relay_events {
            self.send(Report::Event {
                host: self.spec.name.clone(),
                line,
            });
        }
    }

    /// Say a followed file changed on the host.
    fn report_notice(&self, message: String) {
        self.send(Report::Notice {
            host: self.spec.name.clone(),
            message,
        });
    }

    /// Say the host is connected, with its hello.
    fn report_connected(&self) {
        if let Some(h) = &self.view.hello {
            self.send(Report::Connected {
                host: self.spec.name.clone(),
                hello: h.clone(),
            });
        }
    }
}
