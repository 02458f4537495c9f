//! `cargo xtask bench --only system`: packets per second that reach the real servers of a lab
//! through the director, for the generator alone, a plain XDP forwarder (the ceiling),
//! `lvs_director` and nftables DNAT with kernel forwarding, on 1 and 2 CPUs, in interleaved
//! rounds of the same run and topology.
//!
//! ```text
//!  client ──c0/d0── director ──d1/r0── real 1   (lvs_sink: counts and drops)
//!  lvs_gen             │      ──d2/r0── real 2
//!  (live frames,  d0: lvs_sink (generator ceiling) | lvs_fwd | lvs_director | none + nftables
//!   XDP_TX out c0)
//! ```
//!
//! The generator is `lvs_gen` run by BPF_PROG_TEST_RUN with XDP live frames on a thread pinned
//! to a CPU in the client's namespace; it stays attached to an idle veth so each run skips
//! the kernel's slow registration step. A frame it sends is received by the director's veth
//! in NAPI on the same CPU (softirq, right after each batch), and what the director forwards
//! is received by the real's veth there too: on one CPU, the generator, the director and the
//! sinks share that CPU, and the figure is the pipeline's rate, 1 / (sum of the per-packet
//! costs). Everything the benchmark makes is removed at the end, on error and on Ctrl-C.

use anyhow::{Context, Result, ensure};
use aya::programs::{XdpMode, xdp::XdpLinkId};
use clap::{CommandFactory, FromArgMatches, Parser, parser::ValueSource};
use lvs_bench::{Figure, Section, Target};
use lvs_common::{PROTO_UDP, ServiceKey};
use lvs_ctl::dataplane::{Director, LoadOptions, ServiceSpec, Wanted};
use lvs_tests::{
    PinDir,
    lab::*,
    traffic::{
        CpuTimes, FwdTarget, Traffic, cpu_times, gen_config, ksoftirqd, process_cpu_time,
        thread_cpu_time,
    },
};
use std::{
    fmt::Write as _,
    net::{IpAddr, Ipv4Addr},
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

const PORT: u16 = 5201;
const FLOWS: u32 = 1024;
const REALS: u8 = 2;
const SOURCE: &str = "issues #5 item 4, #7 item 3";
/// The generator's first source address (198.18.0.64..127: the client's subnet).
const SRC_BASE: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 64);

/// Packets per second that reach the real servers of a lab through the director: the
/// generator alone, an XDP forwarder (the ceiling), lvs_director and nftables DNAT.
#[derive(Parser)]
#[command(
    name = "lvs-bench-system",
    long_about = "Packets per second that reach the real servers of a lab (network namespaces, \
198.18.0.0/15) through the director: the generator alone, a plain XDP forwarder (the ceiling), \
lvs_director and nftables DNAT with kernel forwarding, on each of --cores CPU counts, in \
interleaved rounds of the same run and topology. Each case runs --warmup seconds unmeasured, \
then --seconds measured. Needs root; removes the lab at the end, on error and on Ctrl-C. \
Writes target/bench/system.md and system.json (not with --smoke).",
    after_help = "Examples:\n  \
lvs-bench-system                         # 5 rounds of 2 s per case, on 1 and 2 CPUs\n  \
lvs-bench-system --rounds 3 --cores 1    # quicker, one CPU\n  \
lvs-bench-system --smoke                 # what CI runs: 1 round of 0.2 s, 1 CPU"
)]
struct Args {
    /// Interleaved rounds (1..=50); each figure is the median of the rounds.
    #[arg(long, default_value_t = 5, value_name = "N")]
    rounds: usize,
    /// Measured seconds per case and round, in (0, 10].
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    seconds: f64,
    /// Unmeasured seconds before each measurement, in [0, 5].
    #[arg(long, default_value_t = 0.3, value_name = "S")]
    warmup: f64,
    /// CPU counts to measure on, comma-separated (counts above this machine's CPUs are
    /// skipped).
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [1, 2],
        value_name = "N,N"
    )]
    cores: Vec<usize>,
    /// A check that the code runs, not a measurement: 1 round of 0.2 s (warm-up 0.1 s) on 1
    /// CPU, unless --rounds, --seconds, --warmup or --cores say otherwise; prints the
    /// figures and writes no section.
    #[arg(long)]
    smoke: bool,
}

