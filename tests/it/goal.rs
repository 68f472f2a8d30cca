//! `[goal]` (0.3 delta §9) through the real binary: the checks run after the
//! agent exits and before the dirty tree is stashed, each bounded by its own
//! timeout and killed with its process group; the treadmill assessor writes
//! one advisory into the ledger (a prompt file) per stuck episode; and the
//! firewall: goal events never stop or kill anything.

use crate::support::*;
use std::time::{Duration, Instant};

/// The position of the first event of `kind` at or after `from`.
fn pos(kinds: &[String], kind: &str, from: usize) -> usize {
    kinds[from..]
        .iter()
        .position(|k| k == kind)
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("no {kind} after {from} in {kinds:?}"))
}

fn goal_config(p: &Project, agent: &std::path::Path, runtime_extra: &str, checks: &str) {
    let text = format!(
        "schema_version = 1\n\n[agent]\ncommand = [\"{}\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n\
         [runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\nrestart_delay_s = 0\nround_budget_s = 60\n{runtime_extra}\n\n\
         [prompt]\nfiles = [\"prompts/main.md\", \"logs/ledger.md\"]\n\n\
         [goal]\nledger = \"logs/ledger.md\"\n\n{checks}\n",
        agent.display()
    );
    std::fs::write(p.dir.join("agent-runner.toml"), text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn checks_run_after_the_agent_and_before_the_stash() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; echo work > work.txt; exit 0");
    goal_config(
        &p,
        &a,
        "",
        "[[goal.checks]]\nname = \"sees-the-edit\"\ncmd = [\"sh\", \"-c\", \"test -f work.txt && echo passed 3 of 10\"]\n\n\
         [[goal.checks]]\nname = \"failing\"\ncmd = [\"sh\", \"-c\", \"echo nan inf 2.5e1 words; exit 1\"]\n\n\
         [[goal.checks]]\nname = \"in-a-subdir\"\ncmd = [\"sh\", \"-c\", \"pwd\"]\ncwd = \"prompts\"\n\n\
         [[goal.checks]]\nname = \"missing\"\ncmd = [\"/nonexistent/goal-check\"]\n",
    );
    let o = p.run(&["round"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let kinds = p.kinds();
    let exit = pos(&kinds, "agent_exit", 0);
    let first = pos(&kinds, "goal_check", exit);
    let dirty = pos(&kinds, "dirty_detected", first);
    pos(&kinds, "orphan_stashed", dirty);
    assert_eq!(
        kinds.iter().filter(|k| *k == "goal_check").count(),
        4,
        "{kinds:?}"
    );
    assert!(
        kinds[first..first + 4].iter().all(|k| k == "goal_check"),
        "{kinds:?}"
    );
    let checks = p.events_of("goal_check");
    assert_eq!(
        payload_keys(&checks[0]),
        ["name", "satisfied", "value", "timed_out", "skipped"]
    );
    assert_eq!(checks[0]["name"], "sees-the-edit");
    assert_eq!(
        checks[0]["satisfied"], true,
        "the check saw the round's edit"
    );
    assert_eq!(checks[0]["value"], 10.0);
    assert_eq!(checks[0]["timed_out"], false);
    assert_eq!(checks[0]["skipped"], false);
    assert_eq!(checks[1]["satisfied"], false);
    assert_eq!(checks[1]["value"], 25.0, "the last finite number");
    assert_eq!(checks[2]["satisfied"], true);
    assert!(checks[2]["value"].is_null());
    assert_eq!(
        payload_keys(&checks[3]),
        [
            "name",
            "satisfied",
            "value",
            "timed_out",
            "skipped",
            "error"
        ]
    );
    assert_eq!(checks[3]["satisfied"], false);
    let err = checks[3]["error"].as_str().unwrap_or_default();
    assert!(err.contains("/nonexistent/goal-check"), "{err}");
    assert!(err.chars().count() <= 200, "{err}");
    // `value` is written as a float, like the Python tool's
    let raw = std::fs::read_to_string(
        std::fs::read_dir(p.log_dir())
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.path())
            .find(|f| f.to_string_lossy().contains("events-"))
            .unwrap_or_else(|| panic!("no events file")),
    )
    .unwrap_or_default();
    assert!(raw.contains("\"value\": 10.0"), "{raw}");
}

#[test]
fn a_hung_check_and_its_group_are_killed_at_its_timeout() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let pids = p.tmp.path().join("pids");
    // TERM is ignored, a background member of the group keeps running, and a
    // grandchild that left the group with setsid holds the output pipe open.
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! >> {pids}; setsid sleep 300 & echo $! >> {pids}; echo started; sleep 300",
        pids = pids.display()
    );
    goal_config(
        &p,
        &a,
        "",
        &format!(
            "[[goal.checks]]\nname = \"hung\"\ncmd = [\"bash\", \"-c\", {}]\ntimeout_s = 1\n",
            toml::Value::String(script)
        ),
    );
    let t = Instant::now();
    let o = p.run(&["round"]);
    let took = t.elapsed();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // timeout 1 s + 3 s TERM grace + at most 3 s draining the held pipe
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let c = &p.events_of("goal_check")[0];
    assert_eq!(c["timed_out"], true);
    assert_eq!(c["satisfied"], false);
    let pids = read_pids(&pids);
    assert_eq!(pids.len(), 2);
    assert!(
        wait_until(Duration::from_secs(5), || !alive(pids[0])),
        "the check's group outlived it"
    );
    // the setsid escapee is out of reach of the group kill (as upstream);
    // clean it up
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[1]),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn dry_run_reports_every_check_skipped_without_running_it() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let marker = p.tmp.path().join("ran");
    goal_config(
        &p,
        &a,
        "dry_run = true",
        &format!(
            "[[goal.checks]]\nname = \"a\"\ncmd = [\"touch\", \"{}\"]\n\n[[goal.checks]]\nname = \"b\"\ncmd = [\"true\"]\n",
            marker.display()
        ),
    );
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    let checks = p.events_of("goal_check");
    assert_eq!(checks.len(), 2);
    for c in &checks {
        assert_eq!(payload_keys(c), ["name", "skipped"]);
        assert_eq!(c["skipped"], true);
    }
    assert!(!marker.exists(), "a dry run ran a check");
}

