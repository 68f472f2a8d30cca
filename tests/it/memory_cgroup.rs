//! cgroup v2 through the real binary and a fixture tree (0.3 delta
//! §4.6–§4.9): the boot probe and each of its four plausibility guards
//! (`host_cgroup_memory_limit`, the advisory on stderr), the deferral to
//! the kernel's OOM, silent degradation without cgroup v2, per-round
//! accounting (`round_cgroup_memory`) and OOM attribution
//! (`round_oom_killed` and the round log's trailer), the growth warning's
//! cgroup source, and the `memory.high` brake (armed, inert, failing).

use crate::support::sysroot::{agent_sets_psi, SysRoot, MIB};
use crate::support::*;
use serde_json::{json, Value};

const LEAF: &str = "/system.slice/agent-runner.service";

fn serve_once(p: &Project, root: &SysRoot, tick_ms: u64) -> std::process::Output {
    let mut c = p.cmd(&["serve", "--once"]);
    root.apply(&mut c, Some(tick_ms));
    let o = c.output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{:?}",
        String::from_utf8_lossy(&o.stderr),
        p.kinds()
    );
    o
}

/// A 1 GiB host with 512 MiB swap whose service is capped at `max` / `swap`
/// (None: `max`), with memory.high 300 MiB unless `high` is None.
fn capped(root: &SysRoot, max: Option<u64>, swap: Option<u64>, high: Option<u64>) {
    root.cgroup_v2(LEAF);
    let tok = |v: Option<u64>| v.map_or("max".to_string(), |b| b.to_string());
    root.cg(LEAF, "memory.max", &tok(max));
    root.cg(LEAF, "memory.swap.max", &tok(swap));
    root.cg(LEAF, "memory.high", &tok(high));
    root.cg(LEAF, "memory.current", &(100 * MIB).to_string());
    root.cg(LEAF, "memory.swap.current", "0");
    root.cg_events(LEAF, 0);
    for parent in ["/system.slice", "/"] {
        root.cg(parent, "memory.max", "max");
    }
}

fn limit_event(p: &Project) -> Value {
    p.events_of("host_cgroup_memory_limit")
        .pop()
        .unwrap_or_else(|| panic!("no host_cgroup_memory_limit: {:?}", p.kinds()))
}

#[test]
fn the_boot_probe_and_its_four_guards() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 60", "");
    // no cgroup v2 at all (this CI machine's hybrid layout has none at
    // /sys/fs/cgroup): silent, all unknown
    let o = serve_once(&p, &root, 100);
    let e = limit_event(&p);
    assert_eq!(
        payload_keys(&e),
        [
            "memory_max",
            "memory_swap_max",
            "cgroup_path",
            "defer",
            "swap_total_bytes",
            "swap_cap_pct",
            "memory_high",
            "advisory",
            "cgroup_delegated"
        ]
    );
    assert_eq!(e["cgroup_path"], Value::Null);
    assert_eq!(e["defer"], false);
    assert_eq!(e["advisory"], Value::Null);
    assert_eq!(e["cgroup_delegated"], Value::Null);
    assert_eq!(e["swap_total_bytes"], 512 * MIB);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("agent-runner:"),
        "not silent"
    );

    // (MemoryMax, MemorySwapMax) → defer
    let cases: [(Option<u64>, Option<u64>, bool, &str); 7] = [
        (
            Some(320 * MIB),
            Some(160 * MIB),
            true,
            "both finite and plausible",
        ),
        (Some(320 * MIB), Some(0), true, "MemorySwapMax=0 is finite"),
        (
            None,
            Some(160 * MIB),
            false,
            "guard 1: memory.max unlimited",
        ),
        (
            Some(320 * MIB),
            None,
            false,
            "guard 2: memory.swap.max unlimited",
        ),
        (
            Some(2048 * MIB),
            Some(160 * MIB),
            false,
            "guard 3: memory.max above host RAM",
        ),
        (
            Some(1024 * MIB),
            Some(160 * MIB),
            false,
            "guard 3: memory.max equal to host RAM",
        ),
        (
            Some(320 * MIB),
            Some(1024 * MIB),
            false,
            "guard 4: memory.swap.max above host swap",
        ),
    ];
    for (max, swap, defer, why) in cases {
        capped(&root, max, swap, Some(300 * MIB));
        serve_once(&p, &root, 100);
        let e = limit_event(&p);
        assert_eq!(e["defer"], defer, "{why}: {e}");
        assert_eq!(e["cgroup_path"], LEAF);
        assert_eq!(e["memory_max"], json!(max), "{why}");
        assert_eq!(e["memory_swap_max"], json!(swap), "{why}");
        assert_eq!(e["memory_high"], 300 * MIB);
        assert_eq!(e["cgroup_delegated"], true, "root owns the fixture leaf");
    }
    // an ancestor's cap binds the leaf too
    capped(&root, None, None, Some(300 * MIB));
    root.cg("/system.slice", "memory.max", &(256 * MIB).to_string());
    root.cg("/system.slice", "memory.swap.max", &(128 * MIB).to_string());
    serve_once(&p, &root, 100);
    let e = limit_event(&p);
    assert_eq!(
        (e["memory_max"].clone(), e["defer"].clone()),
        (json!(256 * MIB), json!(true))
    );
}

