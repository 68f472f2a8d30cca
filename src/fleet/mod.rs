//! The remote witness and the fleet (DESIGN §5): the remote end `probe
//! --stream` ([`probe`]), its versioned frame format ([`frame`]), the hosts
//! file ([`hosts`]), one persistent SSH link per host with cursor resume and
//! back-off ([`link`]), and `monitor --host/--fleet` ([`run`]) with its
//! views ([`display`]: terminal table, HTML, JSON, Prometheus) and its
//! notifications ([`notify`]).
//!
//! Detection is never re-implemented here: the witness rebuilds a
//! [`crate::detect::window::Window`] from relayed frames and calls
//! [`crate::detect::run_all`] with the host's clock.

pub mod display;
pub mod frame;
pub mod hosts;
pub mod link;
pub mod notify;
pub mod pages;
pub mod probe;
pub mod run;
