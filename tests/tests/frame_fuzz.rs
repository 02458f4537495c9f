//! A property-based fuzz of `lvs_director` through `BPF_PROG_TEST_RUN` (issue 10).
//!
//! Frames are generated with proptest, built with etherparse and then damaged on purpose,
//! one family at a time (225,000 frames a run):
//!
//! | family | frames | what |
//! | --- | --- | --- |
//! | `valid` | 30,000 | well-formed TCP/UDP to every target: services, unserved ports, other MACs, not VIPs |
//! | `truncation` | 20,000 | valid frames of every kind cut at every offset (14 bytes to whole) |
//! | `length_fields` | 30,000 | IPv4 total / IPv6 payload length, TCP data offset, UDP length: set, moved, consistently shorter |
//! | `ihl_options` | 10,000 | IHL 0-15 with options, the version nibble, checksum and length fixed or not |
//! | `fragments` | 10,000 | IPv4 MF / offset / DF / reserved bits, IPv6 fragment header |
//! | `ipv6_ext` | 10,000 | chains of 1-3 extension headers, other next headers |
//! | `vlan_qinq` | 5,000 | valid frames behind 0x8100 / 0x88a8 / 0x9100 tags, one or two |
//! | `non_ip` | 5,000 | ARP, LLDP, MPLS, PPPoE, ... and random ethertypes |
//! | `icmp_errors` | 30,000 | fragmentation-needed / packet-too-big with good quotes and broken ones |
//! | `tunnel_in` | 10,000 | IPIP, IPv6-in-IPv6, GUE addressed to VIPs, tunnel sources, reals |
//! | `random_bytes` | 20,000 | random bytes, raw or shaped into IPv4/IPv6 to a VIP |
//! | `byte_flips` | 40,000 | 1-4 bytes of valid frames flipped, the IPv4 checksum made right or not |
//! | `too_big` | 5,000 | packets near the MTU of a 1400-byte veth: ICMP replies, DF, non-unicast senders |
//!
//! Every frame runs through the program loaded with the production map state of
//! [`fixture`] (written by the controller's own writer): IPv4 and IPv6 VIPs; DR, IPIP and
//! GUE reals for both protocols and families; every-port services; reals without a
//! neighbour; services whose reals all have weight 0; reals on another interface; a
//! source-hashed service; a tunnel configuration for both families.
//!
//! What the program must do with a frame is decided by [`classify`], a userspace parse of
//! the frame alone (the program is not asked), and checked by [`oracle`]: verdict, output
//! frame, the real chosen, the reason counted. A frame that breaks a rule fails its proptest
//! case; the case is shrunk and the smallest failing frame printed as hex with the oracle's
//! complaint. `LVS_FUZZ_SEED=<n>` sends the frames of an earlier run again (its seed is
//! printed first). A second test checks the oracle itself: it refuses every one-byte change
//! of a correctly forwarded frame.
//!
//! The too-big family comes in on a veth with MTU 1400 in a namespace of its own; the
//! others on loopback (MTU 65536). The kernel refuses test runs of frames shorter than an
//! Ethernet header (EINVAL), so the shortest frame sent is 14 bytes. Addresses outside
//! 198.18.0.0/15 and 2001:db8::/32 appear only as generated senders no ICMP error may go
//! to (0/8, 127/8, multicast, class E, broadcast, ::, ::1, ff00::/8) and in random bytes.

use etherparse::{
    IpHeaders, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv6Header, PacketBuilder, UdpHeader,
};
use lvs_common::{
    DEFAULT_GUE_PORT, FAMILY_V6, FlowKey, METHOD_DR, METHOD_GUE, METHOD_IPIP, PROTO_TCP, PROTO_UDP,
    Reason, SVC_F_HASH_SRC_ONLY, ServiceKey, TunnelConfig, bytes_addr, csum, flow_hash,
    gue_source_port,
};
use lvs_ctl::dataplane::{RealSpec, ServiceSpec};
use lvs_tests::{lab::Netns, packet::*, *};
use proptest::{
    collection::vec,
    prelude::*,
    sample::{Index, select},
    test_runner::{Config, RngAlgorithm, RngSeed, TestCaseError, TestError, TestRunner},
};
use std::{
    cell::{Cell, RefCell},
    collections::{BTreeMap, HashMap, HashSet},
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Instant,
};

const TCP: u8 = PROTO_TCP;
const UDP: u8 = PROTO_UDP;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const XDP_ABORTED: u32 = 0;

/// A second egress MAC, so that "source MAC = the real's egress MAC" is not always ours.
const EGRESS_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xd2];
/// Egress interface of the reals "on another interface" (a redirect).
const OTHER_IFINDEX: u32 = 999;
/// MTU of the too-big family's interface.
const SMALL_MTU: u32 = 1400;

/// IPv6 extension headers (IANA "IPv6 Extension Header Types"): a packet that carries one is
/// not forwarded.
const IPV6_EXT: [u8; 11] = [0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254];

// ---------------------------------------------------------------------------------------------
// Map state.
// ---------------------------------------------------------------------------------------------

fn tunnel() -> TunnelConfig {
    TunnelConfig {
        source4: [198, 18, 250, 0],
        vary4: [0, 0, 0, 0x0f],
        source6: "2001:db8:250::".parse::<Ipv6Addr>().unwrap().octets(),
        vary6: [0, 0, 0xff, 0xff],
        ttl: 0,
        _pad: [0; 3],
    }
}

fn dr(addr: &str, weight: u32, mac: u8) -> RealSpec {
    RealSpec::dr(ip(addr), weight, real_mac(mac), DIRECTOR_MAC)
}

fn svc(vip: &str, port: u16, proto: u8, flags: u32, reals: Vec<RealSpec>) -> ServiceSpec {
    ServiceSpec {
        key: ServiceKey::new(ip(vip), port, proto),
        flags,
        ring_size: 65537,
        reals,
    }
}

/// The production map state every frame runs against. [`TARGETS`] follows it.
fn fixture() -> Vec<ServiceSpec> {
    let unresolved = |r: RealSpec| RealSpec {
        dst_mac: [0; 6],
        ..r
    };
    let elsewhere = |r: RealSpec| RealSpec {
        ifindex: OTHER_IFINDEX,
        ..r
    };
    vec![
        svc(
            "198.18.0.10",
            80,
            TCP,
            0,
            vec![
                dr("198.18.1.1", 1, 1),
                dr("198.18.1.2", 1, 2),
                dr("198.18.1.3", 2, 3),
            ],
        ),
        svc(
            "198.18.0.10",
            53,
            UDP,
            0,
            vec![
                tunnel_real("198.18.5.2", METHOD_GUE, DEFAULT_GUE_PORT),
                tunnel_real("198.18.5.4", METHOD_GUE, 7000),
            ],
        ),
        svc(
            "198.18.0.11",
            0,
            TCP,
            0,
            vec![
                tunnel_real("198.18.5.1", METHOD_IPIP, 0),
                tunnel_real("198.18.5.5", METHOD_GUE, DEFAULT_GUE_PORT),
            ],
        ),
        svc(
            "198.18.0.11",
            0,
            UDP,
            0,
            vec![
                RealSpec {
                    src_mac: EGRESS_B,
                    ..dr("198.18.1.4", 1, 4)
                },
                tunnel_real("198.18.5.6", METHOD_IPIP, 0),
            ],
        ),
        svc("198.18.0.12", 80, TCP, 0, vec![dr("198.18.1.30", 0, 30)]),
        svc(
            "198.18.0.13",
            80,
            TCP,
            0,
            vec![unresolved(dr("198.18.1.40", 1, 40))],
        ),
        svc(
            "198.18.0.13",
            53,
            UDP,
            0,
            vec![unresolved(tunnel_real("198.18.5.40", METHOD_GUE, 6080))],
        ),
        svc(
            "198.18.0.14",
            443,
            TCP,
            SVC_F_HASH_SRC_ONLY,
            vec![
                elsewhere(dr("198.18.1.50", 1, 50)),
                elsewhere(dr("198.18.1.51", 1, 51)),
            ],
        ),
        svc(
            "2001:db8::10",
            443,
            TCP,
            0,
            vec![dr("2001:db8:1::1", 1, 11), dr("2001:db8:1::2", 1, 12)],
        ),
        svc(
            "2001:db8::10",
            53,
            UDP,
            0,
            vec![tunnel_real("2001:db8:5::2", METHOD_GUE, 7000)],
        ),
        svc(
            "2001:db8::11",
            0,
            TCP,
            0,
            vec![
                tunnel_real("2001:db8:5::1", METHOD_IPIP, 0),
                tunnel_real("2001:db8:5::5", METHOD_GUE, 7000),
            ],
        ),
        svc(
            "2001:db8::11",
            0,
            UDP,
            0,
            vec![
                tunnel_real("2001:db8:5::3", METHOD_GUE, DEFAULT_GUE_PORT),
                tunnel_real("2001:db8:5::4", METHOD_IPIP, 0),
                RealSpec {
                    src_mac: EGRESS_B,
                    ..dr("2001:db8:1::5", 1, 15)
                },
            ],
        ),
        svc(
            "2001:db8::12",
            0,
            UDP,
            0,
            vec![dr("2001:db8:1::30", 0, 31), dr("2001:db8:1::31", 0, 32)],
        ),
        svc(
            "2001:db8::13",
            80,
            TCP,
            0,
            vec![unresolved(dr("2001:db8:1::40", 1, 41))],
        ),
        svc(
            "2001:db8::13",
            53,
            UDP,
            0,
            vec![unresolved(tunnel_real("2001:db8:5::40", METHOD_IPIP, 0))],
        ),
    ]
}

/// Where generated packets go: address, port (None: any) and protocol (None: TCP or UDP).
/// The first [`N_SERVED`] are the services of [`fixture`], in its order; then VIPs at ports
/// or protocols without a service; then addresses that are not VIPs (the tunnel sources and
/// reals among them).
const TARGETS: &[(&str, Option<u16>, Option<u8>)] = &[
    ("198.18.0.10", Some(80), Some(TCP)),
    ("198.18.0.10", Some(53), Some(UDP)),
    ("198.18.0.11", None, Some(TCP)),
    ("198.18.0.11", None, Some(UDP)),
    ("198.18.0.12", Some(80), Some(TCP)),
    ("198.18.0.13", Some(80), Some(TCP)),
    ("198.18.0.13", Some(53), Some(UDP)),
    ("198.18.0.14", Some(443), Some(TCP)),
    ("2001:db8::10", Some(443), Some(TCP)),
    ("2001:db8::10", Some(53), Some(UDP)),
    ("2001:db8::11", None, Some(TCP)),
    ("2001:db8::11", None, Some(UDP)),
    ("2001:db8::12", None, Some(UDP)),
    ("2001:db8::13", Some(80), Some(TCP)),
    ("2001:db8::13", Some(53), Some(UDP)),
    // VIPs, any port or protocol (mostly without a service).
    ("198.18.0.10", None, None),
    ("198.18.0.12", None, Some(UDP)),
    ("198.18.0.14", None, None),
    ("2001:db8::10", None, None),
    ("2001:db8::13", None, None),
    // Not VIPs.
    ("198.18.0.9", None, None),
    ("198.18.250.1", None, None),
    ("198.18.5.1", None, None),
    ("2001:db8::99", None, None),
    ("2001:db8:250::1", None, None),
    ("2001:db8:5::1", None, None),
];
const N_SERVED: usize = 15;
/// Services whose reals are tunnelled from the ingress interface (the too-big family), and
/// two DR services (no MTU check on that path).
const BIG_TARGETS: &[usize] = &[0, 1, 2, 6, 8, 9, 10, 11, 14];

fn target(i: usize) -> (IpAddr, Option<u16>, Option<u8>) {
    let (a, p, q) = TARGETS[i];
    (ip(a), p, q)
}

