//! One watched host: the relayed state ([`HostView`], rebuilt from probe
//! frames and evaluated with the host's clock), and the link task ([`watch`])
//! that keeps one SSH session and one probe channel open, resumes from the
//! last cursor after a drop, backs off 1, 2, 4 … 30 s, tells blips from an
//! unreachable host, and runs auto-stop over the same session. A host that
//! runs the Python tool instead is watched through its `events --tail`.
//!
//! Output is not this module's business: it sends [`Report`]s and updates the
//! shared [`Row`] table; `run` prints and serves them.

use super::frame::{self, Frame};
use super::hosts::HostSpec;
use crate::observe::state::RECENT_METRICS;
use crate::ssh::config::{self as sshconfig, ResolveOptions};
use crate::ssh::session::{self, StreamEvent};
use crate::ssh::{ResolvedHost, SshError};
use crate::state::reader::{self, Cursor};
use crate::witness::dedup::Dedup;
use crate::witness::detectors::{self, Alert, AutoAction, Severity};
use crate::witness::window::{Record, Thresholds, Window};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

/// Back-off cap between reconnects.
pub const BACKOFF_CAP_S: f64 = 30.0;
/// The detector name of the witness's own alert for a host it cannot reach.
pub const HOST_UNREACHABLE: &str = "host_unreachable";
/// Deadline for opening the probe channel and for the remote `stop`.
const OPEN_DEADLINE: Duration = Duration::from_secs(30);
const STOP_DEADLINE: Duration = Duration::from_secs(120);
/// Capacity the per-link line buffer goes back to once a burst is read.
const LINE_BUF_KEEP: usize = 8 * 1024;
/// Events kept for the per-host drill-down.
const RECENT_FOR_VIEW: usize = 20;
/// A host's event buffer is compacted when it grows past this many events
/// (so a host costs the witness about a hundred parsed events, whatever the
/// length of its history: `bench/fleet.py` watches 200 hosts with 500 rounds
/// of history each).
pub const COMPACT_AT: usize = 80;
/// Events of any kind kept at compaction (the newest ones).
pub const KEEP_ANY: usize = 16;
/// Rounds of detector-kind events kept at compaction. The detectors that
/// look back furthest read the last 10 agent exits (`timeout_rate`,
/// `oauth_fail`, `network_fail`); `anomaly_repetitive_active` reads 5 rounds;
/// `orphan_chain` fires at a streak of 3.
pub const KEEP_ROUNDS: i64 = 12;
/// Round-scoped kinds the detectors look back over; compaction keeps these
/// and the [`STATE_KINDS`] of the last [`KEEP_ROUNDS`] rounds
/// ([`is_detector_kind`]) and drops older events and other kinds (progress
/// heartbeats, usage, hooks…).
const ROUND_KINDS: &[&str] = &[
    "round_start",
    "round_end",
    "agent_exit",
    "agent_auth_error_detected",
    "anomaly_repetitive_tool",
    "orphan_stashed",
];
/// The event fields the detectors and the fleet row read; a slim
/// [`HostView`] drops the others (config digests, token counts, raw text…).
pub const DETECTOR_FIELDS: &[&str] = &[
    "ts",
    "event",
    "round_num",
    "phase",
    "exit_code",
    "duration_s",
    "timed_out",
    "exit_cause",
    "classification",
    "agent",
    "reset_at_epoch",
    "tool_name",
    "target",
    "count",
    "window",
    "resume_at",
    "reason",
];
/// Kinds whose newest event counts however old it is: a throttle, a pause or
/// a deferral still in force (`rate_limit_active`, `supervisor_stale`).
const STATE_KINDS: &[&str] = &[
    "transient_error_detected",
    "transient_error_recovered",
    "schedule_paused",
    "schedule_resumed",
    "round_deferred",
    "round_resumed",
];

/// A kind some detector reads: [`ROUND_KINDS`] or [`STATE_KINDS`].
pub fn is_detector_kind(k: &str) -> bool {
    ROUND_KINDS.contains(&k) || STATE_KINDS.contains(&k)
}

/// Bound a host's event buffer: keep the newest [`KEEP_ANY`] events, the
/// detector-kind events of the last [`KEEP_ROUNDS`] rounds (and those without
/// a round number among the newest), and the newest event of each
/// [`STATE_KINDS`] kind; order is kept. Never more than [`COMPACT_AT`].
pub fn compact(events: &mut VecDeque<Record>) {
    use detectors::kind as kind_of;
    let round_of = |e: &Record| detectors::field(e, "round_num").and_then(Value::as_i64);
    let max_round = events.iter().filter_map(round_of).max().unwrap_or(0);
    let floor = max_round - KEEP_ROUNDS + 1;
    let n = events.len();
    // the newest event of each state kind, by index
    let mut newest_state: Vec<usize> = Vec::with_capacity(STATE_KINDS.len());
    for k in STATE_KINDS {
        if let Some(i) = events.iter().rposition(|e| kind_of(e) == *k) {
            newest_state.push(i);
        }
    }
    let mut i = 0usize;
    events.retain(|e| {
        let idx = i;
        i += 1;
        idx >= n.saturating_sub(KEEP_ANY)
            || newest_state.contains(&idx)
            || (is_detector_kind(kind_of(e)) && round_of(e).map_or(true, |r| r >= floor))
    });
    // Still too many (a flood without round numbers): the newest win, but the
    // state events stay.
    while events.len() > COMPACT_AT {
        let drop = events
            .iter()
            .position(|e| !STATE_KINDS.contains(&kind_of(e)))
            .unwrap_or(0);
        events.remove(drop);
    }
}

/// Drop metric samples older than the growth window (what `disk_growth`
/// reads) before the newest one, keeping at least two (the memory ladder's).
pub fn prune_metrics(metrics: &mut VecDeque<Record>, window_s: u64) {
    let ts = |m: &Record| {
        m.get("ts")
            .and_then(Value::as_str)
            .and_then(crate::timefmt::parse_ts)
    };
    let Some(latest) = metrics.back().and_then(ts) else {
        return;
    };
    let floor = latest - chrono::Duration::seconds(window_s as i64 + 60);
    while metrics.len() > 2 && metrics.front().and_then(ts).is_some_and(|t| t < floor) {
        metrics.pop_front();
    }
    while metrics.len() > RECENT_METRICS {
        metrics.pop_front();
    }
}

