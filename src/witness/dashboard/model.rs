//! What a host page shows, independent of where it came from (the local
//! log_dir or a fleet link): [`HostDetail`], and the small accumulators that
//! build its history from events as they pass ([`History`]: the last
//! [`TIMELINE_ROUNDS`] rounds and today's token use), and its sparklines
//! from metrics samples ([`samples`]). Pure: no I/O, no clock.

use crate::detect::window::Record;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Rounds on the timeline.
pub const TIMELINE_ROUNDS: usize = 50;
/// Points per sparkline, at most (older samples are thinned out).
pub const SPARK_POINTS: usize = 120;

/// One round on the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundBar {
    pub round: i64,
    pub phase: Option<String>,
    pub started_at: Option<String>,
    /// Seconds the agent ran (`agent_exit.duration_s`), when it exited.
    pub duration_s: Option<f64>,
    /// `exit_cause` as written (`clean`, `error`, `timeout`, `signal:…`).
    pub exit_cause: Option<String>,
    pub exit_code: Option<i64>,
    /// `round_end` seen.
    pub ended: bool,
}

impl RoundBar {
    /// The colour class: `ok`, `error`, `timeout`, `signal`, `cancelled`,
    /// `running` (no exit yet), `unknown`.
    pub fn class(&self) -> &'static str {
        match self.exit_cause.as_deref() {
            Some("clean") => "ok",
            Some("error") => "error",
            Some("timeout") | Some("grace_kill") => "timeout",
            Some("cancelled") => "cancelled",
            Some(c) if c.starts_with("signal:") => "signal",
            Some(_) => "unknown",
            None if self.ended => "unknown",
            None => "running",
        }
    }
}

/// Token use and cost of one day (the host's UTC date).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub day: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// `agent_usage_recorded` events counted.
    pub records: u64,
}

/// What the events say over time: rounds and usage, fed one event at a
/// time (a fleet link keeps one; the local page builds one per request).
#[derive(Debug, Clone, Default)]
pub struct History {
    rounds: BTreeMap<i64, RoundBar>,
    usage: Usage,
}

fn s(e: &Record, k: &str) -> Option<String> {
    e.get(k).and_then(Value::as_str).map(String::from)
}

impl History {
    pub fn push(&mut self, e: &Record) {
        let kind = e.get("event").and_then(Value::as_str).unwrap_or("");
        if kind == "agent_usage_recorded" {
            self.push_usage(e);
        }
        if !matches!(
            kind,
            "round_start" | "agent_exit" | "round_end" | "round_cancelled"
        ) {
            return;
        }
        let Some(n) = e.get("round_num").and_then(Value::as_i64) else {
            return;
        };
        if kind != "round_start" && !self.rounds.contains_key(&n) {
            // The end of a round whose start is older than what we hold.
            if self.rounds.first_key_value().is_some_and(|(k, _)| n < *k) {
                return;
            }
        }
        let r = self.rounds.entry(n).or_insert_with(|| RoundBar {
            round: n,
            phase: None,
            started_at: None,
            duration_s: None,
            exit_cause: None,
            exit_code: None,
            ended: false,
        });
        match kind {
            "round_start" => {
                r.started_at = s(e, "ts");
                r.phase = s(e, "phase");
            }
            "agent_exit" => {
                r.duration_s = e.get("duration_s").and_then(Value::as_f64);
                r.exit_cause = s(e, "exit_cause");
                r.exit_code = e.get("exit_code").and_then(Value::as_i64);
            }
            "round_cancelled" => {
                r.exit_cause.get_or_insert_with(|| "cancelled".into());
                r.ended = true;
            }
            _ => r.ended = true,
        }
        while self.rounds.len() > TIMELINE_ROUNDS {
            self.rounds.pop_first();
        }
    }