fn target_indices(v6: bool) -> Vec<usize> {
    (0..TARGETS.len())
        .filter(|&i| target(i).0.is_ipv6() == v6)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the oracle knows of the map state, read back from the kernel once.
// ---------------------------------------------------------------------------------------------

struct SvcState {
    flags: u32,
    ring_size: u32,
    table: Vec<u32>,
}

struct Env {
    services: HashMap<ServiceKey, SvcState>,
    reals: HashMap<u32, RealSpec>,
    vips: HashSet<IpAddr>,
    tunnel: TunnelConfig,
}

impl Env {
    fn read(h: &Harness, specs: &[ServiceSpec], tunnel: TunnelConfig) -> Env {
        let mut services = HashMap::new();
        for (key, s) in h.maps().services() {
            let table = if s.ring_size == 0 {
                Vec::new()
            } else {
                h.maps()
                    .read_ring(s.ring)
                    .expect("read ring")
                    .expect("ring present")
            };
            services.insert(
                key,
                SvcState {
                    flags: s.flags,
                    ring_size: s.ring_size,
                    table,
                },
            );
        }
        let mut reals = HashMap::new();
        for spec in specs {
            for r in &spec.reals {
                reals.insert(h.real_index(&spec.key, r.addr), r.clone());
            }
        }
        Env {
            services,
            reals,
            vips: specs.iter().map(|s| s.key.vip()).collect(),
            tunnel,
        }
    }

    /// The service of the flow: (VIP, port, protocol), else (VIP, every port, protocol).
    fn service(&self, flow: &FlowKey) -> Option<&SvcState> {
        let mut key = ServiceKey {
            addr: flow.dst,
            port: flow.dport,
            proto: flow.proto,
            family: flow.family,
        };
        self.services.get(&key).or_else(|| {
            key.port = [0, 0];
            self.services.get(&key)
        })
    }

    /// The real index the service's Maglev table gives the flow (0: none).
    fn choose(svc: &SvcState, flow: &FlowKey) -> u32 {
        if svc.ring_size == 0 {
            return 0;
        }
        let h = flow_hash(flow, svc.flags & SVC_F_HASH_SRC_ONLY != 0);
        svc.table[(h % svc.ring_size) as usize]
    }
}

/// The interface frames come in on.
#[derive(Clone, Copy)]
struct Port {
    /// None: a test run without context (loopback).
    ifindex: Option<u32>,
    /// The ifindex the program sees.
    ingress: u32,
    mtu: u32,
    mac: [u8; 6],
}

impl Port {
    fn loopback() -> Port {
        let mtu = std::fs::read_to_string("/sys/class/net/lo/mtu")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(65536);
        Port {
            ifindex: None,
            ingress: LOOPBACK_IFINDEX,
            mtu,
            mac: DIRECTOR_MAC,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The expected outcome of a frame, from the frame alone.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Class {
    /// XDP_PASS, the frame byte for byte.
    Pass,
    /// XDP_DROP.
    Drop,
    /// Forwarded to `index` by its method (the output checked by [`check_forward`]).
    Forward {
        flow: FlowKey,
        index: u32,
        real: RealSpec,
    },
    /// Turned into an ICMP fragmentation-needed / packet-too-big for the sender, XDP_TX.
    TooBig { v6: bool, mtu: u32 },
}

#[derive(Clone, Debug)]
struct Expect {
    class: Class,
    /// The verdict reasons the program may count (one of them, exactly once).
    reasons: Vec<Reason>,
    why: &'static str,
    /// An ICMP error steered to a real (counted `icmp_forwarded` whatever follows).
    icmp_real: bool,
}

fn pass(reasons: &[Reason], why: &'static str) -> Vec<Expect> {
    vec![Expect {
        class: Class::Pass,
        reasons: reasons.to_vec(),
        why,
        icmp_real: false,
    }]
}

fn drop_(reasons: &[Reason], why: &'static str) -> Vec<Expect> {
    vec![Expect {
        class: Class::Drop,
        reasons: reasons.to_vec(),
        why,
        icmp_real: false,
    }]
}

fn be16(f: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([f[off], f[off + 1]])
}

fn arr<const N: usize>(f: &[u8], off: usize) -> [u8; N] {
    f[off..off + N].try_into().expect("slice of N bytes")
}

/// One's-complement sum of 16-bit big-endian words (an odd last byte padded with zero).
fn sum(b: &[u8]) -> u32 {
    b.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum()
}

fn csum_ok(b: &[u8]) -> bool {
    csum::fold(sum(b)) == 0xffff
}

fn unicast_mac(m: &[u8]) -> bool {
    m[0] & 1 == 0
}

/// RFC 1122 3.2.2: no ICMP error to a source that is not one host (this network, loopback,
/// multicast, class E, broadcast).
fn unicast4(a: [u8; 4]) -> bool {
    a[0] != 0 && a[0] != 127 && a[0] < 224
}

/// RFC 4443 2.4(e): no ICMPv6 error to the unspecified address, loopback or multicast.
fn unicast6(a: [u8; 16]) -> bool {
    let ip = Ipv6Addr::from(a);
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast())
}

/// What the data plane promises to do with `f` coming in on `port`, derived from the frame
/// alone (the program is not asked). Usually one expectation; two where the promises allow
/// either (a tunnelled real without a neighbour and a packet too big for its tunnel).
fn classify(env: &Env, port: &Port, f: &[u8]) -> Vec<Expect> {
    use Reason::*;
    if f.len() < 14 {
        return pass(&[PassNotIp], "shorter than an Ethernet header");
    }
    match be16(f, 12) {
        0x0800 => classify_v4(env, port, f),
        0x86dd => classify_v6(env, port, f),
        _ => pass(&[PassNotIp], "neither IPv4 nor IPv6 (ARP, VLAN, QinQ, ...)"),
    }
}

fn classify_v4(env: &Env, port: &Port, f: &[u8]) -> Vec<Expect> {
    use Reason::*;
    if f.len() < 14 + 20 {
        return pass(&[PassBadL3], "IPv4 header cut short");
    }
    let vihl = f[14];
    let ihl = (vihl & 0x0f) as usize;
    if vihl >> 4 != 4 || ihl < 5 {
        return pass(&[PassBadL3], "IPv4 version or IHL wrong");
    }
    let proto = f[23];
    let fragment = be16(f, 20) & 0x3fff != 0;
    if proto == ICMP && ihl == 5 && !fragment {
        return classify_icmp4(env, port, f);
    }
    if proto != TCP && proto != UDP {
        return pass(&[PassOtherProto], "IPv4 neither TCP nor UDP");
    }
    let dst: [u8; 4] = arr(f, 30);
    if !env.vips.contains(&IpAddr::from(dst)) {
        // The VIP filter is a hash: a frame whose address shares a slot with a VIP's reaches
        // the MAC check before its service lookup.
        return pass(&[PassNotService, PassNotOurMac], "IPv4 not to a VIP");
    }
    if f[0..6] != port.mac {
        return pass(&[PassNotOurMac], "IPv4 to a VIP, not to our MAC");
    }
    let hdr = ihl * 4;
    let l4 = 14 + hdr;
    let l4min = if proto == TCP { 20 } else { 8 };
    let mut faults = Vec::new();
    if ihl != 5 {
        faults.push(DropIpv4Options);
    }
    if fragment {
        faults.push(DropFragment);
    }
    if f.len() < l4 + l4min {
        faults.push(DropTruncated);
    }
    if f.len() >= l4 && !csum_ok(&f[14..l4]) {
        faults.push(DropBadChecksum);
    }
    let total = be16(f, 16) as usize;
    let lengths_ok = total >= hdr + l4min
        && 14 + total <= f.len()
        && (f.len() < l4 + l4min || l4_lengths_ok(f, l4, proto, total - hdr));
    if !lengths_ok {
        faults.push(DropBadLength);
    }
    if !faults.is_empty() {
        return vec![Expect {
            class: Class::Drop,
            reasons: faults,
            why: "malformed IPv4 to a VIP",
            icmp_real: false,
        }];
    }
    let flow = FlowKey::v4(arr(f, 26), dst, arr(f, l4), arr(f, l4 + 2), proto);
    to_service(env, port, f, flow, false, f[20] & 0x40 != 0)
}

/// TCP: data offset of 5 words at least, within the segment; UDP: its length is the IP
/// payload's exactly. `len` is the IP payload length; the whole L4 header is in the frame.
fn l4_lengths_ok(f: &[u8], l4: usize, proto: u8, len: usize) -> bool {
    if proto == TCP {
        let doff = (f[l4 + 12] >> 4) as usize * 4;
        doff >= 20 && doff <= len
    } else {
        be16(f, l4 + 4) as usize == len
    }
}

fn classify_v6(env: &Env, port: &Port, f: &[u8]) -> Vec<Expect> {
    use Reason::*;
    if f.len() < 14 + 40 {
        return pass(&[PassBadL3], "IPv6 header cut short");
    }
    if f[14] >> 4 != 6 {
        return pass(&[PassBadL3], "IPv6 version wrong");
    }
    let next = f[20];
    let dst: [u8; 16] = arr(f, 38);
    let vip = env.vips.contains(&IpAddr::from(dst));
    if next == ICMPV6 {
        return classify_icmp6(env, port, f);
    }
    if IPV6_EXT.contains(&next) {
        let reason = if next == 44 {
            DropFragment
        } else {
            DropIpv6Ext
        };
        return if !vip {
            pass(&[PassNotService], "IPv6 extension header, not to a VIP")
        } else if f[0..6] != port.mac {
            pass(
                &[PassNotOurMac],
                "IPv6 extension header to a VIP, not our MAC",
            )
        } else {
            drop_(&[reason], "IPv6 extension header to a VIP")
        };
    }
    if next != TCP && next != UDP {
        return pass(&[PassOtherProto], "IPv6 neither TCP nor UDP");
    }
    if !vip {
        return pass(&[PassNotService, PassNotOurMac], "IPv6 not to a VIP");
    }
    if f[0..6] != port.mac {
        return pass(&[PassNotOurMac], "IPv6 to a VIP, not to our MAC");
    }
    let l4 = 54;
    let l4min = if next == TCP { 20 } else { 8 };
    let mut faults = Vec::new();
    if f.len() < l4 + l4min {
        faults.push(DropTruncated);
    }
    let payload = be16(f, 18) as usize;
    let lengths_ok = payload >= l4min
        && l4 + payload <= f.len()
        && (f.len() < l4 + l4min || l4_lengths_ok(f, l4, next, payload));
    if !lengths_ok {
        faults.push(DropBadLength);
    }
    if !faults.is_empty() {
        return vec![Expect {
            class: Class::Drop,
            reasons: faults,
            why: "malformed IPv6 to a VIP",
            icmp_real: false,
        }];
    }
    let flow = FlowKey::v6(&arr(f, 22), &dst, arr(f, l4), arr(f, l4 + 2), next);
    to_service(env, port, f, flow, false, true)
}

/// ICMP (IPv4 without options, not a fragment): steered only as a fragmentation-needed
/// about a TCP/UDP packet the VIP sent, addressed to that VIP, in a consistent header.
fn classify_icmp4(env: &Env, port: &Port, f: &[u8]) -> Vec<Expect> {
    let other = |why| pass(&[Reason::PassOtherProto], why);
    let total = be16(f, 16) as usize;
    if total < 20 + 8 + 20 + 8 || 14 + total > f.len() {
        return other("ICMP with a length inconsistent or too short for a quote");
    }
    if !csum_ok(&f[14..34]) {
        return other("ICMP with a wrong IPv4 header checksum");
    }
    if f[34..36] != [3, 4] {
        return other("ICMP other than fragmentation needed");
    }
    let q = 42;
    let qproto = f[q + 9];
    if f[q] != 0x45
        || (qproto != TCP && qproto != UDP)
        || be16(f, q + 6) & 0x1fff != 0
        || f[q + 12..q + 16] != f[30..34]
    {
        return other("ICMP error whose quote is not a packet from the VIP it is sent to");
    }
    // The quoted packet went VIP -> client: the client's flow is the reverse.
    let flow = FlowKey::v4(
        arr(f, q + 16),
        arr(f, q + 12),
        arr(f, q + 22),
        arr(f, q + 20),
        qproto,
    );
    icmp_about(env, port, f, flow)
}

fn classify_icmp6(env: &Env, port: &Port, f: &[u8]) -> Vec<Expect> {
    let other = |why| pass(&[Reason::PassOtherProto], why);
    let payload = be16(f, 18) as usize;
    if payload < 8 + 40 + 8 || 54 + payload > f.len() {
        return other("ICMPv6 with a length inconsistent or too short for a quote");
    }
    if f[54] != 2 {
        return other("ICMPv6 other than packet too big");
    }
    let q = 62;
    let qnext = f[q + 6];
    if f[q] >> 4 != 6 || (qnext != TCP && qnext != UDP) || f[q + 8..q + 24] != f[38..54] {
        return other("ICMPv6 error whose quote is not a packet from the VIP it is sent to");
    }
    let flow = FlowKey::v6(
        &arr(f, q + 24),
        &arr(f, q + 8),
        arr(f, q + 42),
        arr(f, q + 40),
        qnext,
    );
    icmp_about(env, port, f, flow)
}

fn icmp_about(env: &Env, port: &Port, f: &[u8], flow: FlowKey) -> Vec<Expect> {
    use Reason::*;
    if !env.vips.contains(&bytes_addr(&flow.dst, flow.family)) {
        return pass(
            &[PassNotService, PassNotOurMac, PassIcmpNoFlow],
            "ICMP error about a packet not from a VIP",
        );
    }
    if f[0..6] != port.mac {
        return pass(&[PassNotOurMac], "ICMP error to a VIP, not our MAC");
    }
    to_service(env, port, f, flow, true, false)
}

/// A well-formed packet (or ICMP error) of `flow`, to a VIP, at our MAC: its service, its
/// real, and the real's method decide.
fn to_service(
    env: &Env,
    port: &Port,
    f: &[u8],
    flow: FlowKey,
    icmp: bool,
    df: bool,
) -> Vec<Expect> {
    use Reason::*;
    let Some(svc) = env.service(&flow) else {
        return if icmp {
            pass(
                &[PassIcmpNoFlow],
                "ICMP error about a VIP port without a service",
            )
        } else {
            pass(&[PassNotService], "to a VIP port without a service")
        };
    };
    let index = Env::choose(svc, &flow);
    if index == 0 {
        return drop_(&[DropNoReal], "service without a real taking flows");
    }
    let real = env.reals[&index].clone();
    let no_neighbour = Expect {
        class: Class::Drop,
        reasons: vec![DropNoNeighbour],
        why: "the real's MAC is not resolved",
        icmp_real: icmp,
    };
    if real.method != METHOD_DR {
        let v6 = flow.family == FAMILY_V6;
        let grow = match (real.method, v6) {
            (METHOD_IPIP, false) => 20,
            (METHOD_IPIP, true) => 40,
            (_, false) => 28,
            (_, true) => 48,
        };
        if f.len() - 14 + grow > port.mtu as usize {
            let mut alts = vec![too_big(f, v6, icmp, df, port.mtu - grow as u32)];
            alts[0].icmp_real = icmp;
            if real.dst_mac == [0; 6] {
                // Either check may come first.
                alts.push(no_neighbour);
            }
            return alts;
        }
    }
    if real.dst_mac == [0; 6] {
        return vec![no_neighbour];
    }
    let reason = if real.ifindex == 0 || real.ifindex == port.ingress {
        Tx
    } else {
        Redirect
    };
    vec![Expect {
        why: forward_why(&real, flow.family == FAMILY_V6, flow.proto, icmp, reason),
        class: Class::Forward { flow, index, real },
        reasons: vec![reason],
        icmp_real: icmp,
    }]
}

/// The path a forwarded frame takes, for the report of what the run covered.
fn forward_why(real: &RealSpec, v6: bool, proto: u8, icmp: bool, reason: Reason) -> &'static str {
    const NAMES: [&str; 24] = [
        "forwarded: DR, IPv4 TCP",
        "forwarded: DR, IPv4 UDP",
        "forwarded: DR, IPv6 TCP",
        "forwarded: DR, IPv6 UDP",
        "forwarded: IPIP, IPv4 TCP",
        "forwarded: IPIP, IPv4 UDP",
        "forwarded: IPIP, IPv6 TCP",
        "forwarded: IPIP, IPv6 UDP",
        "forwarded: GUE, IPv4 TCP",
        "forwarded: GUE, IPv4 UDP",
        "forwarded: GUE, IPv6 TCP",
        "forwarded: GUE, IPv6 UDP",
        "ICMP error forwarded: DR, IPv4 about TCP",
        "ICMP error forwarded: DR, IPv4 about UDP",
        "ICMP error forwarded: DR, IPv6 about TCP",
        "ICMP error forwarded: DR, IPv6 about UDP",
        "ICMP error forwarded: IPIP, IPv4 about TCP",
        "ICMP error forwarded: IPIP, IPv4 about UDP",
        "ICMP error forwarded: IPIP, IPv6 about TCP",
        "ICMP error forwarded: IPIP, IPv6 about UDP",
        "ICMP error forwarded: GUE, IPv4 about TCP",
        "ICMP error forwarded: GUE, IPv4 about UDP",
        "ICMP error forwarded: GUE, IPv6 about TCP",
        "ICMP error forwarded: GUE, IPv6 about UDP",
    ];
    if reason == Reason::Redirect {
        return if icmp {
            "ICMP error forwarded: DR, redirected"
        } else {
            "forwarded: DR, redirected to another interface"
        };
    }
    let method = match real.method {
        METHOD_DR => 0,
        METHOD_IPIP => 1,
        _ => 2,
    };
    NAMES[icmp as usize * 12 + method * 4 + v6 as usize * 2 + (proto == UDP) as usize]
}

/// A packet that would not fit the egress MTU once encapsulated: a reply only where the RFCs
/// allow one.
fn too_big(f: &[u8], v6: bool, icmp: bool, df: bool, fits: u32) -> Expect {
    let no = |why| Expect {
        class: Class::Drop,
        reasons: vec![Reason::DropTooBig],
        why,
        icmp_real: false,
    };
    if icmp {
        return no("too big for the tunnel, an ICMP error (no error about an error)");
    }
    if !v6 && !df {
        return no("too big for the tunnel, IPv4 without DF (never fragmented)");
    }
    let src_ok = if v6 {
        unicast6(arr(f, 22))
    } else {
        unicast4(arr(f, 26))
    };
    if !src_ok || !unicast_mac(&f[6..12]) {
        return no("too big for the tunnel, sender not unicast");
    }
    Expect {
        class: Class::TooBig {
            v6,
            mtu: if v6 { fits.max(1280) } else { fits.max(68) },
        },
        reasons: vec![Reason::IcmpTooBigSent],
        why: "too big for the tunnel: ICMP back to the sender",
        icmp_real: false,
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle.
// ---------------------------------------------------------------------------------------------

/// Everything that must hold of one frame `input` and what the program did with it (`out`),
/// given the map state. The expected class comes from [`classify`], a parse of the frame
/// alone. The rules:
///
/// 1. Never XDP_ABORTED, and only the verdicts PASS, DROP, TX, REDIRECT.
/// 2. Not IPv4/IPv6 (ARP, VLAN 0x8100, QinQ 0x88a8, ...), not to a VIP, to a VIP but not to
///    the ingress interface's MAC, an IP header cut short or of the wrong version/IHL, IP
///    neither TCP nor UDP (ICMP other than the errors of rule 6): XDP_PASS, byte-identical.
/// 3. TCP/UDP to a VIP at our MAC is forwarded only when: IPv4 IHL is 5 (else drop), not a
///    fragment (else drop), header checksum right (else `drop_bad_checksum`), total length
///    at least header + whole L4 header and within the frame (Ethernet padding may follow);
///    IPv6 without extension headers (else drop), payload length within the frame and at
///    least the whole L4 header; TCP data offset >= 5 words and within the segment; UDP
///    length = IP payload length exactly (else `drop_bad_length`). Malformed: XDP_DROP,
///    never TX/redirect.
/// 4. Forwarded (TX when the real egresses on the ingress interface, else REDIRECT), to the
///    real that the service's Maglev table (read back from the kernel) gives the flow; the
///    same flow always to the same real. A real without a MAC: `drop_no_neighbour`; a
///    service without a real taking flows: `drop_no_real`; a VIP port without a service:
///    XDP_PASS untouched.
/// 5. DR: only the 12 MAC bytes change (destination = the real's, source = its egress MAC).
///    IPIP / GUE: Ethernet to the real's next hop; a valid outer IPv4 (checksum, total
///    length = inner + outer, DF, TTL 64, TOS copied, protocol 4 / 17, from the tunnel
///    source varied within its mask, to the real) or IPv6 (payload length, next header 41 /
///    17, hop limit 64, traffic class copied, flow label from the flow hash); GUE: UDP from
///    a port in 49152-65535 to the real's tunnel port, length 8 + inner length, a checksum
///    derived from the inner transport checksum: the outer packet sums to what the inner
///    segment sums to, so it verifies exactly when the inner checksum does (0 for an inner
///    IPv4 UDP without checksum); then the original IP packet (its declared length) byte
///    for byte (and the frame's Ethernet padding after it, or nothing).
/// 6. ICMP fragmentation-needed (3/4) / ICMPv6 packet-too-big (2), addressed to the VIP
///    that is the quoted packet's source, with a consistent outer header and a quote of the
///    right version (IPv4 0x45, not a later fragment; IPv6) of TCP/UDP: forwarded as in 4-5
///    to the real of the quoted flow (turned around), counted `icmp_forwarded`; about a VIP
///    port without a service: passed (`pass_icmp_no_flow`); anything else ICMP: passed.
/// 7. Too big for the egress MTU once encapsulated: never an answer to an ICMP error, to an
///    IPv4 packet without DF, to a sender whose MAC or IP address is not unicast (a counted
///    drop); otherwise XDP_TX of an ICMP from the VIP to the sender (MACs swapped): IPv4
///    type 3 code 4 quoting 28 bytes, ICMPv6 type 2 quoting 1232 bytes (1280 bytes of
///    IPv6), with the MTU that fits and right checksums.
/// 8. Exactly one of the expected verdict reasons is counted, once (checked per frame here;
///    that the verdict counters sum to the frames sent is checked per family).
fn oracle(fz: &Fuzzer, input: &[u8], out: &Outcome) -> Result<(), String> {
    // Rule 1.
    if out.verdict == XDP_ABORTED {
        return Err("XDP_ABORTED".into());
    }
    if ![XDP_PASS, XDP_DROP, XDP_TX, XDP_REDIRECT].contains(&out.verdict) {
        return Err(format!("unknown verdict {}", out.verdict));
    }
    let alts = classify(&fz.env, &fz.port, input);
    let mut complaints = Vec::new();
    let mut matched = None;
    for e in &alts {
        match check_outcome(fz, e, input, out) {
            Ok(()) => {
                matched = Some(e);
                break;
            }
            Err(c) => complaints.push(format!("expected {} ({:?}): {c}", e.why, e.reasons)),
        }
    }
    let Some(e) = matched else {
        return Err(complaints.join("\n  or "));
    };
    // Rule 8.
    fz.check_reasons(&e.reasons)
        .map_err(|c| format!("{} ({}): {c}", e.why, e.class_name()))?;
    // Rule 4: the same flow, the same real.
    if let Class::Forward { flow, index, .. } = &e.class {
        let mut flows = fz.flows.borrow_mut();
        let first = *flows.entry(*flow).or_insert(*index);
        if first != *index {
            return Err(format!(
                "flow {flow:?} went to real #{index}, earlier to #{first}"
            ));
        }
    }
    let mut t = fz.tally.borrow_mut();
    *t.classes.entry(e.why).or_default() += 1;
    if e.icmp_real {
        t.icmp_real += 1;
    }
    if let Class::Forward { real, .. } = &e.class {
        if real.method != METHOD_DR {
            t.encapsulated += 1;
        }
        if e.icmp_real {
            t.icmp_forwarded += 1;
        }
    }
    Ok(())
}

impl Expect {
    fn class_name(&self) -> &'static str {
        match self.class {
            Class::Pass => "pass",
            Class::Drop => "drop",
            Class::Forward { .. } => "forward",
            Class::TooBig { .. } => "too-big reply",
        }
    }
}

/// Rules 2-7 for one expectation: verdict and output frame.
fn check_outcome(fz: &Fuzzer, e: &Expect, input: &[u8], out: &Outcome) -> Result<(), String> {
    match &e.class {
        Class::Pass => {
            if out.verdict != XDP_PASS {
                return Err(format!("verdict {}, want XDP_PASS", out.verdict));
            }
            if out.frame != input {
                return Err(format!(
                    "passed frame changed: {}",
                    first_difference(input, &out.frame)
                ));
            }
            Ok(())
        }
        Class::Drop => match out.verdict {
            XDP_DROP => Ok(()),
            v => Err(format!("verdict {v}, want XDP_DROP")),
        },
        Class::Forward { flow, real, .. } => {
            let want = if real.ifindex == 0 || real.ifindex == fz.port.ingress {
                XDP_TX
            } else {
                XDP_REDIRECT
            };
            if out.verdict != want {
                return Err(format!(
                    "verdict {}, want {want} (to {} by method {})",
                    out.verdict, real.addr, real.method
                ));
            }
            check_forward(&fz.env, flow, real, input, &out.frame)
        }
        Class::TooBig { v6, mtu } => {
            if out.verdict != XDP_TX {
                return Err(format!("verdict {}, want XDP_TX of an ICMP", out.verdict));
            }
            check_too_big(input, &out.frame, *v6, *mtu)
        }
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    if a.len() != b.len() {
        return format!("length {} -> {}", a.len(), b.len());
    }
    let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
    format!("first difference at byte {i}: {:02x} -> {:02x}", a[i], b[i])
}

/// Rule 5.
fn check_forward(
    env: &Env,
    flow: &FlowKey,
    real: &RealSpec,
    input: &[u8],
    out: &[u8],
) -> Result<(), String> {
    let to = real.addr;
    if out.len() < 14 || out[0..6] != real.dst_mac || out[6..12] != real.src_mac {
        return Err(format!(
            "to {to}: MACs {} -> {}, want {} -> {}",
            mac_hex(out.get(6..12)),
            mac_hex(out.get(0..6)),
            mac_hex(Some(&real.src_mac)),
            mac_hex(Some(&real.dst_mac))
        ));
    }
    if real.method == METHOD_DR {
        if out.len() != input.len() || out[12..] != input[12..] {
            return Err(format!(
                "DR to {to} changed more than the MACs: {}",
                first_difference(&input[12..], &out[12..])
            ));
        }
        return Ok(());
    }
    let v6 = flow.family == FAMILY_V6;
    let gue = real.method == METHOD_GUE;
    let inner_len = if v6 {
        be16(input, 18) as usize + 40
    } else {
        be16(input, 16) as usize
    };
    let ip_len = if v6 { 40 } else { 20 };
    let outer = ip_len + if gue { 8 } else { 0 };
    if out.len() < 14 + outer + inner_len {
        return Err(format!(
            "tunnel to {to}: {} bytes out, want at least {}",
            out.len(),
            14 + outer + inner_len
        ));
    }
    let inner = &input[14..14 + inner_len];
    if out[14 + outer..14 + outer + inner_len] != *inner {
        return Err(format!(
            "tunnel to {to}: inner packet changed: {}",
            first_difference(inner, &out[14 + outer..14 + outer + inner_len])
        ));
    }
    let rest = &out[14 + outer + inner_len..];
    if !rest.is_empty() && rest != &input[14 + inner_len..] {
        return Err(format!(
            "tunnel to {to}: trailing bytes after the inner packet changed"
        ));
    }
    let hash = flow_hash(flow, false);
    let cfg = &env.tunnel;
    let want_proto = if gue {
        UDP
    } else if v6 {
        41
    } else {
        4
    };
    let mut bad = Vec::new();
    let (src_sum, dst_sum);
    if !v6 {
        if be16(out, 12) != 0x0800 {
            bad.push(format!("ethertype {:04x}", be16(out, 12)));
        }
        let h = match Ipv4Header::from_slice(&out[14..]) {
            Ok((h, _)) => h,
            Err(e) => return Err(format!("tunnel to {to}: outer IPv4 does not parse: {e}")),
        };
        if h.header_len() != 20 {
            bad.push(format!("outer IHL {}", h.header_len()));
        }
        // Over the raw bytes: etherparse's header leaves out the reserved flag bit.
        if !csum_ok(&out[14..34]) {
            bad.push("outer IPv4 checksum wrong".into());
        }
        if out[20] & 0x80 != 0 {
            bad.push("outer reserved flag set".into());
        }
        if h.total_len as usize != outer + inner_len {
            bad.push(format!(
                "outer total length {}, want {}",
                h.total_len,
                outer + inner_len
            ));
        }
        if !h.dont_fragment || h.more_fragments || h.fragment_offset.value() != 0 {
            bad.push("outer DF not set or a fragment".into());
        }
        if h.time_to_live != 64 {
            bad.push(format!("outer TTL {}", h.time_to_live));
        }
        if (h.dscp.value() << 2) | h.ecn.value() != input[15] {
            bad.push("inner TOS not copied".into());
        }
        if h.protocol.0 != want_proto {
            bad.push(format!("outer protocol {}", h.protocol.0));
        }
        if IpAddr::from(h.destination) != to {
            bad.push(format!("outer destination {:?}", h.destination));
        }
        let (s, base, vary) = (
            u32::from_be_bytes(h.source),
            u32::from_be_bytes(cfg.source4),
            u32::from_be_bytes(cfg.vary4),
        );
        if s != base | (hash & vary) {
            bad.push(format!("outer source {:?} not the tunnel's", h.source));
        }
        src_sum = csum::sum4(h.source);
        dst_sum = csum::sum4(h.destination);
    } else {
        if be16(out, 12) != 0x86dd {
            bad.push(format!("ethertype {:04x}", be16(out, 12)));
        }
        let h = match Ipv6Header::from_slice(&out[14..]) {
            Ok((h, _)) => h,
            Err(e) => return Err(format!("tunnel to {to}: outer IPv6 does not parse: {e}")),
        };
        if h.payload_length as usize != outer - 40 + inner_len {
            bad.push(format!(
                "outer payload length {}, want {}",
                h.payload_length,
                outer - 40 + inner_len
            ));
        }
        if h.next_header.0 != want_proto {
            bad.push(format!("outer next header {}", h.next_header.0));
        }
        if h.hop_limit != 64 {
            bad.push(format!("outer hop limit {}", h.hop_limit));
        }
        let tc = (input[14] << 4) | (input[15] >> 4);
        if h.traffic_class != tc {
            bad.push("inner traffic class not copied".into());
        }
        if h.flow_label.value() != hash & 0xf_ffff {
            bad.push("flow label not from the flow hash".into());
        }
        if IpAddr::from(h.destination) != to {
            bad.push(format!(
                "outer destination {}",
                Ipv6Addr::from(h.destination)
            ));
        }
        let mut want_src = cfg.source6;
        let last =
            u32::from_be_bytes(arr(&cfg.source6, 12)) | (hash & u32::from_be_bytes(cfg.vary6));
        want_src[12..].copy_from_slice(&last.to_be_bytes());
        if h.source != want_src {
            bad.push(format!(
                "outer source {} not the tunnel's",
                Ipv6Addr::from(h.source)
            ));
        }
        src_sum = csum::sum16(&h.source);
        dst_sum = csum::sum16(&h.destination);
    }
    if gue {
        let udp_off = 14 + ip_len;
        let (u, _) = UdpHeader::from_slice(&out[udp_off..]).map_err(|e| format!("{e}"))?;
        if u.source_port < 49152 || u.source_port != gue_source_port(hash) {
            bad.push(format!("GUE source port {}", u.source_port));
        }
        if u.destination_port != real.tunnel_port {
            bad.push(format!(
                "GUE port {}, want {}",
                u.destination_port, real.tunnel_port
            ));
        }
        if u.length as usize != 8 + inner_len {
            bad.push(format!("UDP length {}, want {}", u.length, 8 + inner_len));
        }
        let seg = &out[udp_off..udp_off + 8 + inner_len];
        let outer_residual = residual(src_sum + dst_sum + UDP as u32 + seg.len() as u32, seg);
        match inner_residual(inner) {
            None if u.checksum != 0 => bad.push(format!(
                "outer UDP checksum {:04x} for an inner UDP without one, want 0",
                u.checksum
            )),
            None => {}
            Some(_) if u.checksum == 0 => bad.push("outer UDP checksum missing".into()),
            Some(r) if r != outer_residual => bad.push(format!(
                "outer UDP checksum {:04x} sums to {outer_residual:04x}, the inner transport \
                 checksum to {r:04x} (ffff: verifies)",
                u.checksum
            )),
            Some(_) => {}
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tunnel (method {}) to {to}: {}",
            real.method,
            bad.join("; ")
        ))
    }
}

fn csum_ok_with(pseudo: u32, seg: &[u8]) -> bool {
    csum::fold(pseudo + sum(seg)) == 0xffff
}

/// What a checksummed segment sums to with its pseudo-header: 0xffff when the checksum
/// verifies (0 and 0xffff are the same number in one's complement: folded to 0xffff).
fn residual(pseudo: u32, seg: &[u8]) -> u16 {
    match csum::fold(pseudo + sum(seg)) {
        0 => 0xffff,
        r => r,
    }
}

/// The [`residual`] of the transport checksum of an IP packet (TCP, UDP, ICMP, ICMPv6; its
/// declared length); None for an IPv4 UDP datagram without checksum. A GUE checksum derived
/// from the inner one (local checksum offload) leaves the outer packet with the same residual:
/// it verifies exactly when the inner one does, and is wrong by as much otherwise.
fn inner_residual(ip: &[u8]) -> Option<u16> {
    if ip[0] >> 4 == 4 {
        let proto = ip[9];
        let seg = &ip[20..];
        if proto == ICMP {
            return Some(residual(0, seg));
        }
        if proto == UDP && seg.get(6..8) == Some(&[0, 0]) {
            return None;
        }
        let pseudo = csum::sum4(arr(ip, 12)) + csum::sum4(arr(ip, 16)) + proto as u32;
        Some(residual(pseudo + seg.len() as u32, seg))
    } else {
        let seg = &ip[40..];
        let pseudo = csum::sum16(&arr(ip, 8)) + csum::sum16(&arr(ip, 24)) + ip[6] as u32;
        Some(residual(pseudo + seg.len() as u32, seg))
    }
}

/// Rule 7: the ICMP reply to a packet too big for the tunnel.
fn check_too_big(input: &[u8], out: &[u8], v6: bool, mtu: u32) -> Result<(), String> {
    let mut bad = Vec::new();
    let want_len = if v6 { 14 + 1280 } else { 14 + 20 + 8 + 28 };
    if out.len() != want_len {
        return Err(format!(
            "ICMP reply of {} bytes, want {want_len}",
            out.len()
        ));
    }
    if out[0..6] != input[6..12] || out[6..12] != input[0..6] {
        bad.push("MACs not swapped".to_string());
    }
    if !v6 {
        if be16(out, 12) != 0x0800 {
            bad.push("ethertype".into());
        }
        match Ipv4Header::from_slice(&out[14..]) {
            Err(e) => bad.push(format!("IPv4 does not parse: {e}")),
            Ok((h, _)) => {
                if h.header_len() != 20 || h.total_len != 56 {
                    bad.push(format!("IPv4 lengths {} {}", h.header_len(), h.total_len));
                }
                if !csum_ok(&out[14..34]) || out[20] & 0x80 != 0 {
                    bad.push("IPv4 checksum or reserved flag".into());
                }
                if h.protocol.0 != ICMP || h.time_to_live == 0 || h.is_fragmenting_payload() {
                    bad.push("IPv4 protocol/TTL/fragment".into());
                }
                if h.source != input[30..34] || h.destination != input[26..30] {
                    bad.push("not from the VIP to the sender".into());
                }
            }
        }
        let icmp = &out[34..];
        if icmp[0..2] != [3, 4] || icmp[4..6] != [0, 0] {
            bad.push(format!("ICMP type/code {}/{}", icmp[0], icmp[1]));
        }
        if be16(icmp, 6) as u32 != mtu {
            bad.push(format!("next-hop MTU {}, want {mtu}", be16(icmp, 6)));
        }
        if !csum_ok(icmp) {
            bad.push("ICMP checksum".into());
        }
        if icmp[8..] != input[14..42] {
            bad.push("quote is not the first 28 bytes of the packet".into());
        }
    } else {
        if be16(out, 12) != 0x86dd {
            bad.push("ethertype".into());
        }
        match Ipv6Header::from_slice(&out[14..]) {
            Err(e) => bad.push(format!("IPv6 does not parse: {e}")),
            Ok((h, _)) => {
                if h.payload_length != 1240 || h.next_header.0 != ICMPV6 || h.hop_limit == 0 {
                    bad.push("IPv6 payload length/next header/hop limit".into());
                }
                if h.source != input[38..54] || h.destination != input[22..38] {
                    bad.push("not from the VIP to the sender".into());
                }
            }
        }
        let icmp = &out[54..];
        if icmp[0..2] != [2, 0] {
            bad.push(format!("ICMPv6 type/code {}/{}", icmp[0], icmp[1]));
        }
        if u32::from_be_bytes(arr(icmp, 4)) != mtu {
            bad.push(format!(
                "MTU {}, want {mtu}",
                u32::from_be_bytes(arr(icmp, 4))
            ));
        }
        let pseudo = sum(&out[22..54]) + icmp.len() as u32 + ICMPV6 as u32;
        if !csum_ok_with(pseudo, icmp) {
            bad.push("ICMPv6 checksum".into());
        }
        if icmp[8..] != input[14..14 + 1232] {
            bad.push("quote is not the first 1232 bytes of the packet".into());
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!("ICMP too-big reply: {}", bad.join("; ")))
    }
}

fn mac_hex(m: Option<&[u8]>) -> String {
    match m {
        Some(m) => m
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        None => "(none)".into(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Running frames.
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    classes: BTreeMap<&'static str, u64>,
    encapsulated: u64,
    icmp_forwarded: u64,
    icmp_real: u64,
}

struct Fuzzer {
    h: Harness,
    env: Env,
    port: Port,
    sent: Cell<u64>,
    /// What each verdict counter should read (events are not modelled per frame).
    model: RefCell<Vec<u64>>,
    flows: RefCell<HashMap<FlowKey, u32>>,
    tally: RefCell<Tally>,
    /// Time in BPF_PROG_TEST_RUN, and in the oracle (counters read included).
    in_kernel: Cell<std::time::Duration>,
    in_oracle: Cell<std::time::Duration>,
}

fn counters(h: &Harness) -> Vec<u64> {
    h.maps()
        .counters()
        .expect("read counters")
        .into_iter()
        .map(|(_, n)| n)
        .collect()
}

impl Fuzzer {
    fn new() -> Fuzzer {
        let mut h = Harness::new("fzz");
        h.set_tunnel(&tunnel());
        let specs = fixture();
        h.apply(&specs);
        let env = Env::read(&h, &specs, tunnel());
        let model = RefCell::new(counters(&h));
        Fuzzer {
            h,
            env,
            port: Port::loopback(),
            sent: Cell::new(0),
            model,
            flows: RefCell::new(HashMap::new()),
            tally: RefCell::new(Tally::default()),
            in_kernel: Cell::new(Default::default()),
            in_oracle: Cell::new(Default::default()),
        }
    }

    /// Runs one frame and holds the oracle to it.
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        let t = Instant::now();
        let out = match self.port.ifindex {
            None => self.h.run(frame),
            Some(i) => self.h.run_on(frame, i),
        };
        let t2 = Instant::now();
        self.in_kernel.set(self.in_kernel.get() + (t2 - t));
        self.sent.set(self.sent.get() + 1);
        let verdict =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| oracle(self, frame, &out)))
                .unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
                    Err(format!("the oracle panicked: {}", msg.unwrap_or_default()))
                });
        if verdict.is_err() {
            // Whatever the program counted, the frames that follow are judged on their own.
            self.resync();
        }
        self.in_oracle.set(self.in_oracle.get() + t2.elapsed());
        verdict.map_err(|e| {
            format!(
                "{e}\n  program: verdict {}, output ({} bytes) {}",
                out.verdict,
                out.frame.len(),
                hex(&out.frame)
            )
        })
    }

    /// Exactly one of `accept` (verdict reasons) moved since the last frame, by one. On
    /// anything else, every counter is read to say what moved (the model then catches up).
    fn check_reasons(&self, accept: &[Reason]) -> Result<(), String> {
        let mut model = self.model.borrow_mut();
        let now: Vec<(Reason, u64)> = accept.iter().map(|&r| (r, self.h.counter(r))).collect();
        let moved: Vec<&(Reason, u64)> = now
            .iter()
            .filter(|(r, n)| *n != model[*r as usize])
            .collect();
        if let [(r, n)] = moved[..]
            && *n == model[*r as usize] + 1
        {
            model[*r as usize] = *n;
            return Ok(());
        }
        let all = counters(&self.h);
        let diff: Vec<String> = Reason::ALL
            .iter()
            .filter(|r| r.is_verdict() && all[**r as usize] != model[**r as usize])
            .map(|r| {
                format!(
                    "{} +{}",
                    r.as_str(),
                    all[*r as usize] as i64 - model[*r as usize] as i64
                )
            })
            .collect();
        drop(model);
        self.resync();
        Err(format!(
            "counted [{}], want one of [{}]",
            diff.join(", "),
            accept
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    /// The verdict counters of the model set to what the kernel holds.
    fn resync(&self) {
        let all = counters(&self.h);
        let mut model = self.model.borrow_mut();
        for r in Reason::ALL.iter().filter(|r| r.is_verdict()) {
            model[*r as usize] = all[*r as usize];
        }
    }

    /// Runs `cases` frames of one family; returns the failures (the shrunk frame and why).
    fn family(
        &self,
        name: &str,
        cases: u32,
        strategy: &impl Strategy<Value = Vec<u8>>,
        seed: u64,
    ) -> Vec<String> {
        let t = Instant::now();
        let (k0, o0) = (self.in_kernel.get(), self.in_oracle.get());
        let sent0 = self.sent.get();
        let start = counters(&self.h);
        *self.model.borrow_mut() = start.clone();
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(seed),
            rng_algorithm: RngAlgorithm::XorShift,
            max_shrink_iters: 20_000,
            ..Config::default()
        });
        let result = runner.run(strategy, |frame| {
            self.send(&frame).map_err(TestCaseError::fail)
        });
        let mut failures = Vec::new();
        match result {
            Ok(()) => {}
            Err(TestError::Fail(why, frame)) => failures.push(format!(
                "family {name}: shrunk failing frame ({} bytes):\n{}\n{why}",
                frame.len(),
                hex(&frame)
            )),
            Err(TestError::Abort(why)) => failures.push(format!("family {name}: aborted: {why}")),
        }
        // Rule 8 over the family: the verdict counters moved by the frames sent.
        let end = counters(&self.h);
        let sent = self.sent.get() - sent0;
        let verdicts: u64 = Reason::ALL
            .iter()
            .filter(|r| r.is_verdict())
            .map(|r| end[*r as usize] - start[*r as usize])
            .sum();
        if verdicts != sent {
            failures.push(format!(
                "family {name}: {sent} frames sent, the verdict counters moved by {verdicts}"
            ));
        }
        println!(
            "frame_fuzz: {name:<14} {cases:>6} cases, {sent:>6} frames, {:>6.2} s \
             (test runs {:.2} s, oracle {:.2} s){}",
            t.elapsed().as_secs_f64(),
            (self.in_kernel.get() - k0).as_secs_f64(),
            (self.in_oracle.get() - o0).as_secs_f64(),
            if failures.is_empty() { "" } else { "  FAILED" }
        );
        failures
    }
}

// ---------------------------------------------------------------------------------------------
// Frames.
// ---------------------------------------------------------------------------------------------

/// Destination MACs: ours (most frames), then broadcast, IPv4 and IPv6 multicast, another
/// host's, ours with one bit off, ours with the group bit.
const MACS: [[u8; 6]; 7] = [
    DIRECTOR_MAC,
    [0xff; 6],
    [0x01, 0x00, 0x5e, 0, 0, 1],
    [0x33, 0x33, 0, 0, 0, 1],
    [0x02, 0, 0, 0, 0, 0x99],
    [0x02, 0, 0, 0, 0, 0xd0],
    [0x03, 0, 0, 0, 0, 0xd1],
];

fn client_addr(v6: bool, c: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 1 + c as u16))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 200, 1 + c))
    }
}

