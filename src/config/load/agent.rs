//! `[agent]`: the agent CLI to run (command, prompt template and delivery,
//! environment, exec prefix, terminal marker, SIGTERM grace). A phase's
//! `[phases.<name>.agent]` is read here too, merged over `[agent]`.

use super::keys::{allowed, join};
use super::values::got;
use super::{Loader, R};
use crate::config::{AgentConfig, PromptDelivery, DEFAULT_TERMINAL_MARKER};
use toml::{Table, Value};

const SIGTERM_GRACE_MAX: i64 = 12;

fn contains_prompt(args: &[String]) -> bool {
    args.iter().any(|a| a.contains("{prompt}"))
}

impl Loader {
    /// The agent table `t` at `prefix`; `require_prompt`: argv delivery needs
    /// a `{prompt}` placeholder (a phase that sends no prompt does not).
    pub(super) fn agent(&self, t: &Table, prefix: &str, require_prompt: bool) -> R<AgentConfig> {
        self.check_keys(t, prefix, &allowed("agent"))?;
        let k = |key: &str| join(prefix, key);
        let template = self.req(
            t,
            prefix,
            "prompt_arg_template",
            Self::str_list,
            "(an array of strings, e.g. [\"-p\", \"{prompt}\"]; [] is allowed with stdin delivery)",
        )?;
        let delivery = self
            .opt(t, prefix, "prompt_delivery", |l, v, key| {
                l.choice(
                    v,
                    key,
                    &[
                        ("argv", PromptDelivery::Argv),
                        ("stdin", PromptDelivery::Stdin),
                    ],
                )
            })?
            .unwrap_or(PromptDelivery::Argv);
        if delivery == PromptDelivery::Stdin && contains_prompt(&template) {
            return Err(self.err(
                &k("prompt_arg_template"),
                "remove {prompt}: with prompt_delivery = \"stdin\" the prompt is piped to stdin, not placed in argv",
            ));
        }
        if delivery == PromptDelivery::Argv && require_prompt && !contains_prompt(&template) {
            return Err(self.err(
                &k("prompt_arg_template"),
                "has no {prompt} placeholder, so the prompt would never reach the agent; \
                 add \"{prompt}\" to one element or set prompt_delivery = \"stdin\"",
            ));
        }
        let command = self.req(
            t,
            prefix,
            "command",
            Self::str_list,
            "(an array of strings, e.g. [\"claude\", \"--verbose\"])",
        )?;
        match command.first() {
            None => return Err(self.err(&k("command"), "must not be empty")),
            Some(c) if c.is_empty() => {
                return Err(self.err(&k("command[0]"), "the program name must not be empty"))
            }
            Some(_) => {}
        }
        let name = self.opt(t, prefix, "name", Self::string)?;
        let mut env = Vec::new();
        if let Some(env_t) = self.table(t, prefix, "env")? {
            for (key, v) in env_t {
                let full = format!("{}.{key}", k("env"));
                if key.is_empty() || key.contains('=') || key.contains('\0') {
                    return Err(self.err(&full, "is not a valid environment variable name"));
                }
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Integer(i) => i.to_string(),
                    Value::Float(f) => format!("{f:?}"),
                    Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(self.err(&full, format!("must be a string, got {}", got(other))))
                    }
                };
                if value.contains('\0') {
                    return Err(self.err(&full, "must not contain a NUL character"));
                }
                env.push((key.clone(), value));
            }
        }
        let exec_prefix = self
            .opt(t, prefix, "exec_prefix", Self::str_list)?
            .unwrap_or_default();
        let terminal_marker = self
            .opt(t, prefix, "terminal_marker", Self::string)?
            .unwrap_or_else(|| DEFAULT_TERMINAL_MARKER.to_string());
        let sigterm_grace_s = self
            .opt(t, prefix, "sigterm_grace_s", |l, v, key| {
                l.int_range(v, key, 1, SIGTERM_GRACE_MAX)
            })?
            .unwrap_or(10);
        Ok(AgentConfig {
            command,
            prompt_arg_template: template,
            prompt_delivery: delivery,
            name,
            env,
            exec_prefix,
            terminal_marker,
            sigterm_grace_s,
        })
    }
}
