//! The config module: loading (0.2 and 0.3 files, the Python tool's own
//! presets), one-line errors naming file and key, path rules, presets and
//! `init` through the real binary with real git.

use crate::support::python_tool;

use agent_runner::config::presets;
use agent_runner::config::{
    load, scaffold_paths, Config, ConfigError, ContextMode, DirtyAction, PhasePolicy,
    PromptDelivery, TransientErrorAction,
};
use agent_runner::scaffold::{self, ScaffoldOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::BIN;

// ---------------------------------------------------------------- helpers

/// A git command with an identity and no user/system config.
fn git_cmd(dir: &Path, home: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid");
    c
}

fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    let out = git_cmd(dir, home).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Project {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    dir: PathBuf,
}

/// A fresh folder `<tmp>/<name>` (a git repo when `repo`), with its own HOME.
fn project(name: &str, repo: bool) -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let home = root.join("home");
    let dir = root.join(name);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    if repo {
        git(&dir, &home, &["init", "-q"]);
    }
    Project {
        _tmp: tmp,
        home,
        dir,
    }
}

fn run(p: &Project, args: &[&str]) -> Output {
    let mut c = git_cmd(&p.dir, &p.home);
    c.env_remove("RUST_LOG");
    let mut cmd = Command::new(BIN);
    cmd.current_dir(&p.dir).args(args);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const BASE: &str = r#"schema_version = 1
[agent]
command = ["x"]
prompt_arg_template = ["{prompt}"]
[runtime]
work_dir = "."
log_dir = "logs"
[prompt]
file = "p.md"
"#;

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("agent-runner.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn load_text(text: &str) -> (Project, Result<Config, ConfigError>) {
    let p = project("proj", false);
    let path = write_config(&p.dir, text);
    let r = load(&path);
    (p, r)
}

/// Load `text`, expect an error; check it is one line naming file and key.
fn expect_error(text: &str, key: &str, phrase: &str) -> String {
    let (p, r) = load_text(text);
    let e = match r {
        Ok(_) => panic!("accepted, expected an error on '{key}':\n{text}"),
        Err(e) => e,
    };
    let msg = e.to_string();
    let file = p.dir.join("agent-runner.toml");
    assert!(
        msg.starts_with(&format!("{}: ", file.display())),
        "message does not start with the file: {msg}"
    );
    assert!(
        msg.contains(&format!(": {key}: ")) || msg.contains(&format!(": {key} ")),
        "message does not name '{key}': {msg}"
    );
    assert!(msg.contains(phrase), "message lacks '{phrase}': {msg}");
    assert!(!msg.contains('\n'), "message is not one line: {msg}");
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e:?}");
    msg
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME must be set for the tests"))
}

// ------------------------------------------ (a) the Python tool's presets

struct Expect {
    command: &'static [&'static str],
    template: &'static [&'static str],
    delivery: PromptDelivery,
    env: &'static [(&'static str, &'static str)],
    marker: &'static str,
    hint_start: &'static str,
}

fn expected(preset: &str) -> Expect {
    let result = r#""type":"result""#;
    match preset {
        "aider" => Expect {
            command: &[
                "aider",
                "--yes-always",
                "--no-stream",
                "--analytics-disable",
            ],
            template: &["--message", "{prompt}"],
            delivery: PromptDelivery::Argv,
            env: &[],
            marker: result,
            hint_start: "Verify your model provider env var",
        },
        "claude" => Expect {
            command: &[
                "claude",
                "--model",
                "claude-opus-5",
                "--dangerously-skip-permissions",
                "--verbose",
                "--output-format",
                "stream-json",
            ],
            template: &["-p"],
            delivery: PromptDelivery::Stdin,
            env: &[
                ("DISABLE_AUTOUPDATER", "1"),
                ("CLAUDE_CODE_EFFORT_LEVEL", "xhigh"),
            ],
            marker: result,
            hint_start: "Run `claude /login`",
        },
        "codewhale" => Expect {
            command: &[
                "codewhale",
                "exec",
                "--auto",
                "--output-format",
                "stream-json",
            ],
            template: &["{prompt}"],
            delivery: PromptDelivery::Argv,
            env: &[],
            marker: r#""type":"metadata""#,
            hint_start: "Run `codewhale auth status`",
        },
        "gemini" => Expect {
            command: &["gemini", "--yolo", "--skip-trust", "-o", "stream-json"],
            template: &["-p", "{prompt}"],
            delivery: PromptDelivery::Argv,
            env: &[],
            marker: result,
            hint_start: "Verify your API key",
        },
        "kimi" => Expect {
            command: &["kimi", "--output-format", "stream-json"],
            template: &["-p", "{prompt}"],
            delivery: PromptDelivery::Argv,
            env: &[
                ("KIMI_CODE_NO_AUTO_UPDATE", "1"),
                ("KIMI_DISABLE_TELEMETRY", "1"),
            ],
            marker: result,
            hint_start: "Configure Kimi model access",
        },
        "pi" => Expect {
            command: &[
                "pi",
                "-p",
                "-na",
                "--mode",
                "json",
                "--model",
                "PROVIDER/MODEL",
            ],
            template: &["{prompt}"],
            delivery: PromptDelivery::Argv,
            env: &[("PI_OFFLINE", "1")],
            marker: r#""type":"agent_end""#,
            hint_start: "Configure a pi provider",
        },
        other => panic!("no expectation for {other}"),
    }
}

const PYTHON_PRESETS: &[&str] = &["aider", "claude", "codewhale", "gemini", "kimi", "pi"];

