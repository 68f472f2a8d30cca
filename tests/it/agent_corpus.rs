//! The canary (issue 17): every case of the real-output corpus
//! (`tests/data/agents/<cli>/<version>/<case>.*`, captured from the real
//! CLIs) replayed through the real binary. A fake agent named like the CLI
//! (a script on PATH) prints the recorded stdout and stderr with the
//! recorded timing and exit code, or hangs as the CLI did; `agent-runner
//! round` runs it with that CLI's preset; then `monitor --once --json`.
//! Per case: the class, the event, the early end of a CLI that would wait
//! for good (within 30 s of its first output), the alert, `round`'s exit code,
//! and no bogus usage record.
//!
//! Timelines are replayed in real time where the early end is what is
//! tested (the CLI hangs, or waits minutes for a browser), compressed to a
//! few seconds elsewhere. `AGENT_CORPUS_DIR` points the canary at another
//! corpus (`scripts/capture-agents --check` uses it on a fresh capture).

use crate::support::Project;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cases whose output cannot show the class the capture expects: the class
/// it does show, and why.
const INDISTINGUISHABLE: &[(&str, &str, &str, &str)] = &[
    (
        "codex",
        "no-key",
        "network",
        "without a network codex never checks for a key: its output is the dns-failure case's",
    ),
    ("codex", "root", "network", "as no-key"),
];

/// A recorded case's wall time is compressed to about this much when its
/// timing does not matter.
const COMPRESSED_S: f64 = 2.5;
/// The budget of a replayed round: a CLI that waits for good and is not
/// recognized runs into it (and fails the early-end check).
const BUDGET_S: u64 = 90;
/// Round-level alerts (the host-level ones read this machine's disk and memory).
const ROUND_ALERTS: &[&str] = &[
    "timeout_rate",
    "hung",
    "orphan_chain",
    "oauth_fail",
    "needs_input",
    "network_fail",
    "rate_limit_active",
    "anomaly_repetitive_active",
    "supervisor_stale",
];

struct Case {
    cli: String,
    name: String,
    side: Value,
    stem: PathBuf,
}

fn corpus_root() -> PathBuf {
    std::env::var_os("AGENT_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/agents"))
}

fn sorted_dirs(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for cli in sorted_dirs(&corpus_root())
        .into_iter()
        .filter(|p| p.is_dir())
    {
        for version in sorted_dirs(&cli).into_iter().filter(|p| p.is_dir()) {
            for f in sorted_dirs(&version) {
                if f.extension().map_or(true, |e| e != "json") {
                    continue;
                }
                let side: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap())
                    .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                out.push(Case {
                    cli: cli.file_name().unwrap().to_string_lossy().into_owned(),
                    name: f.file_stem().unwrap().to_string_lossy().into_owned(),
                    side,
                    stem: f.with_extension(""),
                });
            }
        }
    }
    out
}

