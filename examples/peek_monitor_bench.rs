//! Benchmark: `peek --json` and one `monitor --once` poll over a log_dir of
//! 1 MiB and of 1 GiB of events, ours vs the Python tool 0.3.14 on the same
//! data. Target: ours < 50 ms at 1 GiB and <= 2x our 1 MiB time.
//!
//! Run: `bash bench/peek_monitor.sh` or
//! `cargo run --release --example peek_monitor_bench [-- --large-mib 1024] [--bin target/release/agent-runner]`
//! (Python tool: `/opt/pyar/bin/agent-runner`, override with `AGENT_RUNNER_PY`;
//! `--no-python` skips it). The data lives in a temp dir under /tmp and is
//! deleted at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Write about `bytes` of realistic events over 12 month files (a year).
fn generate(logs: &Path, bytes: u64) {
    std::fs::create_dir_all(logs.join("rounds")).unwrap();
    let months: Vec<String> = (1..=12).map(|m| format!("2026-{m:02}")).collect();
    let per_file = bytes / months.len() as u64;
    let mut round: u64 = 0;
    for (mi, month) in months.iter().enumerate() {
        let path = logs.join(format!("events-{month}.jsonl"));
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
        let mut written = 0u64;
        let mut sec = 0u64;
        while written < per_file {
            round += 1;
            let day = 1 + (sec / 86_400) % 28;
            let ts = |s: u64| {
                let s = sec + s;
                format!(
                    "{month}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                    (s / 3600) % 24,
                    (s / 60) % 60,
                    s % 60,
                    round % 1000
                )
            };
            let lines = [
                format!("{{\"ts\": \"{}\", \"event\": \"round_start\", \"round_num\": {round}, \"phase\": null, \"config_digest\": \"e0cbd3ae57317f2a1d547c7ae2b2ec5f4e3cafa6b4e09f07968903047ecb518d\", \"config_changed\": false, \"config_prompt_files\": [\"/home/pi/proj/prompts/main.md\"], \"config_check_names\": [], \"config_vcs_dirty_action\": \"stash\", \"config_prompt_delivery\": \"stdin\"}}\n", ts(0)),
                format!("{{\"ts\": \"{}\", \"event\": \"agent_spawn\", \"round_num\": {round}, \"timeout_s\": 1800}}\n", ts(0)),
                format!("{{\"ts\": \"{}\", \"event\": \"round_progress\", \"round_num\": {round}, \"log_size_kb\": 120, \"last_write_age_s\": 3, \"wall_age_s\": 60}}\n", ts(60)),
                format!("{{\"ts\": \"{}\", \"event\": \"round_progress\", \"round_num\": {round}, \"log_size_kb\": 240, \"last_write_age_s\": 1, \"wall_age_s\": 120}}\n", ts(120)),
                format!("{{\"ts\": \"{}\", \"event\": \"agent_exit\", \"round_num\": {round}, \"exit_code\": 0, \"duration_s\": 612.20334386825561523, \"timed_out\": false, \"exit_cause\": \"clean\"}}\n", ts(612)),
                format!("{{\"ts\": \"{}\", \"event\": \"agent_usage_recorded\", \"agent\": \"claude\", \"model\": \"claude-opus-5\", \"round_num\": {round}, \"input_tokens\": 123456, \"output_tokens\": 7890, \"cached_tokens\": 100000, \"cost_usd\": 1.234, \"duration_ms\": 612000, \"models_breakdown\": null, \"cache_creation_tokens\": 0, \"tool_call_count\": 42, \"phase\": \"\", \"success\": true}}\n", ts(613)),
                format!("{{\"ts\": \"{}\", \"event\": \"round_end\", \"round_num\": {round}}}\n", ts(613)),
            ];
            for l in &lines {
                w.write_all(l.as_bytes()).unwrap();
                written += l.len() as u64;
            }
            sec += 620;
        }
        w.flush().unwrap();
        let _ = mi;
    }
    // Metrics: two samples per round would be ~1/3 of events; keep a month's worth.
    let mut m =
        std::io::BufWriter::new(std::fs::File::create(logs.join("metrics-2026-12.jsonl")).unwrap());
    for i in 0..2000u64 {
        writeln!(m, "{{\"ts\": \"2026-12-{:02}T{:02}:{:02}:00.000Z\", \"event\": \"round_end\", \"mem_total_mb\": 8000, \"mem_available_mb\": 5000, \"mem_used_pct\": 37.5, \"disk_total_gb\": 100.0, \"disk_free_gb\": 60.0, \"disk_used_pct\": 40.0, \"load_1m\": 0.5, \"load_5m\": 0.4, \"load_15m\": 0.3, \"cpu_pct\": 0.0, \"round_num\": {}, \"mem_free_mb\": 900, \"swap_sout\": 0, \"psi_some_avg10\": 0.0, \"psi_full_avg10\": 0.0, \"psi_full_total\": 0, \"io_psi_some_avg10\": 0.0, \"io_psi_full_avg10\": 0.0, \"inode_used_pct\": 5.0}}", 1 + (i / 96) % 28, (i / 4) % 24, (i * 15) % 60, round.saturating_sub(2000) + i).unwrap();
    }
    m.flush().unwrap();
    for n in round.saturating_sub(30)..=round {
        std::fs::write(
            logs.join("rounds")
                .join(format!("R{n}-20261228T000000.log")),
            "working\n".repeat(500),
        )
        .unwrap();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_ours(cfg: &agent_runner::config::Config) -> (Duration, Duration) {
    let args = agent_runner::observe::state::PeekOptions::default();
    let mut peek = Vec::new();
    let mut mon = Vec::new();
    // One warm-up (first-touch of the page cache and lazily compiled regexes).
    let _ = agent_runner::observe::peek::document(cfg, &args, None);
    let _ = agent_runner::witness::monitor::check_once(cfg);
    for _ in 0..RUNS {
        let t = Instant::now();
        let doc = agent_runner::observe::peek::document(cfg, &args, None).unwrap();
        let s = agent_runner::observe::peek::render(&doc, true, false);
        std::hint::black_box(s);
        peek.push(t.elapsed());
        let t = Instant::now();
        let a = agent_runner::witness::monitor::check_once(cfg).unwrap();
        std::hint::black_box(a);
        mon.push(t.elapsed());
    }
    (median(peek), median(mon))
}

/// Median wall time of our binary (process start to exit).
fn time_binary(bin: &Path, cfg_path: &Path, args: &[&str]) -> Duration {
    let mut v = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let o = Command::new(bin)
            .args(args)
            .arg("--config")
            .arg(cfg_path)
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap();
        v.push(t.elapsed());
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(1),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    median(v)
}

fn run_timed(cmd: &mut Command, limit: Duration) -> Option<(Duration, String)> {
    let t = Instant::now();
    let out_path = std::env::temp_dir().join(format!("ar-bench-out-{}", std::process::id()));
    let mut child = cmd
        .stdout(std::fs::File::create(&out_path).ok()?)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    loop {
        if let Some(st) = child.try_wait().ok()? {
            let el = t.elapsed();
            let out = child.wait_with_output().ok()?;
            let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
            let _ = std::fs::remove_file(&out_path);
            assert!(
                st.success(),
                "python failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let last = stdout.lines().last().unwrap_or("").trim().to_string();
            return Some((el, last));
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn time_python(tool: &Path, cfg_path: &Path, logs: &Path, budget: u64) -> (String, String) {
    let limit = Duration::from_secs(900);
    let peek = run_timed(
        Command::new(tool)
            .args(["peek", "--json", "--config"])
            .arg(cfg_path),
        limit,
    )
    .map(|(d, _)| format!("{:.1} ms (process wall)", d.as_secs_f64() * 1000.0))
    .unwrap_or_else(|| "> 900 s (killed)".into());
    let script = format!(
        "import time\nfrom pathlib import Path\nfrom agent_runner import monitor as m\nt=time.perf_counter()\nsrc=m.LocalSource(Path({l:?}))\ntail=m._EventTail()\nev=tail.read(src.events_files())\nmet=m.parse_events_from_jsonl_files(src.metrics_files())\ntails=m.load_round_log_tails(src.rounds_dir())\na=m.run_all_detectors(events=ev, metrics=met, log_tails=tails, round_budget_s={budget}, log_dir=Path({l:?}))\nprint('%.1f' % ((time.perf_counter()-t)*1000))\n",
        l = logs.display().to_string()
    );
    let py = tool.with_file_name("python");
    let mon = run_timed(Command::new(py).args(["-c", &script]), limit)
        .map(|(_, out)| format!("{out} ms (in-process, first poll)"))
        .unwrap_or_else(|| "> 900 s (killed)".into());
    (peek, mon)
}

fn main() {
    let large_mib: u64 = arg("--large-mib")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let no_python = std::env::args().any(|a| a == "--no-python");
    let ours_bin = arg("--bin").map(PathBuf::from);
    let tool = std::env::var_os("AGENT_RUNNER_PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/pyar/bin/agent-runner"));
    if !no_python && !tool.is_file() {
        panic!("Python tool missing at '{}': python3 -m venv /opt/pyar && /opt/pyar/bin/pip install cli-agent-runner==0.3.14 (or pass --no-python)", tool.display());
    }
    let root = tempfile::Builder::new()
        .prefix("ar-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut results = Vec::new();
    for (label, mib) in [("1 MiB", 1u64), ("large", large_mib)] {
        let dir = root.path().join(format!("s{mib}"));
        let work = dir.join("proj");
        let logs = dir.join("logs");
        std::fs::create_dir_all(&work).unwrap();
        let t = Instant::now();
        generate(&logs, mib * 1024 * 1024);
        let total: u64 = std::fs::read_dir(&logs)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("events-"))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        eprintln!(
            "generated {:.1} MiB of events in {:.1}s",
            total as f64 / 1048576.0,
            t.elapsed().as_secs_f64()
        );
        // Let the kernel write the generated data back first, so the
        // measurement does not compete with 1 GiB of writeback.
        // SAFETY: sync(2) has no preconditions.
        unsafe { libc::sync() };
        std::thread::sleep(Duration::from_secs(2));
        let mut cfg = agent_runner::config::default_config(&work, &logs).unwrap();
        cfg.monitor.supervisor_stale_threshold_s = Some(0);
        let (p, m) = time_ours(&cfg);
        let cfg_path = work.join("agent-runner.toml");
        {
            std::fs::write(work.join("p.md"), "x\n").unwrap();
            std::fs::write(&cfg_path, format!("schema_version = 1\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = [\"-p\", \"{{prompt}}\"]\n[runtime]\nwork_dir = \".\"\nlog_dir = \"{}\"\n[prompt]\nfile = \"./p.md\"\n[monitor]\nsupervisor_stale_threshold_s = 0\n", logs.display())).unwrap();
        }
        let bin_times = ours_bin.as_ref().map(|b| {
            (
                time_binary(b, &cfg_path, &["peek", "--json"]),
                time_binary(b, &cfg_path, &["monitor", "--once"]),
            )
        });
        let py = if no_python {
            ("skipped".to_string(), "skipped".to_string())
        } else {
            time_python(&tool, &cfg_path, &logs, 1800)
        };
        let lbl = if label == "large" {
            format!("{mib} MiB")
        } else {
            label.to_string()
        };
        results.push((lbl, total, p, m, py, bin_times));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    println!("\n| events size | ours peek --json (in-process) | ours monitor --once (in-process) | ours peek --json (process) | ours monitor --once (process) | python peek --json | python monitor poll |");
    println!("|---|---|---|---|---|---|---|");
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    for (l, _, p, m, (pp, pm), b) in &results {
        let (bp, bm) = b
            .map(|(a, c)| (ms(a), ms(c)))
            .unwrap_or(("-".into(), "-".into()));
        println!(
            "| {l} | {} | {} | {bp} | {bm} | {pp} | {pm} |",
            ms(*p),
            ms(*m)
        );
    }
    let (small_p, small_m) = (results[0].2, results[0].3);
    let (big_p, big_m) = (results[1].2, results[1].3);
    println!(
        "\nratio large/small: peek {:.2}x, monitor {:.2}x (target <= 2x); large under 50 ms: peek {}, monitor {}",
        big_p.as_secs_f64() / small_p.as_secs_f64(),
        big_m.as_secs_f64() / small_m.as_secs_f64(),
        big_p < Duration::from_millis(50),
        big_m < Duration::from_millis(50)
    );
    println!("(ours: in-process median of {RUNS} runs, release build; python: one run each)");
}
