//! `monitor --host HOST…` / `monitor --fleet FILE`: start one link task per
//! host (bounded concurrent handshakes, jittered start), then print what they
//! report — a live table on a terminal, plain lines otherwise, `--json` lines
//! tagged with the host, raw relayed events in `--mode events`, or the fleet
//! HTTP view — and record the witness's own `monitor_*` events in the local
//! log_dir when there is one.

use super::hosts::{self, HostSpec};
use super::link::{self, LinkOpts, Report, Row, Table};
use crate::cli::{CliError, CmdResult, GlobalArgs};
use crate::fields;
use crate::state::{EventLog, Kind, Layout};
use crate::witness::detectors::Alert;
use crate::witness::http::{self, Response};
use crate::witness::monitor::{Mode, MonitorArgs};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// SSH handshakes in flight at once.
pub const MAX_HANDSHAKES: usize = 16;
/// Default give-up tolerance without a local config or hosts-file value.
pub const DEFAULT_TOLERANCE_S: u64 = 90;

/// True when `monitor` was asked to watch remote hosts.
pub fn is_remote(a: &MonitorArgs) -> bool {
    !a.host.is_empty() || a.fleet.is_some()
}

fn specs(a: &MonitorArgs) -> Result<(Vec<HostSpec>, Option<hosts::Fleet>), String> {
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
    crate::witness::ascii_json_line(&Value::Object(o))
}

fn alert_map(a: &Alert) -> Map<String, Value> {
    match serde_json::to_value(a) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Render the fleet table (plain text, one row per host).
pub fn render_table(rows: &BTreeMap<String, Row>) -> String {
    let mut s = format!(
        "{:<20} {:<16} {:>7} {:<12} {:>10} ALERTS\n",
        "HOST", "STATE", "ROUND", "PHASE", "LAST EVT"
    );
    for r in rows.values() {
        let round = match (r.round, r.round_running) {
            (Some(n), Some(true)) => format!("{n}*"),
            (Some(n), _) => n.to_string(),
            _ => "-".into(),
        };
        let age = r
            .last_event_age_s
            .map(|a| format!("{:.0}s", a.max(0.0)))
            .unwrap_or_else(|| "-".into());
        let alerts: Vec<&str> = r
            .alerts
            .iter()
            .filter_map(|a| a.get("detector").and_then(Value::as_str))
            .collect();
        let alerts = if alerts.is_empty() {
            r.error.clone().unwrap_or_default()
        } else {
            alerts.join(",")
        };
        s.push_str(&format!(
            "{:<20} {:<16} {:>7} {:<12} {:>10} {}\n",
            r.name,
            r.state,
            round,
            r.phase.as_deref().unwrap_or("-"),
            age,
            alerts
        ));
    }
    s
}

fn prom_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text for the fleet (every series has a `host` label).
pub fn prometheus(rows: &BTreeMap<String, Row>) -> String {
    let mut s = String::new();
    s.push_str("# HELP agent_runner_host_up 1 when the witness has a live probe stream from the host.\n# TYPE agent_runner_host_up gauge\n");
    for r in rows.values() {
        let up = matches!(r.state.as_str(), "ok" | "alert");
        s.push_str(&format!(
            "agent_runner_host_up{{host=\"{}\"}} {}\n",
            prom_label(&r.name),
            u8::from(up)
        ));
    }
    s.push_str("# HELP agent_runner_alerts_active Active alerts per host.\n# TYPE agent_runner_alerts_active gauge\n");
    for r in rows.values() {
        s.push_str(&format!(
            "agent_runner_alerts_active{{host=\"{}\"}} {}\n",
            prom_label(&r.name),
            r.alerts.len()
        ));
    }
    s.push_str(
        "# HELP agent_runner_alert Active alert by detector.\n# TYPE agent_runner_alert gauge\n",
    );
    for r in rows.values() {
        for a in &r.alerts {
            let d = a.get("detector").and_then(Value::as_str).unwrap_or("");
            s.push_str(&format!(
                "agent_runner_alert{{host=\"{}\",detector=\"{}\"}} 1\n",
                prom_label(&r.name),
                prom_label(d)
            ));
        }
    }
    s.push_str("# HELP agent_runner_events_received_total Events relayed from the host.\n# TYPE agent_runner_events_received_total counter\n");
    for r in rows.values() {
        s.push_str(&format!(
            "agent_runner_events_received_total{{host=\"{}\"}} {}\n",
            prom_label(&r.name),
            r.events_received
        ));
    }
    s.push_str("# HELP agent_runner_last_event_age_seconds Age of the newest event on the host's clock.\n# TYPE agent_runner_last_event_age_seconds gauge\n");
    for r in rows.values() {
        if let Some(a) = r.last_event_age_s {
            s.push_str(&format!(
                "agent_runner_last_event_age_seconds{{host=\"{}\"}} {a}\n",
                prom_label(&r.name)
            ));
        }
        if let Some(n) = r.round {
            s.push_str(&format!(
                "agent_runner_round{{host=\"{}\"}} {n}\n",
                prom_label(&r.name)
            ));
        }
    }
    s
}

fn fleet_page(rows: &BTreeMap<String, Row>) -> String {
    let esc = http::esc;
    let mut body = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><title>agent-runner fleet</title>\
         <style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}.alert{color:#b00}</style></head><body>\
         <h1>agent-runner fleet</h1><table><tr><th>host</th><th>state</th><th>project</th><th>round</th><th>phase</th><th>last event</th><th>alerts</th></tr>",
    );
    for r in rows.values() {
        let alerts: Vec<String> = r
            .alerts
            .iter()
            .map(|a| esc(a.get("message").and_then(Value::as_str).unwrap_or("")))
            .collect();
        body.push_str(&format!(
            "<tr class=\"{}\"><td><a href=\"/host/{n}\">{n}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if r.alerts.is_empty() { "" } else { "alert" },
            esc(&r.state),
            esc(r.project.as_deref().unwrap_or("-")),
            r.round.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            esc(r.phase.as_deref().unwrap_or("-")),
            r.last_event_age_s.map(|a| format!("{a:.0}s ago")).unwrap_or_else(|| "-".into()),
            if alerts.is_empty() { esc(r.error.as_deref().unwrap_or("")) } else { alerts.join("<br>") },
            n = esc(&r.name),
        ));
    }
    body.push_str("</table><p><a href=\"/api/fleet\">/api/fleet</a> · <a href=\"/metrics\">/metrics</a></p></body></html>");
    body
}

