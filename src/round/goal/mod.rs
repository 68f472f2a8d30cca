//! `[goal]` (0.3 delta §9): the objective checks and the treadmill ledger.
//!
//! Two halves, both advisory:
//! - [`run_checks`], after the agent exits and before the dirty-tree step:
//!   each `[[goal.checks]]` command runs bounded by its `timeout_s`
//!   (`sys::bounded`: own process group, SIGTERM, 3 s, SIGKILL to the group,
//!   output read for at most 3 s more), one `goal_check` event each.
//! - [`steer`], at round start before `round_start`: the treadmill assessor
//!   (`treadmill`) reads the recent events and, when the last three rounds
//!   were busy but no check moved, prepends one advisory to the ledger
//!   (`ledger`), a prompt file, so the next prompt carries it; then
//!   `goal_assessment`.
//!
//! The firewall: an [`Advisory`] has no field that could say "stop" or
//! "kill"; nothing outside this module reads a `goal_*` event (a test scans
//! `src/` for it); `auto_stop_on` refuses `goal*` names (the loader); a
//! failure here is a warning on stderr and the round goes on.

mod ledger;
mod treadmill;

pub use ledger::{write_advisory, LEDGER_MAX_BYTES};
pub use treadmill::{assess, read_recent, Advisory, WINDOW_ROUNDS};

use crate::config::GoalConfig;
use crate::fields;
use crate::state::{EventLog, Kind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `goal_check.error` keeps this many characters.
const ERROR_CHARS: usize = 200;

/// Run every check of `goal` in order and emit one `goal_check` each. On a
/// dry run every check reports `skipped` and none runs.
pub fn run_checks(goal: &GoalConfig, work_dir: &Path, dry_run: bool, log: &EventLog) {
    for check in &goal.checks {
        if dry_run {
            log.emit_or_warn(
                Kind::GoalCheck,
                fields! {"name" => check.name, "skipped" => true},
            );
            continue;
        }
        let cwd = check_cwd(check.cwd.as_deref(), work_dir);
        let limit = Duration::from_secs(check.timeout_s);
        match crate::sys::bounded::run(&check.cmd, &cwd, limit) {
            Ok(f) => {
                let value = last_number(&String::from_utf8_lossy(&f.stdout));
                log.emit_or_warn(
                    Kind::GoalCheck,
                    fields! {
                        "name" => check.name,
                        "satisfied" => f.code == Some(0) && !f.timed_out,
                        "value" => value.map_or(Value::Null, Value::from),
                        "timed_out" => f.timed_out,
                        "skipped" => false,
                    },
                );
            }
            Err(e) => {
                let error: String = e.to_string().chars().take(ERROR_CHARS).collect();
                log.emit_or_warn(
                    Kind::GoalCheck,
                    fields! {
                        "name" => check.name,
                        "satisfied" => false,
                        "value" => Value::Null,
                        "timed_out" => false,
                        "skipped" => false,
                        "error" => crate::redact::redact(&error),
                    },
                );
            }
        }
    }
}

/// Rounds shorter than this count as fast for serve's crash-loop and
/// no-progress breakers.
const FAST_ROUND_S: u64 = 30;

/// A warning when the checks may take so long that a round of a failing
/// agent no longer looks fast to serve's breakers (they are delayed, never
/// triggered, by the checks).
pub fn budget_warning(goal: &GoalConfig) -> Option<String> {
    let a = goal.allowance_s();
    (a >= FAST_ROUND_S).then(|| {
        format!(
            "[goal] the checks may add up to {a}s to a round (each timeout_s + 6), at or above the {FAST_ROUND_S}s under which serve counts a round as fast: a long check delays the crash-loop and no-progress breakers"
        )
    })
}

/// The treadmill at the start of round `round_num`: assess the recent
/// events and, when stuck, write the advisory to the ledger and emit
/// `goal_assessment`. A failure is printed as a warning; the round goes on.
pub fn steer(goal: &GoalConfig, log_dir: &Path, round_num: u64, log: &EventLog) {
    let result =
        read_recent(log_dir).and_then(|events| match assess(&events, round_num, WINDOW_ROUNDS) {
            None => Ok(()),
            Some(adv) => {
                let now = crate::timefmt::now_iso_ms();
                let written = write_advisory(&goal.ledger, &adv, &now)?;
                log.emit_or_warn(
                    Kind::GoalAssessment,
                    fields! {
                        "observation" => written.observation,
                        "question" => written.question,
                        "confidence" => written.confidence,
                    },
                );
                Ok(())
            }
        });
    if let Err(e) = result {
        eprintln!(
            "agent-runner: WARNING goal steering skipped: {e} (ledger '{}')",
            goal.ledger.display()
        );
    }
}

/// A check's working directory: `work_dir` when unset, else `cwd` with `~`
/// expanded and a relative path taken inside `work_dir`.
fn check_cwd(cwd: Option<&str>, work_dir: &Path) -> PathBuf {
    match cwd.filter(|c| !c.is_empty()) {
        None => work_dir.to_path_buf(),
        Some(c) => {
            let p = crate::config::load::expand_tilde(c);
            if p.is_absolute() {
                p
            } else {
                crate::config::load::resolve_lenient(&work_dir.join(p))
            }
        }
    }
}

/// The last whitespace-separated token of `stdout` that reads as a finite
/// number (Python `float()` syntax: sign, digits with `_` between them,
/// point, exponent), else `None`.
pub fn last_number(stdout: &str) -> Option<f64> {
    stdout
        .split_whitespace()
        .rev()
        .find_map(|t| py_float(t).filter(|f| f.is_finite()))
}

fn py_float(tok: &str) -> Option<f64> {
    let cleaned;
    let t = if tok.contains('_') {
        let b = tok.as_bytes();
        let ok = b.iter().enumerate().all(|(i, c)| {
            *c != b'_'
                || (i > 0
                    && i + 1 < b.len()
                    && b[i - 1].is_ascii_digit()
                    && b[i + 1].is_ascii_digit())
        });
        if !ok {
            return None;
        }
        cleaned = tok.replace('_', "");
        cleaned.as_str()
    } else {
        tok
    };
    t.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_finite_number_wins() {
        assert_eq!(last_number("passed 3 of 10\n"), Some(10.0));
        assert_eq!(last_number("score: 2.5e1 done"), Some(25.0));
        assert_eq!(last_number("1 nan inf -Infinity"), Some(1.0));
        assert_eq!(last_number("1_000 and 1__0 _1 1_"), Some(1000.0));
        assert_eq!(last_number("+.5 x"), Some(0.5));
        assert_eq!(last_number("no numbers here"), None);
        assert_eq!(last_number(""), None);
        assert_eq!(last_number("1e999"), None, "overflow is not finite");
    }

    #[test]
    fn cwd_is_taken_inside_work_dir() {
        let w = Path::new("/nonexistent/w");
        assert_eq!(check_cwd(None, w), w);
        assert_eq!(check_cwd(Some(""), w), w);
        assert_eq!(check_cwd(Some("a/../b"), w), w.join("b"));
        assert_eq!(check_cwd(Some("/abs"), w), Path::new("/abs"));
    }
}
