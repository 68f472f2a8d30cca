//! `monitor --mode http`: a tiny HTTP/1.0 server on a loopback address only.
//!
//! Routes (GET, exact paths): `/` the live dashboard page of the project
//! ([`super::dashboard`], updated over SSE from `/live/`), `/api/state` (the
//! peek document plus `alerts`, `now` and the `narrative`: the last 50 lines
//! of `runtime.narrative_file`), `/metrics` (Prometheus text). Every request
//! (and every live view, every [`LOCAL_TICK`]) re-reads the tail of the
//! log_dir and runs the detectors without side effects. The server itself (std `TcpListener`, one short-lived thread per
//! connection, deadlines, the `Host:` check) is [`server`], shared with the
//! fleet view.

mod server;

pub use server::{
    is_loopback_host, serve_site, serve_with, Handler, Live, Response, Site, MAX_CONNECTIONS,
    MAX_HEAD, MAX_STREAMS, REQUEST_DEADLINE, RESPONSE_DEADLINE, STREAM_HEARTBEAT, STREAM_MAX_AGE,
};

use super::dashboard::{
    self,
    model::{self, AlertItem, History, HostDetail},
};
use super::prom;
use crate::config::Config;
use crate::observe::state::{self, PeekOptions};
use crate::state::Layout;
use serde_json::{json, Value};
use std::net::{IpAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why the HTTP view could not run.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The bind address is not a loopback IP.
    #[error("{0}")]
    Bind(String),
    #[error("port {port} in use ({source}); try --port <other>")]
    Port { port: u16, source: std::io::Error },
    #[error("http server failed: {0}")]
    Serve(std::io::Error),
}

/// Listen on `bind:port`, a loopback address only.
pub fn bind(bind: &str, port: u16) -> Result<TcpListener, HttpError> {
    let ip = check_bind(bind).map_err(HttpError::Bind)?;
    TcpListener::bind((ip, port)).map_err(|source| HttpError::Port { port, source })
}

/// Refuse any bind address that is not loopback.
pub fn check_bind(bind: &str) -> Result<IpAddr, String> {
    let ip: IpAddr = bind
        .parse()
        .map_err(|_| format!("--bind expects an IP address, got '{bind}'"))?;
    if !ip.is_loopback() {
        return Err(format!(
            "refusing to serve on '{bind}': the monitor page has no authentication, so it binds loopback only (use 127.0.0.1 or ::1, and an SSH tunnel to reach it remotely)"
        ));
    }
    Ok(ip)
}

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn sv(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(x) => x.to_string(),
    }
}

