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

/// Where a cgroup v2 hierarchy is mounted on this machine (the unified
/// mount of a hybrid layout counts), from `/proc/self/mounts`.
fn cgroup2_mount() -> Option<std::path::PathBuf> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| std::path::PathBuf::from(f[1]))
        })
}

/// Removes the test's real cgroup (and any child left in it) at the end.
struct CgGuard(std::path::PathBuf);

impl Drop for CgGuard {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.0) {
            for e in rd.flatten().filter(|e| e.path().is_dir()) {
                let _ = std::fs::write(e.path().join("cgroup.kill"), "1");
                std::thread::sleep(Duration::from_millis(100));
                let _ = std::fs::remove_dir(e.path());
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// With a real cgroup v2 leaf serve owns (root, on the machine's cgroup2
/// mount; only `/proc/self/cgroup` is a fixture, naming that leaf), the
/// round runs in a cgroup of its own, and what is still in it when the
/// round is over — here a process that is not serve's descendant at all,
/// so no walk of serve's tree can find it — is ended by `cgroup.kill`, and
/// the cgroup is removed.
#[test]
fn a_round_runs_in_its_own_cgroup_and_cgroup_kill_ends_what_is_left_in_it() {
    let mount = cgroup2_mount().unwrap_or_else(|| {
        panic!("no cgroup2 hierarchy is mounted (this test needs one: as root, 'mount -t cgroup2 none /sys/fs/cgroup/unified')")
    });
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root to create a cgroup under '{}'",
        mount.display()
    );
    let p = Project::new();
    let leaf = format!(
        "ar-it-{}-{}",
        std::process::id(),
        p.tmp
            .path()
            .file_name()
            .map_or("x".into(), |n| n.to_string_lossy().into_owned())
    );
    let real_leaf = mount.join(&leaf);
    std::fs::create_dir(&real_leaf)
        .unwrap_or_else(|e| panic!("cannot create cgroup '{}': {e}", real_leaf.display()));
    let _guard = CgGuard(real_leaf.clone());
    let root = crate::support::sysroot::SysRoot::new(p.tmp.path());
    std::fs::create_dir_all(root.dir.join("sys/fs")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(&mount, root.dir.join("sys/fs/cgroup"))
        .unwrap_or_else(|e| panic!("{e}"));
    crate::support::sysroot::put(&root.dir.join("proc/self/cgroup"), &format!("0::/{leaf}\n"));
    let t = p.tmp.path().display().to_string();
    let a = p.agent(
        "waiter.sh",
        &format!(
            "cat >/dev/null\ngrep '^0::' /proc/self/cgroup > {t}/agent.cgroup.tmp && mv {t}/agent.cgroup.tmp {t}/agent.cgroup\nfor i in $(seq 200); do [ -e {t}/go ] && break; sleep 0.05; done\nexit 0"
        ),
    );
    p.config(&a, "round_budget_s = 60", "");
    let mut c = p.cmd(&["serve", "--once"]);
    root.apply(&mut c, None);
    let mut serve = c.spawn().unwrap_or_else(|e| panic!("{e}"));
    let cg_file = p.tmp.path().join("agent.cgroup");
    assert!(
        wait_until(Duration::from_secs(30), || cg_file.exists()),
        "the agent never started: {:?}",
        p.kinds()
    );
    let line = std::fs::read_to_string(&cg_file).unwrap_or_default();
    let round_cg = line.trim().trim_start_matches("0::").to_string();
    let want = format!("/{leaf}/agent-runner-{}-round-1", serve.id());
    assert_eq!(round_cg, want, "the agent's real cgroup");
    // a process serve did not start joins the round's cgroup
    let mut stranger = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let procs = mount
        .join(round_cg.trim_start_matches('/'))
        .join("cgroup.procs");
    std::fs::write(&procs, stranger.id().to_string())
        .unwrap_or_else(|e| panic!("join '{}': {e}", procs.display()));
    std::fs::write(p.tmp.path().join("go"), "").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(wait_exit(&mut serve, Duration::from_secs(60)), Some(0));
    // killed, and by SIGKILL: cgroup.kill, not the TERM of a sweep
    let mut st = None;
    wait_until(Duration::from_secs(10), || {
        st = stranger.try_wait().ok().flatten();
        st.is_some()
    });
    let Some(st) = st else {
        let _ = stranger.kill();
        let _ = stranger.wait();
        panic!("a process in the round's cgroup outlived the round")
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(9), "{st:?}");
    assert!(
        killed_pids(&p).contains(&i64::from(stranger.id())),
        "{:?}",
        p.events_of("round_escaped_processes_killed")
    );
    assert!(
        !mount.join(round_cg.trim_start_matches('/')).exists(),
        "the round's cgroup was not removed"
    );
    let kinds = p.kinds();
    let pos = |k: &str| kinds.iter().position(|x| x == k).unwrap_or(usize::MAX);
    assert!(
        pos("round_escaped_processes_killed") < pos("round_substrate_after"),
        "{kinds:?}"
    );
}
