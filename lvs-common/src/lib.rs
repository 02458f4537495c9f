//! Types that cross the kernel boundary between the lvs XDP programs and `lvs-ctl`.
//!
//! Every type is `#[repr(C)]` with no implicit padding: explicit `_pad` fields or byte arrays
//! fill every gap, so the kernel and userspace agree byte for byte and no value has an invalid
//! bit pattern. Addresses and ports are stored in network byte order; flags are `u32`/`u8`
//! bit sets rather than `bool` or enums.
#![no_std]

pub mod csum;

// ---------------------------------------------------------------------------------------------
// Map names (the `#[map]` statics in lvs-ebpf carry the same names).
// ---------------------------------------------------------------------------------------------

/// `HashMap<ServiceKey, Service>`: the virtual services.
pub const MAP_SERVICES: &str = "LVS_SERVICES";
/// `HashMap<VipKey, u32>`: every address that is a VIP of some service (value: service count).
/// Only consulted on the exceptional paths (fragments, options, extension headers) to tell a
/// VIP's malformed packet (dropped) from anyone else's (passed untouched).
pub const MAP_VIPS: &str = "LVS_VIPS";
/// `Array<u32>` of [`VIP_FILTER_SLOTS`]: how many VIP addresses fall in each slot of
/// [`vip_filter_slot`]. The fast path's first question: a packet whose destination's slot is
/// 0 is not for any service and passes after one array read, without a hash lookup.
pub const MAP_VIP_FILTER: &str = "LVS_VIP_FILTER";
/// `ArrayOfMaps<u32 -> Array<u32>>`: Maglev tables, indexed by `Service::ring`.
pub const MAP_RINGS: &str = "LVS_RINGS";
/// `Array<Real>`: real servers, indexed by real index (0 is never used: it means "none").
pub const MAP_REALS: &str = "LVS_REALS";
/// `LruHashMap<FlowKey, Conn>`: the connection table.
pub const MAP_CONNS: &str = "LVS_CONNS";
/// `PerCpuArray<Stats>` indexed by real index. A service's statistics are the sum of its
/// reals' (a real index belongs to one service), so a packet updates one slot, not two.
pub const MAP_REAL_STATS: &str = "LVS_REAL_STATS";
/// `PerCpuArray<u64>` indexed by [`Reason`].
pub const MAP_COUNTERS: &str = "LVS_COUNTERS";
/// `Array<TunnelConfig>` of one entry: the outer source addresses of tunnel forwarding.
pub const MAP_TUNNEL: &str = "LVS_TUNNEL";
/// `Array<Iface>` of [`IFACE_SLOTS`]: the interfaces the director is attached to, each at
/// [`iface_slot`] of its ifindex, with its MAC. A frame is the director's only when its
/// destination MAC is its ingress interface's own.
pub const MAP_IFACES: &str = "LVS_IFACES";

/// `HashMap<VipKey, u32>` of `lvs_decap`: the host's addresses that take tunnelled packets.
pub const MAP_DECAP_ADDRS: &str = "LVS_DECAP_ADDRS";
/// `HashMap<[u8; 2], u32>` of `lvs_decap`: UDP ports (network order) that carry GUE.
pub const MAP_DECAP_PORTS: &str = "LVS_DECAP_PORTS";
/// `PerCpuArray<u64>` of `lvs_decap`, indexed by [`Reason`].
pub const MAP_DECAP_COUNTERS: &str = "LVS_DECAP_COUNTERS";

// ---------------------------------------------------------------------------------------------
// Limits. Maps are declared with these sizes; the controller may lower or raise the sizes of
// the connection table at load time.
// ---------------------------------------------------------------------------------------------

