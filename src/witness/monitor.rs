//! The local monitor: gather a [`Window`](super::window::Window) from the
//! log_dir incrementally, run the detectors, de-duplicate per episode, print,
//! record `monitor_*` events and auto-stop through a replaceable [`StopAction`].
//!
//! The first poll reads the newest [`RECENT_EVENTS`] events backwards; later
//! polls read only what was appended (an [`EventTail`] keeps the offsets), so a
//! poll never costs O(log size).

use super::dedup::{Dedup, Verdict};
use super::detectors::{self, Alert, AutoAction};
use super::window::{Record, Thresholds};
use crate::config::Config;
use crate::fields;
use crate::observe::state::{self, Snapshot, RECENT_EVENTS};
use crate::state::reader::{self, EventTail};
use crate::state::{EventLog, Kind, Layout};
use clap::{Args, ValueEnum};
use std::collections::VecDeque;
use std::io::Write;
use std::time::Duration;

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
/// still the process that wrote the file (start-time token).
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
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(rec.pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .map_err(|e| format!("cannot signal serve pid {}: {e}", rec.pid))?;
        Ok(format!("sent SIGTERM to serve pid {}", rec.pid))
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

/// The monitor's view of a log_dir, carried between polls.
#[derive(Debug)]
pub struct Source {
    layout: Layout,
    tail: Option<EventTail>,
    buf: VecDeque<Record>,
    corrupt: u64,
}

impl Source {
    pub fn new(layout: Layout) -> Source {
        Source {
            layout,
            tail: None,
            buf: VecDeque::new(),
            corrupt: 0,
        }
    }

    /// Read what is new and return the current snapshot.
    pub fn read(&mut self) -> std::io::Result<Snapshot> {
        match &mut self.tail {
            None => {
                let t = reader::tail_last_n(&self.layout.log_dir, &[], RECENT_EVENTS)?;
                self.corrupt = t.corrupt;
                self.tail = Some(match t.lines.last() {
                    Some(l) => EventTail::from_cursor(&self.layout.log_dir, &l.end),
                    None => EventTail::at_end(&self.layout.log_dir),
                });
                self.buf = t.lines.into_iter().map(|l| l.value).collect();
            }
            Some(tail) => {
                let before = tail.corrupt();
                for l in tail.poll()? {
                    self.buf.push_back(l.value);
                }
                self.corrupt += tail.corrupt() - before;
                while self.buf.len() > RECENT_EVENTS {
                    self.buf.pop_front();
                }
            }
        }
        let events: Vec<Record> = self.buf.iter().cloned().collect();
        state::gather_rest(&self.layout, events, self.corrupt)
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
    let snap = state::gather(&Layout::new(&cfg.runtime.log_dir))?;
    Ok(detect(cfg, &snap))
}

/// The long-running anomaly monitor.
pub struct Monitor {
    cfg: Config,
    source: Source,
    dedup: Dedup,
    stop: Box<dyn StopAction>,
    log: EventLog,
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

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    Anomaly,
    Narrate,
    Events,
    Http,
}

#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// What to do: detect anomalies, narrate events, stream events, or serve a page.
    #[arg(long, value_enum, default_value = "anomaly")]
    pub mode: Mode,
    /// Seconds between anomaly polls (default 30); with --host/--fleet,
    /// seconds between remote snapshots (default 5).
    #[arg(long, value_name = "S")]
    pub interval: Option<f64>,
    /// One anomaly poll, then exit: 0 healthy, 1 alerts.
    #[arg(long)]
    pub once: bool,
    /// HTTP port (mode http).
    #[arg(long, default_value_t = 8765)]
    pub port: u16,
    /// HTTP bind address (mode http); only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: String,
    /// Watch a remote host over SSH (repeatable); see docs/fleet.md.
    #[arg(long, value_name = "SSH-ALIAS")]
    pub host: Vec<String>,
    /// Watch every host of a hosts file (format: hosts.example.toml).
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<std::path::PathBuf>,
    /// Config path on the remote host(s) given with --host (default
    /// 'agent-runner.toml' in the remote home).
    #[arg(long, value_name = "PATH")]
    pub remote_config: Option<String>,
    /// ssh_config file to read instead of ~/.ssh/config (env AGENT_RUNNER_SSH_CONFIG).
    #[arg(long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<std::path::PathBuf>,
    /// Single host: after remote_failure_tolerance_s of failed reconnects,
    /// record monitor_remote_giveup and exit 1 (default: keep retrying and
    /// show host_unreachable).
    #[arg(long)]
    pub exit_on_giveup: bool,
}

fn print_alert(out: &mut dyn Write, a: &Alert, json: bool) {
    let line = if json {
        a.to_json_line()
    } else {
        a.to_text_line()
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `monitor`.
pub fn cmd_monitor(g: &crate::cli::GlobalArgs, a: &MonitorArgs) -> crate::cli::CmdResult {
    use crate::cli::CliError;
    if crate::fleet::run::is_remote(a) {
        return crate::fleet::run::cmd(g, a);
    }
    if a.mode == Mode::Http {
        super::http::check_bind(&a.bind).map_err(CliError::usage)?;
    }
    let interval = a.interval.unwrap_or(30.0);
    if !(interval.is_finite() && interval > 0.0) {
        return Err(CliError::usage(format!(
            "--interval expects a positive number of seconds, got '{interval}'"
        )));
    }
    let cfg = crate::config::load(&g.config)?;
    let io_err = |e: std::io::Error| {
        CliError::failure(format!(
            "cannot read '{}': {e}",
            cfg.runtime.log_dir.display()
        ))
    };
    let stdout = std::io::stdout();
    match a.mode {
        Mode::Narrate | Mode::Events => {
            let _ = std::fs::create_dir_all(&cfg.runtime.log_dir);
            super::narrate::follow(
                &cfg.runtime.log_dir,
                a.mode == Mode::Events,
                a.mode == Mode::Narrate,
                &mut stdout.lock(),
            )
            .map_err(io_err)?;
            Ok(crate::exit_code::OK)
        }
        Mode::Http => super::http::run(cfg.clone(), &a.bind, a.port),
        Mode::Anomaly if a.once => {
            let alerts = check_once(&cfg).map_err(io_err)?;
            let mut out = stdout.lock();
            for al in &alerts {
                print_alert(&mut out, al, g.json);
            }
            Ok(if alerts.is_empty() {
                crate::exit_code::OK
            } else {
                crate::exit_code::FAILURE
            })
        }
        Mode::Anomaly => {
            let _ = std::fs::create_dir_all(&cfg.runtime.log_dir);
            crate::signals::install_interrupt();
            let mut m = Monitor::new(cfg.clone(), Box::new(ServiceStop));
            m.announce(interval);
            loop {
                match m.poll() {
                    Ok(v) => {
                        let mut out = stdout.lock();
                        for al in &v.fresh {
                            print_alert(&mut out, al, g.json);
                        }
                    }
                    Err(e) => tracing::warn!("monitor poll failed: {e}"),
                }
                if !crate::signals::sleep_unless_interrupted(Duration::from_secs_f64(interval)) {
                    return Ok(crate::exit_code::OK);
                }
            }
        }
    }
}
