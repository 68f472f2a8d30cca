//! From a round's [`Recognition`] to events, next to what the JSON parsers
//! found: `agent_needs_input` (ours), `agent_auth_error_detected` and
//! `transient_error_detected` where the parsers had none (classification
//! `network` for an unreachable provider; quota as `rate_limit_account`),
//! and the round's verdict for `round`'s exit code.

use super::{Class, Recognition, Signal};
use crate::round::parsers::{self, ParsedEvent};
use crate::state::Kind;
use serde_json::{Map, Value};

/// Back-off after a quota or credit exhaustion the CLI gave no reset for.
pub const QUOTA_BACKOFF_S: i64 = 3600;
/// Back-off after a rate limit or an unreachable / overloaded provider.
pub const TRANSIENT_BACKOFF_S: i64 = 60;

/// How the agent's round went, for `round`'s exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentVerdict {
    /// It did its work (exit 0, or killed after its result).
    Ok,
    /// It failed: a non-zero exit, or a failure its output names.
    Failed,
    /// It waits for a human (`agent_needs_input`): a login, a browser
    /// sign-in, a non-root user, a setting.
    NeedsHuman,
}

impl AgentVerdict {
    /// `Failed` when the agent exited non-zero by itself (the Python tool's
    /// rule: a timeout or a kill after the result is not a failure), when
    /// the watch ended it, or when the events name a failure.
    pub fn of(
        exit_code: i32,
        timed_out: bool,
        grace_killed: bool,
        ended_early: bool,
        events: &[ParsedEvent],
    ) -> AgentVerdict {
        let has = |k: Kind| events.iter().any(|(kind, _)| *kind == k);
        if has(Kind::AgentNeedsInput) {
            return AgentVerdict::NeedsHuman;
        }
        let crashed = exit_code != 0 && !timed_out && !grace_killed;
        if crashed
            || ended_early
            || has(Kind::AgentAuthErrorDetected)
            || has(Kind::TransientErrorDetected)
        {
            return AgentVerdict::Failed;
        }
        AgentVerdict::Ok
    }
}

/// The parsers' events with what the recognition adds. `agent` is the
/// CLI's name, `now` the epoch the reset times count from.
pub fn recognized_events(
    rec: &Recognition,
    mut parsed: Vec<ParsedEvent>,
    agent: &str,
    round_num: u64,
    phase: Option<&str>,
    now: i64,
) -> Vec<ParsedEvent> {
    let has = |evs: &[ParsedEvent], k: Kind| evs.iter().any(|(kind, _)| *kind == k);
    let human = rec.signals.iter().find(|s| s.need.is_some());
    let auth = rec.of(Class::Auth);
    if let Some(a) = auth.filter(|_| !has(&parsed, Kind::AgentAuthErrorDetected)) {
        parsed.push(parsers::ordered_event(
            Kind::AgentAuthErrorDetected,
            vec![
                ("round_num", round_num.into()),
                ("agent", agent.into()),
                ("raw", parsers::capped_redacted(&a.raw).into()),
            ],
        ));
    }
    if let Some(h) = human {
        parsed.push(needs_input(h, agent, round_num));
    }
    let quota = rec.of(Class::RateLimit).filter(|s| s.quota);
    if let (Some(q), Some(t)) = (quota, transient_mut(&mut parsed)) {
        // the parser saw a 429; the words say quota: an hour, not a minute
        let reset = now.saturating_add(q.reset_in_s.unwrap_or(QUOTA_BACKOFF_S));
        t.insert("classification".into(), "rate_limit_account".into());
        let old = t.get("reset_at_epoch").and_then(Value::as_i64).unwrap_or(0);
        t.insert("reset_at_epoch".into(), old.max(reset).into());
    }
    let transient = rec.signals.iter().find(|s| {
        matches!(
            s.class,
            Class::RateLimit | Class::Network | Class::Overloaded
        )
    });
    let failed_otherwise = human.is_some() || auth.is_some();
    if let Some(t) =
        transient.filter(|_| !failed_otherwise && !has(&parsed, Kind::TransientErrorDetected))
    {
        let (class, reset) = classification(t);
        parsed.push(parsers::ordered_event(
            Kind::TransientErrorDetected,
            vec![
                ("classification", class.into()),
                ("agent", agent.into()),
                ("reset_at_epoch", now.saturating_add(reset).into()),
                ("round_num", round_num.into()),
                ("raw", parsers::capped_redacted(&t.raw).into()),
                ("phase", phase.unwrap_or("").into()),
            ],
        ));
    }
    parsed
}

