//! A minimal HTTP/1.1 client for webhooks: one `POST` per connection
//! (`Connection: close`), over plain TCP for `http://` and rustls (ring,
//! the system's CA store) for `https://`. The whole exchange has one
//! deadline; only the response's status line is read (the head is capped at
//! [`MAX_HEAD`]), so a hostile or broken receiver costs bounded time and
//! memory. Redirects are not followed; proxies are not used.
//!
//! Errors never quote the URL (it may hold a token); they name the sink's
//! redacted form at most.

use super::url::WebhookUrl;
use super::DeliveryError;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Response bytes read at most before the status line must be whole.
pub const MAX_HEAD: usize = 8 * 1024;

fn io_err(what: &str, e: &std::io::Error) -> DeliveryError {
    // A certificate the CA store does not vouch for is not going to change
    // between retries.
    let tls = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    if let Some(t @ rustls::Error::InvalidCertificate(_)) = tls {
        return DeliveryError::fatal(format!("{what}: TLS: {t}"));
    }
    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        DeliveryError::retry(format!("{what}: no answer before the deadline"))
    } else {
        DeliveryError::retry(format!("{what}: {e}"))
    }
}

/// The TLS client configuration, built once: the ring provider and the
/// system's CA certificates (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, DeliveryError> {
    static CFG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CFG.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err("no CA certificates found for https (install the 'ca-certificates' package, or point SSL_CERT_FILE at a bundle)".to_string());
        }
        // ring, as for SSH (DESIGN §4: it cross-compiles without cmake);
        // rustls deprecates it only for having no post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| {
                Arc::new(
                    b.with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            })
            .map_err(|e| format!("cannot set up TLS: {e}"))
    })
    .clone()
    .map_err(DeliveryError::fatal)
}

fn connect(url: &WebhookUrl, deadline: Instant) -> Result<TcpStream, DeliveryError> {
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| DeliveryError::retry(format!("cannot resolve '{}': {e}", url.host)))?
        .collect();
    let mut last = DeliveryError::retry(format!("'{}' has no address", url.host));
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DeliveryError::retry(
                "connect: no answer before the deadline",
            ));
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = io_err(&format!("connect to {a}"), &e),
        }
    }
    Err(last)
}

fn base64(data: &[u8]) -> String {
    data_encoding::BASE64.encode(data)
}

/// The request bytes.
fn request(
    url: &WebhookUrl,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut h = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: agent-runner/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.path_query,
        url.authority(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    if let Some((u, p)) = &url.userinfo {
        h.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{u}:{p}").as_bytes())
        ));
    }
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str("\r\n");
    let mut out = h.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Read the status line: the status code and its reason (printable, short).
fn read_status(s: &mut dyn Read) -> Result<(u16, String), DeliveryError> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut parts = line.splitn(3, ' ');
            let version = parts.next().unwrap_or("");
            let code = parts.next().and_then(|c| c.parse::<u16>().ok());
            let reason: String = parts
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| (' '..='~').contains(c))
                .take(60)
                .collect();
            return match code {
                Some(c) if version.starts_with("HTTP/") && (100..600).contains(&c) => {
                    Ok((c, reason))
                }
                _ => Err(DeliveryError::retry(
                    "the receiver did not answer with HTTP",
                )),
            };
        }
        if buf.len() >= MAX_HEAD {
            return Err(DeliveryError::retry(
                "the receiver's answer has no status line",
            ));
        }
        match s.read(&mut chunk) {
            Ok(0) => {
                return Err(DeliveryError::retry(
                    "the receiver closed the connection without an answer",
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("reading the answer", &e)),
        }
    }
}