/// The back-off before reconnect attempt `attempt` (1-based): 1, 2, 4, 8, 16, 30, 30 …
pub fn backoff_s(attempt: u32) -> f64 {
    let exp = attempt.saturating_sub(1).min(5);
    (2f64.powi(exp as i32)).min(BACKOFF_CAP_S)
}

/// Parse a hello's thresholds; hosts that report the same ones share one
/// copy (its compiled auth patterns are a good part of what a host costs).
fn shared_thresholds(v: &Value) -> Option<Arc<Thresholds>> {
    static CACHE: Mutex<Vec<(Value, Weak<Thresholds>)>> = Mutex::new(Vec::new());
    let parse = || {
        serde_json::from_value::<Thresholds>(v.clone())
            .ok()
            .map(Arc::new)
    };
    let Ok(mut cache) = CACHE.lock() else {
        return parse();
    };
    cache.retain(|(_, w)| w.strong_count() > 0);
    if let Some(t) = cache
        .iter()
        .find(|(k, _)| k == v)
        .and_then(|(_, w)| w.upgrade())
    {
        return Some(t);
    }
    let t = parse()?;
    cache.push((v.clone(), Arc::downgrade(&t)));
    Some(t)
}

/// What the relayed frames say about one host.
#[derive(Debug, Default)]
pub struct HostView {
    pub hello: Option<Map<String, Value>>,
    pub thresholds: Option<Arc<Thresholds>>,
    pub events: VecDeque<Record>,
    pub metrics: VecDeque<Record>,
    pub log_tails: BTreeMap<u64, String>,
    pub snapshot: Option<Map<String, Value>>,
    /// The host's clock at the last snapshot, and when that snapshot arrived here.
    host_now: Option<(DateTime<Utc>, Instant)>,
    /// Cursor after the last event taken.
    pub cursor: Option<Cursor>,
    /// Events taken since start (across reconnects).
    pub events_received: u64,
    /// Events refused because their cursor was not after ours.
    pub duplicates_dropped: u64,
    /// Keep only [`DETECTOR_FIELDS`] of each event (when no view shows them whole).
    pub slim: bool,
    /// Python relay: hashes of the newest relayed lines (a resume with
    /// `--since TS` replays the events at TS and after again).
    relayed: VecDeque<u64>,
    /// Python relay: the `ts` of the newest relayed event, to resume from.
    pub relay_since: Option<String>,
}

/// Runs `"$@"` (the Python `events --tail`) and ends it when the channel's
/// stdin reaches EOF, i.e. when the witness or the connection is gone; exits
/// with its status when it ends by itself. (A background list reads
/// /dev/null unless given stdin explicitly, hence fd 3; `read` is a builtin,
/// so nothing is left when the watcher itself is killed.)
const RELAY_WATCHDOG: &str = "exec 3<&0; \"$@\" </dev/null & p=$!; \
(while read -r _; do :; done <&3; kill $p 2>/dev/null) & w=$!; \
wait $p; s=$?; kill $w 2>/dev/null; exit $s";
/// Lines remembered to drop the replay of a Python relay's resume.
const RELAY_SEEN: usize = 512;
/// How far back a Python relay's first connect replays (no byte cursor to
/// count a backlog with): enough for the round in progress and a throttle
/// still in force.
const RELAY_BACKFILL_S: i64 = 24 * 3600;

/// What applying one frame changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    Nothing,
    /// A new event: its raw line.
    Event(String),
    Snapshot,
    Hello,
    Error(String),
}

impl HostView {
    /// Take one frame.
    pub fn apply(&mut self, f: Frame) -> Applied {
        match f {
            Frame::Hello(m) => {
                self.thresholds = m.get("thresholds").and_then(shared_thresholds);
                self.hello = Some(m);
                // The probe re-sends these after every (re)connect.
                self.metrics.clear();
                self.log_tails.clear();
                Applied::Hello
            }
            Frame::Event { cursor, line } => {
                let c = cursor.parse::<Cursor>().ok();
                if let (Some(new), Some(old)) = (&c, &self.cursor) {
                    if new <= old {
                        self.duplicates_dropped += 1;
                        return Applied::Nothing;
                    }
                }
                if c.is_some() {
                    self.cursor = c;
                }
                match reader::parse_line(line.as_bytes()) {
                    Some((_, parsed)) => self.take_event(parsed, line),
                    None => Applied::Nothing,
                }
            }
            Frame::Metric { line } => {
                if let Some((_, v)) = reader::parse_line(line.as_bytes()) {
                    self.metrics.push_back(v);
                    let window = self
                        .thresholds
                        .as_ref()
                        .map_or(1800, |t| t.host_health.disk.growth_window_s);
                    prune_metrics(&mut self.metrics, window);
                }
                Applied::Nothing
            }
            Frame::LogTail { round, text } => {
                self.log_tails.insert(round, text);
                while self.log_tails.len() > crate::observe::state::TAIL_FILES {
                    self.log_tails.pop_first();
                }
                Applied::Nothing
            }
            Frame::Snapshot(m) => {
                let now = m
                    .get("now")
                    .and_then(Value::as_str)
                    .and_then(crate::timefmt::parse_ts);
                if let Some(n) = now {
                    self.host_now = Some((n, Instant::now()));
                }
                self.snapshot = Some(m);
                Applied::Snapshot
            }
            Frame::Error(e) => Applied::Error(e),
            Frame::Unknown(_) => Applied::Nothing,
        }
    }

    fn take_event(&mut self, parsed: Record, line: String) -> Applied {
        // Re-built at its exact size (a host keeps up to COMPACT_AT of
        // these); `slim` keeps only the fields the detectors read.
        let keep = |k: &str| !self.slim || DETECTOR_FIELDS.contains(&k);
        let n = parsed.keys().filter(|k| keep(k)).count();
        let mut value = Record::with_capacity(n);
        value.extend(parsed.into_iter().filter(|(k, _)| keep(k)));
        self.events.push_back(value);
        if self.events.len() > COMPACT_AT {
            compact(&mut self.events);
        }
        self.events_received += 1;
        Applied::Event(line)
    }

