//! GUE (Generic UDP Encapsulation), variant 1: the inner IP packet right after a UDP header
//! (no GUE header; its first nibble, 4 or 6, is the version that variant 1 reads). The UDP
//! source port comes from the flow hash, so the real server's NIC spreads tunnelled flows
//! over its queues; the destination port is the real's (6080 by default).
//!
//! The outer UDP checksum is complete and computed without reading the payload: the inner
//! TCP/UDP/ICMPv6 checksum makes its segment sum to the complement of its pseudo-header
//! (`csum::segment_sum_from_pseudo`), so the whole inner packet's sum is its IP header's
//! plus that. Only an inner IPv4 UDP datagram without a checksum has no such sum: its IPv4
//! GUE packet then carries checksum 0 ("none"), which RFC 768 allows for IPv4.

use super::encap::{self, ETH_LEN, ETH_P_IP, ETH_P_IPV6, IPV4_LEN, IPV6_LEN, UDP_LEN};
use crate::{access::ptr_at, action::Action, stats};
use aya_ebpf::programs::XdpContext;
use lvs_common::{FAMILY_V4, FlowKey, PROTO_UDP, Real, Reason, csum, flow_hash, gue_source_port};
use network_types::udp::UdpHdr;

const IPPROTO_ICMP: u8 = 1;

#[inline(always)]
pub fn forward(
    ctx: &XdpContext,
    flow: &FlowKey,
    real: &Real,
    answer: bool,
) -> Result<Action, Reason> {
    let cfg = encap::config()?;
    let hash = flow_hash(flow, false);
    let inner = encap::inner(ctx, flow.family)?;
    let sport = gue_source_port(hash);
    let udp_len = inner.len.wrapping_add(UDP_LEN as u16);
    let udp_off;
    let mut sum;
    if flow.family == FAMILY_V4 {
        const GROW: usize = IPV4_LEN + UDP_LEN;
        let src = encap::source4(cfg, hash)?;
        if let Some(mtu) = encap::too_big(ctx, real, GROW as u32) {
            return super::too_big::reply(ctx, flow.family, answer && inner.df, mtu - GROW as u32);
        }
        encap::push(ctx, GROW, real, ETH_P_IP)?;
        let total = inner.len.wrapping_add(GROW as u16);
        sum = encap::write_ipv4(
            ctx,
            src,
            encap::addr4(real),
            PROTO_UDP,
            inner.tos,
            total,
            encap::ttl(cfg),
        )?;
        udp_off = ETH_LEN + IPV4_LEN;
    } else {
        const GROW: usize = IPV6_LEN + UDP_LEN;
        let src = encap::source6(cfg, hash)?;
        if let Some(mtu) = encap::too_big(ctx, real, GROW as u32) {
            return super::too_big::reply(ctx, flow.family, answer, mtu - GROW as u32);
        }
        encap::push(ctx, GROW, real, ETH_P_IPV6)?;
        sum = encap::write_ipv6(
            ctx,
            &src,
            &real.addr,
            PROTO_UDP,
            inner.tos,
            hash & 0xf_ffff,
            udp_len,
            encap::ttl(cfg),
        )?;
        udp_off = ETH_LEN + IPV6_LEN;
    }
    let dport = real.tunnel_port;
    // Pseudo-header (addresses already in `sum`) and the UDP header with checksum 0.
    sum += PROTO_UDP as u32 + 2 * udp_len as u32 + sport as u32 + u16::from_be_bytes(dport) as u32;
    let check = match inner_sum(ctx, udp_off + UDP_LEN, flow.family) {
        Some(inner_sum) => match csum::finish(sum + inner_sum) {
            0 => 0xffff,
            c => c,
        },
        None => 0,
    };
    // SAFETY: bounds checked by ptr_at.
    let udp = unsafe { &mut *ptr_at::<UdpHdr>(ctx, udp_off).map_err(|_| Reason::DropEncapFailed)? };
    udp.src = sport.to_be_bytes();
    udp.dst = dport;
    udp.len = udp_len.to_be_bytes();
    udp.check = check.to_be_bytes();
    stats::count(Reason::Encapsulated);
    super::egress(ctx, real)
}

/// The one's-complement sum of the whole inner packet at `off`: its IP header, read, plus its
/// transport segment, derived from the pseudo-header. None for an IPv4 UDP datagram that
/// carries no checksum.
#[inline(always)]
fn inner_sum(ctx: &XdpContext, off: usize, family: u8) -> Option<u32> {
    if family == FAMILY_V4 {
        // SAFETY: bounds checked by ptr_at; plain bytes.
        let h = unsafe { &*ptr_at::<[u8; 20]>(ctx, off).ok()? };
        let proto = h[9];
        let total = u16::from_be_bytes([h[2], h[3]]) as u32;
        let mut header = 0u32;
        let mut i = 0;
        while i < 20 {
            header += u16::from_be_bytes([h[i], h[i + 1]]) as u32;
            i += 2;
        }
        let segment = if proto == IPPROTO_ICMP {
            // ICMP's checksum covers the message alone: a valid message sums to 0xffff.
            0xffff
        } else {
            if proto == PROTO_UDP {
                // SAFETY: bounds checked by ptr_at; parse() saw the whole UDP header.
                let udp = unsafe { &*ptr_at::<UdpHdr>(ctx, off + IPV4_LEN).ok()? };
                if udp.check == [0, 0] {
                    return None;
                }
            }
            let pseudo = csum::sum4([h[12], h[13], h[14], h[15]])
                + csum::sum4([h[16], h[17], h[18], h[19]])
                + proto as u32
                + total.wrapping_sub(IPV4_LEN as u32);
            csum::segment_sum_from_pseudo(pseudo)
        };
        Some(header + segment)
    } else {
        // SAFETY: bounds checked by ptr_at; plain bytes.
        let h = unsafe { &*ptr_at::<[u8; 40]>(ctx, off).ok()? };
        let mut header = 0u32;
        let mut i = 0;
        while i < 40 {
            header += u16::from_be_bytes([h[i], h[i + 1]]) as u32;
            i += 2;
        }
        // Addresses are words 4..20 of the header: their sum is header - the first 8 bytes.
        let first = u16::from_be_bytes([h[0], h[1]]) as u32
            + u16::from_be_bytes([h[2], h[3]]) as u32
            + u16::from_be_bytes([h[4], h[5]]) as u32
            + u16::from_be_bytes([h[6], h[7]]) as u32;
        let payload = u16::from_be_bytes([h[4], h[5]]) as u32;
        let pseudo = header - first + payload + h[6] as u32;
        Some(header + csum::segment_sum_from_pseudo(pseudo))
    }
}
