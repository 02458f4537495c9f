//! Ethernet, IPv4, IPv6, TCP and UDP into a [`FlowKey`], at constant offsets; and the checks
//! a frame passes before the director forwards it ([`check`]).
//!
//! Defined verdicts for what the director does not forward (see `Reason` in lvs-common):
//! - not IPv4/IPv6 (ARP, VLAN-tagged, ...): pass;
//! - an IP header that is cut short or has a wrong version/IHL: pass (the kernel validates
//!   and drops it, and counts it in its own statistics);
//! - IP but neither TCP nor UDP: pass;
//! - fragments, IPv4 options, IPv6 extension headers, a TCP/UDP header cut short: dropped if
//!   the destination is a VIP (the director cannot forward them correctly, and forwarding
//!   them damaged is never an option), passed untouched otherwise;
//! - to a VIP, a length that disagrees with the frame or another length (IPv4 total length,
//!   IPv6 payload length, TCP data offset, UDP length), or a wrong IPv4 header checksum:
//!   dropped. The header is read as 16-bit words once: the flow key, the sum and the lengths
//!   come from the same loads;
//! - ICMP errors are the director's only when sent to the VIP that the quoted packet came
//!   from, with consistent outer lengths, a right IPv4 header checksum and a quoted header of
//!   the right version (IPv4 without options, not a later fragment; IPv6), quoting TCP or UDP.
//!   Any other ICMP passes to the kernel.

use crate::access::ptr_at;
use aya_ebpf::programs::XdpContext;
use lvs_common::{
    FAMILY_V4, FAMILY_V6, FlowKey, PROTO_TCP, PROTO_UDP, Reason, VipKey, csum, join16,
};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
};

pub const ETH_LEN: usize = core::mem::size_of::<EthHdr>();
const IPV4_LEN: usize = core::mem::size_of::<Ipv4Hdr>();
const IPV6_LEN: usize = core::mem::size_of::<Ipv6Hdr>();
const TCP_LEN: usize = core::mem::size_of::<TcpHdr>();
const UDP_LEN: usize = core::mem::size_of::<UdpHdr>();
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// IPv4 `frags` bits that mark a fragment: more-fragments and the offset.
const IPV4_FRAGMENT_MASK: u16 = 0x3fff;
/// IPv4 `frags` bits of the fragment offset.
const IPV4_OFFSET_MASK: u16 = 0x1fff;

/// The first bytes of both TCP and UDP headers.
#[repr(C)]
struct Ports {
    src: [u8; 2],
    dst: [u8; 2],
}

/// What [`parse`] made of a frame.
pub enum Parsed {
    /// A TCP or UDP packet with its whole L4 header present and every length and the IPv4
    /// header sum right.
    Flow(FlowKey),
    /// Cannot be forwarded as is: dropped for the reason if the frame's destination
    /// ([`destination`]) is a VIP, passed otherwise.
    Irregular(Reason),
    /// Not the director's business.
    Pass(Reason),
    /// An ICMP fragmentation-needed / packet-too-big quoting a TCP or UDP packet: the flow is
    /// the client's flow the quoted packet answered (addresses and ports turned around).
    IcmpError(FlowKey),
}

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;
const ICMP_LEN: usize = 8;

#[inline(always)]
pub fn parse(ctx: &XdpContext) -> Parsed {
    // SAFETY: EthHdr is a repr(C) byte header; ptr_at checked it lies inside the packet.
    let Ok(eth) = (unsafe { ptr_at::<EthHdr>(ctx, 0) }) else {
        return Parsed::Pass(Reason::PassNotIp);
    };
    // SAFETY: checked by ptr_at above; ether_type is read unaligned-safe as a u16 field of a
    // packed-by-layout header at an even offset.
    match u16::from_be(unsafe { (*eth).ether_type }) {
        ETH_P_IP => parse_v4(ctx),
        ETH_P_IPV6 => parse_v6(ctx),
        _ => Parsed::Pass(Reason::PassNotIp),
    }
}

