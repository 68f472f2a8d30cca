//! `[vcs]`: what happens to a dirty work tree after a round (stash, ignore,
//! auto-commit) and the stash idempotency window.

use super::keys::allowed;
use super::{Loader, R};
use crate::config::{DirtyAction, VcsConfig};
use toml::Table;

impl Loader {
    pub(super) fn vcs(&self, t: &Table) -> R<VcsConfig> {
        if t.contains_key("orphan_action") {
            return Err(self.err(
                "vcs.orphan_action",
                "removed in upstream 0.1.18; use vcs.dirty_action instead",
            ));
        }
        self.check_keys(t, "vcs", &allowed("vcs"))?;
        Ok(VcsConfig {
            dirty_action: self
                .opt(t, "vcs", "dirty_action", |l, v, key| {
                    l.choice(
                        v,
                        key,
                        &[
                            ("stash", DirtyAction::Stash),
                            ("ignore", DirtyAction::Ignore),
                            ("auto_commit", DirtyAction::AutoCommit),
                        ],
                    )
                })?
                .unwrap_or(DirtyAction::Stash),
            stash_idempotency_s: self
                .opt(t, "vcs", "stash_idempotency_s", Self::pos_int)?
                .unwrap_or(5),
        })
    }
}
