//! Layer 3, the witness, locally: the monitor loop over one project's
//! log_dir (read incrementally through [`crate::snapshot::Source`], judged by
//! the pure [`crate::detect`] functions, de-duplicated per episode, recorded
//! as `monitor_*` events, auto-stop through a replaceable
//! [`monitor::StopAction`]), and its sinks: narration and event streams
//! ([`narrate`]), the HTTP page ([`http`]), whose server and Prometheus
//! writer ([`prom`]) the fleet view reuses, and notifications to people
//! ([`notify`]), which the fleet witness sends through too. The remote witness
//! (`crate::fleet`) builds on this module, never the reverse.

pub mod dashboard;
pub mod http;
pub mod monitor;
pub mod narrate;
pub mod notify;
pub mod prom;

/// What `monitor` does with what it watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Detect anomalies and act on them.
    Anomaly,
    /// One human line per event (local only).
    Narrate,
    /// Stream the events as JSON lines.
    Events,
    /// Serve the HTTP page.
    Http,
}
