//! The serve loop's give-up policy (0.3 delta §3.1): the pure restart
//! decision with the crash-loop breaker, the exit-0 `stalled_no_progress`
//! The serve loop's give-up policy (0.3 delta §3.1): the pure restart
//! decision with the crash-loop breaker, the exit-0 `stalled_no_progress`
//! breaker, the mem-loop breakers (`mem_loop` 71, `mem_loop_persistent`
//! 70), each with its event-log evidence, and (ours) the stop when the agent
//! waits for a human round after round. Decides only; the loop in
//! `serve.rs` emits the events and sleeps.

use crate::exit_code;
use crate::state::reader;
use serde_json::Value;
use std::path::Path;

/// Consecutive fast failures that trip the crash-loop breaker.
pub const CRASH_LOOP_THRESHOLD: u32 = 5;
/// A failing round shorter than this counts as a fast failure.
pub const SHORT_EXIT_S: f64 = 60.0;
/// Upper bound of any restart delay.
pub const MAX_DELAY_S: u64 = 1800;

/// A clean round shorter than this with no usage counts towards
/// `stalled_no_progress`.
pub const NO_PROGRESS_SHORT_S: f64 = 30.0;

/// Rounds in a row whose agent waits for the same human action before
/// `serve` stops with `config_broken` (78) and the remedy: one more round
/// than one, so a human who acted on the first alert is not stopped.
pub const NEEDS_HUMAN_STOP: u32 = 2;

/// What the round's agent waits for (its `agent_needs_input` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsHuman {
    pub agent: String,
    pub need: String,
    pub waiting_for: String,
    pub remedy: String,
}

/// The `agent_needs_input` of round `round_num` with `permanent: true`, from
/// the end of the newest events file.
pub fn needs_human(layout: &crate::state::Layout, round_num: u64) -> Option<NeedsHuman> {
    let f = layout.event_files().pop()?;
    let lines = crate::state::events::tail_lines(&f, 200);
    let e = lines
        .iter()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| {
            e.get("event").and_then(Value::as_str) == Some("agent_needs_input")
                && e.get("round_num").and_then(Value::as_u64) == Some(round_num)
                && e.get("permanent").and_then(Value::as_bool) == Some(true)
        })?;
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Some(NeedsHuman {
        agent: s("agent"),
        need: s("need"),
        waiting_for: s("waiting_for"),
        remedy: s("remedy"),
    })
}

/// Count rounds in a row that wait for the same human action; the line to
/// stop with once there are [`NEEDS_HUMAN_STOP`]. Any other round resets it.
pub fn needs_human_stop(
    found: Option<NeedsHuman>,
    streak: &mut (u32, Option<NeedsHuman>),
) -> Option<String> {
    let Some(n) = found else {
        *streak = (0, None);
        return None;
    };
    let same = streak
        .1
        .as_ref()
        .is_some_and(|p| p.need == n.need && p.agent == n.agent);
    streak.0 = if same { streak.0 + 1 } else { 1 };
    let line =
        crate::round::recognize::needs_human_line(&n.agent, &n.waiting_for, &n.remedy, streak.0);
    streak.1 = Some(n);
    (streak.0 >= NEEDS_HUMAN_STOP).then_some(line)
}

/// The restart policy after one round (spec §7.4, with the breaker counting
/// agents that fail fast, not only crashes of the round process).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Continue { delay_s: u64 },
    ConfigBroken,
    CrashLoop,
}

/// Pure restart decision. `round_rc` is the round process's exit code,
/// `agent_failed` whether the agent itself failed, `duration_s` the round's.
pub fn decide(
    round_rc: i32,
    agent_failed: bool,
    duration_s: f64,
    throttled: bool,
    consecutive: &mut u32,
    restart_delay_s: u64,
) -> Decision {
    if round_rc == exit_code::CONFIG_BROKEN {
        return Decision::ConfigBroken;
    }
    if round_rc == exit_code::ENVIRONMENTAL {
        *consecutive = 0;
        return Decision::Continue {
            delay_s: (restart_delay_s * 2).min(MAX_DELAY_S),
        };
    }
    let failed = round_rc != 0 || agent_failed;
    if failed && duration_s < SHORT_EXIT_S && !throttled {
        *consecutive += 1;
        if *consecutive >= CRASH_LOOP_THRESHOLD {
            return Decision::CrashLoop;
        }
        let d = restart_delay_s
            .saturating_mul(1u64 << (*consecutive).min(20))
            .min(MAX_DELAY_S);
        return Decision::Continue { delay_s: d };
    }
    *consecutive = 0;
    Decision::Continue {
        delay_s: if failed {
            (restart_delay_s * 2).min(MAX_DELAY_S)
        } else {
            restart_delay_s
        },
    }
}

