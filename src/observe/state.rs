//! The ProjectState document (`peek --json`, `/api/state`): what a person or a
//! script wants to know about one project, built from the tail of its log_dir.
//! It is built from a [`Snapshot`] (the tail of the log_dir, never the whole
//! history).

use crate::config::Config;
use crate::detect::window::{Record, Thresholds};
use crate::snapshot::Snapshot;
use crate::state::reader;
use crate::state::Layout;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Rounds listed in `recent_rounds`.
pub const RECENT_ROUNDS: usize = 10;
/// The `schema_version` of our document (upstream 0.3.14 writes "2.6").
pub const SCHEMA_VERSION: &str = "2.6";

fn kind(e: &Record) -> &str {
    e.get("event").and_then(Value::as_str).unwrap_or("")
}

/// A round as seen in the events (borrowing them).
#[derive(Debug, Clone, Default)]
struct RoundAcc<'a> {
    round_num: i64,
    phase: Option<&'a Value>,
    started_at: Option<&'a str>,
    ended_at: Option<&'a str>,
    exit: Option<&'a Record>,
    events: Vec<&'a Record>,
}

fn rounds_from(events: &[Record]) -> BTreeMap<i64, RoundAcc<'_>> {
    let mut m: BTreeMap<i64, RoundAcc> = BTreeMap::new();
    for e in events {
        let Some(n) = e.get("round_num").and_then(Value::as_i64) else {
            continue;
        };
        let k = kind(e);
        if !matches!(k, "round_start" | "agent_exit" | "round_end") && !m.contains_key(&n) {
            continue;
        }
        let r = m.entry(n).or_insert_with(|| RoundAcc {
            round_num: n,
            ..Default::default()
        });
        let ts = e.get("ts").and_then(Value::as_str);
        match k {
            "round_start" => {
                r.started_at = ts;
                r.phase = e.get("phase");
            }
            "agent_exit" => r.exit = Some(e),
            "round_end" => r.ended_at = ts,
            _ => {}
        }
        r.events.push(e);
    }
    m
}

/// Options of peek that shape the document.
#[derive(Debug, Clone, Default)]
pub struct PeekOptions {
    /// `--round N`; None = the latest round.
    pub round: Option<u64>,
    /// `--log`: include the round's log tail.
    pub log: bool,
    /// `--events N`.
    pub events: Option<usize>,
}

/// The round was asked for but is nowhere to be found.
#[derive(Debug, thiserror::Error)]
#[error("round {round} not found under '{dir}' (no events and no rounds/R{round}-*.log)")]
pub struct RoundNotFound {
    pub round: u64,
    pub dir: String,
}

