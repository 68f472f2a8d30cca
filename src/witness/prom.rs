//! The Prometheus text exposition format (0.0.4), written by one small
//! writer for both `/metrics` pages (the local one in [`super::http`], the
//! fleet's in `crate::fleet::display`): every metric family opens with its
//! `# HELP` and `# TYPE` lines and keeps its samples together, label values
//! and help text are escaped as the format says, and values print as
//! Prometheus reads them (`+Inf`, `-Inf`, `NaN`).
//!
//! Naming follows the Prometheus conventions that `promtool check metrics`
//! lints: base units in the name (`_bytes`, `_seconds`), `_total` on counters
//! and only on counters. `tests/metrics_promtool.rs` runs promtool on both
//! pages.

use std::fmt::Write as _;

/// The `Content-Type` of a `/metrics` answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Gauge,
    Counter,
}

impl Type {
    fn as_str(self) -> &'static str {
        match self {
            Type::Gauge => "gauge",
            Type::Counter => "counter",
        }
    }
}

/// A `/metrics` body being written, one family after the other.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// One open family: its samples go right under its HELP and TYPE lines.
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Open a gauge family (its HELP and TYPE lines).
    pub fn gauge(&mut self, name: &'static str, help: &str) -> Family<'_> {
        self.family(name, Type::Gauge, help)
    }

    /// Open a counter family; its name ends in `_total`.
    pub fn counter(&mut self, name: &'static str, help: &str) -> Family<'_> {
        self.family(name, Type::Counter, help)
    }

    /// Open a family. A family with no samples is still announced (valid,
    /// and it tells a reader the series exists).
    pub fn family(&mut self, name: &'static str, kind: Type, help: &str) -> Family<'_> {
        debug_assert!(valid_metric_name(name), "metric name '{name}'");
        debug_assert_eq!(
            kind == Type::Counter,
            name.ends_with("_total"),
            "'{name}': counters, and only counters, end in _total"
        );
        debug_assert!(
            !self.out.contains(&format!("# TYPE {name} ")),
            "family '{name}' written twice"
        );
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        Family {
            out: &mut self.out,
            name,
        }
    }

    /// The body.
    pub fn finish(self) -> String {
        self.out
    }
}

impl Family<'_> {
    /// One sample: `name{label="value",…} value`.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                debug_assert!(valid_label_name(k), "label name '{k}'");
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label_value(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(&value_text(value));
        self.out.push('\n');
        self
    }
}

/// A label value: `\`, `"` and line feed escaped.
pub fn escape_label_value(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// Help text: `\` and line feed escaped.
fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus parses it (Go's float syntax).
fn value_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{x}")
    }
}

fn valid_metric_name(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(n: &str) -> bool {
    let mut cs = n.chars();
    !n.starts_with("__")
        && cs
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_open_with_help_and_type_and_escape_labels() {
        let mut e = Exposition::new();
        e.gauge("a_up", "1 when up;\nback\\slash.")
            .sample(&[("host", "b\"x\\y\nz")], 1.0)
            .sample(&[("host", "pi"), ("detector", "hung")], 0.0);
        e.counter("a_events_total", "Events.").sample(&[], 3.0);
        e.gauge("a_empty", "No samples.");
        e.gauge("a_odd", "Odd values.")
            .sample(&[("v", "inf")], f64::INFINITY)
            .sample(&[("v", "-inf")], f64::NEG_INFINITY)
            .sample(&[("v", "nan")], f64::NAN)
            .sample(&[("v", "big")], 4530896896.0)
            .sample(&[("v", "frac")], 0.25);
        assert_eq!(
            e.finish(),
            "# HELP a_up 1 when up;\\nback\\\\slash.\n# TYPE a_up gauge\n\
             a_up{host=\"b\\\"x\\\\y\\nz\"} 1\n\
             a_up{host=\"pi\",detector=\"hung\"} 0\n\
             # HELP a_events_total Events.\n# TYPE a_events_total counter\n\
             a_events_total 3\n\
             # HELP a_empty No samples.\n# TYPE a_empty gauge\n\
             # HELP a_odd Odd values.\n# TYPE a_odd gauge\n\
             a_odd{v=\"inf\"} +Inf\n\
             a_odd{v=\"-inf\"} -Inf\n\
             a_odd{v=\"nan\"} NaN\n\
             a_odd{v=\"big\"} 4530896896\n\
             a_odd{v=\"frac\"} 0.25\n"
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_metric_name("agent_runner_up"));
        assert!(!valid_metric_name("1x") && !valid_metric_name("a-b") && !valid_metric_name(""));
        assert!(valid_label_name("host") && !valid_label_name("__x") && !valid_label_name("a.b"));
    }
}
