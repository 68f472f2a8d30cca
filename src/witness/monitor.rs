//! The local monitor: read the log_dir incrementally (a
//! [`crate::snapshot::Source`]: the first poll reads the newest events
//! backwards, later polls only what was appended, so a poll never costs O(log
//! size)), run the detectors, de-duplicate per episode, record `monitor_*`
//! events and auto-stop through a replaceable [`StopAction`], and hand each
//! episode's start and end to the notification sinks, if any
//! ([`super::notify`]: never blocking the poll).

use super::notify::Notifier;
use crate::config::Config;
use crate::detect::dedup::{Dedup, Verdict};
use crate::detect::window::Thresholds;
use crate::detect::{self as detectors, Alert, AutoAction};
use crate::fields;
use crate::snapshot::{Snapshot, Source};
use crate::state::{EventLog, Kind, Layout};

/// How the monitor stops the supervised service when an allowed detector fires.
///
/// The default, [`PidFileStop`], signals the pid in `serve.pid`. The service
/// module (systemd or pid-file, `crate::service::request_stop`) will plug in
/// here; tests plug in a recorder.
pub trait StopAction: Send + Sync {
    /// Ask the service to stop. `Ok` describes what was done, `Err` why not.
    fn request_stop(&self, cfg: &Config) -> Result<String, String>;
}

/// SIGTERM to the pid in `<log_dir>/serve.pid`, after checking that pid is
/// still the process that wrote the file (start-time token), through a pidfd
/// opened before the check (a recycled pid is never signalled).
#[derive(Debug, Default, Clone, Copy)]
pub struct PidFileStop;

impl StopAction for PidFileStop {
    fn request_stop(&self, cfg: &Config) -> Result<String, String> {
        let layout = Layout::new(&cfg.runtime.log_dir);
        let rec = crate::service::pidfile::read(&layout.serve_pid())
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no serve.pid in '{}': nothing to stop",
                    layout.log_dir.display()
                )
            })?;
        if rec.pid <= 1 || !rec.is_live() {
            return Err(format!(
                "serve pid {} from '{}' is not running (stale pid file)",
                rec.pid,
                layout.serve_pid().display()
            ));
        }
        match rec.signal(nix::sys::signal::Signal::SIGTERM) {
            Ok(true) => Ok(format!("sent SIGTERM to serve pid {}", rec.pid)),
            Ok(false) => Err(format!(
                "serve pid {} from '{}' ended before it could be signalled",
                rec.pid,
                layout.serve_pid().display()
            )),
            Err(e) => Err(format!("cannot signal serve pid {}: {e}", rec.pid)),
        }
    }
}

/// The service as it is managed: `systemctl stop --no-block` when a unit is
/// installed (the monitor must not block for a whole round), else
/// [`PidFileStop`]. The default for `monitor`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServiceStop;

impl StopAction for ServiceStop {
    fn request_stop(&self, cfg: &Config) -> Result<String, String> {
        use crate::service::{self, systemd, Mode};
        let scope = match service::mode(cfg) {
            Mode::SystemdUser => systemd::Scope::User,
            Mode::SystemdSystem => systemd::Scope::System,
            Mode::PidFile | Mode::None => return PidFileStop.request_stop(cfg),
        };
        let unit = systemd::unit_name(&cfg.project);
        systemd::systemctl(scope, &["stop", "--no-block", &unit])?;
        Ok(format!("asked systemd to stop '{unit}'"))
    }
}

/// Run the detectors over a snapshot (no side effects).
pub fn detect(cfg: &Config, snap: &Snapshot) -> Vec<Alert> {
    let th = Thresholds::from_config(cfg);
    detectors::run_all(&snap.window(&th))
}

/// One-shot check of a log_dir: every alert active now (what `monitor --once`
/// prints). Reads only the tail of the logs; writes nothing.
pub fn check_once(cfg: &Config) -> std::io::Result<Vec<Alert>> {
    let snap = crate::snapshot::gather(&Layout::new(&cfg.runtime.log_dir))?;
    Ok(detect(cfg, &snap))
}

/// The long-running anomaly monitor.
pub struct Monitor {
    cfg: Config,
    source: Source,
    dedup: Dedup,
    stop: Box<dyn StopAction>,
    log: EventLog,
    notifier: Option<Notifier>,
}

impl Monitor {
    pub fn new(cfg: Config, stop: Box<dyn StopAction>) -> Monitor {
        let layout = Layout::new(&cfg.runtime.log_dir);
        Monitor {
            source: Source::new(layout.clone()),
            log: EventLog::new(layout),
            cfg,
            dedup: Dedup::new(),
            stop,
            notifier: None,
        }
    }

    /// Send each episode's start and end to `n`'s sinks.
    pub fn notify_with(&mut self, n: Notifier) {
        self.notifier = Some(n).filter(|n| !n.is_empty());
    }

    /// Stop notifying: the sinks get up to `wait` to deliver what they hold.
    pub fn close_notifier(&mut self, wait: std::time::Duration) {
        if let Some(n) = self.notifier.take() {
            n.shutdown(wait);
        }
    }

    fn emit(&self, kind: Kind, payload: serde_json::Map<String, serde_json::Value>) {
        if self.cfg.runtime.log_dir.is_dir() {
            self.log.emit_or_warn(kind, payload);
        }
    }

    /// `monitor_started`.
    pub fn announce(&self, interval_s: f64) {
        self.emit(
            Kind::MonitorStarted,
            fields! {
                "host" => serde_json::Value::Null,
                "interval_s" => interval_s,
                "log_dir" => self.cfg.runtime.log_dir.display().to_string(),
                "mode" => "anomaly-only",
            },
        );
    }

    /// One poll: detect, de-duplicate, record and act on fresh alerts, record
    /// cleared episodes.
    pub fn poll(&mut self) -> std::io::Result<Verdict> {
        let snap = self.source.read()?;
        let alerts = detect(&self.cfg, &snap);
        let verdict = self.dedup.update(alerts);
        if let Some(n) = &mut self.notifier {
            // Clears first: an episode that ends as the next one of the same
            // detector starts (`hung`, round after round) reads in order.
            let project = Some(self.cfg.project.as_str());
            for (_, det) in &verdict.cleared {
                n.cleared(None, project, det);
            }
            for a in &verdict.fresh {
                n.raised(None, project, a);
            }
        }
        for a in &verdict.fresh {
            self.emit(
                Kind::MonitorAlertEmitted,
                fields! {
                    "detector" => a.detector,
                    "severity" => a.severity.as_str(),
                    "message" => a.message,
                    "auto_action" => a.auto_action.as_str(),
                },
            );
            let allowed = self
                .cfg
                .monitor
                .auto_stop_on
                .iter()
                .any(|n| n == a.detector);
            if a.auto_action == AutoAction::StopService && allowed {
                match self.stop.request_stop(&self.cfg) {
                    Ok(_) => self.emit(
                        Kind::MonitorAutoStopTriggered,
                        fields! {"detector" => a.detector, "host" => serde_json::Value::Null},
                    ),
                    Err(e) => self.emit(
                        Kind::MonitorAutoStopFailed,
                        fields! {"detector" => a.detector, "host" => serde_json::Value::Null, "error" => e},
                    ),
                }
            }
        }
        for (_, det) in &verdict.cleared {
            self.emit(
                Kind::MonitorAlertCleared,
                fields! {"detector" => *det, "host" => serde_json::Value::Null},
            );
        }
        Ok(verdict)
    }
}
