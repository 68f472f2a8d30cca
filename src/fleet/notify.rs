//! Notifications from the fleet witness: the sinks of the command line and
//! of the hosts file's `[[notify]]` tables share one
//! [`crate::witness::notify::Notifier`], fed from the links' reports (a raise
//! per fresh alert and `host_unreachable`, a clear per ended episode). What
//! the sinks' threads learn comes back to the output loop as [`Delivery`]
//! values: a failure is recorded and printed there, and marked on the rows
//! of the hosts it was about until a later delivery about them succeeds.

use super::link::Table;
use crate::witness::notify::{Failure, Observer};
use tokio::sync::mpsc::UnboundedSender;

/// What became of a delivery, for the output loop.
#[derive(Debug)]
pub enum Delivery {
    Failed(Failure),
    Delivered(Vec<Option<String>>),
}

/// Sends what the sinks learn to the output loop.
pub struct ToLoop(pub UnboundedSender<Delivery>);

impl Observer for ToLoop {
    fn failed(&self, f: &Failure) {
        let _ = self.0.send(Delivery::Failed(f.clone()));
    }
    fn delivered(&self, _sink: &str, hosts: &[Option<String>]) {
        let _ = self.0.send(Delivery::Delivered(hosts.to_vec()));
    }
}

/// Mark (or, after a success, unmark) the rows of the hosts a delivery was
/// about. A failure about no host in particular (a full queue) marks every
/// row.
pub fn mark_rows(table: &Table, d: &Delivery) {
    let Ok(mut t) = table.lock() else {
        return;
    };
    match d {
        Delivery::Failed(f) => {
            let text = format!("{}: {}", f.sink, f.error);
            let hosts: Vec<String> = f.hosts().into_iter().flatten().collect();
            for r in t.values_mut() {
                if hosts.is_empty() || hosts.contains(&r.name) {
                    r.notify_error = Some(text.clone());
                }
            }
        }
        Delivery::Delivered(hosts) => {
            for h in hosts.iter().flatten() {
                if let Some(r) = t.get_mut(h) {
                    r.notify_error = None;
                }
            }
        }
    }
}
