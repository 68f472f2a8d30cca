//! Shared fixtures: a temp project whose log_dir is written by hand in the
//! upstream format (`events-YYYY-MM.jsonl`, `metrics-…`, `rounds/R<N>-….log`).

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub work: PathBuf,
    pub logs: PathBuf,
}

impl Fixture {
    pub fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let work = tmp.path().join("proj");
        let logs = tmp.path().join("logs");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(logs.join("rounds")).unwrap();
        Fixture { tmp, work, logs }
    }

    pub fn config(&self) -> agent_runner::config::Config {
        agent_runner::config::default_config(&self.work, &self.logs).unwrap()
    }

    fn append(&self, prefix: &str, ts: DateTime<Utc>, kind: &str, payload: Value) {
        let mut m = serde_json::Map::new();
        m.insert("ts".into(), json!(agent_runner::timefmt::iso_ms(ts)));
        m.insert("event".into(), json!(kind));
        if let Value::Object(p) = payload {
            m.extend(p);
        }
        let line = agent_runner::state::pyjson::to_line(&Value::Object(m)) + "\n";
        let path = self.logs.join(format!(
            "{prefix}{}.jsonl",
            agent_runner::timefmt::month(ts)
        ));
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(line.as_bytes())
            .unwrap();
    }

    pub fn event(&self, ago_s: i64, kind: &str, payload: Value) {
        self.append(
            "events-",
            Utc::now() - Duration::seconds(ago_s),
            kind,
            payload,
        );
    }

    pub fn metric(&self, ago_s: i64, payload: Value) {
        self.append(
            "metrics-",
            Utc::now() - Duration::seconds(ago_s),
            "round_end",
            payload,
        );
    }

    /// A finished round `n` that started `ago_s` seconds ago.
    pub fn round(&self, n: u64, ago_s: i64, exit_code: i64, cause: &str, log: &str) {
        self.event(ago_s, "round_start", json!({"round_num": n, "phase": null}));
        self.event(ago_s - 1, "agent_exit", json!({"round_num": n, "exit_code": exit_code, "duration_s": 1.5, "timed_out": cause == "timeout", "exit_cause": cause}));
        self.event(ago_s - 1, "round_end", json!({"round_num": n}));
        std::fs::write(
            self.logs
                .join("rounds")
                .join(format!("R{n}-20261120T1200{:02}.log", n % 60)),
            log,
        )
        .unwrap();
    }

    pub fn events_text(&self) -> String {
        let mut s = String::new();
        for e in std::fs::read_dir(&self.logs).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("events-") {
                s.push_str(&std::fs::read_to_string(e.path()).unwrap());
            }
        }
        s
    }
}

impl Fixture {
    /// Write `proj/agent-runner.toml` logging to this fixture's log_dir.
    pub fn write_config(&self, monitor_extra: &str) -> PathBuf {
        let p = self.work.join("agent-runner.toml");
        std::fs::write(
            &p,
            format!(
                "schema_version = 1\n\n[agent]\ncommand = [\"true\"]\nprompt_arg_template = []\nprompt_delivery = \"stdin\"\n\n[runtime]\nwork_dir = \".\"\nlog_dir = {}\n\n[prompt]\nfile = \"prompts/main.md\"\n\n[monitor]\n{monitor_extra}\n",
                toml_str(&self.logs)
            ),
        )
        .unwrap();
        p
    }

    /// Run the binary with `--config` pointing at this fixture.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(super::BIN)
            .args(args)
            .arg("--config")
            .arg(self.work.join("agent-runner.toml"))
            .env("HOME", self.tmp.path())
            .output()
            .unwrap()
    }
}

fn toml_str(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}
