//! The agent process under bounds: real bash "agents" written into temp dirs,
//! real process groups, real signals, checked in /proc.
//!
//! The real-OS-signal path of `install_stop_handlers` is exercised by
//! signalling the test process itself, so it runs in a process of its own
//! (`tests/signal_self.rs`); the end-to-end "Ctrl-C on `round`" path belongs
//! to the round tests.

use std::time::Duration;

use agent_runner::round::process::{
    exit_cause, run, ChildInfo, Observation, StopSignal, WaitPolicy,
};
use nix::sys::signal::Signal;
use regex::Regex;

use crate::support::process_agent::*;

#[test]
fn clean_exit_is_clean() {
    let a = agent("echo hello; exit 0");
    let (out, _, _) = go(&a, &policy(60));
    assert_eq!(out.exit_code, 0);
    assert!(!out.timed_out && !out.grace_killed && !out.cancelled);
    assert!(out.escaped_killed.is_empty());
    assert_eq!(exit_cause(&out), "clean");
    assert_eq!(read(&a.spec.log_path), "hello\n");
}

#[test]
fn exit_3_is_error_and_stderr_goes_to_the_log() {
    let a = agent("echo out; echo err >&2; exit 3");
    let (out, _, _) = go(&a, &policy(60));
    assert_eq!(out.exit_code, 3);
    assert_eq!(exit_cause(&out), "error");
    assert_eq!(read(&a.spec.log_path), "out\nerr\n");
}

#[test]
fn exit_137_is_signal_sigkill() {
    let a = agent("exit 137");
    let (out, _, _) = go(&a, &policy(60));
    assert_eq!(out.exit_code, 137);
    assert!(!out.timed_out);
    assert_eq!(exit_cause(&out), "signal:SIGKILL");
}

#[test]
fn signal_death_is_negative_signum() {
    let a = agent("kill -SEGV $$; sleep 5");
    let (out, _, _) = go(&a, &policy(60));
    assert_eq!(out.exit_code, -11);
    assert_eq!(exit_cause(&out), "signal:SIGSEGV");
}

#[test]
fn log_is_truncated() {
    let a = agent("echo new");
    std::fs::create_dir_all(a.spec.log_path.parent().unwrap()).unwrap();
    std::fs::write(&a.spec.log_path, "old content that is longer\n").unwrap();
    go(&a, &policy(60));
    assert_eq!(read(&a.spec.log_path), "new\n");
}

#[test]
fn budget_kills_with_sigterm() {
    let a = agent("echo $$ > \"$OUT/pids\"; sleep 1000 & echo $! >> \"$OUT/pids\"; wait");
    let p = policy(1);
    let (out, _, took) = go(&a, &p);
    assert!(out.timed_out, "{out:?}");
    assert!(!out.grace_killed && !out.cancelled);
    assert!(out.exit_code == -15 || out.exit_code == -9, "{out:?}");
    assert_eq!(exit_cause(&out), "timeout");
    assert!(took >= p.budget, "{took:?}");
    assert!(took <= p.budget + p.term_grace + SLACK, "{took:?}");
    assert_all_dead(&pids_in(&a.dir.path().join("pids")));
}

#[test]
fn term_ignoring_agent_and_setsid_grandchildren_all_die() {
    // The agent ignores TERM (and so do its children); one grandchild
    // escapes with setsid(1), one with perl's POSIX::setsid, one stays.
    let mut a = agent(
        r#"trap '' TERM
echo $$ >> "$OUT/pids"
setsid bash -c 'echo $$ >> "$OUT/pids"; echo $$ > "$OUT/escaped1"; exec sleep 1000' &
perl -e 'use POSIX; POSIX::setsid() or die; open(F, ">>", "$ENV{OUT}/pids"); print F "$$\n"; close F; open(F, ">", "$ENV{OUT}/escaped2"); print F "$$\n"; close F; sleep 1000' &
sleep 1000 &
echo $! >> "$OUT/pids"
wait"#,
    );
    a.spec
        .env
        .push(("OUT".into(), a.dir.path().display().to_string()));
    let p = policy(3);
    let (out, _, took) = go(&a, &p);
    let pids = pids_in(&a.dir.path().join("pids"));
    assert_eq!(pids.len(), 4, "every process wrote its pid: {pids:?}");
    assert_all_dead(&pids);
    assert!(out.timed_out);
    assert_eq!(out.exit_code, -9, "TERM was ignored, so KILL: {out:?}");
    assert_eq!(exit_cause(&out), "timeout");
    let escaped: Vec<i32> = out.escaped_killed.iter().map(|c| c.pid).collect();
    for f in ["escaped1", "escaped2"] {
        let pid = pids_in(&a.dir.path().join(f))[0];
        assert!(
            escaped.contains(&pid),
            "{f} pid {pid} not in escaped_killed {escaped:?}"
        );
    }
    assert_eq!(escaped.len(), 2, "{:?}", out.escaped_killed);
    assert!(
        out.escaped_killed
            .iter()
            .all(|c| c.name == "sleep" || c.name == "perl"),
        "{:?}",
        out.escaped_killed
    );
    assert!(took <= p.budget + p.term_grace + SLACK, "{took:?}");
}

