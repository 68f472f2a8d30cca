//! The local `doctor` through the binary: the startup battery with each
//! check's `permanent` flag, window overlaps, the phase plan, the stop
//! settings, the memory report, every key's resolved value and source, and a
//! non-zero exit when a check fails; `--json` keeps the Python tool's keys.

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
    let o = p
        .cmd(&["doctor"])
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
        t.contains("cgroup:\n  not available in this build\n  brake: off\n"),
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

    let o = p
        .cmd(&["doctor", "--json", "--rounds", "5"])
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
    assert_eq!(v["memory"]["available"], false);
    assert_eq!(v["memory"]["reason"], "not available in this build");
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
