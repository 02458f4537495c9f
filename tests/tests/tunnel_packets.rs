//! Tunnel forwarding through `BPF_PROG_TEST_RUN`: IPIP, IPv6-in-IPv6 and GUE checked field
//! by field with etherparse (outer and inner headers, checksums, the hashed source port and
//! source address), the MTU case (ICMP back to the client), ICMP errors steered to the real
//! that owns the flow, and `lvs_decap` taking the director's output back to the inner frame.

use etherparse::{Ipv4Header, Ipv6Header, UdpHeader};
use lvs_common::{
    FlowKey, METHOD_DR, METHOD_GUE, METHOD_IPIP, PROTO_TCP, PROTO_UDP, Reason, ServiceKey,
    TunnelConfig, csum, flow_hash, gue_source_port,
};
use lvs_ctl::dataplane::{RealSpec, ServiceSpec};
use lvs_tests::{lab::Netns, packet::*, *};
use std::net::{IpAddr, SocketAddr};

fn tunnel() -> TunnelConfig {
    TunnelConfig {
        source4: [198, 18, 250, 0],
        vary4: [0, 0, 0, 0x0f],
        source6: "2001:db8:250::"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
        vary6: [0, 0, 0xff, 0xff],
        ttl: 0,
        _pad: [0; 3],
    }
}

fn svc(vip: &str, port: u16, proto: u8, r: RealSpec) -> ServiceSpec {
    ServiceSpec {
        key: ServiceKey::new(ip(vip), port, proto),
        flags: 0,
        ring_size: 65537,
        reals: vec![r],
    }
}

fn harness(tag: &str) -> Harness {
    let mut h = Harness::new(tag);
    h.set_tunnel(&tunnel());
    h.apply(&[
        svc(
            "198.18.0.10",
            80,
            PROTO_TCP,
            tunnel_real("198.18.5.1", METHOD_IPIP, 0),
        ),
        svc(
            "198.18.0.10",
            53,
            PROTO_UDP,
            tunnel_real("198.18.5.2", METHOD_GUE, 6080),
        ),
        svc(
            "198.18.0.11",
            80,
            PROTO_TCP,
            tunnel_real("198.18.5.3", METHOD_GUE, 6080),
        ),
        svc(
            "2001:db8::10",
            443,
            PROTO_TCP,
            tunnel_real("2001:db8:5::1", METHOD_IPIP, 0),
        ),
        svc(
            "2001:db8::10",
            53,
            PROTO_UDP,
            tunnel_real("2001:db8:5::2", METHOD_GUE, 7000),
        ),
        svc(
            "198.18.0.12",
            80,
            PROTO_TCP,
            RealSpec {
                dst_mac: real_mac(9),
                ..tunnel_real("198.18.6.1", METHOD_DR, 0)
            },
        ),
    ]);
    h
}

struct Case {
    name: &'static str,
    src: &'static str,
    dst: &'static str,
    proto: u8,
    real: &'static str,
    method: u8,
    port: u16,
}

const CASES: &[Case] = &[
    Case {
        name: "IPIP, IPv4 TCP",
        src: "198.18.200.1:40000",
        dst: "198.18.0.10:80",
        proto: PROTO_TCP,
        real: "198.18.5.1",
        method: METHOD_IPIP,
        port: 0,
    },
    Case {
        name: "GUE, IPv4 UDP",
        src: "198.18.200.1:40001",
        dst: "198.18.0.10:53",
        proto: PROTO_UDP,
        real: "198.18.5.2",
        method: METHOD_GUE,
        port: 6080,
    },
    Case {
        name: "GUE, IPv4 TCP",
        src: "198.18.200.7:40002",
        dst: "198.18.0.11:80",
        proto: PROTO_TCP,
        real: "198.18.5.3",
        method: METHOD_GUE,
        port: 6080,
    },
    Case {
        name: "IPv6-in-IPv6, TCP",
        src: "[2001:db8:ff::1]:40003",
        dst: "[2001:db8::10]:443",
        proto: PROTO_TCP,
        real: "2001:db8:5::1",
        method: METHOD_IPIP,
        port: 0,
    },
    Case {
        name: "GUE, IPv6 UDP",
        src: "[2001:db8:ff::2]:40004",
        dst: "[2001:db8::10]:53",
        proto: PROTO_UDP,
        real: "2001:db8:5::2",
        method: METHOD_GUE,
        port: 7000,
    },
];