#[test]
fn advisories_reach_stderr_and_the_event() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    let a = p.agent("ok.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 60", "");
    // a swap cap far below host swap, on the own leaf without memory.high
    capped(&root, Some(320 * MIB), Some(64 * MIB), None);
    let o = serve_once(&p, &root, 100);
    let e = limit_event(&p);
    assert_eq!(e["swap_cap_pct"], 12.5);
    let adv = e["advisory"].as_str().unwrap_or_default().to_string();
    assert!(
        adv.starts_with("cgroup memory.swap.max is far below host swap"),
        "{adv}"
    );
    assert!(
        adv.contains("; memory.max is set on this cgroup without memory.high"),
        "{adv}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("agent-runner: "))
            .collect::<Vec<_>>(),
        [format!("agent-runner: {adv}")],
        "one line: {err}"
    );
}

#[test]
fn a_capped_service_leaves_a_critical_streak_to_the_kernels_oom() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    capped(&root, Some(320 * MIB), Some(160 * MIB), Some(300 * MIB));
    let a = p.agent(
        "hog.sh",
        &format!(
            "cat >/dev/null\n{}\nsleep 1.5\nexit 0",
            agent_sets_psi(95.0, 75.0)
        ),
    );
    p.config(
        &a,
        "round_budget_s = 60",
        "[monitor.host_health.pressure]\ncritical_consecutive_samples = 1\n",
    );
    serve_once(&p, &root, 100);
    assert!(
        p.events_of("round_mem_terminated").is_empty(),
        "{:?}",
        p.kinds()
    );
    let d = p.events_of("mem_pressure_deferred_to_cgroup");
    assert_eq!(d.len(), 1, "once per episode");
    assert_eq!(payload_keys(&d[0]), ["pid", "signal", "message"]);
    assert_eq!(d[0]["signal"], "psi");
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], 0);
}

#[test]
fn round_accounting_and_an_oom_killed_round() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    capped(&root, Some(320 * MIB), Some(160 * MIB), Some(300 * MIB));
    let cg = root.cg_dir(LEAF).display().to_string();
    // grows to 250 MiB (seen by a tick), then the "kernel" OOM-kills it
    let a = p.agent(
        "oom.sh",
        &format!(
            "cat >/dev/null\necho partial output\necho {} > {cg}/memory.current\nsleep 0.6\nprintf 'low 0\\nhigh 5\\nmax 4\\noom 1\\noom_kill 1\\n' > {cg}/memory.events\nkill -9 $$",
            250 * MIB
        ),
    );
    p.config(&a, "round_budget_s = 60", "");
    serve_once(&p, &root, 100);
    let m = p.events_of("round_cgroup_memory");
    assert_eq!(m.len(), 1, "{:?}", p.kinds());
    assert_eq!(
        payload_keys(&m[0]),
        [
            "round_num",
            "memory_current_peak",
            "memory_swap_current_peak",
            "events_high_delta",
            "events_max_delta",
            "events_oom_delta",
            "events_oom_kill_delta",
            "bounding_cgroup_path",
            "io_psi_some_avg10",
            "io_psi_full_avg10",
            "psi_full_total"
        ]
    );
    assert_eq!(m[0]["memory_current_peak"], 250 * MIB);
    assert_eq!(m[0]["events_high_delta"], 3);
    assert_eq!(m[0]["events_max_delta"], 3);
    assert_eq!(m[0]["events_oom_kill_delta"], 1);
    assert_eq!(m[0]["bounding_cgroup_path"], LEAF);
    assert_eq!(p.events_of("agent_exit")[0]["exit_code"], -9);
    let k = p.events_of("round_oom_killed");
    assert_eq!(k.len(), 1, "{:?}", p.kinds());
    assert_eq!(
        payload_keys(&k[0]),
        [
            "round_num",
            "log_path",
            "log_bytes",
            "events_oom_kill_delta",
            "oom_kill_delta",
            "partial_log"
        ]
    );
    assert_eq!(k[0]["oom_kill_delta"], 1);
    assert_eq!(k[0]["events_oom_kill_delta"], 1);
    assert_eq!(k[0]["partial_log"], true);
    let log = k[0]["log_path"].as_str().unwrap_or_default();
    assert!(log.contains("/rounds/R1-"), "{log}");
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(k[0]["log_bytes"], "partial output\n".len());
    assert!(
        text.ends_with("\n[agent-runner] round log truncated: cgroup OOM-kill\n"),
        "{text:?}"
    );
}

