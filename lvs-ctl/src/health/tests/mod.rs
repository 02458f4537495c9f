//! Health checks against real servers on loopback (127.0.0.1 and ::1 only). Every test runs
//! under [`bounded`], on its own ephemeral ports.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use super::*;
use super::{error::ProbeError, probe::Prober};

mod monitor;
mod probes;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Fails the test if `f` takes longer than `limit`.
async fn bounded<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .expect("test exceeded its time bound")
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn spec(kind: CheckKind, interval: Duration, timeout: Duration, rise: u32, fall: u32) -> CheckSpec {
    CheckSpec {
        kind,
        interval,
        timeout,
        rise,
        fall,
    }
}

/// One probe of `kind` at `addr`: its result and the cause it would be reported with.
async fn probe_once(
    addr: SocketAddr,
    kind: CheckKind,
    timeout: Duration,
) -> (Result<String, ProbeError>, String) {
    let prober = Prober::new(Target::new(addr), spec(kind, ms(1000), timeout, 1, 1));
    let result = prober.probe().await;
    let cause = prober.cause(&result);
    (result, cause)
}

fn tcp_check() -> CheckKind {
    CheckKind::Connect {
        proto: Protocol::Tcp,
    }
}

/// A loopback port that nothing listens on (bound, then released).
async fn closed_tcp_port() -> SocketAddr {
    let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind tcp");
    l.local_addr().expect("local addr")
}

async fn closed_udp_port() -> SocketAddr {
    let s = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind udp");
    s.local_addr().expect("local addr")
}

fn ipv6_loopback_available() -> bool {
    std::net::UdpSocket::bind("[::1]:0").is_ok()
}

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 server.

/// What the test server saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    host: Option<String>,
}

/// How the test server answers.
#[derive(Clone)]
enum Reply {
    /// Status and body, then close.
    Fixed(u16, &'static str),
    /// 200 or 503 depending on the flag.
    Toggle(Arc<AtomicBool>),
    /// Accept, read nothing, answer nothing, hold the connection open.
    Silent,
    /// 200 headers, then body chunks as fast as the client takes them, without end.
    Flood(Arc<AtomicUsize>),
    /// 200 headers, then one byte every 10ms, without end.
    Trickle,
}

struct HttpServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    accepted: Arc<AtomicUsize>,
    /// Connections the server finished with (the client closed or the reply was sent).
    closed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn http_server(reply: Reply) -> HttpServer {
    let listener = TcpListener::bind((LOCALHOST, 0))
        .await
        .expect("bind http test server");
    serve_http(listener, reply, None)
}

fn serve_http(
    listener: TcpListener,
    reply: Reply,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> HttpServer {
    let addr = listener.local_addr().expect("local addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (seen2, accepted2, closed2) = (seen.clone(), accepted.clone(), closed.clone());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            accepted2.fetch_add(1, Ordering::SeqCst);
            if let Reply::Silent = reply {
                held.push(stream);
                continue;
            }
            let (reply, seen, closed, tls) =
                (reply.clone(), seen2.clone(), closed2.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    None => answer(stream, &reply, &seen).await,
                    Some(acceptor) => {
                        if let Ok(s) = acceptor.accept(stream).await {
                            answer(s, &reply, &seen).await;
                        }
                    }
                }
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    HttpServer {
        addr,
        seen,
        accepted,
        closed,
        task,
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    reply: &Reply,
    seen: &Mutex<Vec<Seen>>,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let path = first.next().unwrap_or("").to_string();
    let host = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("host").then(|| v.trim().to_string())
    });
    let is_head = method == "HEAD";
    seen.lock()
        .expect("seen lock")
        .push(Seen { method, path, host });
    let fixed = |status: u16, body: &str| {
        let reason = if status == 200 { "OK" } else { "Oops" };
        let mut r = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        if !is_head {
            r.push_str(body);
        }
        r
    };
    match reply {
        Reply::Fixed(status, body) => {
            let _ = s.write_all(fixed(*status, body).as_bytes()).await;
        }
        Reply::Toggle(healthy) => {
            let status = if healthy.load(Ordering::SeqCst) {
                200
            } else {
                503
            };
            let _ = s.write_all(fixed(status, "").as_bytes()).await;
        }
        Reply::Silent => {}
        Reply::Flood(written) => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!("4000\r\n{}\r\n", "x".repeat(0x4000));
            while s.write_all(chunk.as_bytes()).await.is_ok() {
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
        Reply::Trickle => {
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            while s.write_all(b"1\r\nx\r\n").await.is_ok() {
                tokio::time::sleep(ms(10)).await;
            }
        }
    }
    let _ = s.shutdown().await;
}

fn http(path: &str, expect_status: Vec<u16>, receive: Option<&str>) -> CheckKind {
    CheckKind::Http {
        tls: false,
        verify_tls: true,
        method: HttpMethod::Get,
        path: path.into(),
        host: None,
        expect_status,
        receive: receive.map(String::from),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and files (external checks and hooks).

/// A directory removed with its contents on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lvs-health-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `pid` is a live process (a zombie waiting to be reaped counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next());
            !matches!(state, Some("Z" | "X"))
        }
    }
}
