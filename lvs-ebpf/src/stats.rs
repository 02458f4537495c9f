//! Per-CPU counters: summed by userspace, no atomics on the packet path.

use crate::maps::{COUNTERS, REAL_STATS};
use lvs_common::Reason;

#[inline(always)]
pub fn count(reason: Reason) {
    if let Some(c) = COUNTERS.get_ptr_mut(reason as u32) {
        // SAFETY: a per-CPU slot: only this CPU writes it while the program runs.
        unsafe { *c += 1 };
    }
}

/// Accounts one forwarded packet of `bytes` to its real (and so to the real's service); `new`
/// when the packet scheduled its flow.
#[inline(always)]
pub fn forwarded(real: u32, bytes: u64, new: bool) {
    if let Some(s) = REAL_STATS.get_ptr_mut(real) {
        // SAFETY: per-CPU slot, see `count`.
        unsafe {
            (*s).packets += 1;
            (*s).bytes += bytes;
            (*s).conns += new as u64;
        }
    }
}
