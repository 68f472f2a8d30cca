//! The treadmill assessor (0.3 delta §9): is the agent busy but not
//! converging? A pure function of the recent events ([`assess`]) and the
//! bounded read that gathers them ([`read_recent`]).
//!
//! Every event is tagged with the most recent `round_num` seen before it
//! (`goal_check` carries none). Over the last [`WINDOW_ROUNDS`] rounds
//! strictly before the current one, it fires when all three gates pass:
//! 1. activity in every round: a `dirty_detected` / `dirty_auto_committed`,
//!    or git HEAD moved between the round's `round_substrate_before` and
//!    `_after`;
//! 2. at least one non-skipped check, every check's `(satisfied, value)`
//!    the same in every round, and not all satisfied (that is "done");
//! 3. no `goal_assessment` since the start of this stuck episode (found by
//!    walking back over earlier rounds with the same activity and the same
//!    signature).

use crate::state::reader::{scan_back, shard_files};
use crate::state::Kind;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How many completed rounds the window holds.
pub const WINDOW_ROUNDS: usize = 3;
/// At most this many events (of the kinds the assessor reads) are read back
/// from the newest two month files. Far more than an episode needs; it keeps
/// a long stuck run from costing a read of two whole months each round.
const MAX_EVENTS: usize = 20_000;

/// One observation for the ledger. It has no field that could express an
/// action: it can only be read by the agent, never acted on by the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advisory {
    pub observation: String,
    pub question: String,
    pub confidence: String,
}

/// The events the assessor reads, oldest first: the kinds that carry a
/// `round_num` and the goal kinds, from the newest two month files.
pub fn read_recent(log_dir: &Path) -> std::io::Result<Vec<Map<String, Value>>> {
    let shards = shard_files(log_dir, "events-");
    let newest = &shards[shards.len().saturating_sub(2)..];
    let kinds: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| {
            k.fields().contains(&"round_num") || matches!(k, Kind::GoalCheck | Kind::GoalAssessment)
        })
        .map(|k| k.as_str())
        .collect();
    let mut out = Vec::new();
    scan_back(newest, &kinds, |l| {
        out.push(l.value);
        out.len() < MAX_EVENTS
    })?;
    out.reverse();
    Ok(out)
}

/// A genuine integer `round_num` (a boolean is not one).
fn round_of(ev: &Map<String, Value>) -> Option<u64> {
    ev.get("round_num").and_then(Value::as_u64)
}

fn kind(ev: &Map<String, Value>) -> &str {
    ev.get("event").and_then(Value::as_str).unwrap_or("")
}

/// One check's state in a round: satisfied, and its value (`None` when
/// absent or not a finite number), compared by bits so equality is exact.
type Entry = (bool, Option<u64>);
type Signature = BTreeMap<String, Entry>;

