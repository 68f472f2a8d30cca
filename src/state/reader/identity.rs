//! A file's identity ([`FileId`]): its inode and a fingerprint of its first
//! line, read with one `pread` of at most [`HEAD_BYTES`]; and finding a file
//! by identity among the log_dir's entries (where a rotation moved it).

use super::FileId;
use std::fs::File;
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Bytes of the first line the fingerprint covers.
pub const HEAD_BYTES: usize = 256;
/// Entries of the log_dir looked at when searching a file by identity.
const FIND_MAX_ENTRIES: usize = 4096;

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

/// The file in `dir` (under any name: a rotation renames it) whose identity
/// is `id`, opened; `None` when it is gone. Looks at a bounded number of
/// entries and stats only those with the right inode.
pub fn find(dir: &Path, id: FileId) -> Option<(PathBuf, File)> {
    let rd = std::fs::read_dir(dir).ok()?;
    for e in rd.flatten().take(FIND_MAX_ENTRIES) {
        if e.ino() != id.ino {
            continue;
        }
        let Ok(f) = File::open(e.path()) else {
            continue;
        };
        let same = f.metadata().is_ok_and(|m| m.is_file() && m.ino() == id.ino);
        if same && file_id(&f, id.ino).ok().flatten() == Some(id) {
            return Some((e.path(), f));
        }
    }
    None
}

/// Bytes `[offset, offset + len)` of `f` (fewer at its end).
pub fn read_span(f: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let n = read_at_most(f, &mut buf, offset)?;
    buf.truncate(n);
    Ok(buf)
}