    fn push_usage(&mut self, e: &Record) {
        let Some(day) = e
            .get("ts")
            .and_then(Value::as_str)
            .and_then(|t| t.get(..10))
        else {
            return;
        };
        if day > self.usage.day.as_str() {
            self.usage = Usage {
                day: day.to_string(),
                ..Default::default()
            };
        } else if day < self.usage.day.as_str() {
            return;
        }
        let n = |k: &str| e.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.usage.input_tokens = self.usage.input_tokens.saturating_add(n("input_tokens"));
        self.usage.output_tokens = self.usage.output_tokens.saturating_add(n("output_tokens"));
        let cost = e.get("cost_usd").and_then(Value::as_f64).unwrap_or(0.0);
        if cost.is_finite() && cost > 0.0 {
            self.usage.cost_usd += cost;
        }
        self.usage.records += 1;
    }

    /// Oldest first.
    pub fn rounds(&self) -> Vec<RoundBar> {
        self.rounds.values().cloned().collect()
    }

    /// The newest round.
    pub fn latest(&self) -> Option<&RoundBar> {
        self.rounds.values().next_back()
    }

    /// Usage on `today` (`YYYY-MM-DD`, the host's clock), if any was recorded.
    pub fn usage_on(&self, today: &str) -> Option<Usage> {
        (self.usage.day == today && self.usage.records > 0).then(|| self.usage.clone())
    }
}

/// One metrics sample on a sparkline: seconds before `now`, memory
/// available (MiB), memory PSI some avg10 (%), disk used (%).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    pub ago_s: f64,
    pub mem_available_mb: Option<f64>,
    pub psi_some_avg10: Option<f64>,
    pub disk_used_pct: Option<f64>,
}

/// The samples of `metrics` (oldest first) relative to `now`, thinned to
/// [`SPARK_POINTS`].
pub fn samples<'a>(
    metrics: impl Iterator<Item = &'a Record>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Sample> {
    let all: Vec<Sample> = metrics
        .filter_map(|m| {
            let ts = m
                .get("ts")
                .and_then(Value::as_str)
                .and_then(crate::timefmt::parse_ts)?;
            let f = |k: &str| m.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
            Some(Sample {
                ago_s: (now - ts).num_milliseconds() as f64 / 1000.0,
                mem_available_mb: f("mem_available_mb"),
                psi_some_avg10: f("psi_some_avg10"),
                disk_used_pct: f("disk_used_pct"),
            })
        })
        .collect();
    let step = all.len().div_ceil(SPARK_POINTS).max(1);
    let last = all.len().saturating_sub(1);
    all.iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == last)
        .map(|(_, s)| *s)
        .collect()
}

/// The current round as a host page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    pub round: i64,
    pub phase: Option<String>,
    pub running: bool,
    /// Seconds since it started (host clock), while it runs.
    pub elapsed_s: Option<f64>,
    pub budget_s: Option<u64>,
    pub exit_cause: Option<String>,
}

/// An active alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertItem {
    pub severity: String,
    pub detector: String,
    pub message: String,
}

impl AlertItem {
    pub fn from_value(a: &Value) -> AlertItem {
        let g = |k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        AlertItem {
            severity: g("severity"),
            detector: g("detector"),
            message: g("message"),
        }
    }
}

/// Everything a host page shows.
#[derive(Debug, Clone, Default)]
pub struct HostDetail {
    pub title: String,
    /// The row state (`ok`, `alert`, `unreachable`, …) or the service's.
    pub state: String,
    /// Label → value lines under the title.
    pub facts: Vec<(String, String)>,
    pub alerts: Vec<AlertItem>,
    pub notify_error: Option<String>,
    pub current: Option<Current>,
    pub rounds: Vec<RoundBar>,
    pub samples: Vec<Sample>,
    pub usage: Option<Usage>,
    /// Newest last.
    pub events: Vec<Value>,
    /// The last lines of the project's narrative file (`Some("")`: none
    /// yet); `None` where there is no such thing to show (a fleet host).
    pub narrative: Option<String>,
}

