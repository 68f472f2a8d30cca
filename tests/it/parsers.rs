//! The post-round parsers through a real `agent-runner round`: a fake agent
//! named like the CLI prints that CLI's JSON output, and the events land in
//! the log_dir after `round_end`, payloads in upstream order, `raw` redacted.

use crate::support::{payload_keys, Project};
use serde_json::json;

const CLAUDE_TOOL_USE: &str =
    include_str!("../data/cli-real-output/claude-2.1.143-assistant-tool-use.jsonl");
const CLAUDE_RESULT: &str =
    include_str!("../data/cli-real-output/claude-2.1.143-result-event.jsonl");
const GEMINI_RESULT: &str =
    include_str!("../data/cli-real-output/gemini-0.42.0-result-event.jsonl");

/// A fake CLI called `name` that drains its prompt, prints `out` and exits
/// with `code`.
fn fake_cli(p: &Project, name: &str, out: &str, code: i32) -> std::path::PathBuf {
    let data = p.tmp.path().join(format!("{name}.out"));
    std::fs::write(&data, out).unwrap_or_else(|e| panic!("{e}"));
    p.agent(
        name,
        &format!("cat >/dev/null; cat '{}'; exit {code}", data.display()),
    )
}

fn after_round_end(p: &Project) -> Vec<String> {
    let kinds = p.kinds();
    let end = kinds
        .iter()
        .position(|k| k == "round_end")
        .unwrap_or_else(|| panic!("no round_end in {kinds:?}"));
    kinds[end + 1..].to_vec()
}

#[test]
fn claude_usage_from_the_real_stream_json() {
    let p = Project::new();
    let out = format!("{CLAUDE_TOOL_USE}some stderr line\n{CLAUDE_RESULT}");
    let a = fake_cli(&p, "claude", &out, 0);
    p.config(&a, "round_budget_s = 60", "");
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert_eq!(after_round_end(&p), ["agent_usage_recorded"]);
    let u = &p.events_of("agent_usage_recorded")[0];
    assert_eq!(
        payload_keys(u),
        [
            "agent",
            "model",
            "round_num",
            "input_tokens",
            "output_tokens",
            "cached_tokens",
            "cost_usd",
            "duration_ms",
            "models_breakdown",
            "cache_creation_tokens",
            "tool_call_count",
            "phase",
            "success"
        ]
    );
    assert_eq!(u["model"], json!("claude-opus-4-7"));
    assert_eq!(u["input_tokens"], json!(5));
    assert_eq!(u["output_tokens"], json!(6));
    assert_eq!(u["cached_tokens"], json!(17806));
    assert_eq!(u["cache_creation_tokens"], json!(12234));
    assert_eq!(u["cost_usd"], json!(0.0855405));
    assert_eq!(u["duration_ms"], json!(6657));
    assert_eq!(u["tool_call_count"], json!(2));
    assert_eq!(u["success"], json!(true));
}

#[test]
fn claude_overloaded_error_is_transient_with_raw_redacted() {
    let p = Project::new();
    let result = json!({"type": "result", "is_error": true, "api_error_status": 529,
        "result": "Overloaded Authorization: Bearer sk-ant-api03-abcdefghijklmnopqrstuvwxyz",
        "usage": {"input_tokens": 1, "output_tokens": 0}});
    // A large burst of chatter before the result: the tail reader still finds it.
    let mut out = String::new();
    for i in 0..40_000 {
        out.push_str(&format!(
            "progress line {i} ................................\n"
        ));
    }
    out.push_str(&format!("{result}\n"));
    let a = fake_cli(&p, "claude", &out, 1);
    p.config(&a, "round_budget_s = 60", "");
    assert_eq!(p.run(&["round"]).status.code(), Some(1), "the agent failed");
    assert_eq!(
        after_round_end(&p),
        ["transient_error_detected", "agent_usage_recorded"]
    );
    let t = &p.events_of("transient_error_detected")[0];
    assert_eq!(
        payload_keys(t),
        [
            "classification",
            "agent",
            "reset_at_epoch",
            "round_num",
            "raw",
            "phase"
        ]
    );
    assert_eq!(t["classification"], json!("api_transient_5xx"));
    assert_eq!(t["raw"], json!("Overloaded Authorization: <redacted>"));
    assert_eq!(t["phase"], json!(""));
    let now = chrono::Utc::now().timestamp();
    let reset = t["reset_at_epoch"].as_i64().unwrap_or(0);
    assert!(
        (now..=now + 60).contains(&reset),
        "reset {reset} not within a minute of now {now}"
    );
    assert_eq!(
        p.events_of("agent_usage_recorded")[0]["success"],
        json!(false)
    );
}

