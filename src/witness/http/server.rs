//! The HTTP/1.0 server under both pages (the local one, and the fleet view
//! through [`serve_with`]): one short-lived thread per connection, at most
//! [`MAX_CONNECTIONS`] at once.
//!
//! Every client is hostile: a request must arrive whole within
//! [`REQUEST_DEADLINE`] (a slow or silent client is answered 408 and
//! dropped, so it cannot hold a slot longer), its head is capped
//! ([`MAX_HEAD`]), the response must be taken within [`RESPONSE_DEADLINE`],
//! and only requests whose `Host:` names localhost or a loopback address are
//! answered (421 otherwise): a web page the browser was tricked into
//! resolving to 127.0.0.1 (DNS rebinding) still sends its own host name.
//!
//! A site with a [`Live`] renderer also answers `GET /live/<page>` with a
//! Server-Sent Events stream of that page's live part: after the request
//! head (same deadline, same checks) the connection leaves the request slots
//! for one of [`MAX_STREAMS`] stream slots; the part is rendered every
//! [`Site::tick`] and sent when it changed (a comment every
//! [`STREAM_HEARTBEAT`] otherwise); every write must be taken within
//! [`RESPONSE_DEADLINE`], so a client that stops reading is dropped, a
//! client that closes its end is noticed within 100 ms, and a stream ends
//! after [`STREAM_MAX_AGE`] (the browser reconnects) or when the server
//! stops.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// A request handler: (method, path) → response.
pub type Handler = Arc<dyn Fn(&str, &str) -> Response + Send + Sync>;

/// A page's live part: page path (`/`, `/host/pi`) → its HTML, or `None`
/// when there is no such page (any more).
pub type Live = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a server serves: the handler, and optionally live parts over SSE.
#[derive(Clone)]
pub struct Site {
    pub handler: Handler,
    pub live: Option<Live>,
    /// How often a stream renders its part again.
    pub tick: Duration,
}

/// SSE streams served at once; more are answered 503.
pub const MAX_STREAMS: usize = 8;
/// A stream that sent nothing for this long sends a comment (a client that
/// went away is noticed by the write).
pub const STREAM_HEARTBEAT: Duration = Duration::from_secs(15);
/// A stream is closed after this long; the browser's EventSource reconnects.
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(600);

/// Connections served at once; more are answered 503 and closed at once.
pub const MAX_CONNECTIONS: usize = 16;
/// A request (its line and headers) must arrive whole within this time.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// The response must be taken by the client within this time.
pub const RESPONSE_DEADLINE: Duration = Duration::from_secs(10);
/// A request head longer than this is refused (431).
pub const MAX_HEAD: usize = 16 * 1024;

/// Whether a `Host:` value names this machine's loopback: `localhost` (any
/// case), an IPv4 address in 127.0.0.0/8 or `[::1]`, each with an optional
/// port.
pub fn is_loopback_host(host: &str) -> bool {
    let port_ok = |p: Option<&str>| match p {
        None => true,
        Some(p) => {
            p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        }
    };
    if let Some(rest) = host.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        let port = match after {
            "" => None,
            a => match a.strip_prefix(':') {
                Some(p) => Some(p),
                None => return false,
            },
        };
        return inside.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()) && port_ok(port);
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    port_ok(port)
        && (name.eq_ignore_ascii_case("localhost")
            || name.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()))
}

/// What became of reading a request head.
enum Head {
    /// Line and headers, up to the blank line (or what came before EOF).
    Complete(Vec<u8>),
    /// Not whole within [`REQUEST_DEADLINE`].
    TimedOut,
    /// Longer than [`MAX_HEAD`].
    TooLarge,
    /// Closed before sending anything.
    Empty,
}

fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

