//! Network-namespace labs: namespaces, veth links and addresses from 198.18.0.0/15 and
//! 2001:db8::/32, torn down on drop (also when a test panics).
//!
//! The direct-routing lab is two-armed: the client reaches the director over one veth pair,
//! and each real server hangs off the director on a veth pair of its own. With a return path
//! ([`LabBuilder::return_path`]), the reals answer the client through a bridge in a "switch"
//! namespace, never through the director, as direct routing does on a real network:
//!
//! ```text
//!  client ──c0/d0── director ──d1/r0── real 1   (VIP on lo, arp_ignore=1, arp_announce=2)
//!    │                       ──d2/r0── real 2
//!    │                       ──d3/r0── real 3
//!    └─c1/s0── switch (br0) ──s1/rb── real 1, s2/rb── real 2, s3/rb── real 3   (replies)
//! ```
//!
//! Forward path: 198.18.0.0/24 (client, director), 198.18.I.0/24 (director, real I);
//! return path: 198.19.0.0/24 and 2001:db8:ffff::/64 (client .1, real I .(16+I)).
//!
//! The routed lab ([`LabBuilder::routed`], for tunnel mode; IPv4 only) puts a router between
//! the director and the reals, so a real is one routed hop away; the reals answer the client
//! through the router, never through the director:
//!
//! ```text
//!  client c0 ── d0 director d1 ── r0 router rI ── s0 real I   (VIP on lo)
//!         c1 ─────────────────────── rc (replies: real -> router -> client)
//! ```
//!
//! Routed addresses: 198.18.10.0/24 (director .1, router .2), 198.18.(19+I).0/24 (router .1,
//! real I .2), 198.18.30.0/24 (client .1, router .2).
//! Everything a lab starts (namespaces, child processes, pins, files) is registered in its
//! [`Teardown`] and removed on drop, or earlier from another thread (a Ctrl-C handler).

pub mod serve;

