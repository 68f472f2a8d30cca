//! `round_start.config_digest` / `config_changed` (0.3 delta §2.7): a label of
//! the prompt files, goal checks, dirty action, delivery and agent env a round
//! was given; the first round and every change carry the names (never env
//! values). The payload keys and types are the Python tool 0.3.14's.

use crate::support::*;
use std::process::Command;

fn starts(p: &Project) -> Vec<serde_json::Value> {
    p.events_of("round_start")
}

#[test]
fn round_start_carries_the_config_digest_and_says_when_it_changed() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let cfg = p.config(
        &a,
        "round_budget_s = 30",
        "[agent.env]\nSECRET_TOKEN = \"hunter2-value\"\n",
    );
    // [agent.env] must follow [agent]: rewrite the file with it in place.
    let text = std::fs::read_to_string(&cfg).unwrap_or_default();
    let text = text.replace("[agent.env]\nSECRET_TOKEN = \"hunter2-value\"\n", "");
    let text = text.replace(
        "prompt_delivery = \"stdin\"\n",
        "prompt_delivery = \"stdin\"\n\n[agent.env]\nSECRET_TOKEN = \"hunter2-value\"\n",
    );
    std::fs::write(&cfg, &text).unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    for _ in 0..2 {
        assert_eq!(p.run(&["round"]).status.code(), Some(0));
    }
    let s = starts(&p);
    let d1 = s[0]["config_digest"].as_str().unwrap_or("").to_string();
    assert_eq!(d1.len(), 64, "{}", s[0]);
    assert!(d1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        payload_keys(&s[0]),
        [
            "round_num",
            "phase",
            "config_digest",
            "config_changed",
            "config_prompt_files",
            "config_check_names",
            "config_vcs_dirty_action",
            "config_prompt_delivery"
        ]
    );
    assert_eq!(s[0]["config_changed"], true);
    let main = p.dir.join("prompts/main.md").display().to_string();
    assert_eq!(s[0]["config_prompt_files"], serde_json::json!([main]));
    assert_eq!(s[0]["config_check_names"], serde_json::json!([]));
    assert_eq!(s[0]["config_vcs_dirty_action"], "stash");
    assert_eq!(s[0]["config_prompt_delivery"], "stdin");
    // Unchanged: the same digest, no names.
    assert_eq!(
        payload_keys(&s[1]),
        ["round_num", "phase", "config_digest", "config_changed"]
    );
    assert_eq!(s[1]["config_digest"], d1.as_str());
    assert_eq!(s[1]["config_changed"], false);
    // The prompt's bytes change: a new digest.
    let prompt = p.dir.join("prompts/main.md");
    let mut body = std::fs::read_to_string(&prompt).unwrap_or_default();
    body.push_str("\nOne more rule.\n");
    std::fs::write(&prompt, body).unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["commit", "-qam", "prompt"]);
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    // An env value changes: a new digest, and the value is never written.
    std::fs::write(&cfg, text.replace("hunter2-value", "hunter3-value"))
        .unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["commit", "-qam", "env"]);
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    let s = starts(&p);
    assert_eq!(s[2]["config_changed"], true, "{}", s[2]);
    assert_ne!(s[2]["config_digest"], d1.as_str());
    assert_eq!(s[3]["config_changed"], true, "{}", s[3]);
    assert_ne!(s[3]["config_digest"], s[2]["config_digest"]);
    let log = std::fs::read_dir(p.log_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<String>();
    assert!(!log.contains("hunter"), "an env value was written");
}

#[test]
fn round_start_payload_matches_the_python_tool() {
    let p = Project::new();
    let a = p.agent("agent.sh", "cat >/dev/null; exit 0");
    let cfg = p.config(&a, "round_budget_s = 30", "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap_or_default()
        .replace("restart_delay_s = 0", "restart_delay_s = 1");
    std::fs::write(&cfg, text).unwrap_or_else(|e| panic!("{e}"));
    git(&p.dir, &["add", "-A"]);
    git(&p.dir, &["commit", "-q", "-m", "config"]);
    let o = Command::new(python_tool())
        .arg("round")
        .current_dir(&p.dir)
        .env("HOME", &p.home)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(p.run(&["round"]).status.code(), Some(0));
    let s = starts(&p);
    assert_eq!(s.len(), 2);
    // Python's first round and ours (a digest scheme of our own: changed).
    assert_eq!(payload_keys(&s[1]), payload_keys(&s[0]));
    for k in payload_keys(&s[0]) {
        let (a, b) = (&s[0][&k], &s[1][&k]);
        assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{k}: python {a}, ours {b}"
        );
        if k != "config_digest" && k != "round_num" {
            assert_eq!(a, b, "{k}");
        }
    }
}
