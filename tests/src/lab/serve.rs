//! Real services for the labs, and their clients.
//!
//! Servers run on one tokio runtime ([`ServiceHost`]); their sockets are made inside a real's
//! namespace (through [`Netns::enter`]) and stay there, whichever thread serves them. Each one
//! answers with the real's name so a client can tell who answered:
//! - HTTP/1.1 on `[::]:PORT` (IPv4 and IPv6): `200 OK`, body `NAME\n`, then close; or, for
//!   health checks, as a test switches it at run time ([`HttpServer::set`], [`Answer`]);
//! - UDP echo on given `ADDR:PORT`s: replies `NAME PAYLOAD` from the address it was sent to;
//! - TCP lines: every line `L` is answered with `NAME L\n` on the same connection;
//! - DNS on UDP `0.0.0.0:53`: an A record or NXDOMAIN ([`DnsServer::set`], [`DnsAnswer`]).
//!
//! [`UdpPort`] is a plain UDP socket in a real (a sink that counts what arrives, or a port a
//! UDP check finds open or closed).
//!
//! The clients are blocking, bounded in time, and must run on a thread inside the client's
//! namespace (`lab.client.enter(|| ...)`); a socket made there can be used from any thread.

use super::{Netns, in_netns};
use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt},
    runtime::Runtime,
    task::JoinHandle,
};

/// The runtime the lab's servers run on.
pub struct ServiceHost {
    rt: Runtime,
}

/// A running server: [`Served::stop`] closes its sockets (new connections are refused) and
/// waits until they are closed. Dropping it stops it too.
pub struct Served {
    tasks: Vec<JoinHandle<()>>,
    handle: tokio::runtime::Handle,
    pub what: String,
}

impl Served {
    pub fn stop(mut self) {
        self.abort_and_wait();
    }

