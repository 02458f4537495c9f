//! When a packet would not fit the egress interface once encapsulated, the client is told
//! the size that fits (RFC 1191 / RFC 8201 path MTU discovery): the frame is turned in place
//! into an ICMP "fragmentation needed" (IPv4) or ICMPv6 "packet too big" sent back out of the
//! interface it came in on, from the VIP. IPv4 quotes the packet's IP header and first 8
//! bytes (RFC 792); ICMPv6 quotes as much of the packet as fits in 1280 bytes (RFC 4443 2.4(c)).
//!
//! No reply (a counted drop instead, `drop_too_big`), as RFC 1122 3.2.2 and RFC 4443 2.4(e)
//! require: to an ICMP error, to a sender whose MAC or IP address is not unicast (broadcast,
//! multicast, unspecified, loopback), to an IPv4 packet that allows fragmentation (DF clear:
//! the director does not fragment), to an IPv6 packet shorter than the quote (a link below
//! IPv6's minimum MTU).

use super::encap::{ETH_LEN, IPV4_LEN, IPV6_LEN};
use crate::{access::ptr_at, action::Action};
use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail},
    programs::XdpContext,
};
use lvs_common::{FAMILY_V4, Reason, csum};

const ICMP_LEN: usize = 8;
/// Quoted by IPv4: the offending packet's IP header and the first 8 bytes after it.
const QUOTE4: usize = IPV4_LEN + 8;
/// Quoted by IPv6: as much of the packet as fits in the minimum MTU.
const QUOTE6: usize = 1280 - IPV6_LEN - ICMP_LEN;

/// Answers the packet with the MTU that fits when `answer` allows it (an IPv4 packet with DF,
/// an IPv6 packet; not an ICMP error) and its sender can be answered; else a counted drop.
#[inline(always)]
pub fn reply(ctx: &XdpContext, family: u8, answer: bool, mtu: u32) -> Result<Action, Reason> {
    if !answer {
        return Err(Reason::DropTooBig);
    }
    if family == FAMILY_V4 {
        reply4(ctx, mtu.max(68) as u16)
    } else {
        reply6(ctx, mtu.max(1280))
    }
}

/// An IPv4 source that may be sent an ICMP error: not 0/8, loopback, multicast, class E or
/// broadcast (RFC 1122 3.2.2).
#[inline(always)]
fn unicast4(a: [u8; 4]) -> bool {
    a[0] != 0 && a[0] != 127 && a[0] < 224
}

/// An IPv6 source that may be sent an ICMPv6 error: not unspecified, loopback or multicast
/// (RFC 4443 2.4(e)).
#[inline(always)]
fn unicast6(a: &[u8; 16]) -> bool {
    let mut high = 0u8;
    let mut i = 0;
    while i < 15 {
        high |= a[i];
        i += 1;
    }
    a[0] != 0xff && (high != 0 || a[15] > 1)
}

/// An individual (not group) MAC address.
#[inline(always)]
fn unicast_mac(m: [u8; 6]) -> bool {
    m[0] & 1 == 0
}

/// The frame becomes [Ethernet][IPv4 20][ICMP 8][quote 28]: it grows by 28 bytes at the
/// front (the quote is then already in place) and is cut after the quote.
#[inline(always)]
fn reply4(ctx: &XdpContext, mtu: u16) -> Result<Action, Reason> {
    const GROW: usize = IPV4_LEN + ICMP_LEN;
    const QUOTED: usize = ETH_LEN + GROW; // where the original IP header now starts
    const TOTAL: usize = QUOTED + QUOTE4;
    // SAFETY: bounds checked by ptr_at; plain bytes, copied out before the frame changes.
    let q = unsafe {
        &*ptr_at::<[u8; ETH_LEN + IPV4_LEN]>(ctx, 0).map_err(|_| Reason::DropEncapFailed)?
    };
    let client = [q[26], q[27], q[28], q[29]];
    let vip = [q[30], q[31], q[32], q[33]];
    let client_mac = [q[6], q[7], q[8], q[9], q[10], q[11]];
    // The director's own MAC: the frame was addressed to it (checked before forwarding).
    let our_mac = [q[0], q[1], q[2], q[3], q[4], q[5]];
    if !unicast4(client) || !unicast_mac(client_mac) {
        return Err(Reason::DropTooBig);
    }
    // SAFETY: helper call; every access below is checked again.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(GROW as i32)) } != 0 {
        return Err(Reason::DropEncapFailed);
    }
    // SAFETY: a whole frame of TOTAL bytes, bounds checked by reframe's ptr_at.
    let frame = unsafe { &mut *reframe::<TOTAL>(ctx, client_mac, our_mac, [0x08, 0x00])? };
    let total = (IPV4_LEN + ICMP_LEN + QUOTE4) as u16;
    let ip: [u8; IPV4_LEN] = [
        0x45,
        0xc0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0,
        0,
        64,
        1,
        0,
        0,
        vip[0],
        vip[1],
        vip[2],
        vip[3],
        client[0],
        client[1],
        client[2],
        client[3],
    ];
    let mut sum = 0u32;
    let mut i = 0;
    while i < IPV4_LEN {
        sum += u16::from_be_bytes([ip[i], ip[i + 1]]) as u32;
        frame[ETH_LEN + i] = ip[i];
        frame[ETH_LEN + i + 1] = ip[i + 1];
        i += 2;
    }
    let check = csum::finish(sum).to_be_bytes();
    frame[ETH_LEN + 10] = check[0];
    frame[ETH_LEN + 11] = check[1];
    // ICMP type 3 (destination unreachable), code 4 (fragmentation needed), next-hop MTU.
    let m = mtu.to_be_bytes();
    write_icmp::<TOTAL, QUOTE4>(frame, ETH_LEN + IPV4_LEN, [3, 4, 0, 0, 0, 0, m[0], m[1]], 0);
    Ok(Action::TooBig)
}

