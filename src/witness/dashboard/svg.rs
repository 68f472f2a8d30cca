//! Inline SVG for the host page: the rounds timeline (one bar per round,
//! height = duration, colour class = exit class) and sparklines. Every text
//! from a host goes through [`text`] (escaped, cut to a bound); numbers are
//! formatted here.

use super::model::RoundBar;
use super::{text, SHORT};
use crate::witness::http::esc;
use std::fmt::Write as _;

const TL_W: f64 = 500.0;
const TL_H: f64 = 80.0;

/// The timeline of `rounds` (oldest first). A running round's bar is as
/// tall as its `elapsed_s` so far.
pub fn timeline(rounds: &[RoundBar], running_elapsed_s: Option<f64>) -> String {
    let dur = |r: &RoundBar| {
        r.duration_s
            .or(if r.class() == "running" {
                running_elapsed_s
            } else {
                None
            })
            .filter(|d| d.is_finite() && *d >= 0.0)
    };
    let max = rounds.iter().filter_map(dur).fold(1.0_f64, f64::max);
    let n = rounds.len().max(1) as f64;
    let w = TL_W / n;
    let mut s = format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {TL_W} {TL_H}\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"last {} rounds\">",
        rounds.len()
    );
    for (i, r) in rounds.iter().enumerate() {
        let d = dur(r);
        let h = d.map_or(2.0, |d| (d / max * (TL_H - 2.0)).max(2.0));
        let _ = write!(
            s,
            "<rect class=\"bar b-{}\" data-round=\"{}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{:.2}\"><title>R{} {}\u{b7} {} \u{b7} {}</title></rect>",
            r.class(),
            r.round,
            i as f64 * w + w * 0.1,
            TL_H - h,
            (w * 0.8).max(0.5),
            h,
            r.round,
            r.phase.as_deref().map(|p| format!("{} ", text(p, SHORT))).unwrap_or_default(),
            d.map_or("-".to_string(), |d| format!("{d:.1} s")),
            text(r.exit_cause.as_deref().unwrap_or(if r.class() == "running" { "running" } else { "?" }), SHORT),
        );
    }
    s.push_str("</svg>");
    s
}

/// A sparkline of `(ago_s, value)` points (oldest first), with its newest
/// value, its range and `unit`; `None` when there is nothing to draw.
pub fn sparkline(label: &str, unit: &str, points: &[(f64, f64)]) -> Option<String> {
    let (first, last) = (points.first()?, points.last()?);
    let (lo, hi) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let span_t = (first.0 - last.0).max(1.0);
    let span_v = (hi - lo).max(1e-9);
    let mut pts = String::new();
    for (ago, v) in points {
        let x = (first.0 - ago) / span_t * 240.0;
        let y = 38.0 - (v - lo) / span_v * 36.0;
        let _ = write!(pts, "{x:.1},{y:.1} ");
    }
    let fmt = |v: f64| {
        if v.abs() >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    Some(format!(
        "<div class=\"spark\"><div class=\"spark-label\">{} <b>{}{unit}</b> <span class=\"muted\">({}\u{2013}{}{unit}, last {})</span></div><svg viewBox=\"0 0 240 40\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"{}\"><polyline points=\"{}\"/></svg></div>",
        esc(label),
        fmt(last.1),
        fmt(lo),
        fmt(hi),
        super::host::age(first.0.max(0.0)),
        esc(label),
        pts.trim_end()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(n: i64, d: Option<f64>, cause: Option<&str>) -> RoundBar {
        RoundBar {
            round: n,
            phase: Some("<b>".into()),
            started_at: None,
            duration_s: d,
            exit_cause: cause.map(String::from),
            exit_code: None,
            ended: cause.is_some(),
        }
    }

    #[test]
    fn one_bar_per_round_with_its_class_and_escaped_titles() {
        let rs = vec![
            bar(1, Some(10.0), Some("clean")),
            bar(2, Some(40.0), Some("timeout")),
            bar(3, None, None),
        ];
        let s = timeline(&rs, Some(20.0));
        assert_eq!(s.matches("<rect class=\"bar ").count(), 3);
        assert!(s.contains("b-ok") && s.contains("b-timeout") && s.contains("b-running"));
        assert!(!s.contains("<b>") && s.contains("&lt;b&gt;"), "{s}");
        // The longest round is the tallest bar.
        assert!(s.contains("y=\"2.00\" width"), "{s}");
    }

    #[test]
    fn sparkline_range_and_nothing_without_points() {
        assert!(sparkline("mem", " MiB", &[]).is_none());
        let s = sparkline("mem", " MiB", &[(60.0, 100.0), (30.0, 50.0), (0.0, 75.0)])
            .unwrap_or_default();
        assert!(
            s.contains("<b>75.0 MiB</b>")
                && s.contains("<polyline points=\"0.0,2.0 120.0,38.0 240.0,20.0\""),
            "{s}"
        );
    }
}