fn host_page(r: &Row) -> String {
    let doc = serde_json::to_string_pretty(r).unwrap_or_default();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><title>{n}</title></head><body>\
         <p><a href=\"/\">fleet</a></p><h1>{n}</h1><pre>{}</pre></body></html>",
        http::esc(&doc),
        n = http::esc(&r.name)
    )
}

/// The fleet HTTP handler over the shared table.
pub fn handle(table: &Table, method: &str, path: &str) -> Response {
    let text = |status: u16, body: String| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    };
    if method != "GET" {
        return text(405, "only GET\n".into());
    }
    let rows = match table.lock() {
        Ok(t) => t.clone(),
        Err(_) => return text(500, "state lock poisoned\n".into()),
    };
    let path = path.split('?').next().unwrap_or("");
    match path {
        "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: fleet_page(&rows),
        },
        "/api/fleet" => Response {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_string(&rows.values().collect::<Vec<_>>()).unwrap_or_default(),
        },
        "/metrics" => Response {
            status: 200,
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: prometheus(&rows),
        },
        p => {
            let (api, name) = match (p.strip_prefix("/api/host/"), p.strip_prefix("/host/")) {
                (Some(n), _) => (true, n),
                (_, Some(n)) => (false, n),
                _ => return text(404, format!("no such page '{p}'\n")),
            };
            match rows.get(name) {
                Some(r) if api => Response {
                    status: 200,
                    content_type: "application/json",
                    body: serde_json::to_string(r).unwrap_or_default(),
                },
                Some(r) => Response {
                    status: 200,
                    content_type: "text/html; charset=utf-8",
                    body: host_page(r),
                },
                None => text(404, format!("no host named '{name}'\n")),
            }
        }
    }
}

