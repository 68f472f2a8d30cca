//! Every case of the real-output corpus (`tests/data/agents/`) replayed
//! through the watch with its recorded timeline on a simulated clock: the
//! class the capture expects, and for a CLI that hangs, an end within 30 s of
//! its first output. (The canary, tests/it/agent_corpus.rs, does the same
//! through the real binary.)

use super::{Recognition, Watch};
use crate::round::process::OutputWatch;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Cases whose output cannot show the class the capture expects, and the
/// class it does show.
pub const INDISTINGUISHABLE: &[(&str, &str, &str, &str)] = &[
    // without a network codex never gets as far as checking for a key: its
    // output is byte for byte the dns-failure case's
    (
        "codex",
        "no-key",
        "network",
        "codex without network never checks its key",
    ),
    (
        "codex",
        "root",
        "network",
        "codex without network never checks its key",
    ),
];

pub fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/agents")
}

/// Every `(cli, case sidecar)` of the corpus.
pub fn cases(root: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let dirs = |p: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(p)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    for cli in dirs(root).into_iter().filter(|p| p.is_dir()) {
        let name = cli
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for version in dirs(&cli).into_iter().filter(|p| p.is_dir()) {
            for f in dirs(&version) {
                if f.extension().is_some_and(|e| e == "json") {
                    out.push((name.clone(), f));
                }
            }
        }
    }
    out
}

/// The class a case should get: the sidecar's, unless listed above.
pub fn expected_class(cli: &str, case: &str, side: &Value) -> String {
    INDISTINGUISHABLE
        .iter()
        .find(|(c, k, _, _)| *c == cli && *k == case)
        .map(|(_, _, class, _)| class.to_string())
        .unwrap_or_else(|| side["expect"]["class"].as_str().unwrap_or("").to_string())
}

struct Replay {
    recognition: Recognition,
    /// When the watch ended the round (simulated seconds), if it did.
    ended_at: Option<f64>,
}

fn replay(cli: &str, side_path: &Path) -> Replay {
    let side: Value = serde_json::from_str(&std::fs::read_to_string(side_path).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{}: {e}", side_path.display()));
    let stem = side_path.with_extension("");
    let out = std::fs::read(stem.with_extension("stdout")).unwrap_or_default();
    let err = std::fs::read(stem.with_extension("stderr")).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let log = dir.path().join("round.log");
    let mut f = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let mut watch = Watch::new(cli, &log).unwrap_or_else(|| panic!("no recognizer for {cli}"));
    let (mut o, mut e) = (0usize, 0usize);
    let mut clock = 0f64;
    let mut ended_at = None;
    let poll_until = |watch: &mut Watch, t: f64, clock: &mut f64| -> Option<f64> {
        while *clock + 1.0 <= t {
            *clock += 1.0;
            if watch.poll(Duration::from_secs_f64(*clock)).is_some() {
                return Some(*clock);
            }
        }
        None
    };
    for r in side["timeline"].as_array().into_iter().flatten() {
        let t = r[0].as_f64().unwrap_or(0.0);
        if let Some(at) = poll_until(&mut watch, t, &mut clock) {
            ended_at = Some(at);
            break;
        }
        let n = r[2].as_u64().unwrap_or(0) as usize;
        let chunk = if r[1] == "out" {
            let c = &out[o.min(out.len())..(o + n).min(out.len())];
            o += n;
            c
        } else {
            let c = &err[e.min(err.len())..(e + n).min(err.len())];
            e += n;
            c
        };
        f.write_all(chunk).unwrap_or_else(|e| panic!("{e}"));
    }
    if ended_at.is_none() && side["hangs"] == Value::Bool(true) {
        // the CLI would go on: poll on until the capture stopped it
        let until = side["killed_by_capture_after_s"].as_f64().unwrap_or(60.0);
        ended_at = poll_until(&mut watch, until, &mut clock);
    }
    let recognition = watch.finish(Duration::from_secs_f64(clock));
    Replay {
        recognition,
        ended_at,
    }
}

#[test]
fn every_corpus_case_is_recognized_and_hanging_ones_end_within_30s() {
    let all = cases(&corpus());
    assert!(all.len() >= 50, "corpus has only {} cases", all.len());
    let mut wrong = Vec::new();
    for (cli, side_path) in &all {
        let case = side_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let side: Value =
            serde_json::from_str(&std::fs::read_to_string(side_path).unwrap_or_default())
                .unwrap_or(Value::Null);
        let want = expected_class(cli, &case, &side);
        let r = replay(cli, side_path);
        let got = r.recognition.class_name().unwrap_or("ok");
        eprintln!("{cli:9} {case:18} {got:18} ended early at {:?}", r.ended_at);
        if got != want {
            wrong.push(format!(
                "{cli}/{case}: want {want}, got {got} ({:?})",
                r.recognition.top()
            ));
        }
        if want == "ok" && r.ended_at.is_some() {
            wrong.push(format!(
                "{cli}/{case}: a good round ended early at {:?}",
                r.ended_at
            ));
        }
        if side["hangs"] == Value::Bool(true) {
            let first = side["first_output_after_s"].as_f64().unwrap_or(0.0);
            match r.ended_at {
                Some(at) if at <= first + 30.0 => {}
                other => wrong.push(format!(
                    "{cli}/{case}: hangs; ended at {other:?}, first output at {first}"
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
