//! A command sink: the program runs without a shell, in a process group of
//! its own, with the body on its stdin (written by a helper thread, so a
//! program that never reads cannot block the sink), stdout discarded and
//! the end of its stderr kept for the error message. It must exit 0 before
//! the deadline; otherwise its whole group is killed.

use super::DeliveryError;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes of the program's stderr kept for the message.
const STDERR_KEEP: usize = 2048;

/// Run `argv` with `input` on stdin.
pub fn run(argv: &[String], input: &[u8], timeout: Duration) -> Result<(), DeliveryError> {
    let Some((prog, args)) = argv.split_first() else {
        return Err(DeliveryError::fatal("no program to run"));
    };
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            let permanent = matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            );
            DeliveryError {
                message: format!("cannot run '{prog}': {e}"),
                permanent,
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let data = input.to_vec();
        let _ = std::thread::Builder::new()
            .name("notify-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(&data);
            });
    }
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut kept: Vec<u8> = Vec::new();
            let mut b = [0u8; 1024];
            while let Ok(n) = e.read(&mut b) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&b[..n]);
                if kept.len() > STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
            kept
        })
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(DeliveryError::retry(format!("waiting for '{prog}': {e}"))),
        }
    };
    let Some(status) = status else {
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        return Err(DeliveryError::retry(format!(
            "'{prog}' did not finish within {} s (killed)",
            timeout.as_secs()
        )));
    };
    if status.success() {
        return Ok(());
    }
    // The group's other members may hold stderr open: do not wait for them.
    let err = stderr
        .filter(|t| {
            let until = Instant::now() + Duration::from_millis(200);
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            t.is_finished()
        })
        .and_then(|t| t.join().ok())
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let last = err.lines().last().unwrap_or("");
    let last = crate::termsafe::text(last);
    Err(DeliveryError::retry(format!(
        "'{prog}' {}{}",
        match status.code() {
            Some(c) => format!("exited with {c}"),
            None => "was killed by a signal".to_string(),
        },
        if last.is_empty() {
            String::new()
        } else {
            format!(": {last}")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn stdin_exit_status_stderr_and_deadline() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let out = d.path().join("got");
        let script = format!("cat > '{}'", out.display());
        assert_eq!(
            run(&sh(&script), b"{\"a\": 1}", Duration::from_secs(5)),
            Ok(())
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap_or_default(),
            "{\"a\": 1}"
        );

        let e = run(&sh("echo nope >&2; exit 3"), b"", Duration::from_secs(5));
        assert_eq!(
            e,
            Err(DeliveryError::retry("'/bin/sh' exited with 3: nope"))
        );

        let t0 = Instant::now();
        let e = run(&sh("sleep 30 & sleep 30"), b"", Duration::from_millis(300));
        assert!(e.is_err() && t0.elapsed() < Duration::from_secs(3), "{e:?}");

        let e = run(
            &["/nonexistent/prog".to_string()],
            b"",
            Duration::from_secs(1),
        );
        assert!(e.as_ref().is_err_and(|e| e.permanent), "{e:?}");

        // A program that never reads a large input still finishes.
        let big = vec![b'x'; 1 << 20];
        assert_eq!(run(&sh("exit 0"), &big, Duration::from_secs(5)), Ok(()));
    }
}
