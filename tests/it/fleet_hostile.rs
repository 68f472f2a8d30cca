//! Hostile hosts in a fleet (issue 14, points 1 and 3): a remote whose hello
//! carries absurd thresholds is clamped with a warning naming the host and
//! the key (it used to abort the whole witness), a hello with too many or too
//! large auth patterns is refused with an error naming the host, a host that
//! sends bytes but never a hello is dropped, and a host that streams 100 MiB
//! of garbage shows an error while the witness stays small — and beside
//! each, a healthy host keeps reporting its alerts.

use crate::support::logdir::Fixture;
use crate::support::sshd::Harness;
use crate::support::witness::{self, blip_errors, has_alert, Witness};

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The default thresholds, as a probe would put them in its hello.
fn thresholds() -> Value {
    let fx = Fixture::new();
    let th = agent_runner::detect::window::Thresholds::from_config(&fx.config());
    serde_json::to_value(th).unwrap()
}

fn hello(th: Value) -> String {
    json!({"v": 1, "type": "hello", "version": "fake", "hostname": "fake", "arch": "x86_64",
        "project": "fake", "log_dir": "/nowhere", "thresholds": th, "auto_stop_on": []})
    .to_string()
}

/// A fake remote: `frames` (one per line, written to a file next to it),
/// then a snapshot every second with the current time, at most `secs` times.
fn frames_then_snapshots(h: &Harness, name: &str, frames: &[String], secs: u32) -> String {
    let file = h.root.path().join(format!("fake-{name}.frames"));
    std::fs::write(&file, frames.join("\n") + "\n").unwrap();
    let script = format!(
        "cat '{}'\ni=0\nwhile [ $i -lt {secs} ]; do\n  printf '{{\"v\": 1, \"type\": \"snapshot\", \"now\": \"%s\"}}\\n' \"$(date -u +%Y-%m-%dT%H:%M:%S.000Z)\" || exit 0\n  i=$((i+1))\n  sleep 1\ndone\n",
        file.display()
    );
    witness::fake_remote(h, name, &script).display().to_string()
}

/// A healthy remote project (this build as its `agent-runner`), with a
/// round that started long ago and never ended (`hung`).
fn healthy(n: u64) -> (Fixture, String) {
    let fx = Fixture::new();
    let cfg = fx.write_config("");
    fx.event(
        200_000,
        "round_start",
        json!({"round_num": n, "phase": null}),
    );
    (fx, cfg.display().to_string())
}

/// A hosts file with one `[[host]]` per (name, remote config), every name
/// an alias of the harness's `pi` sshd in its own ssh config (so a blip's
/// `host`, which is the alias, names the host); returns both paths.
fn hosts_file(h: &Harness, hosts: &[(&str, &str)]) -> (PathBuf, PathBuf) {
    let mut s = String::from("[defaults]\ninterval_s = 1\ntolerance_s = 600\n");
    let mut names = String::from("pi");
    for (name, cfg) in hosts {
        s.push_str(&format!(
            "\n[[host]]\nalias = \"{name}\"\nconfig = \"{cfg}\"\n"
        ));
        names.push(' ');
        names.push_str(name);
    }
    let p = h.root.path().join("hosts.toml");
    std::fs::write(&p, s).unwrap();
    let base = std::fs::read_to_string(&h.client_config).unwrap();
    let ssh = h.root.path().join("ssh_config_fleet");
    std::fs::write(
        &ssh,
        base.replacen("Host pi\n", &format!("Host {names}\n"), 1),
    )
    .unwrap();
    (p, ssh)
}

fn metric_now(disk: f64) -> String {
    let ts = agent_runner::timefmt::now_iso_ms();
    let line = json!({"ts": ts, "disk_used_pct": disk}).to_string();
    json!({"v": 1, "type": "metric", "line": line}).to_string()
}