    fn abort_and_wait(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let tasks = std::mem::take(&mut self.tasks);
        // Wait (bounded) until the aborted tasks have dropped their sockets.
        let _ = self.handle.block_on(async move {
            tokio::time::timeout(Duration::from_secs(2), async move {
                for t in tasks {
                    let _ = t.await;
                }
            })
            .await
        });
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

const REQUEST_LIMIT: usize = 16 << 10;
/// Longest a server keeps a connection (slow or endless answers too), so every task ends.
pub const SERVER_IDLE: Duration = Duration::from_secs(10);

impl ServiceHost {
    pub fn new() -> io::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lab-serve")
            .enable_all()
            .build()?;
        Ok(ServiceHost { rt })
    }

    /// HTTP on `[::]:port` (IPv4 too) in `ns`, answering `200 OK` and `name`.
    pub fn http(&self, ns: &Netns, name: &str, port: u16) -> io::Result<Served> {
        let server = self.http_server(ns, name, port, Answer::Ok)?;
        let listening = server
            .listening
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        Ok(listening.expect("an HTTP server that answers listens"))
    }

    /// HTTP on `[::]:port` in `ns` that answers as `answer` says (`name` is the body of a
    /// `200`), switched at run time with [`HttpServer::set`].
    pub fn http_server(
        &self,
        ns: &Netns,
        name: &str,
        port: u16,
        answer: Answer,
    ) -> io::Result<HttpServer> {
        let server = HttpServer {
            answer: Arc::new(Mutex::new(answer)),
            body: Arc::from(format!("{name}\n")),
            netns: ns.name.clone(),
            port,
            handle: self.rt.handle().clone(),
            listening: Mutex::new(None),
        };
        if answer != Answer::Closed {
            *server.lock_listening() = Some(server.listen()?);
        }
        Ok(server)
    }

    /// A DNS server on UDP `0.0.0.0:53` in `ns`, answering as `answer` says.
    pub fn dns(&self, ns: &Netns, answer: DnsAnswer) -> io::Result<DnsServer> {
        let sock = ns.enter(|| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 53)))?;
        sock.set_nonblocking(true)?;
        let _guard = self.rt.enter();
        let sock = tokio::net::UdpSocket::from_std(sock)?;
        let shared = Arc::new(Mutex::new(answer));
        let now = Arc::clone(&shared);
        let task = self.rt.spawn(async move {
            let mut buf = vec![0u8; 512];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    continue;
                };
                let answer = *now.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(reply) = dns_reply(&buf[..n], answer) {
                    let _ = sock.send_to(&reply, from).await;
                }
            }
        });
        Ok(DnsServer {
            answer: shared,
            _served: Served {
                tasks: vec![task],
                handle: self.rt.handle().clone(),
                what: format!("dns in {}", ns.name),
            },
        })
    }

    /// UDP echo on each `addr:port` in `ns`: replies `name payload` (from the address the
    /// datagram was sent to: one socket per address, so a reply to the VIP comes from the VIP).
    pub fn udp_echo(
        &self,
        ns: &Netns,
        name: &str,
        addrs: &[IpAddr],
        port: u16,
    ) -> io::Result<Served> {
        let socks = ns.enter(|| {
            addrs
                .iter()
                .map(|a| UdpSocket::bind(SocketAddr::new(*a, port)))
                .collect::<io::Result<Vec<_>>>()
        })?;
        let _guard = self.rt.enter();
        let mut tasks = Vec::new();
        for s in socks {
            s.set_nonblocking(true)?;
            let s = tokio::net::UdpSocket::from_std(s)?;
            let prefix = format!("{name} ");
            tasks.push(self.rt.spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, from)) = s.recv_from(&mut buf).await else {
                        continue;
                    };
                    let mut out = prefix.clone().into_bytes();
                    out.extend_from_slice(&buf[..n]);
                    let _ = s.send_to(&out, from).await;
                }
            }));
        }
        Ok(Served {
            tasks,
            handle: self.rt.handle().clone(),
            what: format!("{name}: udp echo on port {port}"),
        })
    }

    /// TCP lines on `[::]:port` in `ns`: each line `L` is answered `name L`.
    pub fn tcp_lines(&self, ns: &Netns, name: &str, port: u16) -> io::Result<Served> {
        let listener = tcp_listener(&ns.name, port, self.rt.handle())?;
        let what = format!("{name}: tcp lines on port {port}");
        let name = name.to_owned();
        let task = self.rt.spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let name = name.clone();
                tokio::spawn(async move {
                    let (rd, mut wr) = s.into_split();
                    let mut lines = tokio::io::BufReader::new(rd.take(1 << 20)).lines();
                    while let Ok(Ok(Some(line))) =
                        tokio::time::timeout(Duration::from_secs(120), lines.next_line()).await
                    {
                        if wr
                            .write_all(format!("{name} {line}\n").as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Ok(Served {
            tasks: vec![task],
            handle: self.rt.handle().clone(),
            what,
        })
    }
}

/// How an [`HttpServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `200 OK`, body the server's name.
    Ok,
    /// This status, empty body.
    Status(u16),
    /// Reads the request and says nothing (for [`SERVER_IDLE`]).
    Slow,
    /// `200 OK` and a body that does not end (for [`SERVER_IDLE`]), never the name.
    Endless,
    /// Not listening: connections are refused.
    Closed,
}

/// An HTTP server whose answer a test switches at run time; stops on drop.
pub struct HttpServer {
    answer: Arc<Mutex<Answer>>,
    body: Arc<str>,
    netns: String,
    port: u16,
    handle: tokio::runtime::Handle,
    /// The listening socket's task; `None` while [`Answer::Closed`].
    listening: Mutex<Option<Served>>,
}

impl HttpServer {
    /// Changes how the server answers from the next connection on; [`Answer::Closed`] closes
    /// the listening socket before it returns, another answer opens it again.
    pub fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) = answer;
        let mut listening = self.lock_listening();
        if answer == Answer::Closed {
            if let Some(l) = listening.take() {
                l.stop();
            }
        } else if listening.is_none() {
            let l = self
                .listen()
                .unwrap_or_else(|e| panic!("http server in {} again: {e}", self.netns));
            *listening = Some(l);
        }
    }

    /// Closes the listening socket (new connections are refused) and waits until it is closed.
    pub fn stop(self) {
        self.set(Answer::Closed);
    }

    fn lock_listening(&self) -> std::sync::MutexGuard<'_, Option<Served>> {
        self.listening.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn listen(&self) -> io::Result<Served> {
        let port = self.port;
        let listener = tcp_listener(&self.netns, port, &self.handle)?;
        let (answer, body) = (Arc::clone(&self.answer), Arc::clone(&self.body));
        let task = self.handle.spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let now = *answer.lock().unwrap_or_else(|e| e.into_inner());
                let body = Arc::clone(&body);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(SERVER_IDLE, answer_http(s, now, &body)).await;
                });
            }
        });
        Ok(Served {
            tasks: vec![task],
            handle: self.handle.clone(),
            what: format!("{}: http on port {port}", self.body.trim_end()),
        })
    }
}

