//! Fault injection for the supervisor-fault tests: a small tmpfs that fills
//! up (root), and an `LD_PRELOAD` shim, compiled here with `cc`, that logs
//! `fsync`/`rename` calls and can make `flock` fail with a chosen errno.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fail (never skip) when a test that needs root runs without it.
pub fn need_root(what: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root ({what}); run the suite as root, as `bash .ci/run` does"
    );
}

/// A tmpfs of `size` mounted on a fresh directory; unmounted on drop.
pub struct Tmpfs {
    pub dir: PathBuf,
}

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        need_root("it mounts a small tmpfs to fill it up");
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
        let o = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            o.status.success(),
            "mount -t tmpfs on '{}' failed: {}",
            dir.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

const SHIM_C: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(const char *what, const char *path) {
    const char *log = getenv("SHIM_LOG");
    if (!log) return;
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    char buf[4400];
    int n = snprintf(buf, sizeof buf, "%d %s %s\n", (int)getpid(), what, path);
    if (n > 0) { ssize_t w = write(fd, buf, (size_t)n); (void)w; }
    close(fd);
}

static void note_fd(const char *what, int fd) {
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    path[n < 0 ? 0 : n] = 0;
    note(what, path);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    note_fd("fsync", fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    note_fd("fsync", fd);
    return real(fd);
}

int rename(const char *from, const char *to) {
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    int rc = real(from, to);
    if (rc == 0) note("rename", to);
    return rc;
}

int flock(int fd, int op) {
    static int (*real)(int, int);
    if (!real) real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
    const char *e = getenv("SHIM_FLOCK_ERRNO");
    if (e && *e) { errno = atoi(e); return -1; }
    return real(fd, op);
}
"#;

/// Compile the shim into `dir` and return the `.so` to put in `LD_PRELOAD`.
pub fn shim(dir: &Path) -> PathBuf {
    let src = dir.join("shim.c");
    let so = dir.join("shim.so");
    std::fs::write(&src, SHIM_C).unwrap_or_else(|e| panic!("{e}"));
    let o = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&src)
        .arg("-ldl")
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc (the Rust toolchain needs it too): {e}"));
    assert!(
        o.status.success(),
        "cc failed to build the LD_PRELOAD shim: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    so
}

/// The shim's log: (pid, call, path) in call order.
pub fn shim_log(path: &Path) -> Vec<(i32, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ' ');
            Some((
                it.next()?.parse().ok()?,
                it.next()?.to_string(),
                it.next()?.to_string(),
            ))
        })
        .collect()
}