/// Senders no ICMP error may go to (too-big family).
fn special_addr(v6: bool, c: u8) -> IpAddr {
    const V4: [[u8; 4]; 7] = [
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [127, 0, 0, 1],
        [224, 0, 0, 5],
        [239, 255, 0, 1],
        [240, 0, 0, 1],
        [255, 255, 255, 255],
    ];
    const V6: [&str; 4] = ["::", "::1", "ff02::1", "ff0e::5"];
    if v6 {
        ip(V6[c as usize % V6.len()])
    } else {
        IpAddr::from(V4[c as usize % V4.len()])
    }
}

/// A well-formed TCP or UDP packet.
#[derive(Clone, Debug)]
struct Plain {
    target: usize,
    client: u8,
    sport: u16,
    dport: u16,
    tcp: bool,
    payload: Vec<u8>,
    tos: u8,
    df: bool,
    mac: u8,
    pad: u8,
    no_udp_csum: bool,
    tcp_words: u8,
}

fn plain(targets: impl Strategy<Value = usize>) -> impl Strategy<Value = Plain> {
    (
        (
            targets,
            0u8..24,
            prop_oneof![3 => 40000u16..40008, 1 => any::<u16>()],
            prop_oneof![2 => any::<u16>(), 1 => Just(0u16), 1 => Just(DEFAULT_GUE_PORT)],
            any::<bool>(),
            vec(any::<u8>(), 0..48),
        ),
        (
            any::<u8>(),
            proptest::bool::weighted(0.8),
            prop_oneof![8 => Just(0u8), 1 => 1u8..MACS.len() as u8],
            prop_oneof![4 => Just(0u8), 1 => 1u8..=12],
            proptest::bool::weighted(0.1),
            prop_oneof![4 => Just(0u8), 1 => 1u8..=10],
        ),
    )
        .prop_map(
            |(
                (target, client, sport, dport, tcp, payload),
                (tos, df, mac, pad, no_udp_csum, tcp_words),
            )| Plain {
                target,
                client,
                sport,
                dport,
                tcp,
                payload,
                tos,
                df,
                mac,
                pad,
                no_udp_csum,
                tcp_words,
            },
        )
}

