//! Reference programs for the benchmark, not for production: what any XDP forwarder costs at
//! the least, measured beside `lvs_director` in the same run; and the system benchmark's traffic
//! generator, plain forwarder and counting sink.
#![no_std]
#![no_main]

#[path = "access.rs"]
mod access;

use access::ptr_at;
use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_get_smp_processor_id, bpf_redirect},
    macros::{map, xdp},
    maps::{Array, PerCpuArray},
    programs::XdpContext,
};
use lvs_common::{FwdTarget, GenConfig};

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

// ---- The system-level benchmark (`lvs-bench-system`): a traffic generator, a plain
// forwarder as the ceiling, and a counting sink. ----

/// Length of the generated frames: 60 bytes on the wire of a veth, 64 with the FCS a NIC adds.
pub const GEN_FRAME_LEN: usize = 60;
const GEN_UDP_LEN: u16 = (GEN_FRAME_LEN - 14 - 20) as u16;

#[map(name = "LVS_GEN_CONFIG")]
static GEN_CONFIG: Array<GenConfig> = Array::with_max_entries(1, 0);

/// Frames the generator wrote, per CPU (slot 0).
#[map(name = "LVS_GEN_SENT")]
static GEN_SENT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Frames the sink counted, per CPU, by the destination MAC's fifth byte & 7 (the lab's real
/// `i` has `02:00:00:00:i:02`; 0 is the director itself).
#[map(name = "LVS_SINK_COUNT")]
static SINK_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(8, 0);

#[map(name = "LVS_FWD_TARGETS")]
static FWD_TARGETS: Array<FwdTarget> = Array::with_max_entries(8, 0);

#[map(name = "LVS_FWD_N")]
static FWD_N: Array<u32> = Array::with_max_entries(1, 0);

/// Folds a 32-bit one's-complement sum into the 16-bit checksum field value.
#[inline(always)]
fn csum_fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

#[inline(always)]
fn word(b: [u8; 2]) -> u32 {
    u32::from(u16::from_be_bytes(b))
}

/// The traffic generator, run by BPF_PROG_TEST_RUN with live frames: writes a whole 60-byte
/// Ethernet/IPv4/UDP frame (every byte, because the kernel hands the same pages back without
/// copying the input again) for the next of its CPU's flows, with valid IP and UDP
/// checksums, and returns XDP_TX (out of the interface it runs "on", towards the director).
#[xdp]
pub fn lvs_gen(ctx: XdpContext) -> u32 {
    let Some(cfg) = GEN_CONFIG.get(0) else {
        return xdp_action::XDP_ABORTED;
    };
    let Some(seq) = GEN_SENT.get_ptr_mut(0) else {
        return xdp_action::XDP_ABORTED;
    };
    // SAFETY: a per-CPU slot: only this CPU writes it while the program runs.
    let n = unsafe {
        let n = *seq;
        *seq = n + 1;
        n
    };
    let fpc = if cfg.flows_per_cpu == 0 {
        1
    } else {
        cfg.flows_per_cpu
    };
    // SAFETY: plain helper call.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let flow = cpu * fpc + (n % u64::from(fpc)) as u32;

    let mut src_ip = cfg.src_ip;
    src_ip[3] = src_ip[3].wrapping_add((flow % 64) as u8);
    let sport = (10000 + flow / 64) as u16;
    let sport = sport.to_be_bytes();
    let total = (GEN_FRAME_LEN - 14) as u16;

    let ip_sum = 0x4500
        + u32::from(total)
        + 0x4000
        + 0x4011
        + word([src_ip[0], src_ip[1]])
        + word([src_ip[2], src_ip[3]])
        + word([cfg.dst_ip[0], cfg.dst_ip[1]])
        + word([cfg.dst_ip[2], cfg.dst_ip[3]]);
    let ip_csum = csum_fold(ip_sum).to_be_bytes();
    let udp_sum = word([src_ip[0], src_ip[1]])
        + word([src_ip[2], src_ip[3]])
        + word([cfg.dst_ip[0], cfg.dst_ip[1]])
        + word([cfg.dst_ip[2], cfg.dst_ip[3]])
        + 17
        + u32::from(GEN_UDP_LEN) * 2
        + word(sport)
        + word(cfg.dst_port);
    let mut udp_csum = csum_fold(udp_sum);
    if udp_csum == 0 {
        udp_csum = 0xffff;
    }
    let udp_csum = udp_csum.to_be_bytes();
    let total = total.to_be_bytes();
    let ulen = GEN_UDP_LEN.to_be_bytes();
    let d = cfg.dst_mac;
    let s = cfg.src_mac;
    let dip = cfg.dst_ip;
    let dport = cfg.dst_port;
    let frame: [u8; GEN_FRAME_LEN] = [
        d[0],
        d[1],
        d[2],
        d[3],
        d[4],
        d[5],
        s[0],
        s[1],
        s[2],
        s[3],
        s[4],
        s[5],
        0x08,
        0x00,
        // IPv4: version/IHL, TOS, length, id, DF, TTL 64, UDP, checksum, addresses.
        0x45,
        0,
        total[0],
        total[1],
        0,
        0,
        0x40,
        0,
        64,
        17,
        ip_csum[0],
        ip_csum[1],
        src_ip[0],
        src_ip[1],
        src_ip[2],
        src_ip[3],
        dip[0],
        dip[1],
        dip[2],
        dip[3],
        // UDP: ports, length, checksum; then a zero payload.
        sport[0],
        sport[1],
        dport[0],
        dport[1],
        ulen[0],
        ulen[1],
        udp_csum[0],
        udp_csum[1],
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ];
    // SAFETY: the whole frame is bounds-checked by ptr_at; a byte array needs no alignment.
    match unsafe { ptr_at::<[u8; GEN_FRAME_LEN]>(&ctx, 0) } {
        Ok(p) => {
            unsafe { core::ptr::write_unaligned(p, frame) };
            xdp_action::XDP_TX
        }
        Err(_) => xdp_action::XDP_ABORTED,
    }
}

