//! IP-in-IP: IPv4 in IPv4 (protocol 4) and IPv6 in IPv6 (next header 41). The inner packet
//! is not touched; the outer header goes from the tunnel source to the real server, which
//! strips it (`lvs_decap`, or the kernel's ipip/ip6tnl) and answers the client directly.

use super::encap::{self, ETH_P_IP, ETH_P_IPV6, IPV4_LEN, IPV6_LEN};
use crate::{action::Action, stats};
use aya_ebpf::programs::XdpContext;
use lvs_common::{FAMILY_V4, FlowKey, Real, Reason, flow_hash};

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_IPV6: u8 = 41;

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
    if flow.family == FAMILY_V4 {
        let src = encap::source4(cfg, hash)?;
        if let Some(mtu) = encap::too_big(ctx, real, IPV4_LEN as u32) {
            return super::too_big::reply(
                ctx,
                flow.family,
                answer && inner.df,
                mtu - IPV4_LEN as u32,
            );
        }
        encap::push(ctx, IPV4_LEN, real, ETH_P_IP)?;
        let total = inner.len.wrapping_add(IPV4_LEN as u16);
        encap::write_ipv4(
            ctx,
            src,
            encap::addr4(real),
            IPPROTO_IPIP,
            inner.tos,
            total,
            encap::ttl(cfg),
        )?;
    } else {
        let src = encap::source6(cfg, hash)?;
        if let Some(mtu) = encap::too_big(ctx, real, IPV6_LEN as u32) {
            return super::too_big::reply(ctx, flow.family, answer, mtu - IPV6_LEN as u32);
        }
        encap::push(ctx, IPV6_LEN, real, ETH_P_IPV6)?;
        encap::write_ipv6(
            ctx,
            &src,
            &real.addr,
            IPPROTO_IPV6,
            inner.tos,
            hash & 0xf_ffff,
            inner.len,
            encap::ttl(cfg),
        )?;
    }
    stats::count(Reason::Encapsulated);
    super::egress(ctx, real)
}