/// IPv4, read as the ten 16-bit words of its header: the flow key, the header sum and the
/// lengths all come from the same loads.
#[inline(always)]
fn parse_v4(ctx: &XdpContext) -> Parsed {
    // SAFETY: bounds checked by ptr_at; an even offset of a 2-aligned frame (see `Words`).
    let Ok(h) = (unsafe { ptr_at::<Words<10>>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassBadL3);
    };
    // SAFETY: checked above.
    let h = unsafe { &*h };
    let [vihl, _] = h.0[0].to_ne_bytes();
    if vihl >> 4 != 4 || vihl & 0x0f < 5 {
        return Parsed::Pass(Reason::PassBadL3);
    }
    let [_, proto] = h.0[4].to_ne_bytes();
    let fragment = u16::from_be(h.0[3]) & IPV4_FRAGMENT_MASK != 0;
    if proto == IPPROTO_ICMP && vihl == 0x45 && !fragment {
        return icmp4(ctx);
    }
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let src = join16(h.0[6], h.0[7]);
    let dst = join16(h.0[8], h.0[9]);
    if vihl != 0x45 {
        return Parsed::Irregular(Reason::DropIpv4Options);
    }
    if fragment {
        return Parsed::Irregular(Reason::DropFragment);
    }
    let Some(ports) = l4::<{ ETH_LEN + IPV4_LEN }>(ctx, proto) else {
        return Parsed::Irregular(Reason::DropTruncated);
    };
    if !ipv4_sum_ok(h) {
        return Parsed::Irregular(Reason::DropBadChecksum);
    }
    let total = u16::from_be(h.0[1]) as usize;
    if ETH_LEN + total > frame_len(ctx) || total < IPV4_LEN || !ports.fits(total - IPV4_LEN) {
        return Parsed::Irregular(Reason::DropBadLength);
    }
    Parsed::Flow(FlowKey::from_words(
        [src, 0, 0, 0],
        [dst, 0, 0, 0],
        ports.ports,
        proto,
        FAMILY_V4,
    ))
}

/// IPv6, read as the twenty 16-bit words of its header.
#[inline(always)]
fn parse_v6(ctx: &XdpContext) -> Parsed {
    // SAFETY: bounds checked by ptr_at; an even offset of a 2-aligned frame (see `Words`).
    let Ok(h) = (unsafe { ptr_at::<Words<20>>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassBadL3);
    };
    // SAFETY: checked above.
    let h = unsafe { &*h };
    if h.0[0].to_ne_bytes()[0] >> 4 != 6 {
        return Parsed::Pass(Reason::PassBadL3);
    }
    let addr = |i: usize| {
        [
            join16(h.0[i], h.0[i + 1]),
            join16(h.0[i + 2], h.0[i + 3]),
            join16(h.0[i + 4], h.0[i + 5]),
            join16(h.0[i + 6], h.0[i + 7]),
        ]
    };
    let (src, dst) = (addr(4), addr(12));
    let [next, _] = h.0[3].to_ne_bytes();
    match next {
        PROTO_TCP | PROTO_UDP => {
            let Some(ports) = l4::<{ ETH_LEN + IPV6_LEN }>(ctx, next) else {
                return Parsed::Irregular(Reason::DropTruncated);
            };
            let payload = u16::from_be(h.0[2]) as usize;
            if ETH_LEN + IPV6_LEN + payload > frame_len(ctx) || !ports.fits(payload) {
                return Parsed::Irregular(Reason::DropBadLength);
            }
            Parsed::Flow(FlowKey::from_words(src, dst, ports.ports, next, FAMILY_V6))
        }
        IPPROTO_ICMPV6 => icmp6(ctx),
        // Fragment header.
        44 => Parsed::Irregular(Reason::DropFragment),
        // Hop-by-hop, routing, destination options, AH, ESP, mobility, HIP, shim6, experimental.
        0 | 43 | 60 | 51 | 50 | 135 | 139 | 140 | 253 | 254 => {
            Parsed::Irregular(Reason::DropIpv6Ext)
        }
        _ => Parsed::Pass(Reason::PassOtherProto),
    }
}

