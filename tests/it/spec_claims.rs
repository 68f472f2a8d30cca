//! Claims the docs made without a test (issue 16): the periodic metrics
//! sample while a round runs, `serve --once`, `restart` in pid-file mode, and
//! the systemd `show` path of `status` (a stand-in `systemctl` on PATH plays
//! the user manager; the Python tool 0.3.14 reads the same stand-in and the
//! two `status --json` documents are compared key by key).

use crate::json_compat::json_differences;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn alive(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists() && {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !st.contains(") Z ")
    }
}

#[test]
fn a_running_round_is_sampled_every_metrics_interval() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; sleep 4; exit 0");
    p.config(&a, "round_budget_s = 30\nmetrics_interval_s = 1", "");
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    let o = p.run(&["serve", "--max-rounds", "1"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text: String = std::fs::read_dir(p.log_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("metrics-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    let periodic: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "periodic")
        .collect();
    assert!(periodic.len() >= 2, "{text}");
    for s in &periodic {
        assert_eq!(s["round_num"], 1, "{s}");
        assert!(s["mem_total_mb"].as_u64().is_some_and(|m| m > 0), "{s}");
    }
}

#[test]
fn serve_once_runs_one_round_and_exits() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    let o = p.run(&["serve", "--once"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(p.events_of("agent_spawn").len(), 1, "{:?}", p.kinds());
    assert_eq!(p.events_of("round_end").len(), 1, "{:?}", p.kinds());
}

#[test]
fn restart_in_pid_mode_replaces_the_serve_process() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; sleep 2; exit 0");
    p.config(&a, "round_budget_s = 30", "");
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    struct KillOnDrop<'a>(&'a Project);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.run(&["kill"]);
        }
    }
    let _k = KillOnDrop(&p);
    let o = p.run(&["start"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = json_of(&p.run(&["status", "--json"]));
    assert_eq!(s["mode"], "pid_file");
    let first = s["pid"].as_i64().unwrap_or(0) as i32;
    assert!(alive(first), "{s}");
    let o = p.run(&["restart"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = json_of(&p.run(&["status", "--json"]));
    let second = s["pid"].as_i64().unwrap_or(0) as i32;
    assert_eq!(s["active"], true, "{s}");
    assert!(alive(second), "{s}");
    assert_ne!(second, first, "restart kept the old serve");
    assert!(
        wait_until(Duration::from_secs(10), || !alive(first)),
        "the old serve {first} is still running"
    );
}

#[test]
fn status_reads_systemd_through_show_like_python_reads_is_active() {
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
    let project = p
        .dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // the serve unit, as install writes it, and a live "MainPID"
    let units = p.home.join(".config/systemd/user");
    std::fs::create_dir_all(&units).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        units.join(format!("agent-runner@{project}.service")),
        "[Service]\nExecStart=/bin/true\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut main = Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let bin = p.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let calls = p.tmp.path().join("systemctl.log");
    let fake = format!(
        "#!/usr/bin/env bash\necho \"$*\" >> '{}'\ncase \" $* \" in\n  *' show '*) printf 'ActiveState=active\\nSubState=running\\nMainPID={}\\nExecMainStartTimestamp=\\n';;\n  *' is-active '*) echo active;;\n  *' is-system-running '*) echo running;;\nesac\nexit 0\n",
        calls.display(),
        main.id()
    );
    crate::support::write_exec(&bin.join("systemctl"), fake);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ours = p
        .cmd(&["status", "--json"])
        .env("PATH", &path)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let py = Command::new(python_tool())
        .args(["status", "--json"])
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .env("PATH", &path)
        .env_remove("XDG_CONFIG_HOME")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = main.kill();
    let _ = main.wait();
    let (o, y) = (json_of(&ours), json_of(&py));
    let log = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(
        log.contains(&format!("--user show agent-runner@{project}.service")),
        "{log}"
    );
    assert_eq!(o["mode"], "systemd_user", "{o}");
    assert_eq!(o["active"], true, "{o}");
    assert_eq!(o["pid"], main.id(), "{o}");
    assert!(o["uptime_s"].as_f64().is_some(), "{o}");
    assert_eq!(y["mode"], "systemd_user", "python: {y}");
    assert_eq!(y["active"], true, "python: {y}");
    let diff = json_differences(&y, &o);
    assert!(diff.is_empty(), "{diff:#?}\npython: {y}\nours: {o}");
}
