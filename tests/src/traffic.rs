//! Line-rate traffic inside a lab, for the system benchmark: the generator (`lvs_gen`, run by
//! BPF_PROG_TEST_RUN with XDP live frames), the plain forwarder (`lvs_fwd`, the ceiling any XDP
//! forwarder is measured against) and the counting sink (`lvs_sink`), all from the floor object.
//!
//! The generator runs on threads pinned to CPUs that have entered the client's network
//! namespace: the frames it writes leave by the client's veth (XDP_TX "out of" the interface
//! named in the run's context) towards the director, whose veth processes them in NAPI on the
//! same CPU, right after each batch (softirq). Every run is bounded in frames and time.

use crate::lab::Netns;
use anyhow::{Context, Result, ensure};
use aya::{
    Ebpf,
    maps::{Array, PerCpuArray},
    programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode, xdp::XdpLinkId},
};
use lvs_ctl::dataplane::FLOOR_OBJECT;
use std::{
    fs::File,
    net::Ipv4Addr,
    os::fd::AsRawFd,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

pub use lvs_common::{FwdTarget, GenConfig};

/// The generator's configuration for flows from `src_ip` (and the 63 addresses after it).
pub fn gen_config(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    dst_port: u16,
    flows_per_cpu: u32,
) -> GenConfig {
    GenConfig {
        dst_mac,
        src_mac,
        src_ip: src_ip.octets(),
        dst_ip: dst_ip.octets(),
        dst_port: dst_port.to_be_bytes(),
        _pad: [0; 2],
        flows_per_cpu,
    }
}

/// Length of the generated frames (60 bytes on a veth: 64 on a wire with the FCS).
pub const FRAME_LEN: usize = 60;

/// Frames per BPF_PROG_TEST_RUN call: short enough (a few ms) that a stop is noticed quickly.
const CHUNK: u32 = 16_384;
/// Frames per live-frames batch (the kernel's default).
const BATCH: u32 = 64;

/// The floor object with `lvs_gen`, `lvs_fwd` and `lvs_sink` loaded.
pub struct Traffic {
    ebpf: Ebpf,
}

impl Traffic {
    pub fn load() -> Result<Self> {
        let mut ebpf = Ebpf::load(FLOOR_OBJECT).context("loading the floor object")?;
        for name in ["lvs_gen", "lvs_fwd", "lvs_sink"] {
            let p: &mut Xdp = ebpf
                .program_mut(name)
                .with_context(|| format!("{name} in the floor object"))?
                .try_into()?;
            p.load().with_context(|| format!("loading {name}"))?;
        }
        Ok(Traffic { ebpf })
    }

    fn prog(&self, name: &str) -> Result<&Xdp> {
        Ok(self.ebpf.program(name).context("program")?.try_into()?)
    }

    /// Attaches `name` (natively) to `iface` in `ns`.
    pub fn attach(&mut self, name: &str, ns: &Netns, iface: &str) -> Result<XdpLinkId> {
        let p: &mut Xdp = self.ebpf.program_mut(name).context("program")?.try_into()?;
        ns.enter(|| p.attach(iface, XdpMode::Driver))
            .with_context(|| format!("attaching {name} to {iface} in {}", ns.name))
    }

    pub fn detach(&mut self, name: &str, link: XdpLinkId) -> Result<()> {
        let p: &mut Xdp = self.ebpf.program_mut(name).context("program")?.try_into()?;
        p.detach(link).with_context(|| format!("detaching {name}"))
    }

    pub fn set_gen(&mut self, cfg: GenConfig) -> Result<()> {
        let mut m: Array<_, GenConfig> =
            Array::try_from(self.ebpf.map_mut("LVS_GEN_CONFIG").context("map")?)?;
        m.set(0, cfg, 0).context("writing the generator's config")?;
        Ok(())
    }

    pub fn set_fwd(&mut self, targets: &[FwdTarget]) -> Result<()> {
        ensure!((1..=8).contains(&targets.len()), "1 to 8 forward targets");
        {
            let mut m: Array<_, FwdTarget> =
                Array::try_from(self.ebpf.map_mut("LVS_FWD_TARGETS").context("map")?)?;
            for (i, t) in targets.iter().enumerate() {
                m.set(i as u32, *t, 0)?;
            }
        }
        let mut n: Array<_, u32> = Array::try_from(self.ebpf.map_mut("LVS_FWD_N").context("map")?)?;
        n.set(0, targets.len() as u32, 0)?;
        Ok(())
    }

    /// Frames the generator has written, all CPUs.
    pub fn sent(&self) -> Result<u64> {
        let m: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map("LVS_GEN_SENT").context("map")?)?;
        Ok(m.get(&0, 0)?.iter().sum())
    }

    /// Frames the sinks have counted, by slot (0: the director, `i`: real `i`), all CPUs.
    pub fn sunk(&self) -> Result<[u64; 8]> {
        let m: PerCpuArray<_, u64> =
            PerCpuArray::try_from(self.ebpf.map("LVS_SINK_COUNT").context("map")?)?;
        let mut out = [0u64; 8];
        for (i, o) in out.iter_mut().enumerate() {
            *o = m.get(&(i as u32), 0)?.iter().sum();
        }
        Ok(out)
    }

    /// Runs the generator on each CPU of `cpus` (one thread each, in `ns`, sending out of
    /// `ifindex` there) until `stop` is set or `limit` has passed, whichever comes first.
    /// Returns the frames each thread's runs reported.
    pub fn generate(
        &self,
        ns: &Netns,
        ifindex: u32,
        cpus: &[usize],
        stop: &AtomicBool,
        limit: Duration,
        tids: &Mutex<Vec<i32>>,
    ) -> Result<Vec<u64>> {
        let prog = self.prog("lvs_gen")?;
        let path = format!("/run/netns/{}", ns.name);
        let deadline = Instant::now() + limit;
        let max_calls = limit.as_secs_f64() * 20e6 / f64::from(CHUNK) + 16.0;
        std::thread::scope(|s| {
            let threads: Vec<_> = cpus
                .iter()
                .map(|&cpu| {
                    let path = &path;
                    s.spawn(move || -> Result<u64> {
                        enter_netns(path)?;
                        pin_to_cpu(cpu)?;
                        // SAFETY: gettid has no preconditions.
                        let tid = unsafe { libc::gettid() };
                        tids.lock().unwrap_or_else(|e| e.into_inner()).push(tid);
                        let data = [0u8; FRAME_LEN];
                        // struct xdp_md: data, data_end, data_meta, ingress_ifindex,
                        // rx_queue_index, egress_ifindex.
                        let mut md = [0u8; 24];
                        md[4..8].copy_from_slice(&(FRAME_LEN as u32).to_ne_bytes());
                        md[12..16].copy_from_slice(&ifindex.to_ne_bytes());
                        let mut frames = 0u64;
                        let mut calls = 0f64;
                        while !stop.load(Ordering::Relaxed)
                            && Instant::now() < deadline
                            && calls < max_calls
                        {
                            let mut opts = TestRunOptions::new();
                            opts.data_in = Some(&data);
                            opts.ctx_in = Some(&md);
                            opts.repeat = CHUNK;
                            opts.attrs = TestRunAttrs::new().xdp_live_frames(BATCH);
                            prog.test_run(opts)
                                .context("BPF_PROG_TEST_RUN with live frames (lvs_gen)")?;
                            frames += u64::from(CHUNK);
                            calls += 1.0;
                        }
                        Ok(frames)
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("generator thread panicked"))
                .collect()
        })
    }
}

/// Moves the calling thread into the network namespace at `path` (only the network: mounts
/// stay the host's).
fn enter_netns(path: &str) -> Result<()> {
    let fd = File::open(path).with_context(|| format!("open {path}"))?;
    // SAFETY: setns on a namespace fd affects only this thread.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
    ensure!(rc == 0, "setns {path}: {}", std::io::Error::last_os_error());
    Ok(())
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    ensure!(
        rc == 0,
        "pinning to CPU {cpu}: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// CPU time a thread of this process has run (in the kernel too: with tick accounting and no
/// IRQ-time accounting, the softirq work done at the end of each generator batch counts to the
/// generator's thread).
pub fn thread_cpu_time(tid: i32) -> Duration {
    // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED): the per-thread scheduler clock.
    let clock = (!tid << 3) | 6;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The pid of `ksoftirqd/CPU`, which runs the softirq work a CPU defers.
pub fn ksoftirqd(cpu: usize) -> Option<i32> {
    let want = format!("ksoftirqd/{cpu}");
    std::fs::read_dir("/proc").ok()?.find_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == want).then_some(pid)
    })
}

/// CPU time a process has run, from `/proc/PID/schedstat` (exact for a sleeping task).
pub fn process_cpu_time(pid: i32) -> Duration {
    let ns = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// Time each CPU spent, from `/proc/stat`, in USER_HZ ticks: (busy outside softirq, softirq,
/// total).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTimes {
    pub other: u64,
    pub softirq: u64,
    pub total: u64,
}

pub fn cpu_times() -> Vec<CpuTimes> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let get = |i: usize| v.get(i).copied().unwrap_or(0);
            // user nice system idle iowait irq softirq steal
            let total: u64 = v.iter().take(8).sum();
            let idle = get(3) + get(4);
            let softirq = get(6);
            CpuTimes {
                other: total - idle - softirq,
                softirq,
                total,
            }
        })
        .collect()
}
