//! Exit classification (`agent_exit.exit_cause`) and the Linux signal-name
//! table. Pure functions: no process is touched here.

use super::Outcome;

/// Linux signal name for `n`, or `None` if `n` is not a signal number
/// (32, 33 and 35–63 are "not a signal", as Python's `signal.Signals` says).
pub fn signal_name(n: i32) -> Option<&'static str> {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match n {
        1..=31 => usize::try_from(n - 1)
            .ok()
            .and_then(|i| NAMES.get(i).copied()),
        34 => Some("SIGRTMIN"),
        64 => Some("SIGRTMAX"),
        _ => None,
    }
}

/// The signal an exit code stands for: `-signum` (Python convention) or a
/// shell-style `128 + signum`; `None` for an ordinary exit (e.g. 200).
pub fn exit_signal_name(exit_code: i32) -> Option<&'static str> {
    let n = if exit_code < 0 {
        exit_code.checked_neg()?
    } else if exit_code > 128 {
        exit_code - 128
    } else {
        return None;
    };
    signal_name(n)
}

/// `grace_kill` | `timeout` | `signal:<NAME>` | `clean` | `error`, in that
/// precedence (upstream 0.2 §6.8 plus 0.3's `grace_kill`); before them, the
/// cause an output watch ended the round with (`needs_input`, `network_down`,
/// `rate_limited`: ours, not upstream's).
pub fn exit_cause(outcome: &Outcome) -> String {
    if let Some(cause) = outcome.ended_by {
        return cause.to_string();
    }
    if outcome.grace_killed {
        return "grace_kill".to_string();
    }
    if outcome.timed_out {
        return "timeout".to_string();
    }
    if let Some(name) = exit_signal_name(outcome.exit_code) {
        return format!("signal:{name}");
    }
    if outcome.exit_code == 0 {
        "clean".to_string()
    } else {
        "error".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn out(code: i32, timed_out: bool, grace: bool) -> Outcome {
        Outcome {
            exit_code: code,
            duration: Duration::ZERO,
            timed_out,
            grace_killed: grace,
            cancelled: false,
            ended_by: None,
            escaped_killed: Vec::new(),
            pid: 1,
            mem_terminated: false,
        }
    }

    #[test]
    fn names_match_linux_table() {
        assert_eq!(signal_name(1), Some("SIGHUP"));
        assert_eq!(signal_name(6), Some("SIGABRT"));
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(15), Some("SIGTERM"));
        assert_eq!(signal_name(16), Some("SIGSTKFLT"));
        assert_eq!(signal_name(29), Some("SIGIO"));
        assert_eq!(signal_name(31), Some("SIGSYS"));
        assert_eq!(signal_name(34), Some("SIGRTMIN"));
        assert_eq!(signal_name(64), Some("SIGRTMAX"));
        for n in [0, 32, 33, 35, 50, 63, 65, -1] {
            assert_eq!(signal_name(n), None, "{n}");
        }
    }

    #[test]
    fn cause_precedence() {
        assert_eq!(exit_cause(&out(0, false, false)), "clean");
        assert_eq!(exit_cause(&out(3, false, false)), "error");
        assert_eq!(exit_cause(&out(137, false, false)), "signal:SIGKILL");
        assert_eq!(exit_cause(&out(143, false, false)), "signal:SIGTERM");
        assert_eq!(exit_cause(&out(200, false, false)), "error");
        assert_eq!(exit_cause(&out(160, false, false)), "error"); // 32: not a signal
        assert_eq!(exit_cause(&out(162, false, false)), "signal:SIGRTMIN");
        assert_eq!(exit_cause(&out(-15, false, false)), "signal:SIGTERM");
        assert_eq!(exit_cause(&out(-9, true, false)), "timeout");
        assert_eq!(exit_cause(&out(-15, true, true)), "grace_kill");
        assert_eq!(exit_cause(&out(0, true, false)), "timeout");
        assert_eq!(exit_cause(&out(i32::MIN, false, false)), "error");
    }
}
