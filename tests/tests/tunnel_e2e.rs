//! Tunnel mode end to end, with real TCP: the real server is one routed hop away from the
//! director, decapsulates with `lvs_decap` and answers the client directly over a return path
//! that does not cross the director.
//!
//! The lab's routed topology ([`LabBuilder::routed`]), with `lvs_decap` on the real's `s0`:
//!
//! ```text
//!  client c0 ── d0 director d1 ── r0 router r1 ── s0 real (VIP on lo, lvs_decap on s0)
//!         c1 ─────────────────────── rc (replies: real -> router -> client)
//! ```

use aya::programs::XdpMode;
use lvs_common::{METHOD_GUE, METHOD_IPIP, PROTO_TCP, Reason, ServiceKey, TunnelConfig};
use lvs_ctl::dataplane::{
    Decap, DecapWanted, Director, LoadOptions, RealSpec, ServiceSpec, Wanted,
};
use lvs_tests::{PinDir, lab::*, require_root};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

const VIP: &str = VIP4;

/// The routed lab of the tunnel tests: one real behind the router.
fn routed_lab(tag: &str) -> Lab {
    Lab::builder().tag(tag).reals(1).routed(true).build()
}

/// Loads the director (attached to d0) and the decapsulator (attached to s0), with one
/// service per method: IPIP on port 80, GUE on port 81, the same real behind both.
fn start(lab: &Lab, pins: &PinDir, decap_pins: &PinDir) -> (Director, Decap, aya::Ebpf) {
    // ICMP errors the director sends back to the client go out of d0 with XDP_TX; a veth
    // hands XDP frames only to a peer that runs XDP itself (TOOLCHAIN.md): an empty XDP_PASS
    // program on the client's end.
    let client_xdp = lab.client.enter(|| {
        let mut obj = aya::Ebpf::load(lvs_ctl::dataplane::FLOOR_OBJECT).expect("load lvs_null");
        let p: &mut aya::programs::Xdp = obj.program_mut("lvs_null").unwrap().try_into().unwrap();
        p.load().expect("verify lvs_null");
        p.attach("c0", XdpMode::Driver)
            .expect("attach lvs_null to c0");
        obj
    });
    let mut director = lab.director.enter(|| {
        let mut opts = LoadOptions::new(&pins.0);
        opts.conn_table_size = 65536;
        let mut director = Director::open(&opts).expect("load lvs_director");
        director
            .attach_unpinned(lab.director_iface, XdpMode::Driver)
            .expect("attach lvs_director to d0");
        director
    });
    let r = &lab.reals[0];
    let decap = r.ns.enter(|| {
        let mut d = Decap::open(&decap_pins.0).expect("load lvs_decap");
        d.apply(&DecapWanted {
            interfaces: vec!["s0".into()],
            xdp_mode: XdpMode::Driver,
            addresses: vec![r.addr4],
            ports: vec![6080],
        })
        .expect("attach lvs_decap to s0");
        d
    });
    let real = |method| RealSpec {
        addr: r.addr4,
        weight: 1,
        method,
        dst_mac: r.next_hop_mac,
        src_mac: r.director_mac,
        ifindex: r.director_ifindex,
        tunnel_port: 6080,
        active: true,
    };
    let svc = |port, method| ServiceSpec {
        key: ServiceKey::new(VIP.parse().unwrap(), port, PROTO_TCP),
        flags: 0,
        ring_size: 65537,
        reals: vec![real(method)],
    };
    director
        .apply(&Wanted {
            tunnel: TunnelConfig {
                source4: DIRECTOR_ROUTED4
                    .parse::<std::net::Ipv4Addr>()
                    .unwrap()
                    .octets(),
                ..Default::default()
            },
            services: vec![svc(80, METHOD_IPIP), svc(81, METHOD_GUE)],
            ..Wanted::default()
        })
        .expect("write the tunnel settings and the services");
    (director, decap, client_xdp)
}

