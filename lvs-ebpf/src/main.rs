//! lvs XDP programs.
//!
//! `lvs_director` runs on the director: packets to a virtual service are scheduled onto a real
//! server (connection table, then Maglev) and forwarded by direct routing; everything else
//! passes to the kernel untouched. The entry point is thin: [`director::run`] returns a typed
//! result and one `match` here turns it into a verdict and a counter.
#![no_std]
#![no_main]
// Keys of 20 and 40 bytes go to map helpers by reference, on purpose: the BPF stack is 512 bytes.
#![allow(clippy::needless_borrows_for_generic_args)]

mod access;
mod action;
mod director;
mod forward;
mod maps;
mod parse;
mod select;
mod stats;

use action::Action;
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use lvs_common::Reason;

#[xdp]
pub fn lvs_director(ctx: XdpContext) -> u32 {
    match director::run(&ctx) {
        Ok(Action::Pass(reason)) => {
            stats::count(reason);
            xdp_action::XDP_PASS
        }
        Ok(Action::Tx) => {
            stats::count(Reason::Tx);
            xdp_action::XDP_TX
        }
        Ok(Action::Redirect(verdict)) => {
            stats::count(Reason::Redirect);
            verdict
        }
        Ok(Action::TooBig) => {
            stats::count(Reason::IcmpTooBigSent);
            xdp_action::XDP_TX
        }
        Err(reason) => {
            stats::count(reason);
            xdp_action::XDP_DROP
        }
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
