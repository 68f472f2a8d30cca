//! The one integration test that needs a process of its own: it installs the
//! round's SIGTERM/SIGINT/SIGHUP handlers (`install_stop_handlers`, process
//! wide and never undone) in the test process and sends that process SIGTERM.
//! Inside the shared `it` binary those handlers would stay for every later
//! test, Ctrl-C on `cargo test` would no longer stop it, and any other
//! in-process SIGTERM handler (the follow loops' `install_interrupt`) would
//! race this one for the signal.

#[path = "it/support/process_agent.rs"]
mod process_agent;

/// Named like its topic in the `it` binary: `round_process::…`.
mod round_process {
    use std::path::PathBuf;
    use std::time::Duration;

    use agent_runner::round::process::install_stop_handlers;
    use nix::sys::signal::Signal;

    use crate::process_agent::*;

    #[test]
    fn real_sigterm_to_this_process_stops_the_agent() {
        let stop = install_stop_handlers().unwrap();
        let again = install_stop_handlers().unwrap();
        assert!(!stop.is_requested());
        let a = agent("echo $$ > \"$OUT/pids\"; exec sleep 1000");
        let pids_file: PathBuf = a.dir.path().join("pids");
        let pf = pids_file.clone();
        let t = std::thread::spawn(move || {
            wait_words(&pf, 1);
            nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGTERM).unwrap();
        });
        let (out, _, took) = go_with(&a, &policy(120), &stop);
        t.join().unwrap();
        assert!(out.cancelled, "{out:?}");
        assert_eq!(out.exit_code, -15);
        assert!(again.is_requested(), "one process-wide stop signal");
        assert_eq!(stop.received_signal(), Some(libc::SIGTERM));
        assert!(took < Duration::from_secs(60), "{took:?}");
        assert_all_dead(&pids_in(&pids_file));
    }
}
