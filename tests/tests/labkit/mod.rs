//! The fixture of the `lab_*` tests: a [`Lab`] with a return path (the reals answer the
//! client directly), servers on every real, and an `lvs-ctl daemon` (the `lvs-ctl-dev` binary)
//! in the director's namespace. Everything is undone on drop, also when a test fails.

#![allow(dead_code)]

use lvs_tests::{
    lab::{
        Lab, LabDaemon, VIP4, VIP6, all_ready,
        serve::{Served, ServiceHost, http_many},
    },
    require_root, unique,
};
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

pub const CTL: &str = env!("CARGO_BIN_EXE_lvs-ctl-dev");
pub const HTTP_PORT: u16 = 80;
pub const TIMEOUT: Duration = Duration::from_secs(2);

pub fn vip4() -> IpAddr {
    VIP4.parse().expect("VIP4")
}

pub fn vip6() -> IpAddr {
    VIP6.parse().expect("VIP6")
}

pub struct WebLab {
    /// The HTTP server of each real (`None` once stopped).
    pub web: Vec<Option<Served>>,
    /// Other servers started by the test.
    pub more: Vec<Served>,
    pub host: ServiceHost,
    pub daemon: LabDaemon,
    // Last: its teardown kills the daemon and removes the pins and namespaces.
    pub lab: Lab,
}

impl WebLab {
    /// `n` reals with a return path, each serving HTTP on port 80 (IPv4 and IPv6); the
    /// daemon is prepared, not started.
    pub fn new(tag: &str, n: u8) -> Self {
        require_root();
        let lab = Lab::builder().tag(tag).reals(n).return_path(true).build();
        let host = ServiceHost::new().expect("servers' runtime");
        let web = lab
            .reals
            .iter()
            .map(|r| {
                Some(
                    host.http(&r.ns, &r.name, HTTP_PORT)
                        .unwrap_or_else(|e| panic!("http server in {}: {e}", r.name)),
                )
            })
            .collect();
        let daemon = LabDaemon::new(&lab, &unique(tag), CTL, &[]);
        WebLab {
            web,
            more: Vec::new(),
            host,
            daemon,
            lab,
        }
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

    /// `n` HTTP requests to `vip:80` on fresh connections from the client.
    pub fn http(&self, vip: IpAddr, n: usize) -> Vec<Result<String, String>> {
        let addr = SocketAddr::new(vip, HTTP_PORT);
        self.lab.client.enter(|| http_many(addr, n, TIMEOUT))
    }

    /// Names of the reals.
    pub fn names(&self) -> Vec<String> {
        self.lab.reals.iter().map(|r| r.name.clone()).collect()
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
