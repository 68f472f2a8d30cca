//! Native SSH for the witness: `~/.ssh/config` resolution with OpenSSH
//! semantics (`config`), the check of host aliases, names and users
//! (`names`), host-key policy over known_hosts files, auth (agent, identity
//! files), sessions with keepalive and deadlines, and jump hosts.
//!
//! This module never shells out to `ssh`; it must behave like OpenSSH would for
//! the same config. One difference: `~` is `$HOME` (OpenSSH uses the passwd
//! entry), so tests and users can point it elsewhere.

pub mod auth;
pub mod config;
pub mod doctor;
pub mod exec;
pub mod known_hosts;
pub mod names;
pub mod proxy;
pub mod quote;
pub mod resolved;
pub mod session;

pub use resolved::{ResolvedHost, StrictHostKeyChecking};
pub use session::{connect, Output, Session, SshError};