/// One read of the log_dir: the snapshot and the `/api/state` document
/// (peek's document plus the active alerts and `now`).
fn read(cfg: &Config) -> Result<(crate::snapshot::Snapshot, Value), String> {
    let snap =
        crate::snapshot::gather(&Layout::new(&cfg.runtime.log_dir)).map_err(|e| e.to_string())?;
    let mut doc = state::project_state(
        cfg,
        &snap,
        &PeekOptions {
            events: Some(20),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    let alerts = super::monitor::detect(cfg, &snap);
    if let Value::Object(m) = &mut doc {
        m.insert(
            "alerts".into(),
            serde_json::to_value(&alerts).unwrap_or(Value::Null),
        );
        m.insert("now".into(), json!(crate::timefmt::iso_ms(snap.now)));
        m.insert("narrative".into(), json!(narrative(cfg)));
    }
    Ok((snap, doc))
}

/// Lines of the narrative the page shows (upstream: 50).
const NARRATIVE_LINES: usize = 50;

/// The last lines of `runtime.narrative_file` (default
/// `<log_dir>/narrative.md`), `""` when there is none.
fn narrative(cfg: &Config) -> String {
    let path = cfg
        .runtime
        .narrative_file
        .clone()
        .unwrap_or_else(|| cfg.runtime.log_dir.join("narrative.md"));
    crate::state::reader::tail_text(&path, NARRATIVE_LINES).unwrap_or_default()
}

/// The `/api/state` document: peek's document plus the active alerts, `now`
/// and the narrative.
pub fn state_doc(cfg: &Config) -> Result<Value, String> {
    read(cfg).map(|(_, doc)| doc)
}

/// The project's page, as the dashboard shows a host.
fn detail(cfg: &Config, snap: &crate::snapshot::Snapshot, doc: &Value) -> HostDetail {
    let g = |k: &str| doc.get(k);
    let mut history = History::default();
    for e in &snap.events {
        history.push(e);
    }
    let th = crate::detect::window::Thresholds::from_config(cfg);
    let alerts: Vec<AlertItem> = g("alerts")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(AlertItem::from_value).collect())
        .unwrap_or_default();
    let svc = g("service");
    let active = svc
        .and_then(|s| s.get("active"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let state = if !alerts.is_empty() {
        "alert"
    } else if active {
        "running"
    } else {
        "stopped"
    };
    let mut facts = vec![(
        "service".to_string(),
        if active {
            format!(
                "running ({}), pid {}",
                sv(svc.and_then(|s| s.get("mode"))),
                sv(svc.and_then(|s| s.get("pid")))
            )
        } else {
            "not running".to_string()
        },
    )];
    if let Some(rl) = svc
        .and_then(|s| s.get("rate_limit"))
        .filter(|v| !v.is_null())
    {
        facts.push((
            "throttled until".into(),
            format!(
                "{} ({})",
                sv(rl.get("throttled_until_iso")),
                sv(rl.get("limit_type"))
            ),
        ));
    }
    if let Some(d) = g("memory_deferral").filter(|v| !v.is_null()) {
        facts.push((
            "deferred".into(),
            format!("{} ({})", sv(d.get("label")), sv(d.get("signal"))),
        ));
    }
    if let Some(sy) = g("system").filter(|v| !v.is_null()) {
        facts.push((
            "disk".into(),
            format!(
                "{}% used, {} GB free",
                sv(sy.get("disk_used_pct")),
                sv(sy.get("disk_free_gb"))
            ),
        ));
        facts.push((
            "memory".into(),
            format!(
                "{} MB available of {} MB, load {}",
                sv(sy.get("mem_available_mb")),
                sv(sy.get("mem_total_mb")),
                sv(sy.get("load_1m"))
            ),
        ));
    }
    facts.push(("log_dir".into(), sv(g("log_dir"))));
    facts.push(("as of".into(), sv(g("now"))));
    let today = crate::timefmt::iso_ms(snap.now);
    HostDetail {
        title: cfg.project.clone(),
        state: state.into(),
        facts,
        alerts,
        notify_error: None,
        current: HostDetail::current_from(history.latest(), Some(snap.now), |p| th.budget_for(p)),
        rounds: history.rounds(),
        samples: model::samples(snap.metrics.iter(), snap.now),
        usage: history.usage_on(today.get(..10).unwrap_or("")),
        events: g("recent_events")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        narrative: Some(
            g("narrative")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
    }
}

/// The live part of the project's page.
pub fn live_part(cfg: &Config) -> Option<String> {
    let (snap, doc) = read(cfg).ok()?;
    Some(dashboard::host::render(&detail(cfg, &snap, &doc)))
}

const NAV: &str = "<a href=\"/api/state\">/api/state</a> \u{b7} <a href=\"/metrics\">/metrics</a>";

/// A size in the latest metrics sample, in bytes: the samples keep MiB
/// (`*_mb`, `/proc/meminfo` kB / 1024) and GiB (`*_gb`, to 0.1).
fn sample_bytes(v: Option<&Value>, unit: f64) -> f64 {
    (v.and_then(Value::as_f64).unwrap_or(0.0) * unit).round()
}

const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * MIB;

/// The local `/metrics` (docs/commands.md lists the series).
fn prometheus(doc: &Value) -> String {
    let num = |v: Option<&Value>| v.and_then(Value::as_f64).unwrap_or(0.0);
    let mut causes: std::collections::BTreeMap<String, u64> = Default::default();
    if let Some(rs) = doc.get("recent_rounds").and_then(Value::as_array) {
        for r in rs {
            let c = match r.get("exit_cause") {
                Some(Value::String(s)) => s.clone(),
                _ => "unfinished".into(),
            };
            *causes.entry(c).or_default() += 1;
        }
    }
    let mut e = prom::Exposition::new();
    let mut f = e.gauge(
        "agent_runner_recent_rounds",
        "Rounds among the most recent ones, by exit cause.",
    );
    for (c, n) in &causes {
        f.sample(&[("exit_cause", c)], *n as f64);
    }
    let cur = doc.get("current_round").filter(|v| !v.is_null());
    let now = doc
        .get("now")
        .and_then(Value::as_str)
        .and_then(crate::timefmt::parse_ts);
    let last_start = cur
        .and_then(|r| r.get("started_at"))
        .and_then(Value::as_str)
        .and_then(crate::timefmt::parse_ts);
    e.gauge("agent_runner_current_round", "Number of the latest round.")
        .sample(&[], num(cur.and_then(|r| r.get("round_num"))));
    let running = cur
        .and_then(|r| r.get("running"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    e.gauge(
        "agent_runner_round_running",
        "1 while the latest round is running.",
    )
    .sample(&[], f64::from(u8::from(running)));
    if let (Some(n), Some(s)) = (now, last_start) {
        e.gauge(
            "agent_runner_last_round_age_seconds",
            "Seconds since the latest round started.",
        )
        .sample(&[], (n - s).num_milliseconds() as f64 / 1000.0);
    }
    let active: Vec<(String, String)> = doc
        .get("alerts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| (sv(x.get("detector")), sv(x.get("severity"))))
                .collect()
        })
        .unwrap_or_default();
    let mut f = e.gauge(
        "agent_runner_alert",
        "1 when the detector's alert is active (severity none when it is not).",
    );
    for d in crate::detect::CATALOGUE {
        let hit = active.iter().find(|(n, _)| n == d.name);
        f.sample(
            &[
                ("detector", d.name),
                ("severity", hit.map(|(_, s)| s.as_str()).unwrap_or("none")),
            ],
            f64::from(u8::from(hit.is_some())),
        );
    }
    let sy = doc.get("system");
    let key = |k: &str| sy.and_then(|s| s.get(k));
    e.gauge(
        "agent_runner_disk_used_percent",
        "Disk used on the log_dir filesystem, in percent (latest metrics sample).",
    )
    .sample(&[], num(key("disk_used_pct")));
    e.gauge(
        "agent_runner_disk_free_bytes",
        "Disk space available on the log_dir filesystem, in bytes (latest metrics sample, to 0.1 GiB).",
    )
    .sample(&[], sample_bytes(key("disk_free_gb"), GIB));
    e.gauge(
        "agent_runner_mem_available_bytes",
        "MemAvailable in bytes (latest metrics sample, to 1 MiB).",
    )
    .sample(&[], sample_bytes(key("mem_available_mb"), MIB));
    e.gauge(
        "agent_runner_mem_total_bytes",
        "MemTotal in bytes (latest metrics sample, to 1 MiB).",
    )
    .sample(&[], sample_bytes(key("mem_total_mb"), MIB));
    let up = doc
        .get("service")
        .and_then(|s| s.get("active"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    e.gauge(
        "agent_runner_service_up",
        "1 when the supervised serve process is alive.",
    )
    .sample(&[], f64::from(u8::from(up)));
    e.finish()
}

/// Answer one request path.
pub fn handle(cfg: &Config, method: &str, path: &str) -> Response {
    let not_found = || Response {
        status: 404,
        content_type: "text/plain; charset=utf-8",
        body: "not found\n".into(),
    };
    if method != "GET" {
        return Response {
            status: 405,
            content_type: "text/plain; charset=utf-8",
            body: "only GET is supported\n".into(),
        };
    }
    if !matches!(path, "/" | "/api/state" | "/metrics") {
        return not_found();
    }
    let (snap, doc) = match read(cfg) {
        Ok(d) => d,
        Err(e) => {
            return Response {
                status: 500,
                content_type: "text/plain; charset=utf-8",
                body: format!("cannot read state: {e}\n"),
            }
        }
    };
    match path {
        "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: dashboard::page(
                &format!("agent-runner: {}", cfg.project),
                "/",
                NAV,
                &dashboard::host::render(&detail(cfg, &snap, &doc)),
            ),
        },
        "/api/state" => Response {
            status: 200,
            content_type: "application/json",
            body: crate::state::pyjson::to_line_ascii(&doc),
        },
        _ => Response {
            status: 200,
            content_type: prom::CONTENT_TYPE,
            body: prometheus(&doc),
        },
    }
}

/// How often a live view of the local page reads the log_dir again.
pub const LOCAL_TICK: Duration = Duration::from_secs(2);

/// Accept connections until `stop` is set (checked every 100 ms).
pub fn serve(cfg: Arc<Config>, listener: TcpListener, stop: &AtomicBool) -> std::io::Result<()> {
    let c2 = Arc::clone(&cfg);
    serve_site(
        Site {
            handler: Arc::new(move |m: &str, p: &str| handle(&cfg, m, p)),
            live: Some(Arc::new(
                move |page: &str| {
                    if page == "/" {
                        live_part(&c2)
                    } else {
                        None
                    }
                },
            )),
            tick: LOCAL_TICK,
        },
        listener,
        stop,
    )
}

static STOP: AtomicBool = AtomicBool::new(false);

/// `monitor --mode http`: serve the project's page on `listener` until
/// interrupted (Ctrl-C, SIGTERM).
pub fn run(cfg: Config, listener: TcpListener) -> Result<(), HttpError> {
    crate::sys::signals::install_interrupt();
    let cfg = Arc::new(cfg);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            while !crate::sys::signals::interrupted() {
                std::thread::sleep(Duration::from_millis(100));
            }
            STOP.store(true, Ordering::SeqCst);
        });
        serve(Arc::clone(&cfg), listener, &STOP)
    })
    .map_err(HttpError::Serve)
}