fn parse_args() -> Result<Args> {
    let matches = Args::command().get_matches();
    let mut a = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if a.smoke {
        let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
        if !given("rounds") {
            a.rounds = 1;
        }
        if !given("seconds") {
            a.seconds = 0.2;
        }
        if !given("warmup") {
            a.warmup = 0.1;
        }
        if !given("cores") {
            a.cores = vec![1];
        }
    }
    ensure!(
        (1..=50).contains(&a.rounds),
        "--rounds must be 1..=50 (bounded runtime)"
    );
    ensure!(
        a.seconds > 0.0 && a.seconds <= 10.0 && a.warmup >= 0.0 && a.warmup <= 5.0,
        "--seconds must be in (0, 10], --warmup in [0, 5]"
    );
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    a.cores.retain(|&c| c >= 1 && c <= ncpu);
    ensure!(!a.cores.is_empty(), "no usable --cores on {ncpu} CPUs");
    Ok(a)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    /// The director drops every frame at its veth (lvs_sink): what the generator delivers.
    Gen,
    /// lvs_fwd: MAC rewrite + redirect to a real.
    Fwd,
    Lvs,
    /// No XDP on the director: nftables DNAT (numgen) and the kernel's forwarding.
    Nft,
}

const CASES: [Case; 4] = [Case::Gen, Case::Fwd, Case::Lvs, Case::Nft];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Gen => "generator ceiling (director drops)",
            Case::Fwd => "plain XDP forward (ceiling)",
            Case::Lvs => "lvs_director (DR)",
            Case::Nft => "nftables DNAT (numgen) + kernel forwarding",
        }
    }
    fn short(self) -> &'static str {
        match self {
            Case::Gen => "generator",
            Case::Fwd => "xdp-forward",
            Case::Lvs => "lvs_director",
            Case::Nft => "nftables",
        }
    }
}

/// One measurement: rates over the measured window.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    /// Frames per second that reached the reals (the director's sink for `Case::Gen`).
    reached: f64,
    /// Frames per second the generator wrote.
    sent: f64,
    /// Busiest real's share of what reached the reals.
    top_share: f64,
    /// Share of the used CPUs' time in softirq (veth NAPI: director and sinks), sampled by
    /// the tick from /proc/stat.
    softirq: f64,
    /// Share of the used CPUs' time the pipeline ran (the rest went to other processes).
    cpu_share: f64,
    /// Frames per second of the pipeline's own CPU time: the rate per CPU, whatever else ran.
    per_cpu: f64,
}

/// Counters at one instant of a measurement.
struct Snapshot {
    sunk: [u64; 8],
    sent: u64,
    cpus: Vec<CpuTimes>,
    pipeline: Duration,
    at: Instant,
}

struct Bench {
    lab: Lab,
    traffic: Traffic,
    director: Director,
    _pins: PinDir,
    client_ifindex: u32,
}

fn nft_ruleset(lab: &Lab) -> String {
    let map: Vec<String> = lab
        .reals
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{i} : {}", r.addr4))
        .collect();
    format!(
        "table ip lvsbench {{\n  chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n    \
         ip daddr {VIP4} udp dport {PORT} dnat to numgen inc mod {} map {{ {} }}\n  }}\n}}\n",
        lab.reals.len(),
        map.join(", ")
    )
}

