//! Process exit codes: the one place they are defined.
//!
//! systemd units (`RestartPreventExitStatus=`), the docs and the serve loop all
//! refer to these constants; nothing else spells the numbers.

/// Success, including every requested stop of `serve`.
pub const OK: i32 = 0;
/// A runtime failure: lock contention, an unreachable host, an I/O error.
pub const FAILURE: i32 = 1;
/// `round`: the agent's round failed — it exited non-zero by itself, or its
/// output names a failure (auth, rate limit, network), or the round ended it
/// early for one. A timeout or a kill after the result is not a failure
/// (the Python tool's contract). The same number as [`FAILURE`].
pub const AGENT_FAILED: i32 = FAILURE;
/// `round`: the agent waits for a human — a login, a browser sign-in, a
/// non-root user, a setting (`agent_needs_input` says which and what to do).
/// `serve` stops with [`CONFIG_BROKEN`] when it repeats (EX_NOPERM).
pub const AGENT_NEEDS_HUMAN: i32 = 77;
/// Bad usage or a config error reported by a verb that is not `round`/`serve`.
pub const USAGE: i32 = 2;
/// `round`/`serve`: the config or the startup battery is permanently broken (EX_CONFIG).
pub const CONFIG_BROKEN: i32 = 78;
/// `round`: an environmental failure that may heal (lock contention, unwritable log dir).
pub const ENVIRONMENTAL: i32 = 76;
/// `serve`: crash loop or no progress (EX_TEMPFAIL); systemd must not restart.
pub const CRASH_LOOP: i32 = 75;
/// `serve`: memory loop; systemd may restart.
pub const MEM_LOOP: i32 = 71;
/// `serve`: memory loop that persisted across restarts; systemd must not restart.
pub const MEM_LOOP_PERSISTENT: i32 = 70;
/// Interrupted by SIGINT.
pub const INTERRUPTED: i32 = 130;

/// Exit codes after which systemd must not restart `serve`.
pub const RESTART_PREVENT: &[i32] = &[CONFIG_BROKEN, CRASH_LOOP, MEM_LOOP_PERSISTENT];

/// Every documented code with its meaning, for docs and `--help`.
pub const TABLE: &[(i32, &str)] = &[
    (OK, "success; every requested stop of serve"),
    (
        FAILURE,
        "runtime failure (lock held, host unreachable, I/O error); round: the agent's round failed",
    ),
    (USAGE, "usage or config error"),
    (
        CONFIG_BROKEN,
        "round/serve: config or startup battery permanently broken",
    ),
    (
        CRASH_LOOP,
        "serve: crash loop (agents failing fast) or no progress",
    ),
    (ENVIRONMENTAL, "round: environmental failure that may heal"),
    (
        AGENT_NEEDS_HUMAN,
        "round: the agent waits for a human (login, browser sign-in, non-root user, a setting)",
    ),
    (MEM_LOOP, "serve: memory loop (systemd may restart)"),
    (MEM_LOOP_PERSISTENT, "serve: persistent memory loop"),
    (INTERRUPTED, "interrupted"),
];
