//! `monitor --host HOST…` / `monitor --fleet FILE`: start one link task per
//! host (bounded concurrent handshakes, jittered start), then print what they
//! report — a live table on a terminal, plain lines otherwise, `--json` lines
//! tagged with the host, raw relayed events in `--mode events`, or the fleet
//! HTTP view — and record the witness's own `monitor_*` events in the local
//! log_dir when there is one.

use super::display::render_table;
use super::hosts::{self, HostSpec};
use super::link::{self, LinkOpts, Report, Table};
use super::notify::{self as fleet_notify, Delivery};
use crate::config::Config;
use crate::detect::Alert;
use crate::fields;
use crate::state::{EventLog, Kind, Layout};
use crate::termsafe;
use crate::witness::http::{self, HttpError};
use crate::witness::notify::{Notifier, Pace, SinkSpec};
use crate::witness::Mode;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SSH handshakes in flight at once.
pub const MAX_HANDSHAKES: usize = 16;
/// Default give-up tolerance without a local config or hosts-file value.
pub const DEFAULT_TOLERANCE_S: u64 = 90;

/// What `monitor --host/--fleet` was asked to do.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// `--host` aliases, in order.
    pub host: Vec<String>,
    /// `--fleet` hosts file.
    pub fleet: Option<PathBuf>,
    /// Config path on the hosts given with `--host`.
    pub remote_config: Option<String>,
    /// ssh_config file instead of `~/.ssh/config`.
    pub ssh_config: Option<PathBuf>,
    pub mode: Mode,
    /// Seconds between remote snapshots (default: the hosts file's, else 5).
    pub interval: Option<f64>,
    /// One evaluation per host, then exit.
    pub once: bool,
    /// Single host: give up after the failure tolerance.
    pub exit_on_giveup: bool,
    /// JSON lines tagged with the host instead of text.
    pub json: bool,
    /// HTTP view address (mode http).
    pub bind: String,
    pub port: u16,
    /// Notification sinks from the command line (the hosts file's
    /// `[[notify]]` tables are added to them).
    pub notify: Vec<SinkSpec>,
}

/// Where the witness writes its live view: `out` (table, lines), `err`
/// (notices), and whether `out` is a terminal (then a redrawn table).
pub struct Output {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    pub terminal: bool,
}

/// How a fleet watch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetOutcome {
    /// Every host reported and none raised an alert (`--once`).
    Healthy,
    /// Interrupted (Ctrl-C, SIGTERM) while watching.
    Interrupted,
    /// At least one alert was raised.
    Alerts,
    /// At least one host could not be reached (`--once`).
    Unreachable,
    /// `--exit-on-giveup`: the host stayed unreachable past the tolerance.
    GaveUp,
}

/// Why the fleet witness could not start.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The options or the hosts file are wrong.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

fn specs(a: &WatchOptions) -> Result<(Vec<HostSpec>, Option<hosts::Fleet>), String> {
    let mut out = Vec::new();
    let fleet = match &a.fleet {
        Some(p) => Some(hosts::load(p)?),
        None => None,
    };
    if let Some(f) = &fleet {
        out.extend(f.hosts.iter().cloned());
    }
    for h in &a.host {
        let s = hosts::from_alias(h, a.remote_config.as_deref())?;
        if out.iter().any(|x| x.name == s.name) {
            return Err(format!("host '{h}' is given twice"));
        }
        out.push(s);
    }
    Ok((out, fleet))
}

/// The witness's own event log (only when the local config's log_dir exists).
struct Local {
    log: Option<EventLog>,
}

impl Local {
    fn emit(&self, kind: Kind, f: Map<String, Value>) {
        if let Some(l) = &self.log {
            l.emit_or_warn(kind, f);
        }
    }
}

fn tagged(host: &str, kind: &str, mut m: Map<String, Value>) -> String {
    let mut o = Map::new();
    o.insert("host".into(), json!(host));
    o.insert("type".into(), json!(kind));
    o.append(&mut m);
    // ASCII-escaped already; DEL, the one control left raw, is escaped too.
    termsafe::json_line(&crate::state::pyjson::to_line_ascii(&Value::Object(o))).into_owned()
}