/// A TCP echo server on VIP:port in the real's namespace: answers "real: <what it read>"
/// for each connection, and counts bytes for the large-transfer test.
fn serve(lab: &Lab, port: u16) -> std::thread::JoinHandle<()> {
    let listener = lab.reals[0]
        .ns
        .enter(|| TcpListener::bind((VIP, port)).expect("bind the VIP in the real"));
    listener.set_nonblocking(false).expect("blocking");
    std::thread::spawn(move || {
        for conn in listener.incoming().take(3) {
            let Ok(mut conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
            let mut len = [0u8; 8];
            if conn.read_exact(&mut len).is_err() {
                continue;
            }
            let mut body = vec![0u8; u64::from_be_bytes(len) as usize];
            if conn.read_exact(&mut body).is_err() {
                continue;
            }
            let digest: u64 = body.iter().map(|b| *b as u64).sum();
            let _ = conn.write_all(format!("real: {} bytes, sum {digest}", body.len()).as_bytes());
        }
    })
}

/// Connects from the client to VIP:port, sends `n` bytes, returns the real's answer.
fn exchange(lab: &Lab, port: u16, n: usize) -> String {
    lab.client.enter(|| {
        let addr: SocketAddr = format!("{VIP}:{port}").parse().unwrap();
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .expect("connect to the VIP through the tunnel");
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
        let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        s.write_all(&(n as u64).to_be_bytes()).unwrap();
        s.write_all(&body).expect("send through the tunnel");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("the real's answer");
        answer
    })
}

fn expected(n: usize) -> String {
    let digest: u64 = (0..n).map(|i| (i % 251) as u64).sum();
    format!("real: {n} bytes, sum {digest}")
}

#[test]
fn tcp_through_ipip_and_gue_to_a_real_one_routed_hop_away() {
    require_root();
    let lab = routed_lab("tun");
    let (pins, decap_pins) = (PinDir::new("tun"), PinDir::new("tud"));
    let (director, decap, _client_xdp) = start(&lab, &pins, &decap_pins);
    let ipip = serve(&lab, 80);
    let gue = serve(&lab, 81);
    let taps: Vec<Capture> = ["d0", "d1"]
        .iter()
        .map(|i| lab.director.enter(|| Capture::open(i)))
        .collect();

    assert_eq!(exchange(&lab, 80, 100), expected(100), "over IPIP");
    assert_eq!(exchange(&lab, 81, 100), expected(100), "over GUE");
    assert!(
        director.maps().counter(Reason::Encapsulated).unwrap() >= 6,
        "SYN, ACK and data were encapsulated"
    );
    assert!(
        decap.counter(Reason::DecapIpip).unwrap() >= 3,
        "the real decapsulated IPIP"
    );
    assert!(
        decap.counter(Reason::DecapGue).unwrap() >= 3,
        "the real decapsulated GUE"
    );
    // Replies took the return path: no packet from the VIP crossed either of the director's
    // interfaces. (The taps see what XDP passes to the kernel, which is where a reply would
    // go; a datagram to the director's own address shows they work.)
    lab.client.enter(|| {
        let s = std::net::UdpSocket::bind("198.18.0.1:0").unwrap();
        s.send_to(b"tap check", "198.18.0.2:9").unwrap();
    });
    let vip: [u8; 4] = VIP.parse::<std::net::Ipv4Addr>().unwrap().octets();
    let (from_vip, to_director) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    for tap in &taps {
        tap.next_matching(Duration::from_millis(300), |f| {
            if f.len() >= 34 && f[12..14] == [8, 0] {
                from_vip.set(from_vip.get() + (f[26..30] == vip) as usize);
                to_director.set(to_director.get() + (f[30..34] == [198, 18, 0, 2]) as usize);
            }
            false
        });
    }
    assert_eq!(
        from_vip.get(),
        0,
        "a reply from the VIP crossed the director"
    );
    assert!(to_director.get() >= 1, "the taps work");
    drop((ipip, gue));
}

#[test]
fn path_mtu_discovery_through_the_tunnel_lets_full_size_segments_through() {
    require_root();
    let lab = routed_lab("pmt");
    let (pins, decap_pins) = (PinDir::new("pmt"), PinDir::new("pmd"));
    let (director, _decap, _client_xdp) = start(&lab, &pins, &decap_pins);
    let server = serve(&lab, 80);

    // 200 kB: the client's 1500-byte segments do not fit once encapsulated (1520 > 1500).
    // The director answers with fragmentation-needed (MTU 1480); the client's TCP resends
    // smaller segments and the transfer completes.
    assert_eq!(exchange(&lab, 80, 200_000), expected(200_000));
    assert!(
        director.maps().counter(Reason::IcmpTooBigSent).unwrap() >= 1,
        "the client was told the MTU"
    );
    let route = lab.client.sh(&format!("ip route get {VIP}"));
    let route = String::from_utf8_lossy(&route.stdout);
    assert!(
        route.contains("mtu 1480"),
        "the client learned the path MTU: {route}"
    );
    drop(server);
}
