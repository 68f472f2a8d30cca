//! Host memory facts for the memory defenses (0.3 delta §4.1): PSI from
//! `/proc/pressure/{memory,io}`, `/proc/meminfo`, and the swap-out counter
//! of `/proc/vmstat`. With [`cgroup`](super::cgroup) this is the one place
//! the coma preventer reads the kernel.
//!
//! Every path is taken under [`root`]: `/`, unless the **test hook**
//! `AGENT_RUNNER_SYS_ROOT` names a fixture tree laid out like the real one
//! (`<root>/proc/pressure/memory`, `<root>/proc/meminfo`,
//! `<root>/proc/vmstat`, `<root>/proc/self/cgroup`, `<root>/sys/fs/cgroup/…`).
//! Integration tests use it to drive the real binary through every tier; it
//! is not meant for production. Facts about processes (`/proc/<pid>/…`) are
//! not redirected: they live in [`proc`](super::proc).
//!
//! Every byte read is untrusted: a file is read up to [`MAX_READ`] bytes,
//! and a value that is missing, unparseable, negative or not finite is
//! `None` ("cannot be read"), never a panic and never a guess.

use std::io::Read;
use std::path::{Path, PathBuf};

/// The test hook naming a fixture root for `/proc` and `/sys` reads.
pub const SYS_ROOT_ENV: &str = "AGENT_RUNNER_SYS_ROOT";
/// The most read from any one file (the real ones are a few KiB at most;
/// a file bind-mounted over them could be anything).
pub const MAX_READ: u64 = 64 * 1024;
/// `/proc/vmstat` counts pages; psutil (and so upstream) multiplies by 4 KiB.
const VMSTAT_PAGE: u64 = 4096;

/// The root under which `/proc` and `/sys` files are read: `/`, or the test
/// hook's directory when [`SYS_ROOT_ENV`] is set and not empty.
pub fn root() -> PathBuf {
    match std::env::var_os(SYS_ROOT_ENV).filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from("/"),
    }
}

/// `rel` (an absolute kernel path such as `/proc/meminfo`) under [`root`].
pub fn path(rel: &str) -> PathBuf {
    root().join(rel.trim_start_matches('/'))
}

/// Read at most [`MAX_READ`] bytes of `p` as (lossy) UTF-8.
pub fn read_small(p: &Path) -> std::io::Result<String> {
    let f = std::fs::File::open(p)?;
    let mut buf = Vec::new();
    f.take(MAX_READ).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// One PSI file: the `some` and `full` lines' `avg10`, and the `full`
/// line's cumulative `total` (µs stalled).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psi {
    pub some_avg10: f64,
    /// 0.0 when the file has no readable `full` line (upstream's rule).
    pub full_avg10: f64,
    pub full_total: Option<u64>,
}

/// Read `/proc/pressure/<resource>` (`memory`, `io`). `None` when the file is
/// missing (no `CONFIG_PSI`), unreadable (`psi=0`) or has no `some avg10`.
pub fn psi(resource: &str) -> Option<Psi> {
    let p = path(&format!("/proc/pressure/{resource}"));
    match read_small(&p) {
        Ok(text) => parse_psi(&text),
        Err(e) => {
            tracing::debug!("no PSI at '{}': {e}", p.display());
            None
        }
    }
}

fn finite_nonneg(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// Parse a PSI file (upstream `_read_psi`): `some` is required; a missing
/// `full` line reads as `full avg10=0`.
pub fn parse_psi(text: &str) -> Option<Psi> {
    let mut some = None;
    let mut full = None;
    let mut full_total = None;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(head) = parts.next() else { continue };
        for kv in parts {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            match (head, k) {
                ("some", "avg10") => some = finite_nonneg(v).or(some),
                ("full", "avg10") => full = finite_nonneg(v).or(full),
                ("full", "total") => full_total = v.parse::<u64>().ok().or(full_total),
                _ => {}
            }
        }
    }
    Some(Psi {
        some_avg10: some?,
        full_avg10: full.unwrap_or(0.0),
        full_total,
    })
}

/// The `/proc/meminfo` fields the defenses use, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total_kb: Option<u64>,
    pub available_kb: Option<u64>,
    pub free_kb: Option<u64>,
    pub swap_total_kb: Option<u64>,
}