#[test]
fn absurd_hello_thresholds_are_clamped_and_bad_patterns_refused_while_the_fleet_reports() {
    let h = Harness::new();
    witness::put_dispatcher(&h);
    let (_ok, ok_cfg) = healthy(3);
    // Issue 14's abort: a huge growth window (and stale threshold) next to
    // one metric line. Clamped, this host still raises its disk_warning.
    let mut th = thresholds();
    th["host_health"]["disk"]["growth_window_s"] = json!(100_000_000_000_000_000u64);
    th["supervisor_stale_threshold_s"] = json!(100_000_000_000_000_000u64);
    let clamp_cfg = frames_then_snapshots(&h, "clamp", &[hello(th), metric_now(92.0)], 300);
    // 40 auth patterns: more than a witness compiles for one host.
    let mut th = thresholds();
    th["auth_fail_patterns"] = json!(vec!["denied"; 40]);
    let many_cfg = frames_then_snapshots(&h, "many", &[hello(th)], 300);
    // One pattern that compiles to far more than 64 KiB.
    let mut th = thresholds();
    th["auth_fail_patterns"] = json!([r"\w{300}"]);
    let big_cfg = frames_then_snapshots(&h, "big", &[hello(th)], 300);
    // JSON objects that are no frame of ours, twice a second, and no hello:
    // bytes alone do not keep a connection alive.
    let mute_cfg = witness::fake_remote(
        &h,
        "mute",
        "i=0\nwhile [ $i -lt 300 ]; do echo '{}' || exit 0; i=$((i+1)); sleep 0.5; done\n",
    )
    .display()
    .to_string();
    let (fleet, ssh) = hosts_file(
        &h,
        &[
            ("ok", &ok_cfg),
            ("clamp", &clamp_cfg),
            ("many", &many_cfg),
            ("big", &big_cfg),
            ("mute", &mute_cfg),
        ],
    );
    let mut w = Witness::fleet(&h, &fleet, &ssh);
    w.wait_for("the healthy host's hung", Duration::from_secs(90), |v| {
        has_alert(v, "ok", "hung")
    });
    w.wait_for("clamp's disk_warning", Duration::from_secs(60), |v| {
        has_alert(v, "clamp", "disk_warning")
    });
    w.wait_for("many and big refused", Duration::from_secs(60), |v| {
        blip_errors(v, "many")
            .iter()
            .any(|e| e.contains("'many'") && e.contains("at most 32"))
            && blip_errors(v, "big")
                .iter()
                .any(|e| e.contains("'big'") && e.contains("auth_fail_patterns"))
    });
    w.wait_for("mute's missing hello", Duration::from_secs(60), |v| {
        blip_errors(v, "mute")
            .iter()
            .any(|e| e.contains("no hello from the probe within 18s"))
    });
    let err = w.stderr().join("\n");
    for key in [
        "host_health.disk.growth_window_s",
        "supervisor_stale_threshold_s",
    ] {
        assert!(
            w.stderr()
                .iter()
                .any(|l| l.contains("'clamp'") && l.contains(key)),
            "no warning naming the host and '{key}':\n{err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(w.alive(), "the witness died:\n{err}");
}

/// The garbage a hostile host streams, one kind per connection (the link
/// drops the connection on bad input and reconnects): 100 MiB without a
/// newline; megabyte-long invalid lines; a hello and 100 MiB of frames that
/// parse but carry junk (read to the end); a hello and short lines that are
/// not frames.
fn garbage_remote(h: &Harness) -> (String, std::path::PathBuf) {
    let d = h.root.path().join("junk");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("hello"), hello(thresholds()) + "\n").unwrap();
    let mut mb = vec![b'{'; (1 << 20) - 1];
    mb.push(b'\n');
    std::fs::write(d.join("mb.line"), mb).unwrap();
    // About 4 MiB of frames that decode but carry junk.
    let big = "z".repeat(50_000);
    let ts = agent_runner::timefmt::now_iso_ms();
    let mut junk = String::new();
    for i in 0..20u64 {
        let metric = json!({"ts": ts, "disk_used_pct": 1.0, "junk": big}).to_string();
        junk.push_str(&json!({"v": 1, "type": "metric", "line": metric}).to_string());
        junk.push('\n');
        junk.push_str(&json!({"v": 1, "type": "event", "cursor": format!("events-2026-11.jsonl:{i}"), "line": format!("not json {big}")}).to_string());
        junk.push('\n');
        junk.push_str(&json!({"v": 1, "type": "gossip", "blob": big}).to_string());
        junk.push('\n');
        junk.push_str(
            &json!({"v": 1, "type": "log_tail", "round": 1000 + i, "text": big}).to_string(),
        );
        junk.push('\n');
    }
    junk.push_str(&json!({"v": 1, "type": "snapshot", "now": ts}).to_string());
    junk.push('\n');
    std::fs::write(d.join("junk.frames"), &junk).unwrap();
    let copies = (100 << 20) / junk.len() + 1;
    let mut noise = String::new();
    noise
        .push_str("{\"v\": 1, \"type\": \"event\", \"cursor\": \"events-2026-11.jsonl:1\", \"li\n");
    noise.push_str("\u{1}\u{2} binary \u{7f}\n[[[[[[[[[[\n");
    std::fs::write(d.join("noise"), noise).unwrap();
    let script = format!(
        "d='{d}'\nn=$(cat \"$d/count\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$d/count\"\n\
         i=0; while [ ! -e \"$d/go\" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n\
         case $n in\n\
         1) head -c 104857600 /dev/zero | tr '\\0' 'x' ;;\n\
         2) i=0; while [ $i -lt 100 ]; do cat \"$d/mb.line\" || exit 0; i=$((i+1)); done ;;\n\
         3) cat \"$d/hello\"; i=0; while [ $i -lt {copies} ]; do cat \"$d/junk.frames\" || exit 0; i=$((i+1)); done; touch \"$d/read-all\" ;;\n\
         *) cat \"$d/hello\" \"$d/noise\"; sleep 30 ;;\n\
         esac\n",
        d = d.display()
    );
    (
        witness::fake_remote(h, "junk", &script)
            .display()
            .to_string(),
        d,
    )
}

/// Highest RSS of `pid` seen until `done` holds (sampled every 50 ms, at
/// most `timeout`).
fn peak_rss_until(pid: i32, timeout: Duration, done: impl Fn() -> bool) -> u64 {
    let t0 = Instant::now();
    let mut peak = 0;
    while t0.elapsed() < timeout && !done() {
        peak = peak.max(witness::rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(50));
    }
    peak
}

#[test]
fn a_host_streaming_100_mib_of_garbage_shows_an_error_and_the_witness_stays_small() {
    let h = Harness::new();
    witness::put_dispatcher(&h);
    let (ok, ok_cfg) = healthy(3);
    let (junk_cfg, d) = garbage_remote(&h);
    let (fleet, ssh) = hosts_file(&h, &[("ok", &ok_cfg), ("junk", &junk_cfg)]);
    let mut w = Witness::fleet(&h, &fleet, &ssh);
    w.wait_for("the healthy host's hung", Duration::from_secs(90), |v| {
        has_alert(v, "ok", "hung")
    });
    // Settle, then take the baseline before any garbage flows.
    std::thread::sleep(Duration::from_secs(2));
    let base = witness::rss_kib(w.pid()).unwrap();
    std::fs::write(d.join("go"), "").unwrap();
    let seen = |s: &str| {
        let v = w.json();
        blip_errors(&v, "junk").iter().any(|e| e.contains(s))
    };
    let peak = peak_rss_until(w.pid(), Duration::from_secs(300), || seen("not a frame"));
    let v = w.json();
    let errors = blip_errors(&v, "junk");
    let err = w.stderr().join("\n");
    eprintln!(
        "witness RSS: baseline {base} KiB, peak {peak} KiB (+{} KiB); junk's errors: {errors:#?}",
        peak.saturating_sub(base)
    );
    assert!(
        errors.iter().any(|e| e.contains("not a frame")),
        "{errors:#?}\n{err}"
    );
    assert!(
        errors.iter().filter(|e| e.contains("longer than")).count() >= 2,
        "{errors:#?}"
    );
    assert!(
        Path::new(&d.join("read-all")).exists(),
        "the witness did not read the 100 MiB of junk frames: {errors:#?}"
    );
    assert!(
        peak < base + 64 * 1024,
        "RSS grew from {base} KiB to {peak} KiB"
    );
    // The healthy host still reports: a new hung round is a new alert.
    ok.event(
        200_000,
        "round_start",
        json!({"round_num": 4, "phase": null}),
    );
    w.wait_for(
        "the healthy host's second hung",
        Duration::from_secs(60),
        |v| {
            v.iter().any(|x| {
                x["host"] == "ok"
                    && x["type"] == "alert"
                    && x["detector"] == "hung"
                    && x["context"]["round_num"] == 4
            })
        },
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(w.alive(), "the witness died:\n{err}");
}
