//! Frames built and checked with etherparse.

use etherparse::{
    IpFragOffset, IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, Ipv4Options, Ipv6Extensions,
    Ipv6FragmentHeader, Ipv6Header, Ipv6RawExtHeader, PacketBuilder, SlicedPacket, TransportSlice,
};
use lvs_common::{FlowKey, PROTO_TCP, PROTO_UDP};
use std::net::{IpAddr, SocketAddr};

pub const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub const DIRECTOR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd1];

/// The next hop's MAC towards the tunnelled reals of the packet tests.
pub const NEXT_HOP: [u8; 6] = [0x02, 0, 0, 0, 0x20, 0x01];

/// A tunnel real (`method` IPIP or GUE, GUE to `port`) reached through [`NEXT_HOP`], egress on
/// the ingress interface.
pub fn tunnel_real(addr: &str, method: u8, port: u16) -> lvs_ctl::dataplane::RealSpec {
    lvs_ctl::dataplane::RealSpec {
        addr: ip(addr),
        weight: 1,
        method,
        dst_mac: NEXT_HOP,
        src_mac: DIRECTOR_MAC,
        ifindex: 0,
        tunnel_port: port,
        active: true,
    }
}

/// The MAC the tests give real number `i`.
pub const fn real_mac(i: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 0x10, i]
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("IP address literal")
}

/// The flow key the data plane derives from a packet src -> dst.
pub fn flow(src: SocketAddr, dst: SocketAddr, proto: u8) -> FlowKey {
    FlowKey::new(src, dst, proto)
}

fn ip_headers(src: IpAddr, dst: IpAddr, proto: u8) -> IpHeaders {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => IpHeaders::Ipv4(
            Ipv4Header::new(0, 64, IpNumber(proto), s.octets(), d.octets()).expect("ipv4 header"),
            Ipv4Extensions::default(),
        ),
        (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: 0,
                next_header: IpNumber(proto),
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            },
            Ipv6Extensions::default(),
        ),
        _ => panic!("mixed address families {src} -> {dst}"),
    }
}

/// A TCP (SYN) or UDP frame from `src` to `dst` with `payload`.
pub fn frame(src: SocketAddr, dst: SocketAddr, proto: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(
        ip_headers(src.ip(), dst.ip(), proto),
        src.port(),
        dst.port(),
        proto,
        payload,
    )
}

/// A frame whose IP header carries `tos` (IPv4 TOS byte / IPv6 traffic class), whose whole
/// IP packet is `ip_len` bytes long (payload padded with zeros) and, for IPv4, with or
/// without DF.
pub fn frame_sized(
    src: SocketAddr,
    dst: SocketAddr,
    proto: u8,
    tos: u8,
    ip_len: usize,
    df: bool,
) -> Vec<u8> {
    let mut ip = ip_headers(src.ip(), dst.ip(), proto);
    let (ip_hdr, l4_hdr) = (
        if src.is_ipv4() { 20 } else { 40 },
        if proto == PROTO_TCP { 20 } else { 8 },
    );
    match &mut ip {
        IpHeaders::Ipv4(h, _) => {
            h.dscp = etherparse::Ipv4Dscp::try_new(tos >> 2).expect("dscp");
            h.ecn = etherparse::Ipv4Ecn::try_new(tos & 3).expect("ecn");
            h.dont_fragment = df;
        }
        IpHeaders::Ipv6(h, _) => h.traffic_class = tos,
    }
    let payload = vec![0xabu8; ip_len - ip_hdr - l4_hdr];
    frame_with(ip, src.port(), dst.port(), proto, &payload)
}

/// A frame over the given IP headers (options, fragments, extension headers).
pub fn frame_with(ip: IpHeaders, sport: u16, dport: u16, proto: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC).ip(ip);
    let mut out = Vec::new();
    match proto {
        PROTO_TCP => b
            .tcp(sport, dport, 1000, 65535)
            .syn()
            .write(&mut out, payload),
        PROTO_UDP => b.udp(sport, dport).write(&mut out, payload),
        _ => panic!("frame_with: protocol {proto}"),
    }
    .expect("write frame");
    out
}

/// IPv4 with 4 bytes of options (NOPs + end of list).
pub fn ipv4_with_options(src: SocketAddr, dst: SocketAddr, proto: u8) -> Vec<u8> {
    let mut ip = ip_headers(src.ip(), dst.ip(), proto);
    if let IpHeaders::Ipv4(h, _) = &mut ip {
        h.options = Ipv4Options::try_from(&[1u8, 1, 1, 0][..]).expect("options");
    }
    frame_with(ip, src.port(), dst.port(), proto, b"options")
}

