//! The director's packet path: parse, rule out what is not for a VIP, follow the connection
//! table, else find the service and schedule; then forward.
//!
//! The order serves the common cases first: most traffic on a director's interface that is
//! not for a VIP leaves after one array read (the VIP filter), and an established flow costs
//! one hash lookup (the connection table), not two.

use crate::{
    access::ptr_at,
    action::Action,
    forward,
    maps::{IFACES, SERVICES, VIP_FILTER, VIPS},
    parse::{self, Parsed},
    select::{self, Known},
    stats,
};
use aya_ebpf::programs::XdpContext;
use lvs_common::{FlowKey, Reason, Service, ServiceKey, iface_slot};

#[inline(always)]
pub fn run(ctx: &XdpContext) -> Result<Action, Reason> {
    let flow = match parse::parse(ctx) {
        Parsed::Flow(flow) => flow,
        Parsed::Pass(reason) => return Ok(Action::Pass(reason)),
        Parsed::IcmpError(flow) => return icmp_error(ctx, &flow),
        Parsed::Irregular(reason) => return irregular(ctx, reason),
    };
    if !maybe_vip(&flow) {
        return Ok(Action::Pass(Reason::PassNotService));
    }
    if !addressed_to_us(ctx) {
        return Ok(Action::Pass(Reason::PassNotOurMac));
    }
    let choice = match select::established(&flow) {
        Known::Hit(choice) => choice,
        known => {
            let Some(svc) = service(&flow) else {
                return Ok(Action::Pass(Reason::PassNotService));
            };
            select::schedule(&flow, &svc, matches!(known, Known::Stale))?
        }
    };
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    let action = forward::forward(ctx, &flow, choice.real, true)?;
    if !matches!(action, Action::TooBig) {
        stats::forwarded(choice.index, bytes, choice.scheduled);
    }
    Ok(action)
}

/// An ICMP "fragmentation needed" / "packet too big" about a VIP flow: it was sent to the VIP
/// by a router on the path of the real server's replies, and belongs to the real server that
/// owns the flow (its TCP lowers the segment size). `flow` is the client's flow as the
/// director knows it (the quoted reply, turned around). The connection table decides, else
/// the Maglev table; an ICMP error never creates a connection entry.
#[inline(always)]
fn icmp_error(ctx: &XdpContext, flow: &FlowKey) -> Result<Action, Reason> {
    if !maybe_vip(flow) {
        return Ok(Action::Pass(Reason::PassNotService));
    }
    if !addressed_to_us(ctx) {
        return Ok(Action::Pass(Reason::PassNotOurMac));
    }
    let real = match select::established(flow) {
        Known::Hit(choice) => choice.real,
        _ => {
            let Some(svc) = service(flow) else {
                return Ok(Action::Pass(Reason::PassIcmpNoFlow));
            };
            select::peek(flow, &svc)?
        }
    };
    stats::count(Reason::IcmpForwarded);
    // Never an ICMP error in answer to an ICMP error (RFC 1122 3.2.2, RFC 4443 2.4(e)): one
    // that does not fit the tunnel is dropped.
    forward::forward(ctx, flow, real, false)
}

/// A frame that cannot be forwarded as it is: dropped for `reason` when it is the director's
/// (to a VIP, at the ingress interface's MAC), passed untouched otherwise.
#[inline(always)]
fn irregular(ctx: &XdpContext, reason: Reason) -> Result<Action, Reason> {
    let Some(dst) = parse::destination(ctx) else {
        return Err(Reason::DropInternal);
    };
    // SAFETY: presence test only.
    if unsafe { VIPS.get(&dst) }.is_none() {
        Ok(Action::Pass(Reason::PassNotService))
    } else if !addressed_to_us(ctx) {
        Ok(Action::Pass(Reason::PassNotOurMac))
    } else {
        Err(reason)
    }
}

/// Whether the frame's destination MAC is its ingress interface's own, as the controller
/// entered it in the interface table: broadcast, multicast and other hosts' frames are not
/// the director's, whatever their IP destination.
#[inline(always)]
fn addressed_to_us(ctx: &XdpContext) -> bool {
    // SAFETY: reading a field of the context the kernel gave us.
    let ifindex = unsafe { (*ctx.ctx).ingress_ifindex };
    let Some(iface) = IFACES.get(iface_slot(ifindex)) else {
        return false;
    };
    // SAFETY: bounds checked by ptr_at; parse() saw the whole Ethernet header. The frame
    // starts 2-byte aligned (an even headroom in every driver), so are its first words.
    let Ok(dst) = (unsafe { ptr_at::<MacWords>(ctx, 0) }) else {
        return false;
    };
    // SAFETY: checked above.
    let dst = unsafe { &*dst };
    // SAFETY: `Iface::mac` sits at offset 4 of a 4-aligned map value: 2-aligned.
    let mac = unsafe { &*(iface.mac.as_ptr() as *const MacWords) };
    let differ = (dst.0[0] ^ mac.0[0]) | (dst.0[1] ^ mac.0[1]) | (dst.0[2] ^ mac.0[2]);
    iface.ifindex == ifindex && differ == 0
}

/// A MAC address as three 16-bit words, compared whole rather than byte by byte.
#[repr(C, align(2))]
struct MacWords([u16; 3]);

/// False when no VIP has the flow's destination (exact); true when one may (then the maps
/// decide).
#[inline(always)]
fn maybe_vip(flow: &FlowKey) -> bool {
    matches!(VIP_FILTER.get(flow.dst_vip_slot()), Some(n) if *n != 0)
}

/// The service of (VIP, port, protocol), or of (VIP, every port, protocol).
#[inline(always)]
fn service(flow: &FlowKey) -> Option<Service> {
    let mut key = ServiceKey {
        addr: flow.dst,
        port: flow.dport,
        proto: flow.proto,
        family: flow.family,
    };
    // SAFETY (both): the value is copied out at once.
    if let Some(svc) = unsafe { SERVICES.get(&key) } {
        return Some(*svc);
    }
    key.port = [0, 0];
    unsafe { SERVICES.get(&key) }.copied()
}
