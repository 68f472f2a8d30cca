//! Reading a project without changing it: `peek` (the ProjectState document),
//! `watch` (peek redrawn), `events` (query and follow events by kind).
//!
//! Everything here reads the tail of the log_dir through
//! [`crate::state::reader`]; nothing here writes state or runs detectors'
//! side effects.

pub mod events;
pub mod peek;
pub mod state;
pub mod watch;