/// Checks every field of an encapsulated frame; returns the length of the outer headers.
fn check_encapsulated(c: &Case, input: &[u8], out: &[u8], tos: u8) -> usize {
    let (src, dst) = (sa(c.src), sa(c.dst));
    let hash = flow_hash(&FlowKey::new(src, dst, c.proto), false);
    assert_eq!(
        out[0..6],
        NEXT_HOP,
        "{}: destination MAC is the next hop's",
        c.name
    );
    assert_eq!(
        out[6..12],
        DIRECTOR_MAC,
        "{}: source MAC is the egress interface's",
        c.name
    );
    let real = ip(c.real);
    enum Outer {
        V4(Ipv4Header),
        V6(Ipv6Header),
    }
    let outer_ip = if src.is_ipv4() {
        assert_eq!(out[12..14], [0x08, 0x00], "{}: ethertype", c.name);
        let (h, _) = Ipv4Header::from_slice(&out[14..]).expect("outer IPv4 header");
        assert_eq!(h.header_len(), 20);
        assert_eq!(
            h.total_len as usize,
            out.len() - 14,
            "{}: outer total length",
            c.name
        );
        assert!(h.dont_fragment && !h.more_fragments, "{}: DF set", c.name);
        assert_eq!(h.time_to_live, 64, "{}: outer TTL", c.name);
        assert_eq!(
            (h.dscp.value() << 2) | h.ecn.value(),
            tos,
            "{}: inner TOS copied",
            c.name
        );
        let want_proto = if c.method == METHOD_IPIP { 4 } else { 17 };
        assert_eq!(h.protocol.0, want_proto, "{}: outer protocol", c.name);
        assert_eq!(
            h.header_checksum,
            h.calc_header_checksum(),
            "{}: outer IPv4 checksum",
            c.name
        );
        assert_eq!(
            h.source,
            [198, 18, 250, (hash & 0x0f) as u8],
            "{}: source varied by the flow hash",
            c.name
        );
        assert_eq!(
            IpAddr::from(h.destination),
            real,
            "{}: outer destination is the real",
            c.name
        );
        Outer::V4(h)
    } else {
        assert_eq!(out[12..14], [0x86, 0xdd], "{}: ethertype", c.name);
        let (h, _) = Ipv6Header::from_slice(&out[14..]).expect("outer IPv6 header");
        assert_eq!(
            h.payload_length as usize,
            out.len() - 54,
            "{}: outer payload length",
            c.name
        );
        assert_eq!(h.hop_limit, 64, "{}: outer hop limit", c.name);
        assert_eq!(
            h.traffic_class, tos,
            "{}: inner traffic class copied",
            c.name
        );
        assert_eq!(
            h.flow_label.value(),
            hash & 0xf_ffff,
            "{}: flow label from the flow hash",
            c.name
        );
        let want_next = if c.method == METHOD_IPIP { 41 } else { 17 };
        assert_eq!(h.next_header.0, want_next, "{}: outer next header", c.name);
        let mut want_src = tunnel().source6;
        want_src[14..16].copy_from_slice(&((hash & 0xffff) as u16).to_be_bytes());
        assert_eq!(
            h.source, want_src,
            "{}: source varied by the flow hash",
            c.name
        );
        assert_eq!(
            IpAddr::from(h.destination),
            real,
            "{}: outer destination is the real",
            c.name
        );
        Outer::V6(h)
    };
    let ip_len = match outer_ip {
        Outer::V4(_) => 20,
        Outer::V6(_) => 40,
    };
    let mut outer = ip_len;
    if c.method == METHOD_GUE {
        let (u, _) = UdpHeader::from_slice(&out[14 + ip_len..]).expect("outer UDP header");
        assert_eq!(
            u.source_port,
            gue_source_port(hash),
            "{}: GUE source port from the flow hash",
            c.name
        );
        assert_eq!(u.destination_port, c.port, "{}: GUE port", c.name);
        assert_eq!(
            u.length as usize,
            out.len() - 14 - ip_len,
            "{}: UDP length",
            c.name
        );
        let payload = &out[14 + ip_len + 8..];
        let want = match &outer_ip {
            Outer::V4(h) => u.calc_checksum_ipv4(h, payload),
            Outer::V6(h) => u.calc_checksum_ipv6(h, payload),
        }
        .expect("checksum");
        assert_eq!(
            u.checksum, want,
            "{}: outer UDP checksum over the whole inner packet",
            c.name
        );
        assert_ne!(u.checksum, 0, "{}: checksum present", c.name);
        outer += 8;
    }
    assert_eq!(
        &out[14 + outer..],
        &input[14..],
        "{}: inner packet unchanged",
        c.name
    );
    outer
}

