//! `agent-runner monitor`: anomaly detection, narration, an event stream or
//! the HTTP page, for the local project or (`--host`, `--fleet`) remote hosts
//! over SSH. `--once`: 0 healthy, 1 alerts, 2 a host unreachable.

use super::{CliError, CmdResult, GlobalArgs};
use crate::detect::Alert;
use crate::exit_code;
use crate::fleet::run::{self as fleet, FleetError, FleetOutcome, Output, WatchOptions};
use crate::witness::monitor::{self, Monitor, ServiceStop};
use crate::witness::notify::{self, Format, Notifier, Pace, Recorder, SinkSpec};
use crate::witness::{http, narrate, Mode};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    Anomaly,
    Narrate,
    Events,
    Http,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Anomaly => Mode::Anomaly,
            ModeArg::Narrate => Mode::Narrate,
            ModeArg::Events => Mode::Events,
            ModeArg::Http => Mode::Http,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct MonitorArgs {
    /// What to do: detect anomalies, narrate events, stream events, or serve a page.
    #[arg(long, value_enum, default_value = "anomaly")]
    pub mode: ModeArg,
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
    #[command(flatten)]
    pub notify: NotifyArgs,
}

/// The notification flags (`monitor`, and `install` carries them into the
/// monitor units).
#[derive(Debug, Clone, Default, Args)]
pub struct NotifyArgs {
    /// Run PROGRAM (no shell) once per notification, with one JSON object on
    /// its stdin: {"host", "detector", "severity", "state", "message", "ts",
    /// "project"} (repeatable).
    #[arg(long = "notify-command", value_name = "PROGRAM")]
    pub notify_command: Vec<String>,
    /// POST each notification to URL, http:// or https:// (repeatable).
    #[arg(long, value_name = "URL")]
    pub webhook: Vec<String>,
    /// Body of the --webhook posts: json, ntfy, slack or alertmanager
    /// (posts to URL/api/v2/alerts).
    #[arg(long = "webhook-format", value_name = "FORMAT", default_value = "json",
          value_parser = clap::builder::PossibleValuesParser::new(Format::NAMES))]
    pub webhook_format: String,
    /// Notify only alerts at least this severe: info, warning or critical.
    #[arg(long = "notify-min-severity", value_name = "SEVERITY", default_value = "info",
          value_parser = clap::builder::PossibleValuesParser::new(["info", "warning", "critical"]))]
    pub notify_min_severity: String,
}

impl NotifyArgs {
    /// The sinks these flags name (a bad URL is a usage error that does not
    /// quote it).
    pub fn sinks(&self) -> Result<Vec<SinkSpec>, CliError> {
        let usage = |e: notify::SinkError| CliError::usage(e.to_string());
        let min = notify::parse_severity(&self.notify_min_severity).map_err(usage)?;
        let format = Format::parse(&self.webhook_format).map_err(usage)?;
        let mut out = Vec::new();
        for p in &self.notify_command {
            out.push(SinkSpec::command(vec![p.clone()]).map_err(usage)?);
        }
        for (i, u) in self.webhook.iter().enumerate() {
            out.push(
                SinkSpec::webhook(u, format)
                    .map_err(|e| CliError::usage(format!("--webhook #{}: {e}", i + 1)))?,
            );
        }
        for s in &mut out {
            s.min_severity = min;
        }
        Ok(out)
    }

    /// The same flags as arguments (for a unit's ExecStart).
    pub fn to_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        for p in &self.notify_command {
            v.extend(["--notify-command".to_string(), p.clone()]);
        }
        for u in &self.webhook {
            v.extend(["--webhook".to_string(), u.clone()]);
        }
        if !self.webhook.is_empty() && self.webhook_format != "json" {
            v.extend(["--webhook-format".to_string(), self.webhook_format.clone()]);
        }
        if self.notify_min_severity != "info" {
            v.extend([
                "--notify-min-severity".to_string(),
                self.notify_min_severity.clone(),
            ]);
        }
        v
    }

    /// Whether any sink is named.
    pub fn given(&self) -> bool {
        !self.notify_command.is_empty() || !self.webhook.is_empty()
    }
}