/// A whole TCP or UDP header's ports, with what its lengths say.
struct L4 {
    /// Source and destination port bytes, loaded as one native word.
    ports: u32,
    /// TCP: the data offset in bytes; UDP: the UDP length.
    len: usize,
    tcp: bool,
}

impl L4 {
    /// Whether the header agrees with the `payload` bytes the IP layer says it carries: TCP's
    /// data offset is at least the fixed header and lies inside the segment; UDP's length is
    /// exactly the payload and at least its own header (the outer checksum of a GUE tunnel
    /// is derived from the inner one, which covers the UDP length's bytes).
    #[inline(always)]
    fn fits(&self, payload: usize) -> bool {
        if self.tcp {
            self.len >= TCP_LEN && self.len <= payload
        } else {
            self.len >= UDP_LEN && self.len == payload
        }
    }
}

/// The TCP or UDP header at `OFF` (even), if the whole fixed header is in the frame.
#[inline(always)]
fn l4<const OFF: usize>(ctx: &XdpContext, proto: u8) -> Option<L4> {
    if proto == PROTO_TCP {
        // SAFETY: bounds checked by ptr_at; an even offset (see `Words`).
        let t = unsafe { &*ptr_at::<Words<10>>(ctx, OFF).ok()? };
        // The data offset is the high nibble of byte 12.
        let [off, _] = t.0[6].to_ne_bytes();
        Some(L4 {
            ports: join16(t.0[0], t.0[1]),
            len: (off >> 4) as usize * 4,
            tcp: true,
        })
    } else {
        // SAFETY: as above.
        let u = unsafe { &*ptr_at::<Words<4>>(ctx, OFF).ok()? };
        Some(L4 {
            ports: join16(u.0[0], u.0[1]),
            len: u16::from_be(u.0[2]) as usize,
            tcp: false,
        })
    }
}

/// `N` 16-bit words of the frame in network order, for sums and length fields read whole.
///
/// Every driver (and BPF_PROG_TEST_RUN) starts the frame at an even address (its headroom
/// is even), so a word at an even offset is aligned; the BPF target cannot load a word from
/// a place it cannot prove aligned, and would read such a field byte by byte.
#[repr(C, align(2))]
struct Words<const N: usize>([u16; N]);

/// Whether an IPv4 header without options sums to 0xffff (its checksum is right). The sum
/// is taken over the words as loaded: a ones' complement sum is the same in either byte order
/// (RFC 1071), and 0xffff reads the same both ways.
#[inline(always)]
fn ipv4_sum_ok(h: &Words<10>) -> bool {
    let mut sum = 0u32;
    let mut i = 0;
    while i < 10 {
        sum += h.0[i] as u32;
        i += 1;
    }
    csum::fold(sum) == 0xffff
}

#[inline(always)]
fn frame_len(ctx: &XdpContext) -> usize {
    ctx.data_end() - ctx.data()
}

