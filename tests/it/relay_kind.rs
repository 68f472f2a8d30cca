//! The relay's `--kind` (0.3 delta §1.2, §6): `monitor --host H --mode events
//! --kind K1,K2` relays only the named kinds, over a real sshd; without a
//! host the flag is refused with exit 1 as in 0.3.14, and with another mode
//! it is a usage error.

use crate::fleet::{monitor, Remote};
use crate::support::{self, sshd::Harness, BIN};
use serde_json::{json, Value};
use std::io::BufRead;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn kind_relays_only_the_named_kinds() {
    let h = Harness::new();
    h.put_remote_binary(&[]);
    let r = Remote::new(&h, "k", "", "");
    let cfg = r.config.display().to_string();
    let mut child = monitor(
        &h,
        &[
            "--host",
            "pi",
            "--remote-config",
            &cfg,
            "--mode",
            "events",
            "--kind",
            "tick, round_end",
            "--interval",
            "1",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap_or_else(|e| panic!("{e}"));
    let lines = Arc::new(Mutex::new(Vec::<Value>::new()));
    if let Some(out) = child.stdout.take() {
        let l2 = Arc::clone(&lines);
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&l).unwrap_or_else(|_| json!({"raw": l}));
                l2.lock().unwrap_or_else(|e| e.into_inner()).push(v);
            }
        });
    }
    let got = || lines.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let seen = |kind: &str, seq: u64| got().iter().any(|v| v["event"] == kind && v["seq"] == seq);
    // The stream starts at the end of the log: write until a tick shows.
    let mut next = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !got().iter().any(|v| v["event"] == "tick") {
        assert!(Instant::now() < deadline, "nothing relayed: {:?}", got());
        r.event(0.0, 0, "noise", json!({"seq": next}));
        r.event(0.0, 0, "tick", json!({"seq": next + 1}));
        next += 2;
        std::thread::sleep(Duration::from_millis(300));
    }
    r.event(0.0, 0, "noise", json!({"seq": next}));
    r.event(
        0.0,
        0,
        "round_end",
        json!({"round_num": 1, "seq": next + 1}),
    );
    r.event(0.0, 0, "tick", json!({"seq": next + 2}));
    let ok = support::wait_until(Duration::from_secs(30), || seen("tick", next + 2));
    let _ = child.kill();
    let _ = child.wait();
    let all = got();
    assert!(ok, "the last tick never came: {all:?}");
    assert!(seen("round_end", next + 1), "{all:?}");
    let other: Vec<&Value> = all
        .iter()
        .filter(|v| v["event"] != "tick" && v["event"] != "round_end")
        .collect();
    assert!(other.is_empty(), "relayed a kind not asked for: {other:?}");
}

#[test]
fn kind_without_a_host_or_outside_events_mode_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let o = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .args(["monitor", "--mode", "events", "--kind", "round_end"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--host --mode events only"), "{err}");
    let o = std::process::Command::new(BIN)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .args(["monitor", "--host", "pi", "--once", "--kind", "round_end"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