/// The frame becomes [Ethernet][IPv6 40][ICMPv6 8][quote 1232]: 1280 bytes of IPv6.
#[inline(always)]
fn reply6(ctx: &XdpContext, mtu: u32) -> Result<Action, Reason> {
    const GROW: usize = IPV6_LEN + ICMP_LEN;
    const QUOTED: usize = ETH_LEN + GROW;
    const TOTAL: usize = QUOTED + QUOTE6;
    // SAFETY: bounds checked by ptr_at; plain bytes, read before the frame changes.
    let head = unsafe {
        &*ptr_at::<[u8; ETH_LEN + IPV6_LEN]>(ctx, 0).map_err(|_| Reason::DropEncapFailed)?
    };
    let client_mac = [head[6], head[7], head[8], head[9], head[10], head[11]];
    let our_mac = [head[0], head[1], head[2], head[3], head[4], head[5]];
    let mut client = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        client[i] = head[ETH_LEN + 8 + i];
        i += 1;
    }
    // A packet shorter than the quote cannot be too big for a link of IPv6's minimum MTU.
    if !unicast6(&client) || !unicast_mac(client_mac) || ctx.data_end() - ctx.data() < TOTAL - GROW
    {
        return Err(Reason::DropTooBig);
    }
    // SAFETY: helper call; every access below is checked again.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(GROW as i32)) } != 0 {
        return Err(Reason::DropEncapFailed);
    }
    // SAFETY: a whole frame of TOTAL bytes, bounds checked by reframe's ptr_at.
    let frame = unsafe { &mut *reframe::<TOTAL>(ctx, client_mac, our_mac, [0x86, 0xdd])? };
    let payload = (ICMP_LEN + QUOTE6) as u16;
    let ip = ETH_LEN;
    frame[ip] = 0x60;
    frame[ip + 1] = 0;
    frame[ip + 2] = 0;
    frame[ip + 3] = 0;
    frame[ip + 4] = (payload >> 8) as u8;
    frame[ip + 5] = payload as u8;
    frame[ip + 6] = 58;
    frame[ip + 7] = 255;
    // Source: the VIP (the quote's destination); destination: the client (its source).
    let mut addrs = 0u32;
    let mut i = 0;
    while i < 16 {
        frame[ip + 8 + i] = frame[QUOTED + 24 + i];
        frame[ip + 9 + i] = frame[QUOTED + 25 + i];
        frame[ip + 24 + i] = frame[QUOTED + 8 + i];
        frame[ip + 25 + i] = frame[QUOTED + 9 + i];
        addrs += u16::from_be_bytes([frame[QUOTED + 24 + i], frame[QUOTED + 25 + i]]) as u32
            + u16::from_be_bytes([frame[QUOTED + 8 + i], frame[QUOTED + 9 + i]]) as u32;
        i += 2;
    }
    let m = mtu.to_be_bytes();
    let pseudo = addrs + payload as u32 + 58;
    write_icmp::<TOTAL, QUOTE6>(
        frame,
        ETH_LEN + IPV6_LEN,
        [2, 0, 0, 0, m[0], m[1], m[2], m[3]],
        pseudo,
    );
    Ok(Action::TooBig)
}

/// Writes the ICMP header at `icmp` (followed by the `Q`-byte quote already in place) and its
/// checksum over header and quote, plus `pseudo` (the ICMPv6 pseudo-header's sum; 0 for ICMP).
#[inline(always)]
fn write_icmp<const N: usize, const Q: usize>(
    frame: &mut [u8; N],
    icmp: usize,
    header: [u8; ICMP_LEN],
    pseudo: u32,
) {
    let mut sum = pseudo;
    let mut i = 0;
    while i < ICMP_LEN {
        frame[icmp + i] = header[i];
        frame[icmp + i + 1] = header[i + 1];
        sum += u16::from_be_bytes([header[i], header[i + 1]]) as u32;
        i += 2;
    }
    let quote = icmp + ICMP_LEN;
    let mut i = 0;
    while i < Q {
        sum += u16::from_be_bytes([frame[quote + i], frame[quote + i + 1]]) as u32;
        i += 2;
    }
    let check = csum::finish(sum).to_be_bytes();
    frame[icmp + 2] = check[0];
    frame[icmp + 3] = check[1];
}

/// Cuts the frame to `N` bytes (the end of the quote) and writes its Ethernet header back to
/// the client: addresses byte by byte (no memcpy into packet memory) and `ethertype`.
#[inline(always)]
fn reframe<const N: usize>(
    ctx: &XdpContext,
    client_mac: [u8; 6],
    our_mac: [u8; 6],
    ethertype: [u8; 2],
) -> Result<*mut [u8; N], Reason> {
    let len = ctx.data_end() - ctx.data();
    // SAFETY: helper call; shrinks the frame to the quote's end.
    if len < N || unsafe { bpf_xdp_adjust_tail(ctx.ctx, N as i32 - len as i32) } != 0 {
        return Err(Reason::DropEncapFailed);
    }
    // SAFETY: ptr_at checks the bounds; the pointer is dereferenced below.
    let ptr = unsafe { ptr_at::<[u8; N]>(ctx, 0) }.map_err(|_| Reason::DropEncapFailed)?;
    // SAFETY: bounds checked by ptr_at after both adjustments.
    let frame = unsafe { &mut *ptr };
    let mut i = 0;
    while i < 6 {
        frame[i] = client_mac[i];
        frame[6 + i] = our_mac[i];
        i += 1;
    }
    frame[12] = ethertype[0];
    frame[13] = ethertype[1];
    Ok(ptr)
}
