//! What wakes a follower of the log_dir (the remote `probe`, `events --tail`)
//! between reads: inotify on the log_dir (Linux), so an appended event is read
//! at once and an idle follower sleeps until its own deadline; where inotify
//! is unavailable (not Linux, the directory missing at start, the per-user
//! instance limit reached) a fixed tick.

use std::path::Path;
use std::time::{Duration, Instant};

/// The fallback polling period (and the granularity of a missing log_dir).
pub const TICK: Duration = Duration::from_millis(100);

/// Blocks a follower until the log_dir may have changed.
pub struct Wake {
    #[cfg(target_os = "linux")]
    notify: Option<nix::sys::inotify::Inotify>,
}

impl Wake {
    /// Watch `dir` (not recursive: the event and metrics shards live at its
    /// top). Never fails: without inotify it falls back to [`TICK`].
    pub fn new(dir: &Path) -> Wake {
        #[cfg(target_os = "linux")]
        {
            use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
            let notify =
                Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).and_then(|n| {
                    n.add_watch(
                        dir,
                        AddWatchFlags::IN_MODIFY
                            | AddWatchFlags::IN_CREATE
                            | AddWatchFlags::IN_MOVED_TO
                            | AddWatchFlags::IN_MOVED_FROM
                            | AddWatchFlags::IN_DELETE
                            | AddWatchFlags::IN_DELETE_SELF
                            | AddWatchFlags::IN_MOVE_SELF,
                    )
                    .map(|_| n)
                });
            match notify {
                Ok(n) => Wake { notify: Some(n) },
                Err(e) => {
                    tracing::debug!(
                        "no inotify on '{}' ({e}); polling every {} ms",
                        dir.display(),
                        TICK.as_millis()
                    );
                    Wake { notify: None }
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = dir;
            Wake {}
        }
    }

    /// When polling, try to watch `dir` again (it may exist by now, or an
    /// inotify instance may be free). True when this call started watching:
    /// the caller can keep its listings from now on.
    pub fn rewatch(&mut self, dir: &Path) -> bool {
        if self.is_notified() || !dir.is_dir() {
            return false;
        }
        *self = Wake::new(dir);
        self.is_notified()
    }

    /// True when the log_dir is watched (false: polling every [`TICK`]).
    pub fn is_notified(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.notify.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Wait until something in the log_dir changed or `timeout` passed
    /// (polling: at most [`TICK`]). The caller re-reads the logs either way.
    /// True when files may have appeared or left (created, moved in or out,
    /// deleted, or unknown because this is polling): the caller lists the
    /// directory again.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(n) = &self.notify {
            use nix::poll::{PollFd, PollFlags, PollTimeout};
            use std::os::fd::AsFd;
            let deadline = Instant::now() + timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return false;
                }
                // Round up so a sub-millisecond rest does not spin.
                let ms = (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32;
                let mut fds = [PollFd::new(n.as_fd(), PollFlags::POLLIN)];
                match nix::poll::poll(
                    &mut fds,
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
                ) {
                    Ok(0) => return false,
                    Ok(_) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::debug!("inotify poll failed ({e}); polling instead");
                        self.notify = None;
                        std::thread::sleep(TICK.min(timeout));
                        return true;
                    }
                }
            }
            let mut gone = false;
            let mut created = false;
            loop {
                match n.read_events() {
                    Ok(evs) if evs.is_empty() => break,
                    Ok(evs) => {
                        use nix::sys::inotify::AddWatchFlags as F;
                        gone |= evs.iter().any(|e| {
                            e.mask
                                .intersects(F::IN_DELETE_SELF | F::IN_MOVE_SELF | F::IN_IGNORED)
                        });
                        // Files appeared or left (a rotation, a delete):
                        // the listing changed.
                        created |= evs.iter().any(|e| {
                            e.mask.intersects(
                                F::IN_CREATE
                                    | F::IN_MOVED_TO
                                    | F::IN_MOVED_FROM
                                    | F::IN_DELETE
                                    | F::IN_Q_OVERFLOW,
                            )
                        });
                    }
                    Err(nix::errno::Errno::EAGAIN) => break,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
            if gone {
                // The directory went away or was replaced: poll from now on.
                tracing::debug!("log_dir moved or removed; polling instead");
                self.notify = None;
            }
            return created || gone;
        }
        std::thread::sleep(TICK.min(timeout));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn an_append_wakes_at_once_and_silence_waits_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wake::new(dir.path());
        assert!(w.is_notified());
        // nothing happens: the full timeout passes
        let t0 = Instant::now();
        w.wait(Duration::from_millis(300));
        assert!(
            t0.elapsed() >= Duration::from_millis(290),
            "{:?}",
            t0.elapsed()
        );
        // an append from another thread ends the wait early
        let p = dir.path().join("events-2026-11.jsonl");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            std::fs::write(p, b"{}\n").unwrap();
        });
        let t0 = Instant::now();
        assert!(
            w.wait(Duration::from_secs(20)),
            "a new file asks for a new listing"
        );
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        writer.join().unwrap();
        // an append to a known file wakes too, without asking for a listing
        let p = dir.path().join("events-2026-11.jsonl");
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
            std::io::Write::write_all(&mut f, b"{}\n").unwrap();
        });
        let t0 = Instant::now();
        assert!(!w.wait(Duration::from_secs(20)));
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
        writer.join().unwrap();
    }

    #[test]
    fn a_missing_dir_falls_back_to_the_tick() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("not-yet");
        let mut w = Wake::new(&d);
        assert!(!w.is_notified());
        let t0 = Instant::now();
        w.wait(Duration::from_secs(20));
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert!(!w.rewatch(&d), "still missing");
        std::fs::create_dir(&d).unwrap();
        #[cfg(target_os = "linux")]
        {
            assert!(w.rewatch(&d), "watched once it exists");
            assert!(w.is_notified());
            assert!(!w.rewatch(&d), "already watched");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_removed_dir_falls_back_to_the_tick() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("logs");
        std::fs::create_dir(&d).unwrap();
        let mut w = Wake::new(&d);
        assert!(w.is_notified());
        std::fs::remove_dir(&d).unwrap();
        w.wait(Duration::from_secs(20));
        assert!(!w.is_notified());
    }
}
