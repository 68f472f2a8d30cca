//! The hosts file of `monitor --fleet FILE` (format in `hosts.example.toml`)
//! with its `[[notify]]` sinks, and the per-host settings `--host` builds. Parsing and validation only;
//! aliases are checked by `ssh::names` (no shell syntax can reach a
//! ProxyCommand).

use crate::ssh::names::{self, NameKind};
use crate::witness::notify::{self, Format, SinkSpec, Target, WebhookUrl};
use serde::Deserialize;
use std::path::Path;

/// Remote config path used when none is given: `agent-runner.toml` relative
/// to the login directory (the remote user's home), like `~/agent-runner.toml`.
pub const DEFAULT_REMOTE_CONFIG: &str = "agent-runner.toml";
/// Seconds between remote snapshots by default.
pub const DEFAULT_INTERVAL_S: f64 = 5.0;

/// One watched host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSpec {
    /// ssh alias (resolved through the ssh config).
    pub alias: String,
    /// Display name (defaults to the alias); unique in a fleet.
    pub name: String,
    /// Remote config path as the remote `agent-runner --config` gets it.
    pub config: String,
    pub tags: Vec<String>,
}

/// `[defaults]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    config: Option<String>,
    interval_s: Option<f64>,
    tolerance_s: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEntry {
    alias: String,
    name: Option<String>,
    config: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// `[[notify]]`: one sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NotifyEntry {
    command: Option<Vec<String>>,
    webhook: Option<String>,
    format: Option<String>,
    min_severity: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    host: Vec<HostEntry>,
    #[serde(default)]
    notify: Vec<NotifyEntry>,
}

/// A `[[notify]]` table as a sink; errors name the table, never the URL.
fn sink(path: &Path, i: usize, e: NotifyEntry) -> Result<SinkSpec, String> {
    let at = |m: String| {
        format!(
            "hosts file '{}', [[notify]] #{}: {m}",
            path.display(),
            i + 1
        )
    };
    let format = match &e.format {
        Some(f) => Format::parse(f).map_err(|e| at(e.to_string()))?,
        None => Format::Json,
    };
    let target = match (e.command, e.webhook) {
        (Some(argv), None) if argv.first().is_some_and(|p| !p.is_empty()) => Target::Command(argv),
        (Some(_), None) => {
            return Err(at(
                "'command' needs a program: command = [\"prog\", \"arg\", …]".into(),
            ))
        }
        (None, Some(u)) => Target::Webhook(WebhookUrl::parse(&u).map_err(|e| at(e.to_string()))?),
        _ => return Err(at("give exactly one of 'command' or 'webhook'".into())),
    };
    let min_severity = match &e.min_severity {
        Some(s) => notify::parse_severity(s).map_err(|e| at(e.to_string()))?,
        None => crate::detect::Severity::Info,
    };
    Ok(SinkSpec {
        target,
        format,
        min_severity,
    })
}

/// A parsed hosts file.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub hosts: Vec<HostSpec>,
    pub interval_s: Option<f64>,
    pub tolerance_s: Option<u64>,
    /// `[[notify]]` sinks.
    pub notify: Vec<SinkSpec>,
}

/// `~/x` → `x`: remote commands start in the login directory, and a quoted
/// `~` would not be expanded by the remote shell.
pub fn remote_path(p: &str) -> String {
    match p.strip_prefix("~/") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => p.to_string(),
    }
}

/// Check an alias that came from `origin` (see [`crate::ssh::names`]: no
/// shell syntax, no leading `-`, not empty).
pub fn check_alias(alias: &str, origin: &str) -> Result<(), String> {
    names::check(NameKind::Alias, alias, origin).map_err(|e| e.to_string())
}

/// A host given with `--host ALIAS` (default remote config).
pub fn from_alias(alias: &str, remote_config: Option<&str>) -> Result<HostSpec, String> {
    check_alias(alias, "--host")?;
    Ok(HostSpec {
        alias: alias.to_string(),
        name: alias.to_string(),
        config: remote_path(remote_config.unwrap_or(DEFAULT_REMOTE_CONFIG)),
        tags: Vec::new(),
    })
}

/// Parse a hosts file's text (`path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Fleet, String> {
    let doc: FileDoc = toml::from_str(text)
        .map_err(|e| format!("invalid hosts file '{}': {}", path.display(), e.message()))?;
    if doc.host.is_empty() {
        return Err(format!(
            "hosts file '{}' lists no [[host]] entries; see hosts.example.toml",
            path.display()
        ));
    }
    if let Some(i) = doc.defaults.interval_s {
        if !(i.is_finite() && i > 0.0) {
            return Err(format!(
                "invalid hosts file '{}': defaults.interval_s must be positive, got '{i}'",
                path.display()
            ));
        }
    }
    let default_cfg = doc
        .defaults
        .config
        .clone()
        .unwrap_or_else(|| DEFAULT_REMOTE_CONFIG.to_string());
    let mut hosts: Vec<HostSpec> = Vec::new();
    for h in doc.host {
        check_alias(&h.alias, &format!("hosts file '{}'", path.display()))?;
        let name = h.name.unwrap_or_else(|| h.alias.clone());
        if hosts.iter().any(|x| x.name == name) {
            return Err(format!(
                "hosts file '{}' names host '{name}' twice; give each [[host]] a unique name",
                path.display()
            ));
        }
        hosts.push(HostSpec {
            alias: h.alias,
            name,
            config: remote_path(h.config.as_deref().unwrap_or(&default_cfg)),
            tags: h.tags,
        });
    }
    let notify = doc
        .notify
        .into_iter()
        .enumerate()
        .map(|(i, e)| sink(path, i, e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Fleet {
        hosts,
        interval_s: doc.defaults.interval_s,
        tolerance_s: doc.defaults.tolerance_s,
        notify,
    })
}

