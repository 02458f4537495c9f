//! Network-namespace labs: namespaces, veth links and addresses from 198.18.0.0/15 and
//! 2001:db8::/32, torn down on drop (also when a test panics).
//!
//! The direct-routing lab is two-armed: the client reaches the director over one veth pair,
//! and each real server hangs off the director on a veth pair of its own.
//!
//! ```text
//!  client ──c0/d0── director ──d1/r0── real 1   (VIP on lo, arp_ignore=1, arp_announce=2)
//!                            ──d2/r0── real 2
//! ```

use std::{
    fs::File,
    net::IpAddr,
    os::fd::AsRawFd,
    process::{Command, Output},
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
        let path = format!("/run/netns/{}", self.name);
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
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
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

pub const CLIENT_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
pub const DIRECTOR_IN_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];

/// MAC of the director's side of real `i`'s link.
pub const fn director_out_mac(i: u8) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0x00, i, 0x01]
}

/// MAC of real `i`.
pub const fn real_mac(i: u8) -> [u8; 6] {
    [0x02, 0x00, 0x00, 0x00, i, 0x02]
}

/// One real server of the lab.
pub struct LabReal {
    pub ns: Netns,
    pub addr4: IpAddr,
    pub addr6: IpAddr,
    pub mac: [u8; 6],
    /// The director's interface towards this real, its index and MAC.
    pub director_iface: String,
    pub director_ifindex: u32,
    pub director_mac: [u8; 6],
}

/// client -- director -- N reals, direct routing.
pub struct DrLab {
    pub client: Netns,
    pub director: Netns,
    pub reals: Vec<LabReal>,
    /// The director's interface towards the client (where lvs_director attaches).
    pub director_iface: &'static str,
}

impl DrLab {
    /// Builds the lab; `tag` makes the namespace names unique (see [`crate::unique`]).
    pub fn new(tag: &str, n_reals: u8) -> Self {
        let base = crate::unique(tag);
        let client = Netns::new(&format!("{base}c"));
        let director = Netns::new(&format!("{base}d"));
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

        let mut reals = Vec::new();
        for i in 1..=n_reals {
            let ns = Netns::new(&format!("{base}r{i}"));
            let d_if = format!("d{i}");
            veth(
                &director,
                &d_if,
                director_out_mac(i),
                &ns,
                "r0",
                real_mac(i),
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
                   net.ipv4.conf.r0.rp_filter=0 net.ipv4.conf.all.rp_filter=0",
            );
            // Frames redirected by XDP into a veth are dropped unless its peer can take
            // them: GRO on the receiving end gives it the NAPI instance that does.
            ns.sh("ethtool -K r0 gro on >/dev/null");
            let director_ifindex = director.ifindex(&d_if);
            reals.push(LabReal {
                ns,
                addr4: format!("198.18.{i}.2").parse().expect("addr"),
                addr6: format!("2001:db8:{i}::2").parse().expect("addr"),
                mac: real_mac(i),
                director_iface: d_if,
                director_ifindex,
                director_mac: director_out_mac(i),
            });
        }
        DrLab {
            client,
            director,
            reals,
            director_iface: "d0",
        }
    }
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