    /// Take one line of a Python `events --tail` (no cursor): a line seen
    /// among the newest [`RELAY_SEEN`] is the replay of a resume and dropped.
    pub fn relay_line(&mut self, line: String) -> Applied {
        use std::hash::{Hash, Hasher};
        let text = line.trim_end();
        let Some((_, parsed)) = reader::parse_line(text.as_bytes()) else {
            return Applied::Nothing;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let h = h.finish();
        if self.relayed.contains(&h) {
            self.duplicates_dropped += 1;
            return Applied::Nothing;
        }
        if self.relayed.len() >= RELAY_SEEN {
            self.relayed.pop_front();
        }
        self.relayed.push_back(h);
        if let Some(ts) = parsed.get("ts").and_then(Value::as_str) {
            self.relay_since = Some(ts.to_string());
        }
        let line = text.to_string();
        self.take_event(parsed, line)
    }

    /// The host's clock now: its last reported `now` plus the time elapsed here
    /// since (never the local wall clock).
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.host_now
            .map(|(t, at)| t + chrono::Duration::milliseconds(at.elapsed().as_millis() as i64))
    }

    /// Run the detectors, once a hello and a snapshot have arrived. Borrows
    /// the rolling buffers in place (no copy of the window per evaluation).
    pub fn detect(&mut self) -> Option<Vec<Alert>> {
        let now = self.now()?;
        let th = self.thresholds.as_ref()?;
        let snap = self.snapshot.as_ref()?;
        let live = match snap.get("metrics") {
            Some(Value::Object(live)) => Some(live.clone()),
            _ => None,
        };
        let pushed = live.is_some();
        if let Some(l) = live {
            self.metrics.push_back(l);
        }
        let status = snap.get("status").filter(|s| !s.is_null());
        let w = Window {
            events: self.events.make_contiguous(),
            metrics: self.metrics.make_contiguous(),
            log_tails: &self.log_tails,
            status,
            now,
            thresholds: th,
        };
        let alerts = detectors::run_all(&w);
        if pushed {
            self.metrics.pop_back();
        }
        Some(alerts)
    }

    /// The newest round: (number, phase, running).
    pub fn round(&self) -> Option<(i64, Option<String>, bool)> {
        let start = self
            .events
            .iter()
            .rev()
            .find(|e| e.get("event").and_then(Value::as_str) == Some("round_start"))?;
        let n = start.get("round_num").and_then(Value::as_i64)?;
        let phase = start.get("phase").and_then(Value::as_str).map(String::from);
        let ended = self.events.iter().rev().any(|e| {
            e.get("round_num").and_then(Value::as_i64) == Some(n)
                && e.get("event").and_then(Value::as_str) == Some("round_end")
        });
        Some((n, phase, !ended))
    }

    /// Seconds since the newest event, on the host's clock.
    pub fn last_event_age_s(&self) -> Option<f64> {
        let now = self.now()?;
        let ts = self
            .events
            .back()?
            .get("ts")
            .and_then(Value::as_str)
            .and_then(crate::timefmt::parse_ts)?;
        Some((now - ts).num_milliseconds() as f64 / 1000.0)
    }
}

/// One row of the fleet table (also `/api/fleet`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub alias: String,
    pub tags: Vec<String>,
    /// `connecting`, `ok`, `alert`, `blip`, `unreachable`, `no-agent-runner`, `error`.
    pub state: String,
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
    pub error: Option<String>,
    pub events_received: u64,
    pub cursor: Option<String>,
    pub recent_events: Vec<Value>,
}

/// Shared table, keyed by host name.
pub type Table = Arc<Mutex<BTreeMap<String, Row>>>;

/// What a link tells the output side.
#[derive(Debug, Clone)]
pub enum Report {
    Connected {
        host: String,
        hello: Map<String, Value>,
    },
    Alert {
        host: String,
        alert: Alert,
    },
    Cleared {
        host: String,
        detector: String,
    },
    /// A relayed event (raw line), for `--mode events`.
    Event {
        host: String,
        line: String,
    },
    Blip {
        host: String,
        fields: Map<String, Value>,
    },
    Unreachable {
        host: String,
        alert: Alert,
    },
    Giveup {
        host: String,
        fields: Map<String, Value>,
    },
    AutoStop {
        host: String,
        detector: String,
        result: Result<String, String>,
    },
    /// The remote binary is missing or too old (message names the host).
    NoProbe {
        host: String,
        message: String,
    },
    /// `--once`: this host is done (evaluated or failed).
    Done {
        host: String,
    },
}

/// Environment for the remote probe (see `Link::stream`).
pub const PROBE_MALLOC_TUNABLES: &str = "GLIBC_TUNABLES=glibc.malloc.tcache_count=0";

/// How links behave (shared by every host).
#[derive(Debug, Clone)]
pub struct LinkOpts {
    pub ssh_config: Option<PathBuf>,
    pub interval_s: f64,
    pub tolerance_s: u64,
    /// Events replayed on the first connect.
    pub backlog: usize,
    /// `--once`: one attempt, one evaluation, then Done.
    pub once: bool,
    /// Single-host `--exit-on-giveup`: stop retrying after the tolerance.
    pub exit_on_giveup: bool,
    /// Run auto-stop for allowed detectors.
    pub auto_stop: bool,
    /// Delay before the first connect (jittered start).
    pub start_delay: Duration,
    /// Report every relayed event (`--mode events`).
    pub relay_events: bool,
    /// Keep the newest events in the host's row (the HTTP view shows them).
    pub row_events: bool,
}

fn alert_value(a: &Alert) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

/// The `host_unreachable` alert.
pub fn unreachable_alert(name: &str, elapsed_s: f64, attempts: u32, error: &str) -> Alert {
    let mut ctx = Map::new();
    ctx.insert("host".into(), json!(name));
    ctx.insert("elapsed_s".into(), json!((elapsed_s * 10.0).round() / 10.0));
    ctx.insert("attempts".into(), json!(attempts));
    ctx.insert("error".into(), json!(error));
    Alert {
        severity: Severity::Critical,
        detector: HOST_UNREACHABLE,
        message: format!(
            "'{name}' unreachable for {:.0}s after {attempts} attempt(s): {error}",
            elapsed_s
        ),
        context: ctx,
        ts: crate::timefmt::now_iso_ms(),
        auto_action: AutoAction::None,
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum Ended {
    /// Transport or channel failure (retry).
    Failed(String),
    /// The remote has no usable probe (retry slowly, say so).
    NoProbe(String),
    /// The remote `agent-runner` is the Python tool: relay its events.
    Python(String),
}

struct Link {
    spec: HostSpec,
    opts: LinkOpts,
    view: HostView,
    dedup: Dedup,
    table: Table,
    tx: mpsc::UnboundedSender<Report>,
    /// The alerts of the last evaluation (for the table).
    last_alerts: Vec<Alert>,
    /// The host runs the Python tool: watch it through `events --tail`.
    relay: bool,
}

impl Link {
    fn send(&self, r: Report) {
        let _ = self.tx.send(r);
    }

    fn update_row(&self, f: impl FnOnce(&mut Row)) {
        if let Ok(mut t) = self.table.lock() {
            if !t.contains_key(&self.spec.name) {
                t.insert(
                    self.spec.name.clone(),
                    Row {
                        name: self.spec.name.clone(),
                        alias: self.spec.alias.clone(),
                        tags: self.spec.tags.clone(),
                        state: "connecting".into(),
                        ..Default::default()
                    },
                );
            }
            if let Some(row) = t.get_mut(&self.spec.name) {
                f(row);
            }
        }
    }

    /// Bring the host's row up to date. Runs after every evaluation, so it
    /// borrows what it can (the row keeps owned copies of a few strings).
    fn refresh_row(&self) {
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
        let age = v.last_event_age_s();
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
            r.state
                .push_str(if active.is_empty() { "ok" } else { "alert" });
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
            r.error = None;
            r.events_received = received;
            r.cursor = cursor;
            if let Some(recent) = recent {
                r.recent_events = recent;
            }
        });
    }
}