/// Whether the round that just ran made no progress: exit 0, shorter than
/// [`NO_PROGRESS_SHORT_S`], not throttled, and no `agent_usage_recorded` for
/// `agent` in round `round_num` — armed only if `agent` has recorded usage
/// before (in the newest two month files of the event log). CLIs that never
/// report usage therefore never trip it.
pub fn round_had_no_progress(
    log_dir: &Path,
    agent: &str,
    round_num: u64,
    clean_exit: bool,
    duration_s: f64,
    throttled: bool,
) -> bool {
    if !clean_exit || throttled || duration_s >= NO_PROGRESS_SHORT_S {
        return false;
    }
    let shards = reader::shard_files(log_dir, "events-");
    let newest_two = &shards[shards.len().saturating_sub(2)..];
    let mut newest: Option<u64> = None;
    let _ = reader::scan_back(newest_two, &["agent_usage_recorded"], |l| {
        if l.value.get("agent").and_then(Value::as_str) == Some(agent) {
            newest = Some(
                l.value
                    .get("round_num")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            );
            return false;
        }
        true
    });
    match newest {
        None => false, // never reported usage: cannot arm
        Some(n) => n != round_num,
    }
}

/// Consecutive memory-terminated rounds that give `mem_loop` (exit 71).
pub const MEM_LOOP_THRESHOLD: u32 = 5;
/// `mem_loop` verdicts are counted over this rolling window (from events,
/// so the count survives the restarts 71 asks systemd for).
pub const MEM_LOOP_PERSIST_WINDOW_S: i64 = 7200;
/// The in-window `mem_loop` that becomes `mem_loop_persistent` (exit 70).
pub const MEM_LOOP_PERSIST_THRESHOLD: u64 = 3;

/// The `mem_loop` streak: a round the memory floor ended (either tier)
/// counts; any other round resets it. True at [`MEM_LOOP_THRESHOLD`].
pub fn mem_loop_decision(mem_terminated: bool, consecutive: &mut u32) -> bool {
    if !mem_terminated {
        *consecutive = 0;
        return false;
    }
    *consecutive += 1;
    *consecutive >= MEM_LOOP_THRESHOLD
}

/// The restart delay after a round the memory floor ended: at least twice
/// `restart_delay_s` (it is throttled, not crashed), capped like the others.
pub fn mem_delay(delay_s: u64, mem_terminated: bool, restart_delay_s: u64) -> u64 {
    if !mem_terminated {
        return delay_s;
    }
    delay_s.max(restart_delay_s.saturating_mul(2).min(MAX_DELAY_S))
}

/// Whether the memory floor ended round `round_num`: a
/// `round_mem_terminated` for it, or one without a round number (the
/// Python tool's) newer than its `round_substrate_before`.
pub fn round_was_mem_terminated(log_dir: &Path, round_num: u64) -> bool {
    let shards = reader::shard_files(log_dir, "events-");
    let newest_two = &shards[shards.len().saturating_sub(2)..];
    let mut found = false;
    // an unnumbered one seen since the last (newer) round boundary
    let mut unnumbered = false;
    let kinds = ["round_mem_terminated", "round_substrate_before"];
    let _ = reader::scan_back(newest_two, &kinds, |l| {
        let rn = l.value.get("round_num").and_then(Value::as_u64);
        if l.kind() == "round_mem_terminated" {
            match rn {
                Some(r) if r == round_num => {
                    found = true;
                    return false;
                }
                Some(_) => {}
                None => unnumbered = true,
            }
            return true;
        }
        match rn {
            // a later round's start: what we saw belonged to it
            Some(r) if r > round_num => {
                unnumbered = false;
                true
            }
            // this round's start: nothing older belongs to it
            _ => {
                found = unnumbered;
                false
            }
        }
    });
    found
}

