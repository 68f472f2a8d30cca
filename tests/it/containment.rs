//! Round containment after every exit: `round` and `serve` are child
//! subreapers, so what the agent leaves behind — a `setsid` daemon whose
//! parent already exited, the whole agent when the round process itself
//! dies — re-parents to them and is ended (SIGTERM → grace → SIGKILL) and
//! recorded as `round_escaped_processes_killed`, before the dirty-tree step
//! or the next round.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;

fn pid_in(p: &Project, name: &str) -> Option<i32> {
    read_pids(&p.tmp.path().join(name)).first().copied()
}

fn killed_pids(p: &Project) -> Vec<i64> {
    p.events_of("round_escaped_processes_killed")
        .iter()
        .flat_map(|e| {
            e["processes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|x| x["pid"].as_i64())
        })
        .collect()
}

#[test]
fn a_setsid_daemon_left_by_a_clean_exit_is_ended_before_the_dirty_tree_step() {
    let p = Project::new();
    let t = p.tmp.path().display().to_string();
    // the subshell exits at once: the daemon's parent is gone before the
    // agent exits 0, and it keeps writing the work tree
    let a = p.agent(
        "daemonizer.sh",
        &format!(
            "cat >/dev/null\n( setsid bash -c 'echo $$ > {t}/daemon.pid; while :; do echo x >> work.txt; sleep 0.05; done' & )\nsleep 0.5\nexit 0"
        ),
    );
    p.config(&a, "round_budget_s = 60", "");
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let daemon = pid_in(&p, "daemon.pid").unwrap_or_else(|| panic!("the daemon never ran"));
    assert!(!alive(daemon), "the daemon outlived its round");
    assert!(
        killed_pids(&p).contains(&i64::from(daemon)),
        "{:?}",
        p.events_of("round_escaped_processes_killed")
    );
    let e = &p.events_of("round_escaped_processes_killed")[0];
    assert_eq!(payload_keys(e), ["round_num", "count", "processes"]);
    let kinds = p.kinds();
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap_or(usize::MAX);
    assert!(pos("agent_exit") < pos("round_escaped_processes_killed"));
    assert!(
        pos("round_escaped_processes_killed") < pos("dirty_detected"),
        "{kinds:?}"
    );
    // its file was stashed, and nobody writes it back any more
    assert_eq!(p.events_of("orphan_stashed").len(), 1, "{kinds:?}");
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !p.dir.join("work.txt").exists(),
        "something still writes the work tree"
    );
}

#[test]
fn serve_ends_the_tree_of_a_round_process_that_died() {
    let p = Project::new();
    let t = p.tmp.path().display().to_string();
    let a = p.agent(
        "stubborn.sh",
        &format!("cat >/dev/null\necho $PPID > {t}/round.pid\nsleep 1000 &\necho $! > {t}/child.pid\necho $$ > {t}/agent.pid\nwait"),
    );
    p.config(&a, "round_budget_s = 600", "");
    let mut child = p
        .cmd(&["serve", "--once"])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        wait_until(Duration::from_secs(30), || pid_in(&p, "agent.pid")
            .is_some()),
        "the agent never started: {:?}",
        p.kinds()
    );
    let round = pid_in(&p, "round.pid").unwrap_or_else(|| panic!("round pid"));
    let agent = pid_in(&p, "agent.pid").unwrap_or_else(|| panic!("agent pid"));
    let sleeper = pid_in(&p, "child.pid").unwrap_or_else(|| panic!("child pid"));
    kill(Pid::from_raw(round), Signal::SIGKILL).unwrap_or_else(|e| panic!("kill round: {e}"));
    assert_eq!(wait_exit(&mut child, Duration::from_secs(60)), Some(0));
    assert!(!alive(agent), "the agent outlived its dead round");
    assert!(!alive(sleeper), "the agent's child outlived its dead round");
    let got = killed_pids(&p);
    assert!(got.contains(&i64::from(agent)), "{got:?}");
    let e = &p.events_of("round_escaped_processes_killed")[0];
    assert_eq!(e["round_num"], 1);
    assert!(
        p.events_of("agent_exit").is_empty(),
        "the round never got to record an exit"
    );
}
