//! Notifications: an alert episode, told to a person once when it is raised
//! and once when it clears (the per-episode de-duplication of
//! [`crate::detect::dedup`] decides; a repeat is never sent), through sinks
//! a user names: a program run without a shell with one JSON object on its
//! stdin, or an HTTP POST (JSON, ntfy, Slack, Alertmanager).
//!
//! The local monitor and the fleet witness hand their verdicts to a
//! [`Notifier`], which never blocks them: each sink has its own thread and a
//! bounded queue ([`worker`]), paces itself (a burst becomes one digest),
//! retries with back-off, and tells an [`Observer`] what it could not
//! deliver (the callers record `notify_failed`). A webhook's credentials,
//! path and query are never shown ([`url::WebhookUrl::redacted`]).

mod body;
mod command;
pub mod post;
pub mod url;
mod worker;

use crate::detect::{Alert, Severity};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;
pub use url::{UrlError, WebhookUrl};
pub use worker::Pace;

/// Longest alert message a notification carries (characters).
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// Why a sink's configuration was refused (never quoting a URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("unknown notification format '{0}' (one of: json, ntfy, slack, alertmanager)")]
    Format(String),
    #[error("unknown severity '{0}' (one of: info, warning, critical)")]
    Severity(String),
    #[error("a notify command needs a program")]
    NoProgram,
}

/// Why one attempt at a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub message: String,
    /// Retrying will not help (a 4xx other than 408/429, a bad certificate,
    /// a program that is not there).
    pub permanent: bool,
}

impl DeliveryError {
    pub fn retry(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            permanent: false,
        }
    }
    pub fn fatal(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            permanent: true,
        }
    }
}

/// Whether an episode starts or ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Raised,
    Cleared,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Raised => "raised",
            Transition::Cleared => "cleared",
        }
    }
}

/// One notification: `{"host", "detector", "severity", "state", "message",
/// "ts", "project"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The host's display name; None for the local monitor.
    pub host: Option<String>,
    pub detector: String,
    pub severity: Severity,
    pub state: Transition,
    pub message: String,
    /// When the witness saw the change (the witness's clock, ISO-ms).
    pub ts: String,
    pub project: Option<String>,
}

impl Notification {
    /// The JSON object, in the documented key order.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("host".into(), json!(self.host));
        m.insert("detector".into(), json!(self.detector));
        m.insert("severity".into(), json!(self.severity.as_str()));
        m.insert("state".into(), json!(self.state.as_str()));
        m.insert("message".into(), json!(self.message));
        m.insert("ts".into(), json!(self.ts));
        m.insert("project".into(), json!(self.project));
        Value::Object(m)
    }

    /// `kitchen-pi`, or the project for the local monitor.
    pub fn origin(&self) -> &str {
        self.host
            .as_deref()
            .or(self.project.as_deref())
            .unwrap_or("agent-runner")
    }
}

/// How a sink's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The notification object (a digest: the same keys plus `count`, `items`).
    Json,
    /// ntfy: the message as the body, `Title`, `Priority` and `Tags` headers.
    Ntfy,
    /// A Slack incoming webhook: `{"text": …}`.
    Slack,
    /// Alertmanager's `/api/v2/alerts`.
    Alertmanager,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["json", "ntfy", "slack", "alertmanager"];

    pub fn parse(s: &str) -> Result<Format, SinkError> {
        match s {
            "json" => Ok(Format::Json),
            "ntfy" => Ok(Format::Ntfy),
            "slack" => Ok(Format::Slack),
            "alertmanager" => Ok(Format::Alertmanager),
            _ => Err(SinkError::Format(s.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        Format::NAMES[self as usize]
    }
}

/// `warning` → [`Severity::Warning`], for `min_severity`.
pub fn parse_severity(s: &str) -> Result<Severity, SinkError> {
    match s {
        "info" => Ok(Severity::Info),
        "warning" => Ok(Severity::Warning),
        "critical" => Ok(Severity::Critical),
        _ => Err(SinkError::Severity(s.to_string())),
    }
}

/// Where a sink delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A program and its arguments, run without a shell.
    Command(Vec<String>),
    Webhook(WebhookUrl),
}

/// One notification sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSpec {
    pub target: Target,
    pub format: Format,
    /// Alerts less severe than this are not sent (nor their clears).
    pub min_severity: Severity,
}

impl SinkSpec {
    /// A `--notify-command PROGRAM` sink (JSON).
    pub fn command(argv: Vec<String>) -> Result<SinkSpec, SinkError> {
        match argv.first() {
            Some(p) if !p.is_empty() => Ok(SinkSpec {
                target: Target::Command(argv),
                format: Format::Json,
                min_severity: Severity::Info,
            }),
            _ => Err(SinkError::NoProgram),
        }
    }

    /// A `--webhook URL` sink.
    pub fn webhook(url: &str, format: Format) -> Result<SinkSpec, SinkError> {
        Ok(SinkSpec {
            target: Target::Webhook(WebhookUrl::parse(url)?),
            format,
            min_severity: Severity::Info,
        })
    }

    /// What may be shown of the sink: `webhook https://ntfy.sh/…`,
    /// `command /usr/local/bin/page-me`.
    pub fn label(&self) -> String {
        match &self.target {
            Target::Command(argv) => format!("command {}", argv.first().map_or("", |s| s)),
            Target::Webhook(u) => format!("webhook {}", u.redacted()),
        }
    }
}