#[test]
fn every_encapsulation_is_right_field_by_field() {
    let h = harness("tun");
    for (i, c) in CASES.iter().enumerate() {
        let tos = 0xb8 | (i as u8 & 3); // DSCP EF, and each ECN codepoint in turn
        let input = frame_sized(sa(c.src), sa(c.dst), c.proto, tos, 200, true);
        let before = (h.counter(Reason::Encapsulated), h.counter(Reason::Tx));
        let out = h.run(&input);
        assert_eq!(out.verdict, XDP_TX, "{}: forwarded", c.name);
        assert_eq!(
            (h.counter(Reason::Encapsulated), h.counter(Reason::Tx)),
            (before.0 + 1, before.1 + 1),
            "{}",
            c.name
        );
        check_encapsulated(c, &input, &out.frame, tos);
        // The same flow again: a connection-table hit, encapsulated the same way.
        let again = h.run(&input);
        assert_eq!(
            again.frame, out.frame,
            "{}: second packet identical",
            c.name
        );
    }
}

#[test]
fn gue_source_port_and_outer_source_spread_with_the_flow() {
    let h = harness("spr");
    let mut ports = std::collections::BTreeSet::new();
    let mut sources = std::collections::BTreeSet::new();
    for p in 0..64u16 {
        let src = SocketAddr::new(ip("198.18.200.9"), 20000 + p);
        let out = h
            .run(&frame(src, sa("198.18.0.10:53"), PROTO_UDP, b"q"))
            .frame;
        sources.insert(out[14 + 15]);
        ports.insert(u16::from_be_bytes([out[34], out[35]]));
    }
    assert!(
        ports.len() > 50,
        "64 flows used only {} GUE source ports",
        ports.len()
    );
    assert!(
        ports.iter().all(|p| *p >= 0xc000),
        "source ports in 49152..=65535"
    );
    assert_eq!(
        sources.len(),
        16,
        "outer sources spread over the 16 addresses of the mask"
    );
}

#[test]
fn inner_udp_without_checksum_gets_an_outer_ipv4_checksum_of_zero() {
    let h = harness("nck");
    let mut input = frame(
        sa("198.18.200.1:40001"),
        sa("198.18.0.10:53"),
        PROTO_UDP,
        b"no checksum",
    );
    input[14 + 20 + 6] = 0;
    input[14 + 20 + 7] = 0;
    let out = h.run(&input);
    assert_eq!(out.verdict, XDP_TX);
    assert_eq!(
        out.frame[14 + 20 + 6..14 + 20 + 8],
        [0, 0],
        "no checksum is 'none' for IPv4 UDP (RFC 768)"
    );
    assert_eq!(&out.frame[14 + 28..], &input[14..]);
}

#[test]
fn no_tunnel_source_for_the_family_is_a_counted_drop() {
    let mut h = harness("nos");
    h.set_tunnel(&TunnelConfig {
        source6: [0; 16],
        ..tunnel()
    });
    let out = h.run(&frame(
        sa("[2001:db8:ff::1]:1"),
        sa("[2001:db8::10]:443"),
        PROTO_TCP,
        b"x",
    ));
    assert_eq!(out.verdict, XDP_DROP);
    assert_eq!(h.counter(Reason::DropNoTunnelSource), 1);
    // IPv4 still has its source.
    assert_eq!(
        h.run(&frame(
            sa("198.18.200.1:1"),
            sa("198.18.0.10:80"),
            PROTO_TCP,
            b"x"
        ))
        .verdict,
        XDP_TX
    );
}

