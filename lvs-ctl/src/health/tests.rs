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

use super::probe::{ProbeError, Prober};
use super::*;

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
// Connect.

#[tokio::test]
async fn connect_tcp_up_on_listener_down_on_closed_port() {
    bounded(ms(5000), async {
        let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let (r, _) = probe_once(l.local_addr().expect("addr"), tcp_check(), ms(1000)).await;
        assert!(r.is_ok(), "{r:?}");

        let closed = closed_tcp_port().await;
        let (r, cause) = probe_once(closed, tcp_check(), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("connect {closed}: connection refused"));
    })
    .await;
}

#[tokio::test]
async fn connect_tcp_over_ipv6_loopback() {
    if !ipv6_loopback_available() {
        eprintln!("no ::1 on this machine; IPv6 case not run");
        return;
    }
    bounded(ms(5000), async {
        let l = TcpListener::bind("[::1]:0").await.expect("bind ::1");
        let addr = l.local_addr().expect("addr");
        let (r, _) = probe_once(addr, tcp_check(), ms(1000)).await;
        assert!(r.is_ok(), "{r:?}");
        drop(l);
        let (_, cause) = probe_once(addr, tcp_check(), ms(1000)).await;
        assert_eq!(cause, format!("connect {addr}: connection refused"));
    })
    .await;
}

