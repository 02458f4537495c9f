//! `lvs_director` loaded into the kernel and driven with real frames through
//! `BPF_PROG_TEST_RUN`, its maps written by the controller's own writer (`Tables`).
//!
//! The first test is a table: input frame, map state (one shared fixture), expected verdict,
//! the counter that must move, and the expected output frame. The others check behaviour over
//! sequences of packets: the connection table, rescheduling, draining, shares.

use lvs_common::{
    FlowKey, METHOD_IPIP, PROTO_TCP, PROTO_UDP, Reason, SVC_F_HASH_SRC_ONLY, ServiceKey, flow_hash,
};
use lvs_ctl::dataplane::{RealSpec, ServiceSpec};
use lvs_tests::{packet::*, *};
use std::net::{IpAddr, SocketAddr};

const RING: u32 = 65537;

fn key(vip: &str, port: u16, proto: u8) -> ServiceKey {
    ServiceKey::new(ip(vip), port, proto)
}

fn dr(addr: &str, weight: u32, mac_id: u8) -> RealSpec {
    RealSpec::dr(ip(addr), weight, real_mac(mac_id), DIRECTOR_MAC)
}

fn service(key: ServiceKey, reals: Vec<RealSpec>) -> ServiceSpec {
    ServiceSpec {
        key,
        flags: 0,
        ring_size: RING,
        reals,
    }
}

/// The map state every table case runs against.
fn fixture() -> Vec<ServiceSpec> {
    let unresolved = RealSpec {
        dst_mac: [0; 6],
        ..dr("198.18.1.40", 1, 40)
    };
    let elsewhere = RealSpec {
        ifindex: 999,
        ..dr("198.18.1.50", 1, 50)
    };
    let unknown = RealSpec {
        method: 7,
        ..dr("198.18.1.70", 1, 70)
    };
    let tunnel = RealSpec {
        method: METHOD_IPIP,
        ..dr("198.18.1.60", 1, 60)
    };
    vec![
        service(
            key("198.18.0.10", 80, PROTO_TCP),
            vec![
                dr("198.18.1.1", 1, 1),
                dr("198.18.1.2", 1, 2),
                dr("198.18.1.3", 2, 3),
            ],
        ),
        service(
            key("198.18.0.10", 53, PROTO_UDP),
            vec![dr("198.18.1.4", 1, 4)],
        ),
        service(
            key("2001:db8::10", 443, PROTO_TCP),
            vec![dr("2001:db8:1::1", 1, 11), dr("2001:db8:1::2", 1, 12)],
        ),
        service(
            key("2001:db8::10", 0, PROTO_UDP),
            vec![dr("2001:db8:1::3", 1, 13)],
        ),
        service(
            key("198.18.0.11", 0, PROTO_TCP),
            vec![dr("198.18.1.5", 1, 5)],
        ),
        service(
            key("198.18.0.12", 80, PROTO_TCP),
            vec![dr("198.18.1.30", 0, 30)],
        ),
        service(key("198.18.0.13", 80, PROTO_TCP), vec![unresolved]),
        service(key("198.18.0.14", 80, PROTO_TCP), vec![elsewhere]),
        service(key("198.18.0.15", 80, PROTO_TCP), vec![tunnel]),
        service(key("198.18.0.16", 80, PROTO_TCP), vec![unknown]),
    ]
}

/// The real the service's live table gives this flow, computed in userspace from the table
/// read back out of the kernel and the shared flow hash.
fn table_choice(h: &Harness, key: &ServiceKey, flow: &FlowKey, src_only: bool) -> u32 {
    let svc = h
        .maps()
        .services()
        .into_iter()
        .find(|(k, _)| k == key)
        .expect("service in map")
        .1;
    let table = h
        .maps()
        .read_ring(svc.ring)
        .expect("read ring")
        .expect("ring present");
    table[(flow_hash(flow, src_only) % svc.ring_size) as usize]
}

#[derive(Debug)]
enum Expect {
    /// Passed to the kernel byte for byte.
    Pass(Reason),
    Drop(Reason),
    /// Forwarded by DR out of the same interface, to the real the table picks.
    Tx,
    /// Forwarded by DR to another interface.
    Redirect,
}

struct Case {
    name: &'static str,
    frame: Vec<u8>,
    /// The service the frame belongs to, for forwarded cases.
    service: Option<ServiceKey>,
    expect: Expect,
}

