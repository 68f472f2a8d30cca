//! Native SSH for the witness: `~/.ssh/config` resolution with OpenSSH
//! semantics (`config`), host-key policy over known_hosts files, auth (agent,
//! identity files), sessions with keepalive and deadlines, and jump hosts.
//!
//! This module never shells out to `ssh`; it must behave like OpenSSH would for
//! the same config.

pub mod config;
pub mod resolved;

pub use resolved::{ResolvedHost, StrictHostKeyChecking};
