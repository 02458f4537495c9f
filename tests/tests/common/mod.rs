//! A running `lvs-ctl daemon` in the director namespace of a [`DrLab`], its config file and
//! socket in a private directory, and UDP helpers. Everything is undone on drop: the daemon is
//! killed, the directory and pins removed, the namespaces deleted.

#![allow(dead_code)]

pub mod health;

use lvs_common::{Real, Service, ServiceKey, VipKey};
use lvs_ctl::dataplane::{LoadOptions, Maps};
use lvs_tests::{PinDir, lab::*, require_root, unique};
use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr, UdpSocket},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_lvs-ctl-dev");
pub const PORT: u16 = 5000;
pub const SERVICE: &str = "198.18.100.1:5000/udp";

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

pub struct DaemonLab {
    pub lab: DrLab,
    pub pins: PinDir,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub daemon: Option<Child>,
    /// One UDP socket bound to VIP:PORT in each real.
    pub sinks: Vec<UdpSocket>,
    starts: u32,
}

impl DaemonLab {
    /// A lab with `n_reals` reals and a daemon whose service has the first `in_service` reals.
    pub fn new(tag: &str, n_reals: u8, in_service: usize) -> Self {
        Self::with_config(tag, n_reals, |me| {
            let reals: Vec<String> = me.lab.reals[..in_service]
                .iter()
                .map(|r| r.addr4.to_string())
                .collect();
            me.config_text(&reals, 1)
        })
    }

    /// A lab with `n_reals` reals and a daemon started on the configuration `config` returns
    /// (given the lab before the daemon starts: interface, pins, socket, directory).
    pub fn with_config(
        tag: &str,
        n_reals: u8,
        make_config: impl FnOnce(&DaemonLab) -> String,
    ) -> Self {
        require_root();
        let lab = DrLab::new(tag, n_reals);
        let pins = PinDir::new(tag);
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).expect("test directory");
        let config = dir.join("lvs.yaml");
        let socket = dir.join("lvs.sock");
        let vip: IpAddr = VIP4.parse().unwrap();
        let sinks = lab
            .reals
            .iter()
            .map(|r| {
                r.ns.enter(|| {
                    let s = UdpSocket::bind(SocketAddr::new(vip, PORT))
                        .expect("bind the VIP in the real");
                    s.set_read_timeout(Some(Duration::from_millis(200)))
                        .expect("timeout");
                    s
                })
            })
            .collect();
        let mut me = DaemonLab {
            lab,
            pins,
            dir,
            config,
            socket,
            daemon: None,
            sinks,
            starts: 0,
        };
        let text = make_config(&me);
        std::fs::write(&me.config, text).expect("write config");
        me.start();
        me
    }

    /// The daemon's configuration with these reals, each of `weight`.
    pub fn config_text(&self, reals: &[String], weight: u32) -> String {
        let reals: Vec<String> = reals
            .iter()
            .map(|a| format!("      - {{address: {a}, weight: {weight}}}"))
            .collect();
        format!(
            "global:\n  interfaces: [{iface}]\n  xdp_mode: native\n  pin_path: {pins}\n  socket: {sock}\n  \
conn_table_size: 65536\n  ring_size: 65537\n\
services:\n  - vip: {VIP4}\n    port: {PORT}\n    protocol: udp\n    \
check: {{type: ping, interval: 300ms, timeout: 250ms, rise: 1, fall: 3}}\n    reals:\n{}\n",
            reals.join("\n"),
            iface = self.lab.director_iface,
            pins = self.pins.0.display(),
            sock = self.socket.display(),
        )
    }

    /// Starts the daemon in the director's network namespace (only the network: it must see
    /// the host's bpffs) and waits until it answers with every real resolved.
    pub fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("daemon-{}.log", self.starts)))
            .expect("log file");
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.lab.director.name))
            .args([BIN, "daemon", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn lvs-ctl daemon");
        self.daemon = Some(child);
        self.wait_resolved(Duration::from_secs(15));
    }

    /// Kills the daemon (SIGKILL: no goodbye) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|i| {
                std::fs::read_to_string(self.dir.join(format!("daemon-{i}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---- restart ----\n")
    }

    /// `lvs-ctl --socket SOCK ARGS...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run lvs-ctl")
    }

    /// `ctl` that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "lvs-ctl {}: {}{}\ndaemon log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `list -o json` answers and every real of every service has its MAC.
    pub fn wait_resolved(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.ctl(&["list", "-o", "json"]);
            if out.status.success() {
                let l: lvs_ctl::api::Listing =
                    serde_json::from_slice(&out.stdout).expect("list -o json parses");
                if l.services
                    .iter()
                    .all(|s| s.reals.iter().all(|r| r.resolved))
                {
                    return;
                }
            }
            if let Some(c) = &self.daemon {
                let _ = c; // still ours
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready with resolved neighbours within {timeout:?}: {}\ndaemon log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `n` client UDP sockets (flows) in the client namespace.
    pub fn flows(&self, n: usize) -> Vec<UdpSocket> {
        self.lab.client.enter(|| {
            (0..n)
                .map(|_| {
                    let s = UdpSocket::bind(SocketAddr::new(CLIENT4.parse().unwrap(), 0))
                        .expect("client socket");
                    s.connect(SocketAddr::new(VIP4.parse().unwrap(), PORT))
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
                while let Ok((n, _)) = s.recv_from(&mut buf) {
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
                        self.log()
                    )
                })
            })
            .collect()
    }
}

impl Drop for DaemonLab {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