impl Link {
    fn new(
        spec: HostSpec,
        opts: LinkOpts,
        table: Table,
        tx: mpsc::UnboundedSender<Report>,
    ) -> Link {
        let slim = !opts.row_events;
        Link {
            spec,
            opts,
            view: HostView {
                slim,
                ..HostView::default()
            },
            dedup: Dedup::new(),
            table,
            tx,
            last_alerts: Vec::new(),
            relay: false,
        }
    }

    /// Detect, de-duplicate, report, auto-stop over `sess`.
    async fn evaluate(&mut self, sess: &session::Session) {
        let Some(alerts) = self.view.detect() else {
            return;
        };
        self.last_alerts = alerts.clone();
        let verdict = self.dedup.update(alerts);
        let allowed: Vec<String> = if verdict.fresh.is_empty() {
            Vec::new()
        } else {
            self.view
                .hello
                .as_ref()
                .and_then(|h| h.get("auto_stop_on"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        for a in &verdict.fresh {
            self.send(Report::Alert {
                host: self.spec.name.clone(),
                alert: a.clone(),
            });
            if self.opts.auto_stop
                && a.auto_action == AutoAction::StopService
                && allowed.iter().any(|d| d == a.detector)
            {
                let result = remote_stop(sess, &self.spec).await;
                self.send(Report::AutoStop {
                    host: self.spec.name.clone(),
                    detector: a.detector.to_string(),
                    result,
                });
            }
        }
        for (_, det) in &verdict.cleared {
            self.send(Report::Cleared {
                host: self.spec.name.clone(),
                detector: det.to_string(),
            });
        }
        self.refresh_row();
    }

    /// One connection: connect, stream, evaluate until it ends. `Ok(true)`
    /// when at least one frame arrived.
    async fn session_once(
        &mut self,
        host: &ResolvedHost,
        ro: &ResolveOptions,
        gate: &Semaphore,
        good: &mut bool,
    ) -> Result<(), Ended> {
        let resolver = |a: &str| -> Result<ResolvedHost, SshError> {
            sshconfig::resolve(a, ro).map_err(|e| SshError::Resolve {
                alias: a.to_string(),
                reason: e.to_string(),
            })
        };
        let handshake_deadline =
            host.connect_timeout.unwrap_or(Duration::from_secs(10)) + Duration::from_secs(10);
        let sess = {
            let _permit = gate.acquire().await;
            match tokio::time::timeout(handshake_deadline, session::connect(host, &resolver)).await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(Ended::Failed(e.to_string())),
                Err(_) => {
                    return Err(Ended::Failed(format!(
                        "SSH handshake with '{}' did not finish within {}s",
                        self.spec.alias,
                        handshake_deadline.as_secs()
                    )))
                }
            }
        };
        let r = if self.relay {
            self.relay_stream(&sess, good).await
        } else {
            match self.stream(&sess, good).await {
                Err(Ended::Python(m)) => {
                    tracing::info!("{m}: relaying its 'events --tail' instead");
                    self.relay = true;
                    self.relay_stream(&sess, good).await
                }
                r => r,
            }
        };
        sess.close().await;
        r
    }

    /// The probe runs under `env` with glibc's per-thread cache of freed
    /// chunks off: what the connect burst freed would otherwise stay cached
    /// in pages scattered over the heap for the probe's whole life (measured:
    /// 250 → 100 KiB of heap). A binary without glibc ignores it.
    async fn stream(&mut self, sess: &session::Session, good: &mut bool) -> Result<(), Ended> {
        let interval = format!("{}", self.opts.interval_s);
        let mut argv: Vec<String> = vec![
            "env".into(),
            PROBE_MALLOC_TUNABLES.into(),
            "agent-runner".into(),
            "--config".into(),
            self.spec.config.clone(),
            "probe".into(),
            "--stream".into(),
            "--interval".into(),
            interval,
        ];
        match &self.view.cursor {
            Some(c) => argv.extend(["--since".into(), c.to_string()]),
            None => argv.extend(["--backlog".into(), self.opts.backlog.to_string()]),
        }
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut st = sess
            .open_exec_stream(&refs, OPEN_DEADLINE)
            .await
            .map_err(|e| Ended::Failed(e.to_string()))?;
        // No frame (snapshots come every interval) for this long: the link is dead.
        let silence = Duration::from_secs_f64(self.opts.interval_s * 3.0 + 15.0);
        let mut buf: Vec<u8> = Vec::new();
        let mut stderr: Vec<u8> = Vec::new();
        let mut hello_seen = false;
        let mut ready = false;
        loop {
            let ev = match tokio::time::timeout(silence, st.next()).await {
                Ok(ev) => ev,
                Err(_) => {
                    return Err(Ended::Failed(format!(
                        "no frame from the probe for {}s",
                        silence.as_secs()
                    )))
                }
            };
            match ev {
                Some(StreamEvent::Stdout(d)) => {
                    buf.extend_from_slice(&d);
                    let mut changed = false;
                    // Whole lines from `start`; what is left is kept for the next read.
                    let mut start = 0usize;
                    while let Some(rel) = buf[start..].iter().position(|b| *b == b'\n') {
                        let end = start + rel;
                        let text = String::from_utf8_lossy(&buf[start..end]);
                        start = end + 1;
                        let Ok(f) = frame::decode(text.trim_end()) else {
                            continue;
                        };
                        *good = true;
                        match self.view.apply(f) {
                            Applied::Hello => {
                                hello_seen = true;
                                if let Some(h) = &self.view.hello {
                                    self.send(Report::Connected {
                                        host: self.spec.name.clone(),
                                        hello: h.clone(),
                                    });
                                }
                            }
                            Applied::Event(line) => {
                                changed = true;
                                if self.opts.relay_events {
                                    self.send(Report::Event {
                                        host: self.spec.name.clone(),
                                        line,
                                    });
                                }
                            }
                            Applied::Snapshot => {
                                changed = true;
                                ready = true;
                            }
                            Applied::Error(e) => {
                                return Err(Ended::Failed(format!("the remote probe said: {e}")))
                            }
                            Applied::Nothing => {}
                        }
                    }
                    buf.drain(..start);
                    if buf.is_empty() && buf.capacity() > LINE_BUF_KEEP {
                        // A backlog burst grew it; a host costs less between events.
                        buf = Vec::with_capacity(LINE_BUF_KEEP);
                    }
                    if buf.len() > frame::MAX_FRAME * 2 {
                        return Err(Ended::Failed(
                            "the remote probe sent a line longer than the frame limit".into(),
                        ));
                    }
                    if changed && ready {
                        self.evaluate(sess).await;
                        if self.opts.once {
                            st.close().await;
                            return Ok(());
                        }
                    }
                }
                Some(StreamEvent::Stderr(d)) => {
                    stderr.extend_from_slice(&d);
                    if stderr.len() > 4096 {
                        stderr.drain(..stderr.len() - 4096);
                    }
                }
                Some(StreamEvent::Exit(code)) if !hello_seen => {
                    let err = String::from_utf8_lossy(&stderr).trim().to_string();
                    return Err(classify_no_hello(&self.spec, Some(code), &err));
                }
                Some(StreamEvent::Exit(_)) | Some(StreamEvent::Signal(_)) => {}
                None => {
                    let err = String::from_utf8_lossy(&stderr).trim().to_string();
                    if !hello_seen {
                        return Err(classify_no_hello(&self.spec, None, &err));
                    }
                    return Err(Ended::Failed(if err.is_empty() {
                        "the probe channel closed".to_string()
                    } else {
                        format!("the probe channel closed: {}", last_line(&err))
                    }));
                }
            }
        }
    }
}

impl Link {
    /// Watch a host that runs the Python agent-runner: read its config (for
    /// the thresholds and `auto_stop_on`) and its clock over the session,
    /// then relay `agent-runner events --tail --since TS` (at least once; the
    /// replay of a resume is dropped by [`HostView::relay_line`]). Only the
    /// event detectors can run: there are no metrics, status or round logs.
    async fn relay_stream(
        &mut self,
        sess: &session::Session,
        good: &mut bool,
    ) -> Result<(), Ended> {
        let failed = |e: SshError| Ended::Failed(e.to_string());
        let text = sess
            .exec(&["cat", "--", self.spec.config.as_str()], OPEN_DEADLINE)
            .await
            .map_err(failed)?;
        let cfg = if text.success() {
            let t = String::from_utf8_lossy(&text.stdout);
            crate::config::from_str(std::path::Path::new(&self.spec.config), &t).map_err(|e| {
                format!(
                    "the remote config '{}' does not load here: {e}",
                    self.spec.config
                )
            })
        } else {
            Err(format!(
                "cannot read the remote config '{}': {}",
                self.spec.config,
                last_line(String::from_utf8_lossy(&text.stderr).trim())
            ))
        };
        let cfg = match cfg {
            Ok(c) => c,
            Err(m) => return Err(Ended::NoProbe(format!("host '{}': {m}", self.spec.name))),
        };
        // The host's clock: `date +%s` read half a round trip ago.
        let t0 = Instant::now();
        let date = sess
            .exec(&["date", "-u", "+%s"], OPEN_DEADLINE)
            .await
            .map_err(failed)?;
        let half_rtt = chrono::Duration::milliseconds(t0.elapsed().as_millis() as i64 / 2);
        let host_now = String::from_utf8_lossy(&date.stdout)
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 500_000_000))
            .map_or_else(Utc::now, |t| t + half_rtt);
        let th = Thresholds::from_config(&cfg);
        self.view.apply(Frame::Hello(frame::obj(json!({
            "version": "python",
            "relay": "events --tail",
            "hostname": Value::Null,
            "project": cfg.project,
            "config": self.spec.config,
            "log_dir": cfg.runtime.log_dir.display().to_string(),
            "thresholds": serde_json::to_value(&th).unwrap_or(Value::Null),
            "auto_stop_on": cfg.monitor.auto_stop_on,
        }))));
        let snapshot = |now: DateTime<Utc>| {
            Frame::Snapshot(frame::obj(json!({
                "now": crate::timefmt::iso_ms(now),
                "status": Value::Null,
                "relay": true,
            })))
        };
        self.view.apply(snapshot(host_now));
        if let Some(h) = &self.view.hello {
            self.send(Report::Connected {
                host: self.spec.name.clone(),
                hello: h.clone(),
            });
        }
        let since = self.view.relay_since.clone().unwrap_or_else(|| {
            crate::timefmt::iso_ms(host_now - chrono::Duration::seconds(RELAY_BACKFILL_S))
        });
        let kinds = relay_kinds().join(",");
        // The Python tail outlives a closed channel (it only notices on its
        // next write): a shell watches the channel's stdin and ends it at EOF.
        let argv = [
            "sh",
            "-c",
            RELAY_WATCHDOG,
            "agent-runner-relay",
            "agent-runner",
            "--config",
            self.spec.config.as_str(),
            "events",
            "--tail",
            "--kind",
            kinds.as_str(),
            "--since",
            since.as_str(),
        ];
        let mut st = sess
            .open_exec_stream(&argv, OPEN_DEADLINE)
            .await
            .map_err(failed)?;
        *good = true;
        // Python's tail says nothing while the host is quiet: evaluate on a
        // timer (time-based detectors) and, with --once, after the replay.
        let every = if self.opts.once {
            Duration::from_secs(1)
        } else {
            Duration::from_secs_f64(self.opts.interval_s)
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut stderr: Vec<u8> = Vec::new();
        loop {
            let ev = match tokio::time::timeout(every, st.next()).await {
                Ok(ev) => ev,
                Err(_) => {
                    self.evaluate(sess).await;
                    if self.opts.once {
                        st.close().await;
                        return Ok(());
                    }
                    continue;
                }
            };
            match ev {
                Some(StreamEvent::Stdout(d)) => {
                    buf.extend_from_slice(&d);
                    let mut changed = false;
                    while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&line).into_owned();
                        if let Applied::Event(l) = self.view.relay_line(line) {
                            changed = true;
                            if self.opts.relay_events {
                                self.send(Report::Event {
                                    host: self.spec.name.clone(),
                                    line: l,
                                });
                            }
                        }
                    }
                    if buf.len() > frame::MAX_FRAME * 2 {
                        return Err(Ended::Failed(
                            "the remote 'events --tail' sent an over-long line".into(),
                        ));
                    }
                    if changed && !self.opts.once {
                        self.evaluate(sess).await;
                    }
                }
                Some(StreamEvent::Stderr(d)) => {
                    stderr.extend_from_slice(&d);
                    if stderr.len() > 4096 {
                        stderr.drain(..stderr.len() - 4096);
                    }
                }
                Some(StreamEvent::Exit(_)) | Some(StreamEvent::Signal(_)) => {}
                None => {
                    let err = String::from_utf8_lossy(&stderr).trim().to_string();
                    return Err(Ended::Failed(if err.is_empty() {
                        "the remote 'events --tail' ended".to_string()
                    } else {
                        format!("the remote 'events --tail' ended: {}", last_line(&err))
                    }));
                }
            }
        }
    }
}

