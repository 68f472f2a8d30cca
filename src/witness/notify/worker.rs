//! One sink's thread: a bounded queue in front ([`Handle::offer`] never
//! blocks; what does not fit is counted and said), pacing behind it (the
//! first notification waits [`Pace::coalesce`] for company, then deliveries
//! are at least [`Pace::gap`] apart: a burst becomes one digest), and each
//! delivery retried after the [`Pace::backoff`] steps before it is given up
//! and told to the [`Observer`].
//!
//! An Alertmanager sink also re-posts its firing alerts every
//! [`Pace::am_refresh`] with `endsAt` ahead, as Prometheus does, or
//! Alertmanager would resolve them on its own after its `resolve_timeout`.

use super::body::{self, AmAlert};
use super::{
    command, post, DeliveryError, Failure, Format, Notification, Observer, SinkSpec, Target,
    Transition,
};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Notifications queued per sink before new ones are dropped (and counted).
pub const QUEUE: usize = 256;
/// Notifications held for the next delivery, at most.
const MAX_PENDING: usize = 1000;
/// Firing alerts an Alertmanager sink keeps re-posting, at most.
const MAX_FIRING: usize = 2000;

/// How a sink paces, retries and times out.
#[derive(Debug, Clone)]
pub struct Pace {
    /// How long the first notification waits for others to join it.
    pub coalesce: Duration,
    /// Least time between two deliveries of one sink.
    pub gap: Duration,
    /// Waits before the 2nd, 3rd … attempt of one delivery.
    pub backoff: Vec<Duration>,
    /// Deadline of one attempt (the POST, or the program's run).
    pub deadline: Duration,
    /// Alertmanager: re-post firing alerts this often.
    pub am_refresh: Duration,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace {
            coalesce: Duration::from_secs(1),
            gap: Duration::from_secs(10),
            backoff: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
            ],
            deadline: Duration::from_secs(10),
            am_refresh: Duration::from_secs(60),
        }
    }
}

