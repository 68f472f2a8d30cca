//! `peek`: the ProjectState document as JSON (indent 2) or as readable text,
//! with `--round`, `--log`, `--events` and `--select`.

use super::state::{self, PeekOptions};
use crate::config::Config;
use crate::state::Layout;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Why the document could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PeekError {
    #[error("cannot read '{}': {source}", dir.display())]
    Read {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    RoundNotFound(#[from] state::RoundNotFound),
    #[error("{0}")]
    Select(#[from] state::SelectError),
}

/// Build the document, or the part of it `select` names (`a.b.0.c`).
pub fn document(
    cfg: &Config,
    opts: &PeekOptions,
    select: Option<&str>,
) -> Result<Value, PeekError> {
    let layout = Layout::new(&cfg.runtime.log_dir);
    let snap = crate::snapshot::gather(&layout).map_err(|source| PeekError::Read {
        dir: layout.log_dir.clone(),
        source,
    })?;
    let doc = state::project_state(cfg, &snap, opts)?;
    match select {
        Some(p) => Ok(state::select(&doc, p).cloned()?),
        None => Ok(doc),
    }
}

/// Render for the terminal: JSON (indent 2) or text.
pub fn render(doc: &Value, json: bool, selected: bool) -> String {
    if json {
        return serde_json::to_string_pretty(doc).unwrap_or_default();
    }
    if selected {
        return match doc {
            Value::String(s) => s.clone(),
            Value::Object(_) | Value::Array(_) => {
                serde_json::to_string_pretty(doc).unwrap_or_default()
            }
            other => other.to_string(),
        };
    }
    render_text(doc)
}

fn s(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(x)) => x.clone(),
        Some(x) => x.to_string(),
    }
}

fn secs(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) => format!("{x:.1}s"),
        None => "-".into(),
    }
}

