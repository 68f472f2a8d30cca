//! The operating system underneath every layer: processes read from `/proc`
//! ([`proc`]) and signal capture ([`signals`]). Knows nothing of agent-runner's
//! layers, config or state.

pub mod proc;
pub mod signals;
