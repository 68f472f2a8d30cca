//! Layer 2 through the real binary: stop conditions, breakers, signals.

use crate::support::*;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

#[test]
fn max_rounds_runs_exactly_that_many() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let o = p.run(&["serve", "--max-rounds", "3"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(p.events_of("round_end").len(), 3);
    let m = p.events_of("max_rounds_reached");
    assert_eq!(m.len(), 1);
    assert_eq!(payload_keys(&m[0]), ["rounds_completed", "max_rounds"]);
    assert_eq!(m[0]["rounds_completed"], 3);
    assert_eq!(p.events_of("round_substrate_before").len(), 3);
    assert!(
        !p.log_dir().join("serve.pid").exists(),
        "serve.pid left behind"
    );
    // the round child's own output goes to round-<N>.log and round-current.log points at it
    assert_eq!(
        std::fs::read_link(p.log_dir().join("round-current.log")).ok(),
        Some("round-3.log".into())
    );
}

#[test]
fn stop_file_stops_the_loop() {
    let p = Project::new();
    let stop = p.tmp.path().join("STOP");
    let a = p.agent(
        "ok.sh",
        &format!(
            "cat >/dev/null; [ \"$AGENT_RUNNER_ROUND_NUM\" = 2 ] && echo enough > {}; exit 0",
            stop.display()
        ),
    );
    p.config(
        &a,
        &format!("round_budget_s = 30\nstop_file = \"{}\"", stop.display()),
        "",
    );
    let o = p.run(&["serve"]);
    assert_eq!(o.status.code(), Some(0));
    let s = p.events_of("stop_file_detected");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["content"], "enough");
    assert_eq!(s[0]["rounds_completed"], 2);
}

#[test]
fn agent_done_sentinel_stops_the_loop() {
    let p = Project::new();
    let a = p.agent(
        "done.sh",
        "cat >/dev/null; echo 'all tasks complete' > \"$AGENT_RUNNER_LOG_DIR/.agent-done\"; exit 0",
    );
    p.config(&a, "round_budget_s = 30", "");
    let o = p.run(&["serve"]);
    assert_eq!(o.status.code(), Some(0));
    let s = p.events_of("agent_self_terminated");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["reason"], "all tasks complete");
    assert_eq!(p.events_of("round_end").len(), 1);
}

#[test]
fn agents_failing_fast_trip_the_crash_loop_breaker() {
    let p = Project::new();
    let a = p.agent("fail.sh", "cat >/dev/null; echo boom; exit 3");
    p.config(&a, "round_budget_s = 30", "");
    let o = p.run(&["serve"]);
    assert_eq!(
        o.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(p.events_of("round_end").len(), 5);
    let c = p.events_of("crash_loop");
    assert_eq!(c.len(), 1);
    assert_eq!(payload_keys(&c[0]), ["consecutive", "exit_code", "reason"]);
    assert_eq!(c[0]["consecutive"], 5);
    // the round's code, as the Python tool (round exits 1 when the agent
    // failed); the agent's own 3 is in agent_exit
    assert_eq!(c[0]["exit_code"], 1);
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], 3);
    assert!(c[0]["reason"].as_str().unwrap_or_default().contains("boom"));
}

#[test]
fn a_prompt_under_the_smoke_minimum_is_config_broken() {
    let p = Project::new();
    std::fs::write(p.dir.join("prompts/main.md"), "stub").unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent("ok.sh", "exit 0");
    p.config(&a, "", "");
    let o = p.run(&["serve"]);
    assert_eq!(o.status.code(), Some(78));
    assert_eq!(p.events_of("config_broken").len(), 1);
    assert_eq!(p.events_of("smoke_check_failed").len(), 1);
    assert!(p.events_of("round_start").is_empty());
}

#[test]
fn sigterm_during_a_round_lets_it_finish_then_exits_0() {
    let p = Project::new();
    let a = p.agent("slow.sh", "cat >/dev/null; sleep 3; exit 0");
    p.config(&a, "round_budget_s = 60", "");
    let mut child = p.cmd(&["serve"]).spawn().unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(20), || p
        .kinds()
        .contains(&"agent_spawn".to_string())));
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), Some(0));
    let exits = p.events_of("agent_exit");
    assert_eq!(exits.len(), 1);
    assert_eq!(exits[0]["exit_cause"], "clean");
    assert_eq!(p.events_of("round_end").len(), 1);
}