/// ICMP destination unreachable / fragmentation needed (type 3, code 4) quoting an IPv4 TCP
/// or UDP packet, sent to the address the quoted packet came from, in a consistent IPv4
/// header; anything else ICMP passes.
#[inline(always)]
fn icmp4(ctx: &XdpContext) -> Parsed {
    const ICMP: usize = ETH_LEN + IPV4_LEN;
    const QUOTE: usize = ICMP + ICMP_LEN;
    const SHORTEST: usize = IPV4_LEN + ICMP_LEN + IPV4_LEN + 8;
    // SAFETY (all): bounds checked by ptr_at; byte headers, copied out at once.
    let Ok(words) = (unsafe { ptr_at::<Words<10>>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let words = unsafe { &*words };
    let total = u16::from_be(words.0[1]) as usize;
    if total < SHORTEST || ETH_LEN + total > frame_len(ctx) || !ipv4_sum_ok(words) {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let Ok(outer) = (unsafe { ptr_at::<[u8; IPV4_LEN]>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let outer = unsafe { &*outer };
    let Ok(icmp) = (unsafe { ptr_at::<[u8; 2]>(ctx, ICMP) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    if unsafe { *icmp } != [3, 4] {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let Ok(quoted) = (unsafe { ptr_at::<Ipv4Hdr>(ctx, QUOTE) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let quoted = unsafe { &*quoted };
    let proto = quoted.proto;
    // The ports are in the quote only of a whole packet or a first fragment.
    if quoted.vihl != 0x45
        || (proto != PROTO_TCP && proto != PROTO_UDP)
        || u16::from_be_bytes(quoted.frags) & IPV4_OFFSET_MASK != 0
        || quoted.src_addr != [outer[16], outer[17], outer[18], outer[19]]
    {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let Ok(p) = (unsafe { ptr_at::<Ports>(ctx, QUOTE + IPV4_LEN) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let p = unsafe { &*p };
    Parsed::IcmpError(FlowKey::v4(
        quoted.dst_addr,
        quoted.src_addr,
        p.dst,
        p.src,
        proto,
    ))
}

/// ICMPv6 packet too big (type 2) quoting an IPv6 TCP or UDP packet, sent to the address the
/// quoted packet came from, with a payload length the frame holds; anything else passes.
#[inline(always)]
fn icmp6(ctx: &XdpContext) -> Parsed {
    const ICMP: usize = ETH_LEN + IPV6_LEN;
    const QUOTE: usize = ICMP + ICMP_LEN;
    const SHORTEST: usize = ICMP_LEN + IPV6_LEN + 8;
    // SAFETY (all): bounds checked by ptr_at; byte headers, copied out at once.
    let Ok(outer) = (unsafe { ptr_at::<Ipv6Hdr>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let outer = unsafe { &*outer };
    let payload = u16::from_be_bytes(outer.payload_len) as usize;
    if payload < SHORTEST || ETH_LEN + IPV6_LEN + payload > frame_len(ctx) {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let Ok(icmp) = (unsafe { ptr_at::<[u8; 1]>(ctx, ICMP) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    if unsafe { *icmp } != [2] {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let Ok(quoted) = (unsafe { ptr_at::<Ipv6Hdr>(ctx, QUOTE) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let quoted = unsafe { &*quoted };
    let next = quoted.next_hdr;
    if quoted.vcf[0] >> 4 != 6
        || (next != PROTO_TCP && next != PROTO_UDP)
        || quoted.src_addr != outer.dst_addr
    {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let Ok(p) = (unsafe { ptr_at::<Ports>(ctx, QUOTE + IPV6_LEN) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let p = unsafe { &*p };
    Parsed::IcmpError(FlowKey::v6(
        &quoted.dst_addr,
        &quoted.src_addr,
        p.dst,
        p.src,
        next,
    ))
}

/// The destination address of an IPv4 or IPv6 frame whose IP header is whole, as a VIP key:
/// for the look-up that decides whether an irregular frame is a VIP's (dropped) or not
/// (passed). Off the fast path: read again from the frame.
#[inline(always)]
pub fn destination(ctx: &XdpContext) -> Option<VipKey> {
    // SAFETY (all): bounds checked by ptr_at; byte headers, copied out at once. parse()
    // returned Irregular only after it saw the whole IP header of this ethertype.
    let eth = unsafe { &*ptr_at::<EthHdr>(ctx, 0).ok()? };
    let (addr, family) = if u16::from_be(eth.ether_type) == ETH_P_IP {
        let ip = unsafe { &*ptr_at::<Ipv4Hdr>(ctx, ETH_LEN).ok()? };
        let d = ip.dst_addr;
        (
            [d[0], d[1], d[2], d[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            FAMILY_V4,
        )
    } else {
        let ip = unsafe { &*ptr_at::<Ipv6Hdr>(ctx, ETH_LEN).ok()? };
        (ip.dst_addr, FAMILY_V6)
    };
    Some(VipKey {
        addr,
        family,
        _pad: [0; 3],
    })
}
