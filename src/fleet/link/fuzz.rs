//! A seeded, bounded property test: adversarial probe output (extreme
//! numbers and dates, wrong types, deep nesting, invalid UTF-8, megabyte
//! lines, truncated JSON), cut into random chunks, goes through the link's
//! frame handling, the window and every detector of one host, while a
//! second, healthy host of the same fleet keeps reporting. Asserted: no
//! panic, bad input ends the connection with a one-line error, the healthy
//! host's `hung` stays in its row and was reported once. 128 cases from a
//! fixed seed, a second or two (`PROPTEST_CASES=N` and `PROPTEST_RNG_SEED=S`
//! for a longer or another run).

use super::super::frame;
use super::super::hosts::HostSpec;
use super::intake::Intake;
use super::{Link, LinkOpts, Report, Table};
use crate::detect::window::Thresholds;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Numbers a remote may put anywhere a number is expected (and where it
/// is not); the ends of the integer ranges most often.
fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(json!(i64::MAX)),
        3 => Just(json!(i64::MIN)),
        2 => Just(json!(u64::MAX)),
        1 => Just(json!(0)),
        1 => Just(json!(1)),
        1 => Just(json!(-1)),
        1 => Just(json!(100_000_000_000_000_000u64)),
        1 => Just(json!(f64::MAX)),
        1 => Just(json!(-f64::MAX)),
        1 => Just(json!(1e-300)),
        1 => Just(json!(9.2e18)),
        1 => Just(json!("12")),
        1 => Just(json!(null)),
        1 => Just(json!(true)),
        1 => Just(json!([1, 2])),
        1 => Just(json!({"a": 1})),
        2 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<u64>().prop_map(|n| json!(n)),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
    ]
}

/// A float at the ends of its range (the right type).
fn extreme_f64() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(0.0),
        Just(1e-300),
        Just(9.2e18),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
    .prop_map(|f| json!(f))
}

/// A count of seconds or MiB as a remote may send it: the right type, an
/// extreme value.
fn extreme_u64() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(i64::MAX as u64),
        Just(i64::MAX as u64 / 1000 + 1),
        Just(100_000_000_000_000_000),
        any::<u64>(),
    ]
    .prop_map(|n| json!(n))
}

/// Times a remote may send: extremes, off-by-one years, garbage.
fn extreme_time() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => Just(json!("2026-11-20T12:00:00.000Z")),
        2 => Just(json!("9999-12-31T23:59:59.999Z")),
        2 => Just(json!("0001-01-01T00:00:00.000Z")),
        1 => Just(json!("0000-01-01T00:00:00Z")),
        2 => Just(json!("+262143-12-31T23:59:59")),
        1 => Just(json!("-262144-01-01T00:00:00")),
        1 => Just(json!("+10000-01-01T00:00:00")),
        1 => Just(json!("1970-01-01")),
        1 => Just(json!("2026-13-45T99:99:99Z")),
        1 => Just(json!("")),
        1 => extreme_number(),
        2 => (1i32..=9999, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| json!(format!(
            "{y:04}-{m:02}-{d:02}T00:00:00.000Z"
        ))),
    ]
}

const KINDS: &[&str] = &[
    "round_start",
    "round_end",
    "agent_exit",
    "agent_auth_error_detected",
    "anomaly_repetitive_tool",
    "orphan_stashed",
    "transient_error_detected",
    "transient_error_recovered",
    "schedule_paused",
    "schedule_resumed",
    "round_deferred",
    "round_resumed",
    "monitor_started",
];

/// One event object with hostile values in the fields the detectors read.
fn hostile_event() -> impl Strategy<Value = Value> {
    (
        extreme_time(),
        prop::sample::select(KINDS),
        extreme_number(),
        extreme_number(),
        extreme_number(),
        extreme_number(),
        extreme_time(),
    )
        .prop_map(|(ts, kind, rn, code, dur, reset, resume)| {
            json!({
                "ts": ts, "event": kind, "round_num": rn, "exit_code": code,
                "duration_s": dur, "timed_out": code, "reset_at_epoch": reset,
                "resume_at": resume, "phase": rn, "tool_name": dur, "target": reset,
            })
        })
}

