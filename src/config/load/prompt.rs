//! `[prompt]`: the prompt file (or files, concatenated), the round-context
//! injection and its mode, the separator, and front-matter stripping.

use super::keys::allowed;
use super::{Loader, R};
use crate::config::{ContextMode, PromptConfig};
use std::path::Path;
use toml::Table;

impl Loader {
    pub(super) fn prompt(&self, t: &Table, project: &str, work_dir: &Path) -> R<PromptConfig> {
        self.check_keys(t, "prompt", &allowed("prompt"))?;
        let (file, files) = match (t.get("file"), t.get("files")) {
            (Some(_), Some(_)) => return Err(self.err(
                "prompt.files",
                "set together with prompt.file; set either prompt.file or prompt.files, not both",
            )),
            (None, None) => {
                return Err(self.err(
                    "prompt.file",
                    "required: set prompt.file (one file) or prompt.files (a list)",
                ))
            }
            (Some(v), None) => (
                Some(self.path(v, "prompt.file", project, work_dir)?),
                Vec::new(),
            ),
            (None, Some(v)) => {
                let raw = self.str_list(v, "prompt.files")?;
                if raw.is_empty() {
                    return Err(self.err(
                        "prompt.files",
                        "must not be empty (a phase may send no prompt with [phases.<name>.prompt] files = [])",
                    ));
                }
                (None, self.paths(&raw, "prompt.files", project, work_dir)?)
            }
        };
        Ok(PromptConfig {
            file,
            files,
            inject_context: self
                .opt(t, "prompt", "inject_context", Self::boolean)?
                .unwrap_or(true),
            context_injection_mode: self
                .opt(t, "prompt", "context_injection_mode", |l, v, key| {
                    l.choice(
                        v,
                        key,
                        &[
                            ("prepend", ContextMode::Prepend),
                            ("file", ContextMode::File),
                            ("none", ContextMode::None),
                        ],
                    )
                })?
                .unwrap_or(ContextMode::Prepend),
            concat_separator: self
                .opt(t, "prompt", "concat_separator", Self::string)?
                .unwrap_or_else(|| "\n\n".to_string()),
            strip_yaml_frontmatter: self
                .opt(t, "prompt", "strip_yaml_frontmatter", Self::boolean)?
                .unwrap_or(true),
        })
    }
}
