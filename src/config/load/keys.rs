//! The machinery that checks keys: which keys each table allows (read from
//! the key table, `config::table`; an unknown key is an error naming it and
//! the allowed ones), dotted key names, sub-table lookup, and reading an
//! optional or a required key.

use super::{got, Loader, R};
use toml::{Table, Value};

/// The keys `table` allows (`""` is the top level, `phases.<name>` a
/// phase table), from the key table (`config::table`).
pub(super) fn allowed(table: &str) -> Vec<&'static str> {
    crate::config::table::allowed(table)
}

/// The 0.2 flat `[monitor.host_health]` keys and their 0.3 homes:
/// `(flat name, sub-table, key)`.
pub(super) fn hh_flat() -> Vec<(&'static str, &'static str, &'static str)> {
    crate::config::table::aliases("monitor.host_health")
}

/// The 0.3 sub-tables of `[monitor.host_health]`.
pub(super) const HH_SUBTABLES: &[&str] = &["memory", "disk", "pressure", "brake"];

/// Every `[monitor.host_health]` key in its 0.3 form (`pressure.in_round_nudge`),
/// from the key table.
pub fn host_health_keys() -> Vec<String> {
    crate::config::table::all()
        .filter(|k| !k.refused())
        .filter_map(|k| {
            let sub = k.table.strip_prefix("monitor.host_health.")?;
            HH_SUBTABLES
                .contains(&sub)
                .then(|| format!("{sub}.{}", k.name))
        })
        .collect()
}

/// `prefix.key`, or `key` at the top level.
pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

impl Loader {
    pub(super) fn check_keys(&self, t: &Table, prefix: &str, allowed: &[&str]) -> R<()> {
        for key in t.keys() {
            if !allowed.contains(&key.as_str()) {
                let what = if prefix.is_empty() {
                    "unknown top-level key".to_string()
                } else {
                    format!("unknown key in [{prefix}]")
                };
                return Err(self.err(
                    &join(prefix, key),
                    format!("{what}; allowed: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn table<'a>(&self, t: &'a Table, prefix: &str, key: &str) -> R<Option<&'a Table>> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Table(sub)) => Ok(Some(sub)),
            Some(v) => Err(self.err(
                &join(prefix, key),
                format!("must be a table ([{}]), got {}", join(prefix, key), got(v)),
            )),
        }
    }

    /// `prefix.key` read with `read`, or None when the key is absent.
    pub(super) fn opt<T>(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
        read: impl FnOnce(&Self, &Value, &str) -> R<T>,
    ) -> R<Option<T>> {
        match t.get(key) {
            Some(v) => read(self, v, &join(prefix, key)).map(Some),
            None => Ok(None),
        }
    }

    /// `prefix.key` read with `read`; when absent, the error "required" and
    /// what to write (`hint`).
    pub(super) fn req<T>(
        &self,
        t: &Table,
        prefix: &str,
        key: &str,
        read: impl FnOnce(&Self, &Value, &str) -> R<T>,
        hint: &str,
    ) -> R<T> {
        match t.get(key) {
            Some(v) => read(self, v, &join(prefix, key)),
            None => Err(self.err(&join(prefix, key), format!("required {hint}"))),
        }
    }

    /// `key` set together with `other`, its name in the other schema version.
    pub(super) fn both_names(&self, key: &str, other: &str) -> super::ConfigError {
        self.err(
            key,
            format!("set together with {other}; they are the same setting (0.2 and 0.3 names), keep one"),
        )
    }
}