/// Mostly services, sometimes anything.
fn any_target() -> BoxedStrategy<usize> {
    prop_oneof![3 => 0..N_SERVED, 1 => 0..TARGETS.len()].boxed()
}

fn family_targets(v6: bool) -> BoxedStrategy<usize> {
    let all = target_indices(v6);
    let served: Vec<usize> = all.iter().copied().filter(|&i| i < N_SERVED).collect();
    prop_oneof![3 => select(served), 1 => select(all)].boxed()
}

struct L4<'a> {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    tos: u8,
    df: bool,
    payload: &'a [u8],
    tcp_words: u8,
}

/// An Ethernet frame of a TCP (ACK) or UDP packet, lengths and checksums right.
fn build_l4(src: SocketAddr, dst: SocketAddr, proto: u8, o: &L4) -> Vec<u8> {
    let ip = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut h = Ipv4Header::new(0, 64, IpNumber(proto), s.octets(), d.octets())
                .expect("ipv4 header");
            h.dscp = Ipv4Dscp::try_new(o.tos >> 2).expect("dscp");
            h.ecn = Ipv4Ecn::try_new(o.tos & 3).expect("ecn");
            h.dont_fragment = o.df;
            h.identification = 0x5a5a;
            IpHeaders::Ipv4(h, Default::default())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: o.tos,
                flow_label: Default::default(),
                payload_length: 0,
                next_header: IpNumber(proto),
                hop_limit: 64,
                source: s.octets(),
                destination: d.octets(),
            },
            Default::default(),
        ),
        _ => panic!("mixed families {src} -> {dst}"),
    };
    let b = PacketBuilder::ethernet2(o.src_mac, o.dst_mac).ip(ip);
    let mut out = Vec::with_capacity(64 + o.payload.len());
    if proto == TCP {
        let mut opts = vec![1u8; o.tcp_words as usize * 4];
        if opts.len() >= 4 {
            opts[..4].copy_from_slice(&[2, 4, 5, 0xb4]);
        }
        b.tcp(src.port(), dst.port(), 0x0102_0304, 65535)
            .ack(7)
            .options_raw(&opts)
            .expect("tcp options")
            .write(&mut out, o.payload)
    } else {
        b.udp(src.port(), dst.port()).write(&mut out, o.payload)
    }
    .expect("write frame");
    out
}