/// The kinds a Python relay asks for: the Python tool's own and ours.
fn relay_kinds() -> Vec<&'static str> {
    let mut k: Vec<&str> = crate::state::events::PYTHON_0_3_KINDS.to_vec();
    k.extend(crate::state::Kind::ALL.iter().map(|k| k.as_str()));
    k.sort_unstable();
    k.dedup();
    k
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s)
}

/// No hello before the channel ended: a missing or old remote binary, or
/// some other failure.
fn classify_no_hello(spec: &HostSpec, code: Option<u32>, err: &str) -> Ended {
    let deploy = format!(
        "install this version with 'agent-runner deploy --host {}'",
        spec.alias
    );
    if code == Some(127) || err.contains("command not found") || err.contains("No such file") {
        return Ended::NoProbe(format!(
            "host '{}' has no 'agent-runner' on the PATH of its non-interactive shell; {deploy}",
            spec.name
        ));
    }
    if err.contains("invalid choice: 'probe'") {
        // argparse: the Python agent-runner (which has `events --tail`).
        return Ended::Python(format!(
            "host '{}' runs the Python agent-runner (no 'probe --stream')",
            spec.name
        ));
    }
    if err.contains("unrecognized subcommand")
        || err.contains("'probe' is not available")
        || err.contains("invalid choice")
        || err.contains("unexpected argument")
    {
        return Ended::NoProbe(format!(
            "host '{}' runs an 'agent-runner' without 'probe --stream' (too old, or the Python tool); {deploy}",
            spec.name
        ));
    }
    Ended::Failed(format!(
        "the remote probe exited{} before saying hello: '{}'",
        code.map(|c| format!(" with {c}")).unwrap_or_default(),
        last_line(err)
    ))
}

