//! One module per rewrite path, each read top to bottom on its own: direct routing (`dr`),
//! IP-in-IP (`ipip`), GUE (`gue`); `encap` holds what the two tunnels share and `too_big`
//! answers a client whose packet would not fit once encapsulated.

pub mod dr;
mod encap;
pub mod gue;
pub mod ipip;
mod too_big;

use crate::action::Action;
use aya_ebpf::{bindings::xdp_action, helpers::bpf_redirect, programs::XdpContext};
use lvs_common::{FlowKey, METHOD_DR, METHOD_GUE, METHOD_IPIP, Real, Reason};

/// Forwards the packet of `flow` to `real` by the real's method. `answer`: a packet too big
/// for the tunnel may be answered with an ICMP error (false for ICMP errors themselves).
#[inline(always)]
pub fn forward(
    ctx: &XdpContext,
    flow: &FlowKey,
    real: &Real,
    answer: bool,
) -> Result<Action, Reason> {
    match real.method {
        METHOD_DR => dr::forward(ctx, real),
        METHOD_IPIP => ipip::forward(ctx, flow, real, answer),
        METHOD_GUE => gue::forward(ctx, flow, real, answer),
        _ => Err(Reason::DropBadMethod),
    }
}

/// Sends a frame already addressed to the real's next hop out of the real's interface: back
/// out of the one it came in on (XDP_TX) or redirected to another.
#[inline(always)]
pub fn egress(ctx: &XdpContext, real: &Real) -> Result<Action, Reason> {
    if real.ifindex == 0 || real.ifindex as usize == ctx.ingress_ifindex() {
        return Ok(Action::Tx);
    }
    // SAFETY: plain helper call.
    let verdict = unsafe { bpf_redirect(real.ifindex, 0) } as u32;
    if verdict == xdp_action::XDP_REDIRECT {
        Ok(Action::Redirect(verdict))
    } else {
        Err(Reason::DropRedirect)
    }
}
