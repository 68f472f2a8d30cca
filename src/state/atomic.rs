//! Atomic state-file writes: temp file in the same directory, write, fsync,
//! rename over the target, fsync of the directory (so the rename itself
//! survives a power cut). The result is mode 0600, as upstream's mkstemp gives.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Write `bytes` to `path` atomically with mode 0600, durable: the data is
/// fsynced before the rename, the directory after it.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, true)
}

/// Like [`write`] but without the fsync: still atomic (readers see the old or
/// the new file, never a torn one), not durable across a power cut. For
/// per-round informational files whose loss is harmless (`round-context.json`).
pub fn write_fast(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, false)
}

fn write_with(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{:x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// fsync a directory, making the renames and creations in it durable. A
/// filesystem that cannot sync directories (`EINVAL`, as some FUSE and
/// network filesystems answer) is not an error; an I/O error is.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    match std::fs::File::open(dir)?.sync_all() {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP)) => Ok(()),
        r => r,
    }
}

/// Write a JSON value indented by 2, atomically.
pub fn write_json(path: &Path, v: &serde_json::Value) -> std::io::Result<()> {
    write(path, crate::state::pyjson::to_pretty(v).as_bytes())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_is_0600_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("status.json");
        super::write(&p, b"{}").unwrap_or_else(|e| panic!("{e}"));
        super::write(&p, b"{\"a\": 1}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap_or_default(),
            "{\"a\": 1}"
        );
        let mode = std::fs::metadata(&p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(d.path()).map(|r| r.count()).unwrap_or(0),
            1
        );
    }
}
