//! Service lifecycle: systemd unit text verified by `systemd-analyze verify`,
//! and the pid-file mode driven for real (no systemd session needed).

use crate::support::*;
use std::time::{Duration, Instant};

fn json_out(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

/// Split `install --dry-run` output into (file name, unit text).
fn units(out: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for line in out.lines() {
        if let Some(path) = line.strip_prefix("# /").filter(|l| l.ends_with(".service")) {
            v.push((
                path.rsplit('/').next().unwrap_or_default().to_string(),
                String::new(),
            ));
        } else if let Some(last) = v.last_mut() {
            last.1.push_str(line);
            last.1.push('\n');
        }
    }
    v
}

fn verify(name: &str, text: &str) {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = d.path().join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    let o = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&p)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze is missing ({e}): apt-get install systemd"));
    let err = String::from_utf8_lossy(&o.stderr);
    let relevant: Vec<&str> = err.lines().filter(|l| l.contains(name)).collect();
    assert!(
        o.status.success() && relevant.is_empty(),
        "systemd-analyze verify {name} failed:\n{err}\n--- unit ---\n{text}"
    );
}

#[test]
fn dry_run_units_pass_systemd_analyze_and_carry_the_contract() {
    let p = Project::new();
    let a = p.agent("ok.sh", "exit 0");
    p.config(
        &a,
        "round_budget_s = 100",
        "[phases]\nlist = [\"a\"]\n[phases.a]\nround_budget_s = 200\n",
    );
    let fleet = p.tmp.path().join("hosts.toml");
    std::fs::write(&fleet, "[defaults]\n").unwrap_or_else(|e| panic!("{e}"));
    let cases: Vec<Vec<&str>> = vec![
        vec!["install", "--dry-run"],
        vec!["install", "--dry-run", "--monitor"],
        vec!["install", "--dry-run", "--system"],
        vec![
            "install",
            "--dry-run",
            "--monitor",
            "--fleet",
            fleet.to_str().unwrap_or_default(),
        ],
    ];
    for args in cases {
        let o = p
            .cmd(&args)
            .env("SUDO_USER", "root")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = String::from_utf8_lossy(&o.stdout);
        let us = units(&out);
        let expected =
            1 + usize::from(args.contains(&"--monitor")) + usize::from(args.contains(&"--fleet"));
        assert_eq!(us.len(), expected, "{args:?}: {out}");
        for (name, text) in &us {
            for line in [
                "Restart=on-failure",
                "RestartPreventExitStatus=78 75 70",
                "KillMode=mixed",
                "StartLimitBurst=5",
                "StartLimitIntervalSec=300",
            ] {
                assert!(text.contains(line), "{name} lacks {line}:\n{text}");
            }
            // A Pi without a real-time clock: start after the clock is set
            // (month files are named by it).
            assert!(
                text.lines()
                    .any(|l| l.starts_with("After=") && l.contains("time-sync.target")),
                "{name} is not ordered after time-sync.target:\n{text}"
            );
            assert!(
                text.contains(&format!(
                    "ExecStart={}",
                    std::fs::canonicalize(BIN).unwrap_or_default().display()
                )),
                "{text}"
            );
            if name.starts_with("agent-runner@") {
                // largest budget (200) + 5 s TERM grace + 15 + 30
                assert!(text.contains("TimeoutStopSec=250"), "{text}");
                assert!(
                    text.contains(&format!("WorkingDirectory={}", p.dir.display())),
                    "{text}"
                );
            }
            if args.contains(&"--system") {
                assert!(
                    text.contains("User=root") && text.contains("WantedBy=multi-user.target"),
                    "{text}"
                );
            }
            verify(name, text);
        }
    }
    assert!(
        !p.home.join(".config/systemd").exists(),
        "--dry-run wrote files"
    );
}

