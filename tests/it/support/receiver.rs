//! A webhook receiver on 127.0.0.1 for the notification tests: it records
//! every request (path, headers, body) and answers with a status that can be
//! changed while it runs, or holds the connection without answering (a slow
//! receiver), over plain TCP or over TLS (rustls, a certificate the test
//! made). Each connection is served with deadlines and counted; the accept
//! loop stops when the receiver is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// How the receiver answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Read the request, then say nothing for this long.
    Hang(Duration),
}

pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Request>>>,
    pub answer: Arc<Mutex<Answer>>,
    /// Connections accepted (a TLS handshake that fails records no request).
    pub connections: Arc<AtomicUsize>,
    tls: bool,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn serve(
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    got: &Mutex<Vec<Request>>,
    answer: Answer,
) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
    let mut s: Box<dyn ReadWrite> = match tls {
        None => Box::new(tcp),
        Some(cfg) => match rustls::ServerConnection::new(cfg) {
            Ok(c) => Box::new(rustls::StreamOwned::new(c, tcp)),
            Err(_) => return,
        },
    };
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut b) {
            Ok(n) if n > 0 && buf.len() < 1 << 20 => buf.extend_from_slice(&b[..n]),
            _ => return,
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len.min(1 << 20) {
        match s.read(&mut b) {
            Ok(n) if n > 0 => buf.extend_from_slice(&b[..n]),
            _ => break,
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    if let Ok(mut g) = got.lock() {
        g.push(Request {
            path,
            headers,
            body,
            at: Instant::now(),
        });
    }
    match answer {
        Answer::Status(code) => {
            let _ = write!(
                s,
                "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.flush();
        }
        Answer::Hang(d) => std::thread::sleep(d),
    }
}

impl Receiver {
    pub fn start(answer: Answer) -> Receiver {
        Receiver::spawn(answer, None)
    }

    /// A receiver over TLS with `cfg`'s certificate.
    pub fn start_tls(answer: Answer, cfg: Arc<rustls::ServerConfig>) -> Receiver {
        Receiver::spawn(answer, Some(cfg))
    }

    fn spawn(answer: Answer, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let is_tls = tls.is_some();
        let l = TcpListener::bind("127.0.0.1:0").expect("bind a receiver on 127.0.0.1");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("receiver address");
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(Mutex::new(answer));
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let (g, a, st) = (Arc::clone(&got), Arc::clone(&answer), Arc::clone(&stop));
        let n = Arc::clone(&connections);
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((s, _)) => {
                        let _ = s.set_nonblocking(false);
                        n.fetch_add(1, Ordering::SeqCst);
                        let (g, ans, tls) = (Arc::clone(&g), *a.lock().unwrap(), tls.clone());
                        std::thread::spawn(move || serve(s, tls, &g, ans));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Receiver {
            addr,
            got,
            answer,
            connections,
            tls: is_tls,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    pub fn set(&self, a: Answer) {
        *self.answer.lock().unwrap() = a;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}
