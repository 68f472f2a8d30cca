//! The known_hosts file format: files read as bytes with a size cap, line by
//! line (a line that cannot be used is skipped with a warning naming the
//! file and line; the rest of the file is used), host patterns (hashed
//! `|1|salt|hash`, `[host]:port`, `*`/`?`, `!` negation, several per line),
//! the `@revoked` / `@cert-authority` markers, the lookup of an offered key,
//! and learning a key (one `O_APPEND` write, mode 0600).

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use hmac::{Hmac, Mac};
use russh::keys::PublicKey;
use sha1::Sha1;

use super::HostKeyError;
use crate::ssh::config::matching::match_pattern;

/// A known_hosts (or RevokedHostKeys) file larger than this is refused:
/// a real one with thousands of hosts is a few MiB.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Marker at the start of a known_hosts line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone)]
enum NamePattern {
    /// `|1|salt|hash`: HMAC-SHA1 of the lookup name keyed by salt.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// A plain pattern (lowercased), possibly negated, possibly with `*` / `?`.
    Plain { negated: bool, pattern: String },
}

/// One parsed known_hosts line.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    pub marker: Marker,
    names: Vec<NamePattern>,
    /// The key type as written (`ssh-ed25519`, …).
    pub key_type: String,
    /// None when the key could not be read (an unknown or unsupported type,
    /// or a damaged key): the line still records that the host has a key of
    /// `key_type`, so a key of another type is not taken for a new host.
    pub key: Option<PublicKey>,
}

impl Entry {
    /// Does this line's host field match `name` (lowercase, already in
    /// `[host]:port` form)? OpenSSH semantics: a positive match and no
    /// negated one.
    pub fn matches(&self, name: &str) -> bool {
        let mut positive = false;
        for p in &self.names {
            match p {
                NamePattern::Hashed { salt, hash } => {
                    if hmac_sha1(salt, name).is_some_and(|h| h == *hash) {
                        positive = true;
                    }
                }
                NamePattern::Plain { negated, pattern } => {
                    if match_pattern(name, pattern) {
                        if *negated {
                            return false;
                        }
                        positive = true;
                    }
                }
            }
        }
        positive
    }

    fn holds(&self, key: &PublicKey) -> bool {
        self.key
            .as_ref()
            .is_some_and(|k| k.key_data() == key.key_data())
    }
}

/// The result of looking up an offered key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Known,
    /// Nothing is recorded for this name; `cert_authority` says a
    /// `@cert-authority` line matched (host certificates are unsupported).
    Unknown {
        cert_authority: bool,
    },
    /// A line for this name holds a different key of the same type.
    Changed {
        file: PathBuf,
        line: usize,
    },
    /// Keys are recorded for this name, none of the offered key's type:
    /// `types` lists them; `file`/`line` is the first such line.
    OtherTypes {
        types: Vec<String>,
        file: PathBuf,
        line: usize,
    },
    Revoked {
        file: PathBuf,
        line: usize,
    },
}

/// All entries of a set of known_hosts files.
#[derive(Debug, Clone, Default)]
pub struct KnownHosts {
    pub entries: Vec<Entry>,
    /// Lines that could not be used: (file, line, why). Skipped, like
    /// OpenSSH does, after a warning.
    pub skipped: Vec<(PathBuf, usize, String)>,
}

/// The bytes of `path`; None when it does not exist. Any other failure (a
/// directory, no permission, an I/O error, more than [`MAX_FILE_BYTES`]) is
/// an error: a file we cannot read must not look like an empty one.
pub fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "it is larger than {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        ));
    }
    Ok(Some(buf))
}

/// `raw` without surrounding ASCII whitespace (and a CR before the newline).
pub fn trim_bytes(raw: &[u8]) -> &[u8] {
    let start = raw
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(raw.len());
    let end = raw
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    raw.get(start..end).unwrap_or_default()
}