#[test]
fn python_presets_load_unchanged_with_expected_values() {
    let py = python_tool();
    for preset in PYTHON_PRESETS {
        let p = project(&format!("proj-{preset}"), true);
        let out = Command::new(&py)
            .args(["init", "--preset", preset, "--no-commit"])
            .current_dir(&p.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python init --preset {preset} failed: {}",
            stderr(&out)
        );
        let path = p.dir.join("agent-runner.toml");
        let cfg = load(&path).unwrap_or_else(|e| panic!("python preset {preset} rejected: {e}"));
        let want = expected(preset);
        let project = format!("proj-{preset}");
        assert_eq!(cfg.schema_version, Some(1), "{preset}");
        assert_eq!(cfg.project, project);
        assert_eq!(cfg.agent.command, want.command, "{preset}");
        assert_eq!(cfg.agent.prompt_arg_template, want.template, "{preset}");
        assert_eq!(cfg.agent.prompt_delivery, want.delivery, "{preset}");
        assert_eq!(cfg.agent.name.as_deref(), Some(*preset));
        let env: Vec<(&str, &str)> = cfg
            .agent
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(env, want.env, "{preset}");
        assert_eq!(cfg.agent.terminal_marker, want.marker, "{preset}");
        assert_eq!(cfg.runtime.work_dir, p.dir);
        assert_eq!(
            cfg.runtime.log_dir,
            home().join(format!(".agent-runner/{project}/logs"))
        );
        assert_eq!(cfg.runtime.round_budget_s, 1800);
        assert_eq!(cfg.runtime.restart_delay_s, 3);
        assert_eq!(cfg.prompt.file, Some(p.dir.join("prompts/main.md")));
        assert!(cfg.prompt.inject_context);
        assert_eq!(cfg.vcs.dirty_action, DirtyAction::Stash);
        assert_eq!(cfg.vcs.stash_idempotency_s, 5);
        assert!(
            cfg.monitor.auth_fail_hint.starts_with(want.hint_start),
            "{preset}: {}",
            cfg.monitor.auth_fail_hint
        );
        if *preset == "claude" {
            assert_eq!(cfg.monitor.anomaly_repetitive_window, 30);
            assert_eq!(cfg.monitor.anomaly_repetitive_threshold, 15);
            let pats: Vec<&str> = cfg
                .runtime
                .grace_kill_ignore_patterns
                .iter()
                .map(|r| r.as_str())
                .collect();
            assert_eq!(pats, [r"\.claude/shell-snapshots/snapshot-bash-"]);
        } else {
            assert_eq!(cfg.monitor.anomaly_repetitive_window, 0);
            assert!(cfg.runtime.grace_kill_ignore_patterns.is_empty());
        }

        // Our own preset of the same name gives the same values.
        let ours_dir = p.dir.join("ours");
        std::fs::create_dir_all(&ours_dir).unwrap();
        let text = presets::render(preset, &project, None).unwrap();
        let ours = load(&write_config(&ours_dir, &text)).unwrap();
        assert_eq!(ours.agent, cfg.agent, "{preset}");
        assert_eq!(ours.vcs, cfg.vcs, "{preset}");
        assert_eq!(ours.runtime.round_budget_s, cfg.runtime.round_budget_s);
        assert_eq!(ours.runtime.log_dir, cfg.runtime.log_dir);
        assert_eq!(ours.monitor.auth_fail_hint, cfg.monitor.auth_fail_hint);
        assert_eq!(
            ours.monitor.anomaly_repetitive_threshold,
            cfg.monitor.anomaly_repetitive_threshold
        );
    }
}

#[test]
fn python_tool_loads_our_presets() {
    let py = python_tool();
    let python = py.parent().unwrap().join("python");
    // `demo` uses restart_delay_s = 0, which only we accept (docs/compat.md).
    for name in presets::preset_names().into_iter().filter(|n| *n != "demo") {
        let p = project("proj", false);
        let script = p.dir.join(presets::DEMO_AGENT_FILE);
        let text = presets::render(name, "proj", Some(&script)).unwrap();
        let path = write_config(&p.dir, &text);
        let out = Command::new(&python)
            .arg("-c")
            .arg(
                "import sys; from pathlib import Path; \
                 from agent_runner.config import load_config; \
                 c = load_config(Path(sys.argv[1])); print(c.agent.command[0])",
            )
            .arg(&path)
            .env("HOME", &p.home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the Python tool rejects our preset {name}: {}",
            stderr(&out)
        );
    }
}

// ------------------------------------------------------ (b) 0.2-style files

