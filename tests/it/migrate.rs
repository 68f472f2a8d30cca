//! `migrate` (0.3 delta §10) through the binary, checked by the Python tool
//! 0.3.14 itself: every 0.2-era config in tests/data/configs-0.2/ is refused
//! by it before (exit 78) and loaded after (`doctor` exits 0, its own
//! `migrate --dry-run` finds nothing to rewrite); our loader reads the same
//! settings before and after; comments survive; a backup is kept; a dry run
//! writes nothing; what needs a human is MANUAL (exit 1); bad input writes
//! nothing (exit 2).

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Output;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/configs-0.2");

/// A scratch project whose agent-runner.toml is the fixture `name`.
fn project_with(name: &str) -> (Project, PathBuf) {
    let p = Project::new();
    let cfg = p.dir.join("agent-runner.toml");
    std::fs::copy(Path::new(DATA).join(name), &cfg).unwrap_or_else(|e| panic!("{name}: {e}"));
    (p, cfg)
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The Python tool on the project's config: `args` after `--config`.
fn python(p: &Project, cfg: &Path, args: &[&str]) -> Output {
    std::process::Command::new(python_tool())
        .arg("--config")
        .arg(cfg)
        .args(args)
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .output()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Our loader's reading of `text` as the config at `cfg`, with the settings
/// migrate renames by design brought to their 0.3 form.
fn meaning(cfg: &Path, text: &str) -> String {
    let mut c = agent_runner::config::from_str(cfg, text).unwrap_or_else(|e| panic!("{e}"));
    c.schema_version = None;
    c.plugins.disable = c
        .plugins
        .disable
        .iter()
        .map(|d| {
            agent_runner::config::migrate::renamed_hook(d)
                .unwrap_or(d)
                .to_string()
        })
        .collect();
    format!("{c:?}")
}

/// The kitchen sink's settings after the migration, as it meant them.
fn kitchen_sink_values(cfg: &Path, text: &str) {
    use agent_runner::config::{DirtyAction, TransientErrorAction};
    let c = agent_runner::config::from_str(cfg, text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.agent.command, ["claude"]);
    assert_eq!(c.runtime.round_budget_s, 900);
    assert_eq!(c.runtime.transient_error_action, TransientErrorAction::Skip);
    assert_eq!(c.vcs.dirty_action, DirtyAction::AutoCommit);
    assert_eq!(c.monitor.auto_stop_on, ["oauth_fail"]);
    let h = &c.monitor.host_health;
    assert_eq!(
        (
            h.memory.avail_min_mb,
            h.memory.free_low_mb,
            h.memory.swap_out_noise_floor_mb
        ),
        (300, 20, 48)
    );
    assert_eq!((h.disk.warning_pct, h.disk.critical_pct), (85.0, 97.0));
    assert_eq!(
        (
            h.pressure.full_avg10_critical,
            h.pressure.some_avg10_warning
        ),
        (50.0, 4.0)
    );
    assert_eq!(h.pressure.critical_consecutive_samples, 4);
    assert!(!h.pressure.in_round_terminate);
    assert_eq!(c.phases.list, ["build"]);
    assert_eq!(c.budget_for(Some("build")), 3600);
    assert_eq!(c.plugins.disable, ["gemini", "claude"]);
    assert_eq!(c.prompt.files, [c.runtime.work_dir.join("prompts/main.md")]);
}

#[test]
fn every_0_2_config_migrates_to_one_the_python_tool_loads() {
    let mut names: Vec<String> = std::fs::read_dir(DATA)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml") && n != "manual.toml")
        .collect();
    names.sort();
    assert_eq!(names.len(), 7, "{names:?}");
    // the round-trip is against the release the spec describes
    let v = std::process::Command::new(python_tool())
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out(&v).trim(),
        "agent-runner 0.3.14",
        "AGENT_RUNNER_PY must be the Python tool 0.3.14"
    );
    for name in &names {
        let (p, cfg) = project_with(name);
        let before = read(&cfg);
        let o = python(&p, &cfg, &["doctor"]);
        assert_eq!(
            o.status.code(),
            Some(78),
            "{name}: the Python tool loads it unmigrated"
        );
        let o = p.run(&["migrate"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: {}{}",
            out(&o),
            String::from_utf8_lossy(&o.stderr)
        );
        let after = read(&cfg);
        assert_eq!(
            read(&p.dir.join("agent-runner.toml.bak")),
            before,
            "{name}: backup"
        );
        assert!(
            after.starts_with("schema_version = 1\n"),
            "{name}:\n{after}"
        );
        assert!(after.ends_with('\n'), "{name}: no final newline");
        // the Python tool 0.3.14 loads it and has nothing left to rewrite
        let o = python(&p, &cfg, &["doctor"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{name}: the Python tool refuses the result: {}\n{after}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = python(&p, &cfg, &["migrate", "--dry-run"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", out(&o));
        assert!(!out(&o).contains("rewrite:"), "{name}: {}", out(&o));
        // the same settings, read by our loader (which refuses the
        // kitchen sink's bare strings, so that one is checked by value)
        if name == "kitchen-sink.toml" {
            kitchen_sink_values(&cfg, &after);
        } else {
            assert_eq!(meaning(&cfg, &before), meaning(&cfg, &after), "{name}");
        }
        // and a second run has nothing to do
        let o = p.run(&["migrate"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(
            out(&o).contains("nothing to rewrite in "),
            "{name}: {}",
            out(&o)
        );
        assert!(
            !p.dir.join("agent-runner.toml.bak.1").exists(),
            "{name}: a second backup"
        );
    }
}

#[test]
fn migrate_lists_each_rewrite_prints_the_diff_and_keeps_comments() {
    let (p, cfg) = project_with("kitchen-sink.toml");
    let o = p.run(&["migrate"]);
    assert_eq!(o.status.code(), Some(0));
    let t = out(&o);
    for line in [
        "  rewrite: runtime.round_timeout_s → runtime.round_budget_s\n",
        "  rewrite: runtime.rate_limit_action → runtime.transient_error_action\n",
        "  rewrite: vcs.orphan_action → vcs.dirty_action\n",
        "  rewrite: phases.build.round_timeout_s → phases.build.round_budget_s\n",
        "  rewrite: monitor.host_health.in_round_mem_terminate → monitor.host_health.pressure.in_round_terminate\n",
        "  rewrite: agent.command \"claude\" → [\"claude\"]\n",
        "  rewrite: stamped schema_version = 1\n",
        "  NOTE:    phases.build.round_budget_s could move under [phases.build.runtime] (both forms load)\n",
        "-round_timeout_s = 900  # fifteen minutes\n+round_budget_s = 900  # fifteen minutes\n",
    ] {
        assert!(t.contains(line), "missing {line:?} in\n{t}");
    }
    assert!(
        t.contains(&format!(
            "--- {} (before)\n+++ {} (after)\n",
            cfg.display(),
            cfg.display()
        )),
        "{t}"
    );
    assert!(
        t.ends_with(&format!(
            "wrote {} (backup: agent-runner.toml.bak)\n",
            cfg.display()
        )),
        "{t}"
    );
    let after = read(&cfg);
    for kept in [
        "# the old flat host keys",
        "free_low_mb = 20      # MiB",
        "command = [\"claude\"]   # a bare string",
    ] {
        assert!(after.contains(kept), "{kept:?} lost:\n{after}");
    }
    assert!(
        !after.contains("[monitor.host_health]\n"),
        "an empty parent header is left:\n{after}"
    );
    // --json: the same, as one document
    let (p, cfg) = project_with("kitchen-sink.toml");
    let o = p.run(&["migrate", "--json", "--dry-run"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["path"], cfg.display().to_string());
    assert_eq!(v["written"], false);
    assert!(v["backup"].is_null());
    assert_eq!(v["manual"], serde_json::json!([]));
    assert!(v["applied"].as_array().is_some_and(|a| a.len() > 10));
    assert!(v["diff"]
        .as_str()
        .is_some_and(|d| d.contains("+schema_version = 1")));
}

#[test]
fn a_dry_run_writes_nothing() {
    let (p, cfg) = project_with("claude.toml");
    let before = read(&cfg);
    let o = p.run(&["migrate", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0));
    let t = out(&o);
    assert!(t.contains("+round_budget_s = 1800"), "{t}");
    assert!(
        t.ends_with("(dry-run \u{2014} no changes written)\n"),
        "{t}"
    );
    assert_eq!(read(&cfg), before);
    assert!(!p.dir.join("agent-runner.toml.bak").exists());
}

#[test]
fn manual_items_exit_1_after_the_automatic_rewrites_are_written() {
    let (p, cfg) = project_with("manual.toml");
    let o = p.run(&["migrate"]);
    assert_eq!(o.status.code(), Some(1));
    let t = out(&o);
    for m in [
        "  MANUAL:  agent.command = \"claude --verbose\" is one string with spaces; write it as a list of its words, e.g. [\"claude\", \"--verbose\"]\n",
        "  MANUAL:  runtime.round_timeout_per_phase was removed",
        "  MANUAL:  plugins.sandbox was removed",
        "  MANUAL:  plugins.disable: 'default_dirty_handler' has no successor",
    ] {
        assert!(t.contains(m), "missing {m:?} in\n{t}");
    }
    assert!(read(&cfg).contains("round_budget_s = 600"));
    assert!(p.dir.join("agent-runner.toml.bak").exists());
}

#[test]
fn an_older_backup_is_kept() {
    let (p, cfg) = project_with("gemini.toml");
    let before = read(&cfg);
    std::fs::write(p.dir.join("agent-runner.toml.bak"), "keep me\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["migrate"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out(&o).contains("(backup: agent-runner.toml.bak.1)"),
        "{}",
        out(&o)
    );
    assert_eq!(read(&p.dir.join("agent-runner.toml.bak")), "keep me\n");
    assert_eq!(read(&p.dir.join("agent-runner.toml.bak.1")), before);
    assert!(read(&cfg).contains("round_budget_s = 1800"));
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let p = Project::new();
    let cfg = p.dir.join("agent-runner.toml");
    std::fs::write(&cfg, "[runtime\nround_timeout_s = 1\n").unwrap_or_else(|e| panic!("{e}"));
    let o = p.run(&["migrate"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not valid TOML") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(read(&cfg), "[runtime\nround_timeout_s = 1\n");
    assert!(!p.dir.join("agent-runner.toml.bak").exists());
    let o = p.run(&["--config", "nope.toml", "migrate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config not found"));
}

#[test]
fn a_config_in_the_0_3_shape_is_left_alone() {
    let p = Project::new();
    let o = p.run(&["init", "--preset", "claude", "--no-commit"]);
    assert_eq!(o.status.code(), Some(0));
    let cfg = p.dir.join("agent-runner.toml");
    let before = read(&cfg);
    let o = p.run(&["migrate"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        out(&o),
        format!("nothing to rewrite in {}\n", cfg.display())
    );
    assert_eq!(read(&cfg), before);
    assert!(!p.dir.join("agent-runner.toml.bak").exists());
}
