//! The fixture of the lab tests: a [`Lab`], servers in its reals and an `lvs-ctl daemon` (the
//! `lvs-ctl-dev` binary) in the director's namespace, as a [`TestLab`]; and what the pinned
//! maps hold. Everything is undone on drop, also when a test fails.
//!
//! Two flavours: [`TestLab::web`] (a return path, HTTP on every real, the daemon started by the
//! test) and [`TestLab::sinks`] (one-way UDP to a sink bound to VIP:[`PORT`] in every real, the
//! daemon running on a configuration of [`PORT`]/udp).

#![allow(dead_code)]

pub mod health;

use lvs_common::{Real, Service, ServiceKey, VipKey};
use lvs_ctl::dataplane::{LoadOptions, Maps};
use lvs_tests::{
    lab::{
        CLIENT4, Lab, LabBuilder, LabDaemon, VIP4, VIP6, all_ready,
        serve::{Answer, HttpServer, Served, ServiceHost, UdpPort, http_many},
    },
    require_root, unique,
};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr, UdpSocket},
    path::Path,
    time::{Duration, Instant},
};

pub const CTL: &str = env!("CARGO_BIN_EXE_lvs-ctl-dev");
/// The UDP service of a [`TestLab::sinks`] lab.
pub const PORT: u16 = 5000;
pub const SERVICE: &str = "198.18.100.1:5000/udp";
pub const HTTP_PORT: u16 = 80;
pub const TIMEOUT: Duration = Duration::from_secs(2);

pub fn vip4() -> IpAddr {
    VIP4.parse().expect("VIP4")
}

pub fn vip6() -> IpAddr {
    VIP6.parse().expect("VIP6")
}

/// Everything the data plane holds for services: entries, live Maglev tables, reals, VIPs.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub services: Vec<(ServiceKey, Service, Option<Vec<u32>>)>,
    pub reals: Vec<(u32, Real)>,
    pub vips: Vec<(VipKey, u32)>,
}

/// What the maps pinned under `pins` hold now.
pub fn snapshot(pins: &Path) -> Snapshot {
    // A second handle on the pinned maps (its own program is never attached).
    let dp = Maps::load(&LoadOptions::new(pins)).expect("open the pinned maps");
    let mut services: Vec<_> = dp
        .services()
        .into_iter()
        .map(|(k, s)| (k, s, dp.read_ring(s.ring).expect("read the live table")))
        .collect();
    services.sort_by_key(|(k, _, _)| *k);
    let reals = (1..64)
        .map(|i| (i, dp.real(i).expect("read a real")))
        .filter(|(_, r)| *r != Real::default())
        .collect();
    let mut vips = dp.vips();
    vips.sort_by_key(|(k, _)| (k.addr, k.family));
    Snapshot {
        services,
        reals,
        vips,
    }
}

pub struct TestLab {
    /// The HTTP server of each real ([`TestLab::web`]), answering with the real's name.
    pub web: Vec<HttpServer>,
    /// Other servers started by the test.
    pub more: Vec<Served>,
    /// One UDP socket bound to VIP:PORT in each real ([`TestLab::sinks`]).
    pub sinks: Vec<UdpPort>,
    pub host: ServiceHost,
    pub daemon: LabDaemon,
    // Last: its teardown kills the daemon and removes the pins, files and namespaces.
    pub lab: Lab,
}

impl TestLab {
    /// The lab `builder` makes (tagged `tag`), a runtime for servers, a daemon prepared (not
    /// started); no server yet.
    pub fn new(tag: &str, builder: LabBuilder) -> Self {
        require_root();
        let lab = builder.tag(tag).build();
        let daemon = LabDaemon::new(&lab, &unique(tag), CTL, &[]);
        TestLab {
            web: Vec::new(),
            more: Vec::new(),
            sinks: Vec::new(),
            host: ServiceHost::new().expect("servers' runtime"),
            daemon,
            lab,
        }
    }

    /// `n` reals with a return path, each serving HTTP on port 80 (IPv4 and IPv6); the
    /// daemon is prepared, not started (see [`TestLab::start`]).
    pub fn web(tag: &str, n: u8) -> Self {
        let mut me = Self::new(tag, Lab::builder().reals(n).return_path(true));
        me.web = me
            .lab
            .reals
            .iter()
            .map(|r| {
                me.host
                    .http_server(&r.ns, &r.name, HTTP_PORT, Answer::Ok)
                    .unwrap_or_else(|e| panic!("http server in {}: {e}", r.name))
            })
            .collect();
        me
    }

    /// `n_reals` reals with a sink each, and a daemon running whose service has the first
    /// `in_service` reals.
    pub fn sinks(tag: &str, n_reals: u8, in_service: usize) -> Self {
        Self::sinks_with_config(tag, n_reals, |me| {
            let reals: Vec<String> = me.lab.reals[..in_service]
                .iter()
                .map(|r| r.addr4.to_string())
                .collect();
            me.config_text(&reals, 1)
        })
    }

    /// `n_reals` reals with a sink each, and a daemon running on the configuration `config`
    /// returns (given the lab before the daemon starts: interface, pins, socket, directory).
    pub fn sinks_with_config(
        tag: &str,
        n_reals: u8,
        make_config: impl FnOnce(&TestLab) -> String,
    ) -> Self {
        let mut me = Self::new(tag, Lab::builder().reals(n_reals));
        let sink = SocketAddr::new(vip4(), PORT);
        me.sinks = me
            .lab
            .reals
            .iter()
            .map(|r| UdpPort::open(&r.ns, sink))
            .collect();
        me.daemon.write_config(&make_config(&me));
        me.run_daemon();
        me
    }