impl MemInfo {
    /// Host RAM in bytes.
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_kb.and_then(|k| k.checked_mul(1024))
    }
    /// Host swap in bytes.
    pub fn swap_total_bytes(&self) -> Option<u64> {
        self.swap_total_kb.and_then(|k| k.checked_mul(1024))
    }
}

/// Read `/proc/meminfo`; a field that cannot be read is `None`.
pub fn meminfo() -> MemInfo {
    let p = path("/proc/meminfo");
    match read_small(&p) {
        Ok(text) => parse_meminfo(&text),
        Err(e) => {
            tracing::debug!("cannot read '{}': {e}", p.display());
            MemInfo::default()
        }
    }
}

/// Parse `/proc/meminfo` (`Key:   123 kB` lines).
pub fn parse_meminfo(text: &str) -> MemInfo {
    let get = |key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    MemInfo {
        total_kb: get("MemTotal"),
        available_kb: get("MemAvailable"),
        free_kb: get("MemFree"),
        swap_total_kb: get("SwapTotal"),
    }
}

/// Bytes swapped out since boot (`pswpout` × 4 KiB, as psutil's `sout`).
pub fn swap_out_bytes() -> Option<u64> {
    let p = path("/proc/vmstat");
    match read_small(&p) {
        Ok(text) => parse_vmstat_sout(&text),
        Err(e) => {
            tracing::debug!("cannot read '{}': {e}", p.display());
            None
        }
    }
}

/// The `pswpout` line of `/proc/vmstat`, in bytes.
pub fn parse_vmstat_sout(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("pswpout "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .and_then(|pages| pages.checked_mul(VMSTAT_PAGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_parses_both_lines_and_needs_some() {
        let p = parse_psi("some avg10=5.54 avg60=1.14 avg300=0.24 total=9234208\nfull avg10=70.00 avg60=0.79 avg300=0.17 total=3148854\n");
        assert_eq!(
            p,
            Some(Psi {
                some_avg10: 5.54,
                full_avg10: 70.0,
                full_total: Some(3148854)
            })
        );
        // no full line: full avg10 reads 0, total unknown
        let p = parse_psi("some avg10=1.00 avg60=0 avg300=0 total=1\n");
        assert_eq!(p.map(|p| (p.full_avg10, p.full_total)), Some((0.0, None)));
        // garbage, NaN, negative, inf, empty: not readable
        for bad in [
            "",
            "garbage",
            "some avg10=NaN",
            "some avg10=-1",
            "some avg10=inf",
            "full avg10=90",
        ] {
            assert_eq!(parse_psi(bad), None, "{bad:?}");
        }
        // a bad full avg10 does not invent pressure
        let p = parse_psi("some avg10=1\nfull avg10=1e999 total=x\n");
        assert_eq!(p.map(|p| (p.full_avg10, p.full_total)), Some((0.0, None)));
    }

    #[test]
    fn meminfo_and_vmstat_parse_and_refuse_garbage() {
        let m = parse_meminfo(
            "MemTotal:        1000000 kB\nMemFree:           12288 kB\nMemAvailable:     204800 kB\nSwapTotal:  102400 kB\nSwapFree: 1 kB\n",
        );
        assert_eq!(m.total_kb, Some(1_000_000));
        assert_eq!(m.free_kb, Some(12288));
        assert_eq!(m.available_kb, Some(204800));
        assert_eq!(m.swap_total_bytes(), Some(102400 * 1024));
        let m = parse_meminfo("MemTotalX: 5 kB\nMemFree: -3 kB\nMemAvailable: lots\n");
        assert_eq!(m, MemInfo::default());
        assert_eq!(parse_vmstat_sout("pswpin 3\npswpout 10\n"), Some(10 * 4096));
        assert_eq!(parse_vmstat_sout("pswpout x\n"), None);
        assert_eq!(parse_vmstat_sout(&format!("pswpout {}\n", u64::MAX)), None);
    }

    #[test]
    fn reads_are_capped() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("big");
        std::fs::write(&p, vec![b'x'; (MAX_READ as usize) * 3]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            read_small(&p).map(|s| s.len()).ok(),
            Some(MAX_READ as usize)
        );
    }
}