use std::{
    fs::File,
    net::IpAddr,
    os::fd::AsRawFd,
    path::{Path, PathBuf},
    process::{Child, Command, Output},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// A network namespace, deleted (with every interface in it) on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Self {
        run("ip", &["netns", "add", name]);
        let ns = Netns {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ARGS...`, panicking with the output on failure.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A shell command inside the namespace (`ip netns exec`), panicking on failure.
    pub fn sh(&self, cmd: &str) -> Output {
        run("ip", &["netns", "exec", &self.name, "sh", "-c", cmd])
    }

    /// Runs `f` on a thread that has entered this namespace (network only: the mounts, and so
    /// `/sys/fs/bpf`, stay the host's). Sockets and programs made there stay in the namespace.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        in_netns(&self.name, f)
    }

    /// Index of `iface` in this namespace.
    pub fn ifindex(&self, iface: &str) -> u32 {
        let c = std::ffi::CString::new(iface).expect("name");
        // SAFETY: valid C string.
        let i = self.enter(|| unsafe { libc::if_nametoindex(c.as_ptr()) });
        assert_ne!(i, 0, "{iface} not found in {}", self.name);
        i
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete_netns(&self.name);
    }
}

/// Runs `f` on a thread that has entered the network namespace `name` (see [`Netns::enter`]);
/// for code that keeps a namespace's name, not its [`Netns`].
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/run/netns/{name}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns on a namespace fd affects only this thread.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("thread in namespace panicked")
    })
}

/// `ip netns del NAME` if it exists (deleting also removes its interfaces, and with them the
/// veth peers and any XDP program attached to them).
pub fn delete_netns(name: &str) {
    if Path::new("/run/netns").join(name).exists() {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
    }
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Creates a veth pair `a` (in `na`) <-> `b` (in `nb`) with the given MACs, both up.
pub fn veth(na: &Netns, a: &str, mac_a: [u8; 6], nb: &Netns, b: &str, mac_b: [u8; 6]) {
    na.ip(&[
        "link",
        "add",
        a,
        "address",
        &mac_str(mac_a),
        "type",
        "veth",
        "peer",
        "name",
        b,
        "address",
        &mac_str(mac_b),
        "netns",
        &nb.name,
    ]);
    na.ip(&["link", "set", a, "up"]);
    nb.ip(&["link", "set", b, "up"]);
}

pub const VIP4: &str = "198.18.100.1";
pub const VIP6: &str = "2001:db8:100::1";
pub const CLIENT4: &str = "198.18.0.1";
pub const CLIENT6: &str = "2001:db8::1";

/// The lab's MACs: `02:00:00:00:I:E`, `I` the real whose link it is (0: the client's link),
/// `E` the end (1: towards the client, 2: away from it, 3: real `I`'s return path). `lvs_sink`
/// counts a frame in the slot of its destination's byte `I` (0 the director, `I` real `I`), so
/// the lab keeps this plan rather than the packet tests' [`crate::packet::real_mac`]; a real's
/// MAC is [`LabReal::mac`].
pub const fn lab_mac(i: u8, end: u8) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0x00, i, end]
}

pub const CLIENT_MAC: [u8; 6] = lab_mac(0, 1);
pub const DIRECTOR_IN_MAC: [u8; 6] = lab_mac(0, 2);

/// MAC of the director's side of real `i`'s link.
pub const fn director_out_mac(i: u8) -> [u8; 6] {
    lab_mac(i, 1)
}

/// The routed lab: the director's address towards the router (a tunnel's source), and the
/// router's MAC there (the next hop of every real).
pub const DIRECTOR_ROUTED4: &str = "198.18.10.1";
pub const ROUTER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x0a, 0x02];

/// One real server of the lab.
pub struct LabReal {
    /// `real-I`, what the lab's servers answer with.
    pub name: String,
    pub ns: Netns,
    pub addr4: IpAddr,
    /// `::` in a routed lab (IPv4 only).
    pub addr6: IpAddr,
    pub mac: [u8; 6],
    /// Where the director sends this real's frames: the real itself, or in a routed lab the
    /// router ([`ROUTER_MAC`]).
    pub next_hop_mac: [u8; 6],
    /// The director's interface towards this real, its index and MAC.
    pub director_iface: String,
    pub director_ifindex: u32,
    pub director_mac: [u8; 6],
}

impl LabReal {
    /// This real as a direct-routing real of weight 1 for the director's maps, at its IPv4 or
    /// IPv6 address (the family of `vip`), reached through the director's interface towards it.
    pub fn dr_spec(&self, vip: IpAddr) -> lvs_ctl::dataplane::RealSpec {
        lvs_ctl::dataplane::RealSpec {
            ifindex: self.director_ifindex,
            ..lvs_ctl::dataplane::RealSpec::dr(
                if vip.is_ipv4() {
                    self.addr4
                } else {
                    self.addr6
                },
                1,
                self.mac,
                self.director_mac,
            )
        }
    }
}

/// Return-path addresses: the client's side of the switch, and real `i`'s.
pub const CLIENT_RETURN4: &str = "198.19.0.1";
pub const CLIENT_RETURN6: &str = "2001:db8:ffff::1";

/// MAC of the client's return-path interface.
pub const CLIENT_RETURN_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0xff, 0x01];

/// MAC of real `i`'s return-path interface, and of the switch's port towards it.
pub const fn real_return_mac(i: u8) -> [u8; 6] {
    lab_mac(i, 3)
}
const fn switch_port_mac(i: u8) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0xff, i, 0x00]
}

/// What must be undone when a lab ends, in this order: child processes killed and reaped,
/// pin directories removed, files and directories removed, namespaces deleted.
///
/// Shared (cheap to clone) so that a signal handler on another thread can undo everything
/// while the owner is busy; [`Teardown::run`] is idempotent and holds a lock while it works,
/// so a second caller waits for the first to finish.
#[derive(Clone, Default)]
pub struct Teardown(Arc<Mutex<Undo>>);

#[derive(Default)]
struct Undo {
    next_child: u64,
    children: Vec<(u64, Child)>,
    pins: Vec<PathBuf>,
    paths: Vec<PathBuf>,
    namespaces: Vec<String>,
}

/// A child process registered with a [`Teardown`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildId(u64);

impl Teardown {
    /// On SIGINT, from a thread of its own (so it works whatever the program is doing): undo
    /// everything, say so as `who`, exit 130.
    pub fn on_ctrl_c(&self, who: &'static str) -> anyhow::Result<()> {
        use anyhow::Context as _;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("signal runtime")?;
        // Registered before returning, so a Ctrl-C from now on is ours.
        let mut sigint = rt
            .block_on(async {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            })
            .context("registering SIGINT")?;
        let teardown = self.clone();
        std::thread::Builder::new()
            .name("ctrl-c".into())
            .spawn(move || {
                rt.block_on(sigint.recv());
                eprintln!("\n^C: removing the lab...");
                teardown.run();
                eprintln!("{who}: interrupted; everything it made is removed");
                std::process::exit(130);
            })
            .context("spawning the Ctrl-C thread")?;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Undo> {
        // A panic while holding the lock leaves consistent data: keep going.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `child`: it is killed (SIGKILL) and reaped at teardown.
    pub fn adopt(&self, child: Child) -> ChildId {
        let mut u = self.lock();
        u.next_child += 1;
        let id = u.next_child;
        u.children.push((id, child));
        ChildId(id)
    }

    /// Kills and reaps one adopted child now (no-op when already gone).
    pub fn kill(&self, id: ChildId) {
        let child = {
            let mut u = self.lock();
            let i = u.children.iter().position(|(c, _)| *c == id.0);
            i.map(|i| u.children.remove(i).1)
        };
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends SIGTERM to one adopted child and waits up to `grace` for it to exit (then
    /// SIGKILL). Returns whether it exited on its own.
    pub fn terminate(&self, id: ChildId, grace: Duration) -> bool {
        let child = {
            let mut u = self.lock();
            let i = u.children.iter().position(|(c, _)| *c == id.0);
            i.map(|i| u.children.remove(i).1)
        };
        let Some(mut c) = child else { return true };
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Whether an adopted child is still running.
    pub fn running(&self, id: ChildId) -> bool {
        let mut u = self.lock();
        match u.children.iter_mut().find(|(c, _)| *c == id.0) {
            Some((_, c)) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// How an adopted child exited, once it has (`None` while it runs, or when not adopted).
    pub fn exit_status(&self, id: ChildId) -> Option<std::process::ExitStatus> {
        let mut u = self.lock();
        let (_, c) = u.children.iter_mut().find(|(c, _)| *c == id.0)?;
        c.try_wait().ok().flatten()
    }

    /// A bpffs directory whose pins are removed at teardown.
    pub fn pins(&self, dir: impl Into<PathBuf>) {
        self.lock().pins.push(dir.into());
    }

    /// A file or directory removed at teardown.
    pub fn path(&self, p: impl Into<PathBuf>) {
        self.lock().paths.push(p.into());
    }

    /// A network namespace deleted at teardown.
    pub fn netns(&self, name: &str) {
        self.lock().namespaces.push(name.to_owned());
    }

    /// Undoes everything registered so far, children first and namespaces last.
    pub fn run(&self) {
        let mut u = self.lock();
        for (_, mut c) in u.children.drain(..).rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for p in u.pins.drain(..).rev() {
            let _ = lvs_ctl::dataplane::unpin_all(&p);
        }
        for p in u.paths.drain(..).rev() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
        for n in u.namespaces.drain(..).rev() {
            delete_netns(&n);
        }
    }
}

/// How to build a [`Lab`].
#[derive(Clone)]
pub struct LabBuilder {
    prefix: Option<String>,
    tag: String,
    reals: u8,
    return_path: bool,
    routed: bool,
    teardown: Option<Teardown>,
}

impl LabBuilder {
    /// Namespace names are [`crate::unique`]`(tag)` + a role letter (default tag: `lab`).
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_owned();
        self
    }

    /// Namespace names are exactly `prefix` + `-client`, `-director`, `-switch`, `-real1`...
    /// (the demo uses its pid, so leftovers of a killed run can be found and removed).
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_owned());
        self
    }

    /// Number of real servers, 1..=9 (default 2).
    pub fn reals(mut self, n: u8) -> Self {
        self.reals = n;
        self
    }

    /// Whether the reals answer the client through the switch (default: no, replies would be
    /// routed to the director, which does not forward them: enough for one-way UDP).
    pub fn return_path(mut self, on: bool) -> Self {
        self.return_path = on;
        self
    }

    /// Whether a router stands between the director and the reals, one routed hop (tunnel
    /// mode; IPv4 only, the reals answer through the router: see the module's picture).
    pub fn routed(mut self, on: bool) -> Self {
        self.routed = on;
        self
    }

    /// Registers the lab's namespaces (and what its users add) with this teardown instead of a
    /// new one: a Ctrl-C handler holding a clone can undo a lab still being built.
    pub fn teardown(mut self, t: Teardown) -> Self {
        self.teardown = Some(t);
        self
    }

    /// Builds the lab; panics with the failing command's output.
    pub fn build(self) -> Lab {
        assert!(
            (1..=9).contains(&self.reals),
            "a lab has 1 to 9 reals, not {}",
            self.reals
        );
        let uniq = crate::unique(&self.tag);
        let ns_name = |role: &str, short: &str| match &self.prefix {
            Some(p) => format!("{p}-{role}"),
            None => format!("{uniq}{short}"),
        };
        let teardown = self.teardown.clone().unwrap_or_default();
        let new_ns = |role: &str, short: &str| {
            let n = ns_name(role, short);
            teardown.netns(&n);
            Netns::new(&n)
        };

        let client = new_ns("client", "c");
        let director = new_ns("director", "d");
        veth(&client, "c0", CLIENT_MAC, &director, "d0", DIRECTOR_IN_MAC);
        client.ip(&["addr", "add", "198.18.0.1/24", "dev", "c0"]);
        client.ip(&["-6", "addr", "add", "2001:db8::1/64", "dev", "c0", "nodad"]);
        director.ip(&["addr", "add", "198.18.0.2/24", "dev", "d0"]);
        director.ip(&["-6", "addr", "add", "2001:db8::2/64", "dev", "d0", "nodad"]);
        client.ip(&["route", "add", "198.18.100.0/24", "via", "198.18.0.2"]);
        client.ip(&[
            "-6",
            "route",
            "add",
            "2001:db8:100::/64",
            "via",
            "2001:db8::2",
        ]);
        // The director's XDP program rewrites only MACs: a frame must leave the client with
        // its checksums complete, not left to an offload that never happens.
        client.sh("ethtool -K c0 tx off >/dev/null");

        let (switch, router, reals) = if self.routed {
            assert!(
                !self.return_path,
                "a routed lab has its return path through the router"
            );
            let (router, reals) = routed(&client, &director, self.reals, &new_ns);
            (None, Some(router), reals)
        } else {
            let switch = self.return_path.then(|| {
                let sw = new_ns("switch", "s");
                sw.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0"]);
                sw.ip(&["link", "set", "br0", "up"]);
                veth(
                    &client,
                    "c1",
                    CLIENT_RETURN_MAC,
                    &sw,
                    "s0",
                    switch_port_mac(0),
                );
                sw.ip(&["link", "set", "s0", "master", "br0"]);
                client.ip(&["addr", "add", &format!("{CLIENT_RETURN4}/24"), "dev", "c1"]);
                client.ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("{CLIENT_RETURN6}/64"),
                    "dev",
                    "c1",
                    "nodad",
                ]);
                // Replies from the VIP arrive on c1 while the route to the VIP leaves by c0:
                // strict reverse-path filtering would drop them.
                client.sh(
                    "sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
                   net.ipv4.conf.c0.rp_filter=0 net.ipv4.conf.c1.rp_filter=0",
                );
                sw
            });

            let mut reals = Vec::new();
            for i in 1..=self.reals {
                let ns = new_ns(&format!("real{i}"), &format!("r{i}"));
                let d_if = format!("d{i}");
                veth(
                    &director,
                    &d_if,
                    director_out_mac(i),
                    &ns,
                    "r0",
                    lab_mac(i, 2),
                );
                director.ip(&["addr", "add", &format!("198.18.{i}.1/24"), "dev", &d_if]);
                director.ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("2001:db8:{i}::1/64"),
                    "dev",
                    &d_if,
                    "nodad",
                ]);
                ns.ip(&["addr", "add", &format!("198.18.{i}.2/24"), "dev", "r0"]);
                ns.ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("2001:db8:{i}::2/64"),
                    "dev",
                    "r0",
                    "nodad",
                ]);
                ns.ip(&["route", "add", "default", "via", &format!("198.18.{i}.1")]);
                ns.ip(&[
                    "-6",
                    "route",
                    "add",
                    "default",
                    "via",
                    &format!("2001:db8:{i}::1"),
                ]);
                // The real holds the VIPs on loopback and never answers ARP/ND for them.
                ns.ip(&["addr", "add", &format!("{VIP4}/32"), "dev", "lo"]);
                ns.ip(&[
                    "-6",
                    "addr",
                    "add",
                    &format!("{VIP6}/128"),
                    "dev",
                    "lo",
                    "nodad",
                ]);
                ns.sh(
                    "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
                   net.ipv4.conf.r0.rp_filter=0 net.ipv4.conf.all.rp_filter=0 \
                   net.ipv4.conf.default.rp_filter=0",
                );
                // Frames redirected by XDP into a veth are dropped unless its peer can take
                // them: GRO on the receiving end gives it the NAPI instance that does.
                ns.sh("ethtool -K r0 gro on >/dev/null");
                if let Some(sw) = &switch {
                    veth(
                        &ns,
                        "rb",
                        real_return_mac(i),
                        sw,
                        &format!("s{i}"),
                        switch_port_mac(i),
                    );
                    sw.ip(&["link", "set", &format!("s{i}"), "master", "br0"]);
                    let h = 16 + u32::from(i);
                    ns.ip(&["addr", "add", &format!("198.19.0.{h}/24"), "dev", "rb"]);
                    ns.ip(&[
                        "-6",
                        "addr",
                        "add",
                        &format!("2001:db8:ffff::{h:x}/64"),
                        "dev",
                        "rb",
                        "nodad",
                    ]);
                    // Replies to the client's network go straight to it, not to the director.
                    ns.ip(&[
                        "route",
                        "add",
                        "198.18.0.0/24",
                        "via",
                        CLIENT_RETURN4,
                        "dev",
                        "rb",
                    ]);
                    ns.ip(&[
                        "-6",
                        "route",
                        "add",
                        "2001:db8::/64",
                        "via",
                        CLIENT_RETURN6,
                        "dev",
                        "rb",
                    ]);
                    ns.sh("sysctl -qw net.ipv4.conf.rb.rp_filter=0");
                }
                let director_ifindex = director.ifindex(&d_if);
                reals.push(LabReal {
                    name: format!("real-{i}"),
                    ns,
                    addr4: format!("198.18.{i}.2").parse().expect("addr"),
                    addr6: format!("2001:db8:{i}::2").parse().expect("addr"),
                    mac: lab_mac(i, 2),
                    next_hop_mac: lab_mac(i, 2),
                    director_iface: d_if,
                    director_ifindex,
                    director_mac: director_out_mac(i),
                });
            }
            (switch, None, reals)
        };
        Lab {
            client,
            director,
            reals,
            director_iface: "d0",
            switch,
            router,
            teardown,
        }
    }
}

/// The routed part of a lab: the router on the director's `d1`, `n` reals behind it, and the
/// client's return path `c1` through it.
fn routed(
    client: &Netns,
    director: &Netns,
    n: u8,
    new_ns: &dyn Fn(&str, &str) -> Netns,
) -> (Netns, Vec<LabReal>) {
    let router = new_ns("router", "t");
    veth(
        director,
        "d1",
        director_out_mac(1),
        &router,
        "r0",
        ROUTER_MAC,
    );
    veth(
        &router,
        "rc",
        [0x02, 0, 0, 0, 0x1e, 0x02],
        client,
        "c1",
        CLIENT_RETURN_MAC,
    );
    client.ip(&["addr", "add", "198.18.30.1/24", "dev", "c1"]);
    director.ip(&[
        "addr",
        "add",
        &format!("{DIRECTOR_ROUTED4}/24"),
        "dev",
        "d1",
    ]);
    router.ip(&["addr", "add", "198.18.10.2/24", "dev", "r0"]);
    router.ip(&["addr", "add", "198.18.30.2/24", "dev", "rc"]);
    router.ip(&["route", "add", "198.18.0.0/24", "via", "198.18.30.1"]);
    let loose = "sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0";
    client.sh(&format!(
        "{loose} net.ipv4.conf.c0.rp_filter=0 net.ipv4.conf.c1.rp_filter=0"
    ));
    router.sh(&format!("{loose} net.ipv4.ip_forward=1"));
    // The router's end of the director's egress link takes redirected frames.
    router.sh("ethtool -K r0 gro on >/dev/null");
    let director_ifindex = director.ifindex("d1");
    let reals = (1..=n)
        .map(|i| {
            let ns = new_ns(&format!("real{i}"), &format!("r{i}"));
            let (r_if, net) = (format!("r{i}"), 19 + u32::from(i));
            veth(
                &router,
                &r_if,
                [0x02, 0, 0, 0x0a, i, 0x01],
                &ns,
                "s0",
                lab_mac(i, 2),
            );
            router.ip(&["addr", "add", &format!("198.18.{net}.1/24"), "dev", &r_if]);
            ns.ip(&["addr", "add", &format!("198.18.{net}.2/24"), "dev", "s0"]);
            ns.ip(&["addr", "add", &format!("{VIP4}/32"), "dev", "lo"]);
            ns.ip(&["route", "add", "default", "via", &format!("198.18.{net}.1")]);
            ns.sh(&format!(
                "{loose} net.ipv4.conf.s0.rp_filter=0 net.ipv4.conf.lo.rp_filter=0"
            ));
            LabReal {
                name: format!("real-{i}"),
                ns,
                addr4: format!("198.18.{net}.2").parse().expect("addr"),
                addr6: std::net::Ipv6Addr::UNSPECIFIED.into(),
                mac: lab_mac(i, 2),
                next_hop_mac: ROUTER_MAC,
                director_iface: "d1".into(),
                director_ifindex,
                director_mac: director_out_mac(1),
            }
        })
        .collect();
    (router, reals)
}

/// client -- director -- N reals, direct routing, and optionally the reals' return path to the
/// client through a switch. Everything registered in `teardown` is undone on drop.
pub struct Lab {
    pub client: Netns,
    pub director: Netns,
    pub reals: Vec<LabReal>,
    /// The director's interface towards the client (where lvs_director attaches).
    pub director_iface: &'static str,
    /// The switch of the return path (a bridge `br0`), when built with one.
    pub switch: Option<Netns>,
    /// The router between the director and the reals, in a routed lab.
    pub router: Option<Netns>,
    /// What must be undone; register child processes, pins and files here.
    pub teardown: Teardown,
}

impl Lab {
    pub fn builder() -> LabBuilder {
        LabBuilder {
            prefix: None,
            tag: "lab".into(),
            reals: 2,
            return_path: false,
            routed: false,
            teardown: None,
        }
    }

    /// Builds the lab without a return path; `tag` makes the namespace names unique (see
    /// [`crate::unique`]).
    pub fn new(tag: &str, n_reals: u8) -> Self {
        Self::builder().tag(tag).reals(n_reals).build()
    }

    /// Every namespace of the lab.
    pub fn namespaces(&self) -> Vec<&Netns> {
        let mut v = vec![&self.client, &self.director];
        v.extend(self.switch.iter());
        v.extend(self.router.iter());
        v.extend(self.reals.iter().map(|r| &r.ns));
        v
    }

    /// The real's address in the VIP's family.
    pub fn real_addr(&self, i: usize, vip: IpAddr) -> IpAddr {
        let r = &self.reals[i];
        if vip.is_ipv4() { r.addr4 } else { r.addr6 }
    }

    /// Index of the real named `name` (`real-2` -> 1).
    pub fn real_index(&self, name: &str) -> Option<usize> {
        self.reals.iter().position(|r| r.name == name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown.run();
    }
}

/// An `lvs-ctl daemon` run as a child process in the director's network namespace (only the
/// network: it must see the host's bpffs), with its config file, logs, socket and pins named
/// after `name`: `/tmp/NAME/`, `/run/NAME.sock`, `/sys/fs/bpf/NAME`. Killed, unpinned and
/// removed at the lab's teardown.
pub struct LabDaemon {
    /// The `lvs-ctl` program and the arguments that come before its own.
    program: PathBuf,
    prefix: Vec<String>,
    env: Vec<(String, String)>,
    netns: String,
    teardown: Teardown,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub pins: PathBuf,
    child: Option<ChildId>,
    starts: u32,
}

impl LabDaemon {
    /// Prepares (does not start) a daemon for `lab`; `program prefix...` is an `lvs-ctl`.
    pub fn new(lab: &Lab, name: &str, program: impl Into<PathBuf>, prefix: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        let socket = PathBuf::from(format!("/run/{name}.sock"));
        let pins = PathBuf::from(format!("/sys/fs/bpf/{name}"));
        lab.teardown.path(&dir);
        lab.teardown.path(&socket);
        lab.teardown.pins(&pins);
        LabDaemon {
            program: program.into(),
            prefix: prefix.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            netns: lab.director.name.clone(),
            teardown: lab.teardown.clone(),
            config: dir.join("lvs.yaml"),
            dir,
            socket,
            pins,
            child: None,
            starts: 0,
        }
    }

    /// An environment variable for the daemon and the CLI runs.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The `global:` section for this daemon in `lab`: attaches natively to the director's
    /// client-side interface, pins and socket of its own, a small connection table.
    pub fn global_yaml(&self, lab: &Lab) -> String {
        format!(
            "global:\n  interfaces: [{}]\n  xdp_mode: native\n  pin_path: {}\n  socket: {}\n  conn_table_size: 65536\n",
            lab.director_iface,
            self.pins.display(),
            self.socket.display()
        )
    }

    /// Writes the configuration file (a running daemon notices and reloads it).
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config, yaml)
            .unwrap_or_else(|e| panic!("writing {}: {e}", self.config.display()));
    }

    fn log_path(&self, n: u32) -> PathBuf {
        self.dir.join(format!("daemon-{n}.log"))
    }

    /// The current run's log file.
    pub fn current_log(&self) -> PathBuf {
        self.log_path(self.starts)
    }

    /// Starts the daemon (does not wait for it: see [`LabDaemon::wait`]).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "the daemon runs already");
        self.starts += 1;
        let path = self.log_path(self.starts);
        let log = File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let log2 = log.try_clone().expect("clone the log file handle");
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/run/netns/{}", self.netns))
            .arg(&self.program)
            .args(&self.prefix)
            .args(["daemon", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2);
        // The daemon dies with the thread that started it, even when this process is killed
        // without a chance to clean up (SIGKILL): no daemon outlives its lab.
        // SAFETY: prctl(2) is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {} daemon: {e}", self.program.display()));
        self.child = Some(self.teardown.adopt(child));
    }

    /// Kills the daemon (SIGKILL: no goodbye). The program stays attached and pinned.
    pub fn kill(&mut self) {
        if let Some(c) = self.child.take() {
            self.teardown.kill(c);
        }
    }

    /// Stops the daemon with SIGTERM (as an operator would) and waits for it.
    pub fn stop(&mut self) -> bool {
        match self.child.take() {
            Some(c) => self.teardown.terminate(c, Duration::from_secs(5)),
            None => true,
        }
    }

    /// Whether the daemon process is alive.
    pub fn running(&self) -> bool {
        self.child.is_some_and(|c| self.teardown.running(c))
    }

    /// How the daemon exited, once it has (a start that must fail).
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        self.child.and_then(|c| self.teardown.exit_status(c))
    }

    /// Every run's log, runs separated by `---- restart ----`.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|i| std::fs::read_to_string(self.log_path(i)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---- restart ----\n")
    }

    /// One request to the daemon.
    pub fn request(
        &self,
        req: &lvs_ctl::api::Request,
    ) -> Result<lvs_ctl::api::Response, lvs_ctl::api::ClientError> {
        lvs_ctl::api::call(&self.socket, req, Duration::from_secs(10))
    }

    /// The running state, if the daemon answers.
    pub fn listing(&self) -> Option<lvs_ctl::api::Listing> {
        match self.request(&lvs_ctl::api::Request::List) {
            Ok(lvs_ctl::api::Response::List(l)) => Some(l),
            _ => None,
        }
    }

    /// Waits until the daemon answers with a listing for which `ready` holds; panics with the
    /// log after `timeout` or when the daemon exits.
    pub fn wait(
        &self,
        timeout: Duration,
        what: &str,
        ready: impl Fn(&lvs_ctl::api::Listing) -> bool,
    ) -> lvs_ctl::api::Listing {
        self.try_wait(timeout, ready).unwrap_or_else(|| {
            panic!(
                "daemon: {what}: not within {timeout:?} (running: {})\ndaemon log:\n{}",
                self.running(),
                self.log()
            )
        })
    }

    /// As [`LabDaemon::wait`], `None` on timeout or exit.
    pub fn try_wait(
        &self,
        timeout: Duration,
        ready: impl Fn(&lvs_ctl::api::Listing) -> bool,
    ) -> Option<lvs_ctl::api::Listing> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self.listing()
                && ready(&l)
            {
                return Some(l);
            }
            if Instant::now() >= deadline || (self.child.is_some() && !self.running()) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs the CLI against this daemon: `program prefix... --socket SOCK args...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(&self.program)
            .args(&self.prefix)
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", self.program.display()))
    }

    /// [`LabDaemon::ctl`] that must succeed: its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
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
}