impl HostDetail {
    /// The current round from the timeline's newest one, with `now` and the
    /// budget for its phase.
    pub fn current_from(
        latest: Option<&RoundBar>,
        now: Option<chrono::DateTime<chrono::Utc>>,
        budget: impl Fn(Option<&str>) -> u64,
    ) -> Option<Current> {
        let r = latest?;
        let running = r.exit_cause.is_none() && !r.ended;
        let started = r.started_at.as_deref().and_then(crate::timefmt::parse_ts);
        let elapsed_s = match (running, started, now) {
            (true, Some(s), Some(n)) => Some(((n - s).num_milliseconds() as f64 / 1000.0).max(0.0)),
            _ => None,
        };
        Some(Current {
            round: r.round,
            phase: r.phase.clone(),
            running,
            elapsed_s,
            budget_s: Some(budget(r.phase.as_deref())).filter(|b| *b > 0),
            exit_cause: r.exit_cause.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Record {
        match v {
            Value::Object(m) => m,
            _ => Record::new(),
        }
    }

    #[test]
    fn history_keeps_fifty_rounds_and_today_usage() {
        let mut h = History::default();
        for n in 1..=60 {
            h.push(&rec(json!({"ts": "2026-12-04T10:00:00.000Z", "event": "round_start", "round_num": n, "phase": "build"})));
            h.push(&rec(json!({"event": "agent_exit", "round_num": n, "duration_s": n as f64, "exit_cause": if n % 2 == 0 { "clean" } else { "timeout" }})));
            h.push(&rec(json!({"event": "round_end", "round_num": n})));
        }
        h.push(&rec(json!({"ts": "2026-12-05T10:00:00.000Z", "event": "round_start", "round_num": 61, "phase": null})));
        let r = h.rounds();
        assert_eq!(r.len(), TIMELINE_ROUNDS);
        assert_eq!((r[0].round, r[0].class()), (12, "ok"));
        assert_eq!(r[1].class(), "timeout");
        assert_eq!(h.latest().map(RoundBar::class), Some("running"));
        // An exit of a round older than the window does not come back.
        h.push(&rec(
            json!({"event": "agent_exit", "round_num": 3, "exit_cause": "clean"}),
        ));
        assert_eq!(h.rounds()[0].round, 12);

        for (ts, tok, cost) in [
            ("2026-12-04T23:00:00.000Z", 1000, 1.0),
            ("2026-12-05T01:00:00.000Z", 10, 0.25),
            ("2026-12-05T02:00:00.000Z", 5, 0.5),
            ("2026-12-04T23:30:00.000Z", 99, 9.0),
        ] {
            h.push(&rec(json!({"ts": ts, "event": "agent_usage_recorded", "input_tokens": tok, "output_tokens": 1, "cost_usd": cost})));
        }
        let u = h.usage_on("2026-12-05").unwrap_or_default();
        assert_eq!((u.input_tokens, u.output_tokens, u.records), (15, 2, 2));
        assert!((u.cost_usd - 0.75).abs() < 1e-9);
        assert_eq!(h.usage_on("2026-12-06"), None);
    }

    #[test]
    fn samples_are_thinned_and_relative() {
        let now = crate::timefmt::parse_ts("2026-12-05T10:00:00.000Z").unwrap_or_default();
        let ms: Vec<Record> = (0..500)
            .map(|i| rec(json!({"ts": crate::timefmt::iso_ms(now - chrono::Duration::seconds(500 - i)), "mem_available_mb": i, "disk_used_pct": 50.0})))
            .collect();
        let s = samples(ms.iter(), now);
        assert!(s.len() <= SPARK_POINTS + 1, "{}", s.len());
        assert_eq!(s.last().map(|x| x.ago_s), Some(1.0));
        assert_eq!(s[0].mem_available_mb, Some(0.0));
    }
}
