//! Test helpers: the director loaded for `BPF_PROG_TEST_RUN`, packet builders, and network
//! namespace labs. Everything that must be undone (pins, namespaces, processes) is undone on
//! drop, so a failing test leaves the machine clean.

pub mod lab;
pub mod packet;
pub mod traffic;

use aya::programs::{TestRun, TestRunOptions, xdp::XdpMode};
use lvs_common::{FlowKey, Reason, ServiceKey, TunnelConfig};
use lvs_ctl::dataplane::{
    Applied, Decap, DecapWanted, Director, LoadOptions, Maps, ServiceSpec, Wanted, unpin_all,
};
use std::{
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

/// A name unique to this process and call, for pins and namespaces (`lvs` + 9 chars at most
/// so interface names built from it stay under 15 bytes).
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(3)
        .collect();
    format!("lvs{tag}{:x}{n:x}", std::process::id() & 0xfff)
}

/// A pin directory under `/sys/fs/bpf`, removed (with every pin in it) on drop.
pub struct PinDir(pub PathBuf);

impl PinDir {
    pub fn new(tag: &str) -> Self {
        PinDir(PathBuf::from("/sys/fs/bpf").join(unique(tag)))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = unpin_all(&self.0);
    }
}

/// Panics with a clear message when not root: these tests need BPF and must not skip in CI.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "this test loads XDP programs and needs root (CI runs as root; run `cargo xtask test`)"
    );
}

/// The director program loaded with its maps by the controller's own owner, driven through
/// `BPF_PROG_TEST_RUN`.
pub struct Harness {
    pub director: Director,
    /// What was applied last; [`Harness::apply`] and [`Harness::set_tunnel`] change one part.
    pub want: Wanted,
    // Dropped after `director`: the pins go once the program and maps are closed.
    _pins: PinDir,
}

/// What the program did with one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: u32,
    pub frame: Vec<u8>,
}

/// The ingress interface of a frame run without one (the namespace's loopback).
pub const LOOPBACK_IFINDEX: u32 = 1;

pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
pub const XDP_REDIRECT: u32 = 4;

impl Harness {
    pub fn new(tag: &str) -> Self {
        Self::with_conn_table(tag, 65536)
    }

    /// A harness whose connection table holds `conns` entries.
    pub fn with_conn_table(tag: &str, conns: u32) -> Self {
        require_root();
        let pins = PinDir::new(tag);
        let mut opts = LoadOptions::new(&pins.0);
        opts.conn_table_size = conns;
        let mut director = Director::open(&opts).expect("load lvs_director");
        // BPF_PROG_TEST_RUN hands the program its frames as if they came in on loopback
        // (ifindex 1): the frames are the director's when addressed to DIRECTOR_MAC.
        director
            .register_iface(LOOPBACK_IFINDEX, packet::DIRECTOR_MAC)
            .expect("enter the test interface in the interface table");
        Harness {
            director,
            want: Wanted::default(),
            _pins: pins,
        }
    }

    /// What a restarted controller does: loads the program again over the pinned maps and
    /// adopts the tables it finds there.
    pub fn restart(&mut self) {
        let mut opts = LoadOptions::new(&self._pins.0);
        opts.conn_table_size = 65536;
        self.director =
            Director::open(&opts).expect("load lvs_director over the pinned maps, adopted");
    }

    /// Makes the maps hold `services` (the tunnel settings as last set); returns what was
    /// written.
    pub fn apply(&mut self, services: &[ServiceSpec]) -> Applied {
        self.want.services = services.to_vec();
        self.director
            .apply(&self.want)
            .expect("apply services to the maps")
    }

    /// Makes the maps hold the tunnel settings `tunnel` (the services as last applied).
    pub fn set_tunnel(&mut self, tunnel: &TunnelConfig) {
        self.want.tunnel = *tunnel;
        self.director
            .apply(&self.want)
            .expect("apply the tunnel settings");
    }