/// An interface with MTU 1400 in a namespace of its own: test runs "arriving" on it check
/// the encapsulated size against it (the reals here egress on the ingress interface).
fn with_mtu_1400<T: Send>(tag: &str, f: impl FnOnce(u32) -> T + Send) -> T {
    let ns = Netns::new(&unique(tag));
    ns.ip(&[
        "link", "add", "m0", "mtu", "1400", "type", "veth", "peer", "name", "m1", "mtu", "1400",
    ]);
    ns.ip(&["link", "set", "m0", "up"]);
    ns.ip(&["link", "set", "m1", "up"]);
    let idx = ns.ifindex("m0");
    ns.enter(|| f(idx))
}

#[test]
fn too_big_once_encapsulated_answers_the_client_with_the_mtu_that_fits() {
    let mut h = harness("mtu");
    with_mtu_1400("mtu", |m0| {
        h.register_iface(m0, DIRECTOR_MAC);
        let client = sa("198.18.200.1:40000");
        // 1380 + 20 = 1400 fits exactly.
        let fits = frame_sized(client, sa("198.18.0.10:80"), PROTO_TCP, 0, 1380, true);
        let o = h.run_on(&fits, m0);
        assert_eq!(
            o.verdict,
            XDP_TX,
            "a packet that fits is encapsulated; counters {:?}",
            h.maps()
                .counters()
                .unwrap()
                .into_iter()
                .filter(|(_, n)| *n > 0)
                .collect::<Vec<_>>()
        );

        // 1381 does not: ICMP fragmentation needed, next-hop MTU 1380, from the VIP.
        let big = frame_sized(client, sa("198.18.0.10:80"), PROTO_TCP, 0, 1381, true);
        let out = h.run_on(&big, m0);
        assert_eq!(out.verdict, XDP_TX, "the ICMP goes back out");
        assert_eq!(h.counter(Reason::IcmpTooBigSent), 1);
        let f = &out.frame;
        assert_eq!(f.len(), 14 + 20 + 8 + 28);
        assert_eq!(
            (f[0..6].to_vec(), f[6..12].to_vec()),
            (CLIENT_MAC.to_vec(), DIRECTOR_MAC.to_vec()),
            "back to the client"
        );
        let (ip4, _) = Ipv4Header::from_slice(&f[14..]).expect("IPv4");
        assert_eq!(
            (ip4.source, ip4.destination),
            ([198, 18, 0, 10], [198, 18, 200, 1])
        );
        assert_eq!(ip4.protocol.0, 1);
        assert_eq!(ip4.header_checksum, ip4.calc_header_checksum());
        assert_eq!(
            f[34..36],
            [3, 4],
            "destination unreachable, fragmentation needed"
        );
        assert_eq!(u16::from_be_bytes([f[40], f[41]]), 1380, "next-hop MTU");
        assert_eq!(csum::fold(sum(&f[34..])), 0xffff, "ICMP checksum");
        assert_eq!(&f[42..70], &big[14..42], "quotes the IP header and 8 bytes");

        // Without DF: dropped and counted, never fragmented.
        let no_df = frame_sized(client, sa("198.18.0.10:80"), PROTO_TCP, 0, 1381, false);
        assert_eq!(h.run_on(&no_df, m0).verdict, XDP_DROP);
        assert_eq!(h.counter(Reason::DropTooBig), 1);

        // IPv6 over GUE: 1400 + 48 does not fit; packet too big with 1352.
        let client6 = sa("[2001:db8:ff::2]:40004");
        let big6 = frame_sized(client6, sa("[2001:db8::10]:53"), PROTO_UDP, 0, 1400, true);
        let out = h.run_on(&big6, m0);
        assert_eq!(out.verdict, XDP_TX);
        let f = &out.frame;
        // As much of the packet as fits in IPv6's minimum MTU (RFC 4443 2.4(c)).
        assert_eq!(f.len(), 14 + 1280, "1280 bytes of IPv6");
        let (ip6, _) = Ipv6Header::from_slice(&f[14..]).expect("IPv6");
        assert_eq!(IpAddr::from(ip6.source), ip("2001:db8::10"));
        assert_eq!(IpAddr::from(ip6.destination), ip("2001:db8:ff::2"));
        assert_eq!((ip6.next_header.0, ip6.payload_length), (58, 1240));
        assert_eq!(f[54], 2, "packet too big");
        assert_eq!(u32::from_be_bytes([f[58], f[59], f[60], f[61]]), 1352);
        let pseudo = csum::sum16(&ip6.source) + csum::sum16(&ip6.destination) + 1240 + 58;
        assert_eq!(
            csum::fold(pseudo + sum(&f[54..])),
            0xffff,
            "ICMPv6 checksum"
        );
        assert_eq!(
            &f[62..],
            &big6[14..14 + 1232],
            "quotes the first 1232 bytes"
        );
        assert_eq!(h.counter(Reason::IcmpTooBigSent), 2);
    });
}

fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum()
}

#[test]
fn icmp_errors_about_a_vip_flow_go_to_the_real_that_owns_it() {
    let h = harness("icm");
    let client = sa("198.18.200.1:40000");
    let vip = sa("198.18.0.10:80");
    assert_eq!(
        h.run(&frame(client, vip, PROTO_TCP, b"syn")).verdict,
        XDP_TX
    );

    // A router on the reply path tells the VIP its reply was too big: encapsulated to the
    // flow's real, unchanged inside.
    let icmp = icmp_too_big_about(ip("198.18.9.1"), vip, client, PROTO_TCP, 1400);
    let out = h.run(&icmp);
    assert_eq!(out.verdict, XDP_TX);
    assert_eq!(h.counter(Reason::IcmpForwarded), 1);
    assert_eq!(
        out.frame[14 + 16..14 + 20],
        [198, 18, 5, 1],
        "to the flow's real"
    );
    assert_eq!(
        &out.frame[14 + 20..],
        &icmp[14..],
        "the ICMP packet inside, unchanged"
    );

    // A flow the connection table does not know: the Maglev table decides, and the ICMP
    // creates no connection entry.
    let other = sa("198.18.200.2:40000");
    let dr_vip = sa("198.18.0.12:80");
    let out = h.run(&icmp_too_big_about(
        ip("198.18.9.1"),
        dr_vip,
        other,
        PROTO_TCP,
        1400,
    ));
    assert_eq!(out.verdict, XDP_TX);
    assert_eq!(out.frame[0..6], real_mac(9), "DR to the table's real");
    assert!(
        h.maps()
            .conn(&FlowKey::new(other, dr_vip, PROTO_TCP))
            .is_none(),
        "no connection entry from an ICMP error"
    );

    // About a VIP port without a service: passed, counted.
    let out = h.run(&icmp_too_big_about(
        ip("198.18.9.1"),
        sa("198.18.0.10:8080"),
        client,
        PROTO_TCP,
        1400,
    ));
    assert_eq!(out.verdict, XDP_PASS);
    assert_eq!(h.counter(Reason::PassIcmpNoFlow), 1);

    // ICMPv6 packet too big about an IPv6 flow.
    let client6 = sa("[2001:db8:ff::1]:40003");
    let vip6 = sa("[2001:db8::10]:443");
    assert_eq!(
        h.run(&frame(client6, vip6, PROTO_TCP, b"syn")).verdict,
        XDP_TX
    );
    let icmp6 = icmp_too_big_about(ip("2001:db8:9::1"), vip6, client6, PROTO_TCP, 1400);
    let out = h.run(&icmp6);
    assert_eq!(out.verdict, XDP_TX);
    assert_eq!(
        IpAddr::from(<[u8; 16]>::try_from(&out.frame[14 + 24..14 + 40]).unwrap()),
        ip("2001:db8:5::1")
    );
    assert_eq!(&out.frame[14 + 40..], &icmp6[14..]);
    assert_eq!(h.counter(Reason::IcmpForwarded), 3);
}

