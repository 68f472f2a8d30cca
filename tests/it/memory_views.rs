//! A host whose serve holds rounds back for memory reads the same locally
//! (`monitor --once`, `peek`) and through the fleet witness (over a real
//! sshd: `--once`, the `/api/fleet` row and page): the same `mem_pressure`
//! alert, no `supervisor_stale`, and "deferred: memory critical for 4m"
//! rather than a stale host.

use crate::fleet::{http_get, http_witness, once_json, Remote};
use crate::support::sysroot::SysRoot;
use crate::support::{sshd, BIN};
use serde_json::{json, Value};
use std::process::Command;

/// A metrics sample as serve writes it on this host (the real disk), with
/// the fixture's memory facts.
fn metric(r: &Remote, ago_s: i64, some: f64, full: f64) {
    let ts = chrono::Utc::now() - chrono::Duration::seconds(ago_s);
    let mut m = serde_json::Map::new();
    m.insert("ts".into(), json!(agent_runner::timefmt::iso_ms(ts)));
    m.insert("event".into(), json!("periodic"));
    m.extend(agent_runner::state::metrics::sample(&r.logs).to_fields(None, None, None));
    for (k, v) in [
        ("mem_available_mb", json!(150)),
        ("mem_free_mb", json!(300)),
        ("swap_sout", json!(0)),
        ("psi_some_avg10", json!(some)),
        ("psi_full_avg10", json!(full)),
    ] {
        m.insert(k.into(), v);
    }
    let line = agent_runner::state::pyjson::to_line(&Value::Object(m)) + "\n";
    let p = r.logs.join(format!(
        "metrics-{}.jsonl",
        agent_runner::timefmt::month(ts)
    ));
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn lines(b: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(b)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// (detector, severity, message) of the alerts in these lines.
fn alerts(v: &[Value]) -> Vec<(String, String, String)> {
    let mut a: Vec<_> = v
        .iter()
        .filter(|x| x.get("detector").is_some() && x.get("type").map_or(true, |t| t == "alert"))
        .map(|x| {
            let s = |k: &str| x[k].as_str().unwrap_or_default().to_string();
            (s("detector"), s("severity"), s("message"))
        })
        .collect();
    a.sort();
    a
}

/// The port a local `monitor --mode http --port 0` says it serves on.
fn local_port(child: &mut std::process::Child) -> u16 {
    use std::io::BufRead;
    let err = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
        if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
            let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(p) = port.parse() {
                return p;
            }
        }
    }
    let _ = child.kill();
    panic!("the local monitor never said where it serves")
}

#[test]
fn a_deferring_host_reads_the_same_locally_and_through_the_fleet_witness() {
    let h = sshd::Harness::new();
    // the host's memory facts, for serve's samples and the probe's live one
    let root = SysRoot::new(h.root.path());
    root.psi(95.0, 70.0);
    root.meminfo(1024, 300, 150, 512);
    let root_dir = root.dir.display().to_string();
    h.put_remote_binary(&[("AGENT_RUNNER_SYS_ROOT", &root_dir)]);
    let r = Remote::new(
        &h,
        "p",
        "round_budget_s = 40",
        "supervisor_stale_threshold_s = 60",
    );
    r.event(
        700.0,
        0,
        "round_start",
        json!({"round_num": 1, "phase": null}),
    );
    r.event(690.0, 0, "round_end", json!({"round_num": 1}));
    r.event(
        250.0,
        0,
        "round_deferred",
        json!({"severity": "critical", "signal": "psi", "message": "PSI memory full avg10=70.0 (every task stalled on reclaim)"}),
    );
    metric(&r, 40, 95.0, 70.0);
    metric(&r, 20, 95.0, 70.0);
    let cfg = r.config.display().to_string();

    // locally
    let o = Command::new(BIN)
        .env("AGENT_RUNNER_SYS_ROOT", &root.dir)
        .args(["--config", &cfg, "monitor", "--once", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let local = alerts(&lines(&o.stdout));
    let want = vec![(
        "mem_pressure".to_string(),
        "critical".to_string(),
        "PSI memory full avg10=70.0 (every task stalled on reclaim)".to_string(),
    )];
    // the deferral keeps supervisor_stale quiet (the newest event is 250 s
    // old, the threshold 60 s)
    assert_eq!(local, want, "{}", String::from_utf8_lossy(&o.stdout));
    let o = Command::new(BIN)
        .args(["--config", &cfg, "peek", "--json"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    assert_eq!(
        doc["memory_deferral"]["label"], "deferred: memory critical for 4m",
        "{doc}"
    );
    assert_eq!(doc["memory_deferral"]["signal"], "psi");
    let o = Command::new(BIN)
        .args(["--config", &cfg, "peek"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("memory    deferred: memory critical for 4m (psi)"),
        "{text}"
    );

    // the local HTTP page
    let mut http = Command::new(BIN)
        .args(["--config", &cfg, "monitor", "--mode", "http", "--port", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let port = local_port(&mut http);
    let (code, page) = http_get(port, "/");
    let _ = http.kill();
    let _ = http.wait();
    assert_eq!(code, 200);
    assert!(
        page.contains("deferred: memory critical for 4m (psi)"),
        "{page}"
    );

    // through the fleet witness
    let o = once_json(&h, &cfg);
    let remote = alerts(&lines(&o.stdout));
    assert_eq!(remote, local, "{}", String::from_utf8_lossy(&o.stdout));
    let (_m, port, fleet) = http_witness(&h, &cfg, |f| f[0]["state"] == "deferred");
    assert_eq!(fleet[0]["deferred"], "deferred: memory critical for 4m");
    let (_, page) = http_get(port, "/");
    assert!(page.contains("deferred: memory critical for 4m"), "{page}");
    let (_, metrics) = http_get(port, "/metrics");
    assert!(
        metrics.contains("agent_runner_host_up{host=\"pi\"} 1"),
        "{metrics}"
    );
}
