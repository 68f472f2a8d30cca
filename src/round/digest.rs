//! `round_start.config_digest` (0.3 delta §2.7): a label of what this round
//! was given — the prompt files (paths and a SHA-256 of each one's bytes,
//! null when unreadable), the goal checks (names and argv), `[vcs]
//! dirty_action`, the prompt delivery and the agent's env pairs — as SHA-256
//! over canonical JSON (sorted keys, compact). `config_changed` says whether
//! it differs from the newest earlier `round_start`; when it does, the event
//! also names the prompt files and checks (never env values). No decision
//! reads it.
//!
//! The inputs are upstream's; the canonical document is ours, so a digest
//! is not byte-equal to one the Python tool wrote (a host that changes tool
//! shows `config_changed: true` once).

use crate::config::{Config, PromptDelivery};
use crate::state::{reader, Layout};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn delivery(d: PromptDelivery) -> &'static str {
    match d {
        PromptDelivery::Argv => "argv",
        PromptDelivery::Stdin => "stdin",
    }
}

/// The digest of what a round of `phase` is given.
pub fn config_digest(cfg: &Config, phase: Option<&str>) -> String {
    let agent = cfg.agent_for(phase);
    let files: Vec<Value> = cfg
        .prompt_files_for(phase)
        .iter()
        .map(|p| {
            let sum = std::fs::read(p).ok().map(|b| sha256_hex(&b));
            json!([p.display().to_string(), sum])
        })
        .collect();
    let checks: Vec<Value> = cfg
        .goal
        .iter()
        .flat_map(|g| g.checks.iter())
        .map(|c| json!([c.name, c.cmd]))
        .collect();
    let mut env: Vec<(&String, &String)> = agent.env.iter().map(|(k, v)| (k, v)).collect();
    env.sort();
    let mut doc: BTreeMap<&str, Value> = BTreeMap::new();
    doc.insert("agent_env", json!(env));
    doc.insert("goal_checks", Value::Array(checks));
    doc.insert("prompt_delivery", json!(delivery(agent.prompt_delivery)));
    doc.insert("prompt_files", Value::Array(files));
    doc.insert("vcs_dirty_action", json!(cfg.vcs.dirty_action.as_str()));
    let text = serde_json::to_string(&doc).unwrap_or_default();
    sha256_hex(text.as_bytes())
}

/// The `config_digest` of the newest `round_start` in any month file.
fn last_digest(layout: &Layout) -> Option<String> {
    let shards = reader::shard_files(&layout.log_dir, "events-");
    let mut found = None;
    let _ = reader::scan_back(&shards, &["round_start"], |l| {
        found = l
            .value
            .get("config_digest")
            .and_then(Value::as_str)
            .map(String::from);
        false
    });
    found
}

/// The payload of `round_start`, in upstream's order.
pub fn round_start_fields(
    cfg: &Config,
    layout: &Layout,
    round_num: u64,
    phase: Option<&str>,
) -> Map<String, Value> {
    let digest = config_digest(cfg, phase);
    let changed = last_digest(layout).as_deref() != Some(digest.as_str());
    let mut m = crate::fields! {
        "round_num" => round_num,
        "phase" => phase,
        "config_digest" => digest,
        "config_changed" => changed,
    };
    if changed {
        let files: Vec<String> = cfg
            .prompt_files_for(phase)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let names: Vec<&str> = cfg
            .goal
            .iter()
            .flat_map(|g| g.checks.iter())
            .map(|c| c.name.as_str())
            .collect();
        m.insert("config_prompt_files".into(), json!(files));
        m.insert("config_check_names".into(), json!(names));
        m.insert(
            "config_vcs_dirty_action".into(),
            json!(cfg.vcs.dirty_action.as_str()),
        );
        m.insert(
            "config_prompt_delivery".into(),
            json!(delivery(cfg.agent_for(phase).prompt_delivery)),
        );
    }
    m
}
