//! The coma preventer (0.3 delta §4): what keeps a small host from swapping
//! itself into unresponsiveness. The verdicts come from the memory signal
//! ladder ([`crate::detect::host::memory_pressure`]) over samples read
//! through [`crate::sys::mem`]; this module turns them into actions and
//! events:
//!
//! - [`plan`]: the cgroup v2 probe at serve's boot — `defer` to the
//!   kernel's OOM, advisories, the brake's state (`host_cgroup_memory_limit`);
//! - [`gate`]: the pre-round admission verdict serve waits on
//!   (`round_deferred` / `round_resumed`);
//! - [`floor`]: the mid-round floor the round's wait loop ticks every 10 s
//!   (`round_mem_critical_sample`, `round_mem_terminated`,
//!   `mem_pressure_deferred_to_cgroup`, `cgroup_growth_rate_warning`), with
//!   the `memory.high` brake ([`brake`]) and the per-round cgroup accounting
//!   ([`account`]: `round_cgroup_memory`, `round_oom_killed`).
//!
//! It decides and records; killing is the round's wait loop's job
//! (`round::process`), waiting is serve's.

pub mod account;
pub mod brake;
pub mod floor;
pub mod gate;
pub mod plan;

use crate::detect::window::Record;
use crate::sys::mem;
use serde_json::Value;
use std::time::Duration;

/// The mid-round floor's period (upstream's `_MEM_CHECK_INTERVAL_S`).
pub const TICK: Duration = Duration::from_secs(10);
/// How often a deferred round re-checks (upstream's 30 s chunk).
pub const GATE_POLL: Duration = Duration::from_secs(30);
/// **Test hook**: the floor's period in milliseconds (50…10000), so tests
/// can walk a round through a streak in seconds; the gate then re-checks
/// every three ticks. Not for production.
pub const TICK_ENV: &str = "AGENT_RUNNER_MEM_TICK_MS";

/// The floor's period: [`TICK`], or the test hook's.
pub fn tick() -> Duration {
    hooked().unwrap_or(TICK)
}

/// The gate's re-check period: [`GATE_POLL`], or three test-hook ticks.
pub fn gate_poll() -> Duration {
    hooked().map_or(GATE_POLL, |t| t * 3)
}

fn hooked() -> Option<Duration> {
    std::env::var(TICK_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|ms| Duration::from_millis(ms.clamp(50, 10_000)))
}

/// One memory sample as the ladder reads it (`mem_free_mb`,
/// `mem_available_mb`, `swap_sout`, `psi_*`), straight from
/// [`crate::sys::mem`]; an unreadable value is null.
pub fn sample_record() -> Record {
    let mi = mem::meminfo();
    let psi = mem::psi("memory");
    let mut r = Record::new();
    let opt = |v: Option<u64>| v.map_or(Value::Null, Value::from);
    r.insert(
        "mem_available_mb".into(),
        opt(mi.available_kb.map(|k| k / 1024)),
    );
    r.insert("mem_free_mb".into(), opt(mi.free_kb.map(|k| k / 1024)));
    r.insert("swap_sout".into(), opt(mem::swap_out_bytes()));
    r.insert(
        "psi_some_avg10".into(),
        psi.map_or(Value::Null, |p| p.some_avg10.into()),
    );
    r.insert(
        "psi_full_avg10".into(),
        psi.map_or(Value::Null, |p| p.full_avg10.into()),
    );
    r.insert("psi_full_total".into(), opt(psi.and_then(|p| p.full_total)));
    r
}

/// The default `[monitor.host_health]`, for unit tests.
#[cfg(test)]
pub(crate) fn test_host_health() -> crate::config::HostHealth {
    let dir = std::path::Path::new("/nonexistent/p");
    match crate::config::default_config(dir, &dir.join("logs")) {
        Ok(c) => c.monitor.host_health,
        Err(e) => panic!("default config: {e}"),
    }
}