/// How often the witness hands freed heap back to the OS (connecting a fleet
/// parses each host's backlog and leaves the heap full of holes).
const TRIM_EVERY: Duration = Duration::from_secs(20);

static HTTP_STOP: AtomicBool = AtomicBool::new(false);

/// `monitor --host …` / `--fleet …`.
pub fn cmd(g: &GlobalArgs, a: &MonitorArgs) -> CmdResult {
    let (specs, fleet) = specs(a).map_err(CliError::usage)?;
    if specs.is_empty() {
        return Err(CliError::usage(
            "no host to watch; give --host ALIAS or --fleet FILE",
        ));
    }
    if a.mode == Mode::Narrate {
        return Err(CliError::usage(
            "--mode narrate is local only; for remote hosts use --mode anomaly, events or http",
        ));
    }
    if a.once && a.mode != Mode::Anomaly {
        return Err(CliError::usage("--once works with --mode anomaly only"));
    }
    if a.exit_on_giveup && specs.len() != 1 {
        return Err(CliError::usage("--exit-on-giveup needs exactly one host"));
    }
    let listener = if a.mode == Mode::Http {
        let ip = http::check_bind(&a.bind).map_err(CliError::usage)?;
        Some(std::net::TcpListener::bind((ip, a.port)).map_err(|e| {
            CliError::failure(format!("port {} in use ({e}); try --port <other>", a.port))
        })?)
    } else {
        None
    };
    // The local config is optional here: it only gives the witness a log_dir
    // for its own events and the default tolerance.
    let local_cfg = crate::config::load(&g.config).ok();
    let local = Local {
        log: local_cfg
            .as_ref()
            .filter(|c| c.runtime.log_dir.is_dir())
            .map(|c| EventLog::new(Layout::new(&c.runtime.log_dir))),
    };
    let tolerance_s = fleet
        .as_ref()
        .and_then(|f| f.tolerance_s)
        .or(local_cfg
            .as_ref()
            .map(|c| c.monitor.remote_failure_tolerance_s))
        .unwrap_or(DEFAULT_TOLERANCE_S);
    let interval_s = a
        .interval
        .or(fleet.as_ref().and_then(|f| f.interval_s))
        .unwrap_or(hosts::DEFAULT_INTERVAL_S);
    if !(interval_s.is_finite() && interval_s > 0.0) {
        return Err(CliError::usage(format!(
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
            crate::observe::state::RECENT_EVENTS
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
        .map_err(|e| CliError::failure(format!("cannot start the async runtime: {e}")))?;
    crate::signals::install_interrupt();
    let tty = std::io::stdout().is_terminal() && !g.json && a.mode == Mode::Anomaly && !a.once;
    for s in &specs {
        local.emit(
            Kind::MonitorStarted,
            fields! {"host" => s.alias, "interval_s" => interval_s, "log_dir" => s.config, "mode" => "remote"},
        );
    }
    let http_thread = listener.map(|l| {
        if let Ok(addr) = l.local_addr() {
            eprintln!("agent-runner: serving the fleet view on http://{addr}/ (Ctrl-C to stop)");
        }
        let t = Arc::clone(&table);
        std::thread::spawn(move || {
            let h: http::Handler = Arc::new(move |m: &str, p: &str| handle(&t, m, p));
            http::serve_with(h, l, &HTTP_STOP)
        })
    });
    let code = rt.block_on(drive(specs, base, table, g.json, a.mode, tty, &local));
    HTTP_STOP.store(true, Ordering::SeqCst);
    if let Some(t) = http_thread {
        let _ = t.join();
    }
    rt.shutdown_timeout(Duration::from_secs(3));
    Ok(code)
}

async fn drive(
    specs: Vec<HostSpec>,
    base: LinkOpts,
    table: Table,
    json_out: bool,
    mode: Mode,
    tty: bool,
    local: &Local,
) -> i32 {
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
        tokio::spawn(link::watch(
            s,
            o,
            Arc::clone(&gate),
            Arc::clone(&table),
            tx.clone(),
        ));
    }
    drop(tx);
    let mut trim_at = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(if tty { 1000 } else { 200 }));
    let mut alerts = false;
    let mut unreachable = false;
    let mut recent: Vec<String> = Vec::new();
    let stdout = std::io::stdout();
    loop {
        tokio::select! {
            r = rx.recv() => {
                let Some(r) = r else { break };
                let mut out = stdout.lock();
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
                                line(format!("{host}: connected (the Python agent-runner, project '{}': relaying its events; event detectors only, no metrics, status or round logs; 'agent-runner deploy' puts the full probe there)", s("project")));
                            } else {
                                line(format!("{host}: connected (agent-runner {} on '{}', {}, project '{}')", s("version"), s("hostname"), s("arch"), s("project")));
                            }
                        }
                    }
                    Report::Alert { host, alert } => {
                        alerts = true;
                        local.emit(Kind::MonitorAlertEmitted, fields! {
                            "detector" => alert.detector, "severity" => alert.severity.as_str(),
                            "message" => alert.message, "auto_action" => alert.auto_action.as_str(), "host" => host});
                        if mode != Mode::Events {
                            if json_out { line(tagged(&host, "alert", alert_map(&alert))) } else { line(format!("{host}: {}", alert.to_text_line())) }
                        }
                    }
                    Report::Cleared { host, detector } => {
                        local.emit(Kind::MonitorAlertCleared, fields! {"detector" => detector, "host" => host});
                        if mode != Mode::Events {
                            if json_out { line(tagged(&host, "cleared", fields! {"detector" => detector})) } else { line(format!("{host}: cleared {detector}")) }
                        }
                    }
                    Report::Event { host, line: raw } => {
                        if mode == Mode::Events {
                            let _ = host;
                            line(raw.trim_end().to_string());
                        }
                    }
                    Report::Blip { host, fields: f } => {
                        local.emit(Kind::MonitorRemoteBlip, f.clone());
                        if json_out { line(tagged(&host, "blip", f)) } else {
                            eprintln!("agent-runner: {host}: link blip (attempt {}, retry in {}s): {}",
                                f.get("attempt").cloned().unwrap_or_default(),
                                f.get("next_sleep_s").cloned().unwrap_or_default(),
                                f.get("error").and_then(Value::as_str).unwrap_or(""));
                        }
                    }
                    Report::Unreachable { host, alert } => {
                        unreachable = true;
                        local.emit(Kind::MonitorAlertEmitted, fields! {
                            "detector" => alert.detector, "severity" => alert.severity.as_str(),
                            "message" => alert.message, "auto_action" => alert.auto_action.as_str(), "host" => host});
                        if json_out { line(tagged(&host, "alert", alert_map(&alert))) } else { line(format!("{host}: {}", alert.to_text_line())) }
                    }
                    Report::Giveup { host, fields: f } => {
                        local.emit(Kind::MonitorRemoteGiveup, f.clone());
                        if json_out { line(tagged(&host, "giveup", f.clone())) }
                        eprintln!("agent-runner: relay to '{host}' gave up after {}s / {} attempts: {}",
                            f.get("total_elapsed_s").cloned().unwrap_or_default(),
                            f.get("total_attempts").cloned().unwrap_or_default(),
                            f.get("final_error").and_then(Value::as_str).unwrap_or(""));
                        return crate::exit_code::FAILURE;
                    }
                    Report::AutoStop { host, detector, result } => {
                        match &result {
                            Ok(d) => {
                                local.emit(Kind::MonitorAutoStopTriggered, fields! {"detector" => detector, "host" => host});
                                if json_out { line(tagged(&host, "auto_stop", fields! {"detector" => detector, "ok" => true, "detail" => d})) }
                                else { line(format!("{host}: auto-stop ({detector}): remote serve asked to stop: {d}")) }
                            }
                            Err(e) => {
                                local.emit(Kind::MonitorAutoStopFailed, fields! {"detector" => detector, "host" => host, "error" => e});
                                if json_out { line(tagged(&host, "auto_stop", fields! {"detector" => detector, "ok" => false, "error" => e})) }
                                else { line(format!("{host}: auto-stop ({detector}) FAILED: {e}")) }
                            }
                        }
                    }
                    Report::NoProbe { host, message } => {
                        eprintln!("agent-runner: {message}");
                        if json_out { line(tagged(&host, "no_probe", fields! {"message" => message})) }
                    }
                    Report::Done { host } => {
                        pending.remove(&host);
                        if pending.is_empty() { break; }
                    }
                }
                let _ = out.flush();
            }
            _ = tick.tick() => {
                if crate::signals::interrupted() {
                    return crate::exit_code::OK;
                }
                if trim_at.elapsed() >= TRIM_EVERY {
                    trim_at = std::time::Instant::now();
                    crate::heap::trim();
                }
                if tty {
                    if let Ok(t) = table.lock() {
                        let mut out = stdout.lock();
                        let _ = write!(out, "\x1b[H\x1b[2J{}\n{}\n", render_table(&t), recent.join("\n"));
                        let _ = out.flush();
                    }
                }
            }
        }
    }
    if unreachable {
        2
    } else if alerts {
        crate::exit_code::FAILURE
    } else {
        crate::exit_code::OK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut m = BTreeMap::new();
        m.insert(
            "pi".to_string(),
            Row {
                name: "pi".into(),
                alias: "pi".into(),
                state: "alert".into(),
                round: Some(7),
                round_running: Some(true),
                phase: Some("build".into()),
                last_event_age_s: Some(12.4),
                alerts: vec![json!({"detector": "hung", "message": "Round 7 <stuck>"})],
                events_received: 3,
                ..Default::default()
            },
        );
        m.insert(
            "b\"x".to_string(),
            Row {
                name: "b\"x".into(),
                state: "unreachable".into(),
                error: Some("connection refused".into()),
                ..Default::default()
            },
        );
        Arc::new(Mutex::new(m))
    }

    #[test]
    fn table_rows_show_state_round_phase_age_and_alerts() {
        let t = render_table(&table().lock().unwrap());
        let pi = t.lines().find(|l| l.starts_with("pi ")).unwrap();
        for want in ["alert", "7*", "build", "12s", "hung"] {
            assert!(pi.contains(want), "{pi}");
        }
        let other = t.lines().find(|l| l.starts_with("b\"x")).unwrap();
        assert!(other.contains("unreachable") && other.contains("connection refused"));
    }

    #[test]
    fn http_handler_pages_and_metrics_labels() {
        let t = table();
        let m = handle(&t, "GET", "/metrics").body;
        assert!(m.contains("agent_runner_host_up{host=\"pi\"} 1"), "{m}");
        assert!(m.contains("agent_runner_host_up{host=\"b\\\"x\"} 0"), "{m}");
        assert!(
            m.contains("agent_runner_alert{host=\"pi\",detector=\"hung\"} 1"),
            "{m}"
        );
        let page = handle(&t, "GET", "/").body;
        assert!(page.contains("Round 7 &lt;stuck&gt;"), "{page}");
        let api: Value = serde_json::from_str(&handle(&t, "GET", "/api/fleet").body).unwrap();
        assert_eq!(api.as_array().unwrap().len(), 2);
        assert_eq!(handle(&t, "GET", "/api/host/pi").status, 200);
        assert_eq!(handle(&t, "GET", "/host/zz").status, 404);
        assert_eq!(handle(&t, "POST", "/").status, 405);
        assert_eq!(handle(&t, "GET", "/etc/passwd").status, 404);
    }
}
