//! Ethernet, IPv4, IPv6, TCP and UDP into a [`FlowKey`], at constant offsets.
//!
//! Defined verdicts for what the director does not forward (see `Reason` in lvs-common):
//! - not IPv4/IPv6 (ARP, VLAN-tagged, ...): pass;
//! - an IP header that is cut short or has a wrong version/IHL: pass (the kernel validates
//!   and drops it, and counts it in its own statistics);
//! - IP but neither TCP nor UDP: pass;
//! - fragments, IPv4 options, IPv6 extension headers, a TCP/UDP header cut short: dropped if
//!   the destination is a VIP (the director cannot forward them correctly, and forwarding
//!   them damaged is never an option), passed untouched otherwise.

use crate::access::ptr_at;
use aya_ebpf::programs::XdpContext;
use lvs_common::{FAMILY_V4, FAMILY_V6, FlowKey, PROTO_TCP, PROTO_UDP, Reason, VipKey};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    tcp::TcpHdr,
    udp::UdpHdr,
};

pub const ETH_LEN: usize = core::mem::size_of::<EthHdr>();
const IPV4_LEN: usize = core::mem::size_of::<Ipv4Hdr>();
const IPV6_LEN: usize = core::mem::size_of::<Ipv6Hdr>();
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// IPv4 `frags` bits that mark a fragment: more-fragments and the offset.
const IPV4_FRAGMENT_MASK: u16 = 0x3fff;

/// The first bytes of both TCP and UDP headers.
#[repr(C)]
struct Ports {
    src: [u8; 2],
    dst: [u8; 2],
}

pub enum Parsed {
    /// A TCP or UDP packet with its whole L4 header present.
    Flow(FlowKey),
    /// Cannot be forwarded as is: dropped for `reason` if `dst` is a VIP, passed otherwise.
    Irregular { dst: VipKey, reason: Reason },
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

#[inline(always)]
fn parse_v4(ctx: &XdpContext) -> Parsed {
    // SAFETY: bounds checked by ptr_at; Ipv4Hdr is made of bytes.
    let Ok(ip) = (unsafe { ptr_at::<Ipv4Hdr>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassBadL3);
    };
    // SAFETY: checked above.
    let ip = unsafe { &*ip };
    if ip.vihl >> 4 != 4 || ip.vihl & 0x0f < 5 {
        return Parsed::Pass(Reason::PassBadL3);
    }
    let proto = ip.proto;
    if proto == IPPROTO_ICMP
        && ip.vihl == 0x45
        && u16::from_be_bytes(ip.frags) & IPV4_FRAGMENT_MASK == 0
    {
        return icmp4(ctx);
    }
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return Parsed::Pass(Reason::PassOtherProto);
    }
    let (src, dst) = (ip.src_addr, ip.dst_addr);
    if u16::from_be_bytes(ip.frags) & IPV4_FRAGMENT_MASK != 0 || ip.vihl & 0x0f != 5 {
        let d = [
            dst[0], dst[1], dst[2], dst[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let reason = if ip.vihl & 0x0f != 5 {
            Reason::DropIpv4Options
        } else {
            Reason::DropFragment
        };
        return irregular(d, FAMILY_V4, reason);
    }
    match ports(ctx, ETH_LEN + IPV4_LEN, proto) {
        Some(p) => Parsed::Flow(FlowKey::v4(src, dst, p.src, p.dst, proto)),
        None => irregular(
            [
                dst[0], dst[1], dst[2], dst[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            FAMILY_V4,
            Reason::DropTruncated,
        ),
    }
}

#[inline(always)]
fn parse_v6(ctx: &XdpContext) -> Parsed {
    // SAFETY: bounds checked by ptr_at; Ipv6Hdr is made of bytes.
    let Ok(ip) = (unsafe { ptr_at::<Ipv6Hdr>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassBadL3);
    };
    // SAFETY: checked above.
    let ip = unsafe { &*ip };
    if ip.vcf[0] >> 4 != 6 {
        return Parsed::Pass(Reason::PassBadL3);
    }
    let next = ip.next_hdr;
    match next {
        PROTO_TCP | PROTO_UDP => match ports(ctx, ETH_LEN + IPV6_LEN, next) {
            Some(p) => Parsed::Flow(FlowKey::v6(&ip.src_addr, &ip.dst_addr, p.src, p.dst, next)),
            None => irregular(ip.dst_addr, FAMILY_V6, Reason::DropTruncated),
        },
        IPPROTO_ICMPV6 => icmp6(ctx),
        // Fragment header.
        44 => irregular(ip.dst_addr, FAMILY_V6, Reason::DropFragment),
        // Hop-by-hop, routing, destination options, AH, ESP, mobility, HIP, shim6, experimental.
        0 | 43 | 60 | 51 | 50 | 135 | 139 | 140 | 253 | 254 => {
            irregular(ip.dst_addr, FAMILY_V6, Reason::DropIpv6Ext)
        }
        _ => Parsed::Pass(Reason::PassOtherProto),
    }
}

/// ICMP destination unreachable / fragmentation needed (type 3, code 4) quoting an IPv4 TCP
/// or UDP packet; anything else ICMP passes.
#[inline(always)]
fn icmp4(ctx: &XdpContext) -> Parsed {
    const ICMP: usize = ETH_LEN + IPV4_LEN;
    const QUOTE: usize = ICMP + ICMP_LEN;
    // SAFETY (all three): bounds checked by ptr_at; byte headers, copied out at once.
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
    if quoted.vihl != 0x45 || (proto != PROTO_TCP && proto != PROTO_UDP) {
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

/// ICMPv6 packet too big (type 2) quoting an IPv6 TCP or UDP packet; anything else passes.
#[inline(always)]
fn icmp6(ctx: &XdpContext) -> Parsed {
    const ICMP: usize = ETH_LEN + IPV6_LEN;
    const QUOTE: usize = ICMP + ICMP_LEN;
    // SAFETY (all three): bounds checked by ptr_at; byte headers, copied out at once.
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
    if next != PROTO_TCP && next != PROTO_UDP {
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

/// The ports of a TCP or UDP header at `off`, if the whole fixed header is there.
#[inline(always)]
fn ports(ctx: &XdpContext, off: usize, proto: u8) -> Option<Ports> {
    // SAFETY (both): bounds checked by ptr_at; the result is only tested for presence.
    let whole = if proto == PROTO_TCP {
        unsafe { ptr_at::<TcpHdr>(ctx, off) }.is_ok()
    } else {
        unsafe { ptr_at::<UdpHdr>(ctx, off) }.is_ok()
    };
    if !whole {
        return None;
    }
    // SAFETY: bounds checked by ptr_at; Ports is made of bytes; copied out at once.
    let p = unsafe { ptr_at::<Ports>(ctx, off) }.ok()?;
    Some(unsafe { core::ptr::read(p) })
}

#[inline(always)]
fn irregular(addr: [u8; 16], family: u8, reason: Reason) -> Parsed {
    Parsed::Irregular {
        dst: VipKey {
            addr,
            family,
            _pad: [0; 3],
        },
        reason,
    }
}