    /// Frames that come in on interface `ifindex` are the director's when addressed to `mac`.
    pub fn register_iface(&mut self, ifindex: u32, mac: [u8; 6]) {
        self.director
            .register_iface(ifindex, mac)
            .expect("enter the interface in the interface table");
    }

    /// The maps, to read back what the owner wrote and what the program did.
    pub fn maps(&self) -> &Maps {
        self.director.maps()
    }

    /// Runs one frame through the program.
    pub fn run(&self, frame: &[u8]) -> Outcome {
        run_program(self.director.program(), frame, None)
    }

    /// Runs one frame as if it came in on interface `ingress` (of the calling thread's
    /// network namespace): its MTU is what the tunnel paths check against.
    pub fn run_on(&self, frame: &[u8], ingress: u32) -> Outcome {
        run_program(self.director.program(), frame, Some(ingress))
    }

    /// Runs a frame `repeat` times in the kernel; returns the kernel's mean time per run.
    pub fn run_repeat(&self, frame: &[u8], repeat: u32) -> (u32, std::time::Duration) {
        let mut out = vec![0u8; frame.len() + 256];
        let mut opts = TestRunOptions::new();
        opts.data_in = Some(frame);
        opts.data_out = Some(&mut out);
        opts.repeat = repeat;
        let r = self
            .director
            .program()
            .test_run(opts)
            .expect("BPF_PROG_TEST_RUN");
        (r.return_value, r.duration)
    }

    pub fn counter(&self, reason: Reason) -> u64 {
        self.maps().counter(reason).expect("read counters")
    }

    /// Real index the connection table holds for `flow`.
    pub fn conn_real(&self, flow: &FlowKey) -> Option<u32> {
        self.maps().conn(flow).map(|c| c.real)
    }

    pub fn real_index(&self, key: &ServiceKey, addr: std::net::IpAddr) -> u32 {
        self.director
            .real_index(key, addr)
            .expect("real is applied")
    }
}

/// `lvs_decap` loaded for `BPF_PROG_TEST_RUN`, its pins removed on drop.
pub struct DecapHarness {
    pub decap: Decap,
    _pins: PinDir,
}

impl DecapHarness {
    pub fn new(tag: &str, addrs: &[std::net::IpAddr], ports: &[u16]) -> Self {
        require_root();
        let pins = PinDir::new(tag);
        let mut decap = Decap::open(&pins.0).expect("load lvs_decap");
        decap
            .apply(&DecapWanted {
                interfaces: Vec::new(),
                xdp_mode: aya::programs::XdpMode::Default,
                addresses: addrs.to_vec(),
                ports: ports.to_vec(),
            })
            .expect("decap addresses and ports");
        DecapHarness { decap, _pins: pins }
    }

    pub fn run(&self, frame: &[u8]) -> Outcome {
        run_program(self.decap.program(), frame, None)
    }

    pub fn counter(&self, reason: Reason) -> u64 {
        self.decap.counter(reason).expect("read counters")
    }
}

/// Runs one frame through `prog`; `ingress` sets the ingress interface (it must exist in the
/// calling thread's network namespace).
pub fn run_program(prog: &aya::programs::Xdp, frame: &[u8], ingress: Option<u32>) -> Outcome {
    let mut out = vec![0u8; frame.len() + 256];
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex.
    // The kernel wants data_end = the frame's length and data = data_meta = 0 (no metadata).
    let mut md = [0u8; 24];
    md[4..8].copy_from_slice(&(frame.len() as u32).to_ne_bytes());
    md[12..16].copy_from_slice(&ingress.unwrap_or(0).to_ne_bytes());
    let mut opts = TestRunOptions::new();
    opts.data_in = Some(frame);
    opts.data_out = Some(&mut out);
    if ingress.is_some() {
        opts.ctx_in = Some(&md);
    }
    let r = prog.test_run(opts).expect("BPF_PROG_TEST_RUN");
    out.truncate(r.data_size_out as usize);
    Outcome {
        verdict: r.return_value,
        frame: out,
    }
}

/// The XDP attach mode the labs use: native on veth.
pub const LAB_XDP_MODE: XdpMode = XdpMode::Driver;
