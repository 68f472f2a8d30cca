//! The operating system underneath every layer: processes read from `/proc`
//! ([`proc`]), signal capture and the self-pipe doorbell ([`signals`]), and
//! children started in their own session and awaited on a pidfd ([`spawn`]).
//! Knows nothing of agent-runner's layers, config or state.

pub mod proc;
pub mod signals;
pub mod spawn;
