//! The on-disk state of one project, shared byte-for-byte with the Python tool:
//! the log_dir layout, the event envelope and kind registry, metrics samples,
//! atomic JSON state files and the per-project lock, and what wakes a reader
//! that follows the log_dir.
//!
//! This module owns *writing* state and the file names; it never decides what a
//! round or the loop does.

pub mod atomic;
pub mod events;
pub mod layout;
pub mod lock;
pub mod metrics;
pub mod pyjson;
pub mod pyrepr;
pub mod reader;
pub mod status;
pub mod wake;

pub use events::{EventLog, Kind};
pub use layout::Layout;