#[test]
fn a_siblings_oom_is_not_blamed_and_missing_data_is_not_zeros() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    capped(&root, Some(320 * MIB), Some(160 * MIB), Some(300 * MIB));
    let cg = root.cg_dir(LEAF).display().to_string();
    let a = p.agent(
        "fine.sh",
        &format!("cat >/dev/null\nprintf 'oom 1\\noom_kill 1\\n' > {cg}/memory.events\nexit 0"),
    );
    p.config(&a, "round_budget_s = 60", "");
    serve_once(&p, &root, 100);
    assert_eq!(
        p.events_of("round_cgroup_memory")[0]["events_oom_kill_delta"],
        1
    );
    assert!(
        p.events_of("round_oom_killed").is_empty(),
        "a clean exit is not an OOM kill"
    );
    // no baseline (memory.events unreadable at round start): no event at all
    std::fs::remove_file(root.cg_dir(LEAF).join("memory.events")).unwrap_or_else(|e| panic!("{e}"));
    serve_once(&p, &root, 100);
    assert_eq!(p.events_of("round_cgroup_memory").len(), 1);
    // the bounding cgroup vanishes mid-round: no event either
    root.cg_events(LEAF, 1);
    let a = p.agent("vanish.sh", &format!("cat >/dev/null\nrm -rf {cg}\nexit 0"));
    p.config(&a, "round_budget_s = 60", "");
    serve_once(&p, &root, 100);
    assert_eq!(
        p.events_of("round_cgroup_memory").len(),
        1,
        "{:?}",
        p.kinds()
    );
    assert_eq!(p.events_of("round_end").len(), 3);
}

#[test]
fn growth_of_the_bounding_cgroup_is_a_cgroup_sourced_warning() {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    capped(&root, Some(320 * MIB), Some(160 * MIB), Some(300 * MIB));
    let cg = root.cg_dir(LEAF).display().to_string();
    let a = p.agent(
        "grow.sh",
        &format!("cat >/dev/null\nn={}\nfor i in 1 2 3 4 5 6 7 8; do n=$((n + {})); echo $n > {cg}/memory.current; sleep 0.1; done\nexit 0", 100 * MIB, 20 * MIB),
    );
    p.config(&a, "round_budget_s = 60", "");
    serve_once(&p, &root, 200);
    let g = p.events_of("cgroup_growth_rate_warning");
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0]["source"], "cgroup");
    assert_eq!(g[0]["threshold_mb_per_min"], 512.0);
}

/// Brake fixture: delegated leaf holding 400 MiB, memory.high unset.
fn brake_project(agent_body: &str) -> (Project, SysRoot) {
    let p = Project::new();
    let root = SysRoot::new(p.tmp.path());
    capped(&root, Some(900 * MIB), Some(160 * MIB), None);
    root.cg(LEAF, "memory.current", &(400 * MIB).to_string());
    let a = p.agent("brake.sh", agent_body);
    p.config(
        &a,
        "round_budget_s = 60",
        "[monitor.host_health.brake]\nmemory_high = true\nmemory_high_step_pct = 10\nwarning_consecutive_samples = 2\n",
    );
    (p, root)
}

/// An agent body: warning pressure until the brake engages (memory.high no
/// longer `max`), then `after`.
fn until_engaged(root_cg: &str, after: &str) -> String {
    format!(
        "cat >/dev/null\n{}\nfor i in $(seq 100); do [ \"$(cat {root_cg}/memory.high)\" != max ] && break; sleep 0.1; done\n{after}",
        agent_sets_psi(30.0, 0.0)
    )
}

