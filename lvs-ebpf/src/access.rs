//! The one bounds-checked accessor to packet memory.

use aya_ebpf::programs::XdpContext;
use core::mem::size_of;

/// The packet does not hold a `T` at the requested offset.
#[derive(Clone, Copy)]
pub struct OutOfBounds;

/// Returns a pointer to a `T` at `offset` bytes from the start of the packet, after checking
/// that the whole `T` lies before `data_end`. The check sits right before the use, in the
/// shape the verifier tracks (`start + offset + size <= end`).
///
/// # Safety
/// The pointer is valid only while the packet is not resized (no `bpf_xdp_adjust_*` call
/// between this check and the last use) and `T` must be a plain-old-data header type
/// (`#[repr(C)]`, align 1 or accessed with unaligned-safe reads).
#[inline(always)]
pub unsafe fn ptr_at<T>(ctx: &XdpContext, offset: usize) -> Result<*mut T, OutOfBounds> {
    let start = ctx.data();
    let end = ctx.data_end();
    if start + offset + size_of::<T>() > end {
        return Err(OutOfBounds);
    }
    Ok((start + offset) as *mut T)
}
