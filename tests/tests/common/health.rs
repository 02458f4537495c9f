//! Health-check labs: servers in the reals' namespaces whose answers a test switches at run
//! time (HTTP, DNS, UDP), a daemon configuration with a maintenance directory and an
//! `on_change` hook, and waiting on `lvs-ctl list -o json`. Servers stop on drop.

#![allow(dead_code)]

use super::DaemonLab;
use lvs_ctl::api::{Health, Listing, RealView};
use lvs_tests::lab::Netns;
use std::{
    io::{Read, Write},
    net::{IpAddr, TcpListener, TcpStream, UdpSocket},
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Longest any server keeps a connection (slow or endless answers), so every thread ends.
const CONN_LIFETIME: Duration = Duration::from_secs(10);

/// The `global:` section for a [`DaemonLab`] with checks: the lab's interface, pins and socket,
/// `maintenance_dir: DIR/maint` and `on_change: DIR/hook.sh` (written: see [`hook_script`]).
pub fn global(d: &DaemonLab) -> String {
    hook_script(d);
    format!(
        "global:\n  interfaces: [{iface}]\n  xdp_mode: native\n  pin_path: {pins}\n  socket: {sock}\n  \
conn_table_size: 65536\n  ring_size: 65537\n  maintenance_dir: {maint}\n  on_change: {hook}\n",
        iface = d.lab.director_iface,
        pins = d.pins.0.display(),
        sock = d.socket.display(),
        maint = maint_dir(d).display(),
        hook = d.dir.join("hook.sh").display(),
    )
}

/// The maintenance directory of [`global`], created.
pub fn maint_dir(d: &DaemonLab) -> PathBuf {
    let dir = d.dir.join("maint");
    std::fs::create_dir_all(&dir).expect("maintenance directory");
    dir
}

/// Writes `DIR/hook.sh`, which appends one line per call to `DIR/hook.log`:
/// `LVS_EVENT|LVS_REASON|LVS_REAL|LVS_SERVICE|LVS_CAUSE`.
pub fn hook_script(d: &DaemonLab) {
    let path = d.dir.join("hook.sh");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$LVS_EVENT|$LVS_REASON|$LVS_REAL|$LVS_SERVICE|$LVS_CAUSE\" >> {}\n",
            d.dir.join("hook.log").display()
        ),
    )
    .expect("write hook");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod hook");
}

