//! `[runtime]`: where the project is (`work_dir`, which names the project)
//! and where its logs go, the round budget (0.3 `round_budget_s` or 0.2
//! `round_timeout_s`, also read for phases), restarts, retention, the
//! transient-error action, stop conditions and grace settings. Keys removed
//! upstream get an error that names their replacement.

use super::keys::{allowed, join};
use super::paths::{expand_tilde, has_bad_char, resolve_lenient};
use super::{Loader, R};
use crate::config::{RuntimeConfig, TransientErrorAction};
use std::path::{Path, PathBuf};
use toml::{Table, Value};

impl Loader {
    /// `runtime.work_dir`, resolved against the config file's folder.
    pub(super) fn work_dir(&self, runtime_t: &Table) -> R<PathBuf> {
        let raw = self.req(
            runtime_t,
            "runtime",
            "work_dir",
            Self::string,
            "(the project's git work tree; \".\" = the config file's folder)",
        )?;
        if has_bad_char(&raw) {
            return Err(self.err(
                "runtime.work_dir",
                "contains a control or non-printable character",
            ));
        }
        let p = expand_tilde(&raw.replace("{project}", ""));
        let base = self.file.parent().unwrap_or(Path::new("/"));
        let p = resolve_lenient(&base.join(p));
        if has_bad_char(&p.to_string_lossy()) {
            return Err(self.err(
                "runtime.work_dir",
                "contains a control or non-printable character",
            ));
        }
        Ok(p)
    }

    /// `round_budget_s` (0.3) or its 0.2 name `round_timeout_s`, never both.
    pub(super) fn budget(&self, t: &Table, prefix: &str) -> R<Option<u64>> {
        match (t.get("round_budget_s"), t.get("round_timeout_s")) {
            (Some(_), Some(_)) => Err(self.both_names(
                &join(prefix, "round_timeout_s"),
                &join(prefix, "round_budget_s"),
            )),
            (Some(v), None) => Ok(Some(self.pos_int(v, &join(prefix, "round_budget_s"))?)),
            (None, Some(v)) => Ok(Some(self.pos_int(v, &join(prefix, "round_timeout_s"))?)),
            (None, None) => Ok(None),
        }
    }

    pub(super) fn runtime(&self, t: &Table, project: &str, work_dir: PathBuf) -> R<RuntimeConfig> {
        if t.contains_key("round_timeout_per_phase") {
            return Err(self.err(
                "runtime.round_timeout_per_phase",
                "removed in upstream 0.1.16; use [phases.<name>] round_budget_s = X instead",
            ));
        }
        if t.contains_key("rate_limit_action") {
            return Err(self.err(
                "runtime.rate_limit_action",
                "removed in upstream 0.1.29; use runtime.transient_error_action (same values: back_off / skip / stop)",
            ));
        }
        self.check_keys(t, "runtime", &allowed("runtime"))?;
        let path = |l: &Self, v: &Value, key: &str| l.path(v, key, project, &work_dir);
        let log_dir = self.req(
            t,
            "runtime",
            "log_dir",
            path,
            "(e.g. \"~/.agent-runner/{project}/logs\")",
        )?;
        let narrative_file = self.opt(t, "runtime", "narrative_file", path)?;
        let stop_file = self.opt(t, "runtime", "stop_file", path)?;
        // 0.2, no effect: type-checked, then dropped
        self.opt(t, "runtime", "disable_pre_round_hooks", Self::boolean)?;
        Ok(RuntimeConfig {
            round_budget_s: self.budget(t, "runtime")?.unwrap_or(1800),
            restart_delay_s: self
                .opt(t, "runtime", "restart_delay_s", Self::nonneg_int)?
                .unwrap_or(3),
            round_log_retention: self
                .opt(t, "runtime", "round_log_retention", Self::nonneg_int)?
                .unwrap_or(0),
            narrative_file,
            transient_error_action: self
                .opt(t, "runtime", "transient_error_action", |l, v, key| {
                    l.choice(
                        v,
                        key,
                        &[
                            ("back_off", TransientErrorAction::BackOff),
                            ("skip", TransientErrorAction::Skip),
                            ("stop", TransientErrorAction::Stop),
                        ],
                    )
                })?
                .unwrap_or(TransientErrorAction::BackOff),
            max_rounds: self.opt(t, "runtime", "max_rounds", Self::pos_int)?,
            stop_file,
            substrate_fingerprint_paths: self
                .opt(t, "runtime", "substrate_fingerprint_paths", Self::str_list)?
                .unwrap_or_default(),
            fresh_eyes_every_n: self.opt(t, "runtime", "fresh_eyes_every_n", Self::pos_int)?,
            dry_run: self
                .opt(t, "runtime", "dry_run", Self::boolean)?
                .unwrap_or(false),
            max_grace_after_result_s: self
                .opt(t, "runtime", "max_grace_after_result_s", Self::nonneg_int)?
                .unwrap_or(0),
            grace_kill_ignore_patterns: self
                .opt(t, "runtime", "grace_kill_ignore_patterns", |l, v, key| {
                    l.regex_list(v, key, false)
                })?
                .unwrap_or_default(),
            metrics_interval_s: self
                .opt(t, "runtime", "metrics_interval_s", Self::nonneg_int)?
                .unwrap_or(60),
            log_dir,
            work_dir,
        })
    }
}