/// A listening TCP socket on `[::]:port` (IPv4 too) in the namespace `netns`, served by the
/// runtime of `handle`.
fn tcp_listener(
    netns: &str,
    port: u16,
    handle: &tokio::runtime::Handle,
) -> io::Result<tokio::net::TcpListener> {
    let std_l = in_netns(netns, || {
        std::net::TcpListener::bind(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port))
    })?;
    std_l.set_nonblocking(true)?;
    let _guard = handle.enter();
    tokio::net::TcpListener::from_std(std_l)
}

/// Reads one request and answers it as `answer` says (the caller bounds the time).
async fn answer_http(mut s: tokio::net::TcpStream, answer: Answer, body: &str) {
    let mut req = Vec::new();
    let mut buf = [0u8; 2048];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if req.len() > REQUEST_LIMIT {
            return;
        }
    }
    match answer {
        Answer::Ok => {
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
        Answer::Status(code) => {
            let resp =
                format!("HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(resp.as_bytes()).await;
        }
        Answer::Slow => std::future::pending().await,
        Answer::Endless => {
            if s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await
                .is_err()
            {
                return;
            }
            let chunk = [b'x'; 16 * 1024];
            while s.write_all(&chunk).await.is_ok() {}
            return;
        }
        Answer::Closed => return,
    }
    let _ = s.shutdown().await;
}

/// How a [`DnsServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// An A record, [`DNS_ADDRESS`], for any name.
    Address,
    /// NXDOMAIN.
    NxDomain,
}

/// The address a [`DnsServer`] answers with.
pub const DNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 99);

/// A DNS server (see [`ServiceHost::dns`]); stops on drop.
pub struct DnsServer {
    answer: Arc<Mutex<DnsAnswer>>,
    _served: Served,
}

impl DnsServer {
    /// Changes the answer from the next query on.
    pub fn set(&self, answer: DnsAnswer) {
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) = answer;
    }
}

/// The reply to a query (its id and questions, and the answer); `None` for what does not parse.
fn dns_reply(query: &[u8], answer: DnsAnswer) -> Option<Vec<u8>> {
    use hickory_proto::{
        op::{Message, MessageType, ResponseCode},
        rr::{RData, Record, rdata::A},
    };
    let q = Message::from_vec(query).ok()?;
    let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    for question in &q.queries {
        r.add_query(question.clone());
        if answer == DnsAnswer::Address {
            let a = RData::A(A(DNS_ADDRESS));
            r.add_answer(Record::from_rdata(question.name().clone(), 60, a));
        }
    }
    if answer == DnsAnswer::NxDomain {
        r.metadata.response_code = ResponseCode::NXDomain;
    }
    r.to_vec().ok()
}