fn setup(teardown: &Teardown) -> Result<Bench> {
    let lab = Lab::builder()
        .tag("sys")
        .reals(REALS)
        .teardown(teardown.clone())
        .build();
    // Two queues on every veth of the path, so that with two generator threads each CPU has
    // its own queue (a veth receives an XDP frame on queue = sending CPU % queues).
    lab.client.sh("ethtool -L c0 rx 2 tx 2");
    lab.director.sh("ethtool -L d0 rx 2 tx 2");
    for r in &lab.reals {
        lab.director
            .sh(&format!("ethtool -L {} rx 2 tx 2", r.director_iface));
        r.ns.sh("ethtool -L r0 rx 2 tx 2");
    }
    // The director's veth takes XDP frames without a program too (nftables case), and the
    // kernel forwards; the reals' neighbours are fixed so no ARP runs during a measurement.
    lab.director.sh(
        "ethtool -K d0 gro on >/dev/null && sysctl -qw net.ipv4.ip_forward=1 \
         net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.d0.rp_filter=0",
    );
    for r in &lab.reals {
        lab.director.ip(&[
            "neigh",
            "replace",
            &r.addr4.to_string(),
            "lladdr",
            &mac_str(r.mac),
            "dev",
            &r.director_iface,
            "nud",
            "permanent",
        ]);
    }
    // An idle interface for the generator to stay attached to.
    lab.client
        .ip(&["link", "add", "g0", "type", "veth", "peer", "name", "g1"]);
    lab.client.ip(&["link", "set", "g0", "up"]);
    lab.client.ip(&["link", "set", "g1", "up"]);

    let mut traffic = Traffic::load()?;
    traffic.attach("lvs_gen", &lab.client, "g0")?;
    for r in &lab.reals {
        traffic.attach("lvs_sink", &r.ns, "r0")?;
    }
    traffic.set_fwd(
        &lab.reals
            .iter()
            .map(|r| FwdTarget {
                ifindex: r.director_ifindex,
                dst_mac: r.mac,
                src_mac: r.director_mac,
            })
            .collect::<Vec<_>>(),
    )?;

    let pins = PinDir::new("sys");
    teardown.pins(&pins.0);
    let mut opts = LoadOptions::new(&pins.0);
    opts.conn_table_size = 65536;
    let mut director = Director::open(&opts).context("loading lvs_director")?;
    let vip: IpAddr = VIP4.parse()?;
    let reals = lab.reals.iter().map(|r| r.dr_spec(vip)).collect();
    director
        .apply(&Wanted {
            services: vec![ServiceSpec {
                key: ServiceKey::new(vip, PORT, PROTO_UDP),
                flags: 0,
                ring_size: 65537,
                reals,
            }],
            ..Wanted::default()
        })
        .context("writing the service")?;
    let client_ifindex = lab.client.ifindex("c0");
    Ok(Bench {
        lab,
        traffic,
        director,
        _pins: pins,
        client_ifindex,
    })
}

/// What a case put in place, undone by [`Bench::disable`].
enum Active {
    Sink(XdpLinkId),
    Fwd(XdpLinkId),
    Lvs(XdpLinkId),
    Nft,
}

impl Bench {
    fn enable(&mut self, case: Case) -> Result<Active> {
        let d = &self.lab.director;
        Ok(match case {
            Case::Gen => Active::Sink(self.traffic.attach("lvs_sink", d, "d0")?),
            Case::Fwd => Active::Fwd(self.traffic.attach("lvs_fwd", d, "d0")?),
            Case::Lvs => {
                let director = &mut self.director;
                Active::Lvs(
                    d.enter(|| director.attach_unpinned("d0", XdpMode::Driver))
                        .context("attaching lvs_director to d0")?,
                )
            }
            Case::Nft => {
                let rules = nft_ruleset(&self.lab);
                d.sh(&format!("nft -f - <<'EOF'\n{rules}EOF"));
                Active::Nft
            }
        })
    }

    fn disable(&mut self, a: Active) -> Result<()> {
        match a {
            Active::Sink(l) => self.traffic.detach("lvs_sink", l),
            Active::Fwd(l) => self.traffic.detach("lvs_fwd", l),
            Active::Lvs(l) => self.director.detach(l).context("detaching lvs_director"),
            Active::Nft => {
                self.lab.director.sh("nft delete table ip lvsbench");
                Ok(())
            }
        }
    }