/// Read and parse a hosts file.
pub fn load(path: &Path) -> Result<Fleet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read hosts file '{}': {e}", path.display()))?;
    parse(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/hosts.example.toml"));
        let f = load(p).unwrap();
        assert!(f.hosts.len() >= 2, "{f:?}");
        assert!(f.hosts.iter().all(|h| !h.config.starts_with('~')));
    }

    #[test]
    fn defaults_names_and_errors() {
        let p = Path::new("h.toml");
        let f = parse(
            p,
            "[defaults]\nconfig = \"~/proj/agent-runner.toml\"\ntolerance_s = 5\n[[host]]\nalias = \"pi-1\"\n[[host]]\nalias = \"pi-2\"\nname = \"kitchen\"\nconfig = \"/srv/x.toml\"\ntags = [\"lab\"]\n",
        )
        .unwrap();
        assert_eq!(f.tolerance_s, Some(5));
        assert_eq!(f.hosts[0].name, "pi-1");
        assert_eq!(f.hosts[0].config, "proj/agent-runner.toml");
        assert_eq!(f.hosts[1].name, "kitchen");
        assert_eq!(f.hosts[1].config, "/srv/x.toml");
        assert_eq!(f.hosts[1].tags, vec!["lab"]);
        assert!(parse(p, "[[host]]\nalias = \"-oProxyCommand=x\"\n")
            .unwrap_err()
            .contains("'-oProxyCommand=x'"));
        assert!(
            parse(p, "[[host]]\nalias = \"a\"\n[[host]]\nalias = \"a\"\n")
                .unwrap_err()
                .contains("twice")
        );
        assert!(parse(p, "[defaults]\n")
            .unwrap_err()
            .contains("no [[host]]"));
        assert!(parse(p, "[[host]]\nalias = \"a\"\nport = 2\n").is_err());
    }

    #[test]
    fn notify_tables() {
        let p = Path::new("h.toml");
        let f = parse(
            p,
            "[[host]]\nalias = \"a\"\n[[notify]]\ncommand = [\"/bin/page\", \"--loud\"]\n[[notify]]\nwebhook = \"https://u:pw@am.example:9093\"\nformat = \"alertmanager\"\nmin_severity = \"critical\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.notify.len(), 2);
        assert_eq!(
            f.notify[0].target,
            Target::Command(vec!["/bin/page".into(), "--loud".into()])
        );
        assert_eq!(f.notify[0].format, Format::Json);
        assert_eq!(f.notify[1].format, Format::Alertmanager);
        assert_eq!(f.notify[1].min_severity, crate::detect::Severity::Critical);
        assert_eq!(f.notify[1].label(), "webhook https://am.example:9093/");
        for (bad, want) in [
            ("[[notify]]\n", "exactly one"),
            ("[[notify]]\ncommand = []\n", "needs a program"),
            (
                "[[notify]]\ncommand = [\"x\"]\nwebhook = \"http://a/SECRET\"\n",
                "exactly one",
            ),
            (
                "[[notify]]\nwebhook = \"ftp://a/SECRET\"\n",
                "http:// or https://",
            ),
            (
                "[[notify]]\nwebhook = \"http://a/SECRET\"\nformat = \"xml\"\n",
                "unknown notification format",
            ),
            (
                "[[notify]]\nwebhook = \"http://a/SECRET\"\nmin_severity = \"loud\"\n",
                "unknown severity",
            ),
            ("[[notify]]\nurl = \"http://a/\"\n", "unknown field"),
        ] {
            let e = parse(p, &format!("[[host]]\nalias = \"a\"\n{bad}"))
                .err()
                .unwrap_or_default();
            assert!(
                e.contains(want) && e.contains("'h.toml'") && !e.contains("SECRET"),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn shell_metacharacters_in_aliases_are_refused() {
        let p = Path::new("h.toml");
        for alias in [
            "pi$(id>x)",
            "pi`id`",
            "pi;id",
            "pi|id",
            "pi&",
            "pi>x",
            "pi'x",
            "pi\"x",
            "pi\\x",
            "pi\u{7}x",
            "pi%n",
        ] {
            let e = from_alias(alias, None).unwrap_err();
            assert!(e.contains("--host"), "{alias:?}: {e}");
            let doc = format!("[[host]]\nalias = {}\n", toml::Value::String(alias.into()));
            let e = parse(p, &doc).unwrap_err();
            assert!(e.contains("'h.toml'"), "{alias:?}: {e}");
        }
        assert!(from_alias("pi-1.lan", None).is_ok());
        assert!(from_alias("::1", None).is_ok());
    }
}