pub fn run(g: &GlobalArgs, a: &MonitorArgs) -> CmdResult {
    if !a.host.is_empty() || a.fleet.is_some() {
        return remote(g, a);
    }
    let mode = Mode::from(a.mode);
    let sinks = a.notify.sinks()?;
    if a.notify.given() && (mode != Mode::Anomaly || a.once) {
        return Err(CliError::usage(
            "--notify-command/--webhook need the long-running anomaly monitor (locally: --mode anomaly without --once)",
        ));
    }
    if mode == Mode::Http {
        http::check_bind(&a.bind).map_err(CliError::usage)?;
    }
    let interval = a.interval.unwrap_or(30.0);
    if !(interval.is_finite() && interval > 0.0) {
        return Err(CliError::usage(format!(
            "--interval expects a positive number of seconds, got '{interval}'"
        )));
    }
    let cfg = super::load_config(g)?;
    let io_err = |e: std::io::Error| {
        CliError::failure(format!(
            "cannot read '{}': {e}",
            cfg.runtime.log_dir.display()
        ))
    };
    let stdout = std::io::stdout();
    match mode {
        Mode::Narrate | Mode::Events => {
            let _ = crate::state::layout::create_dirs(&cfg.runtime.log_dir);
            narrate::follow(
                &cfg.runtime.log_dir,
                mode == Mode::Events,
                mode == Mode::Narrate,
                &mut stdout.lock(),
            )
            .map_err(io_err)?;
            Ok(exit_code::OK)
        }
        Mode::Http => {
            let listener = http::bind(&a.bind, a.port).map_err(http_error)?;
            eprintln!(
                "agent-runner: serving http://{}/ (Ctrl-C to stop)",
                listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            );
            http::run(cfg.clone(), listener).map_err(http_error)?;
            Ok(exit_code::OK)
        }
        Mode::Anomaly if a.once => {
            let alerts = monitor::check_once(&cfg).map_err(io_err)?;
            let mut out = stdout.lock();
            for al in &alerts {
                print_alert(&mut out, al, g.json);
            }
            Ok(if alerts.is_empty() {
                exit_code::OK
            } else {
                exit_code::FAILURE
            })
        }
        Mode::Anomaly => {
            let _ = crate::state::layout::create_dirs(&cfg.runtime.log_dir);
            crate::sys::signals::install_interrupt();
            let mut m = Monitor::new(cfg.clone(), Box::new(ServiceStop));
            if !sinks.is_empty() {
                let log =
                    crate::state::EventLog::new(crate::state::Layout::new(&cfg.runtime.log_dir));
                let rec = Recorder::new(Some(log), Box::new(std::io::stderr()));
                m.notify_with(Notifier::start(
                    sinks,
                    Pace::default(),
                    std::sync::Arc::new(rec),
                ));
            }
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
                if !crate::sys::signals::sleep_unless_interrupted(Duration::from_secs_f64(interval))
                {
                    m.close_notifier(Duration::from_secs(5));
                    return Ok(exit_code::OK);
                }
            }
        }
    }
}

/// `--host`/`--fleet`: the remote witness.
fn remote(g: &GlobalArgs, a: &MonitorArgs) -> CmdResult {
    let o = WatchOptions {
        host: a.host.clone(),
        fleet: a.fleet.clone(),
        remote_config: a.remote_config.clone(),
        ssh_config: a.ssh_config.clone(),
        mode: a.mode.into(),
        interval: a.interval,
        once: a.once,
        exit_on_giveup: a.exit_on_giveup,
        json: g.json,
        bind: a.bind.clone(),
        port: a.port,
        notify: a.notify.sinks()?,
    };
    // The local config is optional here: it only gives the witness a log_dir
    // for its own events and the default tolerance.
    let local = crate::config::load(&g.config).ok();
    let out = Output {
        out: Box::new(std::io::stdout()),
        err: Box::new(std::io::stderr()),
        terminal: std::io::stdout().is_terminal(),
    };
    let outcome = fleet::watch(&o, local.as_ref(), out).map_err(|e| match e {
        FleetError::Usage(_) => CliError::usage(e.to_string()),
        FleetError::Http(h) => http_error(h),
        FleetError::Runtime(_) => CliError::failure(e.to_string()),
    })?;
    Ok(match outcome {
        FleetOutcome::Healthy | FleetOutcome::Interrupted => exit_code::OK,
        FleetOutcome::Alerts | FleetOutcome::GaveUp => exit_code::FAILURE,
        FleetOutcome::Unreachable => exit_code::USAGE,
    })
}

fn http_error(e: http::HttpError) -> CliError {
    match e {
        http::HttpError::Bind(_) => CliError::usage(e.to_string()),
        _ => CliError::failure(e.to_string()),
    }
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