fn round_view(
    layout: &Layout,
    acc: &RoundAcc,
    latest: bool,
    now: DateTime<Utc>,
    with_log: bool,
) -> Value {
    let log_path = layout
        .agent_logs()
        .into_iter()
        .rev()
        .find(|(n, _)| *n as i64 == acc.round_num)
        .map(|(_, p)| p);
    let exit = acc.exit.as_ref();
    let get = |k: &str| exit.and_then(|e| e.get(k)).cloned().unwrap_or(Value::Null);
    let running = latest && acc.ended_at.is_none() && exit.is_none();
    let started = acc.started_at.and_then(crate::timefmt::parse_ts);
    let duration = if running {
        started
            .map(|s| json!((now - s).num_milliseconds() as f64 / 1000.0))
            .unwrap_or(Value::Null)
    } else {
        get("duration_s")
    };
    let pid = if running {
        crate::state::lock::read_holder(&layout.lock_holder())
            .map(|h| json!(h.pid))
            .unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let log_tail = match (&log_path, with_log) {
        (Some(p), true) => reader::tail_text(p, 50)
            .map(|t| json!(t.trim_end_matches('\n')))
            .unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let skip = acc.events.len().saturating_sub(20);
    let recent: Vec<Value> = acc.events[skip..]
        .iter()
        .map(|e| Value::Object((*e).clone()))
        .collect();
    json!({
        "round_num": acc.round_num,
        "phase": acc.phase.cloned().unwrap_or(Value::Null),
        "started_at": acc.started_at.unwrap_or_default(),
        "ended_at": acc.ended_at,
        "running": running,
        "duration_so_far_s": duration,
        "pid": pid,
        "exit_code": get("exit_code"),
        "timed_out": get("timed_out"),
        "exit_cause": get("exit_cause"),
        "log_path": log_path.map(|p| p.display().to_string()),
        "log_tail": log_tail,
        "recent_events": recent,
    })
}

/// Find round `n`'s events when it is older than the recent buffer.
fn scan_round(layout: &Layout, n: u64) -> std::io::Result<Vec<Record>> {
    let shards = reader::shard_files(&layout.log_dir, "events-");
    let mut out = Vec::new();
    reader::scan_back(&shards, &["round_start", "agent_exit", "round_end"], |l| {
        let rn = l.value.get("round_num").and_then(Value::as_u64);
        let is_start = l.kind() == "round_start";
        if rn == Some(n) {
            out.push(l.value);
            return !is_start;
        }
        // Rounds are numbered upwards; far below n means we passed it.
        !(is_start && rn.is_some_and(|r| r + 1000 < n))
    })?;
    out.reverse();
    Ok(out)
}

fn last_of(events: &[Record], k: &str, n: usize) -> Vec<Value> {
    let mut v: Vec<Value> = events
        .iter()
        .rev()
        .filter(|e| kind(e) == k)
        .take(n)
        .map(|e| Value::Object(e.clone()))
        .collect();
    v.reverse();
    v
}

fn service(layout: &Layout, snap: &Snapshot, cfg: &Config) -> Value {
    let th = Thresholds::from_config(cfg);
    let w = snap.window(&th);
    let rate_limit = crate::detect::rate_limit_active(&w).map(|a| {
        let e = snap
            .events
            .iter()
            .rev()
            .find(|e| kind(e) == "transient_error_detected");
        json!({
            "throttled_until_epoch": e.and_then(|e| e.get("reset_at_epoch")).cloned().unwrap_or(Value::Null),
            "throttled_until_iso": a.context.get("throttled_until_iso"),
            "limit_type": a.context.get("classification"),
            "agent": a.context.get("agent"),
            "since_round": e.and_then(|e| e.get("round_num")).cloned().unwrap_or(Value::Null),
            "phase": e.and_then(|e| e.get("phase")).cloned().unwrap_or(Value::Null),
        })
    });
    let mode = crate::service::mode(cfg);
    let rec = crate::service::pidfile::read(&layout.serve_pid())
        .ok()
        .flatten();
    let live = rec.as_ref().filter(|r| r.is_live());
    let uptime = live
        .and_then(|r| crate::sys::proc::create_time(r.pid))
        .map(|t| {
            json!(((snap.now.timestamp_millis() as f64 / 1000.0) - t)
                .max(0.0)
                .round())
        });
    json!({
        "mode": mode.as_str(),
        "active": live.is_some(),
        "pid": live.map(|r| r.pid),
        "uptime_s": uptime,
        "unit_file": null,
        "rate_limit": rate_limit,
    })
}

fn system(metrics: &[Record]) -> Value {
    let last = metrics.last().cloned().unwrap_or_default();
    let g = |k: &str, d: Value| last.get(k).cloned().filter(|v| !v.is_null()).unwrap_or(d);
    json!({
        "mem_total_mb": g("mem_total_mb", json!(0)),
        "mem_available_mb": g("mem_available_mb", json!(0)),
        "disk_used_pct": g("disk_used_pct", json!(0.0)),
        "disk_free_gb": g("disk_free_gb", json!(0.0)),
        "load_1m": g("load_1m", Value::Null),
        "cpu_pct": g("cpu_pct", Value::Null),
        "agent_process_count": g("agent_process_count", json!(0)),
        "sampled_at": g("ts", Value::Null),
    })
}

/// The brake's state (`off | armed | inert(undelegated) | inert(no cgroup
/// v2)`): from serve's own boot probe (`host_cgroup_memory_limit`, the
/// cgroup the brake would write), else from probing this process's cgroup.
fn brake(cfg: &Config, events: &[Record]) -> &'static str {
    let on = cfg.monitor.host_health.brake.memory_high;
    let delegated = match events
        .iter()
        .rev()
        .find(|e| kind(e) == "host_cgroup_memory_limit")
    {
        Some(e) => e.get("cgroup_delegated").and_then(Value::as_bool),
        None if on => crate::coma::plan::probe(on).delegated,
        None => None,
    };
    crate::coma::plan::brake_state(on, delegated)
}

fn schedule(events: &[Record]) -> Value {
    match events
        .iter()
        .rev()
        .find(|e| matches!(kind(e), "schedule_paused" | "schedule_resumed"))
    {
        Some(e) if kind(e) == "schedule_paused" => json!({
            "paused": true,
            "resume_at": e.get("resume_at").cloned().unwrap_or(json!("")),
            "active_window": e.get("active_window").cloned().unwrap_or(json!("")),
            "phase": e.get("phase").cloned().unwrap_or(json!("")),
        }),
        _ => Value::Null,
    }
}

/// Build the ProjectState document.
pub fn project_state(
    cfg: &Config,
    snap: &Snapshot,
    opts: &PeekOptions,
) -> Result<Value, RoundNotFound> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let rounds = rounds_from(&snap.events);
    let latest_n = rounds.keys().next_back().copied();
    let older: Vec<Record> = match opts.round {
        Some(n) if !rounds.contains_key(&(n as i64)) => scan_round(&layout, n).unwrap_or_default(),
        _ => Vec::new(),
    };
    let current = match opts.round {
        Some(n) => {
            let acc = match rounds.get(&(n as i64)) {
                Some(a) => a.clone(),
                None => {
                    let evs = &older;
                    let has_log = layout.agent_logs().iter().any(|(r, _)| *r == n);
                    if evs.is_empty() && !has_log {
                        return Err(RoundNotFound {
                            round: n,
                            dir: layout.rounds_dir().display().to_string(),
                        });
                    }
                    let mut acc = rounds_from(evs).remove(&(n as i64)).unwrap_or_default();
                    acc.round_num = n as i64;
                    acc
                }
            };
            Some(round_view(
                &layout,
                &acc,
                Some(n as i64) == latest_n,
                snap.now,
                opts.log,
            ))
        }
        None => latest_n
            .and_then(|n| rounds.get(&n))
            .map(|acc| round_view(&layout, acc, true, snap.now, opts.log)),
    };
    let recent_rounds: Vec<Value> = rounds
        .values()
        .rev()
        .take(RECENT_ROUNDS)
        .rev()
        .map(|r| {
            let exit = r.exit.as_ref();
            let get = |k: &str| exit.and_then(|e| e.get(k)).cloned().unwrap_or(Value::Null);
            json!({
                "round_num": r.round_num,
                "phase": r.phase.cloned().unwrap_or(Value::Null),
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "exit_code": get("exit_code"),
                "duration_s": get("duration_s"),
                "timed_out": get("timed_out"),
                "exit_cause": get("exit_cause"),
            })
        })
        .collect();
    let recent_events: Vec<Value> = match opts.events {
        Some(n) => {
            let skip = snap.events.len().saturating_sub(n);
            snap.events[skip..]
                .iter()
                .map(|e| Value::Object(e.clone()))
                .collect()
        }
        None => Vec::new(),
    };
    let defenses = serde_json::to_value(crate::defenses::catalog(cfg)).unwrap_or(Value::Null);
    let mut doc = Map::new();
    doc.insert("schema_version".into(), json!(SCHEMA_VERSION));
    doc.insert(
        "plugins".into(),
        json!({
            "post_round_hooks": [],
            "disabled": cfg.plugins.disable,
            "cooperative_stop": {},
            "resolved_sigterm_grace_s": cfg.agent.sigterm_grace_s,
        }),
    );
    doc.insert("project".into(), json!(cfg.project));
    doc.insert(
        "log_dir".into(),
        json!(layout.log_dir.display().to_string()),
    );
    doc.insert(
        "status".into(),
        snap.status.clone().unwrap_or_else(|| json!({})),
    );
    doc.insert("defenses".into(), defenses);
    doc.insert("current_round".into(), current.unwrap_or(Value::Null));
    doc.insert("recent_rounds".into(), Value::Array(recent_rounds));
    doc.insert("orphan".into(), snap.orphan.clone().unwrap_or(Value::Null));
    doc.insert("system".into(), system(&snap.metrics));
    doc.insert("service".into(), service(&layout, snap, cfg));
    doc.insert("schedule".into(), schedule(&snap.events));
    doc.insert(
        "memory_deferral".into(),
        crate::detect::memory_deferral(&snap.events).map_or(Value::Null, |d| d.to_json(snap.now)),
    );
    doc.insert("brake".into(), json!(brake(cfg, &snap.events)));
    doc.insert("recent_events".into(), Value::Array(recent_events));
    doc.insert(
        "recent_hook_failures".into(),
        Value::Array(last_of(&snap.events, "hook_failed", 10)),
    );
    doc.insert(
        "recent_blips".into(),
        Value::Array(last_of(&snap.events, "agent_network_blip", 5)),
    );
    doc.insert(
        "recent_cgroup_growth_warnings".into(),
        Value::Array(last_of(&snap.events, "cgroup_growth_rate_warning", 5)),
    );
    Ok(Value::Object(doc))
}

/// A `--select` path that does not resolve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("path segment '{segment}' not found in select path '{path}'")]
pub struct SelectError {
    pub segment: String,
    pub path: String,
}

/// `--select a.b.0.c`: dotted path over the document; all-digit segments index
/// lists.
pub fn select<'a>(doc: &'a Value, path: &str) -> Result<&'a Value, SelectError> {
    let mut cur = doc;
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        let next = match cur {
            Value::Object(m) => m.get(seg),
            Value::Array(a) if seg.bytes().all(|b| b.is_ascii_digit()) => {
                seg.parse::<usize>().ok().and_then(|i| a.get(i))
            }
            _ => None,
        };
        cur = next.ok_or_else(|| SelectError {
            segment: seg.to_string(),
            path: path.to_string(),
        })?;
    }
    Ok(cur)
}