#[test]
fn lvs_decap_returns_the_directors_output_to_the_original_frame() {
    let h = harness("rtd");
    let reals: Vec<IpAddr> = CASES.iter().map(|c| ip(c.real)).collect();
    let d = DecapHarness::new("rtd", &reals, &[6080, 7000]);
    for c in CASES {
        let input = frame_sized(sa(c.src), sa(c.dst), c.proto, 0x10, 300, true);
        let encapsulated = h.run(&input).frame;
        let reason = if c.method == METHOD_IPIP {
            Reason::DecapIpip
        } else {
            Reason::DecapGue
        };
        let before = d.counter(reason);
        let out = d.run(&encapsulated);
        assert_eq!(out.verdict, XDP_PASS, "{}", c.name);
        assert_eq!(
            d.counter(reason),
            before + 1,
            "{}: counted as {}",
            c.name,
            reason.as_str()
        );
        assert_eq!(
            out.frame[0..12],
            encapsulated[0..12],
            "{}: the frame's MACs stay",
            c.name
        );
        assert_eq!(
            out.frame[12..],
            input[12..],
            "{}: the inner frame, byte for byte",
            c.name
        );
    }
}

#[test]
fn lvs_decap_passes_everything_else_untouched() {
    let d = DecapHarness::new("dcp", &[ip("198.18.5.1"), ip("2001:db8:5::1")], &[6080]);
    let inner = frame(
        sa("198.18.200.1:1"),
        sa("198.18.0.10:80"),
        PROTO_TCP,
        b"inner",
    );
    let encap = |dst: [u8; 4], proto: u8, udp_port: Option<u16>, gue: &[u8]| {
        let mut payload = Vec::new();
        if let Some(port) = udp_port {
            let len = (8 + gue.len() + inner.len() - 14) as u16;
            payload.extend_from_slice(&50000u16.to_be_bytes());
            payload.extend_from_slice(&port.to_be_bytes());
            payload.extend_from_slice(&len.to_be_bytes());
            payload.extend_from_slice(&[0, 0]);
            payload.extend_from_slice(gue);
        }
        payload.extend_from_slice(&inner[14..]);
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2(DIRECTOR_MAC, real_mac(1))
            .ipv4([198, 18, 250, 1], dst, 64)
            .write(&mut out, etherparse::IpNumber(proto), &payload)
            .expect("write");
        out
    };
    // GUE variant 0 with a 4-byte header carrying IPv4: decapsulated.
    let v0 = encap([198, 18, 5, 1], 17, Some(6080), &[0, 4, 0, 0]);
    let out = d.run(&v0);
    assert_eq!(out.frame[12..], inner[12..], "GUE variant 0 decapsulated");
    // Not for this host, another UDP port, a GUE control message, unknown GUE: untouched.
    for (name, f, reason) in [
        (
            "IPIP to another address",
            encap([198, 18, 5, 9], 4, None, &[]),
            Reason::PassNotService,
        ),
        (
            "UDP to another port",
            encap([198, 18, 5, 1], 17, Some(6081), &[]),
            Reason::PassNotService,
        ),
        (
            "GUE control message",
            encap([198, 18, 5, 1], 17, Some(6080), &[0x20, 0, 0, 0]),
            Reason::PassDecapUnknown,
        ),
        (
            "GUE with options",
            encap(
                [198, 18, 5, 1],
                17,
                Some(6080),
                &[0x01, 4, 0, 0, 0, 0, 0, 0],
            ),
            Reason::PassDecapUnknown,
        ),
        (
            "plain TCP to this host",
            frame(sa("198.18.200.1:1"), sa("198.18.5.1:22"), PROTO_TCP, b"ssh"),
            Reason::PassNotService,
        ),
        ("ARP", arp_request(), Reason::PassNotIp),
    ] {
        let before = d.counter(reason);
        let out = d.run(&f);
        assert_eq!(
            (out.verdict, &out.frame),
            (XDP_PASS, &f),
            "{name}: passed untouched"
        );
        assert_eq!(
            d.counter(reason),
            before + 1,
            "{name}: counted as {}",
            reason.as_str()
        );
    }
}
