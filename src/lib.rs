//! agent-runner: keeps autonomous coding CLIs working round after round under
//! hard defenses (Layer 1 `round`, Layer 2 `serve`) and watches one project or
//! a fleet of hosts (Layer 3, the witness) over native SSH.
//!
//! The crate is laid out by concept, and its modules depend on each other in
//! one direction only (docs/architecture.md, checked by a test): `commands`
//! at the edge (clap, printing, exit codes); the layers `round`, `serve`,
//! `witness` and `fleet` with `observe`, `service`, `deploy`, `demo` and
//! `scaffold`; below them `snapshot`, `detect` and `defenses`; then the data
//! and transport modules `config`, `state` and `ssh`; small helpers last.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod coma;
pub mod commands;
pub mod config;
pub mod defenses;
pub mod demo;
pub mod deploy;
pub mod detect;
pub mod exit_code;
pub mod fleet;
pub mod heap;
pub mod observe;
pub mod preflight;
pub mod redact;
pub mod round;
pub mod scaffold;
pub mod serve;
pub mod service;
pub mod snapshot;
pub mod ssh;
pub mod state;
pub mod sys;
pub mod termsafe;
pub mod timefmt;
pub mod witness;