#[test]
fn double_forked_helper_in_its_own_group_dies() {
    // The intermediate shell exits at once, so the helper is reparented away
    // from the agent (no ppid path) and it left the agent's process group;
    // it is still in the agent's session.
    let mut a = agent(
        r#"echo $$ >> "$OUT/pids"
bash -c 'perl "$OUT/helper.pl" &'
exec sleep 1000"#,
    );
    std::fs::write(
        a.dir.path().join("helper.pl"),
        r#"use POSIX;
POSIX::setpgid(0, 0) or die "setpgid: $!";
open(F, ">>", "$ENV{OUT}/pids") or die; print F "$$\n"; close F;
sleep 1000;
"#,
    )
    .unwrap();
    a.spec
        .env
        .push(("OUT".into(), a.dir.path().display().to_string()));
    let pids_file = a.dir.path().join("pids");
    let p = policy(3);
    let (out, _, _) = go(&a, &p);
    let pids = pids_in(&pids_file);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(out.timed_out);
    assert_eq!(
        out.escaped_killed.iter().map(|c| c.pid).collect::<Vec<_>>(),
        vec![pids[1]],
        "{out:?}"
    );
    assert_all_dead(&pids);
}

#[test]
fn megabyte_prompt_to_an_agent_that_never_reads_ends_at_the_budget() {
    let mut a = agent("echo $$ > \"$OUT/pids\"; exec sleep 1000");
    a.spec.stdin = Some(vec![b'x'; 1 << 20]);
    let p = policy(1);
    let (out, _, took) = go(&a, &p);
    assert!(out.timed_out);
    assert!(took <= p.budget + p.term_grace + SLACK, "{took:?}");
    assert_all_dead(&pids_in(&a.dir.path().join("pids")));
}

#[test]
fn megabyte_prompt_is_delivered_through_stdin() {
    let mut a = agent("cat > \"$OUT/got\"");
    let prompt: Vec<u8> = (0..(1u32 << 20)).map(|i| b'a' + (i % 26) as u8).collect();
    a.spec.stdin = Some(prompt.clone());
    let (out, _, _) = go(&a, &policy(60));
    assert_eq!(out.exit_code, 0);
    assert_eq!(std::fs::read(a.dir.path().join("got")).unwrap(), prompt);
}