    /// The `global:` section of this lab's daemon (a Maglev table of 65537 entries).
    pub fn global(&self) -> String {
        format!("{}  ring_size: 65537\n", self.daemon.global_yaml(&self.lab))
    }

    /// The daemon's configuration with one UDP service on [`PORT`], these reals each of
    /// `weight`, ping-checked.
    pub fn config_text(&self, reals: &[String], weight: u32) -> String {
        let reals: Vec<String> = reals
            .iter()
            .map(|a| format!("      - {{address: {a}, weight: {weight}}}"))
            .collect();
        format!(
            "{}services:\n  - vip: {VIP4}\n    port: {PORT}\n    protocol: udp\n    \
check: {{type: ping, interval: 300ms, timeout: 250ms, rise: 1, fall: 3}}\n    reals:\n{}\n",
            self.global(),
            reals.join("\n"),
        )
    }

    /// One service in the configuration's words; `reals` are (real index, weight).
    pub fn service(
        &self,
        vip: IpAddr,
        port: u16,
        protocol: &str,
        check: &str,
        reals: &[(usize, u32)],
    ) -> String {
        let reals: String = reals
            .iter()
            .map(|&(i, w)| {
                format!(
                    "      - {{address: {}, weight: {w}}}\n",
                    self.lab.real_addr(i, vip)
                )
            })
            .collect();
        format!(
            "  - vip: {vip}\n    port: {port}\n    protocol: {protocol}\n    check: {check}\n    reals:\n{reals}"
        )
    }

    /// Writes the configuration with these services, starts the daemon and waits until every
    /// real is resolved and passes its check.
    pub fn start(&mut self, services: &[String]) {
        let yaml = format!(
            "{}services:\n{}",
            self.daemon.global_yaml(&self.lab),
            services.concat()
        );
        self.daemon.write_config(&yaml);
        self.daemon.start();
        self.daemon
            .wait(Duration::from_secs(20), "every real resolved and up", |l| {
                all_ready(l, true)
            });
    }

    /// Starts the daemon on its configuration file and waits until every real is resolved.
    pub fn run_daemon(&mut self) {
        self.daemon.start();
        self.wait_resolved(Duration::from_secs(15));
    }

    /// Waits until the daemon answers and every real of every service has its MAC.
    pub fn wait_resolved(&self, timeout: Duration) {
        self.daemon
            .wait(timeout, "every real resolved", |l| all_ready(l, false));
    }

    /// `n` HTTP requests to `vip:80` on fresh connections from the client.
    pub fn http(&self, vip: IpAddr, n: usize) -> Vec<Result<String, String>> {
        let addr = SocketAddr::new(vip, HTTP_PORT);
        self.lab.client.enter(|| http_many(addr, n, TIMEOUT))
    }

    /// Names of the reals.
    pub fn names(&self) -> Vec<String> {
        self.lab.reals.iter().map(|r| r.name.clone()).collect()
    }

    /// `n` client UDP sockets (flows) to VIP:[`PORT`] in the client namespace.
    pub fn flows(&self, n: usize) -> Vec<UdpSocket> {
        self.lab.client.enter(|| {
            (0..n)
                .map(|_| {
                    let s = UdpSocket::bind(SocketAddr::new(CLIENT4.parse().unwrap(), 0))
                        .expect("client socket");
                    s.connect(SocketAddr::new(vip4(), PORT))
                        .expect("connect to the VIP");
                    s
                })
                .collect()
        })
    }

    /// Sends one datagram on each flow (payload `tag i`), then says which real (index into
    /// `lab.reals`) received each; panics if one got lost or reached two reals.
    pub fn where_do_they_go(&self, flows: &[UdpSocket], tag: &str) -> Vec<usize> {
        for (i, f) in flows.iter().enumerate() {
            f.send(format!("{tag} {i}").as_bytes())
                .expect("send to the VIP");
        }
        let mut seen: HashMap<usize, usize> = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut buf = [0u8; 512];
        while seen.len() < flows.len() && Instant::now() < deadline {
            for (r, s) in self.sinks.iter().enumerate() {
                while let Ok((n, _)) = s.socket().recv_from(&mut buf) {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if let Some(i) = text
                        .strip_prefix(&format!("{tag} "))
                        .and_then(|i| i.parse::<usize>().ok())
                    {
                        assert!(seen.insert(i, r).is_none(), "flow {i} reached two reals");
                    }
                }
            }
        }
        (0..flows.len())
            .map(|i| {
                *seen.get(&i).unwrap_or_else(|| {
                    panic!(
                        "datagram of flow {i} ({tag}) reached no real\ndaemon log:\n{}",
                        self.daemon.log()
                    )
                })
            })
            .collect()
    }
}

/// An HTTP check every `interval`, fall 2, rise 2 (`{...}` YAML flow mapping).
pub fn http_check(interval_ms: u64) -> String {
    format!(
        "{{type: http, interval: {interval_ms}ms, timeout: {}ms, fall: 2, rise: 2}}",
        interval_ms / 2
    )
}

/// A connect check (TCP handshake, or ldirectord's UDP probe) every 500 ms.
pub const CONNECT_CHECK: &str =
    "{type: connect, interval: 500ms, timeout: 250ms, fall: 2, rise: 2}";

/// Whether an Ethernet frame carries an IP packet whose source is `ip`.
pub fn from_ip(frame: &[u8], ip: IpAddr) -> bool {
    let Some(ethertype) = frame.get(12..14) else {
        return false;
    };
    match (ethertype, ip) {
        ([0x08, 0x00], IpAddr::V4(a)) => frame.get(26..30) == Some(&a.octets()[..]),
        ([0x86, 0xdd], IpAddr::V6(a)) => frame.get(22..38) == Some(&a.octets()[..]),
        _ => false,
    }
}
