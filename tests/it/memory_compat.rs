//! A memory-terminated round through serve with a 1 s restart delay (which
//! the Python tool also accepts): the next round waits twice the delay, and
//! the Python tool 0.3.14 reads every memory event we wrote (`events
//! --kind`, `peek --json`).

use crate::support::sysroot::{agent_sets_psi, SysRoot, MIB};
use crate::support::*;
use std::process::Command;

fn py(p: &Project, args: &[&str]) -> std::process::Output {
    Command::new(python_tool())
        .args(args)
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .env_remove("AGENT_RUNNER_SYS_ROOT")
        .output()
        .unwrap_or_else(|e| panic!("python tool: {e}"))
}

fn ts(e: &serde_json::Value) -> f64 {
    e["ts"]
        .as_str()
        .and_then(agent_runner::timefmt::parse_ts)
        .map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
}

#[test]
fn a_memory_terminated_round_doubles_the_delay_and_python_reads_the_events() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let leaf = "/system.slice/agent-runner.service";
    root.cgroup_v2(leaf);
    root.cg(leaf, "memory.max", &(800 * MIB).to_string()); // no swap cap: no deferral
    root.cg(leaf, "memory.current", &(100 * MIB).to_string());
    root.cg_events(leaf, 0);
    let count = p.tmp.path().join("count");
    let a = p.agent(
        "hog.sh",
        &format!(
            "cat >/dev/null\nn=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n[ $n -gt 1 ] && exit 0\nhealthy() {{ {}; }}\ntrap 'healthy; exit 143' TERM\n{}\nsleep 1000 &\nwait",
            agent_sets_psi(0.0, 0.0),
            agent_sets_psi(95.0, 75.0),
            c = count.display()
        ),
    );
    let cfg = p.config(
        &a,
        "round_budget_s = 60",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 1\n",
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    let mut c = p.cmd(&["serve", "--max-rounds", "2"]);
    root.apply(&mut c, Some(100));
    let o = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        p.events_of("round_mem_terminated").len(),
        1,
        "{:?}",
        p.kinds()
    );
    let end1 = p.events_of("round_substrate_after")[0].clone();
    let before2 = p.events_of("round_substrate_before")[1].clone();
    let gap = ts(&before2) - ts(&end1);
    assert!(gap >= 2.0, "restart_delay_s 1 doubled: waited {gap}s");

    let cfg = cfg.display().to_string();
    for kind in [
        "host_cgroup_memory_limit",
        "round_mem_critical_sample",
        "round_mem_terminated",
        "round_cgroup_memory",
    ] {
        let o = py(
            &p,
            &["--config", &cfg, "events", "--kind", kind, "--window", "5"],
        );
        assert!(
            o.status.success(),
            "python events --kind {kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert!(
            !got.is_empty(),
            "python sees no {kind}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(got.iter().all(|e| e["event"] == kind));
    }
    let o = py(&p, &["--config", &cfg, "peek", "--json"]);
    assert!(
        o.status.success(),
        "python peek: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
