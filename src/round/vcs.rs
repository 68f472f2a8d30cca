//! Git as the round uses it: is this a work tree, HEAD, the dirty-file list,
//! and the dirty-tree actions (stash by SHA with exact-round idempotency, the
//! stash pinned under [`ORPHAN_REFS`] so that neither the next round's stash
//! nor `git gc` can lose it, auto-commit, ignore). Every git call has a
//! deadline.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Git could not be run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("could not run git: {0} (install git or put it on PATH)")]
    Spawn(std::io::Error),
    #[error("git {args} did not finish within {secs}s")]
    Timeout {
        args: String,
        secs: u64,
        /// The `index.lock` the killed git left behind, removed.
        stale_lock_cleared: Option<PathBuf>,
    },
}

impl GitError {
    /// The stale `index.lock` removed after this git was killed, if any.
    pub fn stale_lock_cleared(&self) -> Option<&Path> {
        match self {
            GitError::Timeout {
                stale_lock_cleared: Some(p),
                ..
            } => Some(p),
            _ => None,
        }
    }
}

/// The result of one git command.
#[derive(Debug, Clone)]
pub struct GitOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl GitOutput {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// Run `git <args>` in `dir` with a deadline; the child is killed on timeout,
/// and an `index.lock` it created is removed (0.3 delta §3.14: a SIGKILLed
/// git cannot remove its own lock, and every later git would refuse to run).
pub fn git(dir: &Path, args: &[&str], timeout: Duration) -> Result<GitOutput, GitError> {
    let spawned_at = std::time::SystemTime::now();
    let child = Command::new("git")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GIT_TERMINAL_PROMPT", "0")
        .spawn()
        .map_err(GitError::Spawn)?;
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Ok(GitOutput {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
        Ok(Err(e)) => Err(GitError::Spawn(e)),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            // Let the kill land (the waiter thread reaps it) before the lock is looked at.
            let _ = rx.recv_timeout(Duration::from_secs(2));
            Err(GitError::Timeout {
                args: args.join(" "),
                secs: timeout.as_secs(),
                stale_lock_cleared: clear_own_index_lock(dir, spawned_at),
            })
        }
    }
}

/// Remove `<gitdir>/index.lock` if it was created at or after `since` (by the
/// git we just killed); a lock older than our git belongs to someone else.
fn clear_own_index_lock(dir: &Path, since: std::time::SystemTime) -> Option<PathBuf> {
    let lock = find_gitdir(dir)?.join("index.lock");
    let created = std::fs::metadata(&lock).and_then(|m| m.modified()).ok()?;
    let slack = Duration::from_secs(1);
    if created + slack < since {
        return None;
    }
    std::fs::remove_file(&lock).ok().map(|()| lock)
}

const T10: Duration = Duration::from_secs(10);
const T30: Duration = Duration::from_secs(30);

/// True if `dir` is inside a git work tree. Fast path without a process: a
/// `.git` directory (or `gitdir:` file) upward whose HEAD exists and that we
/// own (git refuses repositories of other users); anything else asks git.
pub fn is_work_tree(dir: &Path) -> bool {
    if std::env::var_os("GIT_DIR").is_none()
        && find_gitdir(dir).is_some_and(|g| owned_by_us(&g) && g.join("HEAD").is_file())
    {
        return true;
    }
    dir.is_dir()
        && git(dir, &["rev-parse", "--is-inside-work-tree"], T10)
            .is_ok_and(|o| o.ok() && o.stdout.trim() == "true")
}

/// `git rev-parse HEAD`, or None.
pub fn head(dir: &Path) -> Option<String> {
    if let Some(h) = head_from_files(dir) {
        return Some(h);
    }
    let o = git(dir, &["rev-parse", "HEAD"], Duration::from_secs(5)).ok()?;
    let s = o.stdout.trim();
    (o.ok() && !s.is_empty()).then(|| s.to_string())
}

/// The git directory of the work tree containing `dir`: `.git` as a
/// directory, or the target of a `gitdir:` file, searched upward.
fn find_gitdir(dir: &Path) -> Option<PathBuf> {
    let mut d = std::fs::canonicalize(dir).ok()?;
    loop {
        let g = d.join(".git");
        if g.is_dir() {
            return Some(g);
        }
        if g.is_file() {
            let t = std::fs::read_to_string(&g).ok()?;
            let p = PathBuf::from(t.trim().strip_prefix("gitdir:")?.trim());
            return Some(if p.is_absolute() { p } else { d.join(p) });
        }
        if !d.pop() {
            return None;
        }
    }
}

fn owned_by_us(p: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).is_ok_and(|m| m.uid() == nix::unistd::geteuid().as_raw())
}