/// A metric sample whose fields are each absent, extreme or of the wrong type.
fn hostile_metric() -> impl Strategy<Value = Value> {
    let field = || prop::option::weighted(0.6, extreme_number());
    (extreme_time(), prop::collection::vec(field(), 7)).prop_map(|(ts, f)| {
        let keys = [
            "disk_used_pct",
            "inode_used_pct",
            "swap_sout",
            "mem_free_mb",
            "mem_available_mb",
            "psi_some_avg10",
            "psi_full_avg10",
        ];
        let mut m = Map::new();
        m.insert("ts".into(), ts);
        for (k, v) in keys.iter().zip(f) {
            if let Some(v) = v {
                m.insert((*k).into(), v);
            }
        }
        Value::Object(m)
    })
}

fn default_thresholds() -> Value {
    let cfg = crate::config::default_config(std::path::Path::new("/w"), std::path::Path::new("/l"));
    match cfg {
        Ok(c) => serde_json::to_value(Thresholds::from_config(&c)).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// A hello whose thresholds carry extreme values; sometimes one of the
/// wrong type, too many or bad auth patterns, or no thresholds at all.
fn hostile_hello() -> impl Strategy<Value = Value> {
    let pattern = prop_oneof![
        4 => Just("denied".to_string()),
        1 => Just("(".to_string()),
        1 => Just(r"\w{200}".to_string()),
        1 => Just("a{1000}{1000}".to_string()),
        2 => "[a-z.*+?()|]{0,12}",
    ];
    (
        prop::collection::vec(extreme_u64(), 8),
        extreme_f64(),
        prop::option::weighted(0.1, (0usize..8, extreme_number())),
        prop::option::weighted(0.2, prop::collection::vec(pattern, 0..40)),
        0u8..20,
    )
        .prop_map(|(mut n, pct, wrong, pats, none)| {
            if let Some((i, v)) = wrong {
                n[i] = v;
            }
            let mut th = default_thresholds();
            th["round_budget_s"] = n[0].clone();
            th["supervisor_stale_threshold_s"] = n[1].clone();
            th["host_health"]["disk"]["growth_window_s"] = n[2].clone();
            th["host_health"]["disk"]["warning_pct"] = pct;
            th["host_health"]["disk"]["critical_pct"] = n[3].clone();
            th["host_health"]["memory"]["swap_out_noise_floor_mb"] = n[4].clone();
            th["host_health"]["memory"]["free_low_mb"] = n[5].clone();
            th["host_health"]["memory"]["avail_min_mb"] = n[6].clone();
            th["phase_budgets"] = json!({"build": n[7].clone()});
            if let Some(p) = pats {
                th["auth_fail_patterns"] = json!(p);
            }
            let th = if none == 0 { json!("thresholds") } else { th };
            json!({"v": 1, "type": "hello", "version": "x", "thresholds": th, "auto_stop_on": []})
        })
}

/// Stands for the cursor after the previous event in a generated frame.
const NEXT: &str = "@next@";

/// `l` with its [`NEXT`] cursor made the one after `*at`.
fn with_cursor(l: &[u8], at: &mut u64) -> Vec<u8> {
    let pat = format!("\"{NEXT}\"");
    let text = String::from_utf8_lossy(l);
    if !text.contains(&pat) {
        return l.to_vec();
    }
    *at += 100;
    text.replace(&pat, &format!("\"events-2026-11.jsonl:{at}\""))
        .into_bytes()
}

/// A snapshot's `now`: mostly a time (at either end of the years too),
/// sometimes one the witness must refuse.
fn snapshot_now() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => Just(json!("2026-11-20T12:00:00.000Z")),
        1 => Just(json!("9999-12-31T23:59:59.999Z")),
        1 => Just(json!("0001-01-01T00:00:00.000Z")),
        1 => extreme_time(),
    ]
}

