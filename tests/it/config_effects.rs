//! Each config key does what the key table (`src/config/table/`) says,
//! through the real binary: the tests the table names for keys no other
//! topic shows. One test per key or per small family of keys.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// Write agent-runner.toml: `[agent]` runs `agent` with `agent_extra`
/// (default: stdin delivery), then `[runtime]` + `runtime_extra`, `[prompt]`
/// (default: `file = "prompts/main.md"`) and `tail`.
pub(crate) fn write(
    p: &Project,
    agent: &Path,
    agent_extra: &str,
    runtime_extra: &str,
    prompt: &str,
    tail: &str,
) {
    let agent_extra = if agent_extra.is_empty() {
        "prompt_arg_template = []\nprompt_delivery = \"stdin\""
    } else {
        agent_extra
    };
    let prompt = if prompt.is_empty() {
        "file = \"prompts/main.md\""
    } else {
        prompt
    };
    // quick rounds unless the test sets these itself
    let mut runtime = String::new();
    for (k, v) in [("restart_delay_s", "0"), ("round_budget_s", "60")] {
        if !runtime_extra.contains(k) {
            runtime.push_str(&format!("{k} = {v}\n"));
        }
    }
    let text = format!(
        "schema_version = 1\n\n[agent]\ncommand = [\"{}\"]\n{agent_extra}\n\n[runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\n{runtime}{runtime_extra}\n\n[prompt]\n{prompt}\n\n{tail}\n",
        agent.display()
    );
    std::fs::write(p.dir.join("agent-runner.toml"), text).unwrap_or_else(|e| panic!("{e}"));
}

pub(crate) fn ok(o: &std::process::Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn ts(e: &Value) -> chrono::DateTime<chrono::Utc> {
    e["ts"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|| panic!("no ts in {e}"))
}

#[test]
fn argv_and_stdin_delivery_reach_the_agent() {
    let p = Project::new();
    let out = p.tmp.path().join("argv.txt");
    let a = p.agent(
        "agent.sh",
        &format!(
            "printf '%s\\n' \"$@\" > {o}; cat > {o}.stdin",
            o = out.display()
        ),
    );
    write(
        &p,
        &a,
        "prompt_arg_template = [\"--message\", \"<<{prompt}>>\"]\nprompt_delivery = \"argv\"",
        "",
        "inject_context = false\nfile = \"prompts/main.md\"",
        "",
    );
    ok(&p.run(&["round"]));
    let argv = read(&out);
    assert!(argv.starts_with("--message\n<<# Task"), "{argv}");
    assert!(argv.trim_end().ends_with(">>"), "{argv}");
    assert_eq!(read(&p.tmp.path().join("argv.txt.stdin")), "");
    write(
        &p,
        &a,
        "prompt_arg_template = [\"-p\"]\nprompt_delivery = \"stdin\"",
        "",
        "inject_context = false\nfile = \"prompts/main.md\"",
        "",
    );
    ok(&p.run(&["round"]));
    assert_eq!(read(&out), "-p\n");
    assert_eq!(read(&p.tmp.path().join("argv.txt.stdin")), long_prompt());
}

#[test]
fn exec_prefix_wraps_the_command_with_work_dir_substituted() {
    let p = Project::new();
    let seen = p.tmp.path().join("prefix.txt");
    let wrap = p.agent(
        "wrap.sh",
        &format!("echo \"$1\" > {}; shift; exec \"$@\"", seen.display()),
    );
    let ran = p.tmp.path().join("ran.txt");
    let a = p.agent(
        "agent.sh",
        &format!("cat >/dev/null; echo ran > {}", ran.display()),
    );
    write(
        &p,
        &a,
        &format!(
            "prompt_arg_template = []\nprompt_delivery = \"stdin\"\nexec_prefix = [\"{}\", \"{{work_dir}}\"]",
            wrap.display()
        ),
        "",
        "",
        "",
    );
    ok(&p.run(&["round"]));
    assert_eq!(
        std::fs::canonicalize(read(&seen).trim()).ok(),
        std::fs::canonicalize(&p.dir).ok(),
        "{{work_dir}} reached the prefix"
    );
    assert_eq!(read(&ran), "ran\n", "the prefix ran the command");
}

#[test]
fn the_terminal_marker_starts_the_grace_after_result_kill() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo ALLDONE; exec sleep 60");
    write(
        &p,
        &a,
        "prompt_arg_template = []\nprompt_delivery = \"stdin\"\nterminal_marker = \"ALLDONE\"",
        "max_grace_after_result_s = 1",
        "",
        "",
    );
    let t = Instant::now();
    ok(&p.run(&["round"]));
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    assert_eq!(p.events_of("round_grace_kill").len(), 1, "{:?}", p.kinds());
    assert_eq!(p.events_of("agent_exit")[0]["exit_cause"], "grace_kill");
    // another marker: the output never says it, so only the budget ends it
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo ALLDONE; exec sleep 60");
    write(
        &p,
        &a,
        "prompt_arg_template = []\nprompt_delivery = \"stdin\"\nterminal_marker = \"NEVER\"",
        "max_grace_after_result_s = 1\nround_budget_s = 3",
        "",
        "",
    );
    ok(&p.run(&["round"]));
    assert!(p.events_of("round_grace_kill").is_empty());
    assert_eq!(p.events_of("agent_exit")[0]["exit_cause"], "timeout");
}