/// The next whitespace-separated field of `s` and the rest.
fn field(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = trim_bytes(s);
    if s.is_empty() {
        return None;
    }
    let end = s
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(s.len());
    Some(s.split_at(end))
}

fn text(b: &[u8], what: &str) -> Result<String, String> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| format!("the {what} is not valid UTF-8"))
}

impl KnownHosts {
    /// Load every file in order. A missing file is empty; any other read
    /// failure is an error naming the file.
    pub fn load(files: &[PathBuf]) -> Result<KnownHosts, HostKeyError> {
        let mut kh = KnownHosts::default();
        for f in files {
            match read_capped(f) {
                Ok(Some(bytes)) => kh.parse_into(f, &bytes),
                Ok(None) => {}
                Err(reason) => {
                    return Err(HostKeyError::Read {
                        file: f.display().to_string(),
                        reason,
                    })
                }
            }
        }
        Ok(kh)
    }

    /// Parse `bytes` as if read from `file`.
    pub fn parse(file: &Path, bytes: &[u8]) -> KnownHosts {
        let mut kh = KnownHosts::default();
        kh.parse_into(file, bytes);
        kh
    }

    fn parse_into(&mut self, file: &Path, bytes: &[u8]) {
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = trim_bytes(raw);
            if line.is_empty() || line.starts_with(b"#") {
                continue;
            }
            match parse_line(line) {
                Ok((marker, names, key_type, key)) => self.entries.push(Entry {
                    file: file.to_path_buf(),
                    line: i + 1,
                    marker,
                    names,
                    key_type,
                    key,
                }),
                Err(why) => self.skipped.push((file.to_path_buf(), i + 1, why)),
            }
        }
    }

    /// Decide about `key` offered for `name` (see [`Decision`]).
    pub fn check(&self, name: &str, key: &PublicKey) -> Decision {
        let name = name.to_ascii_lowercase();
        let matching: Vec<&Entry> = self.entries.iter().filter(|e| e.matches(&name)).collect();
        if let Some(e) = matching
            .iter()
            .find(|e| e.marker == Marker::Revoked && e.holds(key))
        {
            return Decision::Revoked {
                file: e.file.clone(),
                line: e.line,
            };
        }
        let plain: Vec<&Entry> = matching
            .iter()
            .copied()
            .filter(|e| e.marker == Marker::None)
            .collect();
        if plain.iter().any(|e| e.holds(key)) {
            return Decision::Known;
        }
        let same_type = |e: &Entry| {
            e.key
                .as_ref()
                .is_some_and(|k| k.algorithm() == key.algorithm())
                || e.key_type == key.algorithm().as_str()
        };
        if let Some(e) = plain.iter().find(|e| same_type(e)) {
            return Decision::Changed {
                file: e.file.clone(),
                line: e.line,
            };
        }
        if let Some(first) = plain.first() {
            let mut types: Vec<String> = Vec::new();
            for e in &plain {
                if !types.contains(&e.key_type) {
                    types.push(e.key_type.clone());
                }
            }
            return Decision::OtherTypes {
                types,
                file: first.file.clone(),
                line: first.line,
            };
        }
        Decision::Unknown {
            cert_authority: matching.iter().any(|e| e.marker == Marker::CertAuthority),
        }
    }

    /// Key algorithms recorded (unmarked, readable) for `name`, in file
    /// order, so the client can ask the server for a type it can verify.
    pub fn known_algorithms(&self, name: &str) -> Vec<russh::keys::Algorithm> {
        let name = name.to_ascii_lowercase();
        let mut out = Vec::new();
        for e in &self.entries {
            if e.marker != Marker::None || !e.matches(&name) {
                continue;
            }
            if let Some(k) = &e.key {
                let a = k.algorithm();
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }
}

type Parsed = (Marker, Vec<NamePattern>, String, Option<PublicKey>);

/// One non-comment line: `[@marker] names type base64 [comment]`. The
/// comment may hold any bytes; the other fields must be UTF-8. A key that
/// does not parse is kept as `None` with its type (see [`Entry::key`]).
fn parse_line(line: &[u8]) -> Result<Parsed, String> {
    let bad = || "it is not 'host-patterns key-type base64-key'".to_string();
    let (mut first, mut rest) = field(line).ok_or_else(bad)?;
    let marker = match first {
        b"@revoked" => Marker::Revoked,
        b"@cert-authority" => Marker::CertAuthority,
        m if m.starts_with(b"@") => {
            return Err(format!("unknown marker '{}'", String::from_utf8_lossy(m)))
        }
        _ => Marker::None,
    };
    if marker != Marker::None {
        (first, rest) = field(rest).ok_or_else(bad)?;
    }
    let (key_type, rest) = field(rest).ok_or_else(bad)?;
    let (blob, _comment) = field(rest).ok_or_else(bad)?;
    let names = parse_names(&text(first, "host field")?)?;
    let key_type = text(key_type, "key type")?;
    let blob = text(blob, "key")?;
    let key = PublicKey::from_openssh(&format!("{key_type} {blob}")).ok();
    Ok((marker, names, key_type, key))
}

fn parse_names(field: &str) -> Result<Vec<NamePattern>, String> {
    let mut names = Vec::new();
    for n in field.split(',').filter(|n| !n.is_empty()) {
        if let Some(rest) = n.strip_prefix("|1|") {
            let bad = || format!("bad hashed host name '{n}'");
            let (salt, hash) = rest.split_once('|').ok_or_else(bad)?;
            names.push(NamePattern::Hashed {
                salt: BASE64.decode(salt.as_bytes()).map_err(|_| bad())?,
                hash: BASE64.decode(hash.as_bytes()).map_err(|_| bad())?,
            });
        } else {
            let (negated, p) = match n.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, n),
            };
            names.push(NamePattern::Plain {
                negated,
                pattern: p.to_ascii_lowercase(),
            });
        }
    }
    if names.is_empty() {
        return Err("no host name".into());
    }
    Ok(names)
}