#[test]
fn a_treadmill_gets_one_advisory_in_the_ledger_and_the_next_prompt() {
    let p = Project::new();
    // busy every round (a dirty tree), never converging (the same failing check)
    let a = p.agent(
        "agent.sh",
        "cat > \"$AGENT_RUNNER_LOG_DIR/prompt-$AGENT_RUNNER_ROUND_NUM.txt\"; date +%s%N > work.txt; exit 0",
    );
    goal_config(
        &p,
        &a,
        "",
        "[[goal.checks]]\nname = \"tests\"\ncmd = [\"sh\", \"-c\", \"echo 3 passed; exit 1\"]\n",
    );
    for _ in 0..5 {
        let o = p.run(&["round"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let kinds = p.kinds();
    let assessments = p.events_of("goal_assessment");
    assert_eq!(assessments.len(), 1, "one advisory per episode: {kinds:?}");
    let a0 = &assessments[0];
    assert_eq!(payload_keys(a0), ["observation", "question", "confidence"]);
    assert_eq!(a0["confidence"], "medium");
    assert!(
        a0["observation"]
            .as_str()
            .unwrap_or_default()
            .contains("tests"),
        "{a0}"
    );
    // assessed at the start of round 4, before its round_start
    let i = kinds
        .iter()
        .position(|k| k == "goal_assessment")
        .unwrap_or(0);
    let starts: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| *k == "round_start")
        .map(|(i, _)| i)
        .collect();
    assert!(starts[2] < i && i < starts[3], "{kinds:?}");
    let ledger = std::fs::read_to_string(p.log_dir().join("ledger.md")).unwrap_or_default();
    assert!(ledger.starts_with("### Goal assessment -- "), "{ledger}");
    assert!(ledger.contains("- Confidence: medium"), "{ledger}");
    // the ledger is a prompt file: round 4's prompt carries the advisory
    let prompt3 = std::fs::read_to_string(p.log_dir().join("prompt-3.txt")).unwrap_or_default();
    let prompt4 = std::fs::read_to_string(p.log_dir().join("prompt-4.txt")).unwrap_or_default();
    assert!(!prompt3.contains("Goal assessment"), "{prompt3}");
    assert!(prompt4.contains("### Goal assessment -- "), "{prompt4}");
}

#[test]
fn a_ledger_that_cannot_be_written_warns_and_the_round_goes_on() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; date +%s%N > work.txt; exit 0");
    // the ledger's folder is a dangling symlink: reading the ledger finds
    // nothing (the prompt skips it), writing it fails
    let link = p.tmp.path().join("gone");
    std::os::unix::fs::symlink(p.tmp.path().join("nowhere"), &link)
        .unwrap_or_else(|e| panic!("{e}"));
    let ledger = link.join("ledger.md");
    let text = format!(
        "schema_version = 1\n[agent]\ncommand = [\"{}\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\
         [runtime]\nwork_dir = \".\"\nlog_dir = \"logs\"\n[prompt]\nfiles = [\"prompts/main.md\", \"{l}\"]\n\
         [goal]\nledger = \"{l}\"\n[[goal.checks]]\nname = \"tests\"\ncmd = [\"false\"]\n",
        a.display(),
        l = ledger.display()
    );
    std::fs::write(p.dir.join("agent-runner.toml"), text).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..3 {
        let o = p.run(&["round"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("goal steering skipped"), "{err}");
    assert!(p.events_of("goal_assessment").is_empty());
    assert_eq!(p.events_of("round_end").len(), 4);
}

#[test]
fn the_firewall_goal_events_never_stop_anything() {
    // `auto_stop_on` refuses goal names
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    p.config(&a, "", "[monitor]\nauto_stop_on = [\"goal_check\"]\n");
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&o.stderr).contains("monitor.auto_stop_on[0]"));
    // no kill, give-up, detector or witness code reads a goal event: only
    // the round's goal module and the event registry name them
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
        {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let allowed = rel.starts_with("round/goal") || rel == "state/events.rs";
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !allowed
                && [
                    "Kind::GoalCheck",
                    "Kind::GoalAssessment",
                    "\"goal_check\"",
                    "\"goal_assessment\"",
                ]
                .iter()
                .any(|n| text.contains(n))
            {
                offenders.push(rel);
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "goal events read outside round/goal: {offenders:?}"
    );
}