fn endpoints(p: &Plain) -> (SocketAddr, SocketAddr, u8) {
    let (dst, port, proto) = target(p.target);
    let src = SocketAddr::new(client_addr(dst.is_ipv6(), p.client), p.sport);
    let proto = proto.unwrap_or(if p.tcp { TCP } else { UDP });
    (src, SocketAddr::new(dst, port.unwrap_or(p.dport)), proto)
}

fn build_plain(p: &Plain) -> Vec<u8> {
    let (src, dst, proto) = endpoints(p);
    let mut f = build_l4(
        src,
        dst,
        proto,
        &L4 {
            src_mac: CLIENT_MAC,
            dst_mac: MACS[p.mac as usize],
            tos: p.tos,
            df: p.df,
            payload: &p.payload,
            tcp_words: p.tcp_words,
        },
    );
    if p.no_udp_csum && proto == UDP {
        let l4 = if src.is_ipv6() { 54 } else { 34 };
        f[l4 + 6] = 0;
        f[l4 + 7] = 0;
    }
    f.resize(f.len() + p.pad as usize, 0);
    f
}

/// An ICMP fragmentation-needed / ICMPv6 packet-too-big about the flow of `about` (client ->
/// VIP): it quotes the reply VIP -> client, and is sent by a router to the VIP.
#[derive(Clone, Debug)]
struct IcmpErr {
    about: Plain,
    router: u8,
    kind: Option<(u8, u8)>,
    mtu: u16,
    /// Quoted bytes beyond the minimum (28 / 48); negative: fewer.
    quote: i16,
    /// (mutation, value): see [`build_icmp`].
    muts: Vec<(u8, u16)>,
    icmp_csum_ok: bool,
}