/// A frame with hostile content (bytes, without its newline): well formed,
/// so it reaches the view, the window and the detectors.
fn frame_line() -> impl Strategy<Value = Vec<u8>> {
    let frame = |v: Value| v.to_string().into_bytes();
    prop_oneof![
        1 => hostile_hello().prop_map(frame),
        // mostly the next cursor (so events are taken and the buffer is
        // compacted), sometimes an arbitrary one
        4 => (hostile_event(), prop::option::weighted(0.2, any::<u32>())).prop_map(move |(e, off)| frame(json!({
            "v": 1, "type": "event",
            "cursor": off.map_or_else(|| NEXT.to_string(), |o| format!("events-2026-11.jsonl:{o}")),
            "line": e.to_string()}))),
        4 => hostile_metric().prop_map(move |m| frame(json!({"v": 1, "type": "metric", "line": m.to_string()}))),
        4 => (snapshot_now(), hostile_metric(), extreme_number()).prop_map(move |(now, m, st)| frame(json!({
            "v": 1, "type": "snapshot", "now": now, "metrics": m, "status": st}))),
        1 => (any::<u64>(), "[ -~\n]{0,200}").prop_map(move |(r, t)| frame(json!({
            "v": 1, "type": "log_tail", "round": r, "text": t}))),
        1 => (extreme_number(), extreme_number(), extreme_number()).prop_map(move |(v, t, c)| frame(json!({
            "v": v, "type": t, "cursor": c, "line": c, "now": t}))),
        1 => Just(b"{\"v\": 1, \"type\": \"event\", \"line\": \"\xff\xfe\", \"cursor\": \"\xc3\"}".to_vec()),
    ]
}

/// A line that is not a frame: deep nesting, binary noise, truncated JSON,
/// a megabyte of one JSON string or of plain bytes, an error frame.
fn junk_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (1usize..3000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
        (1usize..3000).prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d)).into_bytes()),
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| b.into_iter().filter(|c| *c != b'\n').collect()),
        (hostile_event(), any::<prop::sample::Index>()).prop_map(|(e, i)| {
            let s = json!({"v": 1, "type": "event", "cursor": "events-2026-11.jsonl:1", "line": e.to_string()}).to_string();
            let cut = i.index(s.len().max(1));
            s.as_bytes()[..cut].to_vec()
        }),
        Just(format!("{{\"v\": 1, \"type\": \"event\", \"line\": \"{}\"}}", "x".repeat(1 << 20)).into_bytes()),
        Just(vec![b'#'; 1 << 20]),
        Just(json!({"v": 1, "type": "error", "message": "boom"}).to_string().into_bytes()),
    ]
}

/// One connection of the hostile host: a hostile hello, hostile frames,
/// and perhaps a line that is not a frame.
fn session() -> impl Strategy<Value = (Value, Vec<Vec<u8>>, Option<Vec<u8>>)> {
    (
        hostile_hello(),
        prop::collection::vec(frame_line(), 0..40),
        prop::option::weighted(0.5, junk_line()),
    )
}

/// A link as `monitor --fleet` makes one, reporting into `table` and `tx`.
fn link(name: &str, table: &Table, tx: &mpsc::UnboundedSender<Report>, slim: bool) -> Link {
    let spec = HostSpec {
        alias: name.into(),
        name: name.into(),
        config: "agent-runner.toml".into(),
        tags: vec![],
    };
    let opts = LinkOpts {
        ssh_config: None,
        interval_s: 1.0,
        tolerance_s: 90,
        backlog: 0,
        once: false,
        exit_on_giveup: false,
        auto_stop: true,
        start_delay: std::time::Duration::ZERO,
        relay_events: true,
        row_events: !slim,
    };
    Link::new(spec, opts, Arc::clone(table), tx.clone())
}

fn line(v: Value) -> Vec<u8> {
    let mut b = v.to_string().into_bytes();
    b.push(b'\n');
    b
}

/// The healthy host's probe output: a hello with the default thresholds and
/// a round that started long before the host's `now` (so `hung` fires).
fn healthy_start() -> Vec<u8> {
    let mut b = line(
        json!({"v": 1, "type": "hello", "thresholds": default_thresholds(), "auto_stop_on": []}),
    );
    b.extend(line(json!({"v": 1, "type": "event", "cursor": "events-2026-11.jsonl:100",
        "line": json!({"ts": "2026-11-20T00:00:00.000Z", "event": "round_start", "round_num": 7}).to_string()})));
    b
}

/// The healthy host's snapshot `step` seconds into the run.
fn healthy_snapshot(step: usize) -> Vec<u8> {
    let now = format!(
        "2026-11-21T00:{:02}:{:02}.000Z",
        (step / 60) % 60,
        step % 60
    );
    line(json!({"v": 1, "type": "snapshot", "now": now}))
}

