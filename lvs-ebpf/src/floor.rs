//! Reference programs for the benchmark, not for production: what any XDP forwarder costs at
//! the least, measured beside `lvs_director` in the same run.
#![no_std]
#![no_main]

use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};

/// The floor: swap the MACs and send the frame back out (XDP_TX).
#[xdp]
pub fn lvs_floor(ctx: XdpContext) -> u32 {
    let start = ctx.data();
    if start + 12 > ctx.data_end() {
        return xdp_action::XDP_PASS;
    }
    // SAFETY: 12 bytes checked above; byte arrays, no alignment needed.
    unsafe {
        let dst = start as *mut [u8; 6];
        let src = (start + 6) as *mut [u8; 6];
        core::ptr::swap(dst, src);
    }
    xdp_action::XDP_TX
}

/// Does nothing: its time under BPF_PROG_TEST_RUN is the harness's own overhead, subtracted
/// from single-shot measurements.
#[xdp]
pub fn lvs_null(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