/// Service ids are `0..MAX_SERVICES`.
pub const MAX_SERVICES: u32 = 4096;
/// Outer slots of the ring map: two per service, so a new table can be written beside the
/// live one and switched to with a single service update.
pub const MAX_RINGS: u32 = 2 * MAX_SERVICES;
/// Real indices are `1..MAX_REALS` (a real index is one real in one service).
pub const MAX_REALS: u32 = 65536;
/// Slots of the VIP filter (a power of two).
pub const VIP_FILTER_SLOTS: u32 = 1 << 16;
/// Default size of the connection table (entries).
pub const DEFAULT_CONNS: u32 = 1 << 20;
/// Default Maglev table size: a prime, as the Maglev paper requires.
pub const DEFAULT_RING_SIZE: u32 = 65537;
/// Largest Maglev table the data plane accepts.
pub const MAX_RING_SIZE: u32 = 1 << 20;
/// Slots of [`MAP_IFACES`] (a power of two): interfaces the director can be attached to at
/// once, as long as no two of their ifindices share a slot.
pub const IFACE_SLOTS: u32 = 256;

/// The slot of [`MAP_IFACES`] that holds interface `ifindex`.
#[inline(always)]
pub const fn iface_slot(ifindex: u32) -> u32 {
    ifindex & (IFACE_SLOTS - 1)
}

// ---------------------------------------------------------------------------------------------
// Enumerations as plain integers.
// ---------------------------------------------------------------------------------------------

/// Address family, as the IP version number.
pub const FAMILY_V4: u8 = 4;
pub const FAMILY_V6: u8 = 6;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// Forwarding methods of a real server.
pub const METHOD_DR: u8 = 0;
pub const METHOD_IPIP: u8 = 1;
pub const METHOD_GUE: u8 = 2;

/// `Service::flags`: hash on the client address only (persistence: every connection of a
/// client goes to the same real while the table holds).
pub const SVC_F_HASH_SRC_ONLY: u32 = 1 << 0;

/// `Real::flags`: the real takes packets of the flows that the connection table maps to it.
/// Cleared when the real is removed (or is down and not quiescent): its flows are rescheduled.
pub const REAL_F_ACTIVE: u32 = 1 << 0;
/// `Real::flags`: the index belongs to a real of service `Real::service` (set while the
/// real is configured, whatever its health; cleared when it is removed). Lets a restarted
/// controller adopt the tables it finds.
pub const REAL_F_ASSIGNED: u32 = 1 << 1;

// ---------------------------------------------------------------------------------------------
// Map keys and values.
// ---------------------------------------------------------------------------------------------

/// Key of [`MAP_SERVICES`]. IPv4 addresses use the first 4 bytes; the rest are zero.
/// `port` 0 means every port of the VIP.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ServiceKey {
    pub addr: [u8; 16],
    pub port: [u8; 2],
    pub proto: u8,
    pub family: u8,
}

/// Value of [`MAP_SERVICES`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Service {
    /// Index into [`MAP_SERVICE_STATS`].
    pub id: u32,
    /// Index into [`MAP_RINGS`] of the live Maglev table.
    pub ring: u32,
    /// Number of slots of that table (a prime); 0 means the service has no table yet.
    pub ring_size: u32,
    /// `SVC_F_*`.
    pub flags: u32,
}

/// Key of [`MAP_VIPS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct VipKey {
    pub addr: [u8; 16],
    pub family: u8,
    pub _pad: [u8; 3],
}

/// Value of [`MAP_REALS`]: one real server of one service.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Real {
    /// The real server's address (IPv4 in the first 4 bytes).
    pub addr: [u8; 16],
    /// Next hop MAC (direct routing: the real's own MAC), resolved by the controller.
    /// All zero means "not resolved": packets are counted and dropped, never guessed.
    pub dst_mac: [u8; 6],
    /// MAC of the egress interface.
    pub src_mac: [u8; 6],
    /// Egress interface: equal to the ingress interface gives XDP_TX, otherwise a redirect.
    pub ifindex: u32,
    /// Bumped each time this index is given to another real, so connection-table entries
    /// that name an earlier owner are rescheduled instead of followed.
    pub generation: u32,
    /// `REAL_F_*`.
    pub flags: u32,
    /// `METHOD_*`.
    pub method: u8,
    pub family: u8,
    /// GUE destination port (network order) for `METHOD_GUE`.
    pub tunnel_port: [u8; 2],
    /// Id of the service this real belongs to (with `REAL_F_ASSIGNED`).
    pub service: u32,
}