#[test]
fn sigterm_during_an_hour_long_backoff_exits_within_2s() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    let now = chrono::Utc::now();
    let line = format!(
        "{{\"ts\": \"{}\", \"event\": \"transient_error_detected\", \"classification\": \"rate_limit_account\", \"agent\": \"claude\", \"reset_at_epoch\": {}, \"round_num\": 0, \"raw\": \"\"}}\n",
        now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        now.timestamp() + 3600
    );
    std::fs::write(
        p.log_dir()
            .join(format!("events-{}.jsonl", now.format("%Y-%m"))),
        line,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut child = p.cmd(&["serve"]).spawn().unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(10), || p
        .log_dir()
        .join("serve.pid")
        .exists()));
    std::thread::sleep(Duration::from_millis(500));
    sigterm_ends_at_once(&mut child);
    assert!(p.events_of("round_start").is_empty());
}

#[test]
fn two_sigints_end_a_stubborn_agent_and_its_group() {
    let p = Project::new();
    let pids = p.tmp.path().join("pids");
    let a = p.agent("stubborn.sh", &format!("trap '' TERM INT\necho $$ >> {0}\nsleep 1000 &\necho $! >> {0}\nwhile true; do sleep 1; done", pids.display()));
    p.config(&a, "round_budget_s = 600", "");
    let mut child = p.cmd(&["serve"]).spawn().unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(20), || read_pids(&pids)
        .len()
        == 2));
    signal(&child, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, Signal::SIGINT);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(30)), Some(0));
    for pid in read_pids(&pids) {
        assert!(
            wait_until(Duration::from_secs(3), || !alive(pid)),
            "pid {pid} survived two SIGINTs"
        );
    }
}