#[test]
fn config_0_2_style_loads() {
    let text = r#"
[agent]
command = ["claude", "--verbose"]
prompt_arg_template = ["-p", "{prompt}"]
name = "claude"
[agent.env]
FOO = "bar"
N = 1

[runtime]
work_dir = "."
log_dir = "~/.agent-runner/{project}/logs"
round_timeout_s = 900
restart_delay_s = 5
round_log_retention = 100
disable_pre_round_hooks = true
stop_file = "STOP"
transient_error_action = "skip"

[prompt]
files = ["prompts/a.md", "prompts/b.md"]
context_injection_mode = "file"

[vcs]
dirty_action = "auto_commit"

[monitor]
auto_stop_on = []
[monitor.host_health]
mem_avail_min_mb = 300
disk_warning_pct = 80
disk_critical_pct = 92.5

[phases]
list = ["build", "review"]
[phases.review]
round_timeout_s = 300
disable_pre_round_hooks = false
prompt.files = ["prompts/review.md"]

[plugins]
disable = ["claude_error_detector"]
"#;
    let (p, r) = load_text(text);
    let c = r.unwrap();
    assert_eq!(c.schema_version, None);
    assert_eq!(c.runtime.round_budget_s, 900);
    assert_eq!(c.runtime.restart_delay_s, 5);
    assert_eq!(c.runtime.round_log_retention, 100);
    assert_eq!(c.runtime.stop_file, Some(p.dir.join("STOP")));
    assert_eq!(c.runtime.transient_error_action, TransientErrorAction::Skip);
    assert_eq!(c.runtime.log_dir, home().join(".agent-runner/proj/logs"));
    assert_eq!(
        c.agent.env,
        [
            ("FOO".to_string(), "bar".to_string()),
            ("N".to_string(), "1".to_string())
        ]
    );
    assert_eq!(
        c.prompt.global_files(),
        [p.dir.join("prompts/a.md"), p.dir.join("prompts/b.md")]
    );
    assert_eq!(c.prompt.context_injection_mode, ContextMode::File);
    assert_eq!(c.vcs.dirty_action, DirtyAction::AutoCommit);
    assert!(c.monitor.auto_stop_on.is_empty());
    assert_eq!(c.monitor.host_health.memory.avail_min_mb, 300);
    assert_eq!(c.monitor.host_health.disk.warning_pct, 80.0);
    assert_eq!(c.monitor.host_health.disk.critical_pct, 92.5);
    assert_eq!(c.monitor.host_health.memory.free_low_mb, 16);
    assert_eq!(c.phases.list, ["build", "review"]);
    assert_eq!(c.phases.phase_policy, PhasePolicy::Wait);
    assert_eq!(c.budget_for(Some("review")), 300);
    assert_eq!(c.budget_for(Some("build")), 900);
    assert_eq!(c.max_budget(), 900);
    assert_eq!(
        c.prompt_files_for(Some("review")),
        [p.dir.join("prompts/review.md")]
    );
    assert_eq!(c.phase_for_round(4), Some((1, "review")));
    assert_eq!(c.supervisor_stale_threshold_s(), 1350);
    assert_eq!(c.plugins.disable, ["claude_error_detector"]);
}

#[test]
fn config_0_3_style_loads_with_every_table() {
    let text = r#"schema_version = 1
[agent]
command = ["claude"]
prompt_arg_template = ["-p"]
prompt_delivery = "stdin"
exec_prefix = ["docker", "run", "-v", "{work_dir}:/w", "img"]
sigterm_grace_s = 12
terminal_marker = ""

[runtime]
work_dir = "."
log_dir = "/var/tmp/{project}-logs"
round_budget_s = 1200
restart_delay_s = 0
metrics_interval_s = 0
max_rounds = 10
fresh_eyes_every_n = 3
max_grace_after_result_s = 30

[prompt]
files = ["prompts/main.md", "/var/tmp/proj-logs/lessons.md"]

[monitor]
remote_failure_tolerance_s = 3600
supervisor_stale_threshold_s = 0
[monitor.host_health.memory]
avail_min_mb = 0
[monitor.host_health.disk]
critical_pct = 97
growth_window_s = 600
[monitor.host_health.pressure]
full_avg10_critical = 40.0
in_round_nudge = true
[monitor.host_health.brake]
memory_high = true
memory_high_step_pct = 50

[phases]
list = ["day", "night"]
phase_policy = "skip"
[phases.night]
runtime.round_budget_s = 3600
prompt.files = ["prompts/night.md", "/var/tmp/proj-logs/lessons.md"]
[phases.night.agent]
command = ["gemini"]
prompt_delivery = "argv"
prompt_arg_template = ["-p", "{prompt}"]
[phases.night.schedule]
run_windows = ["22:00-06:00"]

[schedule]
pause_windows = ["Sat,Sun 00:00-24:00"]

[goal]
ledger = "/var/tmp/proj-logs/lessons.md"
[[goal.checks]]
name = "tests"
cmd = ["cargo", "test"]
timeout_s = 30
"#;
    let (p, r) = load_text(text);
    let c = r.unwrap();
    assert_eq!(c.schema_version, Some(1));
    assert_eq!(c.agent.prompt_delivery, PromptDelivery::Stdin);
    assert_eq!(c.agent.exec_prefix.len(), 5);
    assert_eq!(c.agent.sigterm_grace_s, 12);
    assert_eq!(c.agent.terminal_marker, "");
    assert_eq!(
        c.runtime.restart_delay_s, 0,
        "restart_delay_s = 0 is accepted"
    );
    assert_eq!(c.runtime.metrics_interval_s, 0);
    assert_eq!(c.runtime.log_dir, Path::new("/var/tmp/proj-logs"));
    assert_eq!(c.runtime.max_rounds, Some(10));
    assert_eq!(c.monitor.remote_failure_tolerance_s, 3600);
    assert_eq!(c.supervisor_stale_threshold_s(), 0);
    assert_eq!(c.monitor.host_health.memory.avail_min_mb, 0);
    assert_eq!(c.monitor.host_health.disk.critical_pct, 97.0);
    assert_eq!(c.monitor.host_health.disk.warning_pct, 90.0);
    assert_eq!(c.monitor.host_health.disk.growth_window_s, 600);
    assert!(c.monitor.host_health.pressure.in_round_nudge);
    assert_eq!(c.monitor.host_health.brake.memory_high_step_pct, 50);
    assert_eq!(c.phases.phase_policy, PhasePolicy::Skip);
    assert_eq!(c.budget_for(Some("night")), 3600);
    assert_eq!(c.max_budget(), 3600);
    assert_eq!(
        c.prompt_files_for(Some("night")),
        [
            p.dir.join("prompts/night.md"),
            PathBuf::from("/var/tmp/proj-logs/lessons.md")
        ]
    );
    assert_eq!(
        c.prompt_files_for(Some("day")),
        [
            p.dir.join("prompts/main.md"),
            PathBuf::from("/var/tmp/proj-logs/lessons.md")
        ]
    );
    assert_eq!(c.agent_for(Some("night")).command, ["gemini"]);
    assert_eq!(
        c.agent_for(Some("night")).exec_prefix.len(),
        5,
        "merged onto base"
    );
    assert_eq!(c.agent_for(Some("day")).command, ["claude"]);
    assert_eq!(c.schedule_for(Some("night")).run_windows, ["22:00-06:00"]);
    assert_eq!(c.schedule.pause_windows, ["Sat,Sun 00:00-24:00"]);
    let goal = c.goal.as_ref().unwrap();
    assert_eq!(goal.checks[0].cmd, ["cargo", "test"]);
    assert_eq!(goal.checks[0].timeout_s, 30);
}

