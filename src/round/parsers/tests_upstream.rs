//! Differential check against upstream: every case in
//! `tests/data/parsers/cases.json` was run through upstream's real built-in
//! plugins (0.3.14, `gen_expected.py`); our parser, reading the same sample
//! file through [`tail_for_parsers`] / [`head_for_parsers`], must emit the
//! same events with the same payloads in the same key order. Our extension
//! (auth events for claude, gemini, codewhale) is left out of the comparison
//! and tested in each parser's own tests.

use super::testutil::NOW;
use super::*;
use serde_json::Value;
use std::path::PathBuf;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/parsers")
}

fn load(name: &str) -> Value {
    let p = data().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

pub(super) fn check(agent: &str) {
    let cases = load("cases.json");
    let expected = load("expected.json");
    let mut ran = 0;
    for case in cases.as_array().into_iter().flatten() {
        if case["agent"] != agent {
            continue;
        }
        let name = case["name"].as_str().unwrap_or_default();
        let path = data()
            .join("samples")
            .join(case["file"].as_str().unwrap_or_default());
        let tail = tail_for_parsers(&path, TAIL_JSON_LINES);
        let head = head_for_parsers(&path, HEAD_LINES);
        assert!(
            !tail.is_empty() || name.starts_with("kimi-401"),
            "{name}: empty tail"
        );
        let input = ParseInput {
            agent_binary: agent,
            log_tail: &tail,
            round_num: 7,
            phase: case["phase"].as_str(),
            success: case["success"].as_bool().unwrap_or(false),
            repetitive_window: case["window"].as_u64().unwrap_or(0),
            repetitive_threshold: case["threshold"].as_u64().unwrap_or(0),
            now_epoch: NOW,
        };
        let got: Vec<Value> = post_round_events_with_head(&input, &head)
            .into_iter()
            .filter(|(k, _)| agent == "pi" || *k != Kind::AgentAuthErrorDetected)
            .map(|(k, m)| Value::Array(vec![k.as_str().into(), Value::Object(m)]))
            .collect();
        let want = expected[name].as_array().cloned().unwrap_or_default();
        assert_eq!(got, want, "case {name}");
        // serde_json's Map equality ignores order: compare the key order too
        for (g, w) in got.iter().zip(&want) {
            let keys = |v: &Value| -> Vec<String> {
                v[1].as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            assert_eq!(keys(g), keys(w), "key order, case {name}");
        }
        ran += 1;
    }
    assert!(ran > 0, "no upstream cases for {agent}");
}