fn icmp_err(good: bool, targets: BoxedStrategy<usize>) -> impl Strategy<Value = IcmpErr> {
    (
        plain(targets),
        any::<u8>(),
        prop_oneof![6 => Just(None), 1 => any::<(u8, u8)>().prop_map(Some)],
        prop_oneof![Just(1400u16), any::<u16>()],
        prop_oneof![3 => Just(0i16), 1 => -48i16..0, 2 => 1i16..64],
        prop_oneof![2 => Just(Vec::new()), 3 => vec((0u8..8, any::<u16>()), 1..=2)],
        proptest::bool::weighted(0.85),
    )
        .prop_map(
            move |(mut about, router, kind, mtu, quote, muts, icmp_csum_ok)| {
                if good {
                    about.mac = 0;
                    about.pad = 0;
                    IcmpErr {
                        about,
                        router,
                        kind: None,
                        mtu,
                        quote: quote.max(0),
                        muts: Vec::new(),
                        icmp_csum_ok: true,
                    }
                } else {
                    IcmpErr {
                        about,
                        router,
                        kind,
                        mtu,
                        quote,
                        muts,
                        icmp_csum_ok,
                    }
                }
            },
        )
}

fn set16(f: &mut [u8], off: usize, v: u16) {
    if off + 2 <= f.len() {
        f[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
}

fn fix_ipv4_checksum(f: &mut [u8]) {
    let hdr = (f[14] & 0x0f) as usize * 4;
    if be16(f, 12) != 0x0800 || hdr < 20 || f.len() < 14 + hdr {
        return;
    }
    f[24] = 0;
    f[25] = 0;
    let c = csum::finish(sum(&f[14..14 + hdr]));
    set16(f, 24, c);
}

/// The ICMP (v4) / ICMPv6 checksum over the message as the outer header declares it.
fn fix_icmp_checksum(f: &mut [u8], v6: bool) {
    if v6 {
        let end = (54 + be16(f, 18) as usize).min(f.len());
        f[56] = 0;
        f[57] = 0;
        let pseudo = sum(&f[22..54]) + (end - 54) as u32 + ICMPV6 as u32;
        let c = csum::finish(pseudo + sum(&f[54..end]));
        set16(f, 56, c);
    } else {
        let end = (14 + be16(f, 16) as usize).min(f.len());
        f[36] = 0;
        f[37] = 0;
        let c = csum::finish(sum(&f[34..end]));
        set16(f, 36, c);
    }
}

/// Mutations: of the quote (0 version/IHL byte, 1 protocol, 2 fragment field / flow label,
/// 3 a bit of its source), then of the outer header (4 length, 5 destination moved to
/// another address, 6 IPv4 checksum broken / hop limit, 7 fragment field / next header).
/// The ICMP checksum is made right after the quote's mutations (and broken if asked), the
/// IPv4 header checksum after the outer ones (unless 6 broke it).
fn build_icmp(e: &IcmpErr) -> Vec<u8> {
    let (client, vip, proto) = endpoints(&e.about);
    let v6 = vip.is_ipv6();
    let reply = build_l4(
        vip,
        client,
        proto,
        &L4 {
            src_mac: DIRECTOR_MAC,
            dst_mac: CLIENT_MAC,
            tos: e.about.tos,
            df: true,
            payload: &e.about.payload,
            tcp_words: e.about.tcp_words,
        },
    );
    let reply_ip = &reply[14..];
    let min: i32 = if v6 { 48 } else { 28 };
    let qlen = (min + e.quote as i32).clamp(0, reply_ip.len() as i32) as usize;
    icmp_frame(e, v6, vip.ip(), &reply_ip[..qlen])
}

fn icmp_frame(e: &IcmpErr, v6: bool, to: IpAddr, quote: &[u8]) -> Vec<u8> {
    let router = if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, e.router as u16))
    } else {
        IpAddr::V4(Ipv4Addr::new(198, 18, 9, e.router))
    };
    let (typ, code) = e.kind.unwrap_or(if v6 { (2, 0) } else { (3, 4) });
    let b = PacketBuilder::ethernet2(CLIENT_MAC, MACS[e.about.mac as usize]);
    let mut f = Vec::new();
    match (router, to) {
        (IpAddr::V4(r), IpAddr::V4(v)) => b
            .ipv4(r.octets(), v.octets(), 64)
            .icmpv4_raw(typ, code, [0, 0, (e.mtu >> 8) as u8, e.mtu as u8])
            .write(&mut f, quote),
        (IpAddr::V6(r), IpAddr::V6(v)) => b
            .ipv6(r.octets(), v.octets(), 64)
            .icmpv6_raw(typ, code, (e.mtu as u32).to_be_bytes())
            .write(&mut f, quote),
        _ => unreachable!("one family"),
    }
    .expect("write icmp");
    let q = if v6 { 62 } else { 42 };
    let mut muts = e.muts.clone();
    muts.sort_by_key(|m| m.0);
    let mut broke_header = false;
    let mut checksummed = false;
    for &(k, v) in &muts {
        if k >= 4 && !checksummed {
            fix_icmp_checksum(&mut f, v6);
            checksummed = true;
            if !e.icmp_csum_ok {
                f[if v6 { 56 } else { 36 }] ^= 0x5a;
            }
        }
        let b = v as u8;
        let n = f.len();
        match (k, v6) {
            (0, false) if q < n => f[q] = b,
            (0, true) if q < n => f[q] = (b & 0xf0) | (f[q] & 0x0f),
            (1, false) if q + 9 < n => f[q + 9] = b,
            (1, true) if q + 6 < n => f[q + 6] = b,
            (2, false) => set16(&mut f, q + 6, v),
            (2, true) => set16(&mut f, q + 2, v),
            (3, false) if q + 15 < n => f[q + 12 + (v % 4) as usize] ^= 1 << (b % 8),
            (3, true) if q + 23 < n => f[q + 8 + (v % 16) as usize] ^= 1 << (b % 8),
            (4, false) => set16(&mut f, 16, v),
            (4, true) => set16(&mut f, 18, v),
            (5, _) => {
                let others = target_indices(v6);
                let a = target(others[v as usize % others.len()]).0;
                match a {
                    IpAddr::V4(a) => f[30..34].copy_from_slice(&a.octets()),
                    IpAddr::V6(a) => f[38..54].copy_from_slice(&a.octets()),
                }
            }
            (6, false) => {
                fix_ipv4_checksum(&mut f);
                f[24] ^= b | 1;
                broke_header = true;
            }
            (6, true) => f[21] = b,
            (7, false) => set16(&mut f, 20, v),
            (7, true) => f[20] = b,
            _ => {}
        }
    }
    if !checksummed {
        fix_icmp_checksum(&mut f, v6);
        if !e.icmp_csum_ok {
            f[if v6 { 56 } else { 36 }] ^= 0x5a;
        }
    }
    if !v6 && !broke_header {
        fix_ipv4_checksum(&mut f);
    }
    f
}

/// IPIP / IPv6-in-IPv6 / GUE packets addressed to the director: to VIPs, to the tunnel
/// sources, to reals.
#[derive(Clone, Debug)]
struct TunnelIn {
    dst: usize,
    gue: bool,
    port: u16,
    inner: Plain,
}

const TUNNEL_DSTS: &[&str] = &[
    "198.18.0.10",
    "198.18.0.11",
    "198.18.0.12",
    "198.18.250.1",
    "198.18.5.1",
    "2001:db8::10",
    "2001:db8::11",
    "2001:db8::12",
    "2001:db8:250::1",
    "2001:db8:5::2",
];

