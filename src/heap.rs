//! Memory knobs for the long-lived fleet processes (the remote `probe`, the
//! fleet witness): cap the number of glibc malloc arenas, hand free heap pages
//! back to the kernel, drop the code pages only the startup needed (and the
//! main stack its deep calls left behind) from the resident set, and keep
//! code and constants resident page by page rather than 64 KiB at a time
//! (no fault-around). No-ops on other targets.

/// Use at most `n` malloc arenas. glibc gives each thread that allocates its
/// own arena and keeps freed memory in every one; call before any thread
/// starts.
pub fn cap_arenas(n: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator tunable.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, n);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = n;
}

/// Return free heap pages to the kernel (after a burst of short-lived
/// allocations, e.g. parsing a backlog of thousands of events).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Drop this process's page-table entries for read-only file mappings that
/// were never written (its own code and read-only data, the shared
/// libraries'): the pages the one-off startup touched stop counting in its
/// resident set, and what the steady loop runs faults back in from the page
/// cache. Those mappings are first registered with a userfaultfd in
/// asynchronous write-protect mode ([`no_fault_around`]), which only turns
/// off the kernel's fault-around for them: a fault then maps the one page
/// touched instead of the 64 KiB around it. Mappings with any private
/// (copy-on-write) page, such as relocated data, are left alone, since
/// dropping them would lose the writes. Called on the main thread, it also
/// drops the main stack below its own frame. Returns the number of bytes
/// whose mappings were dropped.
pub fn release_startup_pages() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // Near this frame's stack pointer: what the main thread's stack
        // holds below it (minus slack) is dead, left by the startup's calls.
        let marker = 0u8;
        let sp = std::ptr::addr_of!(marker) as usize;
        let Some(smaps) = own_smaps() else {
            return 0;
        };
        let files = clean_file_mappings(&smaps);
        let single = no_fault_around(&files);
        tracing::debug!("fault-around off for {single} of {} mappings", files.len());
        release(files.into_iter().chain(dead_stack(&smaps, sp, page_size())))
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// From now on, page faults in this process's code and read-only data map
/// only the page touched ([`no_fault_around`] on the mappings
/// [`release_startup_pages`] would drop, without dropping them). For the
/// fleet witness, whose resident code is otherwise what fault-around brought
/// in. Returns how many mappings it applies to (0 where refused).
pub fn single_page_faults() -> usize {
    #[cfg(target_os = "linux")]
    {
        own_smaps().map_or(0, |smaps| no_fault_around(&clean_file_mappings(&smaps)))
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// This process's `/proc/self/smaps` (None, logged, when unreadable).
#[cfg(target_os = "linux")]
fn own_smaps() -> Option<String> {
    std::fs::read_to_string("/proc/self/smaps")
        .map_err(|e| tracing::debug!("cannot read /proc/self/smaps: {e}"))
        .ok()
}

/// `MADV_DONTNEED` on each range (see [`release_startup_pages`] for which);
/// the bytes dropped.
#[cfg(target_os = "linux")]
fn release(ranges: impl Iterator<Item = (usize, usize)>) -> u64 {
    ranges
        .map(|(start, end)| {
            let (addr, len) = (start as *mut libc::c_void, end - start);
            // SAFETY: the range is either a whole read-only, private
            // mapping of a loaded program or library with no
            // copy-on-write page, whose contents fault back in from
            // the file unchanged, or the main stack at least a page
            // below the current stack pointer, where nothing lives
            // (it faults back in as zeros when a call reaches it);
            // no Rust reference can observe a change.
            let rc = unsafe { libc::madvise(addr, len, libc::MADV_DONTNEED) };
            if rc == 0 {
                (end - start) as u64
            } else {
                0
            }
        })
        .sum()
}

/// `struct uffdio_api` of `<linux/userfaultfd.h>`.
#[cfg(target_os = "linux")]
#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

/// `struct uffdio_register` (its `range` inlined).
#[cfg(target_os = "linux")]
#[repr(C)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

/// The userfaultfd whose registrations keep fault-around off; it lives as
/// long as the process (closing it would end them).
#[cfg(target_os = "linux")]
static NO_FAULT_AROUND: std::sync::OnceLock<std::os::fd::OwnedFd> = std::sync::OnceLock::new();

/// Register `ranges` (read-only private file mappings) with a userfaultfd in
/// asynchronous write-protect mode (Linux ≥ 6.7). Nothing ever writes to
/// them, so the registration changes nothing but one thing: the kernel skips
/// fault-around in such mappings (`uffd_disable_fault_around`), so a page
/// fault maps only the page touched, not the 16 cached pages around it — a
/// loop that touches a few hundred scattered pages of code and constants
/// keeps just those resident. Needs no privilege (`UFFD_USER_MODE_ONLY`);
/// children do not inherit it. Where the kernel, a seccomp filter or an
/// emulator refuses, nothing changes. Returns how many ranges were registered.
#[cfg(target_os = "linux")]
fn no_fault_around(ranges: &[(usize, usize)]) -> usize {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    const UFFD_USER_MODE_ONLY: libc::c_long = 1;
    const UFFD_API: u64 = 0xAA;
    const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
    const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
    // _IOWR(0xAA, 0x3F, struct uffdio_api), _IOWR(0xAA, 0x00, struct uffdio_register)
    const UFFDIO_API: u64 = 0xC018_AA3F;
    const UFFDIO_REGISTER: u64 = 0xC020_AA00;
    if ranges.is_empty() {
        return 0;
    }
    let fd = match NO_FAULT_AROUND.get() {
        Some(fd) => fd.as_raw_fd(),
        None => {
            let flags =
                libc::c_long::from(libc::O_CLOEXEC | libc::O_NONBLOCK) | UFFD_USER_MODE_ONLY;
            // SAFETY: a plain syscall; a non-negative result is a new fd we own.
            let raw = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
            let Ok(raw) = i32::try_from(raw) else {
                return 0;
            };
            if raw < 0 {
                tracing::debug!("userfaultfd: {}", std::io::Error::last_os_error());
                return 0;
            }
            // SAFETY: `raw` was just returned by the kernel and is ours.
            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
            let mut api = UffdioApi {
                api: UFFD_API,
                features: UFFD_FEATURE_WP_ASYNC,
                ioctls: 0,
            };
            // SAFETY: UFFDIO_API reads and writes one `struct uffdio_api`.
            if unsafe { libc::ioctl(raw, UFFDIO_API as _, &mut api) } != 0 {
                tracing::debug!("UFFDIO_API: {}", std::io::Error::last_os_error());
                return 0;
            }
            NO_FAULT_AROUND.get_or_init(|| owned).as_raw_fd()
        }
    };
    ranges
        .iter()
        .filter(|(start, end)| {
            let mut reg = UffdioRegister {
                start: *start as u64,
                len: end.saturating_sub(*start) as u64,
                mode: UFFDIO_REGISTER_MODE_WP,
                ioctls: 0,
            };
            // SAFETY: UFFDIO_REGISTER reads and writes one `struct
            // uffdio_register`; write-protecting a mapping nothing writes
            // to changes no memory.
            unsafe { libc::ioctl(fd, UFFDIO_REGISTER as _, &mut reg) == 0 }
        })
        .count()
}

fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// The dead part of the main thread's stack: from the start of the
/// `[stack]` mapping up to a page below `sp`'s page, when `sp` lies in it
/// (not on another thread's stack). Page-aligned `(start, end)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn dead_stack(smaps: &str, sp: usize, page: usize) -> Option<(usize, usize)> {
    let line = smaps.lines().find(|l| l.ends_with("[stack]"))?;
    let (start, end) = parse_range(line.split_whitespace().next()?)?;
    if !(start < sp && sp < end) {
        return None;
    }
    let top = (sp & !(page - 1)).checked_sub(page)?;
    (top > start).then_some((start, top))
}

/// The `(start, end)` of every private, non-writable mapping of a loaded
/// program or library (a file that also has an executable mapping) in a
/// `/proc/PID/smaps` text whose `Anonymous:` count is 0. Data files mapped
/// read-only are left alone: their contents could have changed on disk.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut candidates = Vec::new();
    let mut code_files = std::collections::HashSet::new();
    let mut current: Option<Mapping> = None;
    for line in smaps.lines() {
        if let Some(rest) = line.strip_prefix("Anonymous:") {
            let anon = rest.trim().trim_end_matches("kB").trim();
            if let (Some(m), Ok(0)) = (current.take(), anon.parse::<u64>()) {
                candidates.push(m);
            }
        } else if let Some(m) = Mapping::parse(line) {
            if m.exec {
                code_files.insert(m.path);
            }
            current = m.read_only_private.then_some(m);
        }
    }
    candidates
        .into_iter()
        .filter(|m| code_files.contains(m.path))
        .map(|m| (m.start, m.end))
        .collect()
}

