//! The operating system underneath every layer: processes read from `/proc`
//! ([`proc`]), signal capture and the self-pipe doorbell ([`signals`]),
//! children started in their own session and awaited on a pidfd ([`spawn`]),
//! short commands run to completion under a limit ([`bounded`]),
//! and the user's home and config directories ([`dirs`]). Knows nothing of
//! agent-runner's layers, config or state.

pub mod bounded;
pub mod dirs;
pub mod proc;
pub mod signals;
pub mod spawn;
