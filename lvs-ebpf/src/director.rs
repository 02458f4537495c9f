//! The director's packet path: parse, find the service, pick the real, forward.

use crate::{
    forward,
    maps::{SERVICES, VIPS},
    parse::{self, Parsed},
    select, stats,
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
    let Some(svc) = service(&flow) else {
        return Ok(Action::Pass(Reason::PassNotService));
    };
    let choice = select::pick(&flow, &svc)?;
    let action = match choice.real.method {
        METHOD_DR => forward::dr::forward(ctx, choice.real)?,
        _ => return Err(Reason::DropBadMethod),
    };
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    stats::forwarded(svc.id, choice.index, bytes, choice.scheduled);
    Ok(action)
}

/// The service of (VIP, port, protocol), or of (VIP, every port, protocol).
#[inline(always)]
fn service(flow: &FlowKey) -> Option<Service> {
    let mut key = ServiceKey { addr: flow.dst, port: flow.dport, proto: flow.proto, family: flow.family };
    // SAFETY (both): the value is copied out at once.
    if let Some(svc) = unsafe { SERVICES.get(&key) } {
        return Some(*svc);
    }
    key.port = [0, 0];
    unsafe { SERVICES.get(&key) }.copied()
}