/// A UDP socket bound in a namespace: a sink that tells where datagrams arrive (read it with
/// [`UdpPort::socket`], 200 ms timeout), or a port a UDP check finds open; [`UdpPort::close`]
/// it and the namespace answers port unreachable (not rate-limited: every probe gets one).
pub struct UdpPort {
    netns: String,
    addr: SocketAddr,
    sock: Option<UdpSocket>,
}

impl UdpPort {
    pub fn open(ns: &Netns, addr: SocketAddr) -> Self {
        ns.sh("sysctl -qw net.ipv4.icmp_ratelimit=0");
        let mut port = UdpPort {
            netns: ns.name.clone(),
            addr,
            sock: None,
        };
        port.reopen();
        port
    }

    /// The bound socket; panics when closed.
    pub fn socket(&self) -> &UdpSocket {
        self.sock.as_ref().expect("the UDP port is open")
    }

    pub fn close(&mut self) {
        self.sock = None;
    }

    /// Binds the same address again.
    pub fn reopen(&mut self) {
        let addr = self.addr;
        let sock = in_netns(&self.netns, || UdpSocket::bind(addr))
            .unwrap_or_else(|e| panic!("bind udp {addr} in {}: {e}", self.netns));
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        self.sock = Some(sock);
    }
}

/// `GET /` on a fresh connection to `addr`; the body of a `200` answer. The whole exchange is
/// bounded by `timeout`. Call inside the client's namespace.
pub fn http_get(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    let host = match addr.ip() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    s.set_write_timeout(Some(timeout))?;
    s.write_all(
        format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lvs-lab\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, "timed out reading"))?;
        s.set_read_timeout(Some(left))?;
        match s.read(&mut buf)? {
            0 => break,
            n => resp.extend_from_slice(&buf[..n]),
        }
        if resp.len() > REQUEST_LIMIT {
            return Err(io::Error::other("answer too long"));
        }
    }
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other(format!("no HTTP header in {text:?}")))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(io::Error::other(format!(
            "status {:?}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.trim().to_owned())
}

/// `n` requests on fresh connections, one after the other; each answer's body (the real's
/// name) or the error's text. At most `n × timeout` in all. Call inside the client's namespace.
pub fn http_many(addr: SocketAddr, n: usize, timeout: Duration) -> Vec<Result<String, String>> {
    (0..n)
        .map(|_| http_get(addr, timeout).map_err(|e| e.to_string()))
        .collect()
}

/// A line-oriented TCP connection (see [`ServiceHost::tcp_lines`]), every exchange bounded.
pub struct LineClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl LineClient {
    /// Connects to `addr`; call inside the client's namespace.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        Ok(LineClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    /// Sends `line`, returns the answer `(name, echoed line)`.
    pub fn ask(&mut self, line: &str) -> io::Result<(String, String)> {
        self.writer.write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        if self.reader.read_line(&mut answer)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let (name, rest) = answer
            .trim_end()
            .split_once(' ')
            .ok_or_else(|| io::Error::other(format!("answer {answer:?}")))?;
        Ok((name.to_owned(), rest.to_owned()))
    }
}

/// A UDP flow (one client socket, so one source port) to `addr`; call inside the client's
/// namespace.
pub fn udp_flow(addr: SocketAddr, timeout: Duration) -> io::Result<UdpSocket> {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let s = UdpSocket::bind(local)?;
    s.connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    Ok(s)
}

/// Sends `payload` on a UDP flow and returns the name of the real that echoed it (`None` when
/// no matching answer came within the socket's timeout).
pub fn udp_ask(s: &UdpSocket, payload: &str) -> io::Result<Option<String>> {
    s.send(payload.as_bytes())?;
    let mut buf = [0u8; 2048];
    // Stale answers (an earlier payload that came late) are skipped, a bounded number of times.
    for _ in 0..8 {
        let n = match s.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        if let Some((name, rest)) = text.split_once(' ')
            && rest == payload
        {
            return Ok(Some(name.to_owned()));
        }
    }
    Ok(None)
}
