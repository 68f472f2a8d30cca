//! Loading `agent-runner.toml`: TOML → [`Config`](super::Config) with strict
//! validation and one-line errors naming the file, the key and what is expected.

use super::Config;
use std::path::{Path, PathBuf};

/// A config that cannot be used. The message names the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config not found: {0} (run 'agent-runner init' or pass --config PATH)")]
    NotFound(PathBuf),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Load and validate the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    Err(ConfigError::Invalid {
        path: path.to_path_buf(),
        message: "config loading is not implemented yet".into(),
    })
}