/// Read the request head, all of it before `deadline`.
fn read_head(s: &mut TcpStream, deadline: Instant) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if head_complete(&buf) {
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Head::TimedOut);
        }
        s.set_read_timeout(Some(left))?;
        match s.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(Head::Empty),
            // A client that half-closed after its request line.
            Ok(0) => return Ok(Head::Complete(buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(Head::TimedOut)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Decide on a request head: the (method, path) to hand to the handler, or
/// the refusal to send instead.
fn check(head: &[u8], local_port: u16) -> Result<(String, String), Response> {
    let refuse = |status: u16, body: String| Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
    };
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let version = first.next().unwrap_or("");
    let hosts: Vec<&str> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("host"))
        .map(|(_, value)| value.trim())
        .collect();
    // HTTP/1.0 may omit Host (browsers always send one); HTTP/1.1 must not.
    let host_optional = version.is_empty() || version == "HTTP/1.0";
    match hosts.as_slice() {
        [] if host_optional => Ok((method, path)),
        [] => Err(refuse(
            400,
            "an HTTP/1.1 request needs a Host header\n".into(),
        )),
        [h] if is_loopback_host(h) => Ok((method, path)),
        [_] => Err(refuse(
            421,
            format!(
                "this page answers only requests addressed to localhost or a loopback address \
                 (the Host header names another host: DNS rebinding?); open \
                 http://127.0.0.1:{local_port}/\n"
            ),
        )),
        _ => Err(refuse(400, "more than one Host header\n".into())),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

fn encode(r: &Response) -> Vec<u8> {
    let mut msg = format!(
        "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    )
    .into_bytes();
    msg.extend_from_slice(r.body.as_bytes());
    msg
}

/// Write all of `data` before `deadline` (a client that reads slowly is
/// dropped at the deadline).
fn write_by(s: &mut TcpStream, mut data: &[u8], deadline: Instant) -> std::io::Result<()> {
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "the client did not take the response in time",
            ));
        }
        s.set_write_timeout(Some(left))?;
        match s.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// What one connection thread shares with the accept loop.
struct Shared {
    site: Site,
    /// Request slots taken.
    busy: Arc<AtomicUsize>,
    /// Stream slots taken.
    streams: Arc<AtomicUsize>,
    /// Set when the accept loop returns: streams end.
    closing: Arc<AtomicBool>,
}

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

/// Serve one connection. Returns after releasing the request slot itself
/// when the connection became a stream (then `Ok(true)`).
fn serve_conn(sh: &Shared, mut s: TcpStream) -> std::io::Result<bool> {
    let start = Instant::now();
    let r = match read_head(&mut s, start + REQUEST_DEADLINE)? {
        Head::Empty => return Ok(false),
        Head::TimedOut => text(
            408,
            &format!(
                "the request did not arrive whole within {} s\n",
                REQUEST_DEADLINE.as_secs()
            ),
        ),
        Head::TooLarge => text(431, "request head too large\n"),
        Head::Complete(head) => {
            let port = s.local_addr().map(|a| a.port()).unwrap_or_default();
            match check(&head, port) {
                Ok((method, path)) => match (&sh.site.live, path.strip_prefix("/live")) {
                    (Some(live), Some(page)) if method == "GET" && page.starts_with('/') => {
                        if let Err(e) = stream(sh, live, page, s) {
                            tracing::debug!("http stream: {e}");
                        }
                        return Ok(true);
                    }
                    _ => (sh.site.handler)(&method, &path),
                },
                Err(refusal) => refusal,
            }
        }
    };
    write_by(&mut s, &encode(&r), Instant::now() + RESPONSE_DEADLINE)?;
    s.flush()?;
    Ok(false)
}

/// One SSE message: `event: <kind>` and the data, one `data:` line per line
/// (a CR, which SSE also takes for a line end, becomes a blank).
fn sse(kind: &str, data: &str) -> Vec<u8> {
    let mut m = format!("event: {kind}\n");
    for line in data.split('\n') {
        m.push_str("data: ");
        m.push_str(&line.replace('\r', " "));
        m.push('\n');
    }
    m.push('\n');
    m.into_bytes()
}

/// Whether the client closed its end (it sends nothing after its request,
/// so a readable socket means EOF or junk; either ends the stream): a
/// closed page gives its slot back at once, not at the next write.
fn peer_closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let r = s.peek(&mut b);
    let back = s.set_nonblocking(false);
    match r {
        Err(e) if e.kind() == ErrorKind::WouldBlock => back.is_err(),
        _ => true,
    }
}

