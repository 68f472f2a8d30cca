//! agent-runner: keeps autonomous coding CLIs working round after round under
//! hard defenses (Layer 1 `round`, Layer 2 `serve`) and watches one project or
//! a fleet of hosts (Layer 3, the witness) over native SSH.
//!
//! The crate is laid out by concept: `config` (schema and loading), `state`
//! (the on-disk log_dir shared with the Python tool), `round`, `serve`,
//! `witness`, `ssh`, `service`, `observe`, `defenses`, and `cli` at the edge.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod config;
pub mod defenses;
pub mod demo;
pub mod deploy;
pub mod exit_code;
pub mod fleet;
pub mod heap;
pub mod observe;
pub mod proc;
pub mod redact;
pub mod round;
pub mod serve;
pub mod service;
pub mod signals;
pub mod ssh;
pub mod state;
pub mod timefmt;
pub mod witness;
