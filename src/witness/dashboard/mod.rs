//! The live dashboard of `monitor --mode http`, local and fleet: a page is a
//! small shell (its CSS and script embedded from `dashboard.css` and
//! `dashboard.js`: nothing is loaded from anywhere else) around a live part
//! rendered here, on the server, with every remote string escaped; the
//! script replaces that part with each version the server pushes over
//! Server-Sent Events (`/live/<page>`, see [`super::http::server`]) and
//! ticks ages and elapsed times between pushes. Without the script the page
//! is still whole, only not live.
//!
//! [`model`] holds what a host page shows and how it is built from events
//! and metrics; [`host`] and [`svg`] render it.

pub mod host;
pub mod model;
pub mod svg;

use super::http::esc;

/// Bytes of HTML one name-like string from a host takes on a page (a
/// phase, a state, a project, a field's name or value, an exit cause …).
pub const SHORT: usize = 64;
/// Bytes of HTML one message from a host takes on a page (an alert's, an
/// error).
pub const LONG: usize = 240;

/// `s` escaped, cut (then `…`) before its HTML passes `max` bytes: how
/// every string from a host enters a page, so that a page's size has a
/// bound whatever the hosts send (`"` is six bytes of HTML).
pub fn text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 3);
    let mut buf = [0u8; 4];
    for c in s.chars() {
        let e = esc(c.encode_utf8(&mut buf));
        if out.len() + e.len() > max {
            out.push('\u{2026}');
            break;
        }
        out.push_str(&e);
    }
    out
}

const CSS: &str = include_str!("dashboard.css");
const JS: &str = include_str!("dashboard.js");

/// The SSE path of a page: `/` → `/live/`, `/host/pi` → `/live/host/pi`.
pub fn live_path(page: &str) -> String {
    format!("/live{page}")
}

/// A whole page: `title`, the navigation line `nav` (HTML), the live part
/// `fragment` (HTML) and the SSE source of its updates (`page`'s).
pub fn page(title: &str, page: &str, nav: &str, fragment: &str) -> String {
    let mut h = String::with_capacity(fragment.len() + CSS.len() + JS.len() + 1024);
    h.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    h.push_str(&esc(title));
    h.push_str("</title><style>");
    h.push_str(CSS);
    h.push_str("</style></head><body data-live=\"");
    h.push_str(&esc(&live_path(page)));
    h.push_str("\" data-updates=\"0\"><nav><span id=\"conn\">live</span>");
    h.push_str(nav);
    h.push_str("</nav><main id=\"live\">");
    h.push_str(fragment);
    h.push_str("</main><script>");
    h.push_str(JS);
    h.push_str("</script></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_loads_nothing_from_elsewhere() {
        let p = page("a<b", "/host/x\"y", "<a href=\"/\">fleet</a>", "<p>x</p>");
        assert!(p.contains("<title>a&lt;b</title>"));
        assert!(p.contains("data-live=\"/live/host/x&quot;y\""));
        for banned in ["http://", "https://", "src=", "@import", "url(", "refresh"] {
            assert!(!p.contains(banned), "{banned} in the shell");
        }
        assert!(p.len() < 8 * 1024, "{}", p.len());
    }
}