impl Case {
    fn expected_class(&self) -> String {
        INDISTINGUISHABLE
            .iter()
            .find(|(c, k, _, _)| *c == self.cli && *k == self.name)
            .map(|(_, _, class, _)| class.to_string())
            .unwrap_or_else(|| {
                self.side["expect"]["class"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
    }
    /// A human must act before anything changes: no credentials at all, a
    /// browser sign-in, a non-root user, a setting. (An invalid key is an
    /// auth failure, not this.)
    fn needs_human(&self) -> bool {
        match self.expected_class().as_str() {
            "needs_input" | "refused_root" | "config" => true,
            "auth" => self.name != "invalid-key",
            _ => false,
        }
    }
    fn expected_exit(&self) -> i32 {
        if self.needs_human() {
            77
        } else if self.expected_class() == "ok" {
            0
        } else {
            1
        }
    }
    fn expected_alert(&self) -> Option<&'static str> {
        match self.expected_class().as_str() {
            "ok" => None,
            "auth" => Some("oauth_fail"),
            "needs_input" | "refused_root" | "config" => Some("needs_input"),
            _ => Some("rate_limit_active"),
        }
    }
    fn hangs(&self) -> bool {
        self.side["hangs"] == Value::Bool(true)
    }
    /// Replayed in real time: the early end is what is tested.
    fn realtime(&self) -> bool {
        self.hangs() || self.expected_class() == "needs_input"
    }
    fn first_output_s(&self) -> f64 {
        self.side["first_output_after_s"].as_f64().unwrap_or(0.0)
    }
}

/// The fake CLI: the recorded chunks in files, a bash script that prints
/// them in order with the recorded pauses (scaled by `scale`), then exits
/// with the recorded code or hangs. It pauses with `read -t` on a pipe it
/// holds itself, not `sleep`: a real CLI retries in-process, and a child
/// would count as live work for grace-after-result.
fn fake_cli(case: &Case, bin: &Path, scale: f64) {
    let out = std::fs::read(case.stem.with_extension("stdout")).unwrap_or_default();
    let err = std::fs::read(case.stem.with_extension("stderr")).unwrap_or_default();
    let chunks = bin.join("chunks");
    std::fs::create_dir_all(&chunks).unwrap();
    let mut script = String::from("#!/usr/bin/env bash\nexec 3<> <(:)\n");
    let (mut o, mut e, mut t0) = (0usize, 0usize, 0f64);
    for (i, r) in case.side["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let t = r[0].as_f64().unwrap_or(0.0);
        let n = r[2].as_u64().unwrap_or(0) as usize;
        let (bytes, redirect) = if r[1] == "out" {
            let b = &out[o.min(out.len())..(o + n).min(out.len())];
            o += n;
            (b, "")
        } else {
            let b = &err[e.min(err.len())..(e + n).min(err.len())];
            e += n;
            (b, " >&2")
        };
        let pause = (t - t0) * scale;
        t0 = t;
        if pause >= 0.005 {
            script.push_str(&format!("read -r -t {pause:.3} -u 3 _\n"));
        }
        let f = chunks.join(format!("c{i}"));
        std::fs::write(&f, bytes).unwrap();
        script.push_str(&format!("cat '{}'{redirect}\n", f.display()));
    }
    if case.hangs() {
        script.push_str("exec sleep 3600\n");
    } else {
        script.push_str(&format!(
            "exit {}\n",
            case.side["exit_code"].as_i64().unwrap_or(1)
        ));
    }
    let path = bin.join(&case.cli);
    crate::support::write_exec(&path, script);
}

/// The CLI's own preset, with a local log_dir, a short budget and no pause.
fn preset_config(p: &Project, cli: &str, case: &str) {
    let text = agent_runner::config::presets::render(cli, "proj", None)
        .unwrap_or_else(|| panic!("no preset {cli}"));
    let mut text = text
        .replace(
            "log_dir = \"~/.agent-runner/proj/logs\"",
            "log_dir = \"logs\"",
        )
        .replace(
            "round_budget_s = 1800",
            &format!("round_budget_s = {BUDGET_S}"),
        )
        .replace(
            "restart_delay_s = 3",
            "restart_delay_s = 0\nmax_grace_after_result_s = 2",
        );
    if cli == "pi" && case != "placeholder-model" {
        text = text.replace("PROVIDER/MODEL", "moonshotai/kimi-k3");
    }
    assert!(
        text.contains("log_dir = \"logs\""),
        "preset {cli} changed shape"
    );
    std::fs::write(p.dir.join("agent-runner.toml"), text).unwrap();
}

/// The class a round's events give: what a human must do first, then an
/// auth failure, then the transient's classification.
fn class_of(events: &[Value]) -> String {
    let of = |k: &str| events.iter().find(|e| e["event"] == k);
    if let Some(n) = of("agent_needs_input") {
        return match n["need"].as_str().unwrap_or("") {
            "non_root" => "refused_root",
            "agent_config" => "config",
            "login" => "auth",
            _ => "needs_input",
        }
        .into();
    }
    if of("agent_auth_error_detected").is_some() {
        return "auth".into();
    }
    if let Some(t) = of("transient_error_detected") {
        return match t["classification"].as_str().unwrap_or("") {
            "network" => "network",
            "api_transient_5xx" | "api_timeout" => "api_transient_5xx",
            _ => "rate_limit",
        }
        .into();
    }
    "ok".into()
}

struct Row {
    case: String,
    class: String,
    events: Vec<String>,
    duration_s: f64,
    early: String,
    exit: Option<i32>,
    alerts: Vec<String>,
    problems: Vec<String>,
}

fn cmd(p: &Project, bin: &Path, args: &[&str]) -> Command {
    let mut c = p.cmd(args);
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", bin.display()));
    c
}

fn run_case(case: &Case) -> Row {
    let p = Project::new();
    let bin = p.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let last = case.side["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .and_then(|r| r[0].as_f64())
        .unwrap_or(0.0);
    let scale = if case.realtime() {
        1.0
    } else {
        (COMPRESSED_S / last.max(0.001)).min(1.0)
    };
    fake_cli(case, &bin, scale);
    preset_config(&p, &case.cli, &case.name);
    let started = Instant::now();
    let out = cmd(&p, &bin, &["round"]).output().unwrap();
    let wall = started.elapsed();
    let events = p.events();
    let mut problems = Vec::new();
    let want = case.expected_class();
    let class = class_of(&events);
    if class != want {
        problems.push(format!("class {class}, want {want}"));
    }
    let exit = out.status.code();
    if exit != Some(case.expected_exit()) {
        problems.push(format!(
            "round exit {exit:?}, want {}; stderr: {}",
            case.expected_exit(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let agent_exit = events.iter().find(|e| e["event"] == "agent_exit");
    let duration_s = agent_exit
        .and_then(|e| e["duration_s"].as_f64())
        .unwrap_or(wall.as_secs_f64());
    let cause = agent_exit
        .and_then(|e| e["exit_cause"].as_str())
        .unwrap_or("?")
        .to_string();
    let early = if case.realtime() {
        let limit = case.first_output_s() + 30.0;
        if duration_s > limit {
            problems.push(format!(
                "ran {duration_s:.1} s, past first output + 30 s ({limit:.1} s)"
            ));
        }
        format!("{duration_s:.1} s ({cause})")
    } else {
        format!("compressed ({cause})")
    };
    for u in events
        .iter()
        .filter(|e| e["event"] == "agent_usage_recorded")
    {
        if u["model"] == "<synthetic>" {
            problems.push("a <synthetic> usage record".into());
        }
        let zero = ["input_tokens", "output_tokens", "cached_tokens"]
            .iter()
            .all(|k| u[*k].as_i64() == Some(0));
        if zero && want != "ok" {
            problems.push(format!("a zero usage record on a failed round: {u}"));
        }
    }
    if want == "rate_limit" {
        let reset = events
            .iter()
            .find(|e| e["event"] == "transient_error_detected")
            .and_then(|e| e["reset_at_epoch"].as_i64())
            .unwrap_or(0);
        if reset <= chrono::Utc::now().timestamp() {
            problems.push("the rate-limit event has no reset time ahead".into());
        }
    }
    let after_end: Vec<String> = events
        .iter()
        .skip_while(|e| e["event"] != "round_end")
        .skip(1)
        .filter_map(|e| e["event"].as_str().map(String::from))
        .collect();
    let mon = cmd(&p, &bin, &["monitor", "--once", "--json"])
        .output()
        .unwrap();
    let alerts: Vec<String> = String::from_utf8_lossy(&mon.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|a| a["detector"].as_str().map(String::from))
        .filter(|d| ROUND_ALERTS.contains(&d.as_str()))
        .collect();
    match case.expected_alert() {
        Some(a) if !alerts.iter().any(|x| x == a) => {
            problems.push(format!("no {a} alert after one round: {alerts:?}"))
        }
        None if !alerts.is_empty() => problems.push(format!("alerts on a good round: {alerts:?}")),
        _ => {}
    }
    Row {
        case: format!("{}/{}", case.cli, case.name),
        class,
        events: after_end,
        duration_s,
        early,
        exit,
        alerts,
        problems,
    }
}

#[test]
fn every_corpus_case_replayed_through_round_is_recognized_in_its_first_round() {
    let all = cases();
    assert!(
        all.len() >= 50 || std::env::var_os("AGENT_CORPUS_DIR").is_some(),
        "only {} cases",
        all.len()
    );
    let next = AtomicUsize::new(0);
    let rows = Mutex::new(Vec::new());
    // the replays mostly sleep: several at once
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = all.get(i) else { break };
                let row = run_case(case);
                rows.lock().unwrap().push(row);
            });
        }
    });
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by(|a, b| a.case.cmp(&b.case));
    eprintln!("| case | class | events after round_end | early end | round exit | alerts |");
    eprintln!("|---|---|---|---|---|---|");
    for r in &rows {
        eprintln!(
            "| {} | {} | {} | {} | {} | {} |",
            r.case,
            r.class,
            r.events.join(", "),
            r.early,
            r.exit.map_or("-".into(), |c| c.to_string()),
            r.alerts.join(", ")
        );
    }
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| {
            format!(
                "{} ({:.1} s): {}",
                r.case,
                r.duration_s,
                r.problems.join("; ")
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} cases:\n{}",
        bad.len(),
        rows.len(),
        bad.join("\n")
    );
}

fn replay_project(cli: &str, case: &str, scale: f64) -> (Project, PathBuf) {
    let c = cases()
        .into_iter()
        .find(|c| c.cli == cli && c.name == case)
        .unwrap_or_else(|| panic!("no corpus case {cli}/{case}"));
    let p = Project::new();
    let bin = p.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_cli(&c, &bin, scale);
    preset_config(&p, cli, case);
    (p, bin)
}

/// `serve` on a replayed case that needs a human: exit 78 within 3 rounds,
/// the remedy (every one of `remedy`) in stderr's last line and in the
/// `config_broken` event, no crash loop.
fn serve_stops_with_78(cli: &str, case: &str, remedy: &[&str]) {
    let (p, bin) = replay_project(cli, case, 1.0);
    let started = Instant::now();
    let out = cmd(&p, &bin, &["serve"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "stderr: {stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    let rounds = p.events_of("round_start").len();
    assert!((1..=3).contains(&rounds), "{rounds} rounds");
    let last = stderr.lines().last().unwrap_or("");
    assert!(remedy.iter().all(|r| last.contains(r)), "last line: {last}");
    let broken = p.events_of("config_broken");
    let reason = broken
        .last()
        .map(|e| e["reason"].to_string())
        .unwrap_or_default();
    assert!(
        remedy.iter().all(|r| reason.contains(r)),
        "config_broken: {broken:?}"
    );
    assert!(p.events_of("crash_loop").is_empty());
}

#[test]
fn serve_stops_with_78_and_the_remedy_when_claude_is_refused_as_root() {
    serve_stops_with_78("claude", "root", &["IS_SANDBOX=1", "non-root user"]);
}

#[test]
fn serve_stops_with_78_and_the_remedy_when_codewhale_has_no_key() {
    serve_stops_with_78(
        "codewhale",
        "no-key",
        &["DEEPSEEK_API_KEY", "codewhale auth set --provider deepseek"],
    );
}

#[test]
fn serve_backs_off_when_codex_waits_for_the_network_instead_of_crash_looping() {
    let (p, bin) = replay_project("codex", "dns-failure", 0.2);
    let mut serve = Serve(cmd(&p, &bin, &["serve"]).spawn().unwrap());
    let child = &mut serve.0;
    // the round ends on "waiting for network"; serve then backs off (a
    // minute or more), it does not run round after round
    let ended = crate::support::wait_until(Duration::from_secs(40), || {
        !p.events_of("round_end").is_empty()
    });
    assert!(ended, "no round_end: {:?}", p.kinds());
    std::thread::sleep(Duration::from_secs(4));
    let t = p.events_of("transient_error_detected");
    assert_eq!(t.len(), 1, "{:?}", p.kinds());
    assert_eq!(t[0]["classification"], "network");
    assert_eq!(
        p.events_of("round_start").len(),
        1,
        "no second round while backing off: {:?}",
        p.kinds()
    );
    let exit = p.events_of("agent_exit");
    assert_eq!(exit[0]["exit_cause"], "network_down");
    assert!(
        !p.events_of("agent_network_blip").is_empty(),
        "{:?}",
        p.kinds()
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    assert_eq!(
        crate::support::wait_exit(child, Duration::from_secs(20)),
        Some(0)
    );
}

/// A `serve` that is killed (with its round and agent) if the test fails.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            agent_runner::serve::kill_tree(self.0.id() as i32);
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_retrying_pi_is_not_killed_after_its_first_end_record() {
    // pi writes `agent_end` (the preset's terminal marker) after every failed
    // attempt, then retries: with a 1 s grace after the result, the round
    // must still run to pi's own end (its last retry fails at ~18 s, here
    // compressed to ~9 s) and classify the rate limit
    let (p, bin) = replay_project("pi", "rate-limit", 0.5);
    let cfg = std::fs::read_to_string(p.dir.join("agent-runner.toml")).unwrap();
    assert!(
        cfg.contains("terminal_marker = \"\\\"type\\\":\\\"agent_end\\\"\""),
        "{cfg}"
    );
    std::fs::write(
        p.dir.join("agent-runner.toml"),
        cfg.replace(
            "max_grace_after_result_s = 2",
            "max_grace_after_result_s = 1",
        ),
    )
    .unwrap();
    let out = cmd(&p, &bin, &["round"]).output().unwrap();
    let exit = &p.events_of("agent_exit")[0];
    assert_eq!(exit["exit_cause"], "clean", "{exit}");
    assert_eq!(exit["exit_code"], 0);
    assert!(exit["duration_s"].as_f64().unwrap_or(0.0) > 8.0, "{exit}");
    assert!(p.events_of("round_grace_kill").is_empty());
    assert_eq!(class_of(&p.events()), "rate_limit");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_round_that_runs_into_its_budget_is_still_classified_from_its_output() {
    // aider's rate-limit failures come at ~9.7 s and ~13.9 s; the watch
    // ends a retry loop only once it has failed for 10 s, so a 16 s budget
    // cuts the round first: timed out, and still classified from its output
    let (p, bin) = replay_project("aider", "rate-limit", 1.0);
    let cfg = std::fs::read_to_string(p.dir.join("agent-runner.toml")).unwrap();
    let cfg = cfg.replace(
        &format!("round_budget_s = {BUDGET_S}"),
        "round_budget_s = 16",
    );
    assert!(cfg.contains("round_budget_s = 16"), "{cfg}");
    std::fs::write(p.dir.join("agent-runner.toml"), cfg).unwrap();
    let out = cmd(&p, &bin, &["round"]).output().unwrap();
    let exit = &p.events_of("agent_exit")[0];
    assert_eq!(exit["timed_out"], true, "{exit}");
    assert_eq!(exit["exit_cause"], "timeout", "{exit}");
    let kill = &p.events_of("round_timeout_kill")[0];
    assert_eq!(kill["reason"], "exceeded round_budget_s=16");
    assert_eq!(class_of(&p.events()), "rate_limit", "{:?}", p.kinds());
    // a timeout alone is not a failure (the Python tool); the rate limit is
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