#[test]
fn env_cwd_stdin_and_session_are_as_specified() {
    let mut a = agent(
        r#"pwd > "$OUT/pwd"
env > "$OUT/env"
readlink /proc/$$/fd/0 > "$OUT/stdin"
cut -d')' -f2 /proc/$$/stat > "$OUT/stat""#,
    );
    let cwd = a.dir.path().join("work dir");
    std::fs::create_dir(&cwd).unwrap();
    a.spec.cwd = cwd.clone();
    a.spec.env = vec![
        ("AGENT_RUNNER_ROUND_NUM".into(), "7".into()),
        ("AR_TEST_VAR".into(), "framework".into()),
        ("AR_TEST_VAR".into(), "agent env wins".into()),
    ];
    let (out, _, _) = go(&a, &policy(60));
    assert_eq!(out.exit_code, 0, "{}", read(&a.spec.log_path));
    let d = a.dir.path();
    assert_eq!(read(&d.join("pwd")).trim(), cwd.display().to_string());
    let env = read(&d.join("env"));
    assert!(
        env.lines().any(|l| l == "AGENT_RUNNER_ROUND_NUM=7"),
        "{env}"
    );
    assert!(
        env.lines().any(|l| l == "AR_TEST_VAR=agent env wins"),
        "{env}"
    );
    assert!(
        env.lines().any(|l| l == format!("PWD={}", cwd.display())),
        "{env}"
    );
    let path = std::env::var("PATH").unwrap();
    assert!(
        env.lines().any(|l| l == format!("PATH={path}")),
        "inherited env missing"
    );
    assert_eq!(read(&d.join("stdin")).trim(), "/dev/null");
    // /proc/<pid>/stat after ')': "S ppid pgrp session ..."
    let stat = read(&d.join("stat"));
    let f: Vec<&str> = stat.split_whitespace().collect();
    assert_eq!(f[2], out.pid.to_string(), "pgid = pid: {stat}");
    assert_eq!(f[3], out.pid.to_string(), "sid = pid (new session): {stat}");
}