fn case(name: &'static str, frame: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        frame,
        service: None,
        expect,
    }
}

fn fwd(
    name: &'static str,
    src: &str,
    dst: &str,
    proto: u8,
    svc: ServiceKey,
    expect: Expect,
) -> Case {
    Case {
        name,
        frame: frame(sa(src), sa(dst), proto, b"hello"),
        service: Some(svc),
        expect,
    }
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let (c4, c6) = ("198.18.200.1:40000", "[2001:db8:ff::1]:40000");
    let mut bad_version = frame(sa(c4), sa("198.18.0.10:80"), PROTO_TCP, b"x");
    bad_version[14] = 0x65; // version 6 in an IPv4 ethertype
    let mut short_ihl = frame(sa(c4), sa("198.18.0.10:80"), PROTO_TCP, b"x");
    short_ihl[14] = 0x44; // IHL 4 (16 bytes) is below the minimum
    let full = frame(sa(c4), sa("198.18.0.10:80"), PROTO_TCP, b"");
    let trunc_l4 = full[..14 + 20 + 10].to_vec();
    let trunc_l4_other =
        frame(sa(c4), sa("198.18.9.9:80"), PROTO_TCP, b"")[..14 + 20 + 10].to_vec();
    let trunc_l3 = full[..14 + 10].to_vec();
    let udp6 = frame(sa(c6), sa("[2001:db8::10]:53"), PROTO_UDP, b"");
    let trunc_udp6 = udp6[..14 + 40 + 4].to_vec();
    let mut vlan = Vec::new();
    vlan.extend_from_slice(&full[..12]);
    vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
    vlan.extend_from_slice(&full[12..]);

    vec![
        fwd(
            "tcp4 to a service",
            c4,
            "198.18.0.10:80",
            PROTO_TCP,
            key("198.18.0.10", 80, PROTO_TCP),
            Tx,
        ),
        fwd(
            "udp4 to a service",
            c4,
            "198.18.0.10:53",
            PROTO_UDP,
            key("198.18.0.10", 53, PROTO_UDP),
            Tx,
        ),
        fwd(
            "tcp6 to a service",
            c6,
            "[2001:db8::10]:443",
            PROTO_TCP,
            key("2001:db8::10", 443, PROTO_TCP),
            Tx,
        ),
        fwd(
            "udp6 to an every-port service",
            c6,
            "[2001:db8::10]:5353",
            PROTO_UDP,
            key("2001:db8::10", 0, PROTO_UDP),
            Tx,
        ),
        fwd(
            "tcp4 to an every-port service",
            c4,
            "198.18.0.11:12345",
            PROTO_TCP,
            key("198.18.0.11", 0, PROTO_TCP),
            Tx,
        ),
        fwd(
            "real on another interface",
            c4,
            "198.18.0.14:80",
            PROTO_TCP,
            key("198.18.0.14", 80, PROTO_TCP),
            Redirect,
        ),
        case(
            "VIP, port without a service",
            frame(sa(c4), sa("198.18.0.10:81"), PROTO_TCP, b"x"),
            Pass(Reason::PassNotService),
        ),
        case(
            "VIP, protocol without a service",
            frame(sa(c4), sa("198.18.0.10:80"), PROTO_UDP, b"x"),
            Pass(Reason::PassNotService),
        ),
        case(
            "tcp6 VIP, port without a service",
            frame(sa(c6), sa("[2001:db8::10]:80"), PROTO_TCP, b"x"),
            Pass(Reason::PassNotService),
        ),
        case(
            "not a VIP",
            frame(sa(c4), sa("198.18.9.9:80"), PROTO_TCP, b"x"),
            Pass(Reason::PassNotService),
        ),
        case(
            "not a VIP, v6",
            frame(sa(c6), sa("[2001:db8::99]:80"), PROTO_UDP, b"x"),
            Pass(Reason::PassNotService),
        ),
        case("ARP", arp_request(), Pass(Reason::PassNotIp)),
        case("VLAN-tagged", vlan, Pass(Reason::PassNotIp)),
        case(
            "ICMP echo to a VIP",
            icmp_echo(ip("198.18.200.1"), ip("198.18.0.10")),
            Pass(Reason::PassOtherProto),
        ),
        case(
            "ICMPv6 echo to a VIP",
            icmp_echo(ip("2001:db8:ff::1"), ip("2001:db8::10")),
            Pass(Reason::PassOtherProto),
        ),
        case(
            "IPv4 version field wrong",
            bad_version,
            Pass(Reason::PassBadL3),
        ),
        case("IPv4 IHL below 5", short_ihl, Pass(Reason::PassBadL3)),
        case("IPv4 header cut short", trunc_l3, Pass(Reason::PassBadL3)),
        case(
            "Ethernet only",
            full[..14].to_vec(),
            Pass(Reason::PassBadL3),
        ),
        case(
            "IPv4 options to a VIP",
            ipv4_with_options(sa(c4), sa("198.18.0.10:80"), PROTO_TCP),
            Drop(Reason::DropIpv4Options),
        ),
        case(
            "IPv4 options elsewhere",
            ipv4_with_options(sa(c4), sa("198.18.9.9:80"), PROTO_TCP),
            Pass(Reason::PassNotService),
        ),
        case(
            "IPv4 first fragment to a VIP",
            ipv4_fragment(sa(c4), sa("198.18.0.10:53"), PROTO_UDP, true),
            Drop(Reason::DropFragment),
        ),
        case(
            "IPv4 later fragment to a VIP",
            ipv4_fragment(sa(c4), sa("198.18.0.10:53"), PROTO_UDP, false),
            Drop(Reason::DropFragment),
        ),
        case(
            "IPv4 fragment elsewhere",
            ipv4_fragment(sa(c4), sa("198.18.9.9:53"), PROTO_UDP, true),
            Pass(Reason::PassNotService),
        ),
        case(
            "IPv6 hop-by-hop to a VIP",
            ipv6_with_hop_by_hop(sa(c6), sa("[2001:db8::10]:443"), PROTO_TCP),
            Drop(Reason::DropIpv6Ext),
        ),
        case(
            "IPv6 hop-by-hop elsewhere",
            ipv6_with_hop_by_hop(sa(c6), sa("[2001:db8::99]:443"), PROTO_TCP),
            Pass(Reason::PassNotService),
        ),
        case(
            "IPv6 fragment to a VIP",
            ipv6_fragment(sa(c6), sa("[2001:db8::10]:53"), PROTO_UDP),
            Drop(Reason::DropFragment),
        ),
        case(
            "TCP header cut short to a VIP",
            trunc_l4,
            Drop(Reason::DropTruncated),
        ),
        case(
            "TCP header cut short elsewhere",
            trunc_l4_other,
            Pass(Reason::PassNotService),
        ),
        case(
            "UDP6 header cut short to a VIP",
            trunc_udp6,
            Drop(Reason::DropTruncated),
        ),
        case(
            "service with every real drained",
            frame(sa(c4), sa("198.18.0.12:80"), PROTO_TCP, b"x"),
            Drop(Reason::DropNoReal),
        ),
        case(
            "real's MAC not resolved",
            frame(sa(c4), sa("198.18.0.13:80"), PROTO_TCP, b"x"),
            Drop(Reason::DropNoNeighbour),
        ),
        case(
            "tunnel without a tunnel source",
            frame(sa(c4), sa("198.18.0.15:80"), PROTO_TCP, b"x"),
            Drop(Reason::DropNoTunnelSource),
        ),
        case(
            "forwarding method unknown",
            frame(sa(c4), sa("198.18.0.16:80"), PROTO_TCP, b"x"),
            Drop(Reason::DropBadMethod),
        ),
    ]
}

