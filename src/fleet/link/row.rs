//! The fleet table: one [`Row`] per host (also `/api/fleet`), kept in the
//! shared [`Table`] and brought up to date by the link after every
//! evaluation or state change.

use super::Link;
use crate::detect::Alert;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Events kept for the per-host drill-down.
const RECENT_FOR_VIEW: usize = 20;

/// One row of the fleet table (also `/api/fleet`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub alias: String,
    pub tags: Vec<String>,
    /// `connecting`, `ok`, `alert`, `deferred`, `blip`, `unreachable`,
    /// `no-agent-runner`, `error`.
    pub state: String,
    /// While serve holds rounds back for memory: `deferred: memory
    /// critical for 4m` (the host's clock).
    pub deferred: Option<String>,
    pub hostname: Option<String>,
    pub version: Option<String>,
    pub project: Option<String>,
    pub serve_active: Option<bool>,
    pub round: Option<i64>,
    pub phase: Option<String>,
    pub round_running: Option<bool>,
    pub last_event_age_s: Option<f64>,
    pub host_now: Option<String>,
    pub alerts: Vec<Value>,
    /// What the host's agent waits for, in words ("needs login", "waiting
    /// for browser sign-in"), from its active alerts.
    pub needs: Option<String>,
    pub error: Option<String>,
    pub events_received: u64,
    pub cursor: Option<String>,
    pub recent_events: Vec<Value>,
    /// The last notification about this host that could not be delivered
    /// (the sink and why), until one about it is delivered.
    pub notify_error: Option<String>,
    /// The HTTP view's host page: timeline, samples, usage (`--mode http` only).
    pub detail: Option<super::Detail>,
}

/// Shared table, keyed by host name.
pub type Table = Arc<Mutex<BTreeMap<String, Row>>>;

fn alert_value(a: &Alert) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

impl Link {
    pub(super) fn update_row(&self, f: impl FnOnce(&mut Row)) {
        // Rows are plain data: still good after another task panicked
        // holding the lock (see `supervise`).
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let row = t.entry(self.spec.name.clone()).or_insert_with(|| Row {
            name: self.spec.name.clone(),
            alias: self.spec.alias.clone(),
            tags: self.spec.tags.clone(),
            state: "connecting".into(),
            ..Default::default()
        });
        f(row);
    }

    /// Bring the host's row up to date. Runs after every evaluation, so it
    /// borrows what it can (the row keeps owned copies of a few strings).
    pub(super) fn refresh_row(&self) {
        let v = &self.view;
        let active: Vec<Value> = self
            .dedup
            .active()
            .filter_map(|(_, det)| {
                self.last_alerts
                    .iter()
                    .find(|a| a.detector == det)
                    .map(alert_value)
            })
            .collect();
        let needs = crate::detect::needs_label(
            self.dedup
                .active()
                .filter_map(|(_, det)| self.last_alerts.iter().find(|a| a.detector == det)),
        );
        let hello = v.hello.as_ref();
        let s = |k: &str| hello.and_then(|h| h.get(k)).and_then(Value::as_str);
        let round = v.round();
        let recent: Option<Vec<Value>> = self.opts.row_events.then(|| {
            let skip = v.events.len().saturating_sub(RECENT_FOR_VIEW);
            v.events
                .iter()
                .skip(skip)
                .map(|e| Value::Object(e.clone()))
                .collect()
        });
        let serve_active = v
            .snapshot
            .as_ref()
            .and_then(|s| s.get("service"))
            .and_then(|s| s.get("active"))
            .and_then(Value::as_bool);
        let detail = self.opts.row_events.then(|| self.detail());
        let age = v.last_event_age_s();
        let deferred = crate::detect::memory_deferral(&v.events)
            .zip(v.now())
            .map(|(d, now)| d.label(now));
        let now = v.now().map(crate::timefmt::iso_ms);
        let cursor = v.cursor.as_ref().map(|c| c.to_string());
        let received = v.events_received;
        let set = |slot: &mut Option<String>, new: Option<&str>| {
            if slot.as_deref() != new {
                *slot = new.map(String::from);
            }
        };
        self.update_row(|r| {
            r.state.clear();
            r.state.push_str(if deferred.is_some() {
                "deferred"
            } else if active.is_empty() {
                "ok"
            } else {
                "alert"
            });
            r.deferred = deferred;
            set(&mut r.hostname, s("hostname"));
            set(&mut r.version, s("version"));
            set(&mut r.project, s("project"));
            r.serve_active = serve_active;
            r.round = round.as_ref().map(|x| x.0);
            r.phase = round.as_ref().and_then(|x| x.1.clone());
            r.round_running = round.as_ref().map(|x| x.2);
            r.last_event_age_s = age;
            r.host_now = now;
            r.alerts = active;
            r.needs = needs;
            r.error = None;
            r.events_received = received;
            r.cursor = cursor;
            if let Some(recent) = recent {
                r.recent_events = recent;
            }
            if detail.is_some() {
                r.detail = detail;
            }
        });
    }

    /// Set the row's state (`blip`, `unreachable`, …) and the error behind it.
    pub(super) fn set_state(&self, state: &str, error: &str) {
        self.update_row(|r| {
            r.state = state.into();
            r.error = Some(error.to_string());
        });
    }
}