#[test]
fn the_brake_engages_on_sustained_warning_and_releases_when_healthy() {
    let (p, root) = brake_project("true");
    let cg = root.cg_dir(LEAF).display().to_string();
    let body = until_engaged(
        &cg,
        &format!(
            "{}\nfor i in $(seq 100); do [ \"$(cat {cg}/memory.high)\" = max ] && break; sleep 0.1; done\nexit 0",
            agent_sets_psi(0.0, 0.0)
        ),
    );
    p.agent("brake.sh", &body);
    serve_once(&p, &root, 100);
    let e = p.events_of("memory_high_engaged");
    assert_eq!(e.len(), 1, "{:?}", p.kinds());
    assert_eq!(
        payload_keys(&e[0]),
        [
            "round_num",
            "previous",
            "written",
            "memory_current",
            "write_ms",
            "signal",
            "context",
            "rate_mb_per_min"
        ]
    );
    assert_eq!(e[0]["previous"], "max");
    assert_eq!(e[0]["written"], 360 * MIB);
    assert_eq!(e[0]["memory_current"], 400 * MIB);
    assert_eq!(e[0]["signal"], "psi");
    let r = p.events_of("memory_high_released");
    assert_eq!(r.len(), 1, "{:?}", p.kinds());
    assert_eq!(r[0]["reason"], "recovered");
    assert_eq!(
        root.cg_read(LEAF, "memory.high"),
        "max",
        "the old token is back"
    );
    let doc: Value = serde_json::from_slice(&p.run(&["peek", "--json"]).stdout).unwrap_or_default();
    assert_eq!(doc["brake"], "armed");
    let text = String::from_utf8_lossy(&p.run(&["peek"]).stdout).into_owned();
    assert!(text.contains("brake     memory.high armed"), "{text}");
}

#[test]
fn the_brake_is_released_at_round_end_and_a_failed_write_disarms_it() {
    let (p, root) = brake_project("true");
    let cg = root.cg_dir(LEAF).display().to_string();
    p.agent("brake.sh", &until_engaged(&cg, "exit 0"));
    serve_once(&p, &root, 100);
    assert_eq!(
        p.events_of("memory_high_engaged").len(),
        1,
        "{:?}",
        p.kinds()
    );
    assert_eq!(
        p.events_of("memory_high_released")[0]["reason"],
        "round_end"
    );
    assert_eq!(root.cg_read(LEAF, "memory.high"), "max");

    // memory.high that cannot be written (ENOSPC from /dev/full)
    let high = root.cg_dir(LEAF).join("memory.high");
    std::fs::remove_file(&high).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("/dev/full", &high).unwrap_or_else(|e| panic!("{e}"));
    p.agent(
        "brake.sh",
        &format!(
            "cat >/dev/null\n{}\nsleep 1.5\nexit 0",
            agent_sets_psi(30.0, 0.0)
        ),
    );
    serve_once(&p, &root, 100);
    let f = p.events_of("memory_high_write_failed");
    assert_eq!(
        f.len(),
        1,
        "disarmed after the first failure: {:?}",
        p.kinds()
    );
    assert_eq!(payload_keys(&f[0]), ["round_num", "errno"]);
    assert_eq!(f[0]["errno"], libc::ENOSPC);
    assert_eq!(p.events_of("memory_high_engaged").len(), 1, "no new engage");
}

#[test]
fn an_undelegated_leaf_leaves_the_brake_inert() {
    let (p, root) = brake_project("true");
    let cg = root.cg_dir(LEAF);
    // owned by someone else: not delegated to us
    nix::unistd::chown(&cg, Some(nix::unistd::Uid::from_raw(65534)), None)
        .unwrap_or_else(|e| panic!("chown (needs root): {e}"));
    p.agent(
        "brake.sh",
        &format!(
            "cat >/dev/null\n{}\nsleep 1.2\nexit 0",
            agent_sets_psi(30.0, 0.0)
        ),
    );
    let o = serve_once(&p, &root, 100);
    let e = limit_event(&p);
    assert_eq!(e["cgroup_delegated"], false);
    assert!(
        e["advisory"]
            .as_str()
            .unwrap_or_default()
            .contains("the soft-brake is inert"),
        "{e}"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("the soft-brake is inert"));
    assert!(p.events_of("memory_high_engaged").is_empty());
    assert_eq!(root.cg_read(LEAF, "memory.high"), "max", "nothing written");
    let doc: Value = serde_json::from_slice(&p.run(&["peek", "--json"]).stdout).unwrap_or_default();
    assert_eq!(doc["brake"], "inert(undelegated)");
}
