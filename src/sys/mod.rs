//! The operating system underneath every layer: processes read from `/proc`
//! ([`proc`]), signal capture ([`signals`]) and the user's home and config
//! directories ([`dirs`]). Knows nothing of agent-runner's layers, config or
//! state.

pub mod dirs;
pub mod proc;
pub mod signals;