#[tokio::test]
async fn connect_udp_up_on_bound_socket_down_on_closed_port() {
    bounded(ms(5000), async {
        let udp = CheckKind::Connect {
            proto: Protocol::Udp,
        };
        // A bound socket that never answers: silence until the timeout means up.
        let bound = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind udp");
        let started = Instant::now();
        let (r, _) = probe_once(bound.local_addr().expect("addr"), udp.clone(), ms(300)).await;
        assert!(r.is_ok(), "{r:?}");
        assert!(
            started.elapsed() >= ms(250),
            "up only after most of the timeout"
        );

        let closed = closed_udp_port().await;
        let started = Instant::now();
        let (r, cause) = probe_once(closed, udp, ms(300)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("connect udp {closed}: port unreachable"));
        assert!(
            started.elapsed() < ms(250),
            "port unreachable is reported at once"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// HTTP.

#[tokio::test]
async fn http_status_200_up_503_down() {
    bounded(ms(5000), async {
        let ok = http_server(Reply::Fixed(200, "fine")).await;
        let (r, cause) = probe_once(ok.addr, http("/health", vec![200], None), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        assert_eq!(cause, format!("http {}: status 200", ok.addr));

        let bad = http_server(Reply::Fixed(503, "busy")).await;
        let (r, cause) = probe_once(bad.addr, http("/health", vec![200], None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(
            cause,
            format!("http {}: status 503, expected 200", bad.addr)
        );

        // Empty expect_status: any 2xx.
        let (r, cause) = probe_once(bad.addr, http("/", vec![], None), ms(1000)).await;
        assert!(r.is_err());
        assert!(cause.ends_with("status 503, expected 2xx"), "{cause}");
        let (r, _) = probe_once(bad.addr, http("/", vec![200, 503], None), ms(1000)).await;
        assert!(r.is_ok());
        let seen = ok.seen.lock().expect("seen").clone();
        assert_eq!(seen[0].path, "/health");
        assert_eq!(seen[0].method, "GET");
    })
    .await;
}

#[tokio::test]
async fn http_receive_regex_match_and_mismatch() {
    bounded(ms(5000), async {
        let s = http_server(Reply::Fixed(200, "<html>status: all good</html>")).await;
        let (r, cause) = probe_once(
            s.addr,
            http("/", vec![200], Some(r"status: (all|mostly) good")),
            ms(1000),
        )
        .await;
        assert!(r.is_ok(), "{cause}");
        let (r, cause) = probe_once(s.addr, http("/", vec![200], Some("degraded")), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(
            cause,
            format!(
                "http {}: status 200, body does not match /degraded/",
                s.addr
            )
        );
    })
    .await;
}

#[tokio::test]
async fn http_head_and_virtual_host_reach_the_server() {
    bounded(ms(5000), async {
        let s = http_server(Reply::Fixed(200, "body not sent for HEAD")).await;
        let kind = CheckKind::Http {
            tls: false,
            verify_tls: true,
            method: HttpMethod::Head,
            path: "/ping?x=1".into(),
            host: Some("www.example.test".into()),
            expect_status: vec![200],
            receive: None,
        };
        let (r, cause) = probe_once(s.addr, kind, ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        // Without a host, the Host header is the target (with its non-default port).
        let (r, _) = probe_once(s.addr, http("/", vec![200], None), ms(1000)).await;
        assert!(r.is_ok());
        let seen = s.seen.lock().expect("seen").clone();
        assert_eq!(seen[0].method, "HEAD");
        assert_eq!(seen[0].path, "/ping?x=1");
        assert_eq!(seen[0].host.as_deref(), Some("www.example.test"));
        assert_eq!(seen[1].host, Some(s.addr.to_string()));
    })
    .await;
}

#[tokio::test]
async fn https_self_signed_fails_verification_passes_without() {
    bounded(ms(10_000), async {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
        let cert = certified.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let s = serve_http(listener, Reply::Fixed(200, "secure"), Some(acceptor));
        let https = |verify_tls| CheckKind::Http {
            tls: true,
            verify_tls,
            method: HttpMethod::Get,
            path: "/".into(),
            host: Some("localhost".into()),
            expect_status: vec![200],
            receive: Some("secure".into()),
        };
        let (r, cause) = probe_once(s.addr, https(true), ms(2000)).await;
        assert!(r.is_err(), "a self-signed certificate must not verify");
        assert!(
            cause.starts_with(&format!("https {}: tls handshake: ", s.addr))
                && cause.contains("certificate"),
            "{cause}"
        );
        let (r, cause) = probe_once(s.addr, https(false), ms(2000)).await;
        assert!(r.is_ok(), "{cause}");
        assert_eq!(
            s.seen.lock().expect("seen").len(),
            1,
            "one request got through"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// DNS.

/// The test zone: `up.test. A` is 192.0.2.1, `nx.test.` does not exist, anything else has
/// no answer.
fn dns_reply(query: &[u8]) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.add_queries(query.queries.clone());
    let name = query.queries.first()?.name().to_string();
    if name == "nx.test." {
        reply.metadata.response_code = ResponseCode::NXDomain;
    } else if name == "up.test." {
        reply.add_answer(Record::from_rdata(
            Name::from_ascii("up.test.").expect("name"),
            60,
            RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
        ));
    }
    Some(reply.to_vec().expect("encode reply"))
}

/// A DNS server for the test zone over UDP.
async fn dns_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let sock = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind dns");
    let addr = sock.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            if let Some(wire) = dns_reply(&buf[..n]) {
                let _ = sock.send_to(&wire, from).await;
            }
        }
    });
    (addr, task)
}

/// The same over TCP (length-prefixed messages, one per connection).
async fn dns_tcp_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((LOCALHOST, 0))
        .await
        .expect("bind dns tcp");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let Ok(len) = s.read_u16().await else {
                continue;
            };
            let mut query = vec![0u8; usize::from(len)];
            if s.read_exact(&mut query).await.is_err() {
                continue;
            }
            if let Some(wire) = dns_reply(&query) {
                let len = u16::try_from(wire.len()).expect("short reply");
                let _ = s.write_all(&[&len.to_be_bytes()[..], &wire].concat()).await;
            }
        }
    });
    (addr, task)
}

fn dns(name: &str, expect: Option<&str>) -> CheckKind {
    CheckKind::Dns {
        name: name.into(),
        qtype: QueryType::A,
        proto: Protocol::Udp,
        expect: expect.map(String::from),
    }
}

#[tokio::test]
async fn dns_expected_answer_present_absent_and_nxdomain() {
    bounded(ms(5000), async {
        let (addr, server) = dns_server().await;
        let (r, cause) = probe_once(addr, dns("up.test", Some("192.0.2.1")), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        let (r, cause) = probe_once(addr, dns("up.test", None), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");

        let (r, cause) = probe_once(addr, dns("up.test", Some("192.0.2.9")), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(
            cause,
            format!("dns {addr}: A up.test.: 192.0.2.9 not in answer (192.0.2.1)")
        );
        let (r, cause) = probe_once(addr, dns("empty.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {addr}: A empty.test.: no answer"));
        let (r, cause) = probe_once(addr, dns("nx.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {addr}: A nx.test.: rcode NXDOMAIN"));
        server.abort();

        let (tcp, tcp_server) = dns_tcp_server().await;
        let over_tcp = |name: &str, expect: Option<&str>| CheckKind::Dns {
            name: name.into(),
            qtype: QueryType::A,
            proto: Protocol::Tcp,
            expect: expect.map(String::from),
        };
        let (r, cause) = probe_once(tcp, over_tcp("up.test", Some("192.0.2.1")), ms(1000)).await;
        assert!(r.is_ok(), "{cause}");
        let (r, cause) = probe_once(tcp, over_tcp("nx.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {tcp}: A nx.test.: rcode NXDOMAIN"));
        tcp_server.abort();

        // No server at all: port unreachable comes back as connection refused.
        let closed = closed_udp_port().await;
        let (r, cause) = probe_once(closed, dns("up.test", None), ms(1000)).await;
        assert!(r.is_err());
        assert_eq!(cause, format!("dns {closed}: recv: connection refused"));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// External.

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

fn external(command: &Path) -> CheckKind {
    CheckKind::External {
        command: command.to_path_buf(),
        vip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, 10)),
        vport: 80,
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

#[tokio::test]
async fn external_exit_status_decides_and_gets_ldirectord_arguments() {
    bounded(ms(5000), async {
        let dir = TempDir::new("external");
        let args = dir.0.join("args");
        let up = dir.script(
            "up.sh",
            &format!("echo \"$@\" > '{}'\nexit 0", args.display()),
        );
        let down = dir.script("down.sh", "exit 1");
        let real: SocketAddr = "127.0.0.1:8080".parse().expect("addr");
        let (r, cause) = probe_once(real, external(&up), ms(2000)).await;
        assert!(r.is_ok(), "{cause}");
        let got = std::fs::read_to_string(&args).expect("script wrote its arguments");
        assert_eq!(got.trim(), "198.18.0.10 80 127.0.0.1 8080");
        let (r, cause) = probe_once(real, external(&down), ms(2000)).await;
        assert!(r.is_err());
        assert_eq!(cause, "external 127.0.0.1:8080: exit status 1");
        let (r, cause) = probe_once(real, external(&dir.0.join("missing")), ms(2000)).await;
        assert!(r.is_err());
        assert_eq!(cause, "external 127.0.0.1:8080: spawn: not found");
    })
    .await;
}

#[tokio::test]
async fn external_hanging_script_is_killed_at_timeout_with_its_children() {
    bounded(ms(10_000), async {
        let dir = TempDir::new("hang");
        let pids = dir.0.join("pids");
        let script = dir.script(
            "hang.sh",
            &format!("sleep 1000 &\necho $$ $! > '{}'\nwait", pids.display()),
        );
        let started = Instant::now();
        let (r, cause) = probe_once(
            "127.0.0.1:80".parse().expect("addr"),
            external(&script),
            ms(500),
        )
        .await;
        let took = started.elapsed();
        assert!(matches!(r, Err(ProbeError::Timeout(_))), "{cause}");
        assert_eq!(cause, "external 127.0.0.1:80: timed out after 500ms");
        assert!(took < ms(1000), "probe ended at its timeout, took {took:?}");
        let text = std::fs::read_to_string(&pids).expect("script wrote its pids");
        let pids: Vec<i32> = text
            .split_whitespace()
            .map(|p| p.parse().expect("pid"))
            .collect();
        assert_eq!(pids.len(), 2);
        let deadline = Instant::now() + ms(3000);
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        for p in pids {
            assert!(!alive(p), "process {p} outlived the check's timeout");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Ping, on, off.

#[tokio::test]
async fn ping_loopback_is_up() {
    bounded(ms(5000), async {
        let (r, cause) = probe_once(
            "127.0.0.1:0".parse().expect("addr"),
            CheckKind::Ping,
            ms(2000),
        )
        .await;
        assert!(r.is_ok(), "ping needs root or ping_group_range: {cause}");
        assert!(
            cause.starts_with("ping 127.0.0.1: echo reply in "),
            "{cause}"
        );
        if ipv6_loopback_available() {
            let (r, cause) =
                probe_once("[::1]:0".parse().expect("addr"), CheckKind::Ping, ms(2000)).await;
            assert!(r.is_ok(), "{cause}");
        }
    })
    .await;
}

#[tokio::test]
async fn on_is_up_off_is_down() {
    bounded(ms(2000), async {
        let addr: SocketAddr = "127.0.0.1:80".parse().expect("addr");
        let (r, _) = probe_once(addr, CheckKind::On, ms(100)).await;
        assert!(r.is_ok());
        let (r, cause) = probe_once(addr, CheckKind::Off, ms(100)).await;
        assert!(r.is_err());
        assert_eq!(cause, "off 127.0.0.1:80: check is off");
    })
    .await;
}

#[tokio::test]
async fn invalid_spec_fails_every_probe_with_the_reason() {
    bounded(ms(2000), async {
        let addr: SocketAddr = "127.0.0.1:80".parse().expect("addr");
        let (r, cause) = probe_once(addr, http("/", vec![], Some("(")), ms(100)).await;
        assert!(matches!(r, Err(ProbeError::Invalid(_))));
        assert!(
            cause.starts_with("http 127.0.0.1:80: invalid check: receive: invalid regular"),
            "{cause}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Bounds.

#[tokio::test]
async fn silent_server_fails_at_the_timeout() {
    bounded(ms(5000), async {
        let s = http_server(Reply::Silent).await;
        let started = Instant::now();
        let (r, cause) = probe_once(s.addr, http("/", vec![200], None), ms(300)).await;
        let took = started.elapsed();
        assert!(r.is_err());
        assert_eq!(cause, format!("http {}: timed out after 300ms", s.addr));
        assert!(took >= ms(300) && took < ms(600), "took {took:?}");
    })
    .await;
}

#[tokio::test]
async fn endless_body_is_read_up_to_the_limit_only() {
    bounded(ms(10_000), async {
        let written = Arc::new(AtomicUsize::new(0));
        let s = http_server(Reply::Flood(written.clone())).await;
        let started = Instant::now();
        let (r, cause) =
            probe_once(s.addr, http("/", vec![200], Some("never-there")), ms(5000)).await;
        let took = started.elapsed();
        assert!(r.is_err());
        assert!(
            cause.ends_with("body does not match /never-there/"),
            "{cause}"
        );
        assert!(
            took < ms(2000),
            "ended by the size limit, not the timeout: {took:?}"
        );
        // The probe closed the connection: the server's writes fail and it stops.
        let deadline = Instant::now() + ms(3000);
        while s.closed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(ms(10)).await;
        }
        assert_eq!(
            s.closed.load(Ordering::SeqCst),
            1,
            "connection closed by the probe"
        );
        let total = written.load(Ordering::SeqCst);
        // What the server got out is the body limit plus what loopback socket buffers hold.
        assert!(total < 64 << 20, "server wrote {total} bytes");

        // Without a pattern the body is not read at all.
        let (r, cause) = probe_once(s.addr, http("/", vec![200], None), ms(5000)).await;
        assert!(r.is_ok(), "{cause}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Monitor.

async fn next_event<K>(rx: &mut mpsc::Receiver<Event<K>>, within: Duration) -> Event<K> {
    tokio::time::timeout(within, rx.recv())
        .await
        .expect("no event in time")
        .expect("event channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_rise_and_fall_on_time() {
    bounded(ms(15_000), async {
        let healthy = Arc::new(AtomicBool::new(true));
        let s = http_server(Reply::Toggle(healthy.clone())).await;
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        let (rise, fall) = (2, 3);
        let check = spec(http("/", vec![200], None), interval, ms(80), rise, fall);
        m.set_checks(vec![(7u64, Target::new(s.addr), check)]);
        let slack = ms(150);

        // Unknown -> up: first probe within one interval (jitter), then `rise` successes.
        let e = next_event(&mut rx, interval * (rise + 1) + slack).await;
        assert!(e.up && e.id == 7, "{e:?}");
        assert_eq!(e.cause, format!("http {}: status 200", s.addr));
        assert_eq!(m.status()[0].state, State::Up);

        // The server goes bad: down within interval x fall + one interval.
        healthy.store(false, Ordering::SeqCst);
        let t0 = Instant::now();
        let e = next_event(&mut rx, interval * fall + interval + slack).await;
        let took = t0.elapsed();
        assert!(!e.up, "{e:?}");
        assert_eq!(
            e.cause,
            format!("http {}: status 503, expected 200", s.addr)
        );
        assert!(
            took >= interval * (fall - 1),
            "not before `fall` failures: {took:?}"
        );
        let st = &m.status()[0];
        assert_eq!(st.state, State::Down);
        assert!(st.last_error.as_deref().is_some_and(|c| c.contains("503")));
        assert!(st.last_duration.is_some() && st.last_probe.is_some());

        // Back: up after `rise` good checks, not on the first.
        healthy.store(true, Ordering::SeqCst);
        let t0 = Instant::now();
        let e = next_event(&mut rx, interval * rise + interval + slack).await;
        let took = t0.elapsed();
        assert!(e.up, "{e:?}");
        assert!(
            took >= interval * (rise - 1),
            "not before `rise` successes: {took:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_a_dead_server_and_a_silent_one_on_time() {
    bounded(ms(10_000), async {
        let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let dying = l.local_addr().expect("addr");
        let silent = http_server(Reply::Silent).await;
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        m.set_checks(vec![
            (
                "dying",
                Target::new(dying),
                spec(tcp_check(), interval, ms(200), 1, 2),
            ),
            (
                "silent",
                Target::new(silent.addr),
                spec(http("/", vec![200], None), interval, ms(200), 1, 1),
            ),
        ]);
        let mut up_dying = false;
        let mut down_silent = None;
        let t0 = Instant::now();
        while !(up_dying && down_silent.is_some()) {
            let e = next_event(&mut rx, ms(1000)).await;
            match (e.id, e.up) {
                ("dying", true) => up_dying = true,
                ("silent", false) => down_silent = Some((t0.elapsed(), e.cause)),
                other => panic!("unexpected {other:?}"),
            }
        }
        let (took, cause) = down_silent.expect("silent server reported");
        // First probe within one interval, failing at its 200ms timeout.
        assert!(
            took < interval + ms(200) + ms(200),
            "silent down after {took:?}"
        );
        assert_eq!(
            cause,
            format!("http {}: timed out after 200ms", silent.addr)
        );

        drop(l);
        let t0 = Instant::now();
        let e = next_event(&mut rx, interval * 2 + interval + ms(200)).await;
        assert_eq!((e.id, e.up), ("dying", false));
        assert_eq!(e.cause, format!("connect {dying}: connection refused"));
        assert!(t0.elapsed() >= interval, "needs two failures");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_flooding_servers_do_not_delay_a_healthy_check() {
    bounded(ms(15_000), async {
        let healthy = http_server(Reply::Fixed(200, "ok")).await;
        let trickle = http_server(Reply::Trickle).await;
        let flood = http_server(Reply::Flood(Arc::new(AtomicUsize::new(0)))).await;
        let silent = http_server(Reply::Silent).await;
        let (tx, mut rx) = mpsc::channel(64);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        let slow =
            |receive: Option<&str>| spec(http("/", vec![200], receive), interval, ms(1500), 1, 1);
        m.set_checks(vec![
            (
                1,
                Target::new(healthy.addr),
                spec(http("/", vec![200], None), interval, ms(500), 1, 1),
            ),
            (2, Target::new(trickle.addr), slow(Some("never-there"))),
            (3, Target::new(flood.addr), slow(Some("never-there"))),
            (4, Target::new(silent.addr), slow(None)),
        ]);
        // Over two seconds the healthy server is asked about every interval.
        tokio::time::sleep(ms(2000)).await;
        let n = healthy.accepted.load(Ordering::SeqCst);
        assert!(
            (15..=21).contains(&n),
            "healthy server probed {n} times in 2s"
        );
        // The slow ones ran at most every timeout (overrunning probes push their schedule back).
        let t = trickle.accepted.load(Ordering::SeqCst);
        assert!((1..=2).contains(&t), "trickling server probed {t} times");
        let mut got = std::collections::HashMap::new();
        while let Ok(e) = rx.try_recv() {
            got.insert(e.id, e.up);
        }
        assert_eq!(got.get(&1), Some(&true));
        assert_eq!(got.get(&2), Some(&false));
        assert_eq!(got.get(&3), Some(&false));
        assert_eq!(got.get(&4), Some(&false));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_checks_share_one_probe_and_fan_out() {
    bounded(ms(10_000), async {
        let l = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
        let addr = l.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let server = tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Monitor::new(tx);
        let interval = ms(100);
        let check = spec(tcp_check(), interval, ms(100), 1, 1);
        let target = Target::new(addr);
        m.set_checks(vec![
            ((0, 0), target, check.clone()),
            ((1, 0), target, check.clone()),
        ]);
        assert_eq!(m.probe_count(), 1);
        let mut ids = [
            next_event(&mut rx, ms(500)).await,
            next_event(&mut rx, ms(500)).await,
        ];
        ids.sort_by_key(|e| e.id);
        assert_eq!(
            (ids[0].id, ids[0].up, ids[1].id, ids[1].up),
            ((0, 0), true, (1, 0), true)
        );
        assert_eq!(ids[0].at, ids[1].at, "one probe, one result");

        let before = accepted.load(Ordering::SeqCst);
        tokio::time::sleep(ms(1000)).await;
        let n = accepted.load(Ordering::SeqCst) - before;
        assert!(
            (8..=11).contains(&n),
            "{n} connections in 10 intervals: one probe, not two"
        );

        // Dropping one id keeps the check (and its state) for the other; nothing is sent.
        let since = m.status()[0].since;
        m.set_checks(vec![((1, 0), target, check.clone())]);
        assert_eq!(m.probe_count(), 1);
        let st = m.status();
        assert_eq!(
            (st.len(), st[0].id, st[0].state, st[0].since),
            (1, (1, 0), State::Up, since)
        );
        // An id joining the running check is told its state at once.
        m.set_checks(vec![
            ((1, 0), target, check.clone()),
            ((2, 5), target, check.clone()),
        ]);
        let e = next_event(&mut rx, ms(50)).await;
        assert_eq!((e.id, e.up), ((2, 5), true));
        assert_eq!(e.cause, format!("connect {addr}: connected"));
        assert!(rx.try_recv().is_err(), "no event for the id that stayed");

        // Renumbered ids (a service removed before them) take over the running check.
        m.set_checks(vec![((9, 9), target, check.clone())]);
        assert_eq!((m.probe_count(), m.status()[0].state), (1, State::Up));
        let e = next_event(&mut rx, ms(50)).await;
        assert_eq!((e.id, e.up), ((9, 9), true));

        // A changed spec is another check: the old one stops.
        let mut other = check.clone();
        other.fall = 2;
        m.set_checks(vec![((9, 9), target, other)]);
        assert_eq!(m.probe_count(), 1);
        assert_eq!(m.status()[0].state, State::Unknown);
        m.set_checks(vec![]);
        assert_eq!(m.probe_count(), 0);
        let settled = accepted.load(Ordering::SeqCst);
        tokio::time::sleep(ms(300)).await;
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            settled,
            "no probes after set_checks([])"
        );
        server.abort();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Maintenance and hooks.

#[test]
fn maintenance_files_by_ip_and_by_ip_port() {
    let dir = TempDir::new("maint");
    let a: SocketAddr = "127.0.0.1:80".parse().expect("addr");
    assert!(!in_maintenance(&dir.0, a));
    std::fs::write(dir.0.join("127.0.0.1:80"), "").expect("touch");
    assert!(in_maintenance(&dir.0, a));
    assert!(!in_maintenance(
        &dir.0,
        "127.0.0.1:81".parse().expect("addr")
    ));
    std::fs::write(dir.0.join("::1"), "").expect("touch");
    assert!(in_maintenance(&dir.0, "[::1]:443".parse().expect("addr")));
    std::fs::write(dir.0.join("[::2]:80"), "").expect("touch");
    assert!(in_maintenance(&dir.0, "[::2]:80".parse().expect("addr")));
    assert!(!in_maintenance(Path::new("/nonexistent/lvs"), a));
}

fn event(up: bool) -> Event<&'static str> {
    Event {
        id: "web/1",
        target: Target::new("127.0.0.1:8080".parse().expect("addr")),
        up,
        cause: "http 127.0.0.1:8080: status 503, expected 200".into(),
        at: SystemTime::now(),
    }
}

#[tokio::test]
async fn hook_sees_the_event_in_its_environment() {
    bounded(ms(5000), async {
        let dir = TempDir::new("hook");
        let out = dir.0.join("env");
        let hook = dir.script(
            "hook.sh",
            &format!(
                "printf '%s|%s|%s|%s|%s\\n' \"$LVS_EVENT\" \"$LVS_REAL\" \"$LVS_CAUSE\" \
                 \"$LVS_CHECK_ID\" \"$LVS_VIP\" > '{}'\necho logged",
                out.display()
            ),
        );
        run_hook(&hook, &event(false), &[("LVS_VIP", "198.18.0.10:80".into())])
            .await
            .expect("hook succeeds");
        let got = std::fs::read_to_string(&out).expect("hook wrote its environment");
        assert_eq!(
            got.trim(),
            "down|127.0.0.1:8080|http 127.0.0.1:8080: status 503, expected 200|\"web/1\"|198.18.0.10:80"
        );
        let failing = dir.script("fail.sh", "exit 3");
        let err = run_hook(&failing, &event(true), &[]).await.expect_err("exit 3");
        assert!(err.to_string().ends_with("exit status 3"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn hanging_hook_is_killed_at_its_timeout() {
    bounded(ms(5000), async {
        let dir = TempDir::new("hookhang");
        let pid = dir.0.join("pid");
        let hook = dir.script(
            "hang.sh",
            &format!("echo $$ > '{}'\nsleep 1000", pid.display()),
        );
        let started = Instant::now();
        let err = run_hook_with_timeout(&hook, &event(true), &[], ms(300))
            .await
            .expect_err("times out");
        assert!(matches!(err, HookError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < ms(1000));
        let pid: i32 = std::fs::read_to_string(&pid)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        let deadline = Instant::now() + ms(2000);
        while alive(pid) && Instant::now() < deadline {
            tokio::time::sleep(ms(20)).await;
        }
        assert!(!alive(pid), "hook {pid} still running");
    })
    .await;
}