#[test]
fn every_branch_gets_its_verdict_counter_and_frame() {
    let mut h = Harness::new("tbl");
    let services = fixture();
    h.apply(&services);
    let mac_of = |svc: &ServiceKey, index: u32| -> [u8; 6] {
        let spec = services
            .iter()
            .find(|s| s.key == *svc)
            .expect("service in fixture");
        let real = spec
            .reals
            .iter()
            .find(|r| h.real_index(svc, r.addr) == index)
            .expect("index of a fixture real");
        real.dst_mac
    };
    let mut failures = Vec::new();
    for c in cases() {
        let reason = match &c.expect {
            Expect::Pass(r) | Expect::Drop(r) => *r,
            Expect::Tx => Reason::Tx,
            Expect::Redirect => Reason::Redirect,
        };
        let before = h.counter(reason);
        let out = h.run(&c.frame);
        let after = h.counter(reason);
        let verdict = match c.expect {
            Expect::Pass(_) => XDP_PASS,
            Expect::Drop(_) => XDP_DROP,
            Expect::Tx => XDP_TX,
            Expect::Redirect => XDP_REDIRECT,
        };
        if out.verdict != verdict || after != before + 1 {
            failures.push(format!(
                "{}: verdict {} (want {verdict}), counter {} moved by {} (want 1)",
                c.name,
                out.verdict,
                reason.as_str(),
                after - before
            ));
            continue;
        }
        match c.expect {
            Expect::Pass(_) => assert_eq!(
                out.frame, c.frame,
                "{}: passed frame must be untouched",
                c.name
            ),
            Expect::Drop(_) => {}
            Expect::Tx | Expect::Redirect => {
                let svc = c.service.expect("forwarded cases name their service");
                let parsed =
                    etherparse::SlicedPacket::from_ethernet(&c.frame).expect("case frame parses");
                let (src, dst) = endpoints(&parsed);
                let flow = flow(src, dst, svc.proto);
                let want = table_choice(&h, &svc, &flow, false);
                assert_eq!(
                    h.conn_real(&flow),
                    Some(want),
                    "{}: connection table entry",
                    c.name
                );
                assert_dr_rewrite(&c.frame, &out.frame, mac_of(&svc, want), DIRECTOR_MAC);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "cases failed:\n{}",
        failures.join("\n")
    );
}

fn endpoints(p: &etherparse::SlicedPacket<'_>) -> (SocketAddr, SocketAddr) {
    let (s, d): (IpAddr, IpAddr) = match p.net.as_ref().expect("ip") {
        etherparse::NetSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        etherparse::NetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
    };
    let (sp, dp) = match p.transport.as_ref().expect("transport") {
        etherparse::TransportSlice::Tcp(t) => (t.source_port(), t.destination_port()),
        etherparse::TransportSlice::Udp(u) => (u.source_port(), u.destination_port()),
        _ => panic!("not tcp/udp"),
    };
    (SocketAddr::new(s, sp), SocketAddr::new(d, dp))
}

// ---------------------------------------------------------------------------------------------
// Behaviour over many packets.
// ---------------------------------------------------------------------------------------------

const VIP: &str = "198.18.0.10:80";

fn web(reals: Vec<RealSpec>) -> Vec<ServiceSpec> {
    vec![service(key("198.18.0.10", 80, PROTO_TCP), reals)]
}

fn client(i: u32) -> SocketAddr {
    SocketAddr::new(
        IpAddr::from([198, 19, (i >> 8) as u8, i as u8]),
        10000 + (i % 50000) as u16,
    )
}

/// Sends one packet of client `i`'s flow; returns the real index it went to.
fn send(h: &Harness, i: u32) -> u32 {
    let (src, dst) = (client(i), sa(VIP));
    let out = h.run(&frame(src, dst, PROTO_TCP, b"data"));
    assert_eq!(out.verdict, XDP_TX, "flow {i} forwarded");
    let mac = [
        out.frame[0],
        out.frame[1],
        out.frame[2],
        out.frame[3],
        out.frame[4],
        out.frame[5],
    ];
    let idx = h
        .conn_real(&flow(src, dst, PROTO_TCP))
        .expect("flow in connection table");
    let real = h.maps().real(idx).expect("real entry");
    assert_eq!(
        real.dst_mac, mac,
        "flow {i}: frame went to the real the connection table names"
    );
    idx
}

#[test]
fn ten_thousand_flows_follow_weights_and_removal_moves_only_the_removed_reals_flows() {
    let mut h = Harness::new("shr");
    let reals = vec![
        dr("198.18.1.1", 1, 1),
        dr("198.18.1.2", 1, 2),
        dr("198.18.1.3", 2, 3),
    ];
    h.apply(&web(reals.clone()));
    let k = key("198.18.0.10", 80, PROTO_TCP);
    let idx: Vec<u32> = reals.iter().map(|r| h.real_index(&k, r.addr)).collect();

    const N: u32 = 10_000;
    let first: Vec<u32> = (0..N).map(|i| send(&h, i)).collect();
    for (j, share) in [0.25, 0.25, 0.5].iter().enumerate() {
        let got = first.iter().filter(|&&r| r == idx[j]).count() as f64 / N as f64;
        assert!(
            (got - share).abs() <= 0.05 * share,
            "real {j}: {got:.4} of flows, share {share}"
        );
    }
    assert_eq!(h.counter(Reason::ConnNew), N as u64);

    // Remove the first real: its flows move, nobody else's does.
    h.apply(&web(reals[1..].to_vec()));
    for (i, &before) in first.iter().enumerate() {
        let after = send(&h, i as u32);
        if before == idx[0] {
            assert!(
                after == idx[1] || after == idx[2],
                "flow {i} of the removed real went to #{after}"
            );
        } else {
            assert_eq!(after, before, "flow {i} moved off a real that stayed");
        }
    }
    let moved = first.iter().filter(|&&r| r == idx[0]).count() as u64;
    assert_eq!(h.counter(Reason::ConnRescheduled), moved);

    // Statistics: every packet and new connection accounted to the service and its reals.
    let svc = h.director.service_stats(&k);
    assert_eq!(svc.packets, 2 * N as u64);
    assert_eq!(svc.conns, N as u64 + moved);
    let per_real: u64 = idx
        .iter()
        .map(|&i| h.maps().real_stats(i).expect("real stats").packets)
        .sum();
    assert_eq!(per_real, 2 * N as u64);
}

/// Finds a client whose flow the new table would send elsewhere than the old one did.
fn flow_moved_by_table(
    h: &Harness,
    k: &ServiceKey,
    before: &[u32],
    range: std::ops::Range<u32>,
) -> Option<u32> {
    range.into_iter().find(|&i| {
        let f = flow(client(i), sa(VIP), PROTO_TCP);
        table_choice(h, k, &f, false) != before[i as usize]
    })
}

#[test]
fn established_flow_survives_real_addition() {
    let mut h = Harness::new("add");
    let mut reals = vec![dr("198.18.1.1", 1, 1), dr("198.18.1.2", 1, 2)];
    h.apply(&web(reals.clone()));
    let k = key("198.18.0.10", 80, PROTO_TCP);
    let before: Vec<u32> = (0..200).map(|i| send(&h, i)).collect();

    reals.push(dr("198.18.1.3", 1, 3));
    h.apply(&web(reals));
    let moved =
        flow_moved_by_table(&h, &k, &before, 0..200).expect("some flow's slot changed owner");
    // The table now says the new real, the connection table keeps the flow where it was.
    assert_eq!(send(&h, moved), before[moved as usize]);
    for i in 0..200 {
        assert_eq!(send(&h, i), before[i as usize], "flow {i} moved");
    }
    // New flows do reach the new real.
    let new = h.real_index(&k, ip("198.18.1.3"));
    assert!(
        (1000..2000).any(|i| send(&h, i) == new),
        "the added real takes new flows"
    );
}

#[test]
fn drained_real_keeps_its_flows_and_takes_no_new_ones() {
    let mut h = Harness::new("drn");
    let reals = vec![dr("198.18.1.1", 1, 1), dr("198.18.1.2", 1, 2)];
    h.apply(&web(reals.clone()));
    let k = key("198.18.0.10", 80, PROTO_TCP);
    let drained = h.real_index(&k, ip("198.18.1.1"));
    let before: Vec<u32> = (0..300).map(|i| send(&h, i)).collect();
    assert!(before.contains(&drained));

    h.apply(&web(vec![dr("198.18.1.1", 0, 1), dr("198.18.1.2", 1, 2)]));
    for i in 0..300 {
        assert_eq!(
            send(&h, i),
            before[i as usize],
            "established flow {i} kept its real"
        );
    }
    for i in 300..1300 {
        assert_ne!(
            send(&h, i),
            drained,
            "new flow {i} went to the drained real"
        );
    }
}

#[test]
fn removed_real_index_reused_by_another_real_does_not_inherit_flows() {
    let mut h = Harness::new("gen");
    h.apply(&web(vec![dr("198.18.1.1", 1, 1), dr("198.18.1.2", 1, 2)]));
    let k = key("198.18.0.10", 80, PROTO_TCP);
    let old = h.real_index(&k, ip("198.18.1.1"));
    let flows: Vec<u32> = (0..100).filter(|&i| send(&h, i) == old).collect();
    assert!(!flows.is_empty());

    // 198.18.1.1 leaves and 198.18.1.9 arrives in one change: the writer frees the index only
    // after the new real got its own, so apply twice to make the new real reuse it.
    h.apply(&web(vec![dr("198.18.1.2", 1, 2)]));
    h.apply(&web(vec![dr("198.18.1.2", 1, 2), dr("198.18.1.9", 1, 9)]));
    assert_eq!(h.real_index(&k, ip("198.18.1.9")), old, "index reused");
    let rescheduled = h.counter(Reason::ConnRescheduled);
    for &i in &flows {
        send(&h, i);
    }
    assert_eq!(
        h.counter(Reason::ConnRescheduled) - rescheduled,
        flows.len() as u64,
        "every flow of the old owner was rescheduled, none followed the index"
    );
}

#[test]
fn persistent_service_sends_every_connection_of_a_client_to_one_real() {
    let mut h = Harness::new("per");
    let reals = (1..=5)
        .map(|i| dr(&format!("198.18.1.{i}"), 1, i))
        .collect();
    let mut svc = service(key("198.18.0.10", 80, PROTO_TCP), reals);
    svc.flags = SVC_F_HASH_SRC_ONLY;
    h.apply(&[svc]);
    for c in 0..20u8 {
        let reals: std::collections::BTreeSet<u32> = (0..20u16)
            .map(|p| {
                let src = SocketAddr::new(IpAddr::from([198, 19, 0, c]), 20000 + p);
                let out = h.run(&frame(src, sa(VIP), PROTO_TCP, b"x"));
                assert_eq!(out.verdict, XDP_TX);
                h.conn_real(&flow(src, sa(VIP), PROTO_TCP)).expect("conn")
            })
            .collect();
        assert_eq!(reals.len(), 1, "client {c} spread over {reals:?}");
    }
}

#[test]
fn removing_a_service_passes_its_traffic_and_frees_the_vip() {
    let mut h = Harness::new("rms");
    h.apply(&web(vec![dr("198.18.1.1", 1, 1)]));
    assert_eq!(
        h.run(&frame(client(1), sa(VIP), PROTO_TCP, b"x")).verdict,
        XDP_TX
    );
    assert_eq!(
        h.run(&ipv4_fragment(client(1), sa(VIP), PROTO_TCP, true))
            .verdict,
        XDP_DROP
    );
    h.apply(&[]);
    let f = frame(client(1), sa(VIP), PROTO_TCP, b"x");
    let out = h.run(&f);
    assert_eq!((out.verdict, out.frame), (XDP_PASS, f));
    assert_eq!(
        h.run(&ipv4_fragment(client(1), sa(VIP), PROTO_TCP, true))
            .verdict,
        XDP_PASS,
        "no longer a VIP"
    );
}

#[test]
fn a_restarted_writer_adopts_the_pinned_tables_and_rewrites_nothing() {
    let mut h = Harness::new("adp");
    let v6 = service(
        key("2001:db8::10", 443, PROTO_TCP),
        vec![dr("2001:db8:1::1", 1, 11)],
    );
    let reals = vec![
        dr("198.18.1.1", 1, 1),
        dr("198.18.1.2", 3, 2),
        RealSpec {
            active: false,
            ..dr("198.18.1.3", 1, 3)
        },
    ];
    let wanted = vec![
        service(key("198.18.0.10", 80, PROTO_TCP), reals.clone()),
        v6.clone(),
    ];
    h.apply(&wanted);
    let before: Vec<u32> = (0..300).map(|i| send(&h, i)).collect();
    let ring_before = h.maps().services();

    h.restart();
    let report = h.apply(&wanted);
    assert!(
        report.is_empty(),
        "same state after a restart writes nothing: {report:?}"
    );
    assert_eq!(
        h.maps().services(),
        ring_before,
        "service entries untouched"
    );
    for i in 0..300 {
        assert_eq!(
            send(&h, i),
            before[i as usize],
            "flow {i} kept its real across the restart"
        );
    }

    // The adopted writer still changes things correctly: drop a real, add another.
    let k = key("198.18.0.10", 80, PROTO_TCP);
    let gone = h.real_index(&k, ip("198.18.1.1"));
    let changed = vec![
        service(k, vec![reals[1].clone(), dr("198.18.1.4", 1, 4)]),
        v6,
    ];
    let report = h.apply(&changed).tables;
    assert_eq!((report.tables_written, report.reals_removed), (1, 2));
    let new = h.real_index(&k, ip("198.18.1.4"));
    assert_ne!(
        new,
        h.real_index(&k, ip("198.18.1.2")),
        "the new real got its own index"
    );
    for i in 0..300 {
        let now = send(&h, i);
        assert_ne!(now, gone, "flow {i} still on the removed real");
        if before[i as usize] != gone {
            assert_eq!(now, before[i as usize], "flow {i} moved");
        }
    }
}
