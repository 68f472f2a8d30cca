//! Reading a project without changing it: the ProjectState document
//! (`peek`, `watch`, the HTTP page's `/api/state`) and its text form, one-line
//! event narration, and `events` (query and follow events by kind).
//!
//! Everything here reads the tail of the log_dir through [`crate::snapshot`]
//! and [`crate::state::reader`]; nothing here writes state or acts on alerts.

pub mod events;
pub mod narrate;
pub mod peek;
pub mod state;