#[test]
fn grace_kill_ignore_patterns_discount_matching_helpers() {
    let run = |ignore: &str| {
        let p = Project::new();
        let a = p.agent("agent.sh", "cat >/dev/null; sleep 37 & echo ALLDONE; wait");
        write(
            &p,
            &a,
            "prompt_arg_template = []\nprompt_delivery = \"stdin\"\nterminal_marker = \"ALLDONE\"",
            &format!("max_grace_after_result_s = 1\nround_budget_s = 4\n{ignore}"),
            "",
            "",
        );
        ok(&p.run(&["round"]));
        p
    };
    // a live `sleep 37` child is work: the grace is extended (once) and only
    // the budget ends the round
    let p = run("");
    assert_eq!(
        p.events_of("round_grace_extended").len(),
        1,
        "{:?}",
        p.kinds()
    );
    assert!(p.events_of("round_grace_kill").is_empty());
    assert_eq!(p.events_of("agent_exit")[0]["exit_cause"], "timeout");
    // ignored, it is not: the grace kill comes at once
    let p = run("grace_kill_ignore_patterns = [\"^sleep 3[0-9]\"]");
    assert!(
        p.events_of("round_grace_extended").is_empty(),
        "{:?}",
        p.kinds()
    );
    assert_eq!(p.events_of("round_grace_kill").len(), 1);
    assert_eq!(p.events_of("agent_exit")[0]["exit_cause"], "grace_kill");
}

