//! The maps of `lvs_director`. Names, sizes and layouts come from `lvs-common`.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
};
use lvs_common::{
    Conn, DEFAULT_CONNS, FlowKey, IFACE_SLOTS, Iface, MAX_REALS, MAX_RINGS, MAX_SERVICES,
    NUM_REASONS, Real, Service, ServiceKey, Stats, TunnelConfig, VIP_FILTER_SLOTS, VipKey,
};

#[map(name = "LVS_SERVICES")]
pub static SERVICES: HashMap<ServiceKey, Service> = HashMap::with_max_entries(MAX_SERVICES, 0);

#[map(name = "LVS_VIPS")]
pub static VIPS: HashMap<VipKey, u32> = HashMap::with_max_entries(MAX_SERVICES, 0);

#[map(name = "LVS_VIP_FILTER")]
pub static VIP_FILTER: Array<u32> = Array::with_max_entries(VIP_FILTER_SLOTS, 0);

/// Declared as an array of `u32` for aya's loader, but the controller creates it (before the
/// program is loaded, and hands it over by its pin) as `BPF_MAP_TYPE_ARRAY_OF_MAPS`: each
/// element is a Maglev table (an array of real indices). The verifier types lookups by the
/// real map, so a lookup here yields an inner map for `select::ring_lookup`.
#[map(name = "LVS_RINGS")]
pub static RINGS: Array<u32> = Array::with_max_entries(MAX_RINGS, 0);

#[map(name = "LVS_REALS")]
pub static REALS: Array<Real> = Array::with_max_entries(MAX_REALS, 0);

/// Each CPU keeps its own LRU lists (`BPF_F_NO_COMMON_LRU`): inserting a new flow takes no
/// lock shared with the other CPUs. The table is still one: any CPU finds any flow.
#[map(name = "LVS_CONNS")]
pub static CONNS: LruHashMap<FlowKey, Conn> =
    LruHashMap::with_max_entries(DEFAULT_CONNS, BPF_F_NO_COMMON_LRU);

const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;

#[map(name = "LVS_REAL_STATS")]
pub static REAL_STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(MAX_REALS, 0);

#[map(name = "LVS_TUNNEL")]
pub static TUNNEL: Array<TunnelConfig> = Array::with_max_entries(1, 0);

#[map(name = "LVS_IFACES")]
pub static IFACES: Array<Iface> = Array::with_max_entries(IFACE_SLOTS, 0);

#[map(name = "LVS_COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(NUM_REASONS, 0);