/// HEAD read straight from `.git` (no process): the common layouts only —
/// `.git` as a directory or a `gitdir:` file, HEAD detached or a branch ref
/// found loose or in `packed-refs`. Anything else → None (ask git).
pub fn head_from_files(dir: &Path) -> Option<String> {
    let is_sha = |s: &str| s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let gitdir = find_gitdir(dir)?;
    let head = std::fs::read_to_string(gitdir.join("HEAD")).ok()?;
    let head = head.trim();
    if is_sha(head) {
        return Some(head.to_string());
    }
    let r = head.strip_prefix("ref:")?.trim();
    // Linked worktrees keep refs in the common dir.
    let common = std::fs::read_to_string(gitdir.join("commondir"))
        .ok()
        .map(|c| gitdir.join(c.trim()))
        .unwrap_or_else(|| gitdir.clone());
    for base in [&gitdir, &common] {
        if let Ok(t) = std::fs::read_to_string(base.join(r)) {
            let t = t.trim();
            return is_sha(t).then(|| t.to_string());
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|l| {
        let (sha, name) = l.split_once(' ')?;
        (name == r && is_sha(sha)).then(|| sha.to_string())
    })
}

/// Parse `git status --porcelain -z`: the path of each record (the new path
/// for renames/copies, whose old-path record is skipped).
pub fn parse_porcelain_z(out: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut it = out.split('\0').filter(|r| !r.is_empty());
    while let Some(rec) = it.next() {
        if rec.len() < 4 {
            continue;
        }
        let xy = &rec[..2];
        files.push(rec[3..].to_string());
        if xy.contains('R') || xy.contains('C') {
            it.next();
        }
    }
    files
}

/// The dirty paths of the work tree (relative to the repo root), as
/// `git status --porcelain -z` lists them.
pub fn dirty_files(dir: &Path) -> Result<Vec<String>, GitError> {
    // No optional locks: a read-only status must not rewrite the index.
    let o = git(
        dir,
        &["--no-optional-locks", "status", "--porcelain", "-z"],
        T10,
    )?;
    if !o.ok() {
        return Ok(Vec::new());
    }
    Ok(parse_porcelain_z(&o.stdout))
}

/// `files` without the protected paths.
pub fn without_protected(files: Vec<String>, protected: &[String]) -> Vec<String> {
    files
        .into_iter()
        .filter(|f| !is_protected(f, protected))
        .collect()
}

fn is_protected(f: &str, protected: &[String]) -> bool {
    protected.iter().any(|p| {
        let p = p.trim_end_matches('/');
        let f = f.trim_end_matches('/');
        f == p || f.starts_with(&format!("{p}/")) || p.starts_with(&format!("{f}/"))
    })
}

/// Paths (relative to the repo top level of `work_dir`) that dirty handling
/// must leave alone: every given absolute path inside the work tree.
pub fn protected_relative(work_dir: &Path, paths: &[PathBuf]) -> Vec<String> {
    let top = git(work_dir, &["rev-parse", "--show-toplevel"], T10)
        .ok()
        .filter(|o| o.ok())
        .map(|o| PathBuf::from(o.stdout.trim()))
        .unwrap_or_else(|| work_dir.to_path_buf());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let rel: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            abs.strip_prefix(&top)
                .ok()
                .map(|r| r.to_string_lossy().into_owned())
        })
        .filter(|r| !r.is_empty())
        .collect();
    // An ignored path in an `:(exclude)` pathspec makes `git stash push` and
    // `git add` fail, and git never reports it as dirty anyway: drop those.
    // One `git check-ignore` for all of them; it prints the ignored ones.
    let mut args: Vec<&str> = vec!["check-ignore", "--no-index", "--"];
    args.extend(rel.iter().map(String::as_str));
    let ignored: Vec<String> = match git(&top, &args, T10) {
        Ok(o) if o.code == 0 => o
            .stdout
            .lines()
            .map(|l| l.trim_end_matches('/').to_string())
            .collect(),
        _ => Vec::new(),
    };
    rel.into_iter()
        .filter(|r| !ignored.iter().any(|i| i == r.trim_end_matches('/')))
        .collect()
}

fn exclusions(protected: &[String]) -> Vec<String> {
    protected.iter().map(|p| format!(":(exclude){p}")).collect()
}

/// What a stash attempt did.
#[derive(Debug, Clone, PartialEq)]
pub enum StashOutcome {
    Stashed {
        sha: String,
        message: String,
    },
    /// A stash for this exact round already exists within the idempotency window.
    Reused {
        sha: String,
    },
    Failed {
        reason: String,
    },
    /// Nothing left to stash after exclusions.
    Nothing,
}