// --------------------------------------------------------- paths (§2.2)

#[test]
fn relative_work_dir_resolves_against_the_config_folder() {
    let p = project("outer", false);
    let cfg_dir = p.dir.join("conf");
    std::fs::create_dir_all(cfg_dir.join("../repo")).unwrap();
    let text = BASE.replace("work_dir = \".\"", "work_dir = \"../repo\"");
    let path = write_config(&cfg_dir, &text);
    // The test process's CWD is the crate root, not the config's folder.
    assert_ne!(std::env::current_dir().unwrap(), cfg_dir);
    let c = load(&path).unwrap();
    assert_eq!(c.runtime.work_dir, p.dir.join("repo"));
    assert_eq!(c.project, "repo");
    assert_eq!(c.runtime.log_dir, p.dir.join("repo/logs"));
    assert_eq!(c.prompt.file, Some(p.dir.join("repo/p.md")));
    assert_eq!(c.path, path);
}

#[test]
fn project_tilde_and_symlinks_in_paths() {
    let p = project("proj", false);
    let real = p.dir.join("real");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, p.dir.join("link")).unwrap();
    let text = BASE
        .replace("work_dir = \".\"", "work_dir = \"link/{project}\"")
        .replace("log_dir = \"logs\"", "log_dir = \"~/ar/{project}/logs\"")
        .replace("file = \"p.md\"", "file = \"../{project}.md\"");
    let c = load(&write_config(&p.dir, &text)).unwrap();
    // {project} in work_dir is the empty string; symlinks are resolved.
    assert_eq!(c.runtime.work_dir, real);
    assert_eq!(c.project, "real");
    assert_eq!(c.runtime.log_dir, home().join("ar/real/logs"));
    assert_eq!(c.prompt.file, Some(p.dir.join("real.md")));
}

#[test]
fn missing_directory_and_unreadable_paths() {
    let p = project("proj", false);
    let missing = p.dir.join("nope.toml");
    let e = load(&missing).unwrap_err();
    assert!(
        matches!(&e, ConfigError::NotFound(path) if *path == missing),
        "{e:?}"
    );
    assert!(e.to_string().contains("config not found"));

    let e = load(&p.dir).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, ConfigError::Unreadable { .. }), "{m}");
    assert!(m.starts_with(&format!("{}: ", p.dir.display())), "{m}");
    assert!(m.contains("directory"), "{m}");

    // A path through a regular file is not "missing", it is unreadable.
    let file = write_config(&p.dir, BASE);
    let e = load(&file.join("x.toml")).unwrap_err();
    assert!(matches!(e, ConfigError::Unreadable { .. }), "{e:?}");

    std::fs::write(&file, b"\xff\xfe").unwrap();
    let e = load(&file).unwrap_err();
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

// ------------------------------------------------ (c) every invalid case

#[test]
fn wrong_type_names_file_key_and_expectation() {
    let msg = expect_error(
        &BASE.replace(
            "log_dir = \"logs\"",
            "log_dir = \"logs\"\nround_budget_s = \"abc\"",
        ),
        "runtime.round_budget_s",
        "must be a positive integer, got string (\"abc\")",
    );
    assert!(
        msg.ends_with("runtime.round_budget_s: must be a positive integer, got string (\"abc\")")
    );
    expect_error(
        &BASE.replace(
            "log_dir = \"logs\"",
            "log_dir = \"logs\"\nround_budget_s = 0",
        ),
        "runtime.round_budget_s",
        "got integer (0)",
    );
    expect_error(
        &BASE.replace("log_dir = \"logs\"", "log_dir = \"logs\"\ndry_run = 1"),
        "runtime.dry_run",
        "must be true or false, got integer (1)",
    );
    expect_error(
        &format!("{BASE}[monitor.host_health.disk]\nwarning_pct = 101\n"),
        "monitor.host_health.disk.warning_pct",
        "from 0 to 100",
    );
    expect_error(
        &format!("{BASE}[agent.env]\nX = [1]\n").replace("[agent]\n", "[agent]\n"),
        "agent.env.X",
        "must be a string, got array",
    );
}

