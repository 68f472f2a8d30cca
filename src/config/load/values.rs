//! The type readers: one TOML value at a dotted key read as the type a key
//! wants (positive integer, number in a range, boolean, string, list of
//! strings, one of a set of names, regex list), each error one line saying
//! what was expected and what was got.

use super::{Loader, R};
use regex::Regex;
use toml::Value;

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Boolean(_) => "boolean",
        Value::Datetime(_) => "datetime",
        Value::Array(_) => "array",
        Value::Table(_) => "table",
    }
}

/// `string ("abc")`, `integer (5)`, `array`, … for "got …" in messages.
pub(super) fn got(v: &Value) -> String {
    let shown = match v {
        Value::String(s) => {
            let mut q = serde_json::Value::String(s.clone()).to_string();
            if q.len() > 80 {
                let mut cut = 76;
                while !q.is_char_boundary(cut) {
                    cut -= 1;
                }
                q.truncate(cut);
                q.push_str("...\"");
            }
            q
        }
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => d.to_string(),
        Value::Array(_) | Value::Table(_) => return type_name(v).to_string(),
    };
    format!("{} ({shown})", type_name(v))
}

/// One line from a possibly multi-line regex error.
pub(super) fn one_line_regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("error: ").map(str::to_string))
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

impl Loader {
    pub(super) fn pos_int(&self, v: &Value, key: &str) -> R<u64> {
        match v {
            Value::Integer(i) if *i > 0 => Ok(*i as u64),
            _ => Err(self.err(key, format!("must be a positive integer, got {}", got(v)))),
        }
    }

    pub(super) fn nonneg_int(&self, v: &Value, key: &str) -> R<u64> {
        match v {
            Value::Integer(i) if *i >= 0 => Ok(*i as u64),
            _ => Err(self.err(key, format!("must be an integer >= 0, got {}", got(v)))),
        }
    }

    pub(super) fn int_range(&self, v: &Value, key: &str, lo: i64, hi: i64) -> R<u64> {
        match v {
            Value::Integer(i) if (lo..=hi).contains(i) => Ok(*i as u64),
            _ => Err(self.err(
                key,
                format!("must be an integer from {lo} to {hi}, got {}", got(v)),
            )),
        }
    }

    pub(super) fn boolean(&self, v: &Value, key: &str) -> R<bool> {
        match v {
            Value::Boolean(b) => Ok(*b),
            _ => Err(self.err(key, format!("must be true or false, got {}", got(v)))),
        }
    }

    pub(super) fn string(&self, v: &Value, key: &str) -> R<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(self.err(key, format!("must be a string, got {}", got(v)))),
        }
    }

    pub(super) fn str_list(&self, v: &Value, key: &str) -> R<Vec<String>> {
        match v {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(self.err(
                        &format!("{key}[{i}]"),
                        format!("must be a string, got {}", got(other)),
                    )),
                })
                .collect(),
            Value::String(s) => Err(self.err(
                key,
                format!(
                    "must be an array of strings, got {} (write [{}])",
                    got(v),
                    serde_json::Value::String(s.clone())
                ),
            )),
            _ => Err(self.err(key, format!("must be an array of strings, got {}", got(v)))),
        }
    }

    fn number(&self, v: &Value, key: &str, expected: &str) -> R<f64> {
        let f = match v {
            Value::Integer(i) => *i as f64,
            Value::Float(f) => *f,
            _ => return Err(self.err(key, format!("must be {expected}, got {}", got(v)))),
        };
        if f.is_nan() {
            return Err(self.err(key, format!("must be {expected}, got {}", got(v))));
        }
        Ok(f)
    }

    pub(super) fn pct(&self, v: &Value, key: &str) -> R<f64> {
        let what = "a number from 0 to 100";
        let f = self.number(v, key, what)?;
        if !(0.0..=100.0).contains(&f) {
            return Err(self.err(key, format!("must be {what}, got {}", got(v))));
        }
        Ok(f)
    }

    pub(super) fn pos_pct(&self, v: &Value, key: &str) -> R<f64> {
        let what = "a number above 0 and at most 100";
        let f = self.number(v, key, what)?;
        if !(f > 0.0 && f <= 100.0) {
            return Err(self.err(key, format!("must be {what}, got {}", got(v))));
        }
        Ok(f)
    }

    pub(super) fn pos_float(&self, v: &Value, key: &str) -> R<f64> {
        let what = "a positive number";
        let f = self.number(v, key, what)?;
        if !(f > 0.0 && f.is_finite()) {
            return Err(self.err(key, format!("must be {what}, got {}", got(v))));
        }
        Ok(f)
    }

    pub(super) fn choice<T: Copy>(&self, v: &Value, key: &str, options: &[(&str, T)]) -> R<T> {
        if let Value::String(s) = v {
            if let Some((_, t)) = options.iter().find(|(n, _)| n == s) {
                return Ok(*t);
            }
        }
        let names: Vec<String> = options.iter().map(|(n, _)| format!("'{n}'")).collect();
        Err(self.err(
            key,
            format!("must be one of {}, got {}", names.join(", "), got(v)),
        ))
    }

    pub(super) fn regex_list(&self, v: &Value, key: &str, case_insensitive: bool) -> R<Vec<Regex>> {
        let pats = self.str_list(v, key)?;
        pats.iter()
            .enumerate()
            .map(|(i, p)| {
                let src = if case_insensitive {
                    format!("(?i){p}")
                } else {
                    p.clone()
                };
                Regex::new(&src).map_err(|e| {
                    self.err(
                        &format!("{key}[{i}]"),
                        format!(
                            "invalid regex {}: {}",
                            serde_json::Value::String(p.clone()),
                            one_line_regex_error(&e)
                        ),
                    )
                })
            })
            .collect()
    }
}
