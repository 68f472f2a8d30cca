//! Two phases that run their own agents with run windows that meet: `serve`
//! refuses to boot (78, pointing at `doctor`) and the startup battery fails
//! `phase_window_overlap`, as the Python tool 0.3.14 does (0.3 delta §3.11).

use crate::support::*;
use std::process::Command;

const PHASES: &str = "[phases]\nlist = [\"day\", \"night\"]\n\n[phases.day.agent]\ncommand = [\"/bin/true\"]\n\n[phases.day.schedule]\nrun_windows = [\"Mon-Fri 08:00-18:00\"]\n\n[phases.night.agent]\ncommand = [\"/bin/true\"]\n\n[phases.night.schedule]\nrun_windows = [\"17:00-09:00\"]\n";

fn project(tail: &str) -> Project {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let cfg = p.config(&a, "round_budget_s = 30", tail);
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "agent-runner.toml"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    p
}

fn py(p: &Project, args: &[&str]) -> std::process::Output {
    Command::new(python_tool())
        .args(args)
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .output()
        .unwrap_or_else(|e| panic!("python tool: {e}"))
}

#[test]
fn serve_refuses_to_boot_on_overlapping_agent_phases_as_python_does() {
    let p = project(PHASES);
    let o = p.run(&["serve", "--max-rounds", "1"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(
        err.contains("phase-window overlap: day (Mon-Fri 08:00-18:00) vs night (17:00-09:00)")
            && err.contains("agent-runner doctor"),
        "{err}"
    );
    assert!(p.events_of("round_start").is_empty(), "{:?}", p.kinds());
    assert_eq!(p.events_of("config_broken").len(), 1, "{:?}", p.kinds());
    let theirs = py(&p, &["serve", "--max-rounds", "1"]);
    assert_eq!(theirs.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&theirs.stderr)
        .contains("phase-window overlap: day (Mon-Fri 08:00-18:00) vs night (17:00-09:00)"));
}

#[test]
fn round_fails_the_phase_window_overlap_check_permanently() {
    let p = project(PHASES);
    let o = p.run(&["round"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(78), "{err}");
    assert!(
        err.contains("STARTUP FAIL: phase_window_overlap: overlapping agent-phase run_windows: day (Mon-Fri 08:00-18:00) vs night (17:00-09:00)"),
        "{err}"
    );
    let f = p.events_of("smoke_check_failed");
    assert!(
        f.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("phase_window_overlap: "))),
        "{f:?}"
    );
}

#[test]
fn a_pause_window_carving_out_the_overlap_lets_serve_boot() {
    let tail = PHASES.replace(
        "run_windows = [\"17:00-09:00\"]",
        "run_windows = [\"17:00-09:00\"]\npause_windows = [\"17:00-18:00\", \"08:00-09:00\"]",
    );
    let p = project(&tail);
    let o = p.run(&["serve", "--max-rounds", "1", "--ignore-schedule"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(p.events_of("config_broken").is_empty(), "{:?}", p.kinds());
}