#[test]
fn scalar_list_and_table_shapes() {
    expect_error(
        &BASE.replace("command = [\"x\"]", "command = \"claude\""),
        "agent.command",
        "must be an array of strings, got string (\"claude\")",
    );
    expect_error(
        &BASE.replace("command = [\"x\"]", "command = [\"x\", 5]"),
        "agent.command[1]",
        "must be a string, got integer (5)",
    );
    expect_error(
        &BASE.replace("command = [\"x\"]", "command = [\"x\"]\nenv = \"x\""),
        "agent.env",
        "must be a table",
    );
    expect_error(
        &format!("monitor = 1\n{BASE}"),
        "monitor",
        "must be a table ([monitor]), got integer (1)",
    );
    expect_error(
        &format!("{BASE}[monitor]\nhost_health = 1\n"),
        "monitor.host_health",
        "must be a table",
    );
    expect_error(
        &format!("{BASE}[phases]\nlist = \"a\"\n"),
        "phases.list",
        "must be an array of strings",
    );
    expect_error(
        &format!("{BASE}[phases]\nlist = [\"a\"]\nstray = 1\n"),
        "phases.stray",
        "only 'list' and 'phase_policy' may be scalars",
    );
    expect_error(
        &BASE.replace("command = [\"x\"]", "command = []"),
        "agent.command",
        "must not be empty",
    );
}

#[test]
fn unknown_keys_are_errors_everywhere() {
    expect_error(
        &format!("bogus = 1\n{BASE}"),
        "bogus",
        "unknown top-level key",
    );
    expect_error(
        &BASE.replace("log_dir = \"logs\"", "log_dir = \"logs\"\nround_budget = 5"),
        "runtime.round_budget",
        "unknown key in [runtime]; allowed: work_dir, log_dir",
    );
    expect_error(
        &format!("{BASE}[monitor.host_health.memory]\navail_min = 1\n"),
        "monitor.host_health.memory.avail_min",
        "unknown key",
    );
    expect_error(
        &format!("{BASE}[monitor.host_health]\nmem_avail = 1\n"),
        "monitor.host_health.mem_avail",
        "unknown key",
    );
    expect_error(
        &format!("{BASE}[phases]\nlist = [\"a\"]\n[phases.a]\ntimeout = 1\n"),
        "phases.a.timeout",
        "unknown key",
    );
    expect_error(
        &format!("{BASE}[plugins]\nsandbox = true\n"),
        "plugins.sandbox",
        "unknown key",
    );
    expect_error(
        &format!("{BASE}[goal]\nledger = \"/x\"\nfoo = 1\n"),
        "goal.foo",
        "unknown key",
    );
    expect_error(
        &format!("{BASE}[schedule]\nwindows = []\n"),
        "schedule.windows",
        "unknown key",
    );
}

#[test]
fn prompt_file_and_files() {
    expect_error(
        &BASE.replace("file = \"p.md\"", "file = \"p.md\"\nfiles = [\"q.md\"]"),
        "prompt.files",
        "not both",
    );
    expect_error(
        &BASE.replace("file = \"p.md\"", "inject_context = true"),
        "prompt.file",
        "required",
    );
    expect_error(
        &BASE.replace("file = \"p.md\"", "files = []"),
        "prompt.files",
        "must not be empty",
    );
}

#[test]
fn phases_must_be_listed() {
    expect_error(
        &format!("{BASE}[phases]\nlist = [\"a\"]\n[phases.b]\nround_budget_s = 5\n"),
        "phases.b",
        "'b' is not in phases.list",
    );
    expect_error(
        &format!("{BASE}[phases.b]\nround_budget_s = 5\n"),
        "phases.b",
        "not in phases.list",
    );
    expect_error(
        &format!(
            "{BASE}[phases]\nlist = [\"a\"]\n[phases.a]\nround_budget_s = 5\nruntime.round_budget_s = 6\n"
        ),
        "phases.a.runtime.round_budget_s",
        "keep one",
    );
    expect_error(
        &format!("{BASE}[phases]\nlist = [\"a\"]\n[phases.a.agent]\nexec_prefix = []\n"),
        "phases.a.agent.exec_prefix",
        "not allowed per phase",
    );
    expect_error(
        &format!("{BASE}[phases]\nlist = [\"a\"]\n[phases.a.prompt]\n"),
        "phases.a.prompt.files",
        "required",
    );
}

#[test]
fn a_phase_without_prompt_needs_no_placeholder() {
    let text = format!(
        "{BASE}[phases]\nlist = [\"a\", \"b\"]\n[phases.a]\nprompt.files = []\n\
         [phases.a.agent]\nprompt_arg_template = []\n"
    );
    let (_p, r) = load_text(&text);
    let c = r.unwrap();
    assert!(c.prompt_files_for(Some("a")).is_empty());
    assert!(c.agent_for(Some("a")).prompt_arg_template.is_empty());
    expect_error(
        &format!("{BASE}[phases]\nlist = [\"a\"]\n[phases.a.agent]\nprompt_arg_template = []\n"),
        "phases.a.agent.prompt_arg_template",
        "has no {prompt} placeholder",
    );
}

#[test]
fn bad_regexes() {
    expect_error(
        &format!("{BASE}[monitor]\nauth_fail_patterns = [\"ok\", \"(x\"]\n"),
        "monitor.auth_fail_patterns[1]",
        "invalid regex \"(x\"",
    );
    expect_error(
        &BASE.replace(
            "log_dir = \"logs\"",
            "log_dir = \"logs\"\ngrace_kill_ignore_patterns = ['[z-a]']",
        ),
        "runtime.grace_kill_ignore_patterns[0]",
        "invalid regex",
    );
}

