//! `[phases]`: the phase list, the policy for a phase that is not due, and
//! each `[phases.<name>]` override (round budget, pre-round hooks, prompt
//! files, an agent merged over `[agent]`, a schedule).

use super::keys::{allowed, join};
use super::values::got;
use super::{Loader, R};
use crate::config::{PhaseOverride, PhasePolicy, PhasesConfig};
use std::collections::BTreeMap;
use std::path::Path;
use toml::{Table, Value};

impl Loader {
    pub(super) fn phases(
        &self,
        t: &Table,
        base_agent: &Table,
        project: &str,
        work_dir: &Path,
    ) -> R<PhasesConfig> {
        let list = self
            .opt(t, "phases", "list", Self::str_list)?
            .unwrap_or_default();
        if let Some((i, _)) = list.iter().enumerate().find(|(_, n)| n.is_empty()) {
            return Err(self.err(
                &format!("phases.list[{i}]"),
                "a phase name must not be empty",
            ));
        }
        let phase_policy = self
            .opt(t, "phases", "phase_policy", |l, v, key| {
                l.choice(
                    v,
                    key,
                    &[("wait", PhasePolicy::Wait), ("skip", PhasePolicy::Skip)],
                )
            })?
            .unwrap_or(PhasePolicy::Wait);
        let mut overrides = BTreeMap::new();
        for (name, v) in t {
            if name == "list" || name == "phase_policy" {
                continue;
            }
            let prefix = format!("phases.{name}");
            let Value::Table(pt) = v else {
                return Err(self.err(
                    &prefix,
                    format!(
                        "must be a phase table [phases.{name}], got {}; only 'list' and 'phase_policy' may be scalars under [phases]",
                        got(v)
                    ),
                ));
            };
            if !list.iter().any(|n| n == name) {
                return Err(self.err(
                    &prefix,
                    format!(
                        "[phases.{name}] is declared but '{name}' is not in phases.list ({list:?})"
                    ),
                ));
            }
            overrides.insert(
                name.clone(),
                self.phase(pt, &prefix, base_agent, project, work_dir)?,
            );
        }
        Ok(PhasesConfig {
            list,
            phase_policy,
            overrides,
        })
    }

    fn phase(
        &self,
        pt: &Table,
        prefix: &str,
        base_agent: &Table,
        project: &str,
        work_dir: &Path,
    ) -> R<PhaseOverride> {
        self.check_keys(pt, prefix, &allowed("phases.<name>"))?;
        let flat = self.budget(pt, prefix)?;
        let runtime_prefix = join(prefix, "runtime");
        let nested = match self.table(pt, prefix, "runtime")? {
            Some(rt) => {
                self.check_keys(rt, &runtime_prefix, &allowed("phases.<name>.runtime"))?;
                self.budget(rt, &runtime_prefix)?
            }
            None => None,
        };
        if flat.is_some() && nested.is_some() {
            return Err(self.err(
                &join(&runtime_prefix, "round_budget_s"),
                format!("set together with the flat {prefix}.round_budget_s; keep one"),
            ));
        }
        let prompt_files = match self.table(pt, prefix, "prompt")? {
            Some(p) => {
                let pp = join(prefix, "prompt");
                self.check_keys(p, &pp, &allowed("phases.<name>.prompt"))?;
                let raw = self.req(
                    p,
                    &pp,
                    "files",
                    Self::str_list,
                    "in a phase's prompt table (an array of paths; [] = no prompt)",
                )?;
                Some(self.paths(&raw, &join(&pp, "files"), project, work_dir)?)
            }
            None => None,
        };
        let agent = match self.table(pt, prefix, "agent")? {
            Some(sub) => {
                let ap = join(prefix, "agent");
                if sub.contains_key("exec_prefix") {
                    return Err(self.err(
                        &join(&ap, "exec_prefix"),
                        "not allowed per phase; set exec_prefix once in [agent] (it applies to every phase)",
                    ));
                }
                let mut merged = base_agent.clone();
                for (k, v) in sub {
                    merged.insert(k.clone(), v.clone());
                }
                let require_prompt = prompt_files.as_ref().map_or(true, |f| !f.is_empty());
                Some(self.agent(&merged, &ap, require_prompt)?)
            }
            None => None,
        };
        let schedule = match self.table(pt, prefix, "schedule")? {
            Some(s) => Some(self.schedule(s, &join(prefix, "schedule"))?),
            None => None,
        };
        // 0.2, no effect: type-checked, then dropped
        self.opt(pt, prefix, "disable_pre_round_hooks", Self::boolean)?;
        Ok(PhaseOverride {
            round_budget_s: flat.or(nested),
            prompt_files,
            agent,
            schedule,
        })
    }
}