#[test]
fn spawn_errors_are_one_line_with_the_value_quoted() {
    let mut a = agent("true");
    a.spec.argv = vec!["/nonexistent/agent-binary".into()];
    let stop = StopSignal::new().unwrap();
    let err = run(&a.spec, &policy(5), &stop, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("'/nonexistent/agent-binary'"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    a.spec.argv.clear();
    assert!(run(&a.spec, &policy(5), &stop, &mut |_| {}).is_err());
    a.spec.argv = vec!["true".into()];
    a.spec.cwd = a.dir.path().join("missing");
    let err = run(&a.spec, &policy(5), &stop, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing'"), "{err}");
}

fn grace_policy(grace_s: u64) -> WaitPolicy {
    let mut p = policy(60);
    p.grace_after_result = Some(Duration::from_secs(grace_s));
    p
}

#[test]
fn grace_after_result_kills_a_lingering_agent() {
    let a =
        agent("echo $$ > \"$OUT/pids\"; echo '{\"type\":\"result\",\"ok\":1}'; exec sleep 1000");
    let p = grace_policy(1);
    let (out, obs, took) = go(&a, &p);
    assert!(out.grace_killed && out.timed_out, "{out:?}");
    assert_eq!(exit_cause(&out), "grace_kill");
    assert!(obs.is_empty(), "{obs:?}");
    assert!(
        took < Duration::from_secs(30),
        "killed by grace, not budget: {took:?}"
    );
    assert_all_dead(&pids_in(&a.dir.path().join("pids")));
}

#[test]
fn no_marker_means_no_grace_kill() {
    let a = agent("echo '{\"type\": \"result\"}'; sleep 3; exit 4");
    let (out, _, _) = go(&a, &grace_policy(1));
    assert!(
        !out.grace_killed && !out.timed_out,
        "spaced JSON is not the marker: {out:?}"
    );
    assert_eq!(out.exit_code, 4);
}

#[test]
fn grace_extends_once_for_a_live_worker_and_lists_ignored_helpers() {
    // A live worker (sleep 6) and an ignored helper (argv says mcp-server);
    // once the worker ends, the agent lingers and is grace-killed.
    let a = agent(
        r#"echo $$ >> "$OUT/pids"
echo '{"type":"result"}'
bash -c 'exec -a mcp-server-fake sleep 1000' &
echo $! > "$OUT/helper"; echo $! >> "$OUT/pids"
sleep 6 &
echo $! > "$OUT/worker"
wait $!
exec sleep 1000"#,
    );
    let mut p = grace_policy(1);
    p.grace_ignore = vec![
        Regex::new("mcp-server").unwrap(),
        Regex::new("never").unwrap(),
    ];
    let (out, obs, _) = go(&a, &p);
    let ext: Vec<&Observation> = obs
        .iter()
        .filter(|o| matches!(o, Observation::GraceExtended { .. }))
        .collect();
    assert_eq!(ext.len(), 1, "exactly one extension: {obs:?}");
    let worker = pids_in(&a.dir.path().join("worker"))[0];
    let helper = pids_in(&a.dir.path().join("helper"))[0];
    let Observation::GraceExtended {
        grace_s,
        live,
        ignored,
    } = ext[0]
    else {
        unreachable!()
    };
    assert_eq!(*grace_s, 1);
    assert!(
        live.contains(&ChildInfo {
            name: "sleep".into(),
            pid: worker,
            matched: None
        }),
        "{live:?}"
    );
    assert!(!live.iter().any(|c| c.pid == helper), "{live:?}");
    assert_eq!(
        ignored,
        &vec![ChildInfo {
            name: "sleep".into(),
            pid: helper,
            matched: Some("mcp-server".into())
        }]
    );
    assert!(out.grace_killed, "{out:?}");
    assert_all_dead(&pids_in(&a.dir.path().join("pids")));
}

#[test]
fn only_ignored_helpers_left_means_grace_kill() {
    let a = agent(
        r#"echo $$ >> "$OUT/pids"
echo '{"type":"result"}'
bash -c 'exec -a mcp-server-fake sleep 1000' &
echo $! >> "$OUT/pids"
wait"#,
    );
    let mut p = grace_policy(1);
    p.grace_ignore = vec![Regex::new("^mcp-server").unwrap()];
    let (out, obs, _) = go(&a, &p);
    assert!(out.grace_killed, "{out:?}");
    assert!(obs.is_empty(), "{obs:?}");
    assert_all_dead(&pids_in(&a.dir.path().join("pids")));
}

#[test]
fn progress_heartbeats_arrive() {
    let a = agent("head -c 3072 /dev/zero; sleep 3.6; exit 0");
    let mut p = policy(60);
    p.progress_interval = Some(Duration::from_secs(1));
    let (out, obs, _) = go(&a, &p);
    assert_eq!(out.exit_code, 0);
    let beats: Vec<(u64, u64, u64)> = obs
        .iter()
        .map(|o| match o {
            Observation::Progress {
                log_size_kb,
                last_write_age_s,
                wall_age_s,
            } => (*log_size_kb, *last_write_age_s, *wall_age_s),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(beats.len() >= 2, "{beats:?}");
    assert_eq!(beats[0].2, 1, "first heartbeat at +interval: {beats:?}");
    assert!(beats.windows(2).all(|w| w[1].2 > w[0].2), "{beats:?}");
    assert!(beats.iter().all(|b| b.0 == 3), "{beats:?}");
    assert!(beats.iter().all(|b| b.1 <= 4), "{beats:?}");
}

#[test]
fn stop_request_sends_the_cooperative_signal_then_kills_the_group() {
    // The agent handles SIGINT (claude's cooperative stop); its background
    // child ignores INT (bash does that for async jobs) and needs the KILL.
    let a = agent(
        r#"echo $$ >> "$OUT/pids"
trap 'echo int > "$OUT/got"; exit 5' INT
sleep 1000 &
echo $! >> "$OUT/pids"
wait"#,
    );
    let mut p = policy(120);
    p.stop_signal = Signal::SIGINT;
    p.stop_grace = Duration::from_secs(3);
    let stop = StopSignal::new().unwrap();
    let pids_file = a.dir.path().join("pids");
    let s2 = stop.clone();
    let pf = pids_file.clone();
    let t = std::thread::spawn(move || {
        wait_words(&pf, 2);
        s2.request();
    });
    let (out, _, took) = go_with(&a, &p, &stop);
    t.join().unwrap();
    assert!(out.cancelled && !out.timed_out, "{out:?}");
    assert_eq!(out.exit_code, 5, "the trap ran: {out:?}");
    assert_eq!(read(&a.dir.path().join("got")).trim(), "int");
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_all_dead(&pids_in(&pids_file));
}

#[test]
fn stop_requested_before_spawn_ends_at_once() {
    let a = agent("echo $$ > \"$OUT/pids\"; trap '' TERM; sleep 1000");
    let mut p = policy(120);
    p.stop_grace = Duration::from_secs(1);
    let stop = StopSignal::new().unwrap();
    stop.request();
    assert!(stop.is_requested());
    let (out, _, took) = go_with(&a, &p, &stop);
    assert!(out.cancelled, "{out:?}");
    assert!(took < p.stop_grace + SLACK, "{took:?}");
}