/// A flow: the key of [`MAP_CONNS`] and the input of [`flow_hash`].
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: [u8; 2],
    pub dport: [u8; 2],
    pub proto: u8,
    pub family: u8,
    pub _pad: [u8; 2],
}

/// Value of [`MAP_CONNS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Conn {
    /// Real index the flow is pinned to.
    pub real: u32,
    /// `Real::generation` when the entry was made.
    pub generation: u32,
}

/// Per-CPU traffic counters of a service or a real.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    /// New connections: flows scheduled (or rescheduled) onto this service or real.
    pub conns: u64,
}

impl Stats {
    /// Adds `other` into `self` (summing the per-CPU values).
    pub fn add(&mut self, other: &Stats) {
        self.packets = self.packets.wrapping_add(other.packets);
        self.bytes = self.bytes.wrapping_add(other.bytes);
        self.conns = self.conns.wrapping_add(other.conns);
    }
}

/// Value of [`MAP_TUNNEL`]: where tunnelled packets come from.
///
/// The outer source is `source | (flow hash & vary)` (the last 4 bytes for IPv6), so that a
/// real server's NIC spreads the tunnelled flows over its queues (RSS hashes the outer
/// header). All zero `source4`/`source6`: that family has no tunnel source and its tunnelled
/// packets are dropped and counted.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TunnelConfig {
    pub source4: [u8; 4],
    pub vary4: [u8; 4],
    pub source6: [u8; 16],
    pub vary6: [u8; 4],
    /// TTL / hop limit of the outer header (0 = 64).
    pub ttl: u8,
    pub _pad: [u8; 3],
}

/// Value of [`MAP_IFACES`]: an interface the director is attached to. `ifindex` 0: the slot
/// is free (frames coming in on an interface of that slot are not the director's).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Iface {
    pub ifindex: u32,
    pub mac: [u8; 6],
    pub _pad: [u8; 2],
}

/// Outer TTL / hop limit when `TunnelConfig::ttl` is 0.
pub const DEFAULT_TUNNEL_TTL: u8 = 64;
/// Default UDP destination port of GUE.
pub const DEFAULT_GUE_PORT: u16 = 6080;
/// GUE source ports come from the flow hash, in 49152..=65535.
#[inline(always)]
pub const fn gue_source_port(hash: u32) -> u16 {
    0xc000 | (hash & 0x3fff) as u16
}

// ---------------------------------------------------------------------------------------------
// Benchmark programs (lvs-ebpf's floor.rs): not used by the director.
// ---------------------------------------------------------------------------------------------

/// Settings of the benchmark's traffic generator `lvs_gen` (one entry). Addresses and ports
/// in network order; `flows_per_cpu` native.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GenConfig {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    /// The first source address; flow `f` uses `src_ip + (f % 64)` (last byte).
    pub src_ip: [u8; 4],
    pub dst_ip: [u8; 4],
    pub dst_port: [u8; 2],
    pub _pad: [u8; 2],
    /// Flows per CPU: CPU `c` sends flows `c * flows_per_cpu ..` in turn.
    pub flows_per_cpu: u32,
}

/// One target of the benchmark's plain XDP forwarder `lvs_fwd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FwdTarget {
    pub ifindex: u32,
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
}

