//! Direct routing: the real server holds the VIP; rewrite the MACs and send the frame on.
//! Nothing above Ethernet changes, so no checksum changes either.

use crate::{access::ptr_at, action::Action};
use aya_ebpf::programs::XdpContext;
use lvs_common::{Real, Reason};
use network_types::eth::EthHdr;

#[inline(always)]
pub fn forward(ctx: &XdpContext, real: &Real) -> Result<Action, Reason> {
    // Both MACs are read into registers first: a copy straight from map memory to packet
    // memory would be a call to a byte-by-byte memmove.
    let (dst, src) = (real.dst_mac, real.src_mac);
    if dst[0] | dst[1] | dst[2] | dst[3] | dst[4] | dst[5] == 0 {
        return Err(Reason::DropNoNeighbour);
    }
    // SAFETY: bounds checked by ptr_at; parse() already saw a whole Ethernet header.
    let eth = unsafe { ptr_at::<EthHdr>(ctx, 0) }.map_err(|_| Reason::DropInternal)?;
    // SAFETY: checked above; byte arrays, no alignment requirement.
    unsafe {
        (*eth).dst_addr = dst;
        (*eth).src_addr = src;
    }
    super::egress(ctx, real)
}
