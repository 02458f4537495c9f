//! `lvs_decap`: for real servers in tunnel mode. Strips the outer headers of IP-in-IP
//! (IPv4 protocol 4 or 41, IPv6 next header 41 or 4) and GUE (UDP to a configured port,
//! variant 1 "direct IP" or variant 0 with no options) addressed to this host, and hands the
//! inner packet, whose destination is the VIP the host holds on loopback, to the kernel.
//! Everything else passes untouched. The kernel here has no ipip or fou modules; this is
//! also cheaper than the kernel's tunnel path.
#![no_std]
#![no_main]
#![allow(clippy::needless_borrows_for_generic_args)]

#[path = "access.rs"]
mod access;

use access::ptr_at;
use aya_ebpf::{
    bindings::xdp_action,
    helpers::bpf_xdp_adjust_head,
    macros::{map, xdp},
    maps::{HashMap, PerCpuArray},
    programs::XdpContext,
};
use lvs_common::{FAMILY_V4, FAMILY_V6, NUM_REASONS, PROTO_UDP, Reason, VipKey};
use network_types::{
    eth::EthHdr,
    ip::{Ipv4Hdr, Ipv6Hdr},
    udp::UdpHdr,
};

#[map(name = "LVS_DECAP_ADDRS")]
static ADDRS: HashMap<VipKey, u32> = HashMap::with_max_entries(256, 0);

#[map(name = "LVS_DECAP_PORTS")]
static PORTS: HashMap<[u8; 2], u32> = HashMap::with_max_entries(16, 0);

#[map(name = "LVS_DECAP_COUNTERS")]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(NUM_REASONS, 0);

const ETH_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const UDP_LEN: usize = 8;
const GUE_LEN: usize = 4;
const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;

#[xdp]
pub fn lvs_decap(ctx: XdpContext) -> u32 {
    let reason = run(&ctx);
    if let Some(c) = COUNTERS.get_ptr_mut(reason as u32) {
        // SAFETY: a per-CPU slot: only this CPU writes it while the program runs.
        unsafe { *c += 1 };
    }
    xdp_action::XDP_PASS
}

#[inline(always)]
fn run(ctx: &XdpContext) -> Reason {
    // SAFETY: bounds checked by ptr_at; byte header.
    let Ok(eth) = (unsafe { ptr_at::<EthHdr>(ctx, 0) }) else {
        return Reason::PassNotIp;
    };
    // SAFETY: checked above.
    match u16::from_be(unsafe { (*eth).ether_type }) {
        0x0800 => v4(ctx),
        0x86dd => v6(ctx),
        _ => Reason::PassNotIp,
    }
}

#[inline(always)]
fn v4(ctx: &XdpContext) -> Reason {
    // SAFETY: bounds checked by ptr_at; byte header, fields copied out.
    let Ok(ip) = (unsafe { ptr_at::<Ipv4Hdr>(ctx, ETH_LEN) }) else {
        return Reason::PassBadL3;
    };
    let ip = unsafe { &*ip };
    // No options, not a fragment: a tunnel packet from lvs_director is neither.
    if ip.vihl != 0x45 || u16::from_be_bytes(ip.frags) & 0x3fff != 0 {
        return Reason::PassNotService;
    }
    let d = ip.dst_addr;
    let key = VipKey {
        addr: [d[0], d[1], d[2], d[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        family: FAMILY_V4,
        _pad: [0; 3],
    };
    // SAFETY: presence test only.
    if unsafe { ADDRS.get(&key) }.is_none() {
        return Reason::PassNotService;
    }
    match ip.proto {
        IPPROTO_IPIP | IPPROTO_IPV6 => strip(ctx, IPV4_LEN, Reason::DecapIpip),
        PROTO_UDP => gue(ctx, ETH_LEN + IPV4_LEN),
        _ => Reason::PassNotService,
    }
}

#[inline(always)]
fn v6(ctx: &XdpContext) -> Reason {
    // SAFETY: bounds checked by ptr_at; byte header, fields copied out.
    let Ok(ip) = (unsafe { ptr_at::<Ipv6Hdr>(ctx, ETH_LEN) }) else {
        return Reason::PassBadL3;
    };
    let ip = unsafe { &*ip };
    let key = VipKey {
        addr: ip.dst_addr,
        family: FAMILY_V6,
        _pad: [0; 3],
    };
    // SAFETY: presence test only.
    if unsafe { ADDRS.get(&key) }.is_none() {
        return Reason::PassNotService;
    }
    match ip.next_hdr {
        IPPROTO_IPIP | IPPROTO_IPV6 => strip(ctx, IPV6_LEN, Reason::DecapIpip),
        PROTO_UDP => gue(ctx, ETH_LEN + IPV6_LEN),
        _ => Reason::PassNotService,
    }
}

/// A UDP header at `udp`: GUE if its destination port is one of ours.
#[inline(always)]
fn gue(ctx: &XdpContext, udp: usize) -> Reason {
    // SAFETY: bounds checked by ptr_at; byte header.
    let Ok(h) = (unsafe { ptr_at::<UdpHdr>(ctx, udp) }) else {
        return Reason::PassNotService;
    };
    // SAFETY: checked above; presence test only.
    if unsafe { PORTS.get(&(*h).dst) }.is_none() {
        return Reason::PassNotService;
    }
    let outer = udp - ETH_LEN + UDP_LEN;
    // SAFETY: bounds checked by ptr_at; one byte.
    let Ok(first) = (unsafe { ptr_at::<[u8; 2]>(ctx, udp + UDP_LEN) }) else {
        return Reason::PassDecapUnknown;
    };
    let first = unsafe { *first };
    match first[0] >> 6 {
        // Variant 1: the inner IP header itself (version 4 = 0100, 6 = 0110).
        1 => strip(ctx, outer, Reason::DecapGue),
        // Variant 0: a 4-byte header; we take data messages without options carrying IP.
        0 if first[0] & 0x3f == 0 && (first[1] == IPPROTO_IPIP || first[1] == IPPROTO_IPV6) => {
            strip(ctx, outer + GUE_LEN, Reason::DecapGue)
        }
        _ => Reason::PassDecapUnknown,
    }
}

/// Removes the `outer` bytes after the Ethernet header: the Ethernet addresses move forward
/// onto the end of the outer headers, the type follows the inner packet's version, and the
/// frame starts there.
#[inline(always)]
fn strip(ctx: &XdpContext, outer: usize, done: Reason) -> Reason {
    // SAFETY: bounds checked by ptr_at; byte header.
    let Ok(version) = (unsafe { ptr_at::<u8>(ctx, ETH_LEN + outer) }) else {
        return Reason::PassDecapUnknown;
    };
    let ethertype: u16 = match unsafe { *version } >> 4 {
        4 => 0x0800,
        6 => 0x86dd,
        _ => return Reason::PassDecapUnknown,
    };
    // SAFETY: bounds checked by ptr_at (outer >= 20, so the two headers do not overlap).
    let (Ok(old), Ok(new)) = (unsafe { ptr_at::<EthHdr>(ctx, 0) }, unsafe {
        ptr_at::<EthHdr>(ctx, outer)
    }) else {
        return Reason::PassDecapUnknown;
    };
    // SAFETY: both checked above; copied through registers.
    unsafe {
        let (dst, src) = ((*old).dst_addr, (*old).src_addr);
        (*new).dst_addr = dst;
        (*new).src_addr = src;
        (*new).ether_type = ethertype.to_be();
    }
    // SAFETY: helper call; no packet pointer is used after it.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, outer as i32) } != 0 {
        return Reason::PassDecapUnknown;
    }
    done
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
