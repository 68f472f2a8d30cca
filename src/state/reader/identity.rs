//! A file's identity ([`FileId`]): its inode and a fingerprint of its first
//! line, read with one `pread` of at most [`HEAD_BYTES`]; and finding a file
//! by identity among the log_dir's entries (where a rotation moved it).

use super::FileId;
use std::fs::File;
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes of the first line the fingerprint covers.
pub const HEAD_BYTES: usize = 256;
/// Entries of the log_dir looked at when searching files by identity (a
/// log_dir also holds a `round-<N>.log` per round; only inode numbers are
/// compared, from the directory listing itself).
const FIND_MAX_ENTRIES: usize = 1 << 16;

/// FNV-1a, 64 bits: stable across builds and machines (a probe and a
/// witness of different versions compare these).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Read up to `buf.len()` bytes at `offset` (fewer only at the end).
fn read_at_most(f: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The identity of `f` (inode `ino`), or `None` while its first line is
/// not complete (empty, or shorter than [`HEAD_BYTES`] without a newline).
pub fn file_id(f: &File, ino: u64) -> std::io::Result<Option<FileId>> {
    let mut buf = [0u8; HEAD_BYTES];
    let n = read_at_most(f, &mut buf, 0)?;
    let b = &buf[..n];
    let head = match b.iter().position(|x| *x == b'\n') {
        Some(i) => &b[..=i],
        None if n == HEAD_BYTES => b,
        None => return Ok(None),
    };
    Ok(Some(FileId {
        ino,
        head: fnv1a(head),
    }))
}

/// The files in `dir` (under any name: a rotation renames them) whose
/// identities are among `ids`, opened, in one pass over the directory;
/// those not found are gone. Looks at a bounded number of entries and opens
/// only those with a wanted inode.
pub fn find(dir: &Path, ids: &[FileId]) -> Vec<(FileId, PathBuf, File)> {
    let mut found = Vec::new();
    if ids.is_empty() {
        return found;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in rd.flatten().take(FIND_MAX_ENTRIES) {
        let ino = e.ino();
        if !ids.iter().any(|id| id.ino == ino) {
            continue;
        }
        let Ok(f) = File::open(e.path()) else {
            continue;
        };
        if !f.metadata().is_ok_and(|m| m.is_file() && m.ino() == ino) {
            continue;
        }
        let Some(id) = file_id(&f, ino).ok().flatten() else {
            continue;
        };
        if ids.contains(&id) && !found.iter().any(|(x, _, _)| *x == id) {
            found.push((id, e.path(), f));
        }
    }
    found
}

/// Bytes `[offset, offset + len)` of `f` (fewer at its end).
pub fn read_span(f: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let n = read_at_most(f, &mut buf, offset)?;
    buf.truncate(n);
    Ok(buf)
}
