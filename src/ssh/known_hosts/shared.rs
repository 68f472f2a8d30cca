//! Parsed known_hosts files shared by every connection of the process while
//! the files stay the same: a fleet witness connecting to 200 hosts reads
//! and holds one copy, not one per host (each session keeps its host's
//! [`super::HostKeys`] for its whole life). A file is the same while its
//! identity and times are (device, inode, size, mtime, ctime); any change,
//! such as a key `accept-new` recorded, makes the next connection read the
//! files again. A read failure is never kept: the next connection tries again.

use super::{HostKeyError, KnownHosts};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// Distinct file lists kept (a process uses one or two: the user's and the
/// global files); the oldest goes first.
const KEEP: usize = 8;

/// What a file looked like when it was read; `None`: it did not exist.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64)>;

struct Kept {
    files: Vec<PathBuf>,
    stamps: Vec<Stamp>,
    known: Arc<KnownHosts>,
}

/// The stamp of `path`; `Err` when it cannot be known (the caller reads the
/// files without the cache, so their own error is reported).
fn stamp(path: &Path) -> Result<Stamp, ()> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some((
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(()),
    }
}

/// The parsed `files`, and whether they were read now (not taken from what
/// an earlier connection read).
pub(super) fn load(files: &[PathBuf]) -> Result<(Arc<KnownHosts>, bool), HostKeyError> {
    static CACHE: OnceLock<Mutex<Vec<Kept>>> = OnceLock::new();
    let Ok(stamps) = files
        .iter()
        .map(|f| stamp(f))
        .collect::<Result<Vec<_>, ()>>()
    else {
        return Ok((Arc::new(KnownHosts::load(files)?), true));
    };
    // Held while reading: connections that start together wait for one read
    // instead of each reading the files.
    let mut cache = match CACHE.get_or_init(|| Mutex::new(Vec::new())).lock() {
        Ok(c) => c,
        Err(p) => p.into_inner(),
    };
    if let Some(k) = cache
        .iter()
        .find(|k| k.files.as_slice() == files && k.stamps == stamps)
    {
        return Ok((Arc::clone(&k.known), false));
    }
    let known = Arc::new(KnownHosts::load(files)?);
    cache.retain(|k| k.files.as_slice() != files);
    if cache.len() >= KEEP {
        cache.remove(0);
    }
    cache.push(Kept {
        files: files.to_vec(),
        stamps,
        known: Arc::clone(&known),
    });
    Ok((known, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFUs5gBK13iiGc3d0Sr9IGymRhCJAaGdotsERUbpwHyE";

    #[test]
    fn one_copy_while_the_file_is_unchanged_and_a_fresh_read_after_a_change() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = d.path().join("known_hosts");
        std::fs::write(&f, format!("pi {KEY}\n")).unwrap_or_else(|e| panic!("{e}"));
        let files = vec![f.clone(), d.path().join("missing")];
        let (a, fresh_a) = load(&files).unwrap_or_else(|e| panic!("{e}"));
        let (b, fresh_b) = load(&files).unwrap_or_else(|e| panic!("{e}"));
        assert!(fresh_a && !fresh_b);
        assert!(
            Arc::ptr_eq(&a, &b),
            "a second connection shares the first one's copy"
        );
        assert_eq!(a.entries.len(), 1);
        // a key recorded since (the size changes): read again
        std::fs::write(&f, format!("pi {KEY}\nzero {KEY}\n")).unwrap_or_else(|e| panic!("{e}"));
        let (c, fresh_c) = load(&files).unwrap_or_else(|e| panic!("{e}"));
        assert!(fresh_c && !Arc::ptr_eq(&a, &c));
        assert_eq!(c.entries.len(), 2);
        // the missing file appearing counts as a change too
        std::fs::write(&files[1], format!("other {KEY}\n")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            load(&files)
                .unwrap_or_else(|e| panic!("{e}"))
                .0
                .entries
                .len(),
            3
        );
    }

    #[test]
    fn a_file_that_cannot_be_read_is_an_error_every_time() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // a directory where a file should be
        let files = vec![d.path().to_path_buf()];
        assert!(load(&files).is_err());
        assert!(load(&files).is_err());
    }
}
