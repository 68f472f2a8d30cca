//! Rate-limit state read from the event log (spec §7.3, 0.3 delta §3.12):
//! the newest throttle of any agent (the `back_off`/`skip`/`stop` gate) and,
//! for `phase_policy = "skip"`, the throttles per agent. Reads only.

use crate::state::{reader, Layout};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// An active throttle read from the event log (spec §7.3).
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    pub reset_at_epoch: i64,
    pub classification: String,
    pub agent: String,
    pub since_round: u64,
}

/// Throttle state: the newest events file's last 100 lines, walked backwards.
pub fn throttle_state(layout: &Layout, now_epoch: i64) -> Option<Throttle> {
    let newest = layout.event_files().pop()?;
    for line in crate::state::events::tail_lines(&newest, 100).iter().rev() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v.get("event").and_then(Value::as_str) {
            Some("transient_error_recovered") => return None,
            Some("transient_error_detected") => {
                let reset = v
                    .get("reset_at_epoch")
                    .and_then(|x| x.as_f64())
                    .map(|x| x as i64)
                    .unwrap_or(0);
                if reset <= now_epoch {
                    return None;
                }
                return Some(Throttle {
                    reset_at_epoch: reset,
                    classification: v
                        .get("classification")
                        .and_then(Value::as_str)
                        .unwrap_or("rate_limit_account")
                        .to_string(),
                    agent: v
                        .get("agent")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown")
                        .to_string(),
                    since_round: v.get("round_num").and_then(Value::as_u64).unwrap_or(0),
                });
            }
            _ => {}
        }
    }
    None
}

/// Base back-off for estimated classes; `None` = use the event's reset time.
/// `network` (ours: the provider cannot be reached) backs off like a 5xx.
pub fn backoff_base_s(classification: &str) -> Option<u64> {
    match classification {
        "rate_limit_model" | "api_transient_5xx" | "network" => Some(60),
        "api_timeout" => Some(30),
        _ => None,
    }
}

/// Back-off constants (spec §7.3).
pub(super) const EXP_CAP: u32 = 5;
pub(super) const ABS_CAP_S: u64 = 1800;
pub(super) const DEFENSIVE_CAP_S: u64 = 28_800;

/// Throttles per agent for the skip policy: the newest transient event of
/// each agent in the newest two month files decides.
#[derive(Debug, Default, PartialEq)]
pub struct PerAgent {
    /// Agents whose newest transient event is a `detected` with its reset in
    /// the future.
    pub active: BTreeMap<String, Throttle>,
    /// `(agent, classification, throttled_for_s)` of agents whose throttle
    /// has passed with no `transient_error_recovered` yet.
    pub cleared: Vec<(String, String, i64)>,
}

impl PerAgent {
    /// The earliest reset among the active throttles.
    pub fn wake_epoch(&self) -> Option<i64> {
        self.active.values().map(|t| t.reset_at_epoch).min()
    }
}

/// Read [`PerAgent`] at `now_epoch`.
pub fn per_agent(layout: &Layout, now_epoch: i64) -> PerAgent {
    let shards = reader::shard_files(&layout.log_dir, "events-");
    let newest_two = &shards[shards.len().saturating_sub(2)..];
    let mut newest: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let _ = reader::scan_back(
        newest_two,
        &["transient_error_detected", "transient_error_recovered"],
        |l| {
            let agent = l
                .value
                .get("agent")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            newest.entry(agent).or_insert(l.value);
            true
        },
    );
    let mut out = PerAgent::default();
    for (agent, ev) in newest {
        if ev.get("event").and_then(Value::as_str) != Some("transient_error_detected") {
            continue;
        }
        let classification = ev
            .get("classification")
            .and_then(Value::as_str)
            .unwrap_or("rate_limit_account")
            .to_string();
        let reset = ev
            .get("reset_at_epoch")
            .and_then(Value::as_f64)
            .map(|x| x as i64)
            .unwrap_or(0);
        if reset > now_epoch {
            out.active.insert(
                agent.clone(),
                Throttle {
                    reset_at_epoch: reset,
                    classification,
                    agent,
                    since_round: ev.get("round_num").and_then(Value::as_u64).unwrap_or(0),
                },
            );
        } else {
            let since = ev
                .get("ts")
                .and_then(Value::as_str)
                .and_then(crate::timefmt::parse_ts)
                .map(|t| (now_epoch - t.timestamp()).max(0))
                .unwrap_or(0);
            out.cleared.push((agent, classification, since));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_table() {
        assert_eq!(backoff_base_s("rate_limit_model"), Some(60));
        assert_eq!(backoff_base_s("api_timeout"), Some(30));
        assert_eq!(backoff_base_s("rate_limit_account"), None);
    }

    #[test]
    fn per_agent_newest_event_decides() {
        let d = tempfile::tempdir().unwrap();
        let ev = |kind: &str, agent: &str, reset: i64| {
            format!("{{\"ts\": \"2026-11-25T10:00:00.000Z\", \"event\": \"{kind}\", \"classification\": \"rate_limit_account\", \"agent\": \"{agent}\", \"reset_at_epoch\": {reset}, \"round_num\": 3}}\n")
        };
        let now = 2_000_000_000;
        let text = [
            ev("transient_error_detected", "a", now + 100),
            ev("transient_error_detected", "b", now - 100),
            ev("transient_error_detected", "c", now + 100),
            ev("transient_error_recovered", "c", 0),
        ]
        .concat();
        std::fs::write(d.path().join("events-2026-11.jsonl"), text).unwrap();
        let pa = per_agent(&Layout::new(d.path()), now);
        assert_eq!(pa.active.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(pa.wake_epoch(), Some(now + 100));
        assert_eq!(pa.cleared.len(), 1);
        assert_eq!(pa.cleared[0].0, "b");
    }
}