/// The readable text form.
pub fn render_text(doc: &Value) -> String {
    let mut o = String::new();
    let g = |k: &str| doc.get(k);
    let _ = writeln!(
        o,
        "project   {}   (log_dir {})",
        s(g("project")),
        s(g("log_dir"))
    );
    if let Some(sv) = g("service") {
        let active = sv.get("active").and_then(Value::as_bool).unwrap_or(false);
        let _ = writeln!(
            o,
            "service   {} ({}){}{}",
            if active { "running" } else { "not running" },
            s(sv.get("mode")),
            sv.get("pid")
                .filter(|p| !p.is_null())
                .map(|p| format!(", pid {p}"))
                .unwrap_or_default(),
            sv.get("uptime_s")
                .and_then(Value::as_f64)
                .map(|u| format!(", up {}", human_age(u)))
                .unwrap_or_default()
        );
        if let Some(rl) = sv.get("rate_limit").filter(|r| !r.is_null()) {
            let _ = writeln!(
                o,
                "throttled until {} ({}, agent {})",
                s(rl.get("throttled_until_iso")),
                s(rl.get("limit_type")),
                s(rl.get("agent"))
            );
        }
    }
    if let Some(st) = g("status").filter(|v| v.as_object().is_some_and(|m| !m.is_empty())) {
        let _ = writeln!(
            o,
            "status    last completed round {}: exit {} after {} at {}",
            s(st.get("round_num")),
            s(st.get("last_exit_code")),
            secs(st.get("last_duration_s")),
            s(st.get("last_completed_at"))
        );
    }
    match g("current_round").filter(|v| !v.is_null()) {
        Some(r) => {
            let running = r.get("running").and_then(Value::as_bool).unwrap_or(false);
            let _ = writeln!(
                o,
                "round     R{}{} {} {}{}",
                s(r.get("round_num")),
                r.get("phase")
                    .and_then(Value::as_str)
                    .map(|p| format!(" [{p}]"))
                    .unwrap_or_default(),
                if running { "running for" } else { "took" },
                secs(r.get("duration_so_far_s")),
                if running {
                    String::new()
                } else {
                    format!(
                        ", {} (exit {})",
                        s(r.get("exit_cause")),
                        s(r.get("exit_code"))
                    )
                }
            );
            if let Some(p) = r.get("log_path").and_then(Value::as_str) {
                let _ = writeln!(o, "          log {p}");
            }
            if let Some(t) = r.get("log_tail").and_then(Value::as_str) {
                let _ = writeln!(o, "--- log tail ---\n{t}\n---");
            }
        }
        None => {
            let _ = writeln!(o, "round     no rounds yet");
        }
    }
    if let Some(rs) = g("recent_rounds")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let _ = writeln!(o, "recent rounds (newest first):");
        for r in rs.iter().rev() {
            let _ = writeln!(
                o,
                "  R{:<6} {:<14} exit {:<4} {:>9}  {}",
                s(r.get("round_num")),
                s(r.get("exit_cause")),
                s(r.get("exit_code")),
                secs(r.get("duration_s")),
                s(r.get("started_at"))
            );
        }
    }
    if let Some(sy) = g("system") {
        let _ = writeln!(
            o,
            "system    mem {} MB available of {} MB, disk {}% used ({} GB free), load {}",
            s(sy.get("mem_available_mb")),
            s(sy.get("mem_total_mb")),
            s(sy.get("disk_used_pct")),
            s(sy.get("disk_free_gb")),
            s(sy.get("load_1m"))
        );
    }
    if let Some(sc) = g("schedule").filter(|v| !v.is_null()) {
        let _ = writeln!(o, "schedule  paused until {}", s(sc.get("resume_at")));
    }
    if let Some(d) = g("memory_deferral").filter(|v| !v.is_null()) {
        let _ = writeln!(
            o,
            "memory    {} ({})",
            s(d.get("label")),
            s(d.get("signal"))
        );
    }
    if let Some(b) = g("brake").and_then(Value::as_str).filter(|b| *b != "off") {
        let _ = writeln!(o, "brake     memory.high {b}");
    }
    if let Some(gw) = g("recent_cgroup_growth_warnings")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
    {
        let _ = writeln!(
            o,
            "growth    R{} grew {} MB/min ({}) at {}",
            s(gw.get("round_num")),
            gw.get("rate_mb_per_min")
                .and_then(Value::as_f64)
                .map_or("?".into(), |r| format!("{r:.0}")),
            s(gw.get("source")),
            s(gw.get("ts"))
        );
    }
    if let Some(orph) = g("orphan").filter(|v| !v.is_null()) {
        let n = orph
            .get("files")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let _ = writeln!(
            o,
            "orphan    R{} stashed {} file(s) as {}",
            s(orph.get("round_num")),
            n,
            s(orph.get("stashed_ref"))
        );
    }
    if let Some(al) = g("alerts")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        let _ = writeln!(o, "alerts:");
        for a in al {
            let _ = writeln!(
                o,
                "  [{}] {} \u{2014} {}",
                crate::detect::tag_of(&s(a.get("severity"))),
                s(a.get("detector")),
                s(a.get("message"))
            );
        }
    }
    for (key, title) in [
        ("recent_hook_failures", "hook failures"),
        ("recent_blips", "network blips"),
        ("recent_events", "recent events"),
    ] {
        if let Some(evs) = g(key).and_then(Value::as_array).filter(|a| !a.is_empty()) {
            let _ = writeln!(o, "{title}:");
            for e in evs {
                let _ = writeln!(o, "  {}", super::narrate::narrate_line(e));
            }
        }
    }
    if let Some(d) = g("defenses").and_then(Value::as_array) {
        let active = d
            .iter()
            .filter(|x| x.get("current_state").and_then(Value::as_str) == Some("active"))
            .count();
        let _ = writeln!(
            o,
            "defenses  {active}/{} active (peek --select defenses)",
            d.len()
        );
    }
    o
}

/// `1h 02m`, `3m 05s`, `12s`.
pub fn human_age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}