fn value_of(v: Option<&Value>) -> Option<u64> {
    let f = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then(|| (f + 0.0).to_bits())
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

fn signature(bucket: &[&Map<String, Value>]) -> Signature {
    let mut sig = Signature::new();
    for ev in bucket {
        if kind(ev) != "goal_check" || truthy(ev.get("skipped")) {
            continue;
        }
        let Some(name) = ev.get("name").and_then(Value::as_str) else {
            continue;
        };
        sig.insert(
            name.to_string(),
            (truthy(ev.get("satisfied")), value_of(ev.get("value"))),
        );
    }
    sig
}

fn active(bucket: &[&Map<String, Value>]) -> bool {
    let dirty = bucket
        .iter()
        .any(|ev| matches!(kind(ev), "dirty_detected" | "dirty_auto_committed"));
    let head = |k: &str| {
        bucket
            .iter()
            .rev()
            .find(|ev| kind(ev) == k)
            .and_then(|ev| ev.get("git_head"))
            .filter(|h| !h.is_null())
    };
    let moved = match (
        head("round_substrate_before"),
        head("round_substrate_after"),
    ) {
        (Some(b), Some(a)) => a != b,
        _ => false,
    };
    dirty || moved
}

/// The advisory for round `current`, or `None` (see the module docs).
/// `events` are oldest first; `window` is the number of rounds judged.
pub fn assess(events: &[Map<String, Value>], current: u64, window: usize) -> Option<Advisory> {
    let mut tag = None;
    let tagged: Vec<(Option<u64>, &Map<String, Value>)> = events
        .iter()
        .map(|ev| {
            if let Some(r) = round_of(ev) {
                tag = Some(r);
            }
            (tag, ev)
        })
        .collect();
    let mut buckets: BTreeMap<u64, Vec<&Map<String, Value>>> = BTreeMap::new();
    for (r, ev) in &tagged {
        if let Some(r) = r.filter(|r| *r < current) {
            buckets.entry(r).or_default().push(ev);
        }
    }
    let rounds: Vec<u64> = buckets.keys().copied().collect();
    if window == 0 || rounds.len() < window {
        return None;
    }
    let start = rounds.len() - window;
    let win = &rounds[start..];
    let bucket = |r: &u64| buckets.get(r).map(Vec::as_slice).unwrap_or(&[]);

    // 1. busy every round
    if !win.iter().all(|r| active(bucket(r))) {
        return None;
    }
    // 2. no check moved, some check exists, not all satisfied
    let mut series: BTreeMap<String, BTreeSet<Entry>> = BTreeMap::new();
    for r in win {
        for (name, e) in signature(bucket(r)) {
            series.entry(name).or_default().insert(e);
        }
    }
    if series.is_empty() || series.values().any(|s| s.len() > 1) {
        return None;
    }
    let constant: Signature = series
        .iter()
        .filter_map(|(n, s)| s.iter().next().map(|e| (n.clone(), *e)))
        .collect();
    if constant.values().all(|(satisfied, _)| *satisfied) {
        return None;
    }
    // 3. once per episode: walk back while earlier rounds look the same
    let mut episode_start = win[0];
    for r in rounds[..start].iter().rev() {
        let b = bucket(r);
        if !active(b) || signature(b) != constant {
            break;
        }
        episode_start = *r;
    }
    let from = tagged
        .iter()
        .position(|(r, _)| *r == Some(episode_start))
        .unwrap_or(0);
    if tagged[from..]
        .iter()
        .any(|(_, ev)| kind(ev) == "goal_assessment")
    {
        return None;
    }
    let names: Vec<&str> = series.keys().map(String::as_str).collect();
    Some(Advisory {
        observation: format!(
            "The working tree changed in each of the last {window} rounds, but goal check(s) {} kept the same status and value.",
            names.join(", ")
        ),
        question: "What is blocking the unmet check(s): is there a concrete next step, or does the check measure the wrong thing?".to_string(),
        confidence: "medium".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// One round: its start, optionally a dirty tree, then its checks.
    fn round(n: u64, dirty: bool, checks: &[(&str, bool, Value)]) -> Vec<Map<String, Value>> {
        let mut out = vec![
            ev(json!({"event": "round_start", "round_num": n})),
            ev(json!({"event": "agent_exit", "round_num": n})),
        ];
        for (name, sat, value) in checks {
            out.push(ev(json!({"event": "goal_check", "name": name, "satisfied": sat, "value": value, "timed_out": false, "skipped": false})));
        }
        if dirty {
            out.push(ev(
                json!({"event": "dirty_detected", "round_num": n, "files": ["x"]}),
            ));
        }
        out.push(ev(json!({"event": "round_end", "round_num": n})));
        out
    }

    fn log(rounds: &[Vec<Map<String, Value>>]) -> Vec<Map<String, Value>> {
        rounds.iter().flatten().cloned().collect()
    }

    const FAIL: (&str, bool, Value) = ("tests", false, Value::Null);

    #[test]
    fn three_busy_rounds_with_a_stuck_check_fire() {
        let l = log(&[
            round(1, true, &[FAIL]),
            round(2, true, &[FAIL]),
            round(3, true, &[FAIL]),
        ]);
        let a = assess(&l, 4, 3).unwrap_or_else(|| panic!("should fire"));
        assert!(a.observation.contains("tests"), "{a:?}");
        assert_eq!(a.confidence, "medium");
        // not before three rounds are complete, and never for the round itself
        assert_eq!(assess(&l, 3, 3), None);
    }

    #[test]
    fn gate_one_every_round_must_be_busy() {
        let l = log(&[
            round(1, true, &[FAIL]),
            round(2, false, &[FAIL]),
            round(3, true, &[FAIL]),
        ]);
        assert_eq!(assess(&l, 4, 3), None);
        // a moved HEAD counts as activity
        let mut r2 = round(2, false, &[FAIL]);
        r2.insert(
            0,
            ev(json!({"event": "round_substrate_before", "round_num": 2, "git_head": "a"})),
        );
        r2.push(ev(
            json!({"event": "round_substrate_after", "round_num": 2, "git_head": "b"}),
        ));
        let l = log(&[round(1, true, &[FAIL]), r2, round(3, true, &[FAIL])]);
        assert!(assess(&l, 4, 3).is_some());
    }

    #[test]
    fn gate_two_a_moving_check_all_satisfied_or_no_checks_do_not_fire() {
        let moved = log(&[
            round(1, true, &[("t", false, json!(1.0))]),
            round(2, true, &[("t", false, json!(2.0))]),
            round(3, true, &[("t", false, json!(2.0))]),
        ]);
        assert_eq!(assess(&moved, 4, 3), None);
        let done = log(&[
            round(1, true, &[("t", true, json!(1.0))]),
            round(2, true, &[("t", true, json!(1.0))]),
            round(3, true, &[("t", true, json!(1.0))]),
        ]);
        assert_eq!(assess(&done, 4, 3), None);
        let none = log(&[
            round(1, true, &[]),
            round(2, true, &[]),
            round(3, true, &[]),
        ]);
        assert_eq!(assess(&none, 4, 3), None);
        // one met and one unmet check, both constant: stuck
        let mixed: Vec<_> = (1..=3)
            .map(|n| round(n, true, &[("a", true, json!(5)), ("b", false, Value::Null)]))
            .collect();
        assert!(assess(&log(&mixed), 4, 3).is_some());
        // skipped checks are no signal
        let mut skipped = log(&(1..=3).map(|n| round(n, true, &[])).collect::<Vec<_>>());
        skipped.push(ev(
            json!({"event": "goal_check", "name": "t", "skipped": true}),
        ));
        assert_eq!(assess(&skipped, 4, 3), None);
    }

    #[test]
    fn gate_three_fires_once_per_episode_and_rearms_after_it_breaks() {
        let rounds: Vec<_> = (1..=3).map(|n| round(n, true, &[FAIL])).collect();
        let mut l = log(&rounds);
        assert!(assess(&l, 4, 3).is_some());
        // the advisory is written at the start of round 4
        l.push(ev(json!({"event": "goal_assessment", "observation": "o", "question": "q", "confidence": "medium"})));
        for n in 4..=8 {
            l.extend(round(n, true, &[FAIL]));
            assert_eq!(assess(&l, n + 1, 3), None, "round {}", n + 1);
        }
        // the check moves once (the episode ends), then sticks again
        l.extend(round(9, true, &[("tests", false, json!(1))]));
        for n in 10..=11 {
            l.extend(round(n, true, &[FAIL]));
            assert_eq!(assess(&l, n + 1, 3), None);
        }
        l.extend(round(12, true, &[FAIL]));
        assert!(assess(&l, 13, 3).is_some(), "a new episode fires again");
    }

    #[test]
    fn values_compare_as_numbers_and_junk_is_no_value() {
        let l = log(&[
            round(1, true, &[("t", false, json!(3))]),
            round(2, true, &[("t", false, json!(3.0))]),
            round(3, true, &[("t", false, json!("3"))]),
        ]);
        assert!(assess(&l, 4, 3).is_some());
        let l = log(&[
            round(1, true, &[("t", false, json!("NaN"))]),
            round(2, true, &[("t", false, Value::Null)]),
            round(3, true, &[("t", false, json!({"x": 1}))]),
        ]);
        assert!(assess(&l, 4, 3).is_some());
    }

    #[test]
    fn reads_only_the_newest_two_month_files_backwards() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let line = |n: u64| {
            format!("{{\"ts\": \"x\", \"event\": \"round_end\", \"round_num\": {n}}}\n{{\"ts\": \"x\", \"event\": \"serve_stopping\", \"reason\": \"r\"}}\n")
        };
        for (i, m) in ["2026-01", "2026-02", "2026-03"].iter().enumerate() {
            std::fs::write(
                d.path().join(format!("events-{m}.jsonl")),
                line(i as u64 + 1),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let got = read_recent(d.path()).unwrap_or_else(|e| panic!("{e}"));
        let rounds: Vec<u64> = got.iter().filter_map(round_of).collect();
        assert_eq!(rounds, [2, 3], "oldest month skipped, other kinds filtered");
    }
}