#[test]
fn sigterm_grace_s_bounds_a_cooperative_stop() {
    let p = Project::new();
    let pid = p.tmp.path().join("pid");
    // named claude: a cooperative agent (SIGINT first), which ignores it
    let a = p.agent(
        "claude",
        &format!(
            "trap '' INT TERM; echo $$ > {}; cat >/dev/null; while true; do sleep 0.2; done",
            pid.display()
        ),
    );
    write(
        &p,
        &a,
        "prompt_arg_template = []\nprompt_delivery = \"stdin\"\nsigterm_grace_s = 1",
        "",
        "",
        "",
    );
    let mut child = p
        .cmd(&["round"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(wait_until(Duration::from_secs(20), || !read_pids(&pid).is_empty()));
    let t = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let code = wait_exit(&mut child, Duration::from_secs(30));
    // 1 s of grace, not the default 10
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert!(code.is_some());
    assert_eq!(p.events_of("round_cancelled").len(), 1, "{:?}", p.kinds());
    assert!(wait_until(Duration::from_secs(5), || !alive(
        read_pids(&pid)[0]
    )));
}

#[test]
fn restart_delay_s_spaces_the_rounds() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    write(&p, &a, "", "restart_delay_s = 2\nmax_rounds = 2", "", "");
    ok(&p.run(&["serve"]));
    let ends = p.events_of("round_end");
    let starts = p.events_of("round_start");
    assert_eq!((ends.len(), starts.len()), (2, 2));
    let gap = ts(&starts[1]) - ts(&ends[0]);
    assert!(gap >= chrono::Duration::milliseconds(1900), "{gap}");
}

#[test]
fn substrate_fingerprint_paths_hash_the_listed_files() {
    let p = Project::new();
    std::fs::create_dir_all(p.dir.join("notes")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p.dir.join("notes/a.md"), "one\n").unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent("agent.sh", "cat >/dev/null; echo two >> notes/a.md");
    write(
        &p,
        &a,
        "",
        "substrate_fingerprint_paths = [\"notes/*.md\"]",
        "",
        "[vcs]\ndirty_action = \"ignore\"",
    );
    ok(&p.run(&["serve", "--once"]));
    let before = &p.events_of("round_substrate_before")[0];
    let after = &p.events_of("round_substrate_after")[0];
    assert!(before["paths_hash"].is_string(), "{before}");
    assert!(after["paths_hash"].is_string(), "{after}");
    assert_ne!(
        before["paths_hash"], after["paths_hash"],
        "the file changed"
    );
    // without the key there is no hash
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null");
    write(&p, &a, "", "", "", "");
    ok(&p.run(&["serve", "--once"]));
    assert!(p.events_of("round_substrate_before")[0]["paths_hash"].is_null());
}

#[test]
fn fresh_eyes_every_n_marks_every_nth_round() {
    let p = Project::new();
    let a = p.agent(
        "agent.sh",
        "cat >/dev/null; echo \"${AGENT_RUNNER_FRESH_EYES:-unset}\" > \"$AGENT_RUNNER_LOG_DIR/fresh-$AGENT_RUNNER_ROUND_NUM\"",
    );
    write(&p, &a, "", "fresh_eyes_every_n = 2\nmax_rounds = 2", "", "");
    ok(&p.run(&["serve"]));
    assert_ne!(read(&p.log_dir().join("fresh-1")).trim(), "1");
    assert_eq!(read(&p.log_dir().join("fresh-2")).trim(), "1");
    let t = p.events_of("fresh_eyes_round_triggered");
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["round_num"], 2);
    assert_eq!(t[0]["every_n"], 2);
}

