//! A fixture tree for the `AGENT_RUNNER_SYS_ROOT` test hook: the `/proc`
//! and `/sys` files the memory defenses read (PSI, meminfo, vmstat, the own
//! cgroup and its `memory.*` files), written atomically (tmp + rename) so the
//! binary never reads half a file. Fake agents change it too (through the
//! `SYS_ROOT` variable they inherit) to make pressure appear mid-round.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const MIB: u64 = 1024 * 1024;

pub struct SysRoot {
    pub dir: PathBuf,
}

/// Write `text` to `p` atomically (creating parents).
pub fn put(p: &Path, text: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
    }
    let tmp = p.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("{}: {e}", tmp.display()));
    std::fs::rename(&tmp, p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
}

/// The text of a PSI file with these avg10 values.
pub fn psi_text(some: f64, full: f64) -> String {
    format!(
        "some avg10={some:.2} avg60=0.00 avg300=0.00 total=1000\nfull avg10={full:.2} avg60=0.00 avg300=0.00 total=500\n"
    )
}

impl SysRoot {
    /// A healthy host: PSI quiet, 1 GiB RAM with 600 MiB available, 512 MiB
    /// swap, nothing swapped out, no cgroup v2.
    pub fn new(under: &Path) -> SysRoot {
        let s = SysRoot {
            dir: under.join("sysroot"),
        };
        s.psi(0.0, 0.0);
        s.meminfo(1024, 300, 600, 512);
        s.swapped_out(0);
        put(&s.dir.join("proc/pressure/io"), &psi_text(0.5, 0.1));
        s
    }

    pub fn psi_path(&self) -> PathBuf {
        self.dir.join("proc/pressure/memory")
    }

    pub fn psi(&self, some: f64, full: f64) {
        put(&self.psi_path(), &psi_text(some, full));
    }

    /// A kernel without PSI.
    pub fn no_psi(&self) {
        let _ = std::fs::remove_file(self.psi_path());
    }

    pub fn meminfo(&self, total_mb: u64, free_mb: u64, avail_mb: u64, swap_mb: u64) {
        put(
            &self.dir.join("proc/meminfo"),
            &format!(
                "MemTotal:       {} kB\nMemFree:        {} kB\nMemAvailable:   {} kB\nBuffers:        0 kB\nSwapTotal:      {} kB\nSwapFree:       {} kB\n",
                total_mb * 1024,
                free_mb * 1024,
                avail_mb * 1024,
                swap_mb * 1024,
                swap_mb * 1024
            ),
        );
    }

    /// `/proc/vmstat` with `bytes` swapped out since boot.
    pub fn swapped_out(&self, bytes: u64) {
        put(
            &self.dir.join("proc/vmstat"),
            &format!("pgpgin 1\npgpgout 2\npswpin 0\npswpout {}\n", bytes / 4096),
        );
    }

    /// cgroup v2 with the memory controller; this process lives in `leaf`.
    pub fn cgroup_v2(&self, leaf: &str) {
        put(
            &self.dir.join("sys/fs/cgroup/cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        );
        put(&self.dir.join("proc/self/cgroup"), &format!("0::{leaf}\n"));
        std::fs::create_dir_all(self.cg_dir(leaf)).unwrap_or_else(|e| panic!("{e}"));
        put(&self.cg_dir(leaf).join("cgroup.procs"), "");
    }

    pub fn cg_dir(&self, cg: &str) -> PathBuf {
        self.dir
            .join("sys/fs/cgroup")
            .join(cg.trim_start_matches('/'))
    }

    /// Write `file` of cgroup `cg`.
    pub fn cg(&self, cg: &str, file: &str, text: &str) {
        put(&self.cg_dir(cg).join(file), text);
    }

    pub fn cg_read(&self, cg: &str, file: &str) -> String {
        std::fs::read_to_string(self.cg_dir(cg).join(file))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// `memory.events` with these counters.
    pub fn cg_events(&self, cg: &str, oom_kill: u64) {
        self.cg(
            cg,
            "memory.events",
            &format!(
                "low 0\nhigh 2\nmax 1\noom {oom_kill}\noom_kill {oom_kill}\noom_group_kill 0\n"
            ),
        );
    }

    /// Point `cmd` at this tree, with the floor ticking every `tick_ms`
    /// (None: the real 10 s).
    pub fn apply(&self, cmd: &mut Command, tick_ms: Option<u64>) {
        cmd.env("AGENT_RUNNER_SYS_ROOT", &self.dir)
            .env("SYS_ROOT", &self.dir);
        match tick_ms {
            Some(ms) => cmd.env("AGENT_RUNNER_MEM_TICK_MS", ms.to_string()),
            None => cmd.env_remove("AGENT_RUNNER_MEM_TICK_MS"),
        };
    }
}

/// A shell snippet for fake agents: write a PSI file with these values
/// into the fixture (atomically).
pub fn agent_sets_psi(some: f64, full: f64) -> String {
    format!(
        "printf '{}' > \"$SYS_ROOT/proc/pressure/memory.tmp\" && mv \"$SYS_ROOT/proc/pressure/memory.tmp\" \"$SYS_ROOT/proc/pressure/memory\"",
        psi_text(some, full).replace('\n', "\\n")
    )
}