/// A stream whose reads and writes time out at `deadline`.
fn exchange(
    s: &mut dyn ReadWrite,
    tcp: &TcpStream,
    req: &[u8],
    deadline: Instant,
) -> Result<(u16, String), DeliveryError> {
    let left = || {
        let l = deadline.saturating_duration_since(Instant::now());
        if l.is_zero() {
            Err(DeliveryError::retry("no answer before the deadline"))
        } else {
            Ok(l)
        }
    };
    tcp.set_write_timeout(Some(left()?))
        .map_err(|e| io_err("socket", &e))?;
    s.write_all(req).map_err(|e| io_err("sending", &e))?;
    s.flush().map_err(|e| io_err("sending", &e))?;
    tcp.set_read_timeout(Some(left()?))
        .map_err(|e| io_err("socket", &e))?;
    read_status(s)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// POST `body` to `url` within `timeout`. `Ok` is a 2xx answer.
pub fn post(
    url: &WebhookUrl,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<u16, DeliveryError> {
    let deadline = Instant::now() + timeout;
    let req = request(url, content_type, headers, body);
    let tcp = connect(url, deadline)?;
    let (code, reason) = if url.tls {
        let cfg = tls_config()?;
        let name = rustls::pki_types::ServerName::try_from(url.host.clone()).map_err(|_| {
            DeliveryError::fatal(format!("'{}' is not a valid TLS server name", url.host))
        })?;
        let conn = rustls::ClientConnection::new(cfg, name)
            .map_err(|e| DeliveryError::fatal(format!("TLS: {e}")))?;
        let probe = tcp.try_clone().map_err(|e| io_err("socket", &e))?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        exchange(&mut tls, &probe, &req, deadline)?
    } else {
        let mut s = tcp.try_clone().map_err(|e| io_err("socket", &e))?;
        exchange(&mut s, &tcp, &req, deadline)?
    };
    match code {
        200..=299 => Ok(code),
        300..=399 => Err(DeliveryError::fatal(format!(
            "the receiver answered {code} {reason} (a redirect: give the final URL)"
        ))),
        408 | 429 => Err(DeliveryError::retry(format!(
            "the receiver answered {code} {reason}"
        ))),
        400..=499 => Err(DeliveryError::fatal(format!(
            "the receiver answered {code} {reason}"
        ))),
        _ => Err(DeliveryError::retry(format!(
            "the receiver answered {code} {reason}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn url(s: &str) -> WebhookUrl {
        WebhookUrl::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn request_carries_host_auth_and_headers() {
        let r = request(
            &url("http://u:p@h.example:8080/x?t=1"),
            "text/plain",
            &[("Title", "T".into())],
            b"hi",
        );
        let r = String::from_utf8_lossy(&r);
        assert!(
            r.starts_with("POST /x?t=1 HTTP/1.1\r\nHost: h.example:8080\r\n"),
            "{r}"
        );
        assert!(r.contains("Authorization: Basic dTpw\r\n"), "{r}");
        assert!(
            r.contains("Title: T\r\nContent") || r.contains("Title: T\r\n\r\nhi"),
            "{r}"
        );
        assert!(r.ends_with("\r\n\r\nhi"), "{r}");
    }

    /// A one-shot receiver answering `answer` (or nothing, holding the
    /// connection for `hold`).
    fn receiver(
        answer: &'static str,
        hold: Duration,
    ) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = l.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let t = std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else {
                return Vec::new();
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(300)));
            let mut got = Vec::new();
            let mut b = [0u8; 4096];
            while let Ok(n) = s.read(&mut b) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&b[..n]);
            }
            std::thread::sleep(hold);
            let _ = s.write_all(answer.as_bytes());
            got
        });
        (format!("http://{addr}/hook?token=SECRET"), t)
    }

    #[test]
    fn statuses_map_to_success_retry_or_permanent() {
        let (u, t) = receiver("HTTP/1.1 204 No Content\r\n\r\n", Duration::ZERO);
        assert_eq!(
            post(
                &url(&u),
                "application/json",
                &[],
                b"{}",
                Duration::from_secs(5)
            ),
            Ok(204)
        );
        let got = t.join().unwrap_or_default();
        assert!(String::from_utf8_lossy(&got).ends_with("\r\n\r\n{}"));

        let (u, _t) = receiver("HTTP/1.0 500 Boom\r\n\r\n", Duration::ZERO);
        let e = post(
            &url(&u),
            "application/json",
            &[],
            b"{}",
            Duration::from_secs(5),
        )
        .err();
        assert!(
            e.as_ref()
                .is_some_and(|e| !e.permanent && e.message.contains("500 Boom")),
            "{e:?}"
        );

        let (u, _t) = receiver("HTTP/1.1 403 Forbidden\r\n\r\n", Duration::ZERO);
        let e = post(
            &url(&u),
            "application/json",
            &[],
            b"{}",
            Duration::from_secs(5),
        )
        .err();
        assert!(e.as_ref().is_some_and(|e| e.permanent), "{e:?}");

        // Slow: answers after the deadline.
        let (u, _t) = receiver("HTTP/1.1 200 OK\r\n\r\n", Duration::from_secs(3));
        let t0 = Instant::now();
        let e = post(
            &url(&u),
            "application/json",
            &[],
            b"{}",
            Duration::from_secs(1),
        )
        .err();
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        let e = e.unwrap_or_else(|| panic!("a slow receiver succeeded"));
        assert!(
            e.message.contains("deadline") && !e.message.contains("SECRET"),
            "{e:?}"
        );

        // Down: nothing listens.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(1);
        let e = post(
            &url(&format!("http://127.0.0.1:{port}/x?token=SECRET")),
            "application/json",
            &[],
            b"{}",
            Duration::from_secs(2),
        )
        .err();
        assert!(
            e.as_ref()
                .is_some_and(|e| !e.permanent && !e.message.contains("SECRET")),
            "{e:?}"
        );

        // Garbage instead of HTTP, and a flood without a line end.
        let (u, _t) = receiver("SSH-2.0-x\r\n", Duration::ZERO);
        assert!(post(&url(&u), "a", &[], b"", Duration::from_secs(5)).is_err());
    }
}