/// Lines the hook wrote so far.
pub fn hook_lines(d: &DaemonLab) -> Vec<String> {
    std::fs::read_to_string(d.dir.join("hook.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `lvs-ctl list -o json`.
pub fn listing(d: &DaemonLab) -> Listing {
    let out = d.ok(&["list", "-o", "json"]);
    serde_json::from_str(&out).expect("list -o json parses")
}

/// Real `addr` of the service on `port` in a listing (the fallback too).
pub fn real(l: &Listing, port: u16, addr: IpAddr) -> Option<&RealView> {
    l.services
        .iter()
        .find(|s| s.service.port == port)?
        .reals
        .iter()
        .find(|r| r.address == addr)
}

/// Polls `list -o json` every 25 ms until `want` holds, at most `within`; returns how long it
/// took and the listing that satisfied it. Panics with the last listing and the daemon's log.
pub fn wait_for(
    d: &DaemonLab,
    within: Duration,
    what: &str,
    want: impl Fn(&Listing) -> bool,
) -> (Duration, Listing) {
    let start = Instant::now();
    loop {
        let l = listing(d);
        if want(&l) {
            return (start.elapsed(), l);
        }
        assert!(
            start.elapsed() < within,
            "{what}: not within {within:?}\nlast listing: {}\ndaemon log:\n{}",
            lvs_ctl::render::json(&l),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether real `addr` of the service on `port` has health `h`.
pub fn health_is(l: &Listing, port: u16, addr: IpAddr, h: Health) -> bool {
    real(l, port, addr).is_some_and(|r| r.health == h)
}

/// Milliseconds since the Unix epoch, as the listing's times.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// A server thread started inside a namespace, stopped and joined on drop.
struct Worker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    fn start(ns: &Netns, f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&stop);
        // A thread spawned from a thread inside the namespace is in the namespace too.
        let thread = ns.enter(move || std::thread::spawn(move || f(s)));
        Worker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How an [`HttpServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `200 OK`, body `healthy`.
    Ok,
    /// This status, empty body.
    Status(u16),
    /// Reads the request and says nothing for [`CONN_LIFETIME`].
    Slow,
    /// `200 OK` and a body that does not end (for [`CONN_LIFETIME`]), never `healthy`.
    Endless,
    /// Not listening: connections are refused.
    Closed,
}

/// An HTTP/1.1 server on `0.0.0.0:port` in a real's namespace; a thread per connection.
pub struct HttpServer {
    answer: Arc<Mutex<Answer>>,
    _worker: Worker,
}

impl HttpServer {
    pub fn start(ns: &Netns, port: u16, answer: Answer) -> Self {
        let shared = Arc::new(Mutex::new(answer));
        let a = Arc::clone(&shared);
        let worker = Worker::start(ns, move |stop| {
            let mut listener: Option<TcpListener> = None;
            let mut conns = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let now = *a.lock().expect("answer");
                if now == Answer::Closed {
                    listener = None;
                } else if listener.is_none() {
                    let l = TcpListener::bind(("0.0.0.0", port)).expect("bind http server");
                    l.set_nonblocking(true).expect("nonblocking");
                    listener = Some(l);
                }
                match listener.as_ref().map(TcpListener::accept) {
                    Some(Ok((s, _))) => {
                        let stop = Arc::clone(&stop);
                        conns.push(std::thread::spawn(move || serve_http(s, now, &stop)));
                    }
                    _ => std::thread::sleep(Duration::from_millis(5)),
                }
                conns.retain(|c: &JoinHandle<()>| !c.is_finished());
            }
            for c in conns {
                let _ = c.join();
            }
        });
        HttpServer {
            answer: shared,
            _worker: worker,
        }
    }

    /// Changes how the server answers from the next connection on.
    pub fn set(&self, answer: Answer) {
        *self.answer.lock().expect("answer") = answer;
    }
}

fn serve_http(mut s: TcpStream, answer: Answer, stop: &AtomicBool) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let until = Instant::now() + CONN_LIFETIME;
    match answer {
        Answer::Ok => {
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhealthy",
            );
        }
        Answer::Status(code) => {
            let _ = s.write_all(
                format!("HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
        Answer::Slow => {
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Answer::Endless => {
            if s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .is_err()
            {
                return;
            }
            let chunk = [b'x'; 16 * 1024];
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                if s.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
        Answer::Closed => {}
    }
}

/// How a [`DnsServer`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsAnswer {
    /// An A record, 198.18.0.99, for any name.
    Address,
    /// NXDOMAIN.
    NxDomain,
}

/// A DNS server on UDP `0.0.0.0:53` in a real's namespace.
pub struct DnsServer {
    answer: Arc<Mutex<DnsAnswer>>,
    _worker: Worker,
}

impl DnsServer {
    pub fn start(ns: &Netns, answer: DnsAnswer) -> Self {
        let shared = Arc::new(Mutex::new(answer));
        let a = Arc::clone(&shared);
        let worker = Worker::start(ns, move |stop| {
            let sock = UdpSocket::bind(("0.0.0.0", 53)).expect("bind dns server");
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .expect("timeout");
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let answer = *a.lock().expect("answer");
                if let Some(reply) = dns_reply(&buf[..n], answer) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        DnsServer {
            answer: shared,
            _worker: worker,
        }
    }

    pub fn set(&self, answer: DnsAnswer) {
        *self.answer.lock().expect("answer") = answer;
    }
}

/// The reply to a one-question query: its header and question, and the answer.
fn dns_reply(q: &[u8], answer: DnsAnswer) -> Option<Vec<u8>> {
    let mut end = 12;
    while *q.get(end)? != 0 {
        end += 1 + usize::from(q[end]);
    }
    end += 5; // root label, qtype, qclass
    let question = q.get(12..end)?;
    let mut r = Vec::with_capacity(end + 16);
    r.extend_from_slice(&q[..2]);
    match answer {
        DnsAnswer::Address => r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
        DnsAnswer::NxDomain => r.extend_from_slice(&[0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]),
    }
    r.extend_from_slice(question);
    if answer == DnsAnswer::Address {
        // Name by pointer to the question, A, IN, TTL 60, 4 bytes of address.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 99]);
    }
    Some(r)
}

/// A UDP socket on `0.0.0.0:port` in a real's namespace, for a UDP connect check; `close` it and
/// the real answers port unreachable.
pub struct UdpPort {
    ns_name: String,
    port: u16,
    sock: Option<UdpSocket>,
}

impl UdpPort {
    pub fn open(ns: &Netns, port: u16) -> Self {
        // The check relies on ICMP port unreachable: do not let the kernel rate-limit it.
        ns.sh("sysctl -qw net.ipv4.icmp_ratelimit=0");
        let sock = ns.enter(|| UdpSocket::bind(("0.0.0.0", port)).expect("bind udp port"));
        UdpPort {
            ns_name: ns.name.clone(),
            port,
            sock: Some(sock),
        }
    }

    pub fn close(&mut self) {
        self.sock = None;
    }

    pub fn reopen(&mut self, ns: &Netns) {
        assert_eq!(ns.name, self.ns_name);
        let port = self.port;
        self.sock = Some(ns.enter(|| UdpSocket::bind(("0.0.0.0", port)).expect("rebind")));
    }
}

/// The columns after `-> ADDR` of a real's line in `lvs-ctl list`, and the line under it (its
/// check, if any).
pub fn real_row(table: &str, addr: &str) -> (Vec<String>, String) {
    let mut lines = table.lines();
    let line = lines
        .find(|l| l.starts_with(&format!("  -> {addr} ")))
        .unwrap_or_else(|| panic!("{addr} in {table}"));
    let columns = line.split_whitespace().skip(2).map(str::to_owned).collect();
    let next = lines.next().unwrap_or_default();
    let detail = if next.starts_with("       check ") {
        next.trim().to_owned()
    } else {
        String::new()
    };
    (columns, detail)
}
