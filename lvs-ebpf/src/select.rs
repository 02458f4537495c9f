//! Choosing the real server: the connection table first, then the service's Maglev table.

use crate::{
    maps::{CONNS, REALS, RINGS},
    stats,
};
use aya_ebpf::helpers::bpf_map_lookup_elem;
use core::ffi::c_void;
use lvs_common::{Conn, FlowKey, Real, Reason, Service, ring_element, ring_slot_real};

pub struct Choice {
    pub index: u32,
    pub real: &'static Real,
    /// The packet scheduled its flow (new, or rescheduled away from a removed real).
    pub scheduled: bool,
}

/// What the connection table says of a flow.
pub enum Known {
    /// Pinned to a real that still takes its flows.
    Hit(Choice),
    /// Not in the table: a new flow (or one the LRU evicted).
    Miss,
    /// Pinned to a real that was removed (or whose index now belongs to another real).
    Stale,
}

#[inline(always)]
pub fn established(flow: &FlowKey) -> Known {
    // SAFETY: the value is copied out at once; a concurrent update replaces the element
    // (RCU), it never tears what we read.
    let Some(conn) = (unsafe { CONNS.get(flow) }).copied() else {
        return Known::Miss;
    };
    match REALS.get(conn.real) {
        Some(real) if conn.follows(real) => Known::Hit(Choice {
            index: conn.real,
            real,
            scheduled: false,
        }),
        _ => Known::Stale,
    }
}

/// Schedules a flow with the service's Maglev table and pins it in the connection table.
#[inline(always)]
pub fn schedule(flow: &FlowKey, svc: &Service, rescheduled: bool) -> Result<Choice, Reason> {
    let index = ring_lookup(flow, svc)?;
    let real = REALS.get(index).ok_or(Reason::DropInternal)?;
    if !real.is_active() {
        // The table names a real being removed: its replacement table is on its way.
        return Err(Reason::DropNoReal);
    }
    let conn = Conn {
        real: index,
        generation: real.generation,
    };
    if CONNS.insert(flow, &conn, 0).is_err() {
        stats::count(Reason::ConnInsertFailed);
    }
    stats::count(if rescheduled {
        Reason::ConnRescheduled
    } else {
        Reason::ConnNew
    });
    Ok(Choice {
        index,
        real,
        scheduled: true,
    })
}

/// The real the service's Maglev table gives the flow, without pinning the flow.
#[inline(always)]
pub fn peek(flow: &FlowKey, svc: &Service) -> Result<&'static Real, Reason> {
    let index = ring_lookup(flow, svc)?;
    match REALS.get(index) {
        Some(real) if real.is_active() => Ok(real),
        _ => Err(Reason::DropNoReal),
    }
}

/// The real index in the service's live Maglev table for this flow's hash.
#[inline(always)]
fn ring_lookup(flow: &FlowKey, svc: &Service) -> Result<u32, Reason> {
    let slot = svc.slot(flow).ok_or(Reason::DropNoReal)?;
    // RINGS is an array of maps: the "value" is the inner map itself, only ever passed back
    // to bpf_map_lookup_elem, never dereferenced.
    let inner = RINGS.get_ptr(svc.ring).ok_or(Reason::DropInternal)?;
    let key = ring_element(slot);
    // SAFETY: `inner` is a map pointer from the outer lookup, `key` a valid u32 key.
    let entry =
        unsafe { bpf_map_lookup_elem(inner as *mut c_void, &key as *const u32 as *const c_void) }
            as *const u64;
    if entry.is_null() {
        return Err(Reason::DropInternal);
    }
    // SAFETY: non-null pointer to a u64 element of the inner array.
    let pair = unsafe { *entry };
    match ring_slot_real(pair, slot) {
        0 => Err(Reason::DropNoReal),
        index => Ok(index),
    }
}
