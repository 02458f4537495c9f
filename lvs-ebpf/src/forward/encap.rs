//! What IP-in-IP and GUE share: the tunnel source, the MTU check, growing the frame for the
//! outer headers, and writing them.
//!
//! Outer headers, as documented in the README: IPv4 with DF set, ID 0, TTL from the tunnel
//! config (64 by default) and the inner packet's TOS (DSCP and ECN) copied; IPv6 with the
//! inner traffic class copied, a flow label from the flow hash (so ECMP and RSS spread
//! tunnelled flows) and the same hop limit.

use crate::{access::ptr_at, maps::TUNNEL};
use aya_ebpf::{
    bindings::bpf_check_mtu_ret::BPF_MTU_CHK_RET_FRAG_NEEDED,
    helpers::{bpf_check_mtu, bpf_xdp_adjust_head},
    programs::XdpContext,
};
use core::ffi::c_void;
use lvs_common::{DEFAULT_TUNNEL_TTL, FAMILY_V4, Real, Reason, TunnelConfig, csum};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
};

pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
pub const UDP_LEN: usize = 8;
pub const ETH_P_IP: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;

/// What the outer header takes from the inner one (read before the frame grows).
#[derive(Clone, Copy)]
pub struct Inner {
    /// IPv4 TOS or IPv6 traffic class.
    pub tos: u8,
    /// The inner packet's whole length (IP header included).
    pub len: u16,
    /// IPv4 don't-fragment (always true for IPv6: routers never fragment it).
    pub df: bool,
}

#[inline(always)]
pub fn config() -> Result<&'static TunnelConfig, Reason> {
    TUNNEL.get(0).ok_or(Reason::DropInternal)
}

#[inline(always)]
pub fn inner(ctx: &XdpContext, family: u8) -> Result<Inner, Reason> {
    if family == FAMILY_V4 {
        // SAFETY: bounds checked by ptr_at; parse() saw this header already.
        let ip = unsafe { &*ptr_at::<Ipv4Hdr>(ctx, ETH_LEN).map_err(|_| Reason::DropInternal)? };
        Ok(Inner {
            tos: ip.tos,
            len: u16::from_be_bytes(ip.tot_len),
            df: ip.frags[0] & 0x40 != 0,
        })
    } else {
        // SAFETY: as above.
        let ip = unsafe { &*ptr_at::<Ipv6Hdr>(ctx, ETH_LEN).map_err(|_| Reason::DropInternal)? };
        let tc = (ip.vcf[0] << 4) | (ip.vcf[1] >> 4);
        Ok(Inner {
            tos: tc,
            len: u16::from_be_bytes(ip.payload_len).wrapping_add(IPV6_LEN as u16),
            df: true,
        })
    }
}

/// The outer IPv4 source: the configured one, varied within its mask by the flow hash.
#[inline(always)]
pub fn source4(cfg: &TunnelConfig, hash: u32) -> Result<[u8; 4], Reason> {
    let base = u32::from_be_bytes(cfg.source4);
    if base == 0 {
        return Err(Reason::DropNoTunnelSource);
    }
    Ok((base | (hash & u32::from_be_bytes(cfg.vary4))).to_be_bytes())
}

/// The outer IPv6 source: the configured one, its last 32 bits varied within the mask.
#[inline(always)]
pub fn source6(cfg: &TunnelConfig, hash: u32) -> Result<[u8; 16], Reason> {
    let s = cfg.source6;
    if s.iter().fold(0u8, |a, b| a | b) == 0 {
        return Err(Reason::DropNoTunnelSource);
    }
    let last = (u32::from_be_bytes([s[12], s[13], s[14], s[15]])
        | (hash & u32::from_be_bytes(cfg.vary6)))
    .to_be_bytes();
    Ok([
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11], last[0], last[1],
        last[2], last[3],
    ])
}

#[inline(always)]
pub fn ttl(cfg: &TunnelConfig) -> u8 {
    if cfg.ttl == 0 {
        DEFAULT_TUNNEL_TTL
    } else {
        cfg.ttl
    }
}

