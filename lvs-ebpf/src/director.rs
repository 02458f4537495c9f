//! The director's packet path: parse, rule out what is not for a VIP, follow the connection
//! table, else find the service and schedule; then forward.
//!
//! The order serves the common cases first: most traffic on a director's interface that is
//! not for a VIP leaves after one array read (the VIP filter), and an established flow costs
//! one hash lookup (the connection table), not two.

use crate::{
    forward,
    maps::{SERVICES, VIP_FILTER, VIPS},
    parse::{self, Parsed},
    select::{self, Known},
    stats,
};
use aya_ebpf::programs::XdpContext;
use lvs_common::{FlowKey, Reason, Service, ServiceKey};

/// What to do with a packet that is not dropped.
pub enum Action {
    Pass(Reason),
    Tx,
    /// Carries the verdict `bpf_redirect` returned.
    Redirect(u32),
    /// The frame became an ICMP error for the client, sent back out (XDP_TX).
    TooBig,
}

#[inline(always)]
pub fn run(ctx: &XdpContext) -> Result<Action, Reason> {
    let flow = match parse::parse(ctx) {
        Parsed::Flow(flow) => flow,
        Parsed::Pass(reason) => return Ok(Action::Pass(reason)),
        Parsed::IcmpError(flow) => return icmp_error(ctx, &flow),
        Parsed::Irregular { dst, reason } => {
            // SAFETY: presence test only.
            return if unsafe { VIPS.get(&dst) }.is_some() {
                Err(reason)
            } else {
                Ok(Action::Pass(Reason::PassNotService))
            };
        }
    };
    if !maybe_vip(&flow) {
        return Ok(Action::Pass(Reason::PassNotService));
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
    let action = forward::forward(ctx, &flow, choice.real)?;
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
    forward::forward(ctx, flow, real)
}

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
