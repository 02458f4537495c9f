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
use lvs_common::{FlowKey, METHOD_DR, Reason, Service, ServiceKey};

/// What to do with a packet that is not dropped.
pub enum Action {
    Pass(Reason),
    Tx,
    /// Carries the verdict `bpf_redirect` returned.
    Redirect(u32),
}

#[inline(always)]
pub fn run(ctx: &XdpContext) -> Result<Action, Reason> {
    let flow = match parse::parse(ctx) {
        Parsed::Flow(flow) => flow,
        Parsed::Pass(reason) => return Ok(Action::Pass(reason)),
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
    let action = match choice.real.method {
        METHOD_DR => forward::dr::forward(ctx, choice.real)?,
        _ => return Err(Reason::DropBadMethod),
    };
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    stats::forwarded(choice.index, bytes, choice.scheduled);
    Ok(action)
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