/// True if a stash subject (after `On <branch>: `) is for exactly round `n`.
pub fn stash_subject_is_round(subject: &str, n: u64) -> bool {
    let s = subject.split_once(": ").map(|(_, r)| r).unwrap_or(subject);
    let tag = format!("ORPHAN R{n}");
    s.strip_prefix(&tag)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// Where every orphan stash is pinned: `refs/agent-runner/orphans/R<N>`
/// (docs/runbook.md says how to find and restore them; nothing prunes them).
pub const ORPHAN_REFS: &str = "refs/agent-runner/orphans";

/// Pin stash commit `sha` of round `round` under
/// `refs/agent-runner/orphans/R<N>`; if that name already holds another
/// stash (the round counter was reset), under `R<N>-<first 12 of sha>`.
/// Never moves an existing pin. Returns the ref name, or why not.
pub fn pin_orphan(dir: &Path, round: u64, sha: &str) -> Result<String, String> {
    let base = format!("{ORPHAN_REFS}/R{round}");
    let short = sha.get(..12).unwrap_or(sha);
    for name in [base.clone(), format!("{base}-{short}")] {
        let cur =
            git(dir, &["rev-parse", "-q", "--verify", &name], T10).map_err(|e| e.to_string())?;
        if cur.ok() {
            if cur.stdout.trim() == sha {
                return Ok(name);
            }
            continue;
        }
        // An empty old value: create only, never overwrite.
        let msg = format!("agent-runner: orphan stash of round {round}");
        let o = git(dir, &["update-ref", "-m", &msg, &name, sha, ""], T10)
            .map_err(|e| e.to_string())?;
        if o.ok() {
            return Ok(name);
        }
        return Err(o.stderr.trim().chars().take(200).collect());
    }
    Err(format!("{base} and {base}-{short} both hold other stashes"))
}

/// [`pin_orphan`], a failure logged (the stash is still in `git stash list`).
fn pin_or_warn(dir: &Path, round: u64, sha: &str) {
    if let Err(why) = pin_orphan(dir, round, sha) {
        tracing::warn!(
            "could not pin orphan stash {sha} of round {round} under {ORPHAN_REFS}/: {why}; it is only in 'git stash list'"
        );
    }
}

/// Stash the dirty tree (`git stash push -u`), referring to it by SHA, and
/// pin it under [`ORPHAN_REFS`].
pub fn stash(
    dir: &Path,
    round: u64,
    phase: Option<&str>,
    idempotency_s: u64,
    protected: &[String],
) -> Result<StashOutcome, GitError> {
    let last = git(dir, &["stash", "list", "-1", "--format=%H %ct %s"], T10)?;
    if last.ok() {
        if let Some(line) = last.stdout.lines().next() {
            let mut parts = line.splitn(3, ' ');
            if let (Some(sha), Some(ct), Some(subj)) = (parts.next(), parts.next(), parts.next()) {
                let age = chrono::Utc::now().timestamp() - ct.parse::<i64>().unwrap_or(0);
                if stash_subject_is_round(subj, round) && age >= 0 && age as u64 <= idempotency_s {
                    pin_or_warn(dir, round, sha);
                    return Ok(StashOutcome::Reused {
                        sha: sha.to_string(),
                    });
                }
            }
        }
    }
    let local = chrono::Local::now().format("%Y-%m-%dT%H:%M:%S");
    let message = match phase {
        Some(p) => format!("ORPHAN R{round} phase={p} ts={local}"),
        None => format!("ORPHAN R{round} ts={local}"),
    };
    let mut args: Vec<String> = vec![
        "stash".into(),
        "push".into(),
        "-u".into(),
        "-m".into(),
        message.clone(),
    ];
    let ex = exclusions(protected);
    if !ex.is_empty() {
        args.push("--".into());
        args.extend(ex);
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = git(dir, &argv, T30)?;
    if !o.ok() {
        let reason = if o.stderr.trim().is_empty() {
            "git stash push failed".to_string()
        } else {
            o.stderr.trim().chars().take(200).collect()
        };
        return Ok(StashOutcome::Failed { reason });
    }
    let l = git(dir, &["stash", "list", "-1", "--format=%H %s"], T10)?;
    match l.stdout.lines().next().and_then(|x| x.split_once(' ')) {
        Some((sha, subj)) if l.ok() && subj.contains(&message) => {
            pin_or_warn(dir, round, sha);
            Ok(StashOutcome::Stashed {
                sha: sha.to_string(),
                message,
            })
        }
        _ => Ok(StashOutcome::Nothing),
    }
}

/// What an auto-commit attempt did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    Committed { sha: String },
    Failed { reason: String },
    Nothing,
}

/// `git add -A` (minus protected paths) and commit.
pub fn auto_commit(
    dir: &Path,
    round: u64,
    phase: Option<&str>,
    protected: &[String],
) -> Result<CommitOutcome, GitError> {
    let mut add: Vec<String> = vec!["add".into(), "-A".into()];
    let ex = exclusions(protected);
    if !ex.is_empty() {
        add.push("--".into());
        add.push(".".into());
        add.extend(ex);
    }
    let argv: Vec<&str> = add.iter().map(String::as_str).collect();
    let o = git(dir, &argv, T30)?;
    let fail = |o: &GitOutput, what: &str| {
        let r = if o.stderr.trim().is_empty() {
            what.to_string()
        } else {
            o.stderr.trim().chars().take(200).collect()
        };
        CommitOutcome::Failed { reason: r }
    };
    if !o.ok() {
        return Ok(fail(&o, "git add failed"));
    }
    if git(dir, &["diff", "--cached", "--quiet"], T10)?.ok() {
        return Ok(CommitOutcome::Nothing);
    }
    let msg = match phase {
        Some(p) => format!("agent-runner auto-commit: R{round} {p}"),
        None => format!("agent-runner auto-commit: R{round}"),
    };
    let c = git(
        dir,
        &["-c", "commit.gpgsign=false", "commit", "-q", "-m", &msg],
        Duration::from_secs(120),
    )?;
    if !c.ok() {
        return Ok(fail(&c, "git commit failed"));
    }
    match head(dir) {
        Some(sha) => Ok(CommitOutcome::Committed { sha }),
        None => Ok(CommitOutcome::Failed {
            reason: "git rev-parse HEAD failed after commit".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_from_files_matches_git() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let run = |args: &[&str]| {
            git(d.path(), args, T10)
                .map(|o| o.stdout)
                .unwrap_or_default()
        };
        run(&["init", "-q", "-b", "main"]);
        assert_eq!(head_from_files(d.path()), None, "no commit yet");
        run(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "a",
        ]);
        let want = run(&["rev-parse", "HEAD"]).trim().to_string();
        assert_eq!(head_from_files(d.path()), Some(want.clone()));
        std::fs::create_dir_all(d.path().join("sub")).unwrap_or_default();
        assert_eq!(head_from_files(&d.path().join("sub")), Some(want.clone()));
        run(&["pack-refs", "--all"]);
        assert_eq!(head_from_files(d.path()), Some(want.clone()));
        run(&["checkout", "-q", "--detach"]);
        assert_eq!(head_from_files(d.path()), Some(want));
    }

    #[test]
    fn an_orphan_pin_is_never_moved() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let run = |args: &[&str]| {
            git(d.path(), args, T10)
                .map(|o| o.stdout.trim().to_string())
                .unwrap_or_default()
        };
        run(&["init", "-q", "-b", "main"]);
        let commit = |m: &str| {
            run(&[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@x",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                m,
            ]);
            run(&["rev-parse", "HEAD"])
        };
        let (a, b) = (commit("a"), commit("b"));
        let r1 = format!("{ORPHAN_REFS}/R1");
        assert_eq!(pin_orphan(d.path(), 1, &a), Ok(r1.clone()));
        assert_eq!(pin_orphan(d.path(), 1, &a), Ok(r1.clone()), "idempotent");
        // round 1 again after a counter reset: a second name, the first kept
        let second = format!("{r1}-{}", &b[..12]);
        assert_eq!(pin_orphan(d.path(), 1, &b), Ok(second.clone()));
        assert_eq!(run(&["rev-parse", &r1]), a);
        assert_eq!(run(&["rev-parse", &second]), b);
    }

    #[test]
    fn porcelain_renames_take_new_path() {
        let out = "R  new.txt\0old.txt\0?? dir/\0 M a b.txt\0";
        assert_eq!(parse_porcelain_z(out), vec!["new.txt", "dir/", "a b.txt"]);
    }

    #[test]
    fn stash_idempotency_is_exact_round() {
        assert!(stash_subject_is_round("On main: ORPHAN R1 ts=x", 1));
        assert!(stash_subject_is_round("ORPHAN R1 phase=a ts=x", 1));
        assert!(!stash_subject_is_round("On main: ORPHAN R12 ts=x", 1));
        assert!(!stash_subject_is_round("On main: WIP", 1));
    }

    #[test]
    fn protected_paths_match_dirs_and_files() {
        let p = vec!["prompts/main.md".to_string(), "logs".to_string()];
        assert!(is_protected("prompts/main.md", &p));
        assert!(is_protected("prompts/", &p));
        assert!(is_protected("logs/x.jsonl", &p));
        assert!(!is_protected("src/main.rs", &p));
    }
}