/// `start-end` in hex, as smaps writes a mapping's range.
fn parse_range(range: &str) -> Option<(usize, usize)> {
    let (start, end) = range.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}

/// One smaps header line: `start-end perms offset dev inode path`.
struct Mapping<'a> {
    start: usize,
    end: usize,
    path: &'a str,
    exec: bool,
    read_only_private: bool,
}

impl<'a> Mapping<'a> {
    /// `None` unless the line is the header of a mapping of a file.
    fn parse(line: &'a str) -> Option<Self> {
        let mut f = line.split_whitespace();
        let (range, perms) = (f.next()?, f.next()?);
        let (start, end) = parse_range(range)?;
        let (_offset, _dev, inode) = (f.next()?, f.next()?, f.next()?);
        let path = f.next()?;
        if inode == "0" || !path.starts_with('/') || line.ends_with("(deleted)") || end <= start {
            return None;
        }
        let p = perms.as_bytes();
        if p.len() != 4 {
            return None;
        }
        Some(Mapping {
            start,
            end,
            path,
            exec: p[2] == b'x',
            read_only_private: p[0] == b'r' && p[1] == b'-' && p[3] == b'p',
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_main_stack_below_the_stack_pointer_is_dead() {
        let smaps = "\
7ffd3c000000-7ffd3c021000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
";
        let page = 4096;
        // sp in the stack: everything up to a page below sp's page
        assert_eq!(
            dead_stack(smaps, 0x7ffd3c01a123, page),
            Some((0x7ffd3c000000, 0x7ffd3c019000))
        );
        // sp on another thread's stack (or anywhere else): nothing
        assert_eq!(dead_stack(smaps, 0x7f0000001000, page), None);
        assert_eq!(dead_stack(smaps, 0x7ffd3c021000, page), None);
        // sp in the first two pages: nothing left to drop
        assert_eq!(dead_stack(smaps, 0x7ffd3c001010, page), None);
        assert_eq!(
            dead_stack("55d0c0000000-55d0c0145000 r--p 0 fe:00 1 /x\n", 1, page),
            None
        );
    }

    const SMAPS: &str = "\
55d0c0000000-55d0c0145000 r--p 00000000 fe:00 5481561                    /opt/ar/agent-runner
Size:               1304 kB
Rss:                 780 kB
Anonymous:             0 kB
55d0c0145000-55d0c06db000 r-xp 00145000 fe:00 5481561                    /opt/ar/agent-runner
Size:               5724 kB
Anonymous:             0 kB
55d0c06db000-55d0c0714000 r--p 006db000 fe:00 5481561                    /opt/ar/agent-runner
Size:                228 kB
Anonymous:           228 kB
55d0c0714000-55d0c0747000 rw-p 00713000 fe:00 5481561                    /opt/ar/agent-runner
Anonymous:            40 kB
55d0c1000000-55d0c1030000 rw-p 00000000 00:00 0                          [heap]
Anonymous:           192 kB
7f0000000000-7f0000100000 r-xp 00028000 fe:00 77                         /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f0000200000-7f0000201000 r--p 00000000 fe:00 78                         /tmp/gone (deleted)
Anonymous:             0 kB
7f0000300000-7f0000400000 r--p 00000000 fe:00 79                         /usr/lib/locale/locale-archive
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
7ffd00010000-7ffd00012000 r--s 00000000 00:05 99                         /dev/shm/x
Anonymous:             0 kB
";

    #[test]
    fn only_untouched_read_only_private_file_mappings_are_released() {
        assert_eq!(
            clean_file_mappings(SMAPS),
            vec![
                (0x55d0c0000000, 0x55d0c0145000),
                (0x55d0c0145000, 0x55d0c06db000),
                (0x7f0000000000, 0x7f0000100000),
            ]
        );
    }

    #[test]
    fn a_mapping_without_an_anonymous_line_is_not_released() {
        let s = "55d0c0000000-55d0c0145000 r--p 00000000 fe:00 5 /bin/x\nSize: 4 kB\n\
                 55d0c0145000-55d0c0146000 r-xp 00000000 fe:00 5 /bin/x\nAnonymous: 4 kB\n";
        assert!(clean_file_mappings(s).is_empty());
    }

    /// `Rss:` in kB of the mapping that holds `addr`, from /proc/self/smaps.
    fn rss_of_mapping(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((start, end)) = line.split_whitespace().next().and_then(parse_range) {
                if !line.starts_with(|c: char| c.is_ascii_uppercase()) {
                    inside = start <= addr && addr < end;
                    continue;
                }
            }
            if let (true, Some(v)) = (inside, line.strip_prefix("Rss:")) {
                return v.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
        panic!("no mapping holds {addr:#x}");
    }

    #[test]
    fn with_fault_around_off_a_fault_maps_only_the_page_touched() {
        let page = page_size();
        let exe = std::env::current_exe().unwrap();
        let file = std::fs::File::open(&exe).unwrap();
        let len = 64 * page;
        assert!(
            file.metadata().unwrap().len() >= len as u64,
            "test binary too small"
        );
        // Map the first 64 pages of this test binary read-only and private,
        // fill the page cache, drop the mapping's page-table entries, then
        // touch 4 pages 16 pages apart and see what became resident.
        let touch_four = |register: bool| -> (usize, u64) {
            use std::os::fd::AsRawFd;
            // SAFETY: a fresh private read-only mapping of a file we opened;
            // only read below through volatile reads, unmapped at the end.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    file.as_raw_fd(),
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            let base = p as usize;
            let read = |off: usize| {
                // SAFETY: `off` < len, inside the mapping.
                unsafe { std::ptr::read_volatile((base + off) as *const u8) }
            };
            for off in (0..len).step_by(page) {
                read(off);
            }
            // SAFETY: our own mapping, read-only file contents.
            assert_eq!(unsafe { libc::madvise(p, len, libc::MADV_DONTNEED) }, 0);
            let registered = if register {
                no_fault_around(&[(base, base + len)])
            } else {
                0
            };
            for k in [1, 17, 33, 49] {
                read(k * page + 8);
            }
            let rss = rss_of_mapping(base);
            // SAFETY: unmapping the mapping made above; nothing refers to it.
            unsafe { libc::munmap(p, len) };
            (registered, rss)
        };
        let (_, around) = touch_four(false);
        let (registered, single) = touch_four(true);
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut v = release
            .split(['.', '-'])
            .map(|x| x.parse::<u32>().unwrap_or(0));
        let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
        if (major, minor) < (6, 7) {
            // No asynchronous write-protect before 6.7: refused, no change.
            assert_eq!(registered, 0);
            return;
        }
        assert_eq!(
            registered, 1,
            "Linux {major}.{minor} refused the registration"
        );
        let kb = (page / 1024) as u64;
        assert_eq!(single, 4 * kb, "fault-around off: only the 4 pages touched");
        assert!(
            around > single,
            "fault-around on maps more: {around} kB vs {single} kB"
        );
    }

    #[test]
    fn releasing_keeps_the_process_working_and_lowers_its_rss() {
        fn rss_kb() -> u64 {
            let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        }
        let before = rss_kb();
        let released = release_startup_pages();
        let after = rss_kb();
        assert!(released > 0, "nothing was released");
        assert!(after < before, "RSS {before} kB -> {after} kB");
        // Code and read-only data fault back in: formatting, regexes, JSON.
        let v: serde_json::Value = serde_json::from_str(r#"{"a":[1,2,3]}"#).unwrap();
        assert_eq!(format!("{}", v["a"][2]), "3");
    }
}