/// `Some(mtu)` when the frame, grown by `grow` bytes, would not fit the real's egress
/// interface (`mtu` is that interface's MTU).
#[inline(always)]
pub fn too_big(ctx: &XdpContext, real: &Real, grow: u32) -> Option<u32> {
    let mut mtu = 0u32;
    // SAFETY: helper call with a valid context and out pointer; ifindex 0 means the
    // interface the packet came in on, as for `egress`.
    let rc = unsafe {
        bpf_check_mtu(
            ctx.ctx as *mut c_void,
            real.ifindex,
            &mut mtu,
            grow as i32,
            0,
        )
    };
    (rc == BPF_MTU_CHK_RET_FRAG_NEEDED as i64).then_some(mtu)
}

/// Grows the frame at the front by `grow` bytes and writes its new Ethernet header, to the
/// real's next hop from the egress interface. Every packet pointer taken before is invalid.
#[inline(always)]
pub fn push(ctx: &XdpContext, grow: usize, real: &Real, ethertype: u16) -> Result<(), Reason> {
    let (dst, src) = (real.dst_mac, real.src_mac);
    if dst[0] | dst[1] | dst[2] | dst[3] | dst[4] | dst[5] == 0 {
        return Err(Reason::DropNoNeighbour);
    }
    // SAFETY: helper call; the verifier re-checks every access after it.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(grow as i32)) } != 0 {
        return Err(Reason::DropEncapFailed);
    }
    // SAFETY: bounds checked by ptr_at after the adjustment.
    let eth = unsafe { &mut *ptr_at::<EthHdr>(ctx, 0).map_err(|_| Reason::DropEncapFailed)? };
    eth.dst_addr = dst;
    eth.src_addr = src;
    eth.ether_type = ethertype.to_be();
    Ok(())
}

/// Writes an outer IPv4 header at `ETH_LEN`; returns the sum of its addresses (for a UDP
/// pseudo-header).
#[inline(always)]
pub fn write_ipv4(
    ctx: &XdpContext,
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    tos: u8,
    total: u16,
    ttl: u8,
) -> Result<u32, Reason> {
    // SAFETY: bounds checked by ptr_at.
    let ip = unsafe { &mut *ptr_at::<Ipv4Hdr>(ctx, ETH_LEN).map_err(|_| Reason::DropEncapFailed)? };
    let addrs = csum::sum4(src) + csum::sum4(dst);
    let sum =
        0x4500 + tos as u32 + total as u32 + 0x4000 + ((ttl as u32) << 8 | proto as u32) + addrs;
    ip.vihl = 0x45;
    ip.tos = tos;
    ip.tot_len = total.to_be_bytes();
    ip.id = [0, 0];
    ip.frags = [0x40, 0];
    ip.ttl = ttl;
    ip.proto = proto;
    ip.check = csum::finish(sum).to_be_bytes();
    ip.src_addr = src;
    ip.dst_addr = dst;
    Ok(addrs)
}

/// Writes an outer IPv6 header at `ETH_LEN`; returns the sum of its addresses.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn write_ipv6(
    ctx: &XdpContext,
    src: &[u8; 16],
    dst: &[u8; 16],
    next: u8,
    tc: u8,
    label: u32,
    payload: u16,
    hop: u8,
) -> Result<u32, Reason> {
    // SAFETY: bounds checked by ptr_at.
    let ip = unsafe { &mut *ptr_at::<Ipv6Hdr>(ctx, ETH_LEN).map_err(|_| Reason::DropEncapFailed)? };
    ip.vcf = [
        0x60 | (tc >> 4),
        (tc << 4) | ((label >> 16) as u8 & 0x0f),
        (label >> 8) as u8,
        label as u8,
    ];
    ip.payload_len = payload.to_be_bytes();
    ip.next_hdr = next;
    ip.hop_limit = hop;
    ip.src_addr = *src;
    ip.dst_addr = *dst;
    Ok(csum::sum16(src) + csum::sum16(dst))
}

/// The first four bytes of the real's address (its IPv4 address).
#[inline(always)]
pub fn addr4(real: &Real) -> [u8; 4] {
    [real.addr[0], real.addr[1], real.addr[2], real.addr[3]]
}