fn periodic_samples(p: &Project) -> usize {
    std::fs::read_dir(p.log_dir())
        .map(|r| {
            r.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("metrics-"))
                .map(|e| read(&e.path()).matches("\"event\": \"periodic\"").count())
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn metrics_interval_s_samples_during_a_round() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; sleep 2.5");
    write(&p, &a, "", "metrics_interval_s = 1", "", "");
    ok(&p.run(&["serve", "--once"]));
    assert!(periodic_samples(&p) >= 1);
    // the default (60 s) takes none in a short round
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; sleep 2.5");
    write(&p, &a, "", "", "", "");
    ok(&p.run(&["serve", "--once"]));
    assert_eq!(periodic_samples(&p), 0);
}

#[test]
fn the_prompt_is_assembled_as_configured() {
    let p = Project::new();
    let got = p.tmp.path().join("prompt.txt");
    let a = p.agent("agent.sh", &format!("cat > {}", got.display()));
    let body = long_prompt();
    std::fs::write(
        p.dir.join("prompts/a.md"),
        format!("---\ntitle: x\n---\n{body}"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(p.dir.join("prompts/b.md"), "second file\n").unwrap_or_else(|e| panic!("{e}"));
    write(
        &p,
        &a,
        "",
        "",
        "files = [\"prompts/a.md\", \"prompts/b.md\"]\nconcat_separator = \"\\n--SEP--\\n\"\ninject_context = false",
        "",
    );
    ok(&p.run(&["round"]));
    assert_eq!(read(&got), format!("{body}\n--SEP--\nsecond file\n"));
    // one file, front matter kept: the prompt now starts with '-', which the
    // startup battery refuses
    write(
        &p,
        &a,
        "",
        "",
        "file = \"prompts/a.md\"\nstrip_yaml_frontmatter = false\ninject_context = false",
        "",
    );
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&o.stderr).contains("prompt_smoke_passes"));
}

#[test]
fn the_context_block_is_prepended_only_in_prepend_mode() {
    let p = Project::new();
    let got = p.tmp.path().join("prompt.txt");
    let a = p.agent("agent.sh", &format!("cat > {}", got.display()));
    write(&p, &a, "", "", "", "");
    ok(&p.run(&["round"]));
    let text = read(&got);
    assert!(text.starts_with("```json round-context\n"), "{text}");
    assert!(text.ends_with(&long_prompt()), "{text}");
    for prompt in [
        "file = \"prompts/main.md\"\ninject_context = false",
        "file = \"prompts/main.md\"\ncontext_injection_mode = \"file\"",
        "file = \"prompts/main.md\"\ncontext_injection_mode = \"none\"",
    ] {
        std::fs::remove_file(p.log_dir().join("round-context.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        write(&p, &a, "", "", prompt, "");
        ok(&p.run(&["round"]));
        assert_eq!(read(&got), long_prompt(), "{prompt}");
        assert!(p.log_dir().join("round-context.json").exists(), "{prompt}");
    }
}

#[test]
fn a_phase_table_changes_its_rounds() {
    let p = Project::new();
    let got = p.tmp.path().join("got");
    std::fs::create_dir_all(&got).unwrap_or_else(|e| panic!("{e}"));
    let a = p.agent(
        "agent-a.sh",
        &format!(
            "cat > {g}/prompt-a; echo \"$AGENT_RUNNER_PHASE\" > {g}/phase-a; exec sleep 30",
            g = got.display()
        ),
    );
    let b = p.agent(
        "agent-b.sh",
        &format!(
            "cat >/dev/null; echo \"$AGENT_RUNNER_PHASE\" > {g}/phase-b",
            g = got.display()
        ),
    );
    std::fs::write(
        p.dir.join("prompts/a.md"),
        format!("PHASE A {}", long_prompt()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write(
        &p,
        &a,
        "",
        "",
        "",
        &format!(
            "[phases]\nlist = [\"a\", \"b\"]\n\n[phases.a]\nround_budget_s = 1\nprompt.files = [\"prompts/a.md\"]\n\n\
             [phases.b.runtime]\nround_budget_s = 2\n\n[phases.b.agent]\ncommand = [\"{}\"]\n",
            b.display()
        ),
    );
    ok(&p.run(&["round"]));
    ok(&p.run(&["round"]));
    assert_eq!(read(&got.join("phase-a")).trim(), "a");
    assert_eq!(read(&got.join("phase-b")).trim(), "b");
    let prompt = read(&got.join("prompt-a"));
    assert!(prompt.contains("PHASE A"), "{prompt}");
    let spawns = p.events_of("agent_spawn");
    assert_eq!(spawns[0]["timeout_s"], 1);
    assert_eq!(spawns[1]["timeout_s"], 2);
    assert_eq!(p.events_of("agent_exit")[0]["exit_cause"], "timeout");
    let starts = p.events_of("round_start");
    assert_eq!(
        (starts[0]["phase"].as_str(), starts[1]["phase"].as_str()),
        (Some("a"), Some("b"))
    );
}

#[test]
fn old_names_load_like_their_0_3_names() {
    use agent_runner::config::table;
    let dir = Path::new("/nonexistent/proj");
    let file = dir.join("agent-runner.toml");
    let base = "[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n[runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\n[prompt]\nfile = \"p.md\"\n[phases]\nlist = [\"p\"]\n";
    let load = |extra: &str| {
        agent_runner::config::from_str(&file, &format!("{base}{extra}"))
            .map(|c| format!("{c:?}"))
            .unwrap_or_else(|e| panic!("{e}\n{extra}"))
    };
    // (0.2 form, 0.3 form): the same config
    let pairs: &[(&str, &str, &str)] = &[
        (
            "phases.<name>.round_timeout_s",
            "[phases.p]\nround_timeout_s = 77\n",
            "[phases.p]\nround_budget_s = 77\n",
        ),
        (
            "phases.<name>.runtime.round_timeout_s",
            "[phases.p.runtime]\nround_timeout_s = 78\n",
            "[phases.p.runtime]\nround_budget_s = 78\n",
        ),
        (
            "monitor.host_health.mem_avail_min_mb",
            "[monitor.host_health]\nmem_avail_min_mb = 123\n",
            "[monitor.host_health.memory]\navail_min_mb = 123\n",
        ),
        (
            "monitor.host_health.mem_free_low_mb",
            "[monitor.host_health]\nmem_free_low_mb = 7\n",
            "[monitor.host_health.memory]\nfree_low_mb = 7\n",
        ),
        (
            "monitor.host_health.swap_sout_noise_floor_mb",
            "[monitor.host_health]\nswap_sout_noise_floor_mb = 9\n",
            "[monitor.host_health.memory]\nswap_out_noise_floor_mb = 9\n",
        ),
        (
            "monitor.host_health.disk_warning_pct",
            "[monitor.host_health]\ndisk_warning_pct = 80.5\n",
            "[monitor.host_health.disk]\nwarning_pct = 80.5\n",
        ),
        (
            "monitor.host_health.disk_critical_pct",
            "[monitor.host_health]\ndisk_critical_pct = 97\n",
            "[monitor.host_health.disk]\ncritical_pct = 97\n",
        ),
        (
            "monitor.host_health.psi_full_avg10_critical",
            "[monitor.host_health]\npsi_full_avg10_critical = 50.0\n",
            "[monitor.host_health.pressure]\nfull_avg10_critical = 50.0\n",
        ),
        (
            "monitor.host_health.psi_some_avg10_warning",
            "[monitor.host_health]\npsi_some_avg10_warning = 3.0\n",
            "[monitor.host_health.pressure]\nsome_avg10_warning = 3.0\n",
        ),
        (
            "monitor.host_health.mem_critical_consecutive_samples",
            "[monitor.host_health]\nmem_critical_consecutive_samples = 4\n",
            "[monitor.host_health.pressure]\ncritical_consecutive_samples = 4\n",
        ),
        (
            "monitor.host_health.in_round_mem_terminate",
            "[monitor.host_health]\nin_round_mem_terminate = false\n",
            "[monitor.host_health.pressure]\nin_round_terminate = false\n",
        ),
    ];
    for (key, old, new) in pairs {
        assert_eq!(load(old), load(new), "{key}");
    }
    // runtime.round_timeout_s sits in [runtime], which the base already has
    let with_runtime = |line: &str| {
        agent_runner::config::from_str(
            &file,
            &base.replace(
                "log_dir = \"logs\"\n",
                &format!("log_dir = \"logs\"\n{line}\n"),
            ),
        )
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    assert_eq!(
        with_runtime("round_timeout_s = 99"),
        with_runtime("round_budget_s = 99")
    );
    // the 0.2 keys with no effect: the same config as without them
    assert_eq!(
        with_runtime("disable_pre_round_hooks = true"),
        with_runtime("")
    );
    assert_eq!(
        load("[phases.p]\ndisable_pre_round_hooks = true\n"),
        load("[phases.p]\n")
    );
    // every alias in the key table is covered here
    let mut covered: Vec<&str> = pairs.iter().map(|(k, _, _)| *k).collect();
    covered.push("runtime.round_timeout_s");
    for k in table::all().filter(|k| k.alias_of.is_some()) {
        assert!(
            covered.contains(&k.dotted().as_str()),
            "{} is not covered",
            k.dotted()
        );
    }
}