/// Every real of every service resolved (its MAC known) and, with `healthy`, passing its
/// check (not merely unknown).
pub fn all_ready(l: &lvs_ctl::api::Listing, healthy: bool) -> bool {
    l.services.iter().all(|s| {
        s.reals
            .iter()
            .all(|r| r.resolved && (!healthy || r.health == lvs_ctl::api::Health::Up))
    })
}

/// Health of the real `addr` of the service `svc` (`198.18.100.1:80/tcp`), if listed.
pub fn health_of(
    l: &lvs_ctl::api::Listing,
    svc: &str,
    addr: IpAddr,
) -> Option<lvs_ctl::api::Health> {
    let svc: lvs_ctl::api::ServiceRef = svc.parse().ok()?;
    l.services
        .iter()
        .find(|s| s.service == svc)?
        .reals
        .iter()
        .find(|r| r.address == addr)
        .map(|r| r.health)
}

/// A raw packet socket on `iface` of the current thread's namespace that records every frame.
pub struct Capture {
    fd: std::os::fd::OwnedFd,
}

impl Capture {
    /// Must be called inside the namespace (see [`Netns::enter`]).
    pub fn open(iface: &str) -> Self {
        use std::os::fd::FromRawFd;
        let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
        // SAFETY: plain socket(2).
        let raw =
            unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
        assert!(
            raw >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: fresh fd we own.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let name = std::ffi::CString::new(iface).expect("name");
        // SAFETY: valid C string.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(ifindex, 0, "no interface {iface}");
        // SAFETY: zeroed sockaddr_ll filled below, passed with its size.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto as u16;
        sll.sll_ifindex = ifindex as i32;
        let rc = unsafe {
            libc::bind(
                raw,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            rc,
            0,
            "bind AF_PACKET to {iface}: {}",
            std::io::Error::last_os_error()
        );
        Capture { fd }
    }

    /// The next frame for which `want` is true, waiting at most `timeout` in all.
    pub fn next_matching(
        &self,
        timeout: std::time::Duration,
        want: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if n <= 0 {
                continue;
            }
            // SAFETY: buf is valid for its length.
            let len = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if len > 0 && want(&buf[..len as usize]) {
                return Some(buf[..len as usize].to_vec());
            }
        }
    }
}