/// The dispatcher's end of one sink.
pub struct Handle {
    spec: SinkSpec,
    tx: Option<SyncSender<Notification>>,
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    pub fn spawn(spec: SinkSpec, pace: Pace, observer: Arc<dyn Observer>) -> Handle {
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let mut w = Worker {
            label: spec.label(),
            spec: spec.clone(),
            pace,
            observer,
            dropped: Arc::clone(&dropped),
            firing: BTreeMap::new(),
            local_host: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "localhost".into()),
        };
        let thread = std::thread::Builder::new()
            .name("notify-sink".into())
            .spawn(move || w.run(rx))
            .map_err(|e| tracing::warn!("cannot start a notification thread: {e}"))
            .ok();
        Handle {
            spec,
            tx: Some(tx),
            dropped,
            thread,
        }
    }

    /// Queue `n` if the sink wants it; never blocks.
    pub fn offer(&self, n: &Notification) {
        if n.severity < self.spec.min_severity {
            return;
        }
        if let Some(tx) = &self.tx {
            match tx.try_send(n.clone()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Close the queue; the thread delivers what it holds and ends.
    pub fn close(mut self) -> Option<JoinHandle<()>> {
        self.tx = None;
        self.thread.take()
    }
}

struct Worker {
    spec: SinkSpec,
    label: String,
    pace: Pace,
    observer: Arc<dyn Observer>,
    dropped: Arc<AtomicU64>,
    /// Alertmanager: firing alerts by their labels.
    firing: BTreeMap<String, AmAlert>,
    local_host: String,
}

impl Worker {
    fn run(&mut self, rx: Receiver<Notification>) {
        let mut pending: Vec<Notification> = Vec::new();
        let mut first_at: Option<Instant> = None;
        let mut next_allowed = Instant::now();
        let mut refresh_at = Instant::now() + self.pace.am_refresh;
        loop {
            let now = Instant::now();
            let due = first_at.map(|f| (f + self.pace.coalesce).max(next_allowed));
            let wake = match (due, self.firing.is_empty()) {
                (Some(d), _) => Some(d),
                (None, false) => Some(refresh_at),
                (None, true) => None,
            };
            let got = match wake {
                Some(w) => rx.recv_timeout(w.saturating_duration_since(now)),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(n) => {
                    if pending.len() < MAX_PENDING {
                        pending.push(n);
                    } else {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    first_at.get_or_insert_with(Instant::now);
                    // Keep collecting until the delivery is due (a steady
                    // stream cannot postpone it).
                    if !due.is_some_and(|d| Instant::now() >= d) {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if !pending.is_empty() {
                        self.deliver(std::mem::take(&mut pending), 1);
                    }
                    return;
                }
            }
            let now = Instant::now();
            if due.is_some_and(|d| now >= d) {
                first_at = None;
                self.deliver(std::mem::take(&mut pending), 1 + self.pace.backoff.len());
                next_allowed = Instant::now() + self.pace.gap;
                refresh_at = Instant::now() + self.pace.am_refresh;
            } else if !self.firing.is_empty() && now >= refresh_at {
                self.refresh();
                refresh_at = Instant::now() + self.pace.am_refresh;
            }
        }
    }

    /// Deliver `batch` (and say what the full queue dropped), with up to
    /// `attempts` attempts.
    fn deliver(&mut self, batch: Vec<Notification>, attempts: usize) {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            self.observer.failed(&Failure {
                sink: self.label.clone(),
                format: self.spec.format,
                error: format!("{dropped} notification(s) dropped: the sink's queue was full (it is slower than the alerts)"),
                attempts: 0,
                lost: Vec::new(),
            });
        }
        if batch.is_empty() {
            return;
        }
        let payload = if self.spec.format == Format::Alertmanager {
            self.am_payload(&batch)
        } else {
            body::render(self.spec.format, &batch, dropped)
        };
        let mut tries = 0u32;
        let err = loop {
            tries += 1;
            match self.send(&payload) {
                Ok(()) => {
                    let mut hosts: Vec<Option<String>> =
                        batch.iter().map(|n| n.host.clone()).collect();
                    hosts.sort();
                    hosts.dedup();
                    self.observer.delivered(&self.label, &hosts);
                    return;
                }
                Err(e) => {
                    let step = self.pace.backoff.get(tries as usize - 1);
                    match step {
                        Some(wait) if !e.permanent && (tries as usize) < attempts => {
                            tracing::debug!("{}: attempt {tries} failed: {e}", self.label);
                            std::thread::sleep(*wait);
                        }
                        _ => break e.message,
                    }
                }
            }
        };
        self.observer.failed(&Failure {
            sink: self.label.clone(),
            format: self.spec.format,
            error: err,
            attempts: tries,
            lost: batch,
        });
    }

    fn send(&self, p: &body::Payload) -> Result<(), DeliveryError> {
        match &self.spec.target {
            Target::Command(argv) => command::run(argv, &p.body, self.pace.deadline),
            Target::Webhook(url) => {
                let url = if self.spec.format == Format::Alertmanager {
                    url.with_path_suffix("/api/v2/alerts")
                } else {
                    url.clone()
                };
                post::post(
                    &url,
                    p.content_type,
                    &p.headers,
                    &p.body,
                    self.pace.deadline,
                )
                .map(|_| ())
            }
        }
    }

    /// `endsAt` of a firing alert: five refreshes ahead.
    fn ends_ahead(&self) -> String {
        let ahead = chrono::Duration::from_std(self.pace.am_refresh * 5)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        crate::timefmt::iso_ms(chrono::Utc::now() + ahead)
    }

    /// The batch as alerts (the last word per label set wins), and the
    /// firing set brought up to date.
    fn am_payload(&mut self, batch: &[Notification]) -> body::Payload {
        let mut out: BTreeMap<String, (AmAlert, String)> = BTreeMap::new();
        for n in batch {
            let labels = body::am_labels(n, &self.local_host);
            let key = serde_json::Value::Object(labels.clone()).to_string();
            match n.state {
                Transition::Raised => {
                    let a = AmAlert {
                        labels,
                        summary: n.message.clone(),
                        starts_at: n.ts.clone(),
                    };
                    if self.firing.len() < MAX_FIRING || self.firing.contains_key(&key) {
                        self.firing.insert(key.clone(), a.clone());
                    }
                    out.insert(key, (a, self.ends_ahead()));
                }
                Transition::Cleared => {
                    let a = self.firing.remove(&key).unwrap_or(AmAlert {
                        labels,
                        summary: n.message.clone(),
                        starts_at: n.ts.clone(),
                    });
                    out.insert(key, (a, n.ts.clone()));
                }
            }
        }
        let list: Vec<(AmAlert, String)> = out.into_values().collect();
        body::alertmanager(&list)
    }

    /// Re-post every firing alert (one attempt; a failure is said).
    fn refresh(&mut self) {
        let ends = self.ends_ahead();
        let list: Vec<(AmAlert, String)> = self
            .firing
            .values()
            .map(|a| (a.clone(), ends.clone()))
            .collect();
        if let Err(e) = self.send(&body::alertmanager(&list)) {
            self.observer.failed(&Failure {
                sink: self.label.clone(),
                format: self.spec.format,
                error: format!("re-posting {} firing alert(s): {e}", list.len()),
                attempts: 1,
                lost: Vec::new(),
            });
        }
    }
}