/// How many `mem_loop` events are stamped within `window_s` of `now_epoch`.
pub fn mem_loops_in_window(log_dir: &Path, now_epoch: i64, window_s: i64) -> u64 {
    let cutoff = now_epoch.saturating_sub(window_s);
    let shards = reader::shard_files(log_dir, "events-");
    let newest_two = &shards[shards.len().saturating_sub(2)..];
    let mut n = 0;
    let _ = reader::scan_back(newest_two, &["mem_loop"], |l| {
        let ts = l
            .value
            .get("ts")
            .and_then(Value::as_str)
            .and_then(crate::timefmt::parse_ts)
            .map(|t| t.timestamp());
        match ts {
            Some(t) if t >= cutoff => {
                n += 1;
                true
            }
            Some(_) => false, // older than the window: so is everything before
            None => true,
        }
    });
    n
}

/// The `stalled_no_progress` streak: a round with progress resets it; the
/// [`CRASH_LOOP_THRESHOLD`]-th round in a row without gives up (exit 75).
pub fn no_progress_decision(no_progress: bool, consecutive: &mut u32) -> bool {
    if !no_progress {
        *consecutive = 0;
        return false;
    }
    *consecutive += 1;
    *consecutive >= CRASH_LOOP_THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_counts_fast_agent_failures() {
        let mut c = 0;
        for i in 1..CRASH_LOOP_THRESHOLD {
            assert_eq!(
                decide(0, true, 1.0, false, &mut c, 3),
                Decision::Continue {
                    delay_s: 3 * (1 << i)
                }
            );
        }
        assert_eq!(decide(0, true, 1.0, false, &mut c, 3), Decision::CrashLoop);
    }

    #[test]
    fn long_or_throttled_or_clean_rounds_reset_the_counter() {
        let mut c = 3;
        assert_eq!(
            decide(0, true, 120.0, false, &mut c, 3),
            Decision::Continue { delay_s: 6 }
        );
        assert_eq!(c, 0);
        c = 3;
        assert_eq!(
            decide(0, false, 1.0, false, &mut c, 3),
            Decision::Continue { delay_s: 3 }
        );
        assert_eq!(c, 0);
        c = 3;
        assert_eq!(
            decide(0, true, 1.0, true, &mut c, 3),
            Decision::Continue { delay_s: 6 }
        );
        assert_eq!(
            decide(78, false, 1.0, false, &mut c, 3),
            Decision::ConfigBroken
        );
        assert_eq!(
            decide(0, true, 1.0, false, &mut c, 0),
            Decision::Continue { delay_s: 0 }
        );
    }

    #[test]
    fn mem_loop_streak_trips_on_the_fifth_and_resets() {
        let mut c = 0;
        for _ in 1..MEM_LOOP_THRESHOLD {
            assert!(!mem_loop_decision(true, &mut c));
        }
        assert!(mem_loop_decision(true, &mut c));
        assert!(!mem_loop_decision(false, &mut c));
        assert_eq!(c, 0);
    }

    #[test]
    fn mem_termination_is_scoped_to_the_round_and_mem_loops_to_the_window() {
        let d = tempfile::tempdir().unwrap();
        let line = |ts: &str, k: &str, rn: Option<u64>| match rn {
            Some(n) => format!("{{\"ts\": \"{ts}\", \"event\": \"{k}\", \"round_num\": {n}}}\n"),
            None => format!("{{\"ts\": \"{ts}\", \"event\": \"{k}\"}}\n"),
        };
        let mut text = String::new();
        text += &line(
            "2026-11-01T00:00:00.000Z",
            "round_substrate_before",
            Some(1),
        );
        text += &line("2026-11-01T00:00:01.000Z", "round_mem_terminated", Some(1));
        text += &line("2026-11-01T00:00:02.000Z", "mem_loop", None);
        text += &line("2026-11-01T01:00:00.000Z", "mem_loop", None);
        text += &line(
            "2026-11-01T02:00:00.000Z",
            "round_substrate_before",
            Some(2),
        );
        text += &line(
            "2026-11-01T02:00:05.000Z",
            "round_substrate_before",
            Some(3),
        );
        text += &line("2026-11-01T02:00:06.000Z", "round_mem_terminated", None);
        text += &line(
            "2026-11-01T02:00:09.000Z",
            "round_substrate_before",
            Some(4),
        );
        std::fs::write(d.path().join("events-2026-11.jsonl"), text).unwrap();
        assert!(round_was_mem_terminated(d.path(), 1));
        assert!(!round_was_mem_terminated(d.path(), 2));
        assert!(
            round_was_mem_terminated(d.path(), 3),
            "a Python-style event after the round's start"
        );
        assert!(!round_was_mem_terminated(d.path(), 4));
        let at = |s: &str| {
            crate::timefmt::parse_ts(s)
                .map(|t| t.timestamp())
                .unwrap_or(0)
        };
        assert_eq!(
            mem_loops_in_window(d.path(), at("2026-11-01T02:00:00.000Z"), 7200),
            2
        );
        assert_eq!(
            mem_loops_in_window(d.path(), at("2026-11-01T02:00:03.000Z"), 7200),
            1
        );
        assert_eq!(
            mem_loops_in_window(d.path(), at("2026-11-01T03:00:01.000Z"), 7200),
            0
        );
    }

    #[test]
    fn no_progress_streak_trips_on_the_fifth_and_resets() {
        let mut c = 0;
        for _ in 1..CRASH_LOOP_THRESHOLD {
            assert!(!no_progress_decision(true, &mut c));
        }
        assert!(no_progress_decision(true, &mut c));
        assert!(!no_progress_decision(false, &mut c));
        assert_eq!(c, 0);
    }

    #[test]
    fn the_same_human_need_twice_in_a_row_stops_with_its_remedy() {
        let n = |need: &str| NeedsHuman {
            agent: "claude".into(),
            need: need.into(),
            waiting_for: "a non-root user".into(),
            remedy: "set IS_SANDBOX=1".into(),
        };
        let mut s = (0, None);
        assert_eq!(needs_human_stop(Some(n("non_root")), &mut s), None);
        let line = needs_human_stop(Some(n("non_root")), &mut s).expect("stops on the second");
        assert_eq!(
            line,
            "claude needs a non-root user (2 rounds in a row) — set IS_SANDBOX=1"
        );
        // another round in between resets the count; so does another need
        let mut s = (0, None);
        assert_eq!(needs_human_stop(Some(n("non_root")), &mut s), None);
        assert_eq!(needs_human_stop(None, &mut s), None);
        assert_eq!(needs_human_stop(Some(n("non_root")), &mut s), None);
        assert_eq!(needs_human_stop(Some(n("login")), &mut s), None);
    }

    fn usage_log(lines: &[(&str, u64)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let mut text = String::new();
        for (agent, n) in lines {
            text.push_str(&format!(
                "{{\"ts\": \"2026-11-01T00:00:00.000Z\", \"event\": \"agent_usage_recorded\", \"agent\": \"{agent}\", \"round_num\": {n}}}\n"
            ));
        }
        std::fs::write(d.path().join("events-2026-11.jsonl"), text).unwrap();
        d
    }

    #[test]
    fn no_progress_needs_an_agent_that_reported_usage_before() {
        let d = usage_log(&[("claude", 1), ("pi", 2)]);
        // claude reported in round 1, not in round 3: no progress
        assert!(round_had_no_progress(
            d.path(),
            "claude",
            3,
            true,
            1.0,
            false
        ));
        // usage in this very round: progress
        assert!(!round_had_no_progress(d.path(), "pi", 2, true, 1.0, false));
        // kimi never reported usage: not armed
        assert!(!round_had_no_progress(
            d.path(),
            "kimi",
            3,
            true,
            1.0,
            false
        ));
        // failed, slow or throttled rounds are not "no progress"
        assert!(!round_had_no_progress(
            d.path(),
            "claude",
            3,
            false,
            1.0,
            false
        ));
        assert!(!round_had_no_progress(
            d.path(),
            "claude",
            3,
            true,
            30.0,
            false
        ));
        assert!(!round_had_no_progress(
            d.path(),
            "claude",
            3,
            true,
            1.0,
            true
        ));
    }
}
