//! `transient_error_backoff_capped` (spec §7.3): a back-off whose reset lies
//! more than 8 h ahead (a malformed or far-future `reset_at_epoch`) sleeps
//! 8 h at most and says so, before the sleep; a SIGTERM still ends that sleep
//! at once. The Python tool 0.3.14 writes the same payload for the same log.

use crate::support::*;
use serde_json::Value;
use std::process::{Child, Command};
use std::time::Duration;

/// A throttle 40 000 s ahead, as a round would have recorded it.
fn far_throttle(p: &Project) {
    let now = chrono::Utc::now();
    let ev = serde_json::json!({
        "ts": agent_runner::timefmt::iso_ms(now),
        "event": "transient_error_detected",
        "classification": "rate_limit_account",
        "agent": "agent.sh",
        "reset_at_epoch": now.timestamp() + 40_000,
        "round_num": 1,
        "raw": "usage limit reached",
        "phase": null,
    });
    let logs = p.log_dir();
    std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("{e}"));
    let file = logs.join(format!(
        "events-{}.jsonl",
        agent_runner::timefmt::month(now)
    ));
    std::fs::write(file, format!("{ev}\n")).unwrap_or_else(|e| panic!("{e}"));
}

/// Wait for the capped event, then SIGTERM the serve; ours must leave at
/// once (0.3.14 wakes from its sleep chunk later; it is killed then).
fn capped_event(p: &Project, mut serve: Child, who: &str) -> Value {
    let found = wait_until(Duration::from_secs(30), || {
        !p.events_of("transient_error_backoff_capped").is_empty()
    });
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(serve.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let patience = if who == "ours" { 15 } else { 2 };
    let code = wait_exit(&mut serve, Duration::from_secs(patience));
    if code.is_none() {
        let _ = serve.kill();
        let _ = serve.wait();
    }
    assert!(
        found,
        "{who}: no transient_error_backoff_capped: {:?}",
        p.kinds()
    );
    assert!(
        code.is_some() || who != "ours",
        "{who}: SIGTERM did not end the capped sleep"
    );
    assert!(p.events_of("agent_spawn").is_empty(), "{who} ran a round");
    p.events_of("transient_error_backoff_capped")[0].clone()
}

fn project() -> Project {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let cfg = p.config(&a, "round_budget_s = 30", "");
    // 0.3.14 refuses 0 here
    let text = std::fs::read_to_string(&cfg).unwrap_or_default();
    std::fs::write(
        &cfg,
        text.replace("restart_delay_s = 0", "restart_delay_s = 1"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    far_throttle(&p);
    p
}

#[test]
fn a_far_future_reset_is_capped_at_8h_and_recorded_like_python() {
    let ours = project();
    let serve = ours
        .cmd(&["serve"])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let e = capped_event(&ours, serve, "ours");
    assert_eq!(e["classification"], "rate_limit_account");
    assert_eq!(e["agent"], "agent.sh");
    assert_eq!(e["applied_sleep_s"], 28_800);
    assert!(
        e["requested_sleep_s"].as_i64().is_some_and(|s| s > 39_000),
        "{e}"
    );

    let py = project();
    let serve = Command::new(python_tool())
        .arg("serve")
        .current_dir(&py.dir)
        .env("HOME", &py.home)
        .spawn()
        .unwrap_or_else(|err| panic!("{err}"));
    let pe = capped_event(&py, serve, "python");
    assert_eq!(payload_keys(&pe), payload_keys(&e), "python {pe}\nours {e}");
    for k in payload_keys(&pe) {
        assert_eq!(
            std::mem::discriminant(&pe[&k]),
            std::mem::discriminant(&e[&k]),
            "{k}: python {pe}, ours {e}"
        );
    }
}