/// A delivery that failed for good (after its retries), or notifications
/// dropped because the sink's queue was full.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// [`SinkSpec::label`].
    pub sink: String,
    pub format: Format,
    pub error: String,
    pub attempts: u32,
    /// The notifications that were not delivered.
    pub lost: Vec<Notification>,
}

impl Failure {
    /// The hosts of the lost notifications (None: the local project).
    pub fn hosts(&self) -> Vec<Option<String>> {
        let mut v: Vec<Option<String>> = self.lost.iter().map(|n| n.host.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// One line for stderr (no URL secrets: the sink is its label).
    pub fn line(&self) -> String {
        let what: Vec<String> = self
            .lost
            .iter()
            .take(5)
            .map(|n| format!("{} {} {}", n.origin(), n.detector, n.state.as_str()))
            .collect();
        let more = self.lost.len().saturating_sub(5);
        format!(
            "notification not delivered by {} after {} attempt(s): {} ({}{})",
            self.sink,
            self.attempts,
            self.error,
            what.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    }

    /// The `notify_failed` payload: `sink`, `format`, `error`, `attempts`,
    /// `notifications` (how many), `host` (one, or null), `detectors`.
    pub fn event_fields(&self) -> Map<String, Value> {
        let hosts = self.hosts();
        let host = match hosts.as_slice() {
            [one] => json!(one),
            _ => Value::Null,
        };
        let mut dets: Vec<&str> = self.lost.iter().map(|n| n.detector.as_str()).collect();
        dets.sort_unstable();
        dets.dedup();
        crate::fields! {
            "sink" => self.sink,
            "format" => self.format.as_str(),
            "error" => self.error,
            "attempts" => self.attempts,
            "notifications" => self.lost.len(),
            "host" => host,
            "detectors" => dets,
        }
    }
}

/// Told what became of deliveries (on the sink's thread: keep it short).
pub trait Observer: Send + Sync {
    /// A delivery failed for good, or notifications were dropped.
    fn failed(&self, f: &Failure);
    /// Notifications about `hosts` reached `sink`.
    fn delivered(&self, _sink: &str, _hosts: &[Option<String>]) {}
}

/// The local monitor's observer: a failure is a `notify_failed` event in
/// the log_dir (when there is one) and a line on `err`.
pub struct Recorder {
    log: Option<crate::state::EventLog>,
    err: std::sync::Mutex<Box<dyn std::io::Write + Send>>,
}

impl Recorder {
    pub fn new(
        log: Option<crate::state::EventLog>,
        err: Box<dyn std::io::Write + Send>,
    ) -> Recorder {
        Recorder {
            log,
            err: std::sync::Mutex::new(err),
        }
    }
}

impl Observer for Recorder {
    fn failed(&self, f: &Failure) {
        if let Some(l) = &self.log {
            if l.layout().log_dir.is_dir() {
                l.emit_or_warn(crate::state::Kind::NotifyFailed, f.event_fields());
            }
        }
        if let Ok(mut e) = self.err.lock() {
            let _ = writeln!(e, "agent-runner: {}", crate::termsafe::text(&f.line()));
            let _ = e.flush();
        }
    }
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {
    fn failed(&self, _f: &Failure) {}
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Hands notifications to the sinks' threads; never blocks.
pub struct Notifier {
    sinks: Vec<worker::Handle>,
    /// Raised episodes, by (host, detector): the severity and message a
    /// clear repeats.
    raised: BTreeMap<(Option<String>, String), (Severity, String)>,
}

/// Raised episodes remembered for their clears, at most (hosts × detectors).
const MAX_REMEMBERED: usize = 10_000;

impl Notifier {
    /// Start one thread per sink.
    pub fn start(specs: Vec<SinkSpec>, pace: Pace, observer: Arc<dyn Observer>) -> Notifier {
        Notifier {
            sinks: specs
                .into_iter()
                .map(|s| worker::Handle::spawn(s, pace.clone(), Arc::clone(&observer)))
                .collect(),
            raised: BTreeMap::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    fn dispatch(&self, n: Notification) {
        for s in &self.sinks {
            s.offer(&n);
        }
    }

    /// An episode started.
    pub fn raised(&mut self, host: Option<&str>, project: Option<&str>, a: &Alert) {
        let key = (host.map(String::from), a.detector.to_string());
        let message = clip(&a.message);
        if self.raised.len() < MAX_REMEMBERED || self.raised.contains_key(&key) {
            self.raised.insert(key, (a.severity, message.clone()));
        }
        self.dispatch(Notification {
            host: host.map(String::from),
            detector: a.detector.to_string(),
            severity: a.severity,
            state: Transition::Raised,
            message,
            ts: crate::timefmt::now_iso_ms(),
            project: project.map(String::from),
        });
    }

    /// An episode ended (sent only for an episode this notifier raised).
    pub fn cleared(&mut self, host: Option<&str>, project: Option<&str>, detector: &str) {
        let Some((severity, message)) = self
            .raised
            .remove(&(host.map(String::from), detector.to_string()))
        else {
            return;
        };
        self.dispatch(Notification {
            host: host.map(String::from),
            detector: detector.to_string(),
            severity,
            state: Transition::Cleared,
            message: format!("cleared: {message}"),
            ts: crate::timefmt::now_iso_ms(),
            project: project.map(String::from),
        });
    }

    /// Close the queues and give the sinks up to `wait` to deliver what
    /// they hold (one attempt each); threads still busy are left behind.
    pub fn shutdown(self, wait: Duration) {
        let deadline = std::time::Instant::now() + wait;
        let handles: Vec<_> = self.sinks.into_iter().map(|h| h.close()).collect();
        for h in handles.into_iter().flatten() {
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}
