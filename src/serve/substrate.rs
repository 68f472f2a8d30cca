//! The substrate fingerprint serve records around every round (spec §7.5):
//! `git_head` and a hash over `runtime.substrate_fingerprint_paths`. Reads
//! the work tree only; never changes it.

use crate::config::Config;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `git_head` and `paths_hash` for the substrate events (spec §7.5).
pub fn substrate(cfg: &Config) -> (Option<String>, Option<String>) {
    let head = crate::round::vcs::head(&cfg.runtime.work_dir);
    (
        head,
        paths_hash(
            &cfg.runtime.work_dir,
            &cfg.runtime.substrate_fingerprint_paths,
        ),
    )
}

fn paths_hash(work_dir: &Path, patterns: &[String]) -> Option<String> {
    if patterns.is_empty() {
        return None;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for p in patterns {
        if Path::new(p).is_absolute() {
            continue;
        }
        let full = work_dir.join(p);
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        if let Ok(paths) = glob::glob_with(&full.to_string_lossy(), opts) {
            for f in paths.flatten().filter(|f| f.is_file()) {
                let f = std::fs::canonicalize(&f).unwrap_or(f);
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    if files.is_empty() {
        return None;
    }
    files.sort();
    let wd = std::fs::canonicalize(work_dir).unwrap_or_else(|_| work_dir.to_path_buf());
    let mut h = Sha256::new();
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        let rel = f
            .strip_prefix(&wd)
            .map(Path::to_path_buf)
            .unwrap_or(f.clone());
        h.update(
            format!(
                "{}\n{}\n",
                rel.display(),
                hex::encode(Sha256::digest(&bytes))
            )
            .as_bytes(),
        );
    }
    Some(hex::encode(h.finalize()))
}
