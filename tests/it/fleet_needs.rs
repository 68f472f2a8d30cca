//! The fleet says what a host's agent waits for (issue 17): a host whose
//! newest round ended with `agent_needs_input` shows "waiting for browser
//! sign-in" in the fleet table (`/api/fleet` and the HTML page) and raises
//! `needs_input` in `--once --json`.

use crate::fleet::{http_get, http_witness, monitor, Remote};
use crate::support::sshd;
use serde_json::{json, Value};

fn waiting_host(h: &sshd::Harness) -> Remote {
    let r = Remote::new(h, "p", "", "");
    r.event(
        40.0,
        0,
        "round_start",
        json!({"round_num": 3, "phase": null}),
    );
    r.event(30.0, 0, "agent_exit", json!({"round_num": 3, "exit_code": -15, "duration_s": 10.1, "timed_out": false, "exit_cause": "needs_input"}));
    r.event(29.0, 0, "round_end", json!({"round_num": 3}));
    r.event(29.0, 0, "agent_needs_input", json!({"round_num": 3, "agent": "aider", "need": "browser_sign_in",
        "waiting_for": "a browser sign-in (OpenRouter): aider found no API key",
        "remedy": "set a provider key for aider (OPENAI_API_KEY, ...) in agent-runner's environment",
        "permanent": true, "raw": "Waiting up to 5 minutes for you to finish in the browser..."}));
    r
}

#[test]
fn the_fleet_table_says_a_host_waits_for_browser_sign_in() {
    let h = sshd::Harness::new();
    h.put_remote_binary(&[]);
    let r = waiting_host(&h);
    let cfg = r.config.display().to_string();
    let o = monitor(
        &h,
        &["--host", "pi", "--remote-config", &cfg, "--once", "--json"],
    )
    .output()
    .unwrap();
    let alerts: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &Value| v["type"] == "alert")
        .collect();
    let a = alerts.iter().find(|a| a["detector"] == "needs_input");
    let a = a.unwrap_or_else(|| {
        panic!(
            "no needs_input: {alerts:?}\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert!(
        a["message"]
            .as_str()
            .unwrap_or("")
            .contains("browser sign-in"),
        "{a}"
    );

    let (_m, port, fleet) = http_witness(&h, &cfg, |f| f[0]["needs"].is_string());
    assert_eq!(fleet[0]["needs"], "waiting for browser sign-in");
    assert_eq!(fleet[0]["state"], "alert");
    let (code, page) = http_get(port, "/");
    assert_eq!(code, 200);
    assert!(page.contains("waiting for browser sign-in"), "{page}");
}