/// What a line is by a plain reading of the protocol: a frame is a JSON
/// object of at most [`frame::MAX_FRAME`] bytes; anything else is bad input.
fn is_bad(l: &[u8]) -> bool {
    let text = String::from_utf8_lossy(l);
    l.len() > frame::MAX_FRAME
        || serde_json::from_str::<Map<String, Value>>(text.trim_end()).is_err()
}

/// The healthy host's row says `hung`, and so did its one alert report.
fn healthy_reports_hung(table: &Table) -> Result<(), String> {
    let t = table.lock().map_err(|_| "poisoned".to_string())?;
    let row = t.get("good").ok_or("no row")?;
    let hung = row.alerts.iter().any(|a| a["detector"] == "hung");
    if row.state == "alert" && hung {
        Ok(())
    } else {
        Err(format!("{row:?}"))
    }
}

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(128),
        max_shrink_iters: 64,
        max_shrink_time: 20_000,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(
            std::env::var("PROPTEST_RNG_SEED")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0x5eed_1414),
        ),
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Adversarial output through the link's frame handling (bounded
    /// lines, decoding, the view, the window, every detector, de-duplication,
    /// the row), beside a healthy host of the same fleet.
    #[test]
    fn hostile_probe_output_never_panics_and_the_healthy_host_keeps_reporting(
        sessions in prop::collection::vec(session(), 1..5),
        cuts in prop::collection::vec(1usize..70_000, 1..8),
        slim in any::<bool>(),
    ) {
        let table: Table = Arc::new(Mutex::new(BTreeMap::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut bad = link("bad", &table, &tx, slim);
        let mut good = link("good", &table, &tx, slim);
        let (mut gi, mut g) = (Intake::default(), false);
        prop_assert!(good.take_stdout(&mut gi, &healthy_start(), &mut g).is_ok());
        let mut step = 0usize;
        let mut cursor = 1000u64;
        let mut cut = cuts.iter().cycle();
        for (hello, frames, junk) in &sessions {
            // A connection: the hostile host starts like a healthy one (a
            // hello, a snapshot), says a hostile hello, then turns.
            let mut stream = line(json!({"v": 1, "type": "hello", "thresholds": default_thresholds()}));
            stream.extend(healthy_snapshot(0));
            stream.extend(line(hello.clone()));
            for f in frames.iter().chain(junk) {
                stream.extend(with_cursor(f, &mut cursor));
                stream.push(b'\n');
            }
            let (mut bi, mut b) = (Intake::default(), false);
            let mut error: Option<String> = None;
            let mut at = 0;
            while at < stream.len() && error.is_none() {
                let end = (at + cut.next().copied().unwrap_or(1)).min(stream.len());
                match bad.take_stdout(&mut bi, &stream[at..end], &mut b) {
                    Ok(t) if t.evaluate => {
                        bad.judge();
                    }
                    Ok(_) => {}
                    Err(e) => error = Some(e.message().0),
                }
                at = end;
                step += 1;
                let took = good.take_stdout(&mut gi, &healthy_snapshot(step), &mut g);
                prop_assert!(matches!(took, Ok(t) if t.evaluate), "{took:?}");
                good.judge();
                prop_assert!(healthy_reports_hung(&table).is_ok(), "{:?}", healthy_reports_hung(&table));
            }
            if let Some(e) = &error {
                prop_assert!(!e.is_empty() && !e.contains('\n') && e.len() < 400, "{e:?}");
                bad.set_state("blip", e);
            }
            if let Some(j) = junk {
                prop_assert!(!is_bad(j) || error.is_some(), "bad input went unnoticed: {:?}", String::from_utf8_lossy(&j[..j.len().min(80)]));
            }
        }
        drop((bad, good, tx));
        let mut good_alerts = Vec::new();
        while let Ok(r) = rx.try_recv() {
            if let Report::Alert { host, alert } = r {
                if host == "good" {
                    good_alerts.push(alert.detector);
                }
            }
        }
        prop_assert_eq!(good_alerts.iter().filter(|d| **d == "hung").count(), 1, "{:?}", good_alerts);
    }
}