fn tunnel_in() -> impl Strategy<Value = TunnelIn> {
    (
        0..TUNNEL_DSTS.len(),
        any::<bool>(),
        prop_oneof![Just(DEFAULT_GUE_PORT), Just(7000u16), any::<u16>()],
        plain(any_target()),
    )
        .prop_map(|(dst, gue, port, inner)| TunnelIn {
            dst,
            gue,
            port,
            inner,
        })
}

fn build_tunnel_in(t: &TunnelIn) -> Vec<u8> {
    let mut inner = t.inner.clone();
    inner.pad = 0;
    let inner = build_plain(&inner);
    let payload = &inner[14..];
    let proto = if payload[0] >> 4 == 4 { 4 } else { 41 };
    let b = PacketBuilder::ethernet2(CLIENT_MAC, DIRECTOR_MAC);
    let mut f = Vec::new();
    // From a real, as its replies would come if they were tunnelled back.
    let src4 = [198, 18, 5, 1];
    let src6 = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 1).octets();
    match ip(TUNNEL_DSTS[t.dst]) {
        IpAddr::V4(d) => {
            let b = b.ipv4(src4, d.octets(), 64);
            if t.gue {
                b.udp(50000, t.port).write(&mut f, payload)
            } else {
                b.write(&mut f, IpNumber(proto), payload)
            }
        }
        IpAddr::V6(d) => {
            let b = b.ipv6(src6, d.octets(), 64);
            if t.gue {
                b.udp(50000, t.port).write(&mut f, payload)
            } else {
                b.write(&mut f, IpNumber(proto), payload)
            }
        }
    }
    .expect("write tunnel packet");
    f
}

/// Valid frames of every kind: plain TCP/UDP, ICMP errors with good quotes, tunnel packets.
fn any_valid() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => plain(any_target()).prop_map(|p| build_plain(&p)),
        2 => icmp_err(true, any_target()).prop_map(|e| build_icmp(&e)),
        1 => tunnel_in().prop_map(|t| build_tunnel_in(&t)),
    ]
    .boxed()
}

fn valid_v4() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => plain(family_targets(false)).prop_map(|p| build_plain(&p)),
        1 => icmp_err(true, family_targets(false)).prop_map(|e| build_icmp(&e)),
    ]
    .boxed()
}

fn valid_v6() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => plain(family_targets(true)).prop_map(|p| build_plain(&p)),
        1 => icmp_err(true, family_targets(true)).prop_map(|e| build_icmp(&e)),
    ]
    .boxed()
}

/// A length field set to `abs` or moved by `delta`.
fn new_len(old: u16, use_abs: bool, abs: u16, delta: i16) -> u16 {
    if use_abs {
        abs
    } else {
        (old as i32 + delta as i32).clamp(0, 0xffff) as u16
    }
}

/// Length fields: 0 the IPv4 total / IPv6 payload length, 1 the TCP data offset / UDP
/// length, 2 both made consistently shorter than the packet (the rest as padding), 3 both
/// independently. The IPv4 header checksum is made right again when `fix`.
fn build_lengths(
    p: &Plain,
    field: u8,
    (use_abs, abs, delta): (bool, u16, i16),
    fix: bool,
) -> Vec<u8> {
    let mut f = build_plain(p);
    let v6 = be16(&f, 12) == 0x86dd;
    let (l4, len_off, hdr) = if v6 { (54, 18, 0) } else { (34, 16, 20) };
    let ip_len = be16(&f, len_off);
    let l4_len = ip_len as usize - hdr;
    let tcp = f[if v6 { 20 } else { 23 }] == TCP;
    match field {
        0 => set16(&mut f, len_off, new_len(ip_len, use_abs, abs, delta)),
        1 if tcp => f[l4 + 12] = ((abs as u8) << 4) | (f[l4 + 12] & 0x0f),
        1 => {
            let u = be16(&f, l4 + 4);
            set16(&mut f, l4 + 4, new_len(u, use_abs, abs, delta))
        }
        2 => {
            let k = abs as usize % (l4_len + 1);
            set16(&mut f, len_off, (hdr + k) as u16);
            if !tcp {
                set16(&mut f, l4 + 4, k as u16);
            }
        }
        _ => {
            set16(&mut f, len_off, new_len(ip_len, false, abs, delta));
            if tcp {
                f[l4 + 12] = ((abs as u8) & 0xf0) | (f[l4 + 12] & 0x0f);
            } else {
                let u = be16(&f, l4 + 4);
                set16(
                    &mut f,
                    l4 + 4,
                    new_len(u, true, abs.rotate_left(8) % 128, 0),
                );
            }
        }
    }
    if fix {
        fix_ipv4_checksum(&mut f);
    }
    f
}

/// IHL 0-15 and the version nibble: options inserted for IHL > 5 (NOPs or random bytes),
/// the total length and checksum made right again when asked.
fn build_ihl(
    mut f: Vec<u8>,
    ihl: u8,
    version: u8,
    opts: &[u8],
    nops: bool,
    fix_total: bool,
    fix_csum: bool,
) -> Vec<u8> {
    if ihl > 5 {
        let extra = (ihl as usize - 5) * 4;
        let bytes: Vec<u8> = if nops {
            vec![1; extra]
        } else {
            opts[..extra].to_vec()
        };
        f.splice(34..34, bytes);
        if fix_total {
            let t = be16(&f, 16).wrapping_add(extra as u16);
            set16(&mut f, 16, t);
        }
    }
    f[14] = (version << 4) | ihl;
    if fix_csum {
        fix_ipv4_checksum(&mut f);
    }
    f
}

/// IPv6 extension headers inserted before the transport header (8 bytes each), or the next
/// header replaced by another protocol.
fn build_ext(mut f: Vec<u8>, chain: &[u8], replace: Option<u8>, filler: u8) -> Vec<u8> {
    if let Some(next) = replace {
        f[20] = next;
        return f;
    }
    let last = f[20];
    let mut ext = Vec::new();
    for i in 0..chain.len() {
        let next = chain.get(i + 1).copied().unwrap_or(last);
        ext.extend_from_slice(&[next, 0, filler, 4, 0, 0, 0, filler]);
    }
    f[20] = chain[0];
    let payload = be16(&f, 18).wrapping_add(ext.len() as u16);
    set16(&mut f, 18, payload);
    f.splice(54..54, ext);
    f
}

/// VLAN / QinQ tags (TPID, TCI) after the MACs.
fn build_vlan(mut f: Vec<u8>, tags: &[(u16, u16)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (tpid, tci) in tags {
        t.extend_from_slice(&tpid.to_be_bytes());
        t.extend_from_slice(&tci.to_be_bytes());
    }
    f.splice(12..12, t);
    f
}

/// Random bytes, raw (mode 0) or shaped to get further: an IPv4 (1, 3) or IPv6 (2, 4)
/// header to our MAC and a VIP, lengths and checksum made right in modes 3 and 4.
fn build_random(mut f: Vec<u8>, mode: u8, target_i: usize, proto: u8) -> Vec<u8> {
    if mode == 0 {
        return f;
    }
    let v6 = mode.is_multiple_of(2);
    let addrs = target_indices(v6);
    let dst = target(addrs[target_i % addrs.len()]).0;
    f[0..6].copy_from_slice(&DIRECTOR_MAC);
    let n = f.len();
    if v6 {
        f[12..14].copy_from_slice(&[0x86, 0xdd]);
        if n > 14 {
            f[14] = 0x60 | (f[14] & 0x0f);
        }
        if n > 20 {
            f[20] = proto;
        }
        if let (IpAddr::V6(d), true) = (dst, n >= 54) {
            f[38..54].copy_from_slice(&d.octets());
            if mode == 4 {
                set16(&mut f, 18, (n - 54) as u16);
            }
        }
    } else {
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        if n > 14 {
            f[14] = 0x45;
        }
        if n > 23 {
            f[23] = proto;
            f[20] &= 0x40;
            f[21] = 0;
        }
        if let (IpAddr::V4(d), true) = (dst, n >= 34) {
            f[30..34].copy_from_slice(&d.octets());
            if mode == 3 {
                set16(&mut f, 16, (n - 14) as u16);
                fix_ipv4_checksum(&mut f);
            }
        }
    }
    f
}

/// A packet near the 1400-byte MTU of the too-big family's interface.
#[derive(Clone, Debug)]
struct Big {
    target: usize,
    client: u8,
    special: bool,
    sport: u16,
    dport: u16,
    ip_len: u16,
    df: bool,
    src_mac: u8,
    pad: u8,
    icmp: bool,
}

fn big() -> impl Strategy<Value = Big> {
    (
        (
            select(BIG_TARGETS),
            0u8..24,
            proptest::bool::weighted(0.2),
            40000u16..40016,
            any::<u16>(),
        ),
        (
            1200u16..=1500,
            proptest::bool::weighted(0.8),
            prop_oneof![6 => Just(0u8), 1 => 1u8..=2],
            prop_oneof![3 => Just(0u8), 1 => 1u8..=4],
            proptest::bool::weighted(0.15),
        ),
    )
        .prop_map(
            |((target, client, special, sport, dport), (ip_len, df, src_mac, pad, icmp))| Big {
                target,
                client,
                special,
                sport,
                dport,
                ip_len,
                df,
                src_mac,
                pad,
                icmp,
            },
        )
}

fn build_big(b: &Big) -> Vec<u8> {
    let (dst, port, proto) = target(b.target);
    let v6 = dst.is_ipv6();
    let proto = proto.unwrap_or(TCP);
    let src_ip = if b.special {
        special_addr(v6, b.client)
    } else {
        client_addr(v6, b.client)
    };
    let src = SocketAddr::new(src_ip, b.sport);
    let dst = SocketAddr::new(dst, port.unwrap_or(b.dport));
    let src_mac = [CLIENT_MAC, [0x01, 0, 0x5e, 0, 0, 9], [0xff; 6]][b.src_mac as usize];
    let hdr = if v6 { 40 } else { 20 } + if proto == TCP { 20 } else { 8 };
    let mut f = if b.icmp {
        // An ICMP error about the flow, quoting a big reply: never answered.
        let reply = build_l4(
            dst,
            src,
            proto,
            &L4 {
                src_mac: DIRECTOR_MAC,
                dst_mac: CLIENT_MAC,
                tos: 0,
                df: true,
                payload: &vec![0x5a; b.ip_len as usize - hdr],
                tcp_words: 0,
            },
        );
        let e = IcmpErr {
            about: Plain {
                target: b.target,
                client: b.client,
                sport: b.sport,
                dport: b.dport,
                tcp: true,
                payload: Vec::new(),
                tos: 0,
                df: true,
                mac: 0,
                pad: 0,
                no_udp_csum: false,
                tcp_words: 0,
            },
            router: 1,
            kind: None,
            mtu: 1300,
            quote: 0,
            muts: Vec::new(),
            icmp_csum_ok: true,
        };
        let qlen = b.ip_len as usize - if v6 { 48 } else { 28 };
        icmp_frame(&e, v6, dst.ip(), &reply[14..14 + qlen])
    } else {
        build_l4(
            src,
            dst,
            proto,
            &L4 {
                src_mac,
                dst_mac: DIRECTOR_MAC,
                tos: 0x28,
                df: b.df,
                payload: &vec![0xa5; b.ip_len as usize - hdr],
                tcp_words: 0,
            },
        )
    };
    f.resize(f.len() + b.pad as usize, 0);
    f
}

// ---------------------------------------------------------------------------------------------
// The test.
// ---------------------------------------------------------------------------------------------

fn seed() -> u64 {
    std::env::var("LVS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970");
            t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
        })
}

