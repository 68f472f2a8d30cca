//! Drop-in compatibility with the Python tool 0.3.14 (installed by `.ci/run`;
//! path in `AGENT_RUNNER_PY`): it reads the log_dir our `round` writes, and we
//! continue a log_dir it wrote.

use crate::support::*;
use std::process::Command;

/// A config both tools accept (the Python tool refuses restart_delay_s = 0).
fn python_compatible_config(p: &Project, agent: &std::path::Path) {
    let cfg = p.config(agent, "round_budget_s = 30", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
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
fn python_peek_and_events_read_our_rounds() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo ok; exit 0");
    python_compatible_config(&p, &a);
    for _ in 0..3 {
        assert_eq!(p.run(&["round"]).status.code(), Some(0));
    }
    let cfg = p.dir.join("agent-runner.toml");
    let cfg = cfg.to_string_lossy();
    let o = py(
        &p,
        &[
            "--config",
            &cfg,
            "events",
            "--kind",
            "round_end",
            "--window",
            "5",
        ],
    );
    assert!(
        o.status.success(),
        "python events failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let rounds: Vec<i64> = lines
        .iter()
        .filter_map(|e| e["round_num"].as_i64())
        .collect();
    assert_eq!(rounds, vec![1, 2, 3]);
    let o = py(&p, &["--config", &cfg, "peek", "--json"]);
    assert!(
        o.status.success(),
        "python peek failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("peek json: {e}: {}", String::from_utf8_lossy(&o.stdout)));
    let text = doc.to_string();
    assert!(
        text.contains("\"round_num\":3") || text.contains("\"round_num\": 3"),
        "python peek does not see round 3: {text}"
    );
}

#[test]
fn we_continue_a_log_dir_written_by_the_python_tool() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo ok; exit 0");
    python_compatible_config(&p, &a);
    let cfg = p.dir.join("agent-runner.toml");
    // The Python tool stashes an untracked config away (its bug); commit it first.
    git(&p.dir, &["add", "agent-runner.toml"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    let o = py(&p, &["--config", &cfg.to_string_lossy(), "round"]);
    assert!(
        o.status.success(),
        "python round failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        p.events_of("round_end").len(),
        1,
        "python wrote: {:?}",
        p.kinds()
    );
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        p.events_of("status_recovered").is_empty(),
        "we could not read python's status.json"
    );
    let ends: Vec<i64> = p
        .events_of("round_end")
        .iter()
        .filter_map(|e| e["round_num"].as_i64())
        .collect();
    assert_eq!(ends, vec![1, 2]);
}