#[test]
fn enum_values() {
    for (text, key) in [
        (
            BASE.replace(
                "command = [\"x\"]",
                "command = [\"x\"]\nprompt_delivery = \"pipe\"",
            ),
            "agent.prompt_delivery",
        ),
        (
            BASE.replace(
                "log_dir = \"logs\"",
                "log_dir = \"logs\"\ntransient_error_action = \"retry\"",
            ),
            "runtime.transient_error_action",
        ),
        (
            format!("{BASE}[vcs]\ndirty_action = \"commit\"\n"),
            "vcs.dirty_action",
        ),
        (
            BASE.replace(
                "file = \"p.md\"",
                "file = \"p.md\"\ncontext_injection_mode = \"append\"",
            ),
            "prompt.context_injection_mode",
        ),
        (
            format!("{BASE}[phases]\nlist = [\"a\"]\nphase_policy = \"later\"\n"),
            "phases.phase_policy",
        ),
    ] {
        expect_error(&text, key, "must be one of '");
    }
}

#[test]
fn removed_keys_carry_the_upstream_migration() {
    expect_error(
        &BASE.replace(
            "log_dir = \"logs\"",
            "log_dir = \"logs\"\nround_timeout_per_phase = {}",
        ),
        "runtime.round_timeout_per_phase",
        "removed in upstream 0.1.16; use [phases.<name>] round_budget_s",
    );
    expect_error(
        &BASE.replace(
            "log_dir = \"logs\"",
            "log_dir = \"logs\"\nrate_limit_action = \"stop\"",
        ),
        "runtime.rate_limit_action",
        "removed in upstream 0.1.29; use runtime.transient_error_action",
    );
    expect_error(
        &format!("{BASE}[vcs]\norphan_action = \"stash\"\n"),
        "vcs.orphan_action",
        "removed in upstream 0.1.18; use vcs.dirty_action",
    );
}

#[test]
fn prompt_placeholder_rules() {
    expect_error(
        &BASE.replace(
            "command = [\"x\"]",
            "command = [\"x\"]\nprompt_delivery = \"stdin\"",
        ),
        "agent.prompt_arg_template",
        "remove {prompt}",
    );
    expect_error(
        &BASE.replace("[\"{prompt}\"]", "[\"-p\"]"),
        "agent.prompt_arg_template",
        "has no {prompt} placeholder",
    );
}

#[test]
fn ranges_and_cross_field_checks() {
    expect_error(
        &format!("{BASE}[monitor]\nremote_failure_tolerance_s = 3601\n"),
        "monitor.remote_failure_tolerance_s",
        "from 0 to 3600, got integer (3601)",
    );
    expect_error(
        &format!(
            "{BASE}[monitor]\nanomaly_repetitive_window = 10\nanomaly_repetitive_threshold = 11\n"
        ),
        "monitor.anomaly_repetitive_threshold",
        "must be <= monitor.anomaly_repetitive_window (10)",
    );
    expect_error(
        &BASE.replace(
            "command = [\"x\"]",
            "command = [\"x\"]\nsigterm_grace_s = 13",
        ),
        "agent.sigterm_grace_s",
        "from 1 to 12",
    );
    expect_error(
        &format!("{BASE}[monitor]\nauto_stop_on = [\"goal_assessment\"]\n"),
        "monitor.auto_stop_on[0]",
        "not allowed",
    );
    expect_error(
        &format!("{BASE}[monitor.host_health.brake]\nmemory_high_step_pct = 51\n"),
        "monitor.host_health.brake.memory_high_step_pct",
        "from 0 to 50",
    );
}

#[test]
fn control_characters_in_paths() {
    let p = project("proj", false);
    let odd = p.dir.join("a\nb");
    std::fs::create_dir_all(&odd).unwrap();
    let path = write_config(&odd, BASE);
    let e = load(&path).unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e:?}");
    assert!(
        e.to_string().contains("config path: contains a control"),
        "{e}"
    );
    expect_error(
        &BASE.replace("work_dir = \".\"", "work_dir = \"a\\nb\""),
        "runtime.work_dir",
        "control or non-printable character",
    );
    expect_error(
        &BASE.replace("log_dir = \"logs\"", "log_dir = \"logs\\u0007\""),
        "runtime.log_dir",
        "control or non-printable character",
    );
    expect_error(
        &BASE.replace("log_dir = \"logs\"", "log_dir = \"logs\u{202e}x\""),
        "runtime.log_dir",
        "control or non-printable character",
    );
}

#[test]
fn zero_two_and_zero_three_names_together() {
    expect_error(
        &BASE.replace(
            "log_dir = \"logs\"",
            "log_dir = \"logs\"\nround_budget_s = 10\nround_timeout_s = 10",
        ),
        "runtime.round_timeout_s",
        "same setting",
    );
    expect_error(
        &format!(
            "{BASE}[monitor.host_health]\nmem_avail_min_mb = 100\n[monitor.host_health.memory]\navail_min_mb = 200\n"
        ),
        "monitor.host_health.mem_avail_min_mb",
        "set together with monitor.host_health.memory.avail_min_mb",
    );
    // Different settings may come one from each style.
    let (_p, r) = load_text(&format!(
        "{BASE}[monitor.host_health]\nmem_avail_min_mb = 100\n[monitor.host_health.disk]\nwarning_pct = 50\n"
    ));
    let c = r.unwrap();
    assert_eq!(c.monitor.host_health.memory.avail_min_mb, 100);
    assert_eq!(c.monitor.host_health.disk.warning_pct, 50.0);
}

