//! `[goal]`: the ledger (a prompt file the supervisor appends advisories to)
//! and the `[[goal.checks]]` commands, plus the whole-config rule that the
//! ledger is a later prompt file of every phase and survives the stash.

use super::keys::{allowed, join};
use super::paths::resolve_lenient;
use super::values::got;
use super::{Loader, R};
use crate::config::{Config, GoalCheck, GoalConfig};
use std::path::Path;
use toml::{Table, Value};

const GOAL_CHECK_TIMEOUT_MAX: i64 = 30;

impl Loader {
    pub(super) fn goal(&self, t: &Table, project: &str, work_dir: &Path) -> R<GoalConfig> {
        self.check_keys(t, "goal", &allowed("goal"))?;
        let ledger = self.req(
            t,
            "goal",
            "ledger",
            |l, v, key| l.path(v, key, project, work_dir),
            "when [goal] is present (a prompt file the supervisor appends advisories to)",
        )?;
        let mut checks = Vec::new();
        match t.get("checks") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("goal.checks[{i}]");
                    let Value::Table(ct) = item else {
                        return Err(self.err(
                            &prefix,
                            format!("must be a table ([[goal.checks]]), got {}", got(item)),
                        ));
                    };
                    checks.push(self.goal_check(ct, &prefix)?);
                }
            }
            Some(v) => {
                return Err(self.err(
                    "goal.checks",
                    format!(
                        "must be an array of tables ([[goal.checks]]), got {}",
                        got(v)
                    ),
                ))
            }
        }
        Ok(GoalConfig { ledger, checks })
    }

    /// One `[[goal.checks]]` table, at `prefix` (`goal.checks[i]`).
    fn goal_check(&self, ct: &Table, prefix: &str) -> R<GoalCheck> {
        self.check_keys(ct, prefix, &allowed("goal.checks[]"))?;
        let name = self.req(ct, prefix, "name", Self::string, "(a label for the check)")?;
        let cmd = self.req(ct, prefix, "cmd", Self::str_list, "(an argv array)")?;
        if cmd.is_empty() {
            return Err(self.err(&join(prefix, "cmd"), "must not be empty"));
        }
        let cwd = self.opt(ct, prefix, "cwd", Self::string)?;
        let timeout_s = self
            .opt(ct, prefix, "timeout_s", |l, v, key| {
                l.int_range(v, key, 1, GOAL_CHECK_TIMEOUT_MAX)
            })?
            .unwrap_or(10);
        Ok(GoalCheck {
            name,
            cmd,
            cwd,
            timeout_s,
        })
    }

    /// The ledger must be a prompt file at index >= 1 for every phase, and
    /// must not sit in the part of the work tree a stash would sweep.
    pub(super) fn check_goal_ledger(&self, cfg: &Config) -> R<()> {
        let Some(goal) = &cfg.goal else {
            return Ok(());
        };
        let phases: Vec<Option<&str>> = if cfg.phases.list.is_empty() {
            vec![None]
        } else {
            cfg.phases.list.iter().map(|p| Some(p.as_str())).collect()
        };
        for phase in phases {
            let files = cfg.prompt_files_for(phase);
            let pos = files.iter().position(|f| *f == goal.ledger);
            if !matches!(pos, Some(i) if i >= 1) {
                let where_ = match phase {
                    None => "prompt.files".to_string(),
                    Some(p) => format!("phases.{p}.prompt.files (or prompt.files)"),
                };
                return Err(self.err(
                    "goal.ledger",
                    format!(
                        "'{}' must be listed in {where_} at index 1 or later (index 0 must exist at cold start; the single prompt.file form cannot carry it)",
                        goal.ledger.display()
                    ),
                ));
            }
        }
        let ledger = resolve_lenient(&goal.ledger);
        let work = resolve_lenient(&cfg.runtime.work_dir);
        let logs = resolve_lenient(&cfg.runtime.log_dir);
        if ledger.starts_with(&work) && !ledger.starts_with(&logs) {
            return Err(self.err(
                "goal.ledger",
                format!(
                    "'{}' is inside runtime.work_dir but outside runtime.log_dir, so the dirty-tree stash would sweep it away after each round; put it under log_dir or outside work_dir",
                    goal.ledger.display()
                ),
            ));
        }
        Ok(())
    }
}
