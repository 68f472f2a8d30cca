//! Containers around the agent (0.3 delta §3.15), with a stand-in `docker`
//! on PATH that writes the container id to the `--cidfile` it is given and
//! records `stop`: the plain form gets a private cidfile and a killed round
//! stops the container and records `round_container_orphan_risk`; a wrapped
//! form records the risk without an id; the two boot checks fail
//! permanently (78) as they do in the Python tool 0.3.14.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A `docker` that records its argv, writes `ID` to a `--cidfile`, runs the
/// rest as the "container" (a long sleep), and records `stop`.
fn fake_docker(p: &Project) -> PathBuf {
    let bin = p.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let rec = p.tmp.path().join("docker.log");
    let script = format!(
        "#!/usr/bin/env bash\necho \"$*\" >> '{rec}'\nif [ \"$1\" = stop ]; then exit 0; fi\nwhile [ $# -gt 0 ]; do case \"$1\" in --cidfile) printf '{ID}' > \"$2\"; shift 2;; *) shift;; esac; done\ncat >/dev/null\nexec sleep 60\n",
        rec = rec.display()
    );
    let d = bin.join("docker");
    crate::support::write_exec(&d, script);
    bin
}

fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The config with `exec_prefix` and, unless `logs_inside`, a log_dir
/// outside the work_dir; returns the log_dir.
fn container_config(p: &Project, prefix: &str, logs_inside: bool) -> PathBuf {
    let a = p.agent("agent.sh", "cat >/dev/null; sleep 60");
    let cfg = p.config(&a, "round_budget_s = 2", "");
    let logs = if logs_inside {
        p.log_dir()
    } else {
        p.tmp.path().join("outside-logs")
    };
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace(
            "prompt_arg_template = []",
            &format!("prompt_arg_template = []\nexec_prefix = {prefix}"),
        )
        .replace(
            "log_dir = \"logs\"",
            &format!("log_dir = \"{}\"", logs.display()),
        )
        // 0.3.14 refuses 0 here
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    logs
}

fn events_in(logs: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_dir(logs)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events-"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .collect::<Vec<_>>()
        })
        .filter(|v| v["event"] == kind)
        .collect()
}

#[test]
fn a_killed_plain_docker_round_stops_its_container_and_records_the_risk() {
    let p = Project::new();
    let bin = fake_docker(&p);
    let logs = container_config(&p, "[\"docker\", \"run\", \"-i\", \"img\"]", false);
    let o = p.cmd(&["round"]).env("PATH", path_with(&bin)).output();
    let o = o.unwrap_or_else(|e| panic!("{e}"));
    let rec = std::fs::read_to_string(p.tmp.path().join("docker.log")).unwrap_or_default();
    let runs: Vec<&str> = rec.lines().filter(|l| l.starts_with("run ")).collect();
    assert_eq!(
        runs.len(),
        1,
        "{rec}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(runs[0].starts_with("run --cidfile /"), "{}", runs[0]);
    let cidfile = runs[0].split(' ').nth(2).unwrap_or_default();
    assert!(
        !Path::new(cidfile).exists(),
        "the private cidfile was left behind"
    );
    assert!(rec.contains(&format!("stop -t 5 -- {ID}")), "{rec}");
    let ev = events_in(&logs, "round_container_orphan_risk");
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(
        payload_keys(&ev[0]),
        ["round_num", "runtime", "container_id", "stop_ok"]
    );
    assert_eq!(ev[0]["runtime"], "docker");
    assert_eq!(ev[0]["container_id"], ID);
    assert_eq!(ev[0]["stop_ok"], true);
}

#[test]
fn a_wrapped_docker_round_records_the_risk_without_a_stop() {
    let p = Project::new();
    let bin = fake_docker(&p);
    let logs = container_config(
        &p,
        "[\"env\", \"A=1\", \"docker\", \"run\", \"-i\", \"img\"]",
        false,
    );
    let o = p.cmd(&["round"]).env("PATH", path_with(&bin)).output();
    let o = o.unwrap_or_else(|e| panic!("{e}"));
    let rec = std::fs::read_to_string(p.tmp.path().join("docker.log")).unwrap_or_default();
    assert!(!rec.contains("--cidfile"), "{rec}");
    assert!(!rec.contains("stop"), "{rec}");
    let ev = events_in(&logs, "round_container_orphan_risk");
    assert_eq!(ev.len(), 1, "{ev:?} {}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ev[0]["container_id"], Value::Null);
    assert_eq!(ev[0]["stop_ok"], Value::Null);
}

#[test]
fn container_boot_checks_fail_permanently_as_in_python() {
    let p = Project::new();
    let bin = fake_docker(&p);
    // stdin delivery without -i, and log_dir inside the mounted work_dir
    container_config(&p, "[\"docker\", \"run\", \"--rm\", \"img\"]", true);
    let ours = p.cmd(&["round"]).env("PATH", path_with(&bin)).output();
    let ours = ours.unwrap_or_else(|e| panic!("{e}"));
    let py = Command::new(python_tool())
        .arg("round")
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .env("PATH", path_with(&bin))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let (oe, pe) = (
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&py.stderr),
    );
    assert_eq!(py.status.code(), Some(78), "{pe}");
    assert_eq!(ours.status.code(), Some(78), "{oe}");
    for name in [
        "stdin_container_interactive",
        "control_plane_outside_container",
    ] {
        let line = format!("STARTUP FAIL: {name}:");
        assert!(pe.contains(&line), "python: {pe}");
        assert!(oe.contains(&line), "ours: {oe}");
    }
    let rec = std::fs::read_to_string(p.tmp.path().join("docker.log")).unwrap_or_default();
    assert!(rec.is_empty(), "the agent ran: {rec}");
}