pub(super) fn hmac_sha1(salt: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(salt).ok()?;
    mac.update(name.as_bytes());
    Some(mac.finalize().into_bytes().to_vec())
}

/// A known_hosts line for `name` and `key`, hashed if asked (fresh 20-byte salt).
pub fn format_line(name: &str, key: &PublicKey, hashed: bool) -> Option<String> {
    let mut bare = key.clone();
    bare.set_comment("");
    let key_text = bare.to_openssh().ok()?;
    let host = if hashed {
        let salt: [u8; 20] = rand::random();
        let hash = hmac_sha1(&salt, name)?;
        format!("|1|{}|{}", BASE64.encode(&salt), BASE64.encode(&hash))
    } else {
        name.to_string()
    };
    Some(format!("{host} {}\n", key_text.trim_end()))
}

/// Append one line for `name` to `file` with a single `O_APPEND` write. The
/// directory is created (0700) and the file created with mode 0600 if needed.
pub fn learn(file: &Path, name: &str, key: &PublicKey, hashed: bool) -> Result<(), HostKeyError> {
    let err = |reason: String| HostKeyError::Learn {
        name: name.to_string(),
        file: file.display().to_string(),
        reason,
    };
    let mut line =
        format_line(name, key, hashed).ok_or_else(|| err("cannot encode the key".into()))?;
    if let Some(dir) = file.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| err(e.to_string()))?;
    // Keep the previous last line intact if it lacks its newline.
    let len = f.metadata().map_err(|e| err(e.to_string()))?.len();
    if len > 0 {
        use std::io::{Seek, SeekFrom};
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(|e| err(e.to_string()))?;
        if last[0] != b'\n' {
            line.insert(0, '\n');
        }
    }
    f.write_all(line.as_bytes())
        .map_err(|e| err(e.to_string()))?;
    f.sync_all().map_err(|e| err(e.to_string()))
}
