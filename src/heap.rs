//! glibc malloc knobs for the long-lived fleet processes (the remote `probe`,
//! the fleet witness): cap the number of malloc arenas, and hand free heap
//! pages back to the kernel after a burst. Plain `mallopt`/`malloc_trim`
//! calls, no-ops on other targets. (The probe also runs with glibc's tcache
//! off, through `GLIBC_TUNABLES` on its command line: `fleet::link`.)

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
