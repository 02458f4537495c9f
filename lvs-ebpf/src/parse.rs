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
//! - to a VIP, a length that disagrees with the frame or another length, or a wrong IPv4
//!   header checksum: dropped (by [`check`], after the VIP filter, so that other traffic pays
//!   nothing for it);
//! - ICMP errors are the director's only when sent to the VIP that the quoted packet came
//!   from, with consistent outer lengths, a right IPv4 header checksum and a quoted header of
//!   the right version (IPv4 without options, not a later fragment; IPv6), quoting TCP or UDP.
//!   Any other ICMP passes to the kernel.

use crate::access::ptr_at;
use aya_ebpf::programs::XdpContext;
use lvs_common::{FAMILY_V4, FAMILY_V6, FlowKey, PROTO_TCP, PROTO_UDP, Reason, VipKey, csum};
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
/// or UDP packet, sent to the address the quoted packet came from, in a consistent IPv4
/// header; anything else ICMP passes.
#[inline(always)]
fn icmp4(ctx: &XdpContext) -> Parsed {
    const ICMP: usize = ETH_LEN + IPV4_LEN;
    const QUOTE: usize = ICMP + ICMP_LEN;
    const SHORTEST: usize = IPV4_LEN + ICMP_LEN + IPV4_LEN + 8;
    // SAFETY (all): bounds checked by ptr_at; byte headers, copied out at once.
    let Ok(outer) = (unsafe { ptr_at::<[u8; IPV4_LEN]>(ctx, ETH_LEN) }) else {
        return Parsed::Pass(Reason::PassOtherProto);
    };
    let outer = unsafe { &*outer };
    let total = u16::from_be_bytes([outer[2], outer[3]]) as usize;
    if total < SHORTEST || ETH_LEN + total > frame_len(ctx) || !ipv4_sum_ok(outer) {
        return Parsed::Pass(Reason::PassOtherProto);
    }
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

/// Every length of a TCP or UDP packet that [`parse`] turned into `flow` agrees with the frame
/// and with the others, and an IPv4 header's checksum is right:
/// - IPv4: total length covers the header and a whole TCP/UDP header and lies inside the
///   frame (Ethernet padding may follow it); IPv6: the payload length does the same;
/// - TCP: the data offset is at least 5 words and lies inside the segment;
/// - UDP: the length is the IP payload's exactly (the outer checksum of a GUE tunnel is
///   derived from the inner one, which covers the UDP length's bytes).
///
/// Only for packets to a VIP: the kernel checks everything else itself.
#[inline(always)]
pub fn check(ctx: &XdpContext, flow: &FlowKey) -> Result<(), Reason> {
    const L4_V4: usize = ETH_LEN + IPV4_LEN;
    const L4_V6: usize = ETH_LEN + IPV6_LEN;
    let frame = frame_len(ctx);
    if flow.family == FAMILY_V4 {
        // SAFETY: bounds checked by ptr_at; parse() read this header already.
        let h =
            unsafe { &*ptr_at::<[u8; IPV4_LEN]>(ctx, ETH_LEN).map_err(|_| Reason::DropInternal)? };
        if !ipv4_sum_ok(h) {
            return Err(Reason::DropBadChecksum);
        }
        let total = u16::from_be_bytes([h[2], h[3]]) as usize;
        if ETH_LEN + total > frame || total < IPV4_LEN {
            return Err(Reason::DropBadLength);
        }
        l4_ok::<L4_V4>(ctx, flow.proto, total - IPV4_LEN)
    } else {
        // SAFETY: as above; the payload length is bytes 4 and 5.
        let h = unsafe { &*ptr_at::<[u8; 8]>(ctx, ETH_LEN).map_err(|_| Reason::DropInternal)? };
        let payload = u16::from_be_bytes([h[4], h[5]]) as usize;
        if L4_V6 + payload > frame {
            return Err(Reason::DropBadLength);
        }
        l4_ok::<L4_V6>(ctx, flow.proto, payload)
    }
}

/// The TCP or UDP header at `OFF` agrees with the IP layer's `len` bytes of payload.
#[inline(always)]
fn l4_ok<const OFF: usize>(ctx: &XdpContext, proto: u8, len: usize) -> Result<(), Reason> {
    if proto == PROTO_TCP {
        // SAFETY: bounds checked by ptr_at; parse() saw the whole TCP header.
        let t = unsafe { &*ptr_at::<[u8; TCP_LEN]>(ctx, OFF).map_err(|_| Reason::DropInternal)? };
        let data_offset = (t[12] >> 4) as usize * 4;
        if data_offset < TCP_LEN || data_offset > len {
            return Err(Reason::DropBadLength);
        }
    } else {
        // SAFETY: as above, the whole UDP header.
        let u = unsafe { &*ptr_at::<[u8; UDP_LEN]>(ctx, OFF).map_err(|_| Reason::DropInternal)? };
        if u16::from_be_bytes([u[4], u[5]]) as usize != len {
            return Err(Reason::DropBadLength);
        }
    }
    Ok(())
}

/// Whether an IPv4 header without options sums to 0xffff (its checksum is right).
#[inline(always)]
fn ipv4_sum_ok(h: &[u8; IPV4_LEN]) -> bool {
    let mut sum = 0u32;
    let mut i = 0;
    while i < IPV4_LEN {
        sum += u16::from_be_bytes([h[i], h[i + 1]]) as u32;
        i += 2;
    }
    csum::fold(sum) == 0xffff
}

#[inline(always)]
fn frame_len(ctx: &XdpContext) -> usize {
    ctx.data_end() - ctx.data()
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