fn transient_mut(evs: &mut [ParsedEvent]) -> Option<&mut Map<String, Value>> {
    evs.iter_mut()
        .find(|(k, _)| *k == Kind::TransientErrorDetected)
        .map(|(_, m)| m)
}

/// The classification and the back-off (seconds) of a transient signal.
fn classification(s: &Signal) -> (&'static str, i64) {
    match s.class {
        Class::RateLimit if s.quota => (
            "rate_limit_account",
            s.reset_in_s.unwrap_or(QUOTA_BACKOFF_S),
        ),
        Class::RateLimit => (
            "rate_limit_model",
            s.reset_in_s.unwrap_or(TRANSIENT_BACKOFF_S),
        ),
        Class::Network => ("network", TRANSIENT_BACKOFF_S),
        _ => ("api_transient_5xx", TRANSIENT_BACKOFF_S),
    }
}

fn needs_input(s: &Signal, agent: &str, round_num: u64) -> ParsedEvent {
    parsers::ordered_event(
        Kind::AgentNeedsInput,
        vec![
            ("round_num", round_num.into()),
            ("agent", agent.into()),
            ("need", s.need.unwrap_or("").into()),
            ("waiting_for", s.waiting_for.unwrap_or("").into()),
            ("remedy", s.remedy.unwrap_or("").into()),
            ("permanent", true.into()),
            ("raw", parsers::capped_redacted(&s.raw).into()),
        ],
    )
}

/// The one line `serve` stops with when an agent needs a human round after
/// round: what it waits for and what to do.
pub fn needs_human_line(agent: &str, waiting_for: &str, remedy: &str, rounds: u32) -> String {
    format!("{agent} needs {waiting_for} ({rounds} rounds in a row) — {remedy}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::round::recognize::EndRule;

    fn sig(class: Class) -> Signal {
        Signal::new(class, "m", "raw text")
    }

    #[test]
    fn needs_input_and_auth_are_added_once_and_suppress_transients() {
        let mut rec = Recognition::default();
        rec.add(sig(Class::Auth).needs("login", "a login", "log in"));
        rec.add(sig(Class::Network));
        let ev = recognized_events(&rec, Vec::new(), "claude", 3, None, 100);
        let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["agent_auth_error_detected", "agent_needs_input"]);
        let n = &ev[1].1;
        assert_eq!(n["need"], "login");
        assert_eq!(n["remedy"], "log in");
        assert_eq!(n["permanent"], true);
        assert_eq!(
            AgentVerdict::of(1, false, false, false, &ev),
            AgentVerdict::NeedsHuman
        );
    }

    #[test]
    fn network_and_quota_transients() {
        let mut rec = Recognition::default();
        rec.add(sig(Class::Network).end(EndRule::Now));
        let ev = recognized_events(&rec, Vec::new(), "codex", 1, Some("p"), 100);
        assert_eq!(ev[0].1["classification"], "network");
        assert_eq!(ev[0].1["reset_at_epoch"], 160);
        assert_eq!(ev[0].1["phase"], "p");
        // exit 0 but a failure recognized: failed
        assert_eq!(
            AgentVerdict::of(0, false, false, false, &ev),
            AgentVerdict::Failed
        );
        // a parser's 429 becomes an hour when the words say quota
        let mut rec = Recognition::default();
        rec.add(sig(Class::RateLimit).quota());
        let parsed = vec![parsers::ordered_event(
            Kind::TransientErrorDetected,
            vec![
                ("classification", "rate_limit_model".into()),
                ("reset_at_epoch", 160.into()),
            ],
        )];
        let ev = recognized_events(&rec, parsed, "pi", 1, None, 100);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].1["classification"], "rate_limit_account");
        assert_eq!(ev[0].1["reset_at_epoch"], 3700);
    }

    #[test]
    fn verdicts_follow_the_python_tool_for_plain_exits() {
        assert_eq!(
            AgentVerdict::of(0, false, false, false, &[]),
            AgentVerdict::Ok
        );
        assert_eq!(
            AgentVerdict::of(3, false, false, false, &[]),
            AgentVerdict::Failed
        );
        assert_eq!(
            AgentVerdict::of(-15, true, false, false, &[]),
            AgentVerdict::Ok
        );
        assert_eq!(
            AgentVerdict::of(-15, true, true, false, &[]),
            AgentVerdict::Ok
        );
        assert_eq!(
            AgentVerdict::of(-15, false, false, true, &[]),
            AgentVerdict::Failed
        );
    }
}