/// Move from a request slot to a stream slot, then stream `page`'s live
/// part until the client goes, the part is gone, the stream is old or the
/// server stops.
fn stream(sh: &Shared, live: &Live, page: &str, mut s: TcpStream) -> std::io::Result<()> {
    let taken = sh.streams.fetch_add(1, Ordering::SeqCst);
    sh.busy.fetch_sub(1, Ordering::SeqCst);
    struct Slot<'a>(&'a AtomicUsize);
    impl Drop for Slot<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _slot = Slot(&sh.streams);
    let deadline = || Instant::now() + RESPONSE_DEADLINE;
    if taken >= MAX_STREAMS {
        let r = text(
            503,
            "too many live views open; close one, or reload later\n",
        );
        return write_by(&mut s, &encode(&r), deadline());
    }
    let Some(first) = live(page) else {
        let r = text(404, &format!("no such page '{page}'\n"));
        return write_by(&mut s, &encode(&r), deadline());
    };
    let head = "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nretry: 2000\n\n";
    write_by(&mut s, head.as_bytes(), deadline())?;
    write_by(&mut s, &sse("update", &first), deadline())?;
    let opened = Instant::now();
    let mut last = first;
    let mut sent = Instant::now();
    while opened.elapsed() < STREAM_MAX_AGE {
        let wake = Instant::now() + sh.site.tick;
        while Instant::now() < wake {
            if sh.closing.load(Ordering::SeqCst) || peer_closed(&s) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100).min(sh.site.tick));
        }
        match live(page) {
            None => return write_by(&mut s, &sse("gone", ""), deadline()),
            Some(part) if part != last => {
                write_by(&mut s, &sse("update", &part), deadline())?;
                last = part;
                sent = Instant::now();
            }
            Some(_) if sent.elapsed() >= STREAM_HEARTBEAT => {
                write_by(&mut s, b": still here\n\n", deadline())?;
                sent = Instant::now();
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Accept connections until `stop` is set (checked every 100 ms), answering
/// each with `handler`.
pub fn serve_with(
    handler: Handler,
    listener: TcpListener,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    serve_site(
        Site {
            handler,
            live: None,
            tick: Duration::from_secs(1),
        },
        listener,
        stop,
    )
}

/// Accept connections until `stop` is set (checked every 100 ms), answering
/// each from `site`.
pub fn serve_site(site: Site, listener: TcpListener, stop: &AtomicBool) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let busy = Arc::new(AtomicUsize::new(0));
    let closing = Arc::new(AtomicBool::new(false));
    // Streams end when this function returns, however it returns.
    struct Closing(Arc<AtomicBool>);
    impl Drop for Closing {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let _closing = Closing(Arc::clone(&closing));
    let shared = Arc::new(Shared {
        site,
        busy: Arc::clone(&busy),
        streams: Arc::new(AtomicUsize::new(0)),
        closing,
    });
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((s, _)) => {
                if busy.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    // One small write to a fresh socket: it cannot block.
                    let _ = s.set_nonblocking(true);
                    let busy_reply = Response {
                        status: 503,
                        content_type: "text/plain; charset=utf-8",
                        body: "busy, retry in a few seconds\n".into(),
                    };
                    let _ = (&s).write(&encode(&busy_reply));
                    continue;
                }
                if let Err(e) = s.set_nonblocking(false) {
                    tracing::debug!("http connection: {e}");
                    continue;
                }
                let sh = Arc::clone(&shared);
                busy.fetch_add(1, Ordering::SeqCst);
                let spawned =
                    std::thread::Builder::new()
                        .name("http-conn".into())
                        .spawn(move || {
                            match serve_conn(&sh, s) {
                                // A stream gave its request slot back itself.
                                Ok(true) => return,
                                Ok(false) => {}
                                Err(e) => tracing::debug!("http connection: {e}"),
                            }
                            sh.busy.fetch_sub(1, Ordering::SeqCst);
                        });
                if let Err(e) = spawned {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    tracing::warn!("http: cannot start a connection thread: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => {
                tracing::warn!("http accept: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_host_values() {
        for ok in [
            "localhost",
            "LOCALHOST:8765",
            "127.0.0.1",
            "127.255.0.9:1",
            "[::1]",
            "[::1]:65535",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "128.0.0.1",
            "0.0.0.0",
            "[::]",
            "[::1]x",
            "[::1]:",
            "[::1",
            "::1",
            "localhost:",
            "localhost:65536",
            "localhost:80:80",
            "localhost:+80",
        ] {
            assert!(!is_loopback_host(bad), "{bad:?}");
        }
    }

    #[test]
    fn requests_are_checked_before_the_handler() {
        let ok = |h: &str| check(h.as_bytes(), 1).map_err(|r| r.status);
        assert_eq!(
            ok("GET /x HTTP/1.1\r\nHost: localhost:1\r\n\r\n"),
            Ok(("GET".into(), "/x".into()))
        );
        assert_eq!(ok("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"), Err(421));
        assert_eq!(ok("GET / HTTP/1.1\r\n\r\n"), Err(400));
        assert_eq!(ok("GET / HTTP/1.0\n\n").map(|x| x.1), Ok("/".into()));
        // A Host after the blank line is body, not a header.
        assert_eq!(ok("GET / HTTP/1.1\r\n\r\nHost: localhost\r\n"), Err(400));
        assert_eq!(
            ok("GET / HTTP/1.1\r\nHost: localhost\r\nHOST: localhost\r\n\r\n"),
            Err(400)
        );
    }
}
