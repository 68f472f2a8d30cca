//! `monitor --mode http`: a tiny HTTP/1.0 server on a loopback address only.
//!
//! Routes (GET, exact paths): `/` an HTML page (meta refresh), `/api/state`
//! (the peek document plus `alerts`, `now` and the `narrative`: the last 50
//! lines of `runtime.narrative_file`), `/metrics` (Prometheus text). Every
//! request re-reads the tail of the log_dir and runs the detectors without side
//! effects. The server itself (std `TcpListener`, one short-lived thread per
//! connection, deadlines, the `Host:` check) is [`server`], shared with the
//! fleet view.

mod server;

pub use server::{
    is_loopback_host, serve_with, Handler, Response, MAX_CONNECTIONS, MAX_HEAD, REQUEST_DEADLINE,
    RESPONSE_DEADLINE,
};

use super::prom;
use crate::config::Config;
use crate::observe::state::{self, PeekOptions};
use crate::state::Layout;
use serde_json::{json, Value};
use std::fmt::Write as _;
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

/// The `/api/state` document: peek's document plus the active alerts.
pub fn state_doc(cfg: &Config) -> Result<Value, String> {
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
    Ok(doc)
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

fn page(doc: &Value) -> String {
    let mut h = String::new();
    let g = |k: &str| doc.get(k);
    let project = esc(&sv(g("project")));
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><title>agent-runner: {project}</title><style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:70em}}table{{border-collapse:collapse}}td,th{{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}}.warning{{color:#a60}}.critical{{color:#b00;font-weight:bold}}.ok{{color:#070}}pre{{background:#f6f6f6;padding:.5em;overflow:auto}}</style></head><body><h1>agent-runner: {project}</h1>"
    );
    let svc = g("service");
    let active = svc
        .and_then(|s| s.get("active"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let _ = write!(
        h,
        "<p>Service: <b class=\"{}\">{}</b> ({}), pid {} &middot; log_dir <code>{}</code> &middot; as of {}</p>",
        if active { "ok" } else { "warning" },
        if active { "running" } else { "not running" },
        esc(&sv(svc.and_then(|s| s.get("mode")))),
        esc(&sv(svc.and_then(|s| s.get("pid")))),
        esc(&sv(g("log_dir"))),
        esc(&sv(g("now")))
    );
    if let Some(rl) = svc
        .and_then(|s| s.get("rate_limit"))
        .filter(|v| !v.is_null())
    {
        let _ = write!(
            h,
            "<p class=\"critical\">Throttled until {} ({})</p>",
            esc(&sv(rl.get("throttled_until_iso"))),
            esc(&sv(rl.get("limit_type")))
        );
    }
    if let Some(d) = g("memory_deferral").filter(|v| !v.is_null()) {
        let _ = write!(
            h,
            "<p class=\"critical\">{} ({})</p>",
            esc(&sv(d.get("label"))),
            esc(&sv(d.get("signal")))
        );
    }
    h.push_str("<h2>Alerts</h2>");
    match g("alerts")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        Some(al) => {
            h.push_str("<ul>");
            for a in al {
                let sevr = sv(a.get("severity"));
                let _ = write!(
                    h,
                    "<li class=\"{}\">[{}] {} \u{2014} {}</li>",
                    esc(&sevr),
                    esc(&crate::detect::tag_of(&sevr)),
                    esc(&sv(a.get("detector"))),
                    esc(&sv(a.get("message")))
                );
            }
            h.push_str("</ul>");
        }
        None => h.push_str("<p class=\"ok\">No alerts.</p>"),
    }
    h.push_str("<h2>Current round</h2>");
    match g("current_round").filter(|v| !v.is_null()) {
        Some(r) => {
            let running = r.get("running").and_then(Value::as_bool).unwrap_or(false);
            let _ = write!(
                h,
                "<p>R{} phase {} &middot; {} &middot; {} s &middot; started {}{}</p>",
                esc(&sv(r.get("round_num"))),
                esc(&sv(r.get("phase"))),
                if running { "running" } else { "finished" },
                esc(&sv(r.get("duration_so_far_s"))),
                esc(&sv(r.get("started_at"))),
                if running {
                    String::new()
                } else {
                    format!(
                        " &middot; exit {} ({})",
                        esc(&sv(r.get("exit_code"))),
                        esc(&sv(r.get("exit_cause")))
                    )
                }
            );
        }
        None => h.push_str("<p>No rounds yet.</p>"),
    }
    h.push_str("<h2>Recent rounds</h2><table><tr><th>Round</th><th>Phase</th><th>Started</th><th>Duration (s)</th><th>Exit</th><th>Exit cause</th></tr>");
    if let Some(rs) = g("recent_rounds").and_then(Value::as_array) {
        for r in rs.iter().rev() {
            let _ = write!(
                h,
                "<tr><td>R{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&sv(r.get("round_num"))),
                esc(&sv(r.get("phase"))),
                esc(&sv(r.get("started_at"))),
                esc(&r
                    .get("duration_s")
                    .and_then(Value::as_f64)
                    .map(|d| format!("{d:.1}"))
                    .unwrap_or_else(|| "-".into())),
                esc(&sv(r.get("exit_code"))),
                esc(&sv(r.get("exit_cause")))
            );
        }
    }
    h.push_str("</table>");
    if let Some(sy) = g("system") {
        let _ = write!(
            h,
            "<h2>Host</h2><p>Disk {}% used, {} GB free &middot; memory {} MB available of {} MB &middot; load {} &middot; sampled {}</p>",
            esc(&sv(sy.get("disk_used_pct"))),
            esc(&sv(sy.get("disk_free_gb"))),
            esc(&sv(sy.get("mem_available_mb"))),
            esc(&sv(sy.get("mem_total_mb"))),
            esc(&sv(sy.get("load_1m"))),
            esc(&sv(sy.get("sampled_at")))
        );
    }
    h.push_str("<h2>Narrative</h2>");
    match g("narrative")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(n) => {
            let _ = write!(h, "<pre>{}</pre>", esc(n));
        }
        None => h.push_str("<p>(no narrative file yet)</p>"),
    }
    h.push_str("<h2>Recent events</h2><pre>");
    if let Some(evs) = g("recent_events").and_then(Value::as_array) {
        for e in evs {
            h.push_str(&esc(&crate::observe::narrate::narrate_line(e)));
            h.push('\n');
        }
    }
    h.push_str("</pre></body></html>\n");
    h
}

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
    let doc = match state_doc(cfg) {
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
            body: page(&doc),
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

/// Accept connections until `stop` is set (checked every 100 ms).
pub fn serve(cfg: Arc<Config>, listener: TcpListener, stop: &AtomicBool) -> std::io::Result<()> {
    serve_with(
        Arc::new(move |m: &str, p: &str| handle(&cfg, m, p)),
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