#[test]
fn a_live_serve_refuses_a_second_and_a_stale_pid_file_is_replaced() {
    let p = Project::new();
    let a = p.agent("slow.sh", "cat >/dev/null; sleep 2; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    // a stale pid file naming a live but unrelated process (pid 1, wrong token)
    std::fs::write(
        p.log_dir().join("serve.pid"),
        "{\"pid\": 1, \"create_time\": 1.0}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut first = p
        .cmd(&["serve", "--max-rounds", "1"])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(20), || p
        .kinds()
        .contains(&"agent_spawn".to_string())));
    let pidfile = std::fs::read_to_string(p.log_dir().join("serve.pid")).unwrap_or_default();
    assert!(
        pidfile.contains(&format!("\"pid\": {}", first.id())),
        "{pidfile}"
    );
    let o = p.run(&["serve"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already running"));
    assert_eq!(wait_exit(&mut first, Duration::from_secs(30)), Some(0));
}

/// A UTC window `HH:MM-HH:MM` from `from_min` to `to_min` minutes after now.
fn utc_window(from_min: i64, to_min: i64) -> String {
    let now = chrono::Utc::now();
    let f = |m: i64| {
        (now + chrono::Duration::minutes(m))
            .format("%H:%M")
            .to_string()
    };
    format!("{}-{}", f(from_min), f(to_min))
}

fn paused_serve(p: &Project, args: &[&str]) -> std::process::Child {
    let mut child = p.cmd(args).spawn().unwrap_or_else(|e| panic!("{e}"));
    if !wait_until(Duration::from_secs(20), || {
        p.kinds().contains(&"schedule_paused".to_string())
    }) {
        let _ = child.kill();
        panic!("no schedule_paused: {:?}", p.kinds());
    }
    child
}

#[test]
fn a_pause_window_holds_rounds_and_sigterm_ends_the_pause_at_once() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    let w = utc_window(-1, 10);
    p.config(
        &a,
        "round_budget_s = 30",
        &format!("[schedule]\ntimezone = \"UTC\"\npause_windows = [\"{w}\"]\n"),
    );
    let mut child = paused_serve(&p, &["serve"]);
    let e = &p.events_of("schedule_paused")[0];
    assert_eq!(payload_keys(e), ["active_window", "resume_at", "timezone"]);
    assert_eq!(e["active_window"], w.as_str());
    assert_eq!(e["timezone"], "UTC");
    let resume = e["resume_at"].as_str().unwrap_or_default();
    let resume_t = chrono::DateTime::parse_from_rfc3339(resume)
        .unwrap_or_else(|err| panic!("resume_at '{resume}': {err}"));
    assert!(resume.ends_with("+00:00"), "{resume}");
    let expect = chrono::Utc::now() + chrono::Duration::minutes(10);
    assert!(
        (resume_t.timestamp() - expect.timestamp()).abs() <= 90,
        "resume_at {resume} vs ~{expect}"
    );
    std::thread::sleep(Duration::from_millis(500));
    sigterm_ends_at_once(&mut child);
    assert!(
        p.events_of("round_start").is_empty(),
        "a round ran while paused"
    );
    assert!(p.events_of("round_substrate_before").is_empty());
    assert!(
        p.events_of("schedule_resumed").is_empty(),
        "a stop is not a resume"
    );
    assert_eq!(p.events_of("serve_stopping").len(), 1);
}

#[test]
fn outside_the_run_windows_serve_pauses_and_ignore_schedule_runs_anyway() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    // a run window that opens in 30 minutes: now is outside it
    let w = utc_window(30, 60);
    p.config(
        &a,
        "round_budget_s = 30",
        &format!("[schedule]\ntimezone = \"UTC\"\nrun_windows = [\"{w}\"]\n"),
    );
    let mut child = paused_serve(&p, &["serve"]);
    let e = &p.events_of("schedule_paused")[0];
    assert_eq!(e["active_window"], "outside run_windows");
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
    assert!(p.events_of("round_start").is_empty());

    let o = p.run(&["serve", "--ignore-schedule", "--max-rounds", "1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(p.events_of("round_end").len(), 1);
    assert_eq!(
        p.events_of("schedule_paused").len(),
        1,
        "--ignore-schedule paused"
    );
    // `agent-runner round` is never gated
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert_eq!(p.events_of("round_end").len(), 2);
    assert_eq!(p.events_of("schedule_paused").len(), 1);
}

#[test]
fn wait_policy_idles_until_the_rotation_phase_window_opens() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    let w = utc_window(-1, 10);
    p.config(
        &a,
        "round_budget_s = 30",
        &format!(
            "[phases]\nlist = [\"day\", \"night\"]\n[phases.day.schedule]\ntimezone = \"UTC\"\npause_windows = [\"{w}\"]\n"
        ),
    );
    // round 1 is "day", whose window is closed: wait, do not run "night"
    let mut child = paused_serve(&p, &["serve"]);
    let e = &p.events_of("schedule_paused")[0];
    assert_eq!(
        payload_keys(e),
        ["active_window", "resume_at", "timezone", "phase"]
    );
    assert_eq!(e["phase"], "day");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
    assert!(p.events_of("round_start").is_empty());
}

#[test]
fn skip_policy_steps_over_a_closed_phase() {
    let p = Project::new();
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    let w = utc_window(-1, 10);
    p.config(
        &a,
        "round_budget_s = 30",
        &format!(
            "[phases]\nlist = [\"day\", \"night\"]\nphase_policy = \"skip\"\n[phases.day.schedule]\ntimezone = \"UTC\"\npause_windows = [\"{w}\"]\n"
        ),
    );
    let o = p.run(&["serve", "--max-rounds", "1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = p.events_of("schedule_phase_skipped");
    assert_eq!(s.len(), 1, "{:?}", p.kinds());
    assert_eq!(
        payload_keys(&s[0]),
        ["round_num", "skipped", "chosen", "active_window"]
    );
    assert_eq!(s[0]["round_num"], 1);
    assert_eq!(s[0]["skipped"], serde_json::json!(["day"]));
    assert_eq!(s[0]["chosen"], "night");
    assert_eq!(s[0]["active_window"], w.as_str());
    let starts = p.events_of("round_start");
    assert_eq!(starts.len(), 1);
    assert_eq!(starts[0]["phase"], "night");
}

#[test]
fn stalled_no_progress_exits_75() {
    let p = Project::new();
    let count = p.tmp.path().join("count");
    // basename `claude`, so the claude parser reads its output: round 1
    // reports usage, every later round exits 0 at once with no output
    let a = p.agent(
        "claude",
        &format!(
            "cat >/dev/null\nn=$(cat {0} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {0}\nif [ $n = 1 ]; then echo '{{\"type\": \"result\", \"subtype\": \"success\", \"is_error\": false, \"duration_ms\": 1200, \"result\": \"done\", \"total_cost_usd\": 0.01, \"usage\": {{\"input_tokens\": 10, \"output_tokens\": 20}}}}'; else echo 'no provider'; fi\nexit 0",
            count.display()
        ),
    );
    p.config(&a, "round_budget_s = 30", "");
    let o = p.run(&["serve"]);
    assert_eq!(
        o.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let usage = p.events_of("agent_usage_recorded");
    assert_eq!(usage.len(), 1, "{:?}", p.kinds());
    assert_eq!(usage[0]["agent"], "claude");
    assert_eq!(usage[0]["round_num"], 1);
    // round 1 had usage; rounds 2..=6 are the five without
    assert_eq!(p.events_of("round_end").len(), 6);
    let s = p.events_of("stalled_no_progress");
    assert_eq!(s.len(), 1);
    assert_eq!(payload_keys(&s[0]), ["consecutive", "exit_code", "reason"]);
    assert_eq!(s[0]["consecutive"], 5);
    assert_eq!(s[0]["exit_code"], 0);
    assert!(p.events_of("crash_loop").is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("stalled"));
}

#[test]
fn an_agent_that_never_reports_usage_is_not_stalled() {
    let p = Project::new();
    let a = p.agent("claude", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    let o = p.run(&["serve", "--max-rounds", "7"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(p.events_of("round_end").len(), 7);
    assert!(p.events_of("stalled_no_progress").is_empty());
}

/// Ten `round-<N>.log` files, oldest first by mtime, and a serve that stops
/// right after its boot-time prune (the stop file exists).
fn prune_project(keep: u64) -> (Project, Vec<std::path::PathBuf>, std::process::Output) {
    let p = Project::new();
    let stop = p.tmp.path().join("STOP");
    std::fs::write(&stop, "x").unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(
        &a,
        &format!(
            "round_budget_s = 30\nround_log_retention = {keep}\nstop_file = \"{}\"",
            stop.display()
        ),
        "",
    );
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    let base = std::time::SystemTime::now() - Duration::from_secs(3600);
    let files: Vec<_> = (101..=110)
        .map(|n| {
            let f = p.log_dir().join(format!("round-{n}.log"));
            std::fs::write(&f, format!("round {n}\n")).unwrap_or_else(|e| panic!("{e}"));
            std::fs::File::options()
                .write(true)
                .open(&f)
                .and_then(|h| h.set_modified(base + Duration::from_secs(60 * n)))
                .unwrap_or_else(|e| panic!("{e}"));
            f
        })
        .collect();
    let o = p.run(&["serve"]);
    (p, files, o)
}

#[test]
fn bulk_prune_is_deferred() {
    // keep 2 of 10: deleting 8 > keeping 2 — nothing is deleted
    let (p, files, o) = prune_project(2);
    assert_eq!(o.status.code(), Some(0));
    assert!(files.iter().all(|f| f.exists()), "a deferred prune deleted");
    let d = p.events_of("round_logs_prune_deferred");
    assert_eq!(d.len(), 1);
    assert_eq!(
        payload_keys(&d[0]),
        ["directory", "existing", "keep", "would_delete", "hint"]
    );
    assert_eq!(d[0]["existing"], 10);
    assert_eq!(d[0]["keep"], 2);
    assert_eq!(d[0]["would_delete"], 8);
    assert_eq!(d[0]["directory"], p.log_dir().to_string_lossy().as_ref());

    // keep 6 of 10: a normal prune deletes the 4 oldest and nothing else
    let (p, files, o) = prune_project(6);
    assert_eq!(o.status.code(), Some(0));
    assert!(p.events_of("round_logs_prune_deferred").is_empty());
    let (gone, kept) = files.split_at(4);
    assert!(gone.iter().all(|f| !f.exists()), "oldest not pruned");
    assert!(kept.iter().all(|f| f.exists()), "a newer log was pruned");
}

/// The agent's own logs (`rounds/R<N>-*.log`) follow the same retention and
/// the same bulk guard as serve's (0.3 delta §3.13).
#[test]
fn agent_round_logs_are_pruned_with_the_same_guard() {
    let run = |keep: u64| {
        let p = Project::new();
        let stop = p.tmp.path().join("STOP");
        std::fs::write(&stop, "x").unwrap_or_else(|e| panic!("{e}"));
        let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
        p.config(
            &a,
            &format!(
                "round_log_retention = {keep}\nstop_file = \"{}\"",
                stop.display()
            ),
            "",
        );
        let rounds = p.log_dir().join("rounds");
        std::fs::create_dir_all(&rounds).unwrap_or_else(|e| panic!("{e}"));
        let base = std::time::SystemTime::now() - Duration::from_secs(3600);
        let files: Vec<_> = (1..=10u64)
            .map(|n| {
                let f = rounds.join(format!("R{n}-20261120T1200{n:02}.log"));
                std::fs::write(&f, "out\n").unwrap_or_else(|e| panic!("{e}"));
                std::fs::File::options()
                    .write(true)
                    .open(&f)
                    .and_then(|h| h.set_modified(base + Duration::from_secs(60 * n)))
                    .unwrap_or_else(|e| panic!("{e}"));
                f
            })
            .collect();
        assert_eq!(p.run(&["serve"]).status.code(), Some(0));
        (p, files)
    };
    let (p, files) = run(6);
    let (gone, kept) = files.split_at(4);
    assert!(
        gone.iter().all(|f| !f.exists()),
        "oldest agent logs not pruned"
    );
    assert!(
        kept.iter().all(|f| f.exists()),
        "a newer agent log was pruned"
    );
    assert!(p.events_of("round_logs_prune_deferred").is_empty());
    let (p, files) = run(2);
    assert!(files.iter().all(|f| f.exists()), "a deferred prune deleted");
    let d = p.events_of("round_logs_prune_deferred");
    assert_eq!(d.len(), 1);
    assert_eq!(
        d[0]["directory"],
        p.log_dir().join("rounds").to_string_lossy().as_ref()
    );
    assert_eq!(d[0]["would_delete"], 8);
}

/// Seed the event log with a `transient_error_detected` for `agent`.
fn seed_throttle(p: &Project, agent: &str, reset_in_s: i64) {
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    let now = chrono::Utc::now() - chrono::Duration::seconds(120);
    let line = format!(
        "{{\"ts\": \"{}\", \"event\": \"transient_error_detected\", \"classification\": \"rate_limit_account\", \"agent\": \"{agent}\", \"reset_at_epoch\": {}, \"round_num\": 0, \"raw\": \"\"}}\n",
        now.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
        chrono::Utc::now().timestamp() + reset_in_s
    );
    std::fs::write(
        p.log_dir().join(format!(
            "events-{}.jsonl",
            chrono::Utc::now().format("%Y-%m")
        )),
        line,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

fn two_agent_skip_config(p: &Project, runtime: &str) {
    let a = p.agent("day-agent", "cat >/dev/null; exit 0");
    let b = p.agent("night-agent", "cat >/dev/null; exit 0");
    p.config(
        &a,
        runtime,
        &format!(
            "[phases]\nlist = [\"day\", \"night\"]\nphase_policy = \"skip\"\n[phases.night.agent]\ncommand = [\"{}\"]\n",
            b.display()
        ),
    );
}

#[test]
fn skip_policy_routes_around_a_throttled_agent_without_backing_off() {
    let p = Project::new();
    two_agent_skip_config(&p, "round_budget_s = 30");
    seed_throttle(&p, "day-agent", 3600);
    let t = Instant::now();
    let o = p.run(&["serve", "--max-rounds", "1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(60), "backed off");
    let s = p.events_of("schedule_phase_skipped");
    assert_eq!(s.len(), 1, "{:?}", p.kinds());
    assert_eq!(s[0]["skipped"], serde_json::json!(["day"]));
    assert_eq!(s[0]["chosen"], "night");
    assert_eq!(p.events_of("round_start")[0]["phase"], "night");
    assert!(p.events_of("transient_error_recovered").is_empty());
}

#[test]
fn skip_policy_with_every_agent_throttled_and_action_stop_stops() {
    let p = Project::new();
    two_agent_skip_config(&p, "round_budget_s = 30\ntransient_error_action = \"stop\"");
    seed_throttle(&p, "day-agent", 3600);
    std::fs::OpenOptions::new()
        .append(true)
        .open(
            p.log_dir()
                .join(format!("events-{}.jsonl", chrono::Utc::now().format("%Y-%m"))),
        )
        .and_then(|mut f| {
            use std::io::Write;
            let now = chrono::Utc::now();
            writeln!(f, "{{\"ts\": \"{}\", \"event\": \"transient_error_detected\", \"classification\": \"rate_limit_account\", \"agent\": \"night-agent\", \"reset_at_epoch\": {}, \"round_num\": 0, \"raw\": \"\"}}", now.format("%Y-%m-%dT%H:%M:%S%.3fZ"), now.timestamp() + 3600)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["serve"]);
    assert_eq!(o.status.code(), Some(0));
    let s = p.events_of("agent_self_terminated");
    assert_eq!(s.len(), 1, "{:?}", p.kinds());
    assert_eq!(s[0]["reason"], "rate_limit");
    assert!(p.events_of("round_start").is_empty());
}

#[test]
fn skip_policy_records_a_cleared_throttle_once() {
    let p = Project::new();
    two_agent_skip_config(&p, "round_budget_s = 30");
    seed_throttle(&p, "day-agent", -10);
    let o = p.run(&["serve", "--max-rounds", "2"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = p.events_of("transient_error_recovered");
    assert_eq!(r.len(), 1, "{:?}", p.kinds());
    assert_eq!(r[0]["agent"], "day-agent");
    assert!(r[0]["throttled_for_s"].as_i64().unwrap_or(0) >= 100);
    assert!(p.events_of("schedule_phase_skipped").is_empty());
    assert_eq!(p.events_of("round_start")[0]["phase"], "day");
}

#[test]
fn skip_policy_with_every_agent_throttled_pauses_until_a_reset() {
    let p = Project::new();
    let a = p.agent("only-agent", "cat >/dev/null; exit 0");
    p.config(
        &a,
        "round_budget_s = 30",
        "[phases]\nlist = [\"day\", \"night\"]\nphase_policy = \"skip\"\n",
    );
    seed_throttle(&p, "only-agent", 3600);
    let mut child = paused_serve(&p, &["serve"]);
    let e = &p.events_of("schedule_paused")[0];
    assert_eq!(payload_keys(e), ["active_window", "resume_at", "timezone"]);
    assert_eq!(e["resume_at"], "");
    signal(&child, Signal::SIGTERM);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(10)), Some(0));
    assert!(p.events_of("round_start").is_empty());
}

#[test]
fn a_pause_ends_with_schedule_resumed_when_the_throttle_resets() {
    let p = Project::new();
    let a = p.agent("only-agent", "cat >/dev/null; exit 0");
    p.config(
        &a,
        "round_budget_s = 30",
        "[phases]\nlist = [\"day\", \"night\"]\nphase_policy = \"skip\"\n",
    );
    seed_throttle(&p, "only-agent", 3);
    let o = p.run(&["serve", "--max-rounds", "1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let kinds = p.kinds();
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| x == k)
            .unwrap_or_else(|| panic!("no {k} in {kinds:?}"))
    };
    assert!(pos("schedule_paused") < pos("schedule_resumed"));
    assert!(pos("schedule_resumed") < pos("transient_error_recovered"));
    assert!(pos("transient_error_recovered") < pos("round_start"));
    let r = &p.events_of("schedule_resumed")[0];
    assert_eq!(payload_keys(r), ["paused_for_s"]);
    assert!(r["paused_for_s"].as_u64().unwrap_or(99) <= 10, "{r}");
}

/// Append a `mem_loop` event stamped `ago_s` seconds ago.
fn seed_mem_loop(p: &Project, ago_s: i64) {
    let ts = chrono::Utc::now() - chrono::Duration::seconds(ago_s);
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    let line = format!(
        "{{\"ts\": \"{}\", \"event\": \"mem_loop\", \"consecutive\": 5, \"exit_code\": -15, \"reason\": \"seeded\"}}\n",
        agent_runner::timefmt::iso_ms(ts)
    );
    let f = p
        .log_dir()
        .join(format!("events-{}.jsonl", agent_runner::timefmt::month(ts)));
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(f)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The mem-loop breakers (0.3 delta §3.1): five rounds in a row ended by the
/// memory floor give `mem_loop` and exit 71 (systemd restarts serve); when
/// that would be the third `mem_loop` within 2 h, `mem_loop_persistent` and
/// exit 70 (it stays stopped). Each agent makes the host critical and, on
/// the floor's SIGTERM, healthy again, so the admission gate lets the next
/// round in.
#[test]
fn mem_loop_exits_71_then_70() {
    use crate::support::sysroot::{agent_sets_psi, SysRoot};
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let a = p.agent(
        "hog.sh",
        &format!(
            "cat >/dev/null\nhealthy() {{ {}; }}\ntrap 'healthy; exit 143' TERM\n{}\nsleep 1000 &\nwait",
            agent_sets_psi(0.0, 0.0),
            agent_sets_psi(95.0, 75.0)
        ),
    );
    p.config(
        &a,
        "round_budget_s = 120",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 1\n",
    );
    seed_mem_loop(&p, 3 * 3600); // outside the 2 h window: not counted
    seed_mem_loop(&p, 3600); // inside it
    let run = || {
        let mut c = p.cmd(&["serve"]);
        root.apply(&mut c, Some(100));
        c.output().unwrap_or_else(|e| panic!("{e}"))
    };
    let o = run();
    assert_eq!(
        o.status.code(),
        Some(agent_runner::exit_code::MEM_LOOP),
        "{}\n{:?}",
        String::from_utf8_lossy(&o.stderr),
        p.kinds()
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("memory loop"));
    assert_eq!(p.events_of("round_mem_terminated").len(), 5);
    assert!(
        p.events_of("crash_loop").is_empty(),
        "a memory kill is not a crash"
    );
    let m = p.events_of("mem_loop");
    assert_eq!(m.len(), 3, "two seeded and this one");
    assert_eq!(payload_keys(&m[2]), ["consecutive", "exit_code", "reason"]);
    assert_eq!(m[2]["consecutive"], 5);
    assert!(p.events_of("mem_loop_persistent").is_empty());

    // restarted (as systemd would): the third mem_loop within 2 h stops for good
    let o = run();
    assert_eq!(
        o.status.code(),
        Some(agent_runner::exit_code::MEM_LOOP_PERSISTENT),
        "{}\n{:?}",
        String::from_utf8_lossy(&o.stderr),
        p.kinds()
    );
    assert_eq!(p.events_of("round_mem_terminated").len(), 10);
    let mp = p.events_of("mem_loop_persistent");
    assert_eq!(mp.len(), 1);
    assert_eq!(payload_keys(&mp[0]), ["consecutive", "exit_code", "reason"]);
    assert_eq!(mp[0]["consecutive"], 3, "the episode count");
    assert_eq!(
        p.events_of("mem_loop").len(),
        3,
        "persistent instead of a 4th"
    );
    // the unit keeps 70 stopped and lets 71 restart
    assert!(agent_runner::exit_code::RESTART_PREVENT.contains(&70));
    assert!(!agent_runner::exit_code::RESTART_PREVENT.contains(&71));
}