/// `agent-runner --config <remote> stop` over the session.
async fn remote_stop(sess: &session::Session, spec: &HostSpec) -> Result<String, String> {
    let argv = ["agent-runner", "--config", spec.config.as_str(), "stop"];
    match sess.exec(&argv, STOP_DEADLINE).await {
        Ok(o) if o.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!(
            "remote 'agent-runner stop' exited with {:?}: '{}'",
            o.status,
            last_line(String::from_utf8_lossy(&o.stderr).trim())
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Watch one host until the output side goes away (or `--once` is done, or
/// `--exit-on-giveup` gives up).
pub async fn watch(
    spec: HostSpec,
    opts: LinkOpts,
    gate: Arc<Semaphore>,
    table: Table,
    tx: mpsc::UnboundedSender<Report>,
) {
    let mut link = Link::new(spec, opts, table, tx);
    link.update_row(|_| {});
    tokio::time::sleep(link.opts.start_delay).await;
    let name = link.spec.name.clone();
    let resolved = ResolveOptions::from_env(link.opts.ssh_config.clone())
        .map_err(|e| e.to_string())
        .and_then(|ro| {
            sshconfig::resolve(&link.spec.alias, &ro)
                .map(|h| (ro, h))
                .map_err(|e| e.to_string())
        });
    let (ro, host) = match resolved {
        Ok(x) => x,
        Err(e) => {
            let a = unreachable_alert(&name, 0.0, 0, &e);
            link.update_row(|r| {
                r.state = "unreachable".into();
                r.error = Some(e.clone());
            });
            link.send(Report::Unreachable {
                host: name.clone(),
                alert: a,
            });
            link.send(Report::Done { host: name });
            return;
        }
    };
    let tolerance = link.opts.tolerance_s as f64;
    let mut fail_since: Option<Instant> = None;
    let mut attempts: u32 = 0;
    let mut unreachable = false;
    loop {
        if link.tx.is_closed() {
            return;
        }
        let mut good = false;
        let r = link.session_once(&host, &ro, &gate, &mut good).await;
        if link.opts.once {
            if let Err(e) = r {
                let (msg, no_probe) = match e {
                    Ended::Failed(m) => (m, false),
                    Ended::NoProbe(m) | Ended::Python(m) => (m, true),
                };
                if no_probe {
                    link.send(Report::NoProbe {
                        host: name.clone(),
                        message: msg.clone(),
                    });
                }
                let a = unreachable_alert(&name, 0.0, 1, &msg);
                link.update_row(|r| {
                    r.state = if no_probe {
                        "no-agent-runner"
                    } else {
                        "unreachable"
                    }
                    .into();
                    r.error = Some(msg.clone());
                });
                link.send(Report::Unreachable {
                    host: name.clone(),
                    alert: a,
                });
            }
            link.send(Report::Done { host: name });
            return;
        }
        if good {
            fail_since = None;
            attempts = 0;
            if unreachable {
                unreachable = false;
                link.send(Report::Cleared {
                    host: name.clone(),
                    detector: HOST_UNREACHABLE.into(),
                });
            }
        }
        let (error, no_probe) = match r {
            Ok(()) => ("the probe channel closed".to_string(), false),
            Err(Ended::Failed(m)) => (m, false),
            Err(Ended::NoProbe(m) | Ended::Python(m)) => (m, true),
        };
        // Say it once per outage, not on every retry.
        if no_probe && fail_since.is_none() {
            link.send(Report::NoProbe {
                host: name.clone(),
                message: error.clone(),
            });
        }
        attempts += 1;
        let since = *fail_since.get_or_insert_with(Instant::now);
        let elapsed = since.elapsed().as_secs_f64();
        let cursor = link.view.cursor.as_ref().map(|c| c.to_string());
        let sleep_s;
        if tolerance <= 0.0 || elapsed >= tolerance {
            if link.opts.exit_on_giveup {
                let mut f = Map::new();
                f.insert("host".into(), json!(link.spec.alias));
                f.insert("total_attempts".into(), json!(attempts));
                f.insert(
                    "total_elapsed_s".into(),
                    json!((elapsed * 1000.0).round() / 1000.0),
                );
                f.insert("cap_s".into(), json!(link.opts.tolerance_s));
                f.insert("final_error".into(), json!(error));
                f.insert("resume_since".into(), json!(cursor));
                link.send(Report::Giveup {
                    host: name.clone(),
                    fields: f,
                });
                return;
            }
            if !unreachable {
                unreachable = true;
                let a = unreachable_alert(&name, elapsed, attempts, &error);
                link.send(Report::Unreachable {
                    host: name.clone(),
                    alert: a,
                });
            }
            link.update_row(|r| {
                r.state = if no_probe {
                    "no-agent-runner"
                } else {
                    "unreachable"
                }
                .into();
                r.error = Some(error.clone());
            });
            sleep_s = BACKOFF_CAP_S;
        } else {
            sleep_s = backoff_s(attempts).min((tolerance - elapsed).max(0.0));
            let mut f = Map::new();
            f.insert("host".into(), json!(link.spec.alias));
            f.insert("error".into(), json!(error));
            f.insert("attempt".into(), json!(attempts));
            f.insert(
                "elapsed_s".into(),
                json!((elapsed * 1000.0).round() / 1000.0),
            );
            f.insert("cap_s".into(), json!(link.opts.tolerance_s));
            f.insert("interval_s".into(), json!(link.opts.interval_s));
            f.insert(
                "next_sleep_s".into(),
                json!((sleep_s * 1000.0).round() / 1000.0),
            );
            f.insert("resume_since".into(), json!(cursor));
            link.send(Report::Blip {
                host: name.clone(),
                fields: f,
            });
            link.update_row(|r| {
                r.state = if no_probe { "no-agent-runner" } else { "blip" }.into();
                r.error = Some(error.clone());
            });
        }
        tokio::time::sleep(Duration::from_secs_f64(sleep_s.max(0.05))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: &str = "2026-11-01T00:00:00.000Z";

    /// `v` as an event stamped `s` seconds after [`T0`].
    fn event_at(s: i64, v: Value) -> Record {
        let t0 = crate::timefmt::parse_ts(T0).unwrap();
        let mut m = v.as_object().unwrap().clone();
        m.insert(
            "ts".into(),
            json!(crate::timefmt::iso_ms(t0 + chrono::Duration::seconds(s))),
        );
        m
    }

    /// Feed `all` through a buffer compacted as the witness does; the buffer
    /// and the most events it ever held.
    fn compacted(all: &[Record]) -> (VecDeque<Record>, usize) {
        let mut dq: VecDeque<Record> = VecDeque::new();
        let mut most = 0;
        for e in all {
            dq.push_back(e.clone());
            if dq.len() > COMPACT_AT {
                compact(&mut dq);
            }
            most = most.max(dq.len());
        }
        (dq, most)
    }

    /// Every detector over `events`, `s` seconds after [`T0`], default thresholds.
    fn alerts_at(events: &[Record], s: i64) -> Vec<Alert> {
        let cfg =
            crate::witness::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
                .unwrap();
        let th = Thresholds::from_config(&cfg);
        let t0 = crate::timefmt::parse_ts(T0).unwrap();
        crate::witness::detectors::run_all(&Window {
            events,
            metrics: &[],
            log_tails: &BTreeMap::new(),
            status: None,
            now: t0 + chrono::Duration::seconds(s),
            thresholds: &th,
        })
    }

    #[test]
    fn compaction_keeps_what_the_detectors_see() {
        let mut all: Vec<Record> = Vec::new();
        let mut s = 0;
        for n in 1..=14u64 {
            all.push(event_at(s, json!({"event": "round_start", "round_num": n})));
            for _ in 0..150 {
                s += 1;
                all.push(event_at(
                    s,
                    json!({"event": "round_progress", "round_num": n}),
                ));
            }
            if n % 3 == 0 {
                all.push(event_at(
                    s,
                    json!({"event": "orphan_stashed", "round_num": n}),
                ));
            }
            all.push(event_at(
                s,
                json!({"event": "agent_exit", "round_num": n, "exit_code": 1, "timed_out": n > 10, "duration_s": 5.0, "exit_cause": "timeout"}),
            ));
            if n < 14 {
                all.push(event_at(s, json!({"event": "round_end", "round_num": n})));
            }
        }
        let (mut dq, _) = compacted(&all);
        assert!(dq.len() <= COMPACT_AT, "{}", dq.len());
        let recent = &all[all
            .len()
            .saturating_sub(crate::observe::state::RECENT_EVENTS)..];
        let full = alerts_at(recent, s + 100_000);
        assert!(!full.is_empty());
        assert_eq!(full, alerts_at(dq.make_contiguous(), s + 100_000));
    }

    #[test]
    fn compaction_bounds_a_long_history_and_keeps_an_old_throttle() {
        let mut all: Vec<Record> = Vec::new();
        let mut s = 0i64;
        let mut push = |v: Value| {
            s += 1;
            all.push(event_at(s, v));
        };
        let t0 = crate::timefmt::parse_ts(T0).unwrap();
        let reset = (t0 + chrono::Duration::days(30)).timestamp();
        for n in 1..=500i64 {
            push(json!({"event": "round_start", "round_num": n}));
            if n == 20 {
                // a throttle that is still in force at the end
                push(
                    json!({"event": "transient_error_detected", "round_num": n, "classification": "rate_limit", "agent": "claude", "reset_at_epoch": reset}),
                );
            }
            push(json!({"event": "agent_usage_recorded", "round_num": n}));
            if n > 490 {
                push(json!({"event": "orphan_stashed", "round_num": n}));
            }
            push(
                json!({"event": "agent_exit", "round_num": n, "exit_code": 1, "timed_out": n % 2 == 0, "duration_s": 5.0, "exit_cause": "timeout"}),
            );
            push(json!({"event": "round_end", "round_num": n}));
        }
        let (mut dq, most) = compacted(&all);
        assert!(most <= COMPACT_AT + 1, "{most}");
        let full = alerts_at(&all, s + 60);
        let names: Vec<&str> = full.iter().map(|a| a.detector).collect();
        for d in ["timeout_rate", "rate_limit_active", "orphan_chain"] {
            assert!(names.contains(&d), "{names:?}");
        }
        assert_eq!(full, alerts_at(dq.make_contiguous(), s + 60));
    }

    #[test]
    fn metrics_are_pruned_to_the_growth_window() {
        let mut m: VecDeque<Record> = VecDeque::new();
        let t0 = crate::timefmt::parse_ts("2026-11-01T00:00:00.000Z").unwrap();
        for i in 0..1000 {
            let mut r = Map::new();
            r.insert(
                "ts".into(),
                json!(crate::timefmt::iso_ms(
                    t0 + chrono::Duration::seconds(i * 30)
                )),
            );
            m.push_back(r);
            prune_metrics(&mut m, 1800);
        }
        // 1800 s + 60 s margin at one sample per 30 s.
        assert_eq!(m.len(), 63);
    }

    #[test]
    fn backoff_doubles_to_thirty() {
        let v: Vec<f64> = (1..=8).map(backoff_s).collect();
        assert_eq!(v, vec![1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
    }

    fn ev(cursor: &str, ts: &str, kind: &str, n: u64) -> Frame {
        Frame::Event {
            cursor: cursor.into(),
            line: format!("{{\"ts\": \"{ts}\", \"event\": \"{kind}\", \"round_num\": {n}}}"),
        }
    }

    #[test]
    fn a_python_relay_asks_for_every_kind_the_detectors_read() {
        let k = relay_kinds();
        for d in ROUND_KINDS.iter().chain(STATE_KINDS) {
            assert!(k.contains(d), "{d} is not asked for");
        }
        assert!(k.contains(&"round_deferred") && k.contains(&"round_cancelled"));
        assert!(k.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
    }

    #[test]
    fn a_python_relay_resume_drops_the_replayed_lines_and_keeps_new_ones() {
        let mut v = HostView::default();
        let line = |ts: &str, n: u64| {
            format!("{{\"ts\": \"{ts}\", \"event\": \"round_start\", \"round_num\": {n}, \"phase\": null}}\n")
        };
        let a = line("2026-11-25T10:00:00.000Z", 1);
        let b = line("2026-11-25T10:00:01.000Z", 2);
        let c = line("2026-11-25T10:00:01.000Z", 3);
        assert!(matches!(v.relay_line(a.clone()), Applied::Event(_)));
        assert!(matches!(v.relay_line(b.clone()), Applied::Event(_)));
        assert_eq!(v.relay_since.as_deref(), Some("2026-11-25T10:00:01.000Z"));
        // The resume `--since 10:00:01` replays b, then c is new; a garbage
        // line and a blank one are not events.
        assert_eq!(v.relay_line(b), Applied::Nothing);
        assert!(matches!(v.relay_line(c), Applied::Event(_)));
        assert_eq!(v.relay_line("not json\n".into()), Applied::Nothing);
        assert_eq!(v.relay_line("\n".into()), Applied::Nothing);
        assert_eq!((v.events_received, v.duplicates_dropped), (3, 1));
        let rounds: Vec<i64> = v
            .events
            .iter()
            .filter_map(|e| e.get("round_num").and_then(Value::as_i64))
            .collect();
        assert_eq!(rounds, vec![1, 2, 3]);
        // Only the newest RELAY_SEEN lines are remembered.
        for n in 0..(RELAY_SEEN as u64 + 5) {
            v.relay_line(line("2026-11-25T11:00:00.000Z", 100 + n));
        }
        assert!(v.relayed.len() <= RELAY_SEEN);
        assert!(
            matches!(v.relay_line(a), Applied::Event(_)),
            "forgotten: taken again"
        );
    }

    #[test]
    fn view_drops_events_not_after_its_cursor_and_uses_the_host_clock() {
        let mut v = HostView::default();
        assert!(v.detect().is_none());
        let th = Thresholds::from_config(
            &crate::witness::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"))
                .unwrap(),
        );
        let mut hello = Map::new();
        hello.insert("thresholds".into(), serde_json::to_value(&th).unwrap());
        assert_eq!(v.apply(Frame::Hello(hello)), Applied::Hello);
        let a = v.apply(ev(
            "events-2026-11.jsonl:100",
            "2020-01-01T00:00:00.000Z",
            "round_start",
            1,
        ));
        assert!(matches!(a, Applied::Event(_)));
        assert_eq!(
            v.apply(ev(
                "events-2026-11.jsonl:100",
                "2020-01-01T00:00:00.000Z",
                "round_start",
                1
            )),
            Applied::Nothing
        );
        assert_eq!(
            v.apply(ev(
                "events-2026-10.jsonl:900",
                "2020-01-01T00:00:00.000Z",
                "x",
                1
            )),
            Applied::Nothing
        );
        assert_eq!(v.duplicates_dropped, 2);
        assert_eq!(v.events_received, 1);
        // The host says it is 10 s after the round started (its budget is far
        // longer): not hung, although the local clock is years later.
        let mut snap = Map::new();
        snap.insert("now".into(), json!("2020-01-01T00:00:10.000Z"));
        assert_eq!(v.apply(Frame::Snapshot(snap)), Applied::Snapshot);
        let alerts = v.detect().unwrap();
        assert!(
            alerts
                .iter()
                .all(|a| a.detector != "hung" && a.detector != "supervisor_stale"),
            "{alerts:?}"
        );
        let mut snap = Map::new();
        snap.insert("now".into(), json!("2020-01-02T00:00:10.000Z"));
        v.apply(Frame::Snapshot(snap));
        let alerts = v.detect().unwrap();
        assert!(alerts.iter().any(|a| a.detector == "hung"), "{alerts:?}");
        assert_eq!(v.round(), Some((1, None, true)));
    }
}