#[test]
fn schema_version_rules() {
    expect_error(
        &BASE.replace("schema_version = 1", "schema_version = 2"),
        "schema_version",
        "upgrade agent-runner",
    );
    expect_error(
        &BASE.replace("schema_version = 1", "schema_version = \"1\""),
        "schema_version",
        "must be the integer 1",
    );
    expect_error(
        &BASE.replace("schema_version = 1", "schema_version = 0"),
        "schema_version",
        "must be the integer 1",
    );
}

#[test]
fn project_name_must_be_safe() {
    expect_error(
        &BASE.replace("work_dir = \".\"", "work_dir = \"has space\""),
        "runtime.work_dir",
        "project name 'has space'",
    );
}

#[test]
fn schedule_and_goal_syntax() {
    expect_error(
        &format!("{BASE}[schedule]\nrun_windows = [\"9-17\"]\n"),
        "schedule.run_windows[0]",
        "invalid window '9-17'",
    );
    expect_error(
        &format!("{BASE}[schedule]\ntimezone = \"../../etc/passwd\"\n"),
        "schedule.timezone",
        "not an IANA zone name",
    );
    expect_error(
        &format!("{BASE}[goal]\nledger = \"/tmp/l.md\"\n"),
        "goal.ledger",
        "index 1 or later",
    );
    expect_error(
        &(BASE.replace("file = \"p.md\"", "files = [\"p.md\", \"l.md\"]")
            + "[goal]\nledger = \"l.md\"\n"),
        "goal.ledger",
        "stash would sweep it away",
    );
    expect_error(
        &(BASE.replace("file = \"p.md\"", "files = [\"p.md\", \"logs/l.md\"]")
            + "[goal]\nledger = \"logs/l.md\"\n[[goal.checks]]\nname = \"t\"\ncmd = []\n"),
        "goal.checks[0].cmd",
        "must not be empty",
    );
    let (_p, r) = load_text(
        &(BASE.replace("file = \"p.md\"", "files = [\"p.md\", \"logs/l.md\"]")
            + "[goal]\nledger = \"logs/l.md\"\n"),
    );
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn toml_syntax_error_is_one_line() {
    let (p, r) = load_text("[agent\n");
    let m = r.unwrap_err().to_string();
    assert!(
        m.starts_with(&format!(
            "{}: line 1",
            p.dir.join("agent-runner.toml").display()
        )),
        "{m}"
    );
    assert!(m.contains("invalid TOML"), "{m}");
    assert!(!m.contains('\n'));
}

// ----------------------------------------------------- (d), (e) the binary

#[test]
fn init_writes_and_commits_only_its_files() {
    let p = project("myproj", true);
    std::fs::write(p.dir.join("README.md"), "hi\n").unwrap();
    git(&p.dir, &p.home, &["add", "README.md"]);
    git(&p.dir, &p.home, &["commit", "-qm", "base"]);
    std::fs::write(p.dir.join("unrelated.txt"), "u\n").unwrap();
    std::fs::write(p.dir.join("staged.txt"), "s\n").unwrap();
    git(&p.dir, &p.home, &["add", "staged.txt"]);

    let out = run(&p, &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("InitResult:\n"), "{text}");
    assert!(text.contains("  committed: true"), "{text}");
    assert!(text.contains("  preset: claude"), "{text}");

    let committed = git(
        &p.dir,
        &p.home,
        &["show", "--name-only", "--format=%s", "HEAD"],
    );
    let mut lines: Vec<&str> = committed.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.remove(0), "chore: agent-runner initial config");
    lines.sort_unstable();
    assert_eq!(
        lines,
        [".gitignore", "agent-runner.toml", "prompts/main.md"]
    );
    let status = git(&p.dir, &p.home, &["status", "--porcelain"]);
    assert!(status.contains("?? unrelated.txt"), "{status}");
    assert!(
        status.contains("A  staged.txt"),
        "still staged, not committed: {status}"
    );

    assert_eq!(
        std::fs::read_to_string(p.dir.join(".gitignore")).unwrap(),
        "logs/\n"
    );
    let prompt = std::fs::read_to_string(p.dir.join("prompts/main.md")).unwrap();
    assert_eq!(prompt, presets::PROMPT_SCAFFOLD);
    let cfg = load(&p.dir.join("agent-runner.toml")).unwrap();
    assert_eq!(cfg.agent.command[0], "claude");
    assert_eq!(
        cfg.runtime.log_dir,
        home().join(".agent-runner/myproj/logs")
    );
}