/// An IPv4 first fragment (more-fragments set) or a later one (offset set).
pub fn ipv4_fragment(src: SocketAddr, dst: SocketAddr, proto: u8, first: bool) -> Vec<u8> {
    let mut ip = ip_headers(src.ip(), dst.ip(), proto);
    if let IpHeaders::Ipv4(h, _) = &mut ip {
        if first {
            h.more_fragments = true;
        } else {
            h.fragment_offset = IpFragOffset::try_new(64).expect("offset");
        }
    }
    frame_with(ip, src.port(), dst.port(), proto, b"fragment")
}

/// IPv6 with a hop-by-hop options header before the transport header.
pub fn ipv6_with_hop_by_hop(src: SocketAddr, dst: SocketAddr, proto: u8) -> Vec<u8> {
    let mut ip = ip_headers(src.ip(), dst.ip(), proto);
    if let IpHeaders::Ipv6(_, ext) = &mut ip {
        ext.hop_by_hop_options =
            Some(Ipv6RawExtHeader::new_raw(IpNumber(proto), &[1, 4, 0, 0, 0, 0]).expect("hbh"));
    }
    frame_with(ip, src.port(), dst.port(), proto, b"hop-by-hop")
}

/// IPv6 with a fragment header.
pub fn ipv6_fragment(src: SocketAddr, dst: SocketAddr, proto: u8) -> Vec<u8> {
    let mut ip = ip_headers(src.ip(), dst.ip(), proto);
    if let IpHeaders::Ipv6(_, ext) = &mut ip {
        ext.fragment = Some(Ipv6FragmentHeader::new(
            IpNumber(proto),
            IpFragOffset::ZERO,
            true,
            7,
        ));
    }
    frame_with(ip, src.port(), dst.port(), proto, b"fragment")
}

/// An ICMP (v4) or ICMPv6 echo request.
pub fn icmp_echo(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut out = Vec::new();
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => b
            .ipv4(s.octets(), d.octets(), 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut out, b"ping"),
        (IpAddr::V6(s), IpAddr::V6(d)) => b
            .ipv6(s.octets(), d.octets(), 64)
            .icmpv6_echo_request(1, 1)
            .write(&mut out, b"ping"),
        _ => panic!("mixed families"),
    }
    .expect("write icmp");
    out
}

/// An ICMP "fragmentation needed" (IPv4) or ICMPv6 "packet too big" from `router` to the VIP,
/// quoting the first bytes of a reply the real server sent from `vip` to `client`.
pub fn icmp_too_big_about(
    router: IpAddr,
    vip: SocketAddr,
    client: SocketAddr,
    proto: u8,
    mtu: u16,
) -> Vec<u8> {
    // The quoted reply: its IP header and the first 8 bytes of its transport header.
    let reply = frame(vip, client, proto, b"reply data");
    let quote = &reply[14..14 + if vip.is_ipv4() { 28 } else { 48 }];
    let mut out = Vec::new();
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    match (router, vip.ip()) {
        (IpAddr::V4(r), IpAddr::V4(v)) => b
            .ipv4(r.octets(), v.octets(), 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded {
                    next_hop_mtu: mtu,
                },
            ))
            .write(&mut out, quote),
        (IpAddr::V6(r), IpAddr::V6(v)) => b
            .ipv6(r.octets(), v.octets(), 64)
            .icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: mtu as u32 })
            .write(&mut out, quote),
        _ => panic!("mixed families"),
    }
    .expect("write icmp");
    out
}

/// An ARP request (a frame that is not IP at all).
pub fn arp_request() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    // htype 1, ptype IPv4, hlen 6, plen 4, op request, sha, spa, tha, tpa
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[198, 18, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[198, 18, 0, 10]);
    f
}

/// Checks that `out` is `input` forwarded by direct routing to `dst_mac` from `src_mac`:
/// the MACs are the real's and the egress interface's, and every byte after the Ethernet
/// addresses (type, IP header, transport header, payload) is unchanged.
pub fn assert_dr_rewrite(input: &[u8], out: &[u8], dst_mac: [u8; 6], src_mac: [u8; 6]) {
    let parsed = SlicedPacket::from_ethernet(out).expect("forwarded frame parses");
    let eth = parsed
        .link
        .as_ref()
        .and_then(|l| l.to_header())
        .expect("ethernet header");
    let eth = match eth {
        etherparse::LinkHeader::Ethernet2(e) => e,
        other => panic!("not ethernet: {other:?}"),
    };
    assert_eq!(eth.destination, dst_mac, "destination MAC is the real's");
    assert_eq!(eth.source, src_mac, "source MAC is the egress interface's");
    assert_eq!(out.len(), input.len(), "frame length unchanged");
    assert_eq!(
        &out[12..],
        &input[12..],
        "everything after the MACs unchanged"
    );
    assert!(matches!(
        parsed.transport,
        Some(TransportSlice::Tcp(_)) | Some(TransportSlice::Udp(_))
    ));
}
