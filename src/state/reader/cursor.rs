//! Where a reader stands: a [`Cursor`] in one events file (its name, the
//! byte offset after the last line read and, since the file-identity form,
//! which file that name pointed to), and a [`Position`]: a cursor for every
//! file a reader knew, so that a resume is exact whatever the files were
//! called, renamed to, or in which order their names sort.

use std::fmt;
use std::str::FromStr;

/// Most cursors a [`Position`] holds (about 40 years of month files, plus
/// the identities of rotated ones); the oldest entries go first.
pub const MAX_POSITION: usize = 512;
/// The text form of a [`Position`] starts with this.
pub const POSITION_PREFIX: &str = "pos:";

/// Which file a name pointed to: its inode and a fingerprint of its first
/// line (at most [`super::identity::HEAD_BYTES`] of it, which never change
/// once written: the log is append-only). A rotated, re-created or
/// truncated-and-refilled file has another identity even when the
/// filesystem hands out the same inode number again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    pub ino: u64,
    pub head: u64,
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:016x}", self.ino, self.head)
    }
}

impl FromStr for FileId {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let (ino, head) = s.split_once('.').ok_or(())?;
        if head.len() != 16 {
            return Err(());
        }
        Ok(FileId {
            ino: ino.parse().map_err(|_| ())?,
            head: u64::from_str_radix(head, 16).map_err(|_| ())?,
        })
    }
}

/// A resumable position in one events file: the month file's name, the
/// byte offset just after the last line consumed, and the file's identity
/// when the reader knew it.
///
/// Text forms (see [`fmt::Display`] and [`FromStr`]):
/// `events-2026-11.jsonl:12345` (the original form, still accepted and
/// still what older witnesses read) and
/// `events-2026-11.jsonl:12345:8812345.3fa9c2d1e0b7a6f5` (with the inode
/// and the first-line fingerprint). Resuming from a cursor reads that file
/// from the offset — from its start if the name now holds another file —
/// and every month file named after it from its start; the others are
/// followed from their current end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cursor {
    /// Bare file name (`events-YYYY-MM.jsonl`), never a path.
    pub file: String,
    /// Byte offset after the last consumed line.
    pub offset: u64,
    /// The file the name pointed to when the line was read.
    pub id: Option<FileId>,
}

impl Cursor {
    /// The original text form (`events-YYYY-MM.jsonl:OFFSET`), for readers
    /// that do not know identities (older witnesses and probes).
    pub fn legacy(&self) -> String {
        format!("{}:{}", self.file, self.offset)
    }
}

/// A cursor string that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid cursor '{0}' (expected 'events-YYYY-MM.jsonl:OFFSET[:INODE.HEAD]')")]
pub struct CursorError(pub String);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)?;
        if let Some(id) = &self.id {
            write!(f, ":{id}")?;
        }
        Ok(())
    }
}

impl FromStr for Cursor {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CursorError(s.to_string());
        let mut parts = s.split(':');
        let file = parts.next().ok_or_else(bad)?;
        if !super::is_shard_name(file, "events-") {
            return Err(bad());
        }
        let offset = parts
            .next()
            .and_then(|o| o.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let id = match parts.next() {
            Some(i) => Some(i.parse::<FileId>().map_err(|_| bad())?),
            None => None,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Cursor {
            file: file.to_string(),
            offset,
            id,
        })
    }
}

/// Where a reader stands in every file it knew: one cursor (with identity)
/// per file. A resume from a position reads each file it names from its
/// offset (found by identity, under whatever shard name it has now, or
/// under another name in the log_dir for what a rotation moved away), and
/// every other file from its start: a file a position does not name is one
/// that reader never saw, however its name sorts (a Pi's clock that steps
/// back names a new file before the old ones).
///
/// Text form: `pos:` and the cursors, comma-separated
/// (`pos:events-2026-01.jsonl:120:8812345.3fa9…,events-2025-06.jsonl:40:…`);
/// `pos:` alone is "every file from its start".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Oldest entry first; one per identity.
    cursors: Vec<Cursor>,
}

impl Position {
    /// The cursors, oldest entry first.
    pub fn cursors(&self) -> &[Cursor] {
        &self.cursors
    }

    /// True when `c` is at or before what this position already holds for
    /// its file (a cursor without identity is never covered).
    pub fn covers(&self, c: &Cursor) -> bool {
        c.id.is_some_and(|id| {
            self.cursors
                .iter()
                .any(|x| x.id == Some(id) && c.offset <= x.offset)
        })
    }

    /// Move to `c` (a line just taken). False when it was already covered
    /// (a duplicate), or `c` has no identity.
    pub fn advance(&mut self, c: &Cursor) -> bool {
        let Some(id) = c.id else {
            return false;
        };
        if let Some(x) = self.cursors.iter_mut().find(|x| x.id == Some(id)) {
            if c.offset <= x.offset {
                return false;
            }
            x.offset = c.offset;
            x.file.clone_from(&c.file);
            return true;
        }
        // A new identity. Keep two per name (a rotated file may still have
        // a remainder to drain at the next resume), and a bounded total.
        let same_name: Vec<usize> = (0..self.cursors.len())
            .filter(|&i| self.cursors[i].file == c.file)
            .collect();
        if same_name.len() >= 2 {
            self.cursors.remove(same_name[0]);
        }
        if self.cursors.len() >= MAX_POSITION {
            self.cursors.remove(0);
        }
        self.cursors.push(c.clone());
        true
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(POSITION_PREFIX)?;
        for (i, c) in self.cursors.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl FromStr for Position {
    type Err = CursorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || CursorError(s.chars().take(200).collect());
        let rest = s.strip_prefix(POSITION_PREFIX).ok_or_else(bad)?;
        let mut p = Position::default();
        for part in rest.split(',').filter(|x| !x.is_empty()) {
            let c: Cursor = part.parse()?;
            if c.id.is_none() || p.cursors.len() >= MAX_POSITION {
                return Err(bad());
            }
            if !p.covers(&c) {
                p.cursors.retain(|x| x.id != c.id);
                p.cursors.push(c);
            }
        }
        Ok(p)
    }
}

impl FromIterator<Cursor> for Position {
    /// A position of these cursors (those without identity are left out).
    fn from_iter<I: IntoIterator<Item = Cursor>>(iter: I) -> Self {
        let mut p = Position::default();
        for c in iter {
            p.advance(&c);
        }
        p
    }
}