// ---------------------------------------------------------------------------------------------
// Counters: every verdict and every reason, one slot each in MAP_COUNTERS.
// ---------------------------------------------------------------------------------------------

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $text:expr;)*) => {
        /// Why a packet got its verdict, or an event on its way. Index into [`MAP_COUNTERS`].
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Reason { $($(#[$doc])* $name = $value,)* }

        impl Reason {
            /// Every reason, in counter order.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// Stable name for logs, counters and `lvs-ctl list --counters`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Reason::$name => $text,)* }
            }
        }
    };
}

reasons! {
    /// Not IPv4 or IPv6 (ARP, VLAN-tagged, ...): passed.
    PassNotIp = 0, "pass_not_ip";
    /// IP, but not to a configured service: passed untouched.
    PassNotService = 1, "pass_not_service";
    /// A malformed or truncated IP header: passed, the kernel validates and drops it.
    PassBadL3 = 2, "pass_bad_l3";
    /// To a VIP but neither TCP nor UDP (ICMP echo, ...): passed to the kernel.
    PassOtherProto = 3, "pass_other_proto";
    /// Forwarded out of the interface it came in on.
    Tx = 4, "tx";
    /// Forwarded to another interface.
    Redirect = 5, "redirect";
    /// To a VIP, an IP fragment: dropped (the ports are not in every fragment).
    DropFragment = 6, "drop_fragment";
    /// To a VIP, IPv4 with options: dropped.
    DropIpv4Options = 7, "drop_ipv4_options";
    /// To a VIP, IPv6 with an extension header: dropped.
    DropIpv6Ext = 8, "drop_ipv6_ext";
    /// To a VIP, TCP or UDP header cut short: dropped.
    DropTruncated = 9, "drop_truncated";
    /// The service has no real to take a new flow (empty table, every real down): dropped.
    DropNoReal = 10, "drop_no_real";
    /// The chosen real's MAC is not resolved yet: dropped.
    DropNoNeighbour = 11, "drop_no_neighbour";
    /// The forwarding method is not built into this program: dropped.
    DropBadMethod = 12, "drop_bad_method";
    /// bpf_redirect refused the egress interface: dropped.
    DropRedirect = 13, "drop_redirect";
    /// Internal: a table or a map entry the service points to is missing: dropped.
    DropInternal = 14, "drop_internal";
    /// Event: a new flow scheduled by the Maglev table. (Packets of flows found in the
    /// connection table are `tx + redirect - conn_new - conn_rescheduled`; counting them
    /// would cost every packet a write.)
    ConnNew = 15, "conn_new";
    /// Event: a flow whose real was removed, scheduled again.
    ConnRescheduled = 16, "conn_rescheduled";
    /// Event: the connection table refused an insert; the packet was still forwarded.
    ConnInsertFailed = 17, "conn_insert_failed";
    /// Encapsulated (IPIP / IPv6-in-IPv6 / GUE) and forwarded: counted with tx or redirect too.
    Encapsulated = 18, "encapsulated";
    /// Would exceed the egress MTU once encapsulated: an ICMP fragmentation-needed / packet-
    /// too-big went back to the client instead.
    IcmpTooBigSent = 19, "icmp_too_big_sent";
    /// Would exceed the egress MTU once encapsulated, IPv4 without DF: dropped (the director
    /// does not fragment).
    DropTooBig = 20, "drop_too_big";
    /// Tunnel forwarding for a family without a configured tunnel source: dropped.
    DropNoTunnelSource = 21, "drop_no_tunnel_source";
    /// The packet could not be grown for its outer headers: dropped.
    DropEncapFailed = 22, "drop_encap_failed";
    /// An ICMP error (fragmentation needed / packet too big) about a VIP flow, forwarded to
    /// the real server that owns the flow.
    IcmpForwarded = 23, "icmp_forwarded";
    /// An ICMP error about a VIP flow that no real owns (no service): passed.
    PassIcmpNoFlow = 24, "pass_icmp_no_flow";
    /// lvs_decap: an IPIP / IPv6-in-IPv6 packet to this host, decapsulated and passed on.
    DecapIpip = 25, "decap_ipip";
    /// lvs_decap: a GUE packet to this host, decapsulated and passed on.
    DecapGue = 26, "decap_gue";
    /// lvs_decap: a GUE packet this decapsulator does not understand (GUE options, control
    /// messages, unknown inner protocol): passed untouched.
    PassDecapUnknown = 27, "pass_decap_unknown";
    /// To a VIP, a length that disagrees with the frame or with another length (IPv4 total
    /// length, IPv6 payload length, TCP data offset, UDP length): dropped, as the kernel would.
    DropBadLength = 28, "drop_bad_length";
    /// To a VIP, an IPv4 header whose checksum is wrong: dropped, as the kernel would.
    DropBadChecksum = 29, "drop_bad_checksum";
    /// To a VIP at layer 3 but not to the ingress interface's MAC at layer 2 (broadcast,
    /// multicast, another host's): passed untouched; the kernel discards it as any frame for
    /// another host.
    PassNotOurMac = 30, "pass_not_our_mac";
}

/// Number of counter slots.
pub const NUM_REASONS: u32 = 31;

impl Reason {
    /// Whether the reason is a program's verdict on a frame (each frame gets exactly one),
    /// rather than an event on its way (counted besides its verdict).
    pub const fn is_verdict(self) -> bool {
        !matches!(
            self,
            Reason::ConnNew
                | Reason::ConnRescheduled
                | Reason::ConnInsertFailed
                | Reason::Encapsulated
                | Reason::IcmpForwarded
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Flow hash: shared so that userspace (`lvs-ctl explain`, tests) computes exactly what the
// data plane computes.
// ---------------------------------------------------------------------------------------------

#[inline(always)]
const fn mix(h: u32, w: u32) -> u32 {
    let k = w
        .wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline(always)]
const fn finish(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The native `u32` of four packet bytes given as two native `u16` words (the first two
/// bytes, then the next two): what loading the four bytes as one word would give.
#[inline(always)]
pub const fn join16(first: u16, second: u16) -> u32 {
    if cfg!(target_endian = "little") {
        first as u32 | (second as u32) << 16
    } else {
        (first as u32) << 16 | second as u32
    }
}

#[inline(always)]
const fn word(b: &[u8; 16], i: usize) -> u32 {
    u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// MurmurHash3 (x86_32) over the flow's 32-bit words: for IPv4 the four that carry
/// information (source, destination, ports, protocol and family), for IPv6 all ten. With
/// `src_only` only the client address is hashed (persistent services). Stable across machines
/// of the same byte order.
#[inline(always)]
pub fn flow_hash(k: &FlowKey, src_only: bool) -> u32 {
    // SAFETY: FlowKey is 40 bytes, 8-byte aligned, made of plain bytes: ten u32 words.
    let w = unsafe { &*(k as *const FlowKey as *const [u32; 10]) };
    let mut h = 0x6c76_7321; // "lvs!"
    if k.family == FAMILY_V4 {
        h = mix(h, w[0]);
        if !src_only {
            h = mix(h, w[4]);
            h = mix(h, w[8]);
            h = mix(h, w[9]);
        }
    } else {
        h = mix(h, w[0]);
        h = mix(h, w[1]);
        h = mix(h, w[2]);
        h = mix(h, w[3]);
        if !src_only {
            h = mix(h, w[4]);
            h = mix(h, w[5]);
            h = mix(h, w[6]);
            h = mix(h, w[7]);
            h = mix(h, w[8]);
            h = mix(h, w[9]);
        }
    }
    finish(h)
}

/// Slot of an address (IPv4 in the first 4 bytes, the rest zero) in [`MAP_VIP_FILTER`]:
/// the words folded and multiplied by the golden ratio, top 16 bits.
#[inline(always)]
pub const fn vip_filter_slot(addr: &[u8; 16]) -> u32 {
    vip_filter_fold(word(addr, 0) ^ word(addr, 4) ^ word(addr, 8) ^ word(addr, 12))
}

#[inline(always)]
const fn vip_filter_fold(w: u32) -> u32 {
    w.wrapping_mul(0x9e37_79b1) >> 16
}

impl FlowKey {
    /// An IPv4 flow, assembled as whole words (so that reading it back as words, as the hash
    /// and the VIP filter do, is not stalled behind byte stores).
    #[inline(always)]
    pub fn v4(src: [u8; 4], dst: [u8; 4], sport: [u8; 2], dport: [u8; 2], proto: u8) -> FlowKey {
        let w: [u32; 10] = [
            u32::from_ne_bytes(src),
            0,
            0,
            0,
            u32::from_ne_bytes(dst),
            0,
            0,
            0,
            u32::from_ne_bytes([sport[0], sport[1], dport[0], dport[1]]),
            u32::from_ne_bytes([proto, FAMILY_V4, 0, 0]),
        ];
        // SAFETY: same size (40 bytes), every bit pattern valid; the layout matches the
        // fields (src, dst, sport, dport, proto, family, _pad).
        unsafe { core::mem::transmute::<[u32; 10], FlowKey>(w) }
    }

    /// An IPv6 flow, assembled as whole words.
    #[inline(always)]
    pub fn v6(
        src: &[u8; 16],
        dst: &[u8; 16],
        sport: [u8; 2],
        dport: [u8; 2],
        proto: u8,
    ) -> FlowKey {
        let w: [u32; 10] = [
            word(src, 0),
            word(src, 4),
            word(src, 8),
            word(src, 12),
            word(dst, 0),
            word(dst, 4),
            word(dst, 8),
            word(dst, 12),
            u32::from_ne_bytes([sport[0], sport[1], dport[0], dport[1]]),
            u32::from_ne_bytes([proto, FAMILY_V6, 0, 0]),
        ];
        // SAFETY: as in `v4`.
        unsafe { core::mem::transmute::<[u32; 10], FlowKey>(w) }
    }

    /// A flow from words as loaded from the packet: `src`/`dst` hold the address bytes in
    /// packet order read as native `u32`s (an IPv4 address is word 0, the rest 0), `ports`
    /// the source and destination port bytes read the same way. What a parser that loads the
    /// headers as words builds without assembling bytes.
    #[inline(always)]
    pub fn from_words(src: [u32; 4], dst: [u32; 4], ports: u32, proto: u8, family: u8) -> FlowKey {
        let w: [u32; 10] = [
            src[0],
            src[1],
            src[2],
            src[3],
            dst[0],
            dst[1],
            dst[2],
            dst[3],
            ports,
            u32::from_ne_bytes([proto, family, 0, 0]),
        ];
        // SAFETY: as in `v4`.
        unsafe { core::mem::transmute::<[u32; 10], FlowKey>(w) }
    }

    /// [`vip_filter_slot`] of the destination, read as aligned words (the data plane's form:
    /// four loads instead of sixteen).
    #[inline(always)]
    pub fn dst_vip_slot(&self) -> u32 {
        // SAFETY: FlowKey is 40 bytes, 8-byte aligned, made of plain bytes: ten u32 words.
        let w = unsafe { &*(self as *const FlowKey as *const [u32; 10]) };
        vip_filter_fold(w[4] ^ w[5] ^ w[6] ^ w[7])
    }
}

// ---------------------------------------------------------------------------------------------
// Userspace conversions.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "user")]
mod user {
    use super::*;

    // SAFETY: all of these are repr(C), Copy, made only of integers and byte arrays, with no
    // implicit padding (checked by the size assertions below), so every bit pattern is valid.
    unsafe impl aya::Pod for ServiceKey {}
    unsafe impl aya::Pod for Service {}
    unsafe impl aya::Pod for VipKey {}
    unsafe impl aya::Pod for Real {}
    unsafe impl aya::Pod for FlowKey {}
    unsafe impl aya::Pod for Conn {}
    unsafe impl aya::Pod for Stats {}
    unsafe impl aya::Pod for TunnelConfig {}
    unsafe impl aya::Pod for Iface {}
    unsafe impl aya::Pod for GenConfig {}
    unsafe impl aya::Pod for FwdTarget {}
}

/// Encodes an address as (16 bytes, family).
#[cfg(feature = "user")]
pub fn addr_bytes(ip: core::net::IpAddr) -> ([u8; 16], u8) {
    let mut out = [0u8; 16];
    match ip {
        core::net::IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            (out, FAMILY_V4)
        }
        core::net::IpAddr::V6(v6) => (v6.octets(), FAMILY_V6),
    }
}

/// Decodes (16 bytes, family) into an address.
pub fn bytes_addr(addr: &[u8; 16], family: u8) -> core::net::IpAddr {
    if family == FAMILY_V4 {
        core::net::IpAddr::V4(core::net::Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
    } else {
        core::net::IpAddr::V6(core::net::Ipv6Addr::from(*addr))
    }
}

#[cfg(feature = "user")]
impl ServiceKey {
    pub fn new(vip: core::net::IpAddr, port: u16, proto: u8) -> Self {
        let (addr, family) = addr_bytes(vip);
        ServiceKey {
            addr,
            port: port.to_be_bytes(),
            proto,
            family,
        }
    }
}

impl ServiceKey {
    pub fn vip(&self) -> core::net::IpAddr {
        bytes_addr(&self.addr, self.family)
    }
    pub fn port(&self) -> u16 {
        u16::from_be_bytes(self.port)
    }
}

#[cfg(feature = "user")]
impl VipKey {
    pub fn new(vip: core::net::IpAddr) -> Self {
        let (addr, family) = addr_bytes(vip);
        VipKey {
            addr,
            family,
            _pad: [0; 3],
        }
    }
}

#[cfg(feature = "user")]
impl FlowKey {
    pub fn new(src: core::net::SocketAddr, dst: core::net::SocketAddr, proto: u8) -> Self {
        let (s, family) = addr_bytes(src.ip());
        let (d, _) = addr_bytes(dst.ip());
        FlowKey {
            src: s,
            dst: d,
            sport: src.port().to_be_bytes(),
            dport: dst.port().to_be_bytes(),
            proto,
            family,
            _pad: [0; 2],
        }
    }

    /// The client's address and port.
    pub fn src_addr(&self) -> core::net::SocketAddr {
        core::net::SocketAddr::new(
            bytes_addr(&self.src, self.family),
            u16::from_be_bytes(self.sport),
        )
    }

    /// The destination (VIP) address and port.
    pub fn dst_addr(&self) -> core::net::SocketAddr {
        core::net::SocketAddr::new(
            bytes_addr(&self.dst, self.family),
            u16::from_be_bytes(self.dport),
        )
    }
}

impl Real {
    pub fn addr(&self) -> core::net::IpAddr {
        bytes_addr(&self.addr, self.family)
    }
    /// Whether the real takes flows: new ones from the Maglev table, and those the connection
    /// table pins to it. One of the selection rules (see [`Conn::follows`]).
    #[inline(always)]
    pub fn is_active(&self) -> bool {
        self.flags & REAL_F_ACTIVE != 0
    }
}

// The selection rules, one definition for the data plane (`lvs-ebpf/src/select.rs`) and for
// `lvs-ctl explain`, which reads the same maps and must name the real a packet would reach.

impl Conn {
    /// Whether a connection-table entry still leads to `real` (the entry at its index): the
    /// real is active and is the one the entry was made for, not a later owner of the index.
    /// Otherwise the flow is rescheduled.
    #[inline(always)]
    pub fn follows(&self, real: &Real) -> bool {
        real.is_active() && real.generation == self.generation
    }
}

impl Service {
    /// The slot of the service's live Maglev table that schedules `flow`; `None` while the
    /// service has no table (its packets are dropped, `drop_no_real`).
    #[inline(always)]
    pub fn slot(&self, flow: &FlowKey) -> Option<u32> {
        if self.ring_size == 0 {
            return None;
        }
        Some(flow_hash(flow, self.flags & SVC_F_HASH_SRC_ONLY != 0) % self.ring_size)
    }
}

/// The element of a Maglev table that holds `slot`: tables store two slots per 64-bit element.
#[inline(always)]
pub const fn ring_element(slot: u32) -> u32 {
    slot >> 1
}

/// The real index of `slot` in `element`, the table element [`ring_element`] names: slot 2k in
/// the low half, 2k + 1 in the high half. 0: the slot is empty (no real).
#[inline(always)]
pub const fn ring_slot_real(element: u64, slot: u32) -> u32 {
    (element >> ((slot & 1) * 32)) as u32
}

const _: () = {
    assert!(core::mem::size_of::<ServiceKey>() == 20);
    assert!(core::mem::size_of::<Service>() == 16);
    assert!(core::mem::size_of::<VipKey>() == 20);
    assert!(core::mem::size_of::<Real>() == 48);
    assert!(core::mem::size_of::<FlowKey>() == 40);
    assert!(core::mem::size_of::<Conn>() == 8);
    assert!(core::mem::size_of::<Stats>() == 24);
    assert!(core::mem::size_of::<TunnelConfig>() == 32);
    assert!(core::mem::size_of::<GenConfig>() == 28);
    assert!(core::mem::size_of::<FwdTarget>() == 16);
    assert!(Reason::ALL.len() as u32 == NUM_REASONS);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_from_loaded_words_equal_field_built_ones() {
        let w = |b: [u8; 2]| u16::from_ne_bytes(b);
        let v4 = FlowKey::from_words(
            [join16(w([198, 18]), w([0, 1])), 0, 0, 0],
            [join16(w([198, 18]), w([0, 10])), 0, 0, 0],
            join16(w([0x9c, 0x40]), w([0, 80])),
            PROTO_TCP,
            FAMILY_V4,
        );
        assert_eq!(
            v4,
            FlowKey::v4(
                [198, 18, 0, 1],
                [198, 18, 0, 10],
                [0x9c, 0x40],
                [0, 80],
                PROTO_TCP
            )
        );
    }

    #[test]
    fn word_built_flows_equal_field_built_ones() {
        let v4 = FlowKey::v4(
            [198, 18, 0, 1],
            [198, 18, 0, 10],
            [0x9c, 0x40],
            [0, 80],
            PROTO_TCP,
        );
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[198, 18, 0, 1]);
        let mut dst = [0u8; 16];
        dst[..4].copy_from_slice(&[198, 18, 0, 10]);
        assert_eq!(
            v4,
            FlowKey {
                src,
                dst,
                sport: [0x9c, 0x40],
                dport: [0, 80],
                proto: PROTO_TCP,
                family: FAMILY_V4,
                _pad: [0; 2]
            }
        );
        let (s6, d6) = ([0x20; 16], [0x30; 16]);
        let v6 = FlowKey::v6(&s6, &d6, [1, 2], [3, 4], PROTO_UDP);
        assert_eq!(
            v6,
            FlowKey {
                src: s6,
                dst: d6,
                sport: [1, 2],
                dport: [3, 4],
                proto: PROTO_UDP,
                family: FAMILY_V6,
                _pad: [0; 2]
            }
        );
    }

    #[test]
    fn dst_vip_slot_is_vip_filter_slot_of_the_destination() {
        for dst in [
            [198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10],
        ] {
            let k = FlowKey {
                dst,
                ..Default::default()
            };
            assert_eq!(k.dst_vip_slot(), vip_filter_slot(&dst));
        }
    }

    #[test]
    fn reasons_are_dense_and_named_uniquely() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{} out of order", r.as_str());
            for other in &Reason::ALL[i + 1..] {
                assert_ne!(r.as_str(), other.as_str());
            }
        }
    }

    #[test]
    fn flow_hash_depends_on_every_field_unless_src_only() {
        let base = FlowKey {
            src: [1; 16],
            dst: [2; 16],
            sport: [0, 80],
            dport: [1, 187],
            proto: 6,
            family: 6,
            _pad: [0; 2],
        };
        let v4 = FlowKey {
            src: [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            family: 4,
            ..base
        };
        for v in [
            FlowKey {
                sport: [0, 81],
                ..v4
            },
            FlowKey {
                dport: [0, 81],
                ..v4
            },
            FlowKey { proto: 17, ..v4 },
            FlowKey { dst: [5; 16], ..v4 },
        ] {
            assert_ne!(flow_hash(&v, false), flow_hash(&v4, false), "{v:?}");
        }
        let h = flow_hash(&base, false);
        let variants = [
            FlowKey {
                src: [3; 16],
                ..base
            },
            FlowKey {
                dst: [3; 16],
                ..base
            },
            FlowKey {
                sport: [0, 81],
                ..base
            },
            FlowKey {
                dport: [0, 81],
                ..base
            },
            FlowKey { proto: 17, ..base },
        ];
        for v in variants {
            assert_ne!(flow_hash(&v, false), h, "{v:?}");
        }
        // src_only ignores everything but the source address.
        let hs = flow_hash(&base, true);
        assert_eq!(
            flow_hash(
                &FlowKey {
                    dst: [9; 16],
                    sport: [9, 9],
                    ..base
                },
                true
            ),
            hs
        );
        assert_ne!(
            flow_hash(
                &FlowKey {
                    src: [9; 16],
                    ..base
                },
                true
            ),
            hs
        );
    }
}