/// A text line for the terminal: what a host sent (names, messages,
/// errors) cannot drive it ([`termsafe::text`]).
fn plain(s: String) -> String {
    match termsafe::text(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => o,
    }
}

fn alert_map(a: &Alert) -> Map<String, Value> {
    match serde_json::to_value(a) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// How often the witness hands freed heap back to the OS (connecting a fleet
/// parses each host's backlog and leaves the heap full of holes).
const TRIM_EVERY: Duration = Duration::from_secs(20);

static HTTP_STOP: AtomicBool = AtomicBool::new(false);

/// Watch the hosts of `a` until interrupted (or once, with `--once`).
/// `local` is the laptop's own project config, if there is one: its log_dir
/// receives the witness's `monitor_*` events and it gives the default
/// failure tolerance.
pub fn watch(
    a: &WatchOptions,
    local_cfg: Option<&Config>,
    mut out: Output,
) -> Result<FleetOutcome, FleetError> {
    let usage = FleetError::Usage;
    let (specs, fleet) = specs(a).map_err(usage)?;
    if specs.is_empty() {
        return Err(usage(
            "no host to watch; give --host ALIAS or --fleet FILE".into(),
        ));
    }
    if a.mode == Mode::Narrate {
        return Err(usage(
            "--mode narrate is local only; for remote hosts use --mode anomaly, events or http"
                .into(),
        ));
    }
    if a.once && a.mode != Mode::Anomaly {
        return Err(usage("--once works with --mode anomaly only".into()));
    }
    if a.exit_on_giveup && specs.len() != 1 {
        return Err(usage("--exit-on-giveup needs exactly one host".into()));
    }
    let mut sinks = a.notify.clone();
    sinks.extend(fleet.as_ref().map(|f| f.notify.clone()).unwrap_or_default());
    if !sinks.is_empty() && (a.once || a.mode == Mode::Events) {
        return Err(usage(
            "notifications (--notify-command, --webhook, [[notify]]) need a long-running --mode anomaly or http, without --once".into(),
        ));
    }
    let listener = if a.mode == Mode::Http {
        Some(http::bind(&a.bind, a.port)?)
    } else {
        None
    };
    let local = Local {
        log: local_cfg
            .filter(|c| c.runtime.log_dir.is_dir())
            .map(|c| EventLog::new(Layout::new(&c.runtime.log_dir))),
    };
    let tolerance_s = fleet
        .as_ref()
        .and_then(|f| f.tolerance_s)
        .or(local_cfg.map(|c| c.monitor.remote_failure_tolerance_s))
        .unwrap_or(DEFAULT_TOLERANCE_S);
    let interval_s = a
        .interval
        .or(fleet.as_ref().and_then(|f| f.interval_s))
        .unwrap_or(hosts::DEFAULT_INTERVAL_S);
    if !(interval_s.is_finite() && interval_s > 0.0) {
        return Err(usage(format!(
            "--interval expects a positive number of seconds, got '{interval_s}'"
        )));
    }
    let base = LinkOpts {
        ssh_config: a.ssh_config.clone(),
        interval_s,
        tolerance_s,
        backlog: if a.mode == Mode::Events {
            0
        } else {
            crate::snapshot::RECENT_EVENTS
        },
        once: a.once,
        exit_on_giveup: a.exit_on_giveup,
        auto_stop: a.mode != Mode::Events && !a.once,
        start_delay: Duration::ZERO,
        relay_events: a.mode == Mode::Events,
        row_events: a.mode == Mode::Http,
    };
    let table: Table = Arc::new(Mutex::new(BTreeMap::new()));
    // Hundreds of sessions moving between the runtime's threads doubled the
    // witness's RSS with one arena per thread (bench/fleet.py, 200 hosts).
    crate::heap::cap_arenas(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(FleetError::Runtime)?;
    crate::sys::signals::install_interrupt();
    let tty = out.terminal && !a.json && a.mode == Mode::Anomaly && !a.once;
    for s in &specs {
        local.emit(
            Kind::MonitorStarted,
            fields! {"host" => s.alias, "interval_s" => interval_s, "log_dir" => s.config, "mode" => "remote"},
        );
    }
    let http_thread = listener.map(|l| {
        if let Ok(addr) = l.local_addr() {
            let _ = writeln!(
                out.err,
                "agent-runner: serving the fleet view on http://{addr}/ (Ctrl-C to stop)"
            );
        }
        let (t, t2) = (Arc::clone(&table), Arc::clone(&table));
        std::thread::spawn(move || {
            let site = http::Site {
                handler: Arc::new(move |m: &str, p: &str| super::display::handle(&t, m, p)),
                live: Some(Arc::new(move |page: &str| super::pages::live(&t2, page))),
                tick: Duration::from_secs(1),
            };
            http::serve_site(site, l, &HTTP_STOP)
        })
    });
    let view = View {
        json: a.json,
        mode: a.mode,
        tty,
    };
    let (dtx, drx) = tokio::sync::mpsc::unbounded_channel();
    let notifier = (!sinks.is_empty())
        .then(|| Notifier::start(sinks, Pace::default(), Arc::new(fleet_notify::ToLoop(dtx))));
    let mut alerts = Alerts {
        notifier,
        deliveries: drx,
        projects: BTreeMap::new(),
    };
    let outcome = rt.block_on(drive(
        specs,
        base,
        table,
        view,
        &local,
        &mut out,
        &mut alerts,
    ));
    if let Some(n) = alerts.notifier.take() {
        n.shutdown(Duration::from_secs(5));
    }
    HTTP_STOP.store(true, Ordering::SeqCst);
    if let Some(t) = http_thread {
        let _ = t.join();
    }
    rt.shutdown_timeout(Duration::from_secs(3));
    Ok(outcome)
}

/// Where alerts go besides the output: the notifier and what it reports.
struct Alerts {
    notifier: Option<Notifier>,
    deliveries: tokio::sync::mpsc::UnboundedReceiver<Delivery>,
    /// Each host's project, from its hello.
    projects: BTreeMap<String, String>,
}

impl Alerts {
    fn connected(&mut self, host: &str, hello: &Map<String, Value>) {
        if let Some(p) = hello.get("project").and_then(Value::as_str) {
            self.projects.insert(host.to_string(), p.to_string());
        }
    }
    fn raised(&mut self, host: &str, alert: &Alert) {
        if let Some(n) = &mut self.notifier {
            n.raised(
                Some(host),
                self.projects.get(host).map(String::as_str),
                alert,
            );
        }
    }
    fn cleared(&mut self, host: &str, detector: &str) {
        if let Some(n) = &mut self.notifier {
            n.cleared(
                Some(host),
                self.projects.get(host).map(String::as_str),
                detector,
            );
        }
    }
}

/// How reports are shown.
#[derive(Debug, Clone, Copy)]
struct View {
    json: bool,
    mode: Mode,
    /// A redrawn table on a terminal instead of lines.
    tty: bool,
}

async fn drive(
    specs: Vec<HostSpec>,
    base: LinkOpts,
    table: Table,
    view: View,
    local: &Local,
    sink: &mut Output,
    notes: &mut Alerts,
) -> FleetOutcome {
    let View {
        json: json_out,
        mode,
        tty,
    } = view;
    // Diagnostics as JSON lines on stdout with `--json`; in `--mode events`
    // stdout carries only the relayed event lines, everything else goes to
    // stderr.
    let diag_json = json_out && mode != Mode::Events;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let n = specs.len();
    // Jitter the start over up to 2 s for big fleets (none for a handful).
    let spread_ms = if n > MAX_HANDSHAKES { 2000u64 } else { 0 };
    let mut pending: BTreeSet<String> = BTreeSet::new();
    for s in specs {
        let mut o = base.clone();
        if spread_ms > 0 {
            use rand::Rng;
            o.start_delay = Duration::from_millis(rand::thread_rng().gen_range(0..spread_ms));
        }
        pending.insert(s.name.clone());
        // Each host's link in a task of its own: a panic there ends only
        // that host's link (reported as `Crashed`).
        let name = s.name.clone();
        let task = link::watch(s, o, Arc::clone(&gate), Arc::clone(&table), tx.clone());
        tokio::spawn(link::supervise(name, Arc::clone(&table), tx.clone(), task));
    }
    drop(tx);
    let mut trim_at = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(if tty { 1000 } else { 200 }));
    let mut alerts = false;
    let mut unreachable = false;
    let mut recent: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            r = rx.recv() => {
                let Some(r) = r else { break };
                let out = &mut sink.out;
                let err = &mut sink.err;
                let mut line = |s: String| {
                    if tty {
                        recent.push(s);
                        if recent.len() > 10 { recent.remove(0); }
                    } else {
                        let _ = writeln!(out, "{s}");
                    }
                };
                match r {
                    Report::Connected { host, hello } => {
                        notes.connected(&host, &hello);
                        if mode != Mode::Events {
                            let s = |k: &str| hello.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                            let relay = hello.get("relay").and_then(Value::as_str);
                            if json_out {
                                let mut m = fields! {"version" => s("version"), "hostname" => s("hostname"), "arch" => s("arch"), "project" => s("project"), "log_dir" => s("log_dir")};
                                if let Some(r) = relay {
                                    m.insert("relay".into(), json!(r));
                                }
                                line(tagged(&host, "connected", m));
                            } else if relay.is_some() {
                                line(plain(format!("{host}: connected (the Python agent-runner, project '{}': relaying its events; event detectors only, no metrics, status or round logs; 'agent-runner deploy' puts the full probe there)", s("project"))));
                            } else {
                                line(plain(format!("{host}: connected (agent-runner {} on '{}', {}, project '{}')", s("version"), s("hostname"), s("arch"), s("project"))));
                            }
                        }
                    }
                    Report::Alert { host, alert } => {
                        alerts = true;
                        notes.raised(&host, &alert);
                        local.emit(Kind::MonitorAlertEmitted, fields! {
                            "detector" => alert.detector, "severity" => alert.severity.as_str(),
                            "message" => alert.message, "auto_action" => alert.auto_action.as_str(), "host" => host});
                        if mode != Mode::Events {
                            if json_out { line(tagged(&host, "alert", alert_map(&alert))) } else { line(plain(format!("{host}: {}", alert.to_text_line()))) }
                        }
                    }
                    Report::Cleared { host, detector } => {
                        notes.cleared(&host, &detector);
                        local.emit(Kind::MonitorAlertCleared, fields! {"detector" => detector, "host" => host});
                        if mode != Mode::Events {
                            if json_out { line(tagged(&host, "cleared", fields! {"detector" => detector})) } else { line(plain(format!("{host}: cleared {detector}"))) }
                        }
                    }
                    Report::Event { host, line: raw } => {
                        if mode == Mode::Events {
                            let _ = host;
                            line(termsafe::json_line(raw.trim_end()).into_owned());
                        }
                    }
                    Report::Blip { host, fields: f } => {
                        local.emit(Kind::MonitorRemoteBlip, f.clone());
                        if diag_json { line(tagged(&host, "blip", f)) } else {
                            let _ = writeln!(err, "{}", plain(format!("agent-runner: {host}: link blip (attempt {}, retry in {}s): {}",
                                f.get("attempt").cloned().unwrap_or_default(),
                                f.get("next_sleep_s").cloned().unwrap_or_default(),
                                f.get("error").and_then(Value::as_str).unwrap_or(""))));
                        }
                    }
                    Report::Unreachable { host, alert } => {
                        unreachable = true;
                        notes.raised(&host, &alert);
                        local.emit(Kind::MonitorAlertEmitted, fields! {
                            "detector" => alert.detector, "severity" => alert.severity.as_str(),
                            "message" => alert.message, "auto_action" => alert.auto_action.as_str(), "host" => host});
                        if diag_json { line(tagged(&host, "alert", alert_map(&alert))) }
                        else if mode == Mode::Events { let _ = writeln!(err, "{}", plain(format!("agent-runner: {host}: {}", alert.to_text_line()))); }
                        else { line(plain(format!("{host}: {}", alert.to_text_line()))) }
                    }
                    Report::Giveup { host, fields: f } => {
                        local.emit(Kind::MonitorRemoteGiveup, f.clone());
                        if diag_json { line(tagged(&host, "giveup", f.clone())) }
                        let _ = writeln!(err, "{}", plain(format!("agent-runner: relay to '{host}' gave up after {}s / {} attempts: {}",
                            f.get("total_elapsed_s").cloned().unwrap_or_default(),
                            f.get("total_attempts").cloned().unwrap_or_default(),
                            f.get("final_error").and_then(Value::as_str).unwrap_or(""))));
                        return FleetOutcome::GaveUp;
                    }
                    Report::AutoStop { host, detector, result } => {
                        match &result {
                            Ok(d) => {
                                local.emit(Kind::MonitorAutoStopTriggered, fields! {"detector" => detector, "host" => host});
                                if json_out { line(tagged(&host, "auto_stop", fields! {"detector" => detector, "ok" => true, "detail" => d})) }
                                else { line(plain(format!("{host}: auto-stop ({detector}): remote serve asked to stop: {d}"))) }
                            }
                            Err(e) => {
                                local.emit(Kind::MonitorAutoStopFailed, fields! {"detector" => detector, "host" => host, "error" => e});
                                if json_out { line(tagged(&host, "auto_stop", fields! {"detector" => detector, "ok" => false, "error" => e})) }
                                else { line(plain(format!("{host}: auto-stop ({detector}) FAILED: {e}"))) }
                            }
                        }
                    }
                    Report::NoProbe { host, message } => {
                        let _ = writeln!(err, "agent-runner: {}", termsafe::text(&message));
                        if diag_json { line(tagged(&host, "no_probe", fields! {"message" => message})) }
                    }
                    Report::Notice { host, message } => {
                        let _ = writeln!(err, "{}", plain(format!("agent-runner: host '{host}': {message}")));
                    }
                    Report::Done { host } => {
                        pending.remove(&host);
                        if pending.is_empty() { break; }
                    }
                    Report::Crashed { host, message } => {
                        unreachable = true;
                        let _ = writeln!(err, "agent-runner: {message}");
                        pending.remove(&host);
                        if pending.is_empty() { break; }
                    }
                }
                let _ = out.flush();
            }
            Some(d) = notes.deliveries.recv() => {
                if let Delivery::Failed(f) = &d {
                    local.emit(Kind::NotifyFailed, f.event_fields());
                    let _ = writeln!(sink.err, "agent-runner: {}", termsafe::text(&f.line()));
                }
                fleet_notify::mark_rows(&table, &d);
            }
            _ = tick.tick() => {
                if crate::sys::signals::interrupted() {
                    return FleetOutcome::Interrupted;
                }
                if trim_at.elapsed() >= TRIM_EVERY {
                    trim_at = std::time::Instant::now();
                    crate::heap::trim();
                }
                if tty {
                    if let Ok(t) = table.lock() {
                        let out = &mut sink.out;
                        let _ = write!(out, "\x1b[H\x1b[2J{}\n{}\n", render_table(&t), recent.join("\n"));
                        let _ = out.flush();
                    }
                }
            }
        }
    }
    if unreachable {
        FleetOutcome::Unreachable
    } else if alerts {
        FleetOutcome::Alerts
    } else {
        FleetOutcome::Healthy
    }
}
