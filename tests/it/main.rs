//! The integration tests, one binary: one module per topic, sharing the
//! helpers in `support` (a scratch project, hand-written log_dirs, real sshd
//! instances). One binary links once; `cargo test --test it TOPIC::` runs one
//! topic. The one test that signals its own process lives in
//! `tests/signal_self.rs`.

mod support;

mod architecture;
mod cli_docs;
mod compat_python;
mod config;
mod demo;
mod deploy;
mod docs_reliability;
mod docs_tables;
mod faults;
mod fleet;
mod fleet_hostile;
mod metrics_promtool;
mod monitor_http;
mod monitor_local;
mod monitor_python_parity;
mod observe;
mod observe_cli;
mod parsers;
mod rotation;
mod round;
mod round_process;
mod secrets;
mod self_exe;
mod serve;
mod service;
mod ssh_config_cli;
mod ssh_config_diff;
mod ssh_doctor;
mod ssh_host_key_diff;
mod ssh_injection;
mod ssh_known_hosts;
mod ssh_session;
mod terminal_text;
mod threshold_clamps;
