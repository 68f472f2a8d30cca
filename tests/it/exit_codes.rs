//! Exit codes follow the 0.3 contract (src/exit_code.rs): every verb that
//! loads a broken config exits 78, as the Python tool 0.3.14 does (run side by
//! side on the same project); `round` exits 76 on lock contention, as 0.3
//! does; a fleet `monitor --once` that could not watch a host exits 69, which
//! is not clap's usage code 2.

use crate::support::*;
use std::process::Command;
use std::time::Duration;

fn py(p: &Project, args: &[&str]) -> std::process::Output {
    Command::new(python_tool())
        .args(args)
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("python tool: {e}"))
}

/// A config both tools accept (the Python tool refuses restart_delay_s = 0).
fn both_tools_config(p: &Project, agent: &std::path::Path) {
    let cfg = p.config(agent, "round_budget_s = 30", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "agent-runner.toml"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
}

/// The verbs both tools have that read the config, with arguments that
/// return at once (or fail at load).
const LOADING_VERBS: &[&[&str]] = &[
    &["status"],
    &["start"],
    &["stop"],
    &["kill"],
    &["restart"],
    &["peek"],
    &["events", "--kind", "round_end"],
    &["monitor", "--interval", "1"],
    &["install"],
    &["serve"],
    &["round"],
];

#[test]
fn a_broken_config_exits_78_from_every_verb_as_in_python() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    both_tools_config(&p, &a);
    let cfg = p.dir.join("agent-runner.toml");
    let text = std::fs::read_to_string(&cfg).unwrap_or_default();
    std::fs::write(&cfg, text.replace("[agent]\n", "[agent]\nbogus_key = 1\n"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut wrong = Vec::new();
    for args in LOADING_VERBS
        .iter()
        .chain([&["cancel"][..], &["watch"][..]].iter())
    {
        let ours = p
            .cmd(args)
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        if ours.status.code() != Some(78) {
            wrong.push(format!(
                "ours {args:?}: {:?} {}",
                ours.status.code(),
                String::from_utf8_lossy(&ours.stderr).trim()
            ));
        }
        if args[0] == "cancel" {
            continue; // ours only
        }
        // `watch` redraws until interrupted: the Python tool fails at load.
        let theirs = py(&p, args);
        if theirs.status.code() != Some(78) {
            wrong.push(format!("python {args:?}: {:?}", theirs.status.code()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_missing_config_exits_1_and_78_from_round_and_serve_as_in_python() {
    let p = Project::new();
    // No agent-runner.toml at all.
    for args in [
        &["peek"][..],
        &["events", "--kind", "round_end"],
        &["monitor", "--interval", "1"],
        &["install"],
        &["round"],
        &["serve"],
    ] {
        let ours = p.run(args).status.code();
        let theirs = py(&p, args).status.code();
        assert_eq!(ours, theirs, "{args:?}");
        let want = if matches!(args[0], "round" | "serve") {
            78
        } else {
            1
        };
        assert_eq!(ours, Some(want), "{args:?}");
    }
}

#[test]
fn round_lock_contention_exits_76_in_both_tools() {
    let p = Project::new();
    let a = p.agent("slow.sh", "cat >/dev/null; sleep 6; exit 0");
    both_tools_config(&p, &a);
    let mut first = p.cmd(&["round"]).spawn().unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(10), || p
        .kinds()
        .contains(&"agent_spawn".to_string())));
    let ours = p.run(&["round"]);
    let theirs = py(&p, &["round"]);
    let _ = first.wait();
    assert_eq!(
        ours.status.code(),
        Some(76),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    assert_eq!(
        theirs.status.code(),
        Some(76),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
}

#[test]
fn a_fleet_once_that_cannot_watch_a_host_exits_69_not_the_usage_code() {
    let p = Project::new();
    let ssh = p.tmp.path().join("ssh_config");
    std::fs::write(
        &ssh,
        "Host dead\n  HostName 127.0.0.1\n  Port 1\n  ConnectTimeout 2\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ssh = ssh.to_string_lossy().into_owned();
    let o = p.run(&["monitor", "--host", "dead", "--once", "--ssh-config", &ssh]);
    assert_eq!(
        o.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A usage error is still 2.
    let o = p.run(&["monitor", "--host", "dead", "--once", "--mode", "narrate"]);
    assert_eq!(o.status.code(), Some(2));
    // Every code is documented once in the table.
    let codes: Vec<i32> = agent_runner::exit_code::TABLE
        .iter()
        .map(|(c, _)| *c)
        .collect();
    let mut dedup = codes.clone();
    dedup.sort_unstable();
    dedup.dedup();
    assert_eq!(dedup.len(), codes.len(), "{codes:?}");
    assert!(codes.contains(&69) && codes.contains(&76) && codes.contains(&78));
}
