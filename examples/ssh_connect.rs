//! Benchmark helper for `bench/ssh_connect.sh`: N times, connect + auth + one
//! `exec true` (a fresh session each time) to one host, then print the
//! median wall time in milliseconds. Not a test; loopback only.
//!
//! Usage: ssh_connect PORT KEY KNOWN_HOSTS RUNS

use std::path::PathBuf;
use std::time::{Duration, Instant};

use agent_runner::ssh::{session, ResolvedHost, SshError, StrictHostKeyChecking};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, key, kh, runs] = args.as_slice() else {
        return Err("usage: ssh_connect PORT KEY KNOWN_HOSTS RUNS".into());
    };
    let host = ResolvedHost {
        alias: "bench".into(),
        hostname: "127.0.0.1".into(),
        port: port.parse().map_err(|_| format!("bad port '{port}'"))?,
        user: "root".into(),
        identity_files: vec![PathBuf::from(key)],
        identities_only: true,
        identity_agent: Some("none".into()),
        certificate_files: vec![],
        proxy_jump: vec![],
        proxy_command: None,
        strict_host_key_checking: StrictHostKeyChecking::Yes,
        user_known_hosts_files: vec![PathBuf::from(kh)],
        global_known_hosts_files: vec![],
        hash_known_hosts: false,
        host_key_alias: None,
        connect_timeout: None,
        server_alive_interval: Duration::ZERO,
        server_alive_count_max: 3,
        batch_mode: true,
        revoked_host_keys: None,
    };
    let runs: usize = runs.parse().map_err(|_| format!("bad runs '{runs}'"))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let no_resolver = |a: &str| -> Result<_, SshError> {
        Err(SshError::Resolve {
            alias: a.into(),
            reason: "no jump hosts in the benchmark".into(),
        })
    };
    let mut times: Vec<f64> = Vec::with_capacity(runs);
    let mut warm_times: Vec<f64> = Vec::with_capacity(runs);
    rt.block_on(async {
        for _ in 0..runs.min(1000) {
            let t0 = Instant::now();
            let s = session::connect(&host, &no_resolver)
                .await
                .map_err(|e| e.to_string())?;
            let out = s
                .exec(&["true"], Duration::from_secs(30))
                .await
                .map_err(|e| e.to_string())?;
            if !out.success() {
                return Err(format!("remote 'true' failed: {out:?}"));
            }
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            // The warm path: one more exec on the open session.
            let t1 = Instant::now();
            s.exec(&["true"], Duration::from_secs(30))
                .await
                .map_err(|e| e.to_string())?;
            warm_times.push(t1.elapsed().as_secs_f64() * 1000.0);
            s.close().await;
        }
        Ok::<(), String>(())
    })?;
    println!("cold_median_ms {:.1}", median(&mut times));
    println!("warm_median_ms {:.1}", median(&mut warm_times));
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