/// The families: name, frames, strategy.
fn families() -> Vec<(&'static str, u32, BoxedStrategy<Vec<u8>>)> {
    let flips = vec((any::<Index>(), 1u8..=255), 1..=4);
    vec![
        // Well-formed frames to every target: DR/IPIP/GUE, IPv4/IPv6, TCP/UDP, every-port
        // services, no neighbour, no real, unserved ports, other MACs, not VIPs.
        (
            "valid",
            30_000,
            plain(any_target()).prop_map(|p| build_plain(&p)).boxed(),
        ),
        // Every valid kind cut at every offset from 14 bytes to its length.
        (
            "truncation",
            20_000,
            (any_valid(), any::<Index>())
                .prop_map(|(f, i)| {
                    let cut = 14 + i.index(f.len() - 13);
                    f[..cut].to_vec()
                })
                .boxed(),
        ),
        (
            "length_fields",
            30_000,
            (
                plain(any_target()).prop_map(|mut p| {
                    p.mac = 0;
                    p
                }),
                0u8..4,
                (
                    any::<bool>(),
                    prop_oneof![any::<u16>(), 0u16..96],
                    -12i16..12,
                ),
                proptest::bool::weighted(0.9),
            )
                .prop_map(|(p, field, v, fix)| build_lengths(&p, field, v, fix))
                .boxed(),
        ),
        (
            "ihl_options",
            10_000,
            (
                valid_v4(),
                0u8..16,
                prop_oneof![9 => Just(4u8), 1 => 0u8..16],
                vec(any::<u8>(), 40),
                any::<bool>(),
                proptest::bool::weighted(0.85),
                proptest::bool::weighted(0.85),
            )
                .prop_map(|(f, ihl, version, opts, nops, total, csum)| {
                    build_ihl(f, ihl, version, &opts, nops, total, csum)
                })
                .boxed(),
        ),
        (
            "fragments",
            10_000,
            prop_oneof![
                (
                    valid_v4(),
                    prop_oneof![
                        Just(0x2000u16),
                        1u16..0x2000,
                        (1u16..0x2000).prop_map(|o| o | 0x2000),
                        Just(0x4000u16),
                        Just(0x8000u16),
                        Just(0x6000u16),
                        any::<u16>(),
                    ],
                    proptest::bool::weighted(0.9),
                )
                    .prop_map(|(mut f, frags, fix)| {
                        set16(&mut f, 20, frags);
                        if fix {
                            fix_ipv4_checksum(&mut f);
                        }
                        f
                    }),
                (valid_v6(), any::<u8>()).prop_map(|(f, b)| build_ext(f, &[44], None, b)),
            ]
            .boxed(),
        ),
        (
            "ipv6_ext",
            10_000,
            (
                valid_v6(),
                vec(select(IPV6_EXT.to_vec()), 1..=3),
                prop_oneof![
                    4 => Just(None),
                    1 => select(vec![59u8, 41, 4, 47, 132, 1, 2, 255]).prop_map(Some),
                    1 => any::<u8>().prop_map(Some),
                ],
                any::<u8>(),
            )
                .prop_map(|(f, chain, replace, filler)| build_ext(f, &chain, replace, filler))
                .boxed(),
        ),
        (
            "vlan_qinq",
            5_000,
            (
                any_valid(),
                vec(
                    (
                        prop_oneof![
                            Just(0x8100u16),
                            Just(0x88a8u16),
                            Just(0x9100u16),
                            Just(0x9200u16)
                        ],
                        any::<u16>(),
                    ),
                    1..=2,
                ),
            )
                .prop_map(|(f, tags)| build_vlan(f, &tags))
                .boxed(),
        ),
        (
            "non_ip",
            5_000,
            prop_oneof![
                1 => Just(arp_request()),
                6 => (
                    prop_oneof![
                        select(vec![
                            0x0806u16, 0x88cc, 0x8847, 0x8848, 0x8863, 0x8864, 0x88e5, 0x8906,
                            0x0842, 0x22f0, 0x9000, 0x0801, 0x86dc, 0x0005,
                        ]),
                        any::<u16>(),
                    ],
                    vec(any::<u8>(), 0..100),
                    0..MACS.len(),
                )
                    .prop_map(|(et, payload, mac)| {
                        let mut f = MACS[mac].to_vec();
                        f.extend_from_slice(&CLIENT_MAC);
                        f.extend_from_slice(&et.to_be_bytes());
                        f.extend_from_slice(&payload);
                        f
                    }),
            ]
            .boxed(),
        ),
        (
            "icmp_errors",
            30_000,
            prop_oneof![
                1 => icmp_err(true, any_target()).prop_map(|e| build_icmp(&e)),
                3 => icmp_err(false, any_target()).prop_map(|e| build_icmp(&e)),
            ]
            .boxed(),
        ),
        (
            "tunnel_in",
            10_000,
            tunnel_in().prop_map(|t| build_tunnel_in(&t)).boxed(),
        ),
        (
            "random_bytes",
            20_000,
            (
                vec(any::<u8>(), 14..160),
                prop_oneof![1 => Just(0u8), 4 => 1u8..=4],
                any::<usize>(),
                select(vec![TCP, UDP, ICMP, ICMPV6, 0, 44, 4, 41]),
            )
                .prop_map(|(f, mode, t, proto)| build_random(f, mode, t, proto))
                .boxed(),
        ),
        (
            "byte_flips",
            40_000,
            (any_valid(), flips, proptest::bool::weighted(0.4))
                .prop_map(|(mut f, flips, fix)| {
                    for (i, x) in flips {
                        let i = i.index(f.len());
                        f[i] ^= x;
                    }
                    if fix && f[14] & 0x0f == 5 {
                        fix_ipv4_checksum(&mut f);
                    }
                    f
                })
                .boxed(),
        ),
    ]
}

/// An interface with MTU 1400 in a namespace of its own (runs "arriving" on it check the
/// encapsulated size against it); the Fuzzer goes in and comes back.
fn too_big_family(mut fz: Fuzzer, seed: u64) -> (Fuzzer, Vec<String>) {
    let ns = Netns::new(&unique("fzm"));
    let mtu = SMALL_MTU.to_string();
    ns.ip(&[
        "link", "add", "m0", "mtu", &mtu, "type", "veth", "peer", "name", "m1", "mtu", &mtu,
    ]);
    ns.ip(&["link", "set", "m0", "up"]);
    ns.ip(&["link", "set", "m1", "up"]);
    let m0 = ns.ifindex("m0");
    ns.enter(move || {
        fz.h.register_iface(m0, DIRECTOR_MAC);
        fz.port = Port {
            ifindex: Some(m0),
            ingress: m0,
            mtu: SMALL_MTU,
            mac: DIRECTOR_MAC,
        };
        let failures = fz.family("too_big", 5_000, &big().prop_map(|b| build_big(&b)), seed);
        fz.port = Port::loopback();
        (fz, failures)
    })
}

#[test]
fn every_generated_frame_gets_what_the_data_plane_promises() {
    let seed = seed();
    println!("frame_fuzz: seed {seed} (LVS_FUZZ_SEED={seed} sends the same frames again)");
    let t = Instant::now();
    let fz = Fuzzer::new();
    let events0 = counters(&fz.h);
    let mut failures = Vec::new();
    let mut cases = 0u64;
    for (i, (name, n, strategy)) in families().into_iter().enumerate() {
        let s = seed.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        failures.extend(fz.family(name, n, &strategy, s));
        cases += n as u64;
    }
    let (fz, more) = too_big_family(fz, seed ^ 0x5eed);
    failures.extend(more);
    cases += 5_000;

    // Events over the whole run (only meaningful when every frame met its expectation).
    let end = counters(&fz.h);
    let delta = |r: Reason| end[r as usize] - events0[r as usize];
    let t_ = fz.tally.borrow();
    if failures.is_empty() {
        if delta(Reason::Encapsulated) != t_.encapsulated {
            failures.push(format!(
                "encapsulated counted {}, {} frames were tunnelled",
                delta(Reason::Encapsulated),
                t_.encapsulated
            ));
        }
        let icmp = delta(Reason::IcmpForwarded);
        if icmp < t_.icmp_forwarded || icmp > t_.icmp_real {
            failures.push(format!(
                "icmp_forwarded counted {icmp}: {} ICMP errors were forwarded, {} steered to a real",
                t_.icmp_forwarded, t_.icmp_real
            ));
        }
    }
    println!(
        "frame_fuzz: {cases} cases, {} frames in {:.1} s; {} flows forwarded",
        fz.sent.get(),
        t.elapsed().as_secs_f64(),
        fz.flows.borrow().len()
    );
    println!("frame_fuzz: expected outcomes met:");
    for (why, n) in &t_.classes {
        println!("  {n:>7}  {why}");
    }
    assert!(
        cases >= 200_000 && (fz.sent.get() >= 200_000 || !failures.is_empty()),
        "at least 200,000 frames per run ({cases} cases, {} frames)",
        fz.sent.get()
    );
    assert!(
        failures.is_empty(),
        "{} propert{} failed (seed {seed}):\n\n{}",
        failures.len(),
        if failures.len() == 1 { "y" } else { "ies" },
        failures.join("\n\n")
    );
}

/// The oracle has teeth: for forwarded frames of every method and family (plain and ICMP
/// errors), the program's output passes [`check_outcome`], and every one-byte change to that
/// output, a byte more or less, and every other verdict are refused.
#[test]
fn the_oracle_refuses_every_one_byte_change_of_a_forwarded_frame() {
    let fz = Fuzzer::new();
    let mut seen = BTreeMap::new();
    let mut checked = 0;
    for t in 0..N_SERVED {
        for c in 0..12u8 {
            let p = Plain {
                target: t,
                client: c,
                sport: 40000 + c as u16,
                dport: 1000 + c as u16,
                tcp: c % 2 == 0,
                payload: b"oracle self-test".to_vec(),
                tos: 0x2d,
                df: true,
                mac: 0,
                pad: if c % 3 == 0 { 4 } else { 0 },
                no_udp_csum: c % 5 == 4,
                tcp_words: c % 3,
            };
            let icmp = IcmpErr {
                about: p.clone(),
                router: 7,
                kind: None,
                mtu: 1400,
                quote: 8,
                muts: Vec::new(),
                icmp_csum_ok: true,
            };
            for f in [build_plain(&p), build_icmp(&icmp)] {
                let alts = classify(&fz.env, &fz.port, &f);
                let [e] = &alts[..] else { continue };
                if !matches!(e.class, Class::Forward { .. }) {
                    continue;
                }
                *seen.entry(e.why).or_insert(0) += 1;
                let out = fz.h.run(&f);
                check_outcome(&fz, e, &f, &out).unwrap_or_else(|c| {
                    panic!("{}: the program's output refused: {c}\n{}", e.why, hex(&f))
                });
                let refused = |o: &Outcome, what: &str| {
                    assert!(
                        check_outcome(&fz, e, &f, o).is_err(),
                        "{}: {what} accepted\ninput {}\noutput {}",
                        e.why,
                        hex(&f),
                        hex(&o.frame)
                    );
                };
                for i in 0..out.frame.len() {
                    for x in [0x01u8, 0x80] {
                        let mut o = out.clone();
                        o.frame[i] ^= x;
                        refused(&o, &format!("byte {i} ^ {x:#04x}"));
                    }
                }
                let mut o = out.clone();
                o.frame.pop();
                refused(&o, "one byte less");
                let mut o = out.clone();
                o.frame.push(0);
                refused(&o, "one byte more");
                for v in [XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT] {
                    if v != out.verdict {
                        refused(
                            &Outcome {
                                verdict: v,
                                frame: out.frame.clone(),
                            },
                            &format!("verdict {v}"),
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    println!("oracle self-test: {checked} forwarded frames, every one-byte change refused");
    for (why, n) in &seen {
        println!("  {n:>4}  {why}");
    }
    assert_eq!(
        seen.len(),
        26,
        "every forwarding path (method x family x protocol, plain and ICMP; redirects)"
    );
}
