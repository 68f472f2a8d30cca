//! The operating system underneath every layer: processes read from `/proc`
//! ([`proc`]), signal capture and the self-pipe doorbell ([`signals`]),
//! children started in their own session and awaited on a pidfd ([`spawn`]),
//! short commands run to completion under a limit ([`bounded`]),
//! containment of what outlives a child ([`reaper`]: the subreaper, orphans
//! ended TERM → grace → KILL), the memory facts of the coma preventer
//! ([`mem`]: PSI, meminfo, swap-out; [`cgroup`]: cgroup v2, all under one
//! root a test can point at a fixture tree), and the user's home and config
//! directories ([`dirs`]). Knows nothing of agent-runner's layers, config or
//! state.

pub mod bounded;
pub mod cgroup;
pub mod dirs;
pub mod mem;
pub mod proc;
pub mod reaper;
pub mod signals;
pub mod spawn;