/// The ceiling: the least an XDP forwarder does. IPv4/UDP picks a target by source address
/// and port, gets both MACs rewritten and is redirected to the target's interface; anything
/// else passes.
#[xdp]
pub fn lvs_fwd(ctx: XdpContext) -> u32 {
    // Ethernet + IPv4 without options + the UDP ports.
    // SAFETY: bounds-checked by ptr_at; byte array.
    let Ok(h) = (unsafe { ptr_at::<[u8; 38]>(&ctx, 0) }) else {
        return xdp_action::XDP_PASS;
    };
    // SAFETY: checked just above; read only (the MACs are written through `h` below).
    let hdr = unsafe { *h };
    if hdr[12] != 0x08 || hdr[13] != 0x00 || hdr[14] != 0x45 || hdr[23] != 17 {
        return xdp_action::XDP_PASS;
    }
    let n = match FWD_N.get(0) {
        Some(&n) if n > 0 => n,
        _ => return xdp_action::XDP_PASS,
    };
    let pick = (u32::from(hdr[29]) ^ u32::from(hdr[33]) ^ u32::from(hdr[35])) % n;
    let Some(t) = FWD_TARGETS.get(pick) else {
        return xdp_action::XDP_PASS;
    };
    // SAFETY: the first 12 bytes lie inside the 38 checked above; byte arrays, unaligned.
    unsafe {
        core::ptr::write_unaligned(h as *mut [u8; 6], t.dst_mac);
        core::ptr::write_unaligned((h as *mut u8).add(6) as *mut [u8; 6], t.src_mac);
    }
    // SAFETY: plain helper call.
    unsafe { bpf_redirect(t.ifindex, 0) as u32 }
}

/// The sink on the real servers (and on the director for the generator's own ceiling):
/// counts IPv4/UDP frames to the generator's port by destination MAC and drops them, so that
/// counting costs next to nothing; everything else (ARP) passes.
#[xdp]
pub fn lvs_sink(ctx: XdpContext) -> u32 {
    // SAFETY: bounds-checked by ptr_at; byte array.
    let Ok(h) = (unsafe { ptr_at::<[u8; 38]>(&ctx, 0) }) else {
        return xdp_action::XDP_PASS;
    };
    // SAFETY: checked just above; read only.
    let hdr = unsafe { &*h };
    let Some(cfg) = GEN_CONFIG.get(0) else {
        return xdp_action::XDP_PASS;
    };
    if hdr[12] != 0x08
        || hdr[13] != 0x00
        || hdr[23] != 17
        || hdr[36] != cfg.dst_port[0]
        || hdr[37] != cfg.dst_port[1]
    {
        return xdp_action::XDP_PASS;
    }
    if let Some(c) = SINK_COUNT.get_ptr_mut(u32::from(hdr[4] & 7)) {
        // SAFETY: a per-CPU slot, see lvs_gen.
        unsafe { *c += 1 };
    }
    xdp_action::XDP_DROP
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