#[test]
fn gemini_multi_model_breakdown() {
    let p = Project::new();
    let out = format!("Loaded cached credentials.\n{GEMINI_RESULT}");
    let a = fake_cli(&p, "gemini", &out, 0);
    p.config(&a, "round_budget_s = 60", "");
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    let u = &p.events_of("agent_usage_recorded")[0];
    assert_eq!(u["model"], json!("gemini-3-flash-preview"));
    assert_eq!(
        u["models_breakdown"]["gemini-3.1-flash-lite"],
        json!({"total_tokens": 1499, "input_tokens": 1356, "output_tokens": 45, "cached_tokens": 0})
    );
}

#[test]
fn pi_auth_failure_with_exit_0() {
    let p = Project::new();
    let out = [
        json!({"type": "session", "version": 3, "id": "s", "timestamp": "2026-11-25T10:00:00.000Z", "cwd": "/w"}).to_string(),
        json!({"type": "agent_end", "messages": [{"role": "assistant", "content": [], "provider": "moonshot", "model": "kimi-k2",
            "usage": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 0, "cost": {"total": 0}},
            "stopReason": "error", "errorMessage": "401: {\"error\":{\"message\":\"Invalid Authentication\"}}", "timestamp": 1_795_600_800_050_i64}]}).to_string(),
    ]
    .join("\n");
    let a = fake_cli(&p, "pi", &out, 0);
    p.config(&a, "round_budget_s = 60", "");
    // pi exits 0 on an API error; its output says the round failed
    assert_eq!(p.run(&["round"]).status.code(), Some(1));
    assert_eq!(after_round_end(&p), ["agent_auth_error_detected"]);
    let e = &p.events_of("agent_auth_error_detected")[0];
    assert_eq!(payload_keys(e), ["round_num", "agent", "raw"]);
    assert_eq!(e["agent"], json!("pi"));
}

#[test]
fn other_agents_get_no_parser_events() {
    let p = Project::new();
    let a = fake_cli(&p, "aider", CLAUDE_RESULT, 0);
    p.config(&a, "round_budget_s = 60", "");
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert!(after_round_end(&p).is_empty(), "{:?}", p.kinds());
}

#[test]
fn plugins_disable_turns_the_named_parser_off() {
    // the claude parser off: the same output gives no events
    let p = Project::new();
    let out = format!("{CLAUDE_TOOL_USE}{CLAUDE_RESULT}");
    let a = fake_cli(&p, "claude", &out, 0);
    p.config(
        &a,
        "round_budget_s = 60",
        "[plugins]\ndisable = [\"claude\"]\n",
    );
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    assert!(after_round_end(&p).is_empty(), "{:?}", p.kinds());
    // another parser's name leaves claude's on; an unknown name only warns
    let p = Project::new();
    let a = fake_cli(&p, "claude", &out, 0);
    p.config(
        &a,
        "round_budget_s = 60",
        "[plugins]\ndisable = [\"gemini\", \"claude_error_detector\"]\n",
    );
    let o = p.run(&["round"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(after_round_end(&p), ["agent_usage_recorded"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("claude_error_detector") && err.contains("'claude'"),
        "{err}"
    );
    // the parser off, the recognition of claude's words still runs: a
    // "Not logged in" result is still a needs-human round
    let p = Project::new();
    let a = fake_cli(
        &p,
        "claude",
        "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Not logged in - Please run /login\"}\n",
        1,
    );
    p.config(
        &a,
        "round_budget_s = 60",
        "[plugins]\ndisable = [\"claude\"]\n",
    );
    p.run(&["round"]);
    let after = after_round_end(&p);
    assert!(
        after.iter().any(|k| k == "agent_needs_input")
            && !after.iter().any(|k| k == "agent_usage_recorded"),
        "{after:?}"
    );
}
