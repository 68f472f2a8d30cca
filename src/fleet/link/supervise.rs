//! Supervision of the per-host tasks: each host's [`super::watch`] runs in a
//! task of its own, and a panic there — a bug, since nothing a host sends
//! should cause one — ends only that host's link. Its row says so (state
//! `error`) and a [`Report::Crashed`] tells the output side, which prints it
//! on stderr; the other hosts' tasks are not touched.

use super::{Report, Row, Table};
use std::future::Future;
use tokio::sync::mpsc;

/// Run `task` (the link of host `name`) in a task of its own and wait for
/// it; a panic is caught there and reported as this host's error.
pub async fn supervise<F>(name: String, table: Table, tx: mpsc::UnboundedSender<Report>, task: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let Err(e) = tokio::spawn(task).await else {
        return;
    };
    if !e.is_panic() {
        return; // cancelled: the runtime is shutting down
    }
    let what = panic_text(e.into_panic());
    let message = format!(
        "the link to host '{name}' failed ({what}) and is no longer watched; the other hosts are (this is a bug: please report it)"
    );
    // A panic while the table was locked poisons it; the rows are plain
    // data, still good to show.
    let mut t = table
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let row = t.entry(name.clone()).or_insert_with(|| Row {
        name: name.clone(),
        ..Row::default()
    });
    row.state = "error".into();
    row.error = Some(message.clone());
    drop(t);
    let _ = tx.send(Report::Crashed {
        host: name,
        message,
    });
}

/// The first line of a panic's payload.
fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    let s = if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    };
    s.lines().next().unwrap_or("a panic").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn a_panicking_host_task_ends_only_its_own_link() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let table: Table = Arc::new(Mutex::new(BTreeMap::new()));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let reports = rt.block_on(async {
            // The healthy host reports 20 events, 10 ms apart, across the panic.
            let good_tx = tx.clone();
            let good = tokio::spawn(supervise(
                "good".into(),
                Arc::clone(&table),
                tx.clone(),
                async move {
                    for i in 0..20 {
                        let _ = good_tx.send(Report::Event {
                            host: "good".into(),
                            line: format!("{i}"),
                        });
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            ));
            let bad_table = Arc::clone(&table);
            let bad = tokio::spawn(supervise(
                "bad".into(),
                Arc::clone(&table),
                tx.clone(),
                async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    // Panic while holding the table's lock (poisoning it).
                    let _held = bad_table.lock();
                    panic!("deliberate panic in the host task\nsecond line");
                },
            ));
            drop(tx);
            let (g, b) = tokio::join!(good, bad);
            assert!(
                g.is_ok() && b.is_ok(),
                "the supervisors themselves never fail"
            );
            let mut v = Vec::new();
            while let Some(r) = rx.recv().await {
                v.push(r);
            }
            v
        });
        let crashed: Vec<&String> = reports
            .iter()
            .filter_map(|r| match r {
                Report::Crashed { host, message } => {
                    assert_eq!(host, "bad");
                    Some(message)
                }
                _ => None,
            })
            .collect();
        assert_eq!(crashed.len(), 1, "{reports:?}");
        assert!(crashed[0].contains("'bad'") && crashed[0].contains("deliberate panic"));
        assert!(!crashed[0].contains('\n'), "one line: {}", crashed[0]);
        let good: Vec<&Report> = reports
            .iter()
            .filter(|r| matches!(r, Report::Event { host, .. } if host == "good"))
            .collect();
        assert_eq!(good.len(), 20, "the healthy host kept reporting");
        let t = table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(t["bad"].state, "error");
        assert!(t["bad"]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("deliberate"));
        assert!(!t.contains_key("good") || t["good"].state != "error");
    }
}