#[test]
fn init_json_shape_and_no_commit() {
    let p = project("jproj", true);
    std::fs::write(p.dir.join(".gitignore"), "target/").unwrap();
    let out = run(&p, &["init", "--preset", "gemini", "--no-commit", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["work_dir", "files_created", "committed", "preset"]);
    assert_eq!(v["work_dir"], p.dir.to_str().unwrap());
    assert_eq!(v["committed"], false);
    assert_eq!(v["preset"], "gemini");
    let files: Vec<&str> = v["files_created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let d = p.dir.to_str().unwrap();
    assert_eq!(
        files,
        [
            format!("{d}/agent-runner.toml"),
            format!("{d}/prompts/main.md"),
            format!("{d}/.gitignore")
        ]
    );
    let raw = String::from_utf8_lossy(&out.stdout);
    assert!(raw.starts_with("{\n  \"work_dir\": "), "indent 2: {raw}");
    assert!(stderr(&out).contains("not committed"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(p.dir.join(".gitignore")).unwrap(),
        "target/\nlogs/\n"
    );
    let status = git(&p.dir, &p.home, &["status", "--porcelain"]);
    assert!(status.contains("?? agent-runner.toml"), "{status}");

    // Second run: the prompt and .gitignore exist, so only the config is rewritten.
    let out = run(
        &p,
        &[
            "init",
            "--preset",
            "aider",
            "--no-commit",
            "--force",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files_created"].as_array().unwrap().len(), 2, "{v}");
    let cfg = load(&p.dir.join("agent-runner.toml")).unwrap();
    assert_eq!(cfg.agent.command[0], "aider");
}

#[test]
fn init_refusals_exit_2() {
    let p = project("plain", false);
    let out = run(&p, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is not a git working tree"),
        "{}",
        stderr(&out)
    );
    assert!(!p.dir.join("agent-runner.toml").exists());

    let p = project("repo", true);
    let out = run(&p, &["init", "--no-commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = std::fs::read_to_string(p.dir.join("agent-runner.toml")).unwrap();
    let out = run(&p, &["init", "--preset", "kimi", "--no-commit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already exists (pass --force"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(p.dir.join("agent-runner.toml")).unwrap(),
        before
    );

    let out = run(&p, &["init", "--preset", "nope", "--force"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("unknown preset 'nope'"), "{e}");
    assert!(
        e.contains("aider, claude, codewhale, codex, demo, gemini, kimi, pi"),
        "{e}"
    );

    let out = run(&p, &["--config", "prompts", "init", "--force"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is a directory"), "{}", stderr(&out));

    let out = run(&p, &["init", "--commit", "--no-commit"]);
    assert_eq!(out.status.code(), Some(2));

    let bad = project("bad name", true);
    let out = run(&bad, &["init", "--no-commit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("project name 'bad name'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_in_a_subfolder_of_a_repo_via_config_path() {
    let p = project("top", true);
    let sub = p.dir.join("svc");
    std::fs::create_dir_all(&sub).unwrap();
    let out = run(
        &p,
        &[
            "--config",
            "svc/agent-runner.toml",
            "init",
            "--preset",
            "codex",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let cfg = load(&sub.join("agent-runner.toml")).unwrap();
    assert_eq!(cfg.project, "svc");
    assert_eq!(cfg.agent.prompt_delivery, PromptDelivery::Stdin);
    let committed = git(
        &p.dir,
        &p.home,
        &["show", "--name-only", "--format=", "HEAD"],
    );
    assert!(committed.contains("svc/agent-runner.toml"), "{committed}");
}

#[test]
fn every_shipped_preset_scaffolds_and_loads() {
    for name in presets::preset_names() {
        let p = project(&format!("p-{name}"), true);
        let script = "#!/bin/bash\necho round \"$AGENT_RUNNER_ROUND_NUM\"\n";
        let r = scaffold::scaffold(
            &p.dir.join("agent-runner.toml"),
            &ScaffoldOptions {
                preset: name,
                force: false,
                commit: false,
                demo_agent_script: Some(script),
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let cfg = load(&p.dir.join("agent-runner.toml"))
            .unwrap_or_else(|e| panic!("our preset {name} does not load: {e}"));
        assert_eq!(cfg.schema_version, Some(1));
        assert_eq!(cfg.agent.name.as_deref(), Some(name));
        assert_eq!(cfg.prompt.file, Some(p.dir.join("prompts/main.md")));
        if name == "demo" {
            let script_path = p.dir.join(presets::DEMO_AGENT_FILE);
            assert_eq!(
                cfg.agent.command,
                [
                    "bash".to_string(),
                    script_path.to_string_lossy().into_owned()
                ]
            );
            assert_eq!(std::fs::read_to_string(&script_path).unwrap(), script);
            assert!(r.files_created.contains(&script_path));
            assert!(scaffold_paths(&cfg).contains(&script_path));
        } else {
            assert!(!p.dir.join(presets::DEMO_AGENT_FILE).exists());
        }
    }
}

#[test]
fn init_demo_writes_the_script_and_a_round_runs_it_without_stashing_the_scaffold() {
    let p = project("d", true);
    let out = run(&p, &["init", "--preset", "demo", "--no-commit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = p.dir.join(presets::DEMO_AGENT_FILE);
    assert!(script.exists());
    let out = run(&p, &["round"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // round 1 of the demo agent commits its notes; the uncommitted scaffold stays on disk
    assert!(
        script.exists()
            && p.dir.join("agent-runner.toml").exists()
            && p.dir.join("prompts/main.md").exists()
    );
    assert!(p.dir.join("notes/progress.md").exists());
}

#[test]
fn scaffold_paths_lists_config_prompts_and_gitignore_inside_work_dir() {
    let p = project("proj", false);
    let text = BASE.replace("file = \"p.md\"", "files = [\"p.md\", \"/elsewhere/x.md\"]")
        + "[phases]\nlist = [\"a\"]\n[phases.a]\nprompt.files = [\"prompts/a.md\"]\n";
    let path = write_config(&p.dir, &text);
    let cfg = load(&path).unwrap();
    let paths = scaffold_paths(&cfg);
    assert_eq!(
        paths,
        [
            path,
            p.dir.join("p.md"),
            p.dir.join("prompts/a.md"),
            p.dir.join(".gitignore")
        ]
    );
}
