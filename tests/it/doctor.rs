//! The local `doctor` through the binary: the startup battery with each
//! check's `permanent` flag, window overlaps, the phase plan, the stop
//! settings, the memory report, every key's resolved value and source, and a
//! non-zero exit when a check fails; `--json` keeps the Python tool's keys.

use crate::support::sysroot::{SysRoot, MIB};
use crate::support::*;
use serde_json::Value;

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The resolved row of `key` in `doctor --json`.
fn row<'a>(v: &'a Value, key: &str) -> &'a Value {
    v["config"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["key"] == key))
        .unwrap_or_else(|| panic!("no config row {key}"))
}

#[test]
fn doctor_reports_the_battery_plan_config_and_memory() {
    // a claude preset where claude is not installed
    let p = Project::new();
    let o = p.run(&["init", "--preset", "claude", "--no-commit"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let cfg = p.dir.join("agent-runner.toml");
    let text0 = std::fs::read_to_string(&cfg).unwrap_or_default();
    std::fs::write(
        &cfg,
        text0
            .replace("round_budget_s = 1800", "round_budget_s = 1200")
            .replace("~/.agent-runner/proj/logs", "logs"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // a healthy host without cgroup v2 (a fixture tree, as below)
    let root = SysRoot::new(p.tmp.path());
    let mut c = p.cmd(&["doctor"]);
    root.apply(&mut c, None);
    let o = c
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(1), "a failed check exits 1");
    let t = text(&o);
    assert!(t.starts_with("checks:\n  [ok] config_loaded\n"), "{t}");
    assert!(
        t.contains("  [FAIL] agent_cli_in_path \u{2014} 'claude' not found on PATH (fix: install claude or set agent.command[0] to its absolute path) [permanent]"),
        "{t}"
    );
    assert!(
        t.contains("phase plan:\n  round 1: base\n  round 2: base\n  round 3: base\n"),
        "{t}"
    );
    assert!(
        t.contains("cooperative presets: claude (SIGINT), gemini (SIGTERM), pi (SIGTERM)\n"),
        "{t}"
    );
    assert!(
        t.contains("sigterm grace: 10s (cooperative, signal=SIGINT, agent=claude)\n"),
        "{t}"
    );
    assert!(
        t.contains("cgroup:\n  cgroup_path: None\n  memory_max: None\n  memory_high: None\n  delegated: None\n  brake: off\nmemory:\n"),
        "{t}"
    );
    assert!(t.contains("agent: claude (name: claude)\n"), "{t}");
    assert!(t.contains("FAIL: 1 check(s) failed"), "{t}");
    // where each value came from
    let line = |key: &str| {
        t.lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {t}"))
            .to_string()
    };
    assert!(line("agent.prompt_delivery").ends_with("= \"stdin\"  (preset claude)"));
    assert!(line("runtime.round_budget_s").ends_with("= 1200  (file)"));
    assert!(line("runtime.metrics_interval_s").ends_with("= 60  (default)"));

    let mut c = p.cmd(&["doctor", "--json", "--rounds", "5"]);
    root.apply(&mut c, None);
    let o = c
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["ok"], false);
    let failed: Vec<&Value> = v["checks"]
        .as_array()
        .map(|c| c.iter().filter(|c| c["ok"] == false).collect())
        .unwrap_or_default();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "agent_cli_in_path");
    assert_eq!(failed[0]["permanent"], true);
    assert_eq!(v["plan"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["sigterm_grace"]["resolved_s"], 10);
    assert_eq!(v["agent_name"], "claude");
    assert_eq!(v["memory"]["severity"], "healthy");
    assert_eq!(v["cgroup"]["brake"], "off");
    assert_eq!(
        row(&v, "agent.command")["source"],
        serde_json::json!({"preset": "claude"})
    );
    assert_eq!(row(&v, "runtime.round_budget_s")["value"], "1200");
    assert_eq!(row(&v, "runtime.round_budget_s")["source"], "file");
    assert_eq!(row(&v, "runtime.metrics_interval_s")["source"], "default");

    // a working config: every check passes, exit 0
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null");
    p.config(&a, "round_timeout_s = 900", "");
    let o = p.run(&["doctor"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.ends_with("ok: every check passed\n"), "{t}");
    assert!(
        t.contains("runtime.round_budget_s")
            && t.contains("= 900  (file, written as runtime.round_timeout_s)"),
        "{t}"
    );
    // the plan starts after the last recorded round
    std::fs::create_dir_all(p.log_dir()).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        p.log_dir().join("status.json"),
        "{\"round_num\": 7, \"running\": false, \"last_completed_at\": null, \"last_exit_code\": 0, \"last_duration_s\": 1.0, \"current_phase\": null, \"phase_index\": null}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let v = json(&p.run(&["doctor", "--json", "--rounds", "1"]));
    assert_eq!(v["plan"][0]["round"], 8);
}

#[test]
fn doctor_shows_overlaps_and_paused_phases() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null");
    p.config(
        &a,
        "",
        &format!(
            "[schedule]\ntimezone = \"UTC\"\n\n[phases]\nlist = [\"day\", \"night\", \"never\"]\n\n\
             [phases.day.agent]\ncommand = [\"{a}\"]\n[phases.day.schedule]\nrun_windows = [\"Mon-Sun 08:00-20:00\"]\n\n\
             [phases.night.agent]\ncommand = [\"{a}\"]\n[phases.night.schedule]\nrun_windows = [\"19:00-09:00\"]\n\n\
             [phases.never.schedule]\npause_windows = [\"00:00-24:00\"]\n",
            a = a.display()
        ),
    );
    let o = p.run(&["doctor", "--rounds", "3"]);
    let t = text(&o);
    assert!(
        t.contains("window overlaps:\n  day (Mon-Sun 08:00-20:00) vs night (19:00-09:00)\n"),
        "{t}"
    );
    // the third phase never runs: its round is paused with no resume time
    assert!(t.contains("  round 3: paused (00:00-24:00)\n"), "{t}");
    let v = json(&p.run(&["doctor", "--json"]));
    assert_eq!(
        v["overlaps"],
        serde_json::json!([{"phase_a": "day", "phase_b": "night", "window_a": "Mon-Sun 08:00-20:00", "window_b": "19:00-09:00"}])
    );
    let step = &v["plan"][2];
    assert_eq!(step["paused"], true);
    assert_eq!(step["resume_timezone"], "UTC");
    assert!(step["resume_at"].is_null());
    assert_eq!(step["active_window"], "00:00-24:00");
}

/// Our `doctor --json` has every key (and value type) of the Python tool's.
#[test]
fn doctor_json_keeps_the_python_tools_keys() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null");
    p.config(&a, "", "");
    // the Python tool wants a restart delay above 0
    let cfg = p.dir.join("agent-runner.toml");
    let t = std::fs::read_to_string(&cfg).unwrap_or_default();
    std::fs::write(
        &cfg,
        t.replace("restart_delay_s = 0", "restart_delay_s = 1"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ours = json(&p.run(&["doctor", "--json"]));
    let o = std::process::Command::new(python_tool())
        .args(["--json", "doctor"])
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let theirs: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    fn same_shape(path: &str, ours: &Value, theirs: &Value, out: &mut Vec<String>) {
        match (ours, theirs) {
            (Value::Object(o), Value::Object(t)) => {
                for (k, tv) in t {
                    match o.get(k) {
                        None => out.push(format!("{path}.{k} missing")),
                        Some(ov) => same_shape(&format!("{path}.{k}"), ov, tv, out),
                    }
                }
            }
            (Value::Array(o), Value::Array(t)) => {
                if let (Some(o0), Some(t0)) = (o.first(), t.first()) {
                    same_shape(&format!("{path}[0]"), o0, t0, out);
                }
            }
            // null on one side is "unknown", not another type
            (Value::Null, _) | (_, Value::Null) => {}
            (o, t) if std::mem::discriminant(o) == std::mem::discriminant(t) => {}
            (o, t) => out.push(format!("{path}: ours {o}, theirs {t}")),
        }
    }
    let mut diff = Vec::new();
    same_shape("", &ours, &theirs, &mut diff);
    assert!(diff.is_empty(), "{diff:?}");
}

/// doctor through a fixture tree (`AGENT_RUNNER_SYS_ROOT`): the cgroup v2
/// probe (limits over the ancestors, delegation, the defer guards, the
/// advisories), the brake state in each of its four forms, and the memory
/// verdict with what the admission gate would do.
#[test]
fn doctor_prints_the_cgroup_probe_the_brake_state_and_the_memory_verdict() {
    const LEAF: &str = "/system.slice/agent-runner.service";
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null");
    let brake = "[monitor.host_health.brake]\nmemory_high = true\n";
    p.config(&a, "", brake);
    let root = SysRoot::new(p.tmp.path());
    let doctor = |json: bool| {
        let mut c = p.cmd(if json {
            &["doctor", "--json"][..]
        } else {
            &["doctor"][..]
        });
        root.apply(&mut c, None);
        let o = c.output().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        o
    };

    // no cgroup v2 (this CI machine's hybrid layout), a healthy host
    let t = text(&doctor(false));
    assert!(
        t.contains("cgroup:\n  cgroup_path: None\n  memory_max: None\n  memory_high: None\n  delegated: None\n  brake: inert(no cgroup v2)\n"),
        "{t}"
    );
    assert!(
        t.contains("memory:\n  cgroup v2: not here (no /sys/fs/cgroup/cgroup.controllers): no limit is read, a critical streak is never left to the kernel's OOM\n  brake: inert(no cgroup v2)\n"),
        "{t}"
    );
    assert!(
        t.contains("  verdict: healthy; PSI memory some avg10=0.0 full avg10=0.0, MemAvailable 600 MB, MemFree 300 MB\n  gate: serve would start the next round\n"),
        "{t}"
    );
    let v = json(&doctor(true));
    assert_eq!(v["cgroup"]["brake"], "inert(no cgroup v2)");
    assert_eq!(v["cgroup"]["cgroup_v2"], false);
    assert_eq!(v["memory"]["severity"], "healthy");
    assert_eq!(v["memory"]["gate"], "admit");

    // a capped, delegated service (MemoryMax=320M, MemorySwapMax=160M on a
    // 1 GiB host with 512 MiB swap) under critical PSI
    root.cgroup_v2(LEAF);
    root.cg(LEAF, "memory.max", &(320 * MIB).to_string());
    root.cg(LEAF, "memory.swap.max", &(160 * MIB).to_string());
    root.cg(LEAF, "memory.high", "max");
    for parent in ["/system.slice", "/"] {
        root.cg(parent, "memory.max", "max");
    }
    root.psi(95.0, 75.0);
    let t = text(&doctor(false));
    let mib = 320 * MIB;
    assert!(
        t.contains(&format!("cgroup:\n  cgroup_path: {LEAF}\n  memory_max: {mib}\n  memory_high: None\n  delegated: True\n  brake: armed\nmemory:\n  cgroup v2: {LEAF} (memory controller on)\n  limits: memory.max 320.0 MiB, memory.swap.max 160.0 MiB, memory.high unlimited\n  delegated: yes\n  defer to the kernel's OOM: yes\n  brake: armed\n  advisory: memory.max is set on this cgroup without memory.high")),
        "{t}"
    );
    assert!(
        t.contains("  verdict: critical (psi): PSI memory full avg10=75.0 (every task stalled on reclaim); PSI memory some avg10=95.0 full avg10=75.0, MemAvailable 600 MB, MemFree 300 MB\n  gate: serve would defer the next round (round_deferred) until the host is no longer critical\n"),
        "{t}"
    );
    let v = json(&doctor(true));
    let c = &v["cgroup"];
    assert_eq!(c["cgroup_path"], LEAF);
    assert_eq!(c["memory_max"], 320 * MIB);
    assert_eq!(c["memory_swap_max"], 160 * MIB);
    assert_eq!(c["memory_high"], Value::Null);
    assert_eq!(c["delegated"], true);
    assert_eq!(c["brake"], "armed");
    assert_eq!(c["defer"], true);
    assert_eq!(c["bounding_cgroup_path"], LEAF);
    let m = &v["memory"];
    assert_eq!(m["severity"], "critical");
    assert_eq!(m["signal"], "psi");
    assert_eq!(m["gate"], "defer");
    assert_eq!(m["sample"]["psi_full_avg10"], 75.0);

    // the same leaf owned by someone else: the brake is inert, upstream's hint
    nix::unistd::chown(
        &root.cg_dir(LEAF),
        Some(nix::unistd::Uid::from_raw(65534)),
        None,
    )
    .unwrap_or_else(|e| panic!("chown (needs root): {e}"));
    root.psi(30.0, 0.0);
    let t = text(&doctor(false));
    assert!(
        t.contains("  delegated: False\n  brake: inert(undelegated)\n  hint: memory.high on this cgroup is not writable by this process; the soft-brake is inert."),
        "{t}"
    );
    assert!(
        t.contains(
            "  verdict: warning (psi): PSI memory some avg10=30.0 (reclaim is slowing progress);"
        ),
        "{t}"
    );
    assert!(
        t.contains("  gate: serve would start the next round\n"),
        "{t}"
    );
    let v = json(&doctor(true));
    assert_eq!(v["cgroup"]["brake"], "inert(undelegated)");
    assert_eq!(v["memory"]["severity"], "warning");

    // the brake not configured: off, whatever the cgroup
    p.config(&a, "", "");
    let v = json(&doctor(true));
    assert_eq!(v["cgroup"]["brake"], "off");
    assert_eq!(v["memory"]["brake_configured"], false);
}