/// `install --monitor --fleet` carries the notification flags into both
/// monitor units (a URL's `%`, `$`, `&` and `?` intact), not into serve's;
/// systemd-analyze accepts them, and a bad URL is refused without a unit.
#[test]
fn install_carries_the_notification_flags_into_the_monitor_units() {
    let p = Project::new();
    let a = p.agent("ok.sh", "exit 0");
    p.config(&a, "", "");
    let fleet = p.tmp.path().join("hosts.toml");
    std::fs::write(&fleet, "[defaults]\n").unwrap_or_else(|e| panic!("{e}"));
    let url = "https://hooks.example/T0/B1?token=a%20b$HOME&x=1";
    let o = p
        .cmd(&[
            "install",
            "--dry-run",
            "--monitor",
            "--fleet",
            fleet.to_str().unwrap_or_default(),
            "--webhook",
            url,
            "--webhook-format",
            "slack",
            "--notify-command",
            "/usr/local/bin/page me",
            "--notify-min-severity",
            "critical",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let us = units(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(us.len(), 3);
    for (name, text) in &us {
        let exec = text
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .unwrap_or_default();
        if name.starts_with("agent-runner@") {
            assert!(!exec.contains("--webhook"), "{exec}");
        } else {
            for want in [
                "--notify-command \"/usr/local/bin/page me\"",
                "--webhook \"https://hooks.example/T0/B1?token=a%%20b$$HOME&x=1\"",
                "--webhook-format slack",
                "--notify-min-severity critical",
            ] {
                assert!(exec.contains(want), "{name} lacks {want}: {exec}");
            }
        }
        verify(name, text);
    }
    let o = p
        .cmd(&[
            "install",
            "--dry-run",
            "--monitor",
            "--webhook",
            "ftp://x/SECRET",
        ])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--webhook #1") && !err.contains("SECRET"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    // Without a monitor unit the flags would go nowhere: refused.
    let o = p
        .cmd(&["install", "--dry-run", "--webhook", "http://127.0.0.1/x"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("add --monitor or --fleet"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn status_of_a_project_that_never_ran_and_of_a_corrupt_pid_file() {
    let p = Project::new();
    let a = p.agent("ok.sh", "exit 0");
    p.config(&a, "", "");
    let o = p.run(&["status"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("never run"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let j = json_out(&p.run(&["status", "--json"]));
    assert_eq!(j["mode"], "none");
    assert_eq!(j["active"], false);
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p.log_dir().join("serve.pid"), "not a pid").unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("serve.pid") && err.contains("corrupt"),
        "{err}"
    );
}

#[test]
fn pidfile_mode_start_status_cancel_stop() {
    let p = Project::new();
    let a = p.agent(
        "slow.sh",
        "cat >/dev/null; echo $$ >> \"$AGENT_RUNNER_LOG_DIR/../pids\"; sleep 3; exit 0",
    );
    p.config(&a, "round_budget_s = 60", "");
    let t = Instant::now();
    let o = p.run(&["start"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(t.elapsed() < Duration::from_secs(15));
    let s = json_out(&p.run(&["status", "--json"]));
    assert_eq!(s["mode"], "pidfile");
    assert_eq!(s["active"], true);
    assert!(s["uptime_s"].as_f64().is_some(), "{s}");
    let serve_pid = s["pid"].as_i64().unwrap_or(0) as i32;
    assert!(alive(serve_pid));
    // cancel ends the current round now, and the loop starts the next one
    assert!(wait_until(Duration::from_secs(20), || p
        .kinds()
        .contains(&"agent_spawn".to_string())));
    let o = p.run(&["cancel"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(20), || p
            .events_of("round_cancelled")
            .len()
            == 1),
        "{:?}",
        p.kinds()
    );
    assert!(
        wait_until(Duration::from_secs(20), || p.events_of("agent_spawn").len()
            >= 2),
        "the loop did not go on: {:?}",
        p.kinds()
    );
    // stop lets the running round finish, then nothing of the tree remains
    let o = p.run(&["stop"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let last_exit = p
        .events_of("agent_exit")
        .last()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        last_exit["exit_cause"], "clean",
        "the round was not allowed to finish: {last_exit}"
    );
    assert!(!alive(serve_pid));
    for pid in read_pids(&p.dir.join("pids")) {
        assert!(!alive(pid), "agent {pid} survived stop");
    }
    let s = json_out(&p.run(&["status", "--json"]));
    assert_eq!(s["active"], false);
}

#[test]
fn kill_ends_serve_round_and_a_stubborn_agent_within_grace() {
    let p = Project::new();
    let pids = p.tmp.path().join("pids");
    let a = p.agent("stubborn.sh", &format!("trap '' TERM INT\necho $$ >> {0}\nsetsid bash -c 'trap \"\" TERM; echo $$ >> {0}; exec sleep 1000' &\nwhile true; do sleep 1; done", pids.display()));
    p.config(&a, "round_budget_s = 600", "");
    assert_eq!(p.run(&["start"]).status.code(), Some(0));
    assert!(wait_until(Duration::from_secs(20), || read_pids(&pids)
        .len()
        == 2));
    let serve_pid = json_out(&p.run(&["status", "--json"]))["pid"]
        .as_i64()
        .unwrap_or(0) as i32;
    let holder: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(p.log_dir().join("agent-runner.lock.holder")).unwrap_or_default(),
    )
    .unwrap_or_default();
    let round_pid = holder["pid"].as_i64().unwrap_or(0) as i32;
    assert!(round_pid > 0);
    let t = Instant::now();
    let o = p.run(&["kill"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut all = read_pids(&pids);
    all.extend([serve_pid, round_pid]);
    assert!(
        wait_until(Duration::from_secs(1), || all.iter().all(|p| !alive(*p))),
        "survivors: {:?}",
        all.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
    assert!(
        t.elapsed() < Duration::from_secs(5 + 2 + 3),
        "kill took {:?}",
        t.elapsed()
    );
}

#[test]
fn a_stale_pid_file_naming_another_process_is_never_signalled() {
    let p = Project::new();
    let a = p.agent("ok.sh", "exit 0");
    p.config(&a, "", "");
    let mut victim = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    // right pid, wrong start-time token: a recycled pid
    std::fs::write(
        p.log_dir().join("serve.pid"),
        format!("{{\"pid\": {}, \"create_time\": 12345.0}}", victim.id()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for verb in ["stop", "kill", "restart"] {
        let _ = p.run(&[verb]);
        assert!(
            alive(victim.id() as i32),
            "'{verb}' signalled an unrelated process"
        );
        let _ = p.run(&["stop"]);
    }
    let _ = victim.kill();
    let _ = victim.wait();
}
