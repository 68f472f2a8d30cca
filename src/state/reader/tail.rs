//! [`EventTail`]: following the month files of a log_dir between polls,
//! by identity. Each file is followed as the file it is (inode and first
//! line, [`FileId`]), not as the name it has: a name that now holds another
//! file (rotated, deleted and re-created) has its old file's remaining
//! lines read first, through the descriptor kept open, then the new file
//! from its start; a file truncated in place is read again from its start;
//! a file renamed away and back goes on where it was; a file whose name
//! sorts before the others (a clock that stepped back) is followed like any
//! other. Each such change is told as a [`Notice`].

use super::forward::{read_lines, Item, Skip};
use super::identity::{self, file_id};
use super::line::{Line, MAX_LINE};
use super::notice::{Change, Notice};
use super::rev::complete_end;
use super::{shard_files, Cursor, FileId, Position};
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Files remembered after they left their shard name (renamed away or
/// deleted), so that one coming back goes on where it was.
const GONE_MAX: usize = 16;
/// Notices kept until taken.
const NOTICES_MAX: usize = 64;
/// Files kept open at once (the most recently read ones): enough for the
/// file being written and a few a clock step or a rotation left behind.
const OPEN_MAX: usize = 8;

/// One followed file.
#[derive(Debug)]
struct Tracked {
    /// Its shard name (the last one it had, once gone).
    name: String,
    ino: u64,
    /// Known once its first line is complete.
    id: Option<FileId>,
    /// After the last consumed line.
    offset: u64,
    /// Kept open once read from: a rename or a delete leaves it readable.
    file: Option<File>,
    /// An over-long line being scanned at `offset`.
    skip: Option<Skip>,
    /// When it was last read (the tail's read counter).
    read_at: u64,
}

impl Tracked {
    fn new(name: &str, ino: u64, id: Option<FileId>, offset: u64) -> Tracked {
        Tracked {
            name: name.to_string(),
            ino,
            id,
            offset,
            file: None,
            skip: None,
            read_at: 0,
        }
    }
    /// Where the next read starts (past a long line's scanned part).
    fn from(&self) -> u64 {
        self.skip.as_ref().map_or(self.offset, Skip::scanned)
    }
    fn restart(&mut self) {
        self.offset = 0;
        self.id = None;
        self.skip = None;
    }
}

/// Follows the month files of a log_dir between polls (see the module doc).
///
/// * a file seen for the first time is read from its start (files present
///   when the tail was made start where its constructor says);
/// * a torn last line is left for the next poll;
/// * a line longer than the cap ([`MAX_LINE`] unless [`Self::max_line`])
///   is given as a stub ([`super::stub_text`]);
/// * corrupt lines are skipped and counted in [`EventTail::corrupt`].
#[derive(Debug)]
pub struct EventTail {
    dir: PathBuf,
    prefix: &'static str,
    /// Followed files by shard name.
    files: BTreeMap<String, Tracked>,
    /// Files that left their shard name, newest last.
    gone: VecDeque<Tracked>,
    corrupt: u64,
    /// The shard list kept between polls ([`Self::keep_listing`]); `None`
    /// lists the directory at the next poll.
    listing: Option<Vec<(String, PathBuf)>>,
    keep_listing: bool,
    /// A listed file was gone at the last poll.
    listing_stale: bool,
    max_line: usize,
    notices: Vec<Notice>,
    /// Reads so far (orders the open files by use).
    reads: u64,
}

impl EventTail {
    /// A tail that reads every existing events file from its start.
    pub fn from_start(dir: &Path) -> EventTail {
        EventTail {
            dir: dir.to_path_buf(),
            prefix: "events-",
            files: BTreeMap::new(),
            gone: VecDeque::new(),
            corrupt: 0,
            listing: None,
            keep_listing: false,
            listing_stale: false,
            max_line: MAX_LINE,
            notices: Vec::new(),
            reads: 0,
        }
    }

    /// A tail over `metrics-*.jsonl` instead of events.
    pub fn metrics_from_start(dir: &Path) -> EventTail {
        EventTail {
            prefix: "metrics-",
            ..Self::from_start(dir)
        }
    }

    /// A tail that skips history: existing files start at their current end
    /// (rounded back to the last complete line); new files from 0.
    pub fn at_end(dir: &Path) -> EventTail {
        let mut t = Self::from_start(dir);
        t.seek_to_end();
        t
    }

    /// A tail resuming after `c`: its file from the cursor's offset (from
    /// its start if the name holds another file now; the old one's remaining
    /// lines first, if a rotation left it in the log_dir), month files named
    /// after it from their start, the others from their end.
    pub fn from_cursor(dir: &Path, c: &Cursor) -> EventTail {
        let mut t = Self::from_start(dir);
        let mut found = false;
        for (name, path) in shard_files(dir, t.prefix) {
            if name == c.file {
                found = true;
                let Some((ino, id, len)) = stat_id(&path) else {
                    continue;
                };
                match (c.id, id) {
                    (Some(want), have) if have != Some(want) => {
                        t.find_moved(&[(c, want)]);
                        t.notice(&name, Change::Replaced);
                        t.files
                            .insert(name.clone(), Tracked::new(&name, ino, id, 0));
                    }
                    _ if len < c.offset => {
                        t.notice(&name, Change::Truncated);
                        t.files
                            .insert(name.clone(), Tracked::new(&name, ino, id, 0));
                    }
                    _ => {
                        let tr = Tracked::new(&name, ino, id, c.offset);
                        t.files.insert(name.clone(), tr);
                    }
                }
            } else if name < c.file {
                t.track_at_end(&name, &path);
            }
        }
        if let (false, Some(want)) = (found, c.id) {
            t.find_moved(&[(c, want)]);
        }
        t
    }

    /// A tail resuming at `p`: each file it names from its offset (found by
    /// identity, whatever its name now; a file a rotation moved away has its
    /// remaining lines read first), every other file from its start.
    pub fn from_position(dir: &Path, p: &Position) -> EventTail {
        let mut t = Self::from_start(dir);
        let mut matched = vec![false; p.cursors().len()];
        for (name, path) in shard_files(dir, t.prefix) {
            let Some((ino, id, len)) = stat_id(&path) else {
                continue;
            };
            let by_id = p.cursors().iter().position(|c| id.is_some() && c.id == id);
            let offset = match by_id {
                Some(i) => {
                    matched[i] = true;
                    let off = p.cursors()[i].offset;
                    if len < off {
                        t.notice(&name, Change::Truncated);
                        0
                    } else {
                        off
                    }
                }
                None => {
                    if p.cursors().iter().any(|c| c.file == name) {
                        t.notice(&name, Change::Replaced);
                    }
                    0
                }
            };
            t.files
                .insert(name.clone(), Tracked::new(&name, ino, id, offset));
        }
        let missing: Vec<(&Cursor, FileId)> = p
            .cursors()
            .iter()
            .zip(matched)
            .filter(|(_, m)| !m)
            .filter_map(|(c, _)| Some((c, c.id?)))
            .collect();
        let found = t.find_moved(&missing);
        for (c, want) in missing {
            if !found.contains(&want) {
                // Not in the log_dir now; it may come back.
                t.push_gone(Tracked::new(&c.file, want.ino, Some(want), c.offset));
            }
        }
        t
    }

    /// Look for the files of these cursors (with their identities) under
    /// other names in the log_dir: those found have their remaining lines
    /// read at the next poll. Returns the identities found.
    fn find_moved(&mut self, wanted: &[(&Cursor, FileId)]) -> Vec<FileId> {
        let ids: Vec<FileId> = wanted.iter().map(|(_, id)| *id).collect();
        let mut got = Vec::new();
        for (id, path, file) in identity::find(&self.dir, &ids) {
            let Some((c, _)) = wanted.iter().find(|(_, w)| *w == id) else {
                continue;
            };
            let to = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if to != c.file {
                self.notice(&c.file, Change::Moved(to));
            }
            let mut tr = Tracked::new(&c.file, id.ino, Some(id), c.offset);
            tr.file = Some(file);
            self.push_gone(tr);
            got.push(id);
        }
        got
    }

    fn track_at_end(&mut self, name: &str, path: &Path) {
        if let Some((ino, id, len)) = stat_id(path) {
            let end = complete_end(path, len).unwrap_or(len);
            self.files
                .insert(name.to_string(), Tracked::new(name, ino, id, end));
        }
    }

    /// Start every existing file at its last complete line.
    pub fn seek_to_end(&mut self) {
        for (name, path) in shard_files(&self.dir, self.prefix) {
            self.track_at_end(&name, &path);
        }
    }

    /// Start the existing files named before `first` at their last
    /// complete line (a replay from a time skips earlier months).
    pub(super) fn seek_to_end_before(&mut self, first: &str) {
        for (name, path) in shard_files(&self.dir, self.prefix) {
            if name.as_str() < first {
                self.track_at_end(&name, &path);
            }
        }
    }

    /// Keep lines of at most `n` bytes (longer ones become stubs).
    pub fn max_line(&mut self, n: usize) {
        self.max_line = n.max(1);
    }

    /// Keep the directory listing between polls instead of listing it every
    /// time: for a caller that learns of new files another way (the probe,
    /// from inotify) and calls [`Self::relist`] then.
    pub fn keep_listing(&mut self) {
        self.keep_listing = true;
    }

    /// List the directory again at the next poll.
    pub fn relist(&mut self) {
        self.listing = None;
    }

    /// Lines skipped as corrupt so far.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
    }

    /// The changes seen since the last call (truncated, replaced, …).
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    fn notice(&mut self, file: &str, change: Change) {
        if self.notices.len() < NOTICES_MAX {
            self.notices.push(Notice {
                file: file.to_string(),
                change,
            });
        }
    }

    /// Where this tail stands in the file it read last (before any read:
    /// the newest file by name).
    pub fn cursor(&self) -> Option<Cursor> {
        self.files
            .values()
            .max_by_key(|t| t.read_at)
            .map(|t| Cursor {
                file: t.name.clone(),
                offset: t.offset,
                id: t.id,
            })
    }

    /// Where this tail stands in every file it knows (see [`Position`]).
    pub fn position(&self) -> Position {
        self.files
            .values()
            .chain(self.gone.iter())
            .filter(|t| t.offset > 0 && t.id.is_some())
            .map(|t| Cursor {
                file: t.name.clone(),
                offset: t.offset,
                id: t.id,
            })
            .collect()
    }

    /// Read every complete line appended since the last poll, oldest first.
    pub fn poll(&mut self) -> std::io::Result<Vec<Line>> {
        let mut out = Vec::new();
        self.poll_with(|l| out.push(l))?;
        Ok(out)
    }

    /// Like [`poll`](Self::poll) but hands lines to `f` as they are read.
    pub fn poll_with(&mut self, mut f: impl FnMut(Line)) -> std::io::Result<()> {
        let files = match self.listing.take() {
            Some(l) => l,
            None => shard_files(&self.dir, self.prefix),
        };
        let r = self.poll_files(&files, &mut f);
        let stale = std::mem::take(&mut self.listing_stale);
        if self.keep_listing && r.is_ok() && !stale {
            self.listing = Some(files);
        }
        r
    }

    fn poll_files(
        &mut self,
        files: &[(String, PathBuf)],
        f: &mut impl FnMut(Line),
    ) -> std::io::Result<()> {
        // Files found under another name at a resume: their remainder first.
        for i in 0..self.gone.len() {
            if self.gone[i].file.is_none() {
                continue;
            }
            if let Some(mut g) = self.gone.remove(i) {
                let r = self.drain(&mut g, f);
                self.gone.insert(i, g);
                r?;
            }
        }
        let mut present = std::collections::HashSet::new();
        for (name, path) in files {
            let meta = match std::fs::metadata(path) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.listing_stale = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            present.insert(name.as_str());
            let (ino, len) = (meta.ino(), meta.len());
            let mut t = match self.files.remove(name) {
                Some(mut t) if t.ino == ino => {
                    self.check_same(&mut t, path, len)?;
                    t
                }
                Some(mut old) => {
                    self.drain(&mut old, f)?;
                    self.push_gone(old);
                    self.arrive(name, path, ino, true)
                }
                None => self.arrive(name, path, ino, false),
            };
            let res = self.read(&mut t, path, len, f);
            self.files.insert(name.clone(), t);
            res?;
        }
        // Names that are gone: removed or renamed away.
        let left: Vec<String> = self
            .files
            .keys()
            .filter(|k| !present.contains(k.as_str()))
            .cloned()
            .collect();
        for name in left {
            if let Some(mut t) = self.files.remove(&name) {
                self.drain(&mut t, f)?;
                if t.offset > 0 {
                    self.notice(&name, Change::Gone);
                }
                self.push_gone(t);
            }
        }
        self.close_idle();
        Ok(())
    }

    /// Keep at most [`OPEN_MAX`] files open: the most recently read.
    fn close_idle(&mut self) {
        let mut open: Vec<(u64, String)> = self
            .files
            .values()
            .filter(|t| t.file.is_some())
            .map(|t| (t.read_at, t.name.clone()))
            .collect();
        if open.len() <= OPEN_MAX {
            return;
        }
        open.sort();
        for (_, name) in &open[..open.len() - OPEN_MAX] {
            if let Some(t) = self.files.get_mut(name) {
                t.file = None;
            }
        }
    }

    /// Same inode as before: truncated (shorter than what was read), or
    /// refilled with other lines (its first line changed)? The filesystem
    /// may also have handed a deleted file's inode number to a new one
    /// (when it was not kept open): that is told as truncated too.
    fn check_same(&mut self, t: &mut Tracked, path: &Path, len: u64) -> std::io::Result<()> {
        let shorter = len < t.from();
        let mut refilled = false;
        if !shorter && len > t.from() && t.id.is_some() {
            if t.file.is_none() {
                t.file = open_same(path, t.ino)?;
            }
            if let Some(file) = &t.file {
                refilled = file_id(file, t.ino)? != t.id;
            }
        }
        if shorter || refilled {
            self.notice(&t.name, Change::Truncated);
            t.restart();
        }
        Ok(())
    }

    /// A file appears under `name`: one that left its name and comes back
    /// goes on where it was; else it is new (read from its start), and a
    /// replacement when the name held another file (`replacing`, or a file
    /// that left this name).
    fn arrive(&mut self, name: &str, path: &Path, ino: u64, replacing: bool) -> Tracked {
        let id = File::open(path)
            .ok()
            .and_then(|f| file_id(&f, ino).ok().flatten());
        if let Some(i) = (0..self.gone.len()).find(|&i| id.is_some() && self.gone[i].id == id) {
            if let Some(mut t) = self.gone.remove(i) {
                t.name = name.to_string();
                t.ino = ino;
                return t;
            }
        }
        if replacing || self.gone.iter().any(|g| g.name == name && g.offset > 0) {
            self.notice(name, Change::Replaced);
        }
        Tracked::new(name, ino, id, 0)
    }

    /// Remember a file that left its name (kept open only when its
    /// remainder is still to be read: one found moved at a resume).
    fn push_gone(&mut self, mut t: Tracked) {
        t.skip = None;
        self.gone.retain(|g| g.id.is_none() || g.id != t.id);
        if self.gone.len() >= GONE_MAX {
            self.gone.pop_front();
        }
        self.gone.push_back(t);
    }

    /// Read what is left in a file that is leaving (through its open
    /// descriptor), then close it.
    fn drain(&mut self, t: &mut Tracked, f: &mut impl FnMut(Line)) -> std::io::Result<()> {
        if let Some(file) = t.file.take() {
            let len = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.read_open(t, &file, len, f)?;
        }
        Ok(())
    }

    /// Read `t` (at `path`, `len` bytes at the stat) from where it stands.
    fn read(
        &mut self,
        t: &mut Tracked,
        path: &Path,
        len: u64,
        f: &mut impl FnMut(Line),
    ) -> std::io::Result<()> {
        if len <= t.from() {
            return Ok(());
        }
        if t.file.is_none() {
            // None: replaced since the stat; the next poll sees it.
            t.file = open_same(path, t.ino)?;
        }
        if let Some(file) = t.file.take() {
            let r = self.read_open(t, &file, len, f);
            t.file = Some(file);
            r?;
        }
        Ok(())
    }

    fn read_open(
        &mut self,
        t: &mut Tracked,
        file: &File,
        len: u64,
        f: &mut impl FnMut(Line),
    ) -> std::io::Result<()> {
        if t.id.is_none() {
            t.id = file_id(file, t.ino)?;
        }
        self.reads += 1;
        t.read_at = self.reads;
        let (name, id) = (t.name.clone(), t.id);
        let end = |offset| Cursor {
            file: name.clone(),
            offset,
            id,
        };
        let mut corrupt = 0;
        let stop = read_lines(file, t.offset, len, t.skip.take(), self.max_line, |it| {
            let line = match it {
                Item::Line(bytes, off) => {
                    if bytes.iter().all(u8::is_ascii_whitespace) {
                        return;
                    }
                    match Line::parse(bytes, end(off)) {
                        Some(l) => l,
                        None => {
                            corrupt += 1;
                            return;
                        }
                    }
                }
                Item::Long(head, len, off) => Line::stub(&head, len, end(off)),
            };
            f(line);
        })?;
        self.corrupt += corrupt;
        t.offset = stop.offset;
        t.skip = stop.skip;
        Ok(())
    }
}

/// The file at `path` opened, if it still is inode `ino`.
fn open_same(path: &Path, ino: u64) -> std::io::Result<Option<File>> {
    let file = match File::open(path) {
        Ok(x) => x,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok((file.metadata()?.ino() == ino).then_some(file))
}

/// Inode, identity and size of the file at `path` (`None` if unreadable).
fn stat_id(path: &Path) -> Option<(u64, Option<FileId>, u64)> {
    let f = File::open(path).ok()?;
    let m = f.metadata().ok()?;
    Some((m.ino(), file_id(&f, m.ino()).ok().flatten(), m.len()))
}