    /// Runs the generator on `cpus` for `warmup + seconds`, measuring the last `seconds`.
    fn measure(&mut self, case: Case, cpus: &[usize], warmup: f64, seconds: f64) -> Result<Sample> {
        self.traffic.set_gen(gen_config(
            CLIENT_MAC,
            DIRECTOR_IN_MAC,
            SRC_BASE,
            VIP4.parse()?,
            PORT,
            FLOWS / cpus.len() as u32,
        ))?;
        let stop = AtomicBool::new(false);
        let limit = Duration::from_secs_f64(warmup + seconds + 2.0);
        let traffic = &self.traffic;
        let lab = &self.lab;
        let ifindex = self.client_ifindex;
        let n = lab.reals.len();
        let tids = Mutex::new(Vec::new());
        let softirqds: Vec<i32> = cpus.iter().filter_map(|&c| ksoftirqd(c)).collect();
        // CPU time of the whole pipeline: the generator's threads (with the softirq work run
        // at the end of their batches) and the used CPUs' ksoftirqd (work they deferred).
        let pipeline_cpu = || -> Duration {
            let t = tids.lock().unwrap_or_else(|e| e.into_inner());
            t.iter().map(|&t| thread_cpu_time(t)).sum::<Duration>()
                + softirqds
                    .iter()
                    .map(|&p| process_cpu_time(p))
                    .sum::<Duration>()
        };
        let (sample, frames) = std::thread::scope(|s| {
            let gen_thread =
                s.spawn(|| traffic.generate(&lab.client, ifindex, cpus, &stop, limit, &tids));
            let snapshot = || -> Result<Snapshot> {
                Ok(Snapshot {
                    sunk: traffic.sunk()?,
                    sent: traffic.sent()?,
                    cpus: cpu_times(),
                    pipeline: pipeline_cpu(),
                    at: Instant::now(),
                })
            };
            let run = || -> Result<Sample> {
                std::thread::sleep(Duration::from_secs_f64(warmup));
                let a = snapshot()?;
                std::thread::sleep(Duration::from_secs_f64(seconds));
                let b = snapshot()?;
                let dt = b.at.duration_since(a.at).as_secs_f64();
                let cpu = (b.pipeline - a.pipeline).as_secs_f64().max(1e-9);
                let per_slot: Vec<u64> = (0..8).map(|i| b.sunk[i] - a.sunk[i]).collect();
                let reals: u64 = per_slot[1..=n].iter().sum();
                let reached = if case == Case::Gen {
                    per_slot[0]
                } else {
                    reals
                };
                let top = per_slot[1..=n].iter().copied().max().unwrap_or(0);
                let (mut soft, mut total) = (0u64, 0u64);
                for &c in cpus {
                    let (x, y) = (
                        a.cpus.get(c).copied().unwrap_or_default(),
                        b.cpus.get(c).copied().unwrap_or_default(),
                    );
                    soft += y.softirq - x.softirq;
                    total += y.total - x.total;
                }
                let total = total.max(1) as f64;
                Ok(Sample {
                    reached: reached as f64 / dt,
                    sent: (b.sent - a.sent) as f64 / dt,
                    top_share: if reals > 0 {
                        top as f64 / reals as f64
                    } else {
                        0.0
                    },
                    softirq: soft as f64 / total,
                    cpu_share: cpu / (dt * cpus.len() as f64),
                    per_cpu: reached as f64 / cpu,
                })
            };
            let sample = run();
            stop.store(true, Ordering::Relaxed);
            let frames = gen_thread.join().expect("generator thread panicked");
            (sample, frames)
        });
        let frames = frames?;
        ensure!(
            frames.iter().all(|&f| f > 0),
            "a generator thread sent nothing: {frames:?}"
        );
        sample
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[s.len() / 2]
}

fn spread(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Samples of one (cores, case) over the rounds.
struct Series {
    cores: usize,
    case: Case,
    samples: Vec<Sample>,
}

impl Series {
    fn get(&self, f: impl Fn(&Sample) -> f64) -> Vec<f64> {
        self.samples.iter().map(f).collect()
    }
}

fn run(args: &Args, teardown: &Teardown) -> Result<()> {
    let mut b = setup(teardown)?;
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_sets: Vec<(usize, Vec<usize>)> = args
        .cores
        .iter()
        .map(|&c| (c, (0..c).map(|i| ncpu - 1 - i).rev().collect()))
        .collect();
    let mut series: Vec<Series> = Vec::new();
    for (cores, _) in &cpu_sets {
        for case in CASES {
            series.push(Series {
                cores: *cores,
                case,
                samples: Vec::new(),
            });
        }
    }
    let started = Instant::now();
    for round in 0..args.rounds {
        for (cores, cpus) in &cpu_sets {
            // Rotate the order from round to round: no case always follows the same one.
            for k in 0..CASES.len() {
                let case = CASES[(k + round) % CASES.len()];
                let active = b.enable(case)?;
                let s = b.measure(case, cpus, args.warmup, args.seconds);
                b.disable(active)?;
                let s = s.with_context(|| format!("{} on {cores} core(s)", case.name()))?;
                series
                    .iter_mut()
                    .find(|x| x.cores == *cores && x.case == case)
                    .expect("series")
                    .samples
                    .push(s);
            }
        }
        eprint!(
            "\rround {}/{} ({:.0} s)",
            round + 1,
            args.rounds,
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!();

    let find = |cores: usize, case: Case| {
        series
            .iter()
            .find(|s| s.cores == cores && s.case == case)
            .expect("series")
    };

    // Machine-readable lines the smoke test checks.
    for s in &series {
        println!(
            "reached {} {} core(s): {:.0} pps",
            s.case.short(),
            s.cores,
            median(&s.get(|x| x.reached))
        );
    }
    if args.smoke {
        for case in [Case::Lvs, Case::Nft] {
            let s = find(args.cores[0], case);
            ensure!(
                s.samples.iter().all(|x| x.reached > 0.0),
                "nothing reached the reals through {}",
                case.name()
            );
        }
        return Ok(());
    }

    let mut md = String::new();
    let mut figures = Vec::new();
    writeln!(
        md,
        "## System: packets per second reaching the real servers (lab)\n"
    )?;
    writeln!(
        md,
        "Two-armed lab in network namespaces (client → director → {REALS} reals, each over its \
         own veth pair, no bridge). The client's `lvs_gen` (BPF_PROG_TEST_RUN, XDP live frames, \
         batches of 64) writes {}-byte UDP frames (64 with an FCS) of {FLOWS} flows with valid \
         IP and UDP checksums and sends them out of the client's veth; each real's `lvs_sink` \
         counts and drops them. On the director: `lvs_sink` (generator ceiling: what reaches \
         the director), `lvs_fwd` (MAC rewrite + `bpf_redirect` to a real: the ceiling of any \
         XDP forwarder), `lvs_director` (a UDP service, {REALS} DR reals, Maglev, connection \
         table), or no XDP and nftables DNAT `numgen inc` over the reals with the kernel \
         forwarding (conntrack, GRO on). {} interleaved rounds (case order rotated), each case \
         {:.1} s measured after {:.1} s of warm-up; medians, spread = min..max over the rounds; \
         ratios are medians of the per-round ratios. The generator runs on the last N CPUs; a \
         frame's whole path (the veth NAPI of the director and of the real) runs in softirq on \
         the CPU that sent it, right after each batch.\n\n\
         *Mpps* is what reached the reals per second of wall time; *per CPU-s* is the same \
         count per second of CPU time the pipeline itself ran (generator threads, with the \
         softirq work done at the end of their batches, plus the CPUs' ksoftirqd): the rate of \
         one fully used CPU, whatever else the machine was running. *CPU got* is the share of \
         the used CPUs the pipeline had. The targets are checked on the per-CPU-s ratios.\n",
        lvs_tests::traffic::FRAME_LEN,
        args.rounds,
        args.seconds,
        args.warmup
    )?;
    for (cores, _) in &cpu_sets {
        let cores = *cores;
        let gen_cpu = median(&find(cores, Case::Gen).get(|x| x.per_cpu));
        writeln!(md, "### {cores} CPU{}\n", if cores > 1 { "s" } else { "" })?;
        writeln!(
            md,
            "| path | Mpps | spread | Mpps per CPU-s | spread | CPU got | softirq | reached / sent \
             | CPU ns per packet | ns over the generator |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for case in CASES {
            let s = find(cores, case);
            let r = s.get(|x| x.reached);
            let m = median(&r);
            let (lo, hi) = spread(&r);
            let pc = s.get(|x| x.per_cpu);
            let pm = median(&pc);
            let (plo, phi) = spread(&pc);
            let sent = median(&s.get(|x| x.sent));
            let got = median(&s.get(|x| x.cpu_share));
            let soft = median(&s.get(|x| x.softirq));
            let over = if case == Case::Gen {
                "–".to_string()
            } else {
                format!("{:.0}", 1e9 / pm.max(1.0) - 1e9 / gen_cpu.max(1.0))
            };
            writeln!(
                md,
                "| {} | {:.2} | {:.2}..{:.2} | {:.2} | {:.2}..{:.2} | {:.0}% | {:.0}% | {:.0}% | \
                 {:.0} | {over} |",
                case.name(),
                m / 1e6,
                lo / 1e6,
                hi / 1e6,
                pm / 1e6,
                plo / 1e6,
                phi / 1e6,
                100.0 * got,
                100.0 * soft,
                100.0 * m / sent.max(1.0),
                1e9 / pm.max(1.0),
            )?;
            let method = format!(
                "lab, lvs_gen live frames on {cores} CPU, {FLOWS} flows, 60-byte UDP, counted \
                 at the reals' XDP sinks over {:.1} s",
                args.seconds
            );
            figures.push(Figure {
                name: format!("{}, {cores} CPU", case.name()),
                value: m / 1e6,
                unit: "Mpps".into(),
                spread: Some((lo / 1e6, hi / 1e6)),
                rounds: Some(r.len()),
                method: method.clone(),
                compared_to: None,
                target: None,
            });
            figures.push(Figure {
                name: format!("{}, {cores} CPU, per CPU-second", case.name()),
                value: pm / 1e6,
                unit: "Mpps per CPU-s".into(),
                spread: Some((plo / 1e6, phi / 1e6)),
                rounds: Some(pc.len()),
                method: format!("{method}, divided by the pipeline's CPU time"),
                compared_to: None,
                target: None,
            });
        }
        writeln!(md)?;
        let ratio = |a: Case, b: Case, f: fn(&Sample) -> f64| -> Vec<f64> {
            find(cores, a)
                .samples
                .iter()
                .zip(&find(cores, b).samples)
                .map(|(x, y)| f(x) / f(y).max(1.0))
                .collect()
        };
        let checks = [
            (
                "lvs_director / plain XDP forward",
                Case::Fwd,
                100.0,
                "% of ceiling",
                85.0,
            ),
            ("lvs_director / nftables", Case::Nft, 1.0, "x nftables", 4.0),
        ];
        writeln!(
            md,
            "| ratio ({cores} CPU) | per CPU-s | spread | wall-time Mpps | target | met |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|:---:|")?;
        for (name, base, scale, unit, target) in checks {
            let v: Vec<f64> = ratio(Case::Lvs, base, |x| x.per_cpu)
                .iter()
                .map(|x| x * scale)
                .collect();
            let w: Vec<f64> = ratio(Case::Lvs, base, |x| x.reached)
                .iter()
                .map(|x| x * scale)
                .collect();
            let m = median(&v);
            let wm = median(&w);
            let (lo, hi) = spread(&v);
            let t = Target::at_least(target, unit, m, SOURCE);
            writeln!(
                md,
                "| {name} | {m:.2} {unit} | {lo:.2}..{hi:.2} | {wm:.2} {unit} | ≥ {target} {unit} \
                 | {} |",
                if t.met() { "yes" } else { "**no**" }
            )?;
            figures.push(Figure {
                name: format!("{name}, {cores} CPU"),
                value: m,
                unit: unit.into(),
                spread: Some((lo, hi)),
                rounds: Some(v.len()),
                method: "median of per-round ratios of packets reaching the reals per CPU-second \
                         of the pipeline"
                    .into(),
                compared_to: Some(format!("{}, {cores} CPU, per CPU-second", base.name())),
                target: Some(t),
            });
            figures.push(Figure {
                name: format!("{name}, {cores} CPU, wall time"),
                value: wm,
                unit: unit.into(),
                spread: Some(spread(&w)),
                rounds: Some(w.len()),
                method: "median of per-round ratios of packets reaching the reals per second"
                    .into(),
                compared_to: Some(format!("{}, {cores} CPU", base.name())),
                target: None,
            });
        }
        let share = median(&find(cores, Case::Lvs).get(|x| x.top_share));
        writeln!(
            md,
            "\nlvs_director spread the {FLOWS} flows over the {REALS} reals: the busiest took \
             {:.0}% of the packets.\n",
            100.0 * share
        )?;
    }
    if let (Some(_), Some(_)) = (
        cpu_sets.iter().find(|(c, _)| *c == 1),
        cpu_sets.iter().find(|(c, _)| *c == 2),
    ) {
        writeln!(
            md,
            "Scaling, per CPU-s on 2 CPUs over per CPU-s on 1 CPU (1.00 = linear): {}.\n",
            CASES
                .iter()
                .map(|&c| format!(
                    "{} {:.2}",
                    c.short(),
                    median(&find(2, c).get(|x| x.per_cpu))
                        / median(&find(1, c).get(|x| x.per_cpu)).max(1.0)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    md.push_str(LIMITS);
    if cpu_sets.iter().any(|(c, _)| *c > 1) {
        md.push_str(TWO_CPUS);
    }

    print!("{md}");
    let path = Section {
        name: "system".into(),
        title: "System level: packets per second through the director (lab)".into(),
        markdown: md,
        figures,
    }
    .write()
    .context("writing the section")?;
    eprintln!("written to {}", path.display());
    Ok(())
}

const LIMITS: &str = "**What limits each figure.** On one CPU the generator, the director and \
the sinks take turns on that CPU (the director's and the reals' veth NAPI run as softirq right \
after each generator batch), so every case keeps its CPU fully busy and a figure is \
1 / (sum of the per-packet costs on the path): the generator never outruns the path \
(*reached / sent* stays at 100%, no frame is lost in a veth ring), it is slowed down by it. \
*CPU ns per packet* is that sum; *ns over the generator* is what a case adds to the \
generator ceiling's path, the director's own cost per packet: for the XDP cases the program, \
`bpf_redirect` into the real's veth and that veth's NAPI and sink; for nftables an skb per \
frame, GRO, conntrack, NAT, routing and the neighbour output. The generator ceiling is \
limited by the generator itself (writing a frame, the live-frames batch) plus one veth hop \
and the director's sink. The wall-time figures are also limited by whatever else ran on \
the CPUs (*CPU got* below 100%): compare those only inside one run.\n\n";

const TWO_CPUS: &str = "**Two CPUs.** This machine has 2 CPUs, so the 2-CPU figures run a \
generator on each CPU beside that CPU's share of the director's and the reals' work (each \
veth has 2 queues; a frame stays on the CPU that sent it). They show whether the path scales \
across CPUs without a shared bottleneck (locks, shared cache lines, the connection table), \
not what a director with 2 dedicated cores would forward; and any other work on the machine \
competes for both CPUs, which the per-CPU-s figures factor out and the wall-time ones do not.\n";

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("lvs-bench-system: {e:#}");
            std::process::exit(2);
        }
    };
    lvs_tests::require_root();
    let teardown = Teardown::default();
    if let Err(e) = teardown.on_ctrl_c("lvs-bench-system") {
        eprintln!("lvs-bench-system: handling Ctrl-C: {e:#}");
        std::process::exit(1);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&args, &teardown)));
    teardown.run();
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("lvs-bench-system: {e:#}\n(the lab has been removed)");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("lvs-bench-system: failed (see the panic above); the lab has been removed");
            std::process::exit(1);
        }
    }
}
